package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bionaslab/bionas/internal/allocguard"
	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/search"
)

// TestCLIChild is the bionas binary in a child process: the hostile-input
// tests run commands through it to see the real exit status and stderr
// (it does nothing in a normal test run).
func TestCLIChild(t *testing.T) {
	args := os.Getenv("BIONAS_TEST_CLI")
	if args == "" {
		return
	}
	var a []string
	json.Unmarshal([]byte(args), &a)
	os.Args = append([]string{"bionas"}, a...)
	main() // exits 1 on an error
	os.Exit(0)
}

// cliCmd is the command line args of bionas in a child process.
func cliCmd(args ...string) *exec.Cmd {
	b, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCLIChild$")
	cmd.Env = append(os.Environ(), "BIONAS_TEST_CLI="+string(b))
	return cmd
}

// runCLI runs bionas args in a child process and returns its stderr and
// exit status.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := cliCmd(args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stderr.String(), 0
	case errors.As(err, &exit):
		return stderr.String(), exit.ExitCode()
	}
	t.Fatal(err)
	return "", -1
}

// snapshot returns every file under dir with its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[strings.TrimPrefix(p, dir)] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameFolder fails t unless the two snapshots hold the same files. The
// --out lock file is left out: it holds the pid of the last process that
// took the lock, which is bookkeeping, not the run's data.
func sameFolder(t *testing.T, before, after map[string]string) {
	t.Helper()
	lock := string(filepath.Separator) + outLockFile
	delete(before, lock)
	delete(after, lock)
	for name, b := range before {
		a, ok := after[name]
		switch {
		case !ok:
			t.Errorf("%s was removed", name)
		case a != b:
			t.Errorf("%s changed (%d bytes, was %d)", name, len(a), len(b))
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("%s was created", name)
		}
	}
}

