// Package tui is BioNAS Lab's terminal UI (bubbletea v1, lipgloss, bubbles,
// ntcharts) and its SSH server (wish).
//
// A Shell is the root model of one session: a tab bar, six panes, a status
// line and a help line. The panes, one per file:
//
//   - runs.go: every run with its status, progress and key number; start
//     the MNIST quick search with one key (s) or a search from the preset
//     form (n); stop (x), resume (R), train a search's genotype (t).
//   - charts.go: train and validation (or test) loss and accuracy against
//     the step, braille lines on ntcharts line charts with fixed ranges,
//     and images per second.
//   - heatmap.go: the alpha heatmap, edges × (op, rule) pairs, drawn on an
//     ntcharts canvas with labelled axes, colour or a glyph ramp.
//   - genotype.go: each cell as a DAG, edges labelled with op and rule and
//     coloured by rule, with a legend.
//   - rules.go: the rule editor (the discrete network's layers; change one
//     layer, an edge or all; r retrains as a child run) and the comparison
//     of a run with its parent.
//   - attack.go: the attack stepper (half-block images in halfblock.go,
//     probability bars, loss per step) and the background robustness
//     report.
//
// The shell talks only to package lab. It subscribes to the lab's event
// bus and drains it at most once per Options.FrameInterval from a command
// that waits on the subscription: a job never waits for a terminal, and a
// slow terminal gets coalesced updates. Panes cache their rendered strings
// and redraw only when their data or size changed.
//
// Every style comes from the session's renderer (NewStyles), so that over
// SSH each client gets the colours its own terminal supports; on a
// monochrome terminal the panes fall back to glyphs (heat ramp, half-block
// thresholds, thick borders for focus).
//
// server.go serves Shells over SSH: public-key authentication against an
// authorized_keys allowlist parsed at start-up, a host key generated once
// and kept, one TUI per session over the one shared lab, and a graceful
// shutdown.
package tui
