package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestProgressToAPipe: written to something that is not a terminal, the
// progress of 100 steps is ten whole lines (each tenth of the way), with
// no carriage returns.
func TestProgressToAPipe(t *testing.T) {
	var b bytes.Buffer
	start := time.Now()
	for i := 1; i <= 100; i++ {
		progress(&b, "fa   ", i, 100, start, "loss 1.0")
	}
	out := b.String()
	if strings.Contains(out, "\r") {
		t.Errorf("carriage returns in piped progress: %q", out)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 10 || !strings.HasPrefix(lines[0], "fa 10/100 (10%)") || !strings.HasPrefix(lines[9], "fa 100/100 (100%)") {
		t.Errorf("piped progress of 100 steps: %d lines %q, want 10 from 10/100 to 100/100", len(lines), lines)
	}
}