// copyDir copies the files of src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	for name, b := range snapshot(t, src) {
		p := filepath.Join(dst, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// editMeta sets meta.<path...> = value in the sidecar of the checkpoint
// at ckpt; keepDigest false removes the digest too (a sidecar from before
// the digest existed).
func editMeta(t *testing.T, ckpt string, value any, keepDigest bool, path ...string) {
	t.Helper()
	side := nn.CheckpointSidecarPath(ckpt)
	var doc map[string]any
	if err := json.Unmarshal(mustRead(os.ReadFile(side)), &doc); err != nil {
		t.Fatal(err)
	}
	m := doc["meta"].(map[string]any)
	for _, k := range path[:len(path)-1] {
		m = m[k].(map[string]any)
	}
	m[path[len(path)-1]] = value
	if !keepDigest {
		delete(doc, "digest")
	}
	b, _ := json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(side, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSearchResumeRefusesCraftedCheckpoint: the checkpoint sidecars of
// issue 15 (meta.epoch -1, -5 or 99 with --epochs 3) make `search --resume`
// exit 1 with an error naming the sidecar and the field, without touching
// metrics.jsonl or anything else in --out, and without writing a result.
func TestSearchResumeRefusesCraftedCheckpoint(t *testing.T) {
	base := t.TempDir()
	var so, se bytes.Buffer
	if err := runSearch(context.Background(), tinySearchArgs(base), &so, &se); err != nil {
		t.Fatalf("%v\n%s", err, se.String())
	}
	os.Remove(filepath.Join(base, "result.json")) // so that a bogus "done" would show
	cases := []struct {
		epoch      int
		keepDigest bool
		want       string
	}{
		{-1, true, "field digest"},
		{-5, true, "field digest"},
		{99, true, "field digest"},
		{-1, false, "field meta.epoch is -1, want 0..3"},
		{-5, false, "field meta.epoch is -5, want 0..3"},
		{99, false, "field meta.epoch is 99, want 0..3"},
	}
	for _, tc := range cases {
		name := strconv.Itoa(tc.epoch)
		if !tc.keepDigest {
			name += " old sidecar"
		}
		t.Run("meta.epoch="+name, func(t *testing.T) {
			out := t.TempDir()
			copyDir(t, base, out)
			ckpt := filepath.Join(out, "checkpoint")
			// Only the newest pair, so there is nothing to fall back to.
			os.Remove(filepath.Join(ckpt, "ckpt-000002.safetensors"))
			os.Remove(filepath.Join(ckpt, "ckpt-000002.json"))
			editMeta(t, filepath.Join(ckpt, "ckpt-000003.safetensors"), tc.epoch, tc.keepDigest, "epoch")
			before := snapshot(t, out)
			stderr, code := runCLI(t, append([]string{"search"}, tinySearchArgs(out, "--resume")...)...)
			if code != 1 || !strings.Contains(stderr, "ckpt-000003.json") || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and an error naming ckpt-000003.json and %q", code, stderr, tc.want)
			}
			if strings.Contains(stderr, "panic") {
				t.Fatalf("panic:\n%s", stderr)
			}
			sameFolder(t, before, snapshot(t, out))
			// In process, the same refusal costs a few megabytes at most.
			allocguard.Check(t, "search --resume", 64<<20, func() {
				if err := runSearch(context.Background(), tinySearchArgs(out, "--resume"), &so, &se); err == nil {
					t.Error("resume accepted")
				}
			})
			sameFolder(t, before, snapshot(t, out))
		})
	}
}

// TestSearchResumeFallsBack: a damaged newest checkpoint with a good one
// before it resumes from that one, says so on stderr, and ends as an
// uninterrupted search does, each epoch once in metrics.jsonl.
func TestSearchResumeFallsBack(t *testing.T) {
	ref := t.TempDir()
	var so, se bytes.Buffer
	if err := runSearch(context.Background(), tinySearchArgs(ref), &so, &se); err != nil {
		t.Fatalf("%v\n%s", err, se.String())
	}
	out := t.TempDir()
	copyDir(t, ref, out)
	editMeta(t, filepath.Join(out, "checkpoint", "ckpt-000003.safetensors"), 99, true, "epoch")
	se.Reset()
	if err := runSearch(context.Background(), tinySearchArgs(out, "--resume"), &so, &se); err != nil {
		t.Fatalf("%v\n%s", err, se.String())
	}
	if !strings.Contains(se.String(), "resuming from the previous good checkpoint") || !strings.Contains(se.String(), "ckpt-000003.json") {
		t.Fatalf("stderr does not tell of the fallback:\n%s", se.String())
	}
	var a, b map[string]any
	json.Unmarshal(mustRead(os.ReadFile(filepath.Join(ref, "result.json"))), &a)
	json.Unmarshal(mustRead(os.ReadFile(filepath.Join(out, "result.json"))), &b)
	if a["steps"] != b["steps"] || a["val_acc"] != b["val_acc"] || b["resumed_at"] != float64(2) {
		t.Fatalf("fallback resume: %v steps, val acc %v, resumed at %v; uninterrupted %v, %v", b["steps"], b["val_acc"], b["resumed_at"], a["steps"], a["val_acc"])
	}
	epochs := map[float64]int{}
	for _, m := range searchTestLines(t, filepath.Join(out, "metrics.jsonl")) {
		if m["kind"] == "epoch" {
			epochs[m["epoch"].(float64)]++
		}
	}
	if len(epochs) != 3 || epochs[0] != 1 || epochs[1] != 1 || epochs[2] != 1 {
		t.Fatalf("epoch lines after the fallback: %v", epochs)
	}
}

// TestAttackRefusesOversizedModel: a model sidecar whose extra.c is 10^8
// or extra.layers 10^9 is refused before the network is built, with exit
// status 1, the file and the field in the error, a few megabytes
// allocated and the folder unchanged.
func TestAttackRefusesOversizedModel(t *testing.T) {
	geno, err := search.SampleGenotype(search.BioSpace(), 4, rand.New(rand.NewPCG(3, 3)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := search.NetworkConfig{C: 4, Layers: 3, Classes: 10, InChannels: 1, ImageSize: 28, Genotype: geno, Seed: 7}
	net, err := search.NewNetwork(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	meta := search.ModelMeta{Kind: search.ModelKind, Genotype: geno, C: cfg.C, Layers: cfg.Layers, Classes: cfg.Classes,
		InChannels: cfg.InChannels, ImageSize: cfg.ImageSize, Dataset: "mnist"}
	if err := nn.SaveModel(filepath.Join(base, "model.safetensors"), net, meta); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		field      string
		value      float64
		keepDigest bool
		want       string
	}{
		{"c", 1e8, true, "field digest"},
		{"layers", 1e9, true, "field digest"},
		{"c", 1e8, false, "field c is 100000000, want 1..1024"},
		{"layers", 1e9, false, "field layers is 1000000000, want 1..256"},
		{"c", 8, false, "give a stem of shape [24 1 3 3], the file's stem.conv.weight is [12 1 3 3]"},
		{"layers", 5, false, "field meta.extra.layers is 5, the file holds 3 cells"},
		{"classes", 3, false, "field meta.extra.classes is 3"},
	}
	for _, tc := range cases {
		name := tc.field + "=" + strconv.FormatFloat(tc.value, 'g', -1, 64)
		if !tc.keepDigest {
			name += " old sidecar"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, base, dir)
			path := filepath.Join(dir, "model.safetensors")
			editMeta(t, path, tc.value, tc.keepDigest, "extra", tc.field)
			before := snapshot(t, dir)
			args := []string{"attack", "--model", path, "--data", "synthetic", "--n", "4", "--attack", "fgsm"}
			stderr, code := runCLI(t, args...)
			if code != 1 || !strings.Contains(stderr, "model.json") || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "panic") {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and an error naming model.json and %q", code, stderr, tc.want)
			}
			var so, se bytes.Buffer
			allocguard.Check(t, "attack --model", 16<<20, func() {
				if err := runAttack(context.Background(), args[1:], &so, &se); err == nil {
					t.Error("attack accepted the model")
				}
			})
			sameFolder(t, before, snapshot(t, dir))
		})
	}
}

// TestSearchOutLock: two `bionas search` on one --out: the second is
// refused, naming the folder and the first one's pid; kill -9 of the first
// leaves the folder free for a resume.
func TestSearchOutLock(t *testing.T) {
	out := t.TempDir()
	long := tinySearchArgs(out)
	for i, a := range long {
		if a == "--epochs" {
			long[i+1] = "500" // runs until killed
		}
	}
	first := cliCmd(append([]string{"search"}, long...)...)
	var firstErr bytes.Buffer
	first.Stderr = &firstErr
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	pid := strconv.Itoa(first.Process.Pid)
	lockPath := filepath.Join(out, outLockFile)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, _ := os.ReadFile(lockPath); strings.TrimSpace(string(b)) == pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first search never took the lock:\n%s", firstErr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The second, as a process of its own and in this one.
	stderr, code := runCLI(t, append([]string{"search"}, long...)...)
	if code != 1 || !strings.Contains(stderr, out) || !strings.Contains(stderr, "pid "+pid) {
		t.Fatalf("second search: exit %d, stderr:\n%s\nwant exit 1 naming %s and pid %s", code, stderr, out, pid)
	}
	var so, se bytes.Buffer
	err := runSearch(context.Background(), long, &so, &se)
	if err == nil || !strings.Contains(err.Error(), "pid "+pid) {
		t.Fatalf("second search in process: %v", err)
	}
	// kill -9: the kernel drops the lock with the process.
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	// The first search died before its first checkpoint: --resume says
	// there is nothing to continue (not that the folder is in use), and a
	// plain run takes the folder.
	err = runSearch(context.Background(), append(long, "--resume"), &so, &se)
	if err == nil || strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), "holds no checkpoint to continue") {
		t.Fatalf("--resume after kill -9 of the holder, before any checkpoint: %v, want the no-checkpoint error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = runSearch(ctx, long, &so, &se)
	if err == nil || strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("search after kill -9 of the holder: %v, want it to run (and be interrupted by the test)", err)
	}
}

