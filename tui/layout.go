package tui

import (
	"fmt"
	"math"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// fit makes s exactly w columns by h lines: longer lines are cut (with
// their styles closed), shorter ones padded with spaces, missing lines
// added and extra lines dropped.
func fit(s string, w, h int) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	var b strings.Builder
	for i := range h {
		line := ""
		if i < len(lines) {
			line = lines[i]
		}
		if lw := ansi.StringWidth(line); lw > w {
			line = ansi.Truncate(line, w, "")
		}
		b.WriteString(line)
		if pad := w - ansi.StringWidth(line); pad > 0 {
			b.WriteString(strings.Repeat(" ", pad))
		}
		if i < h-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// trunc cuts a plain or styled string to w columns, with an ellipsis.
func trunc(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// padRight pads a (possibly styled) string to w columns.
func padRight(s string, w int) string {
	s = trunc(s, w)
	if d := w - ansi.StringWidth(s); d > 0 {
		s += strings.Repeat(" ", d)
	}
	return s
}

// padLeft right-aligns a (possibly styled) string in w columns.
func padLeft(s string, w int) string {
	s = trunc(s, w)
	if d := w - ansi.StringWidth(s); d > 0 {
		s = strings.Repeat(" ", d) + s
	}
	return s
}

// box draws content in a w×h frame with a title in the top border. A
// focused box has a coloured border, and a heavy one on monochrome
// terminals, so that focus shows without colour.
func box(st *Styles, title, content string, w, h int, focused bool) string {
	if w < 4 || h < 2 {
		return fit("", w, h)
	}
	b := lipgloss.RoundedBorder()
	bs := st.BorderOff
	if focused {
		bs = st.BorderOn
		if st.Mono {
			b = lipgloss.ThickBorder()
		}
	}
	iw, ih := w-2, h-2
	t := ""
	if title != "" {
		t = " " + trunc(title, iw-4) + " "
		if focused {
			t = st.Bold.Render(t)
		}
	}
	top := bs.Render(b.TopLeft+b.Top) + t
	top += bs.Render(strings.Repeat(b.Top, max(iw-1-ansi.StringWidth(t), 0)) + b.TopRight)
	var sb strings.Builder
	sb.WriteString(top)
	left, right := bs.Render(b.Left), bs.Render(b.Right)
	for _, line := range strings.Split(fit(content, iw, ih), "\n") {
		sb.WriteByte('\n')
		sb.WriteString(left + line + right)
	}
	sb.WriteByte('\n')
	sb.WriteString(bs.Render(b.BottomLeft + strings.Repeat(b.Bottom, iw) + b.BottomRight))
	return sb.String()
}

// progressBar draws a w-column bar filled to fraction p.
func progressBar(p float64, w int) string {
	if w <= 0 {
		return ""
	}
	p = min(max(p, 0), 1)
	eighths := int(math.Round(p * float64(w) * 8))
	full, part := eighths/8, eighths%8
	parts := []string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}
	s := strings.Repeat("█", full)
	if used := full; used < w {
		if part > 0 {
			s += parts[part]
			used++
		}
		s += strings.Repeat("░", w-used)
	}
	return s
}

// hbar is a horizontal bar of value v in [0,1], w columns, with no track.
func hbar(v float64, w int) string {
	if w <= 0 {
		return ""
	}
	v = min(max(v, 0), 1)
	eighths := int(math.Round(v * float64(w) * 8))
	parts := []string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"}
	s := strings.Repeat("█", eighths/8) + parts[eighths%8]
	return s
}

// pct formats a fraction as a percentage ("97.1%"), "–" for none, "NaN"
// for the lab's non-finite marker.
func pct(v float64) string {
	switch {
	case v < 0:
		return "NaN"
	case v == 0:
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}

// num formats a loss-like number.
func num(v float64) string {
	switch {
	case v < 0:
		return "NaN"
	case v == 0:
		return "–"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// sparkline draws values as one line of block characters scaled to the
// largest value.
func sparkline(vals []float64, w int) string {
	if w <= 0 || len(vals) == 0 {
		return ""
	}
	if len(vals) > w {
		vals = vals[len(vals)-w:]
	}
	hi := 0.0
	for _, v := range vals {
		hi = max(hi, v)
	}
	ramp := []rune("▁▂▃▄▅▆▇█")
	var b strings.Builder
	for _, v := range vals {
		i := 0
		if hi > 0 && v > 0 {
			i = min(int(v/hi*float64(len(ramp)-1)+0.5), len(ramp)-1)
		}
		b.WriteRune(ramp[i])
	}
	return b.String()
}

// joinH places blocks side by side, each padded to its width, separated
// by gap spaces.
func joinH(gap int, blocks ...string) string {
	var parts []string
	for i, b := range blocks {
		if i > 0 && gap > 0 {
			parts = append(parts, strings.Repeat(" ", gap))
		}
		parts = append(parts, b)
	}
	return lipgloss.JoinHorizontal(lipgloss.Top, parts...)
}

// stripStyles removes escape sequences.
func stripStyles(s string) string { return ansi.Strip(s) }
