package tui

import "github.com/charmbracelet/bubbles/key"

func bind(keys []string, help, desc string) key.Binding {
	return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
}

// globalKeys work in every pane (unless a form is open).
type globalKeys struct {
	Next, Prev, Jump, Help, Quit key.Binding
}

func newGlobalKeys() globalKeys {
	return globalKeys{
		Next: bind([]string{"tab"}, "tab", "next pane"),
		Prev: bind([]string{"shift+tab"}, "⇧tab", "prev pane"),
		Jump: bind([]string{"1", "2", "3", "4", "5", "6"}, "1-6", "go to pane"),
		Help: bind([]string{"?"}, "?", "help"),
		Quit: bind([]string{"q", "ctrl+c"}, "q", "quit"),
	}
}

func (k globalKeys) list() []key.Binding { return []key.Binding{k.Next, k.Jump, k.Help, k.Quit} }

// keyMap is what the help view shows: the focused pane's keys, then the
// global ones.
type keyMap struct {
	pane   []key.Binding
	global globalKeys
}

func (k keyMap) ShortHelp() []key.Binding {
	var out []key.Binding
	for _, b := range k.pane {
		if b.Enabled() {
			out = append(out, b)
		}
	}
	return append(out, k.global.Help, k.global.Quit)
}

func (k keyMap) FullHelp() [][]key.Binding {
	var cols [][]key.Binding
	var col []key.Binding
	for _, b := range k.pane {
		if !b.Enabled() {
			continue
		}
		col = append(col, b)
		if len(col) == 6 {
			cols = append(cols, col)
			col = nil
		}
	}
	if len(col) > 0 {
		cols = append(cols, col)
	}
	return append(cols, []key.Binding{k.global.Next, k.global.Prev, k.global.Jump, k.global.Help, k.global.Quit})
}

// Shared navigation bindings.
var (
	keyUp    = bind([]string{"up", "k"}, "↑/k", "up")
	keyDown  = bind([]string{"down", "j"}, "↓/j", "down")
	keyLeft  = bind([]string{"left", "h"}, "←/h", "left")
	keyRight = bind([]string{"right", "l"}, "→/l", "right")
)
