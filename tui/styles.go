package tui

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/nn/rule"
)

// Styles are every style of one session, all built from that session's
// renderer (over SSH: the client's terminal, not the server's).
type Styles struct {
	r *lipgloss.Renderer
	// Mono is set when the terminal shows no colour: panes then draw
	// glyphs (heat ramps, markers, thick borders) where they would colour.
	Mono bool

	Plain, Title, Dim, Bold, Err, OK, Warn, Key lipgloss.Style
	// Sel is the selected row of a list.
	Sel lipgloss.Style
	// TabOn and TabOff are the tab bar's labels.
	TabOn, TabOff lipgloss.Style
	// BorderOn and BorderOff draw a focused and an unfocused pane.
	BorderOn, BorderOff lipgloss.Style

	status map[lab.Status]lipgloss.Style
	rule   map[rule.Rule]lipgloss.Style
	// Heat are background styles from cold to hot (alpha heatmap).
	Heat []lipgloss.Style
	// Train and Val colour the chart series.
	Train, Val lipgloss.Style
	// Series colour the runs of a comparison, one each, in order; Glyphs
	// tell them apart on a monochrome terminal.
	Series []lipgloss.Style
	// Help styles the bubbles help line.
	Help help.Styles
}

// ruleColors are the rules' colours, the same in every pane and legend.
var ruleColors = map[rule.Rule]lipgloss.Color{
	"bp":   "#D0D0D0",
	"fa":   "#5FAFFF",
	"dfa":  "#00D7D7",
	"usf":  "#87D75F",
	"brsf": "#D787FF",
	"frsf": "#FFD75F",
	"hebb": "#FF8700",
	"pc":   "#FF5F87",
}

// seriesColors are the runs of a comparison (Okabe–Ito, colour-blind safe).
var seriesColors = []lipgloss.Color{"#56B4E9", "#E69F00", "#009E73", "#F0E442", "#CC79A7", "#D55E00", "#0072B2", "#FFFFFF"}

// seriesGlyphs mark the runs of a comparison where colour does not show.
var seriesGlyphs = []rune("●■▲◆✚✖★◉")

// heatColors is viridis in ten steps.
var heatColors = []lipgloss.Color{"#440154", "#482878", "#3E4A89", "#31688E", "#26828E", "#1F9E89", "#35B779", "#6DCD59", "#B4DE2C", "#FDE725"}

// NewStyles builds a session's styles from its renderer (nil: the
// default renderer of this process).
func NewStyles(r *lipgloss.Renderer) *Styles {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	s := &Styles{r: r, Mono: r.ColorProfile() == termenv.Ascii}
	n := r.NewStyle
	s.Plain = n()
	s.Title = n().Bold(true).Foreground(lipgloss.Color("#AF87FF"))
	s.Dim = n().Foreground(lipgloss.AdaptiveColor{Light: "#767676", Dark: "#8A8A8A"})
	s.Bold = n().Bold(true)
	s.Err = n().Foreground(lipgloss.Color("#FF5F5F")).Bold(true)
	s.OK = n().Foreground(lipgloss.Color("#5FD75F"))
	s.Warn = n().Foreground(lipgloss.Color("#FFAF00"))
	s.Key = n().Foreground(lipgloss.Color("#AF87FF")).Bold(true)
	s.Sel = n().Reverse(true)
	s.TabOn = n().Bold(true).Foreground(lipgloss.Color("#FFFFFF")).Background(lipgloss.Color("#5F5FAF"))
	s.TabOff = n().Foreground(lipgloss.AdaptiveColor{Light: "#585858", Dark: "#A8A8A8"})
	s.BorderOn = n().Foreground(lipgloss.Color("#AF87FF"))
	s.BorderOff = n().Foreground(lipgloss.AdaptiveColor{Light: "#A8A8A8", Dark: "#585858"})
	s.status = map[lab.Status]lipgloss.Style{
		lab.StatusQueued:      n().Foreground(lipgloss.Color("#87AFFF")),
		lab.StatusRunning:     n().Foreground(lipgloss.Color("#FFD75F")).Bold(true),
		lab.StatusDone:        s.OK,
		lab.StatusFailed:      s.Err,
		lab.StatusInterrupted: s.Warn,
	}
	s.rule = map[rule.Rule]lipgloss.Style{}
	for name, c := range ruleColors {
		s.rule[name] = n().Foreground(c)
	}
	for _, c := range heatColors {
		s.Heat = append(s.Heat, n().Background(c))
	}
	s.Train = n().Foreground(lipgloss.Color("#5FAFFF"))
	s.Val = n().Foreground(lipgloss.Color("#FF875F"))
	for _, c := range seriesColors {
		s.Series = append(s.Series, n().Foreground(c))
	}
	s.Help = help.Styles{
		ShortKey:       s.Key,
		ShortDesc:      s.Dim,
		ShortSeparator: s.Dim,
		Ellipsis:       s.Dim,
		FullKey:        s.Key,
		FullDesc:       s.Dim,
		FullSeparator:  s.Dim,
	}
	return s
}

// Status styles a run status.
func (s *Styles) Status(st lab.Status) lipgloss.Style {
	if x, ok := s.status[st]; ok {
		return x
	}
	return s.Plain
}

// Rule styles a learning rule's name (its colour; plain if unknown).
func (s *Styles) Rule(r rule.Rule) lipgloss.Style {
	if x, ok := s.rule[r]; ok {
		return x
	}
	return s.Plain
}

// Renderer returns the session renderer.
func (s *Styles) Renderer() *lipgloss.Renderer { return s.r }
