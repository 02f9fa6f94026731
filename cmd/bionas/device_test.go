//go:build !cuda

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/nn/cuda"
)

func TestParseDevice(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    deviceSpec
		str     string
		wantErr bool
	}{
		{"cpu", deviceSpec{}, "cpu", false},
		{" CPU ", deviceSpec{}, "cpu", false},
		{"cuda", deviceSpec{CUDA: true}, "cuda:0", false},
		{"cuda:0", deviceSpec{CUDA: true}, "cuda:0", false},
		{"cuda:3", deviceSpec{CUDA: true, Ordinal: 3}, "cuda:3", false},
		{"cuda:-1", deviceSpec{}, "", true},
		{"cuda:x", deviceSpec{}, "", true},
		{"cuda:", deviceSpec{}, "", true},
		{"gpu", deviceSpec{}, "", true},
		{"", deviceSpec{}, "", true},
	} {
		got, err := parseDevice(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseDevice(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if got != tc.want || got.String() != tc.str {
			t.Errorf("parseDevice(%q) = %+v (%s), want %+v (%s)", tc.in, got, got.String(), tc.want, tc.str)
		}
	}
}

func TestDeviceFlagDefaultsToCPU(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	d := deviceFlag(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if d.CUDA || d.String() != "cpu" {
		t.Errorf("default --device = %s, want cpu", d)
	}
	name, release, err := d.use("search", new(bytes.Buffer))
	if err != nil || name != "cpu" {
		t.Fatalf("use on the CPU = %q, %v", name, err)
	}
	release()
}

// Every command with --device cuda fails before doing any work in a build
// without CUDA, saying how to get one; a bad value is a flag error.
func TestDeviceCUDAWithoutCUDABuild(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		notUsed bool // a parse error, not the not-built error
	}{
		{args: []string{"search", "--device", "cuda", "--out", "unused"}},
		{args: []string{"train", "--device", "cuda:1", "--genotype", "x"}},
		{args: []string{"attack", "--device", "cuda", "--model", "x"}},
		{args: []string{"attack", "prepare", "--device", "cuda"}},
		{args: []string{"serve", "--device", "cuda", "--authorized-keys", "x"}},
		{args: []string{"tui", "--device", "cuda", "--lab", "x"}},
		{args: []string{"device", "check"}},
		{args: []string{"device", "bench", "--device", "cuda:2"}},
		{args: []string{"device", "info"}},
		{args: []string{"search", "--device", "tpu"}, notUsed: true},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), tc.args, &stdout, &stderr)
		if err == nil {
			t.Errorf("bionas %v: no error", tc.args)
			continue
		}
		if tc.notUsed {
			if !strings.Contains(stderr.String(), "want cpu, cuda or cuda:N") {
				t.Errorf("bionas %v: stderr %q does not explain --device", tc.args, stderr.String())
			}
			continue
		}
		if !errors.Is(err, cuda.ErrNotBuilt) || !strings.Contains(err.Error(), "rebuild with -tags cuda") {
			t.Errorf("bionas %v: error %v, want the not-built error", tc.args, err)
		}
	}
}

func TestDeviceNeedsSubcommand(t *testing.T) {
	for _, args := range [][]string{{"device"}, {"device", "frob"}, {"device", "check", "--device", "cpu"}} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); err == nil || errors.Is(err, cuda.ErrNotBuilt) {
			t.Errorf("bionas %v: error %v, want a usage error", args, err)
		}
	}
}

// bionas tui and serve with --device cuda, in a build without CUDA, exit 1
// with the not-built message and open no lab (a real child process: the
// exit status is main's).
func TestLabCommandsCUDAExitOne(t *testing.T) {
	for _, args := range [][]string{
		{"tui", "--device", "cuda", "--lab", filepath.Join(t.TempDir(), "lab")},
		{"serve", "--device", "cuda:0", "--authorized-keys", "x", "--lab", filepath.Join(t.TempDir(), "lab")},
	} {
		stderr, code := runCLI(t, args...)
		if code != 1 || !strings.Contains(stderr, "rebuild with -tags cuda") {
			t.Errorf("bionas %v: exit %d, stderr %q; want 1 and the not-built message", args, code, stderr)
		}
		if _, err := os.Stat(args[len(args)-1]); err == nil {
			t.Errorf("bionas %v: opened the lab folder before failing", args)
		}
	}
}

// On the CPU the lab's engine says it computes on the CPU: run specs and
// the status bar then read "cpu", honestly.
func TestLabEngineOnCPU(t *testing.T) {
	dev := &deviceSpec{}
	if _, release, err := dev.use("tui", new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	} else {
		release()
	}
	if o := dev.engineOptions("d"); o.Device != nil || o.DeviceName != "cpu" || o.DataDir != "d" {
		t.Fatalf("engine options on the CPU: %+v", o)
	}
	// --device cuda without an opened device (use not called) claims nothing.
	if o := (&deviceSpec{CUDA: true}).engineOptions(""); o.Device != nil || o.DeviceName != "cpu" {
		t.Fatalf("engine options of an unopened cuda:0: %+v", o)
	}
	lf := labFlags{dir: t.TempDir(), jobs: 1}
	l, err := lf.open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Device() != "cpu" {
		t.Fatalf("lab device %q, want cpu", l.Device())
	}
}
