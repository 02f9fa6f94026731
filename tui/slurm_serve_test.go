package tui

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/bionaslab/bionas/lab"
)

// TestSlurmServeLive: a viewer of bionas serve, over SSH, watches a run
// that executes as a Slurm job on a real cluster update live: the Charts
// pane's step counter moves through the run's steps while it runs, and
// the Runs pane names its Slurm job. It needs the cluster of
// scripts/slurm/start.sh (BIONAS_SLURM=1; .ci/run starts it and runs this).
func TestSlurmServeLive(t *testing.T) {
	if os.Getenv("BIONAS_SLURM") != "1" {
		t.Skip("needs a Slurm cluster: scripts/slurm/start.sh (as root), then BIONAS_SLURM=1 go test -run Slurm ./tui (.ci/run does both)")
	}
	bin := filepath.Join(t.TempDir(), "bionas")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/bionaslab/bionas/cmd/bionas").CombinedOutput(); err != nil {
		t.Fatalf("go build bionas: %v\n%s", err, out)
	}
	ex, err := lab.NewSlurm(lab.SlurmOptions{Binary: bin, JobArgs: []string{"--flush-interval", "100ms"}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: lab.Engine(lab.EngineOptions{}), Executor: ex, PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	alice := newSigner(t)
	keyFile := filepath.Join(t.TempDir(), "authorized_keys")
	if err := os.WriteFile(keyFile, gossh.MarshalAuthorizedKey(alice.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := ParseAuthorizedKeys(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	hostKey := filepath.Join(t.TempDir(), "host_ed25519")
	srv, err := NewServer(ServerConfig{Lab: l, AuthorizedKeys: keys, HostKeyPath: hostKey})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()

	// 2 epochs of 8 steps: a few seconds on the cluster's node.
	run, err := l.Start(lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny", Dataset: "synthetic", Space: "bp",
		Epochs: 2, Subset: 128, BatchSize: 8, C: 2, Cells: 2, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	a := dialTUI(t, ln.Addr().String(), &gossh.ClientConfig{User: "researcher", Auth: []gossh.AuthMethod{gossh.PublicKeys(alice)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
	a.out.waitFor(t, "BioNAS Lab")
	a.out.waitFor(t, "slurm job") // the Runs pane's details of the selected run
	a.keys(t, "2")
	a.out.waitFor(t, "Charts · "+run.ID)
	// Steps under way, then the last one: the chart moved while the job ran.
	waitMatch(t, a.out, regexp.MustCompile(`step ([1-9]|1[0-5])/16`), time.Minute)
	waitMatch(t, a.out, regexp.MustCompile(`step 16/16`), time.Minute)
	info, err := l.WaitRun(t.Context(), run.ID)
	if err != nil || info.Status != lab.StatusDone || info.Job.ID == "" {
		t.Fatalf("%s: %s %q, job %+v: %v", run.ID, info.Status, info.Error, info.Job, err)
	}
}

// waitMatch waits until a session's output matches re (since the last
// wait), and forgets what it has seen.
func waitMatch(t *testing.T, s *syncBuffer, re *regexp.Regexp, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s.mu.Lock()
		ok := re.Match(s.b.Bytes())
		if ok {
			s.b.Reset()
		}
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session never showed %s", re)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