// TestTrainOutLock: `train` takes the lock of its --out folder as
// `search` does; while another holds it, it is refused before it writes.
func TestTrainOutLock(t *testing.T) {
	out := t.TempDir()
	release, err := lockOut("test", out)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	before := snapshot(t, out)
	args := []string{"--genotype", trainTestGenotypeText, "--dataset", "synthetic", "--images", "96", "--epochs", "1",
		"--batch", "32", "--c", "4", "--layers", "3", "--out", out}
	var so, se bytes.Buffer
	err = runTrain(context.Background(), args, &so, &se)
	if err == nil || !strings.Contains(err.Error(), "train: --out "+out+" is in use") || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("train into a locked --out: %v", err)
	}
	sameFolder(t, before, snapshot(t, out))
}

// TestDataInfoRefusesCraftedPickles: the crafted ImageNet16 pickles of
// issue 15 (data of shape 2^56 × 768 in Fortran order; a 24-byte file with
// a BINUNICODE of 0xFFFFFFF0 bytes) make `bionas data info` exit 1 naming
// the file and what is wrong, without a panic or a large allocation, and
// leave the folder as it was.
func TestDataInfoRefusesCraftedPickles(t *testing.T) {
	cases := []struct{ file, want string }{
		{"hostile_shape_overflow.pkl", "numpy array (72057594037927936, 768) u1: the shape's element count overflows"},
		{"hostile_binunicode.pkl", "opcode BINUNICODE at offset 2: length 4294967280, but only 17 bytes follow"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			raw := mustRead(os.ReadFile(filepath.Join("..", "..", "data", "testdata", tc.file)))
			dir := t.TempDir()
			// Every file of the set holds the crafted pickle: the first one
			// read is refused.
			for i := 1; i <= 10; i++ {
				os.WriteFile(filepath.Join(dir, "train_data_batch_"+strconv.Itoa(i)), raw, 0o644)
			}
			os.WriteFile(filepath.Join(dir, "val_data"), raw, 0o644)
			before := snapshot(t, dir)
			args := []string{"data", "info", "imagenet16-120", "--dir", dir}
			stderr, code := runCLI(t, args...)
			if code != 1 || !strings.Contains(stderr, filepath.Join(dir, "train_data_batch_1")) || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "panic") {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 naming train_data_batch_1 and %q", code, stderr, tc.want)
			}
			var so, se bytes.Buffer
			allocguard.Check(t, "data info", 4<<20, func() {
				if err := runData(context.Background(), args[1:], &so, &se); err == nil {
					t.Error("data info accepted the pickle")
				}
			})
			sameFolder(t, before, snapshot(t, dir))
		})
	}
}
