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
		Jump: bind([]string{"1", "2", "3", "4", "5", "6", "7"}, "1-7", "go to pane"),
		Help: bind([]string{"?"}, "?", "help"),
		Quit: bind([]string{"q", "ctrl+c"}, "q", "quit"),
	}
}

// Shared navigation bindings.
var (
	keyUp    = bind([]string{"up", "k"}, "↑/k", "up")
	keyDown  = bind([]string{"down", "j"}, "↓/j", "down")
	keyLeft  = bind([]string{"left", "h"}, "←/h", "left")
	keyRight = bind([]string{"right", "l"}, "→/l", "right")
)
