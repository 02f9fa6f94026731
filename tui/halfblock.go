package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/bionaslab/bionas/lab"
)

// halfBlock draws an image with the upper-half block: every terminal cell
// shows two pixels, the upper one as the foreground colour of '▀' and the
// lower one as its background. scale ≥ 1 averages scale×scale pixels into
// one. diverging draws values around 0.5 (a perturbation) blue below and
// red above. On a monochrome terminal the cell is ' ', '▀', '▄' or '█' by
// thresholding each of its two pixels (around 0.5 by magnitude when
// diverging).
func halfBlock(st *Styles, im lab.Image, scale int, diverging bool) string {
	if im.W == 0 || im.H == 0 || len(im.Pix) < im.C*im.H*im.W {
		return ""
	}
	scale = max(scale, 1)
	w, h := im.W/scale, im.H/scale
	px := func(x, y int) (r, g, b float32) {
		var s [3]float32
		for c := range min(im.C, 3) {
			var acc float32
			for dy := range scale {
				for dx := range scale {
					acc += im.At(c, y*scale+dy, x*scale+dx)
				}
			}
			s[c] = acc / float32(scale*scale)
		}
		if im.C < 3 {
			return s[0], s[0], s[0]
		}
		return s[0], s[1], s[2]
	}
	on := func(x, y int) bool {
		if y >= h {
			return false
		}
		r, g, b := px(x, y)
		v := (r + g + b) / 3
		if diverging {
			return v < 0.45 || v > 0.55 // changed by more than ε/10
		}
		return v >= 0.5
	}
	color := func(x, y int) lipgloss.Color {
		if y >= h {
			return lipgloss.Color("#000000")
		}
		r, g, b := px(x, y)
		if diverging {
			v := (r+g+b)/3 - 0.5 // −0.5…0.5
			if v >= 0 {
				return rgb(v*2, 0.1, 0.1)
			}
			return rgb(0.1, 0.2, -v*2)
		}
		return rgb(r, g, b)
	}
	var sb strings.Builder
	for y := 0; y < h; y += 2 {
		if y > 0 {
			sb.WriteByte('\n')
		}
		for x := range w {
			if st.Mono {
				top, bot := on(x, y), on(x, y+1)
				switch {
				case top && bot:
					sb.WriteRune('█')
				case top:
					sb.WriteRune('▀')
				case bot:
					sb.WriteRune('▄')
				default:
					sb.WriteRune(' ')
				}
				continue
			}
			sb.WriteString(st.r.NewStyle().Foreground(color(x, y)).Background(color(x, y+1)).Render("▀"))
		}
	}
	return sb.String()
}

func rgb(r, g, b float32) lipgloss.Color {
	c := func(v float32) int { return int(min(max(v, 0), 1)*255 + 0.5) }
	return lipgloss.Color(fmt.Sprintf("#%02X%02X%02X", c(r), c(g), c(b)))
}
