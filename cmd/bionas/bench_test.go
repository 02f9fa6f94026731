package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestBenchFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"supernet"}},
		{[]string{"gemm"}, []string{`"gemm"`, "supernet"}},
		{[]string{"supernet", "--steps", "0"}, []string{"--steps", "0", "positive"}},
		{[]string{"supernet", "--batch", "-2"}, []string{"--batch", "-2"}},
		{[]string{"supernet", "--space", "nope"}, []string{"--space", `"nope"`}},
		{[]string{"supernet", "--c", "x"}, []string{"-c", `"x"`}},
		{[]string{"supernet", "--torch-ms", "0"}, []string{"--torch-ms", "positive"}},
		{[]string{"supernet", "--cpuprofile", "/nonexistent-dir/p.prof", "--steps", "1", "--c", "2", "--cells", "1", "--size", "4", "--batch", "1"}, []string{"--cpuprofile", "nonexistent-dir"}},
	} {
		var so, se bytes.Buffer
		err := runBench(context.Background(), c.args, &so, &se)
		if err == nil {
			t.Errorf("%v: no error", c.args)
			continue
		}
		msg := err.Error() + " " + se.String()
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%v: %q does not mention %q", c.args, msg, w)
			}
		}
	}
}

func TestBenchSupernetTiny(t *testing.T) {
	var so, se bytes.Buffer
	err := runBench(context.Background(), []string{"supernet", "--c", "4", "--cells", "3", "--size", "8", "--channels", "1",
		"--batch", "4", "--steps", "1", "--space", "bp", "--json"}, &so, &se)
	if err != nil {
		t.Fatalf("%v\n%s", err, se.String())
	}
	var r benchReport
	if err := json.Unmarshal(so.Bytes(), &r); err != nil {
		t.Fatalf("%v: %q", err, so.String())
	}
	if r.MsPerStep <= 0 || r.PeakRSSBytes <= 0 || r.Pairs != 8 || r.Batch != 4 || r.TimeRatio != r.MsPerStep/benchRefStepMs {
		t.Fatalf("report %+v", r)
	}
	// The human form names both ratios, to a same-run PyTorch figure when
	// given, and writes the profile asked for.
	so.Reset()
	prof := t.TempDir() + "/cpu.prof"
	if err := runBench(context.Background(), []string{"supernet", "--c", "4", "--cells", "3", "--size", "8", "--channels", "1",
		"--batch", "2", "--steps", "1", "--space", "bp", "--torch-ms", "30000", "--cpuprofile", prof, "--memprofile", prof + ".mem"}, &so, &se); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{prof, prof + ".mem"} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("profile %s: %v (%v)", f, err, st)
		}
	}
	for _, w := range []string{"ms/step", "peak RSS", "page faults/step", "vs PyTorch CPU (30.0 s/step", "time", "memory"} {
		if !strings.Contains(so.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, so.String())
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		v    []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.v); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.v, got, c.want)
		}
	}
}
