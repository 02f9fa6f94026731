package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bionaslab/bionas/nn"
)

func TestSearchFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string // substrings of the error
	}{
		{[]string{"--method", "foo"}, []string{"--method", `"foo"`, "darts, darts2, pcdarts, egnas, random"}},
		{[]string{"--space", "xyz"}, []string{"--space", `"xyz"`, "bio, bp, hlpc, lrnas"}},
		{[]string{"--preset", "slow"}, []string{"--preset", `"slow"`, "quick, paper"}},
		{[]string{"--epochs", "-3"}, []string{"--epochs", "-3", "positive"}},
		{[]string{"--images", "-7"}, []string{"--images", "-7"}},
		{[]string{"--batch", "-1"}, []string{"--batch", "-1", "positive"}},
		{[]string{"--ops", "sep_conv_9x9"}, []string{"--ops", "sep_conv_9x9", "want one of"}},
		{[]string{"--rules", "fa,xx"}, []string{"--rules", `"xx"`, "want one of"}},
		{[]string{"--dataset", "imagenet-1k", "--out", "OUT"}, []string{"--dataset", `"imagenet-1k"`}},
		{[]string{"--epochs", "two"}, []string{"-epochs", `"two"`}},
		{[]string{"extra"}, []string{`"extra"`}},
	} {
		args := slices.Clone(c.args)
		for i, a := range args {
			if a == "OUT" {
				args[i] = t.TempDir()
			}
		}
		var stdout, stderr bytes.Buffer
		err := runSearch(context.Background(), args, &stdout, &stderr)
		if err == nil {
			t.Errorf("%v: no error", c.args)
			continue
		}
		msg := err.Error() + " " + stderr.String()
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%v: error %q does not mention %q", c.args, msg, w)
			}
		}
	}
}

// tinySearchArgs is a search small enough for a test: synthetic data, a
// 3-pair space, a few dozen images.
func tinySearchArgs(out string, extra ...string) []string {
	return append([]string{"--method", "darts", "--dataset", "synthetic", "--ops", "none,skip_connect,sep_conv_3x3", "--rules", "usf",
		"--images", "64", "--batch", "16", "--epochs", "3", "--seed", "5", "--out", out}, extra...)
}

// readLines decodes a JSON-lines file.
func searchTestLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: bad line %q: %v", path, sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestSearchCLI(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := runSearch(context.Background(), tinySearchArgs(out, "--json"), &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	for _, f := range []string{"genotype.json", "genotype.txt", "alphas.json", "metrics.jsonl", "result.json", "config.json", "checkpoint/LATEST"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var last map[string]any
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("stdout line %d is not JSON: %q", i, l)
		}
		last = m
	}
	if last["kind"] != "summary" || last["steps"] != float64(6) || last["genotype_text"] == "" {
		t.Fatalf("last line %v", last)
	}
	if !strings.Contains(stderr.String(), "eta") || !strings.Contains(stderr.String(), "epoch 3/3") {
		t.Errorf("stderr lacks the progress bar or epoch lines:\n%s", stderr.String())
	}
	// A second search into the same folder without --resume is refused.
	err := runSearch(context.Background(), tinySearchArgs(out), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("second search into %s: %v", out, err)
	}
}

// TestSearchChildProcess is `bionas search` in a child process for the
// SIGKILL test (it does nothing in a normal test run).
func TestSearchChildProcess(t *testing.T) {
	args := os.Getenv("BIONAS_TEST_SEARCH_CHILD")
	if args == "" {
		return
	}
	var a []string
	json.Unmarshal([]byte(args), &a)
	if err := runSearch(context.Background(), a, os.Stdout, os.Stderr); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(0)
}

func TestSearchSIGKILLResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	// Uninterrupted reference.
	ref := t.TempDir()
	var so, se bytes.Buffer
	if err := runSearch(context.Background(), tinySearchArgs(ref), &so, &se); err != nil {
		t.Fatalf("%v\n%s", err, se.String())
	}

	// The same search in a child process, killed with SIGKILL once the
	// first epoch's checkpoint exists (mid-epoch 2 or so).
	out := t.TempDir()
	args, _ := json.Marshal(tinySearchArgs(out))
	cmd := exec.Command(os.Args[0], "-test.run=^TestSearchChildProcess$")
	cmd.Env = append(os.Environ(), "BIONAS_TEST_SEARCH_CHILD="+string(args))
	var childErr bytes.Buffer
	cmd.Stderr = &childErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(out, "checkpoint", "LATEST")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 60 s:\n%s", childErr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	if err == nil {
		t.Skip("the child finished before it could be killed")
	}
	if err := runSearch(context.Background(), tinySearchArgs(out, "--resume"), &so, &se); err != nil {
		t.Fatalf("resume: %v\n%s", err, se.String())
	}
	var a, b map[string]any
	json.Unmarshal(mustRead(os.ReadFile(filepath.Join(ref, "result.json"))), &a)
	json.Unmarshal(mustRead(os.ReadFile(filepath.Join(out, "result.json"))), &b)
	if a["steps"] != b["steps"] || a["val_acc"] != b["val_acc"] {
		t.Fatalf("resumed: %v steps, val acc %v; uninterrupted %v, %v", b["steps"], b["val_acc"], a["steps"], a["val_acc"])
	}
	if b["resumed_at"] == nil {
		t.Fatalf("the resumed run did not resume: %v", b)
	}
	ga, _ := os.ReadFile(filepath.Join(ref, "genotype.json"))
	gb, _ := os.ReadFile(filepath.Join(out, "genotype.json"))
	if !bytes.Equal(ga, gb) {
		t.Fatalf("genotypes differ:\n%s\n%s", ga, gb)
	}
	// Weights and alphas bit for bit.
	ta := searchTestCkpt(t, ref)
	tb := searchTestCkpt(t, out)
	for name, x := range ta {
		if y, ok := tb[name]; !ok || !slices.Equal(x.Data, y.Data) {
			t.Fatalf("tensor %s differs after SIGKILL and resume", name)
		}
	}
	// metrics.jsonl holds each epoch once.
	epochs := map[float64]int{}
	for _, m := range searchTestLines(t, filepath.Join(out, "metrics.jsonl")) {
		if m["kind"] == "epoch" {
			epochs[m["epoch"].(float64)]++
		}
	}
	if len(epochs) != 3 || epochs[0] != 1 || epochs[1] != 1 || epochs[2] != 1 {
		t.Fatalf("epoch events in metrics.jsonl: %v", epochs)
	}
}

func searchTestCkpt(t *testing.T, out string) map[string]*nn.Tensor {
	t.Helper()
	name, err := os.ReadFile(filepath.Join(out, "checkpoint", "LATEST"))
	if err != nil {
		t.Fatal(err)
	}
	ts, _, err := nn.ReadSafetensors(filepath.Join(out, "checkpoint", strings.TrimSpace(string(name))))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func mustRead(v []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return v
}

// TestSearchOutFolderHygiene: --resume on a folder with no checkpoint is
// refused (not silently started afresh), and a search that fails before
// writing anything (an unknown dataset) leaves no empty --out folder.
func TestSearchOutFolderHygiene(t *testing.T) {
	out := filepath.Join(t.TempDir(), "fresh")
	var stdout, stderr bytes.Buffer
	err := runSearch(context.Background(), append(tinySearchArgs(out), "--resume"), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "holds no checkpoint to continue") || !strings.Contains(err.Error(), out) {
		t.Errorf("--resume without a checkpoint: %v, want an error naming %s", err, out)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("--resume refused, but the --out folder was left behind (%v)", err)
	}
	args := tinySearchArgs(out)
	for i, a := range args {
		if a == "--dataset" {
			args[i+1] = "foo"
		}
	}
	if err := runSearch(context.Background(), args, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), `"foo"`) {
		t.Fatalf("--dataset foo: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a search that failed on its dataset left the --out folder %s (%v)", out, err)
	}
}
