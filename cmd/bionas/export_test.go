package main

import (
	"bytes"
	"context"
	"image"
	_ "image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
	"github.com/bionaslab/bionas/search"
)

// exportDARTS is the genotype the test's train run trains, in the form
// bionas export writes for genotype.txt.
const exportDARTS = `Genotype(normal=[('sep_conv_3x3:fa', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3:brsf', 0), ('sep_conv_3x3:frsf', 1), ('sep_conv_3x3:fa', 1), ('skip_connect:usf', 0), ('skip_connect:fa', 0), ('dil_conv_3x3:frsf', 2)], normal_concat=range(2, 6), reduce=[('max_pool_3x3:fa', 0), ('max_pool_3x3:usf', 1), ('skip_connect', 2), ('max_pool_3x3:fa', 1), ('max_pool_3x3:frsf', 0), ('skip_connect:fa', 2), ('skip_connect:usf', 2), ('dil_conv_5x5:brsf', 1)], reduce_concat=range(2, 6))`

// exportLab is a lab folder, left open as the TUI would hold it, with a
// finished fake search r0001 and a finished fake training r0002 of
// exportDARTS.
func exportLab(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := lab.Open(lab.Options{Dir: dir, Backend: (&labtest.Fake{}).Backend(), FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	g, err := search.ParseGenotype(exportDARTS)
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []lab.Spec{
		{Kind: lab.KindSearch, Preset: "mnist-tiny"},
		{Kind: lab.KindTrain, Dataset: "mnist", Genotype: &g},
	} {
		info, err := l.Start(spec)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		info, err = l.WaitRun(ctx, info.ID)
		cancel()
		if err != nil || info.Status != lab.StatusDone {
			t.Fatalf("run %s: %v %s", info.ID, err, info.Status)
		}
	}
	// The lab flushes a finished run's files: wait for them.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := lab.ReadSnapshot(dir, "r0002")
		if err == nil && s.Info.Status == lab.StatusDone && len(s.Points) > 0 {
			if s1, err := lab.ReadSnapshot(dir, "r0001"); err == nil && s1.Genotype != nil && s1.Info.Status == lab.StatusDone {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run folders not flushed: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return dir
}

func TestExportCommand(t *testing.T) {
	dir := exportLab(t)
	out := t.TempDir()
	for _, tc := range []struct {
		name   string
		args   []string
		stdout string   // exact, if set
		lines  []string // substrings of stdout
		file   string   // written, relative to the lab folder or (out/…) the test's output folder
		check  func(t *testing.T, b []byte)
	}{
		{name: "darts text to stdout", args: []string{"--lab", dir, "r0002", "genotype.txt", "--out", "-"}, stdout: exportDARTS + "\n"},
		{name: "darts text to the run folder", args: []string{"--lab", dir, "r0002", "genotype.txt"},
			stdout: "r0002 genotype.txt: " + filepath.Join(dir, "runs", "r0002", "exports", "genotype.txt") + "\n",
			file:   "runs/r0002/exports/genotype.txt",
			check: func(t *testing.T, b []byte) {
				if string(b) != exportDARTS+"\n" {
					t.Errorf("genotype.txt = %s", b)
				}
			}},
		{name: "flags after the arguments, several exports", args: []string{"r0001", "genotype.json", "genotype.dot", "loss.png", "--lab", dir},
			lines: []string{"r0001 genotype.json: ", "r0001 genotype.dot: ", "r0001 loss.png: " + filepath.Join(dir, "runs", "r0001", "exports", "loss.png")},
			file:  "runs/r0001/exports/loss.png",
			check: func(t *testing.T, b []byte) {
				cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
				if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || err != nil || format != "png" || cfg.Width != lab.ChartWidth || cfg.Height != lab.ChartHeight {
					t.Errorf("loss.png: %s %d×%d %v", format, cfg.Width, cfg.Height, err)
				}
			}},
		{name: "dot", args: []string{"--lab", dir, "r0001", "genotype.dot", "--out", filepath.Join(out, "cells.dot")},
			file: "out/cells.dot",
			check: func(t *testing.T, b []byte) {
				if !bytes.HasPrefix(b, []byte("digraph genotype {\n")) || bytes.Count(b, []byte(" -> ")) != 24 {
					t.Errorf("cells.dot:\n%s", b)
				}
			}},
		{name: "svg to a file", args: []string{"--lab", dir, "--out", filepath.Join(out, "acc.svg"), "r0002", "acc.svg"},
			stdout: "r0002 acc.svg: " + filepath.Join(out, "acc.svg") + "\n", file: "out/acc.svg",
			check: func(t *testing.T, b []byte) {
				for _, w := range []string{"<svg", "r0002 train mnist: train", "r0002 train mnist: test"} {
					if !bytes.Contains(b, []byte(w)) {
						t.Errorf("acc.svg lacks %q", w)
					}
				}
			}},
		{name: "compare", args: []string{"--lab", dir, "--compare", "r0001,r0002", "loss.svg", "acc.png"},
			lines: []string{"r0001,r0002 loss.svg: " + filepath.Join(dir, "exports", "compare-r0001-r0002-loss.svg"),
				"r0001,r0002 acc.png: " + filepath.Join(dir, "exports", "compare-r0001-r0002-acc.png")},
			file: "exports/compare-r0001-r0002-loss.svg",
			check: func(t *testing.T, b []byte) {
				for _, w := range []string{"Loss · r0001 vs r0002", "r0001 search mnist darts: train", "r0001 search mnist darts: val",
					"r0002 train mnist: train", "r0002 train mnist: test"} {
					if !bytes.Contains(b, []byte(w)) {
						t.Errorf("overlaid chart lacks %q", w)
					}
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), append([]string{"export"}, tc.args...), &stdout, &stderr); err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			if tc.stdout != "" && stdout.String() != tc.stdout {
				t.Errorf("stdout:\n got %q\nwant %q", stdout.String(), tc.stdout)
			}
			for _, l := range tc.lines {
				if !strings.Contains(stdout.String(), l) {
					t.Errorf("stdout lacks %q:\n%s", l, stdout.String())
				}
			}
			if tc.file == "" {
				return
			}
			path := filepath.Join(dir, tc.file)
			if rest, ok := strings.CutPrefix(tc.file, "out/"); ok {
				path = filepath.Join(out, rest)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, b)
		})
	}
}

func TestExportCommandErrors(t *testing.T) {
	dir := exportLab(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--lab", dir, "r0001", "loss.jpg"}, []string{`unknown export "loss.jpg"`, "genotype.json, genotype.txt, genotype.dot, loss.png, loss.svg, acc.png, acc.svg"}},
		{[]string{"--lab", dir, "r0001"}, []string{"name what to export", "genotype.txt"}},
		{[]string{"--lab", dir}, []string{"name a run"}},
		{[]string{"--lab", dir, "r0099", "loss.png"}, []string{`no run "r0099"`}},
		{[]string{"--lab", filepath.Join(dir, "nowhere"), "r0001", "loss.png"}, []string{"no lab at", "nowhere"}},
		{[]string{"--lab", dir, "r0001", "loss.png", "--out", filepath.Join(t.TempDir(), "loss.svg")}, []string{"loss.svg", "must end in .png"}},
		{[]string{"--lab", dir, "r0001", "loss.png", "--out", filepath.Join(t.TempDir(), "loss")}, []string{"must end in .png"}},
		{[]string{"--lab", dir, "r0001", "loss.png", "--out", "-"}, []string{"--out -", "picture"}},
		{[]string{"--lab", dir, "r0001", "loss.png", "acc.png", "--out", "x.png"}, []string{"--out names one file", "2 exports"}},
		{[]string{"--lab", dir, "--compare", "r0001,r0002", "genotype.txt"}, []string{"--compare overlays charts", "genotype.txt"}},
		{[]string{"--lab", dir, "--compare", ",", "loss.png"}, []string{`--compare ","`}},
		{[]string{"--lab", dir, "--compare", "r0001,r0077", "loss.png"}, []string{`no run "r0077"`}},
		{[]string{"--lab", dir, "../r0001", "loss.png"}, []string{`no run "../r0001"`}},
		{[]string{"--lab", dir, "--bogus", "r0001", "loss.png"}, []string{"-bogus"}},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"export"}, tc.args...), &stdout, &stderr)
		if err == nil {
			t.Errorf("%v: no error", tc.args)
			continue
		}
		msg := err.Error() + " " + stderr.String()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%v: error %q does not mention %q", tc.args, msg, w)
			}
		}
	}
}
