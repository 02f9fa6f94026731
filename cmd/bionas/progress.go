package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws a one-line bar with an ETA on w (stderr), rewriting the
// line in place and ending it when done == total.
func progress(w io.Writer, label string, done, total int, start time.Time, extra string) {
	const width = 30
	if total <= 0 {
		return
	}
	filled := width * done / total
	eta := "--"
	if done > 0 {
		left := time.Duration(float64(time.Since(start)) / float64(done) * float64(total-done))
		eta = left.Round(time.Second).String()
	}
	fmt.Fprintf(w, "\r%s [%s%s] %d/%d eta %s %s", label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, total, eta, extra)
	if done >= total {
		fmt.Fprintln(w)
	}
}
