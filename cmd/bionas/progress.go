package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/charmbracelet/x/term"
)

// progress draws a one-line bar with an ETA on w (stderr), rewriting the
// line in place and ending it when done == total. A w that is not a
// terminal (a pipe, a log file) gets a plain line at every tenth of the way
// and at the end instead: carriage returns there only pile up.
func progress(w io.Writer, label string, done, total int, start time.Time, extra string) {
	const width = 30
	if total <= 0 {
		return
	}
	eta := "--"
	if done > 0 {
		left := time.Duration(float64(time.Since(start)) / float64(done) * float64(total-done))
		eta = left.Round(time.Second).String()
	}
	if !isTerminal(w) {
		if done < total && (done == 0 || done*10/total == (done-1)*10/total) {
			return
		}
		fmt.Fprintf(w, "%s %d/%d (%d%%) eta %s %s\n", strings.TrimSpace(label), done, total, 100*done/total, eta, extra)
		return
	}
	filled := width * done / total
	fmt.Fprintf(w, "\r%s [%s%s] %d/%d eta %s %s", label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, total, eta, extra)
	if done >= total {
		fmt.Fprintln(w)
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}
