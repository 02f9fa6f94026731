package lab_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/search"
)

// slurmCluster skips a test unless a Slurm cluster is up (BIONAS_SLURM=1,
// which .ci/run sets once scripts/slurm/start.sh started one: CI always
// runs these tests).
func slurmCluster(t *testing.T) {
	t.Helper()
	if os.Getenv("BIONAS_SLURM") != "1" {
		t.Skip("needs a Slurm cluster: scripts/slurm/start.sh (as root), then BIONAS_SLURM=1 go test -run Slurm ./lab (.ci/run does both)")
	}
}

// buildBionas builds the bionas binary the Slurm jobs run.
func buildBionas(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bionas")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/bionaslab/bionas/cmd/bionas")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build bionas: %v\n%s", err, out)
	}
	return bin
}

func openLabOn(t *testing.T, ex lab.Executor) *lab.Lab {
	t.Helper()
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: lab.Engine(lab.EngineOptions{}), FlushInterval: 100 * time.Millisecond,
		Executor: ex, PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// The tiny runs of the end-to-end test: each takes a second or two.
var (
	e2eSearch = lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny", Dataset: "synthetic", Space: "bp",
		Epochs: 1, Subset: 32, BatchSize: 8, C: 2, Cells: 2, Seed: 3}
	e2eGrid = lab.Grid{Base: lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny", Dataset: "synthetic",
		Epochs: 1, Subset: 32, BatchSize: 8, C: 2, Cells: 2}, Seeds: []uint64{1, 2}, Spaces: []string{"bp", "bio"}}
)

// e2eTrain is a training long enough to be stopped after its first
// epoch's checkpoint: 3 epochs.
func e2eTrain(g *search.Genotype) lab.Spec {
	return lab.Spec{Kind: lab.KindTrain, Preset: "mnist-tiny", Dataset: "synthetic", Genotype: g,
		Epochs: 3, Subset: 384, BatchSize: 16, C: 4, Cells: 2, Seed: 5}
}

// TestSlurmEndToEnd submits runs to a real Slurm cluster and checks that
// they end exactly as on the local executor: a tiny search, a 2×2 sweep
// (seeds × spaces); that a refused submission and a job that fails before
// its run starts end failed with Slurm's words; a training stopped by scancel after its first
// checkpoint and resumed (the same final weights), and a training whose
// node dies (slurmd and the job killed; Slurm marks the job NODE_FAIL)
// and that, after slurmd is back, resumes to the same weights. While a
// job holds its run folder, `bionas job run` on it is refused. The lab's
// bus carries the Slurm runs' points while they run (what every viewer,
// the TUI or bionas serve's, draws).
func TestSlurmEndToEnd(t *testing.T) {
	slurmCluster(t)
	began := time.Now()
	bin := buildBionas(t)
	t.Logf("build: %v", time.Since(began).Round(time.Millisecond))
	ex, err := lab.NewSlurm(lab.SlurmOptions{Binary: bin, JobArgs: []string{"--flush-interval", "100ms"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	local, sl := openLabOn(t, nil), openLabOn(t, ex)
	t.Cleanup(func() { // leave no job of this test in the queue
		for _, r := range sl.Runs() {
			if r.Status.Active() && r.Job.ID != "" {
				exec.Command("scancel", r.Job.ID).Run()
			}
		}
	})
	livePoints, stopCounting := liveCounter(sl)
	defer stopCounting()

	// The search and the sweep: submitted to Slurm first, then run here.
	ss := must(t)(sl.Start(e2eSearch))
	_, sweepRuns, err := sl.Sweep(e2eGrid, lab.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ls := must(t)(local.Start(e2eSearch))
	_, localSweep, err := local.Sweep(e2eGrid, lab.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pairs := [][2]string{{ls.ID, ss.ID}}
	for i := range sweepRuns {
		pairs = append(pairs, [2]string{localSweep[i].ID, sweepRuns[i].ID})
	}
	for _, p := range pairs {
		waitRunDone(ctx, t, local, p[0])
		info := waitRunDone(ctx, t, sl, p[1])
		if info.Job.Executor != lab.ExecutorSlurm || info.Job.ID == "" || info.Sweep == "" && p[1] != ss.ID {
			t.Errorf("%s: job %+v, sweep %q", p[1], info.Job, info.Sweep)
		}
		sameResults(t, local.RunDir(p[0]), sl.RunDir(p[1]))
	}
	if pr := lab.Sweeps(sl.Runs()); len(pr) != 1 || pr[0].Runs != 4 || pr[0].Done != 4 {
		t.Errorf("sweep progress: %+v", pr)
	}
	t.Logf("search and 2×2 sweep on both executors: %v", time.Since(began).Round(time.Millisecond))

	// A submission sbatch refuses, and a job that fails before its run
	// starts (its bionas is gone from the node), end failed with Slurm's
	// words; their folders stay whole.
	badPart, err := lab.NewSlurm(lab.SlurmOptions{Binary: bin, Partition: "nosuch"})
	if err != nil {
		t.Fatal(err)
	}
	bp := openLabOn(t, badPart)
	info, err := bp.Start(e2eSearch)
	if err == nil || !strings.Contains(err.Error(), "Invalid partition") || info.Status != lab.StatusFailed || !strings.Contains(info.Error, "sbatch") {
		t.Errorf("a refused submission: %v; run %s %q", err, info.Status, info.Error)
	}
	t.Logf("refused submission: %s %s", info.Status, info.Error)
	gone := filepath.Join(t.TempDir(), "bionas-gone")
	if b, err := os.ReadFile(bin); err != nil || os.WriteFile(gone, b, 0o755) != nil {
		t.Fatal(err)
	}
	noBin, err := lab.NewSlurm(lab.SlurmOptions{Binary: gone})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(gone)
	nb := openLabOn(t, noBin)
	info = waitEnd(ctx, t, nb, must(t)(nb.Start(e2eSearch)).ID)
	if info.Status != lab.StatusFailed || !strings.Contains(info.Error, "failed") || !strings.Contains(info.Error, "bionas-gone") {
		t.Errorf("a job whose binary is gone: %s %q", info.Status, info.Error)
	}
	t.Logf("job without its binary: %s %s", info.Status, info.Error)
	for _, l := range []*lab.Lab{bp, nb} {
		for _, r := range l.Runs() {
			if err := lab.CheckRunFolder(l.RunDir(r.ID)); err != nil {
				t.Error(err)
			}
		}
	}

	// A training, stopped (scancel) after its first checkpoint and
	// resumed, ends with the weights of one that ran through.
	snap, _ := sl.Snapshot(ss.ID)
	spec := e2eTrain(snap.Genotype)
	st := must(t)(sl.Start(spec))
	lt := must(t)(local.Start(spec))
	waitCheckpoint(ctx, t, sl, st.ID)
	if err := sl.Stop(st.ID); err != nil {
		t.Fatal(err)
	}
	stopped := waitEnd(ctx, t, sl, st.ID)
	if stopped.Status != lab.StatusInterrupted || !strings.Contains(stopped.Error, "cancelled") || stopped.Job.State != "CANCELLED" {
		t.Fatalf("after scancel: %s %q (job %+v)", stopped.Status, stopped.Error, stopped.Job)
	}
	t.Logf("scancel: %s %s", stopped.Status, stopped.Error)
	firstJob := stopped.Job.ID
	must(t)(sl.Resume(st.ID))
	resumed := waitRunDone(ctx, t, sl, st.ID)
	if resumed.Job.ID == firstJob || resumed.Resumes != 1 {
		t.Errorf("resume did not requeue a new job: %+v, resumes %d", resumed.Job, resumed.Resumes)
	}
	waitRunDone(ctx, t, local, lt.ID)
	sameResults(t, local.RunDir(lt.ID), sl.RunDir(st.ID))
	if b, _ := os.ReadFile(filepath.Join(sl.RunDir(st.ID), "result.json")); !bytes.Contains(b, []byte(`"resumed_at": 1`)) {
		t.Errorf("the resumed job did not go on from its checkpoint after epoch 1:\n%s", b)
	}
	if n := livePoints(st.ID); n < 2 {
		t.Errorf("the bus carried %d step points of Slurm run %s while it ran; want them live", n, st.ID)
	}
	t.Logf("scancel and resume: %v", time.Since(began).Round(time.Millisecond))

	// The node dies mid-run: slurmd, the job's slurmstepd and the job are
	// killed. Before that, a second job on the same folder is refused.
	nt := must(t)(sl.Start(spec))
	waitCheckpoint(ctx, t, sl, nt.ID)
	dir := sl.RunDir(nt.ID)
	out, err := exec.Command(bin, "job", "run", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "held by another live job") || !strings.Contains(string(out), dir) {
		t.Fatalf("bionas job run on a held folder: %v\n%s", err, out)
	}
	killNode(t, dir)
	t.Cleanup(func() { startCluster(t) })
	died := waitEnd(ctx, t, sl, nt.ID)
	if died.Status != lab.StatusInterrupted || died.Job.State != "NODE_FAIL" || !strings.Contains(died.Error, "node") {
		t.Fatalf("after the node died: %s %q (job %+v)", died.Status, died.Error, died.Job)
	}
	t.Logf("node failure: %s %s", died.Status, died.Error)
	if err := lab.CheckRunFolder(dir); err != nil {
		t.Fatalf("run folder after the node died: %v", err)
	}
	t.Logf("node failure noticed: %v", time.Since(began).Round(time.Millisecond))
	startCluster(t)
	must(t)(sl.Resume(nt.ID))
	waitRunDone(ctx, t, sl, nt.ID)
	sameResults(t, local.RunDir(lt.ID), dir)
	for _, r := range sl.Runs() {
		if err := lab.CheckRunFolder(sl.RunDir(r.ID)); err != nil {
			t.Error(err)
		}
	}
	// A run settled on its job's own word (done, its lock free) before
	// Slurm said the job ended gets the job's last state too.
	for _, r := range sl.Runs() {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			info, _ := sl.Run(r.ID)
			if info.Job.State == "COMPLETED" {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: done, but its job's state is %q", r.ID, info.Job.State)
				break
			}
		}
	}
	t.Logf("total: %v", time.Since(began).Round(time.Millisecond))
}

func must(t *testing.T) func(lab.RunInfo, error) lab.RunInfo {
	return func(info lab.RunInfo, err error) lab.RunInfo {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
}

func waitEnd(ctx context.Context, t *testing.T, l *lab.Lab, id string) lab.RunInfo {
	t.Helper()
	info, err := l.WaitRun(ctx, id)
	if err != nil {
		t.Fatalf("wait %s: %v (%s %q, job %+v)", id, err, info.Status, info.Error, info.Job)
	}
	return info
}

func waitRunDone(ctx context.Context, t *testing.T, l *lab.Lab, id string) lab.RunInfo {
	t.Helper()
	info := waitEnd(ctx, t, l, id)
	if info.Status != lab.StatusDone {
		out := ""
		if info.Job.Output != "" {
			b, _ := os.ReadFile(filepath.Join(l.RunDir(id), info.Job.Output))
			out = string(b)
		}
		t.Fatalf("%s: %s %q (job %+v)\n%s", id, info.Status, info.Error, info.Job, out)
	}
	return info
}

// waitCheckpoint waits until run id runs with a checkpoint in its folder.
func waitCheckpoint(ctx context.Context, t *testing.T, l *lab.Lab, id string) {
	t.Helper()
	for ctx.Err() == nil {
		info, _ := l.Run(id)
		if !info.Status.Active() {
			t.Fatalf("%s ended (%s %q) before it could be stopped after its first checkpoint", id, info.Status, info.Error)
		}
		// The job writes an epoch's points before its checkpoint: a job
		// killed right after it resumes without a gap (sameResults).
		if _, ok, _ := search.CheckpointEpoch(filepath.Join(l.RunDir(id), lab.DirCheckpoint)); ok && info.Status == lab.StatusRunning {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: no checkpoint: %v", id, ctx.Err())
}

// liveCounter drains a subscription of l's bus, counting each run's step
// points that arrive while the run is still running: what a viewer (the
// TUI, or bionas serve's over SSH) draws live.
func liveCounter(l *lab.Lab) (count func(id string) int, stop func()) {
	sub := l.Subscribe()
	var mu sync.Mutex
	live := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-sub.Done():
				return
			case <-sub.C():
			}
			for _, e := range sub.Drain().Events {
				if e.Kind != lab.EventStep {
					continue
				}
				if info, _ := l.Run(e.Run); info.Status == lab.StatusRunning {
					mu.Lock()
					live[e.Run]++
					mu.Unlock()
				}
			}
		}
	}()
	return func(id string) int {
			mu.Lock()
			defer mu.Unlock()
			return live[id]
		}, func() {
			sub.Close()
			<-done
		}
}

// sameResults checks that two run folders hold the same results: every
// metrics point's numbers, the genotype, the architecture weights and the
// trained model's bytes.
func sameResults(t *testing.T, a, b string) {
	t.Helper()
	pa, pb := readPoints(t, a), readPoints(t, b)
	if len(pa) != len(pb) || len(pa) == 0 {
		key := func(ps []lab.Event) (out []string) {
			for _, p := range ps {
				out = append(out, fmt.Sprintf("%s:%d/%d", p.Kind, p.Epoch, p.Step))
			}
			return out
		}
		t.Errorf("%s has %d points, %s %d:\n%v\n%v", a, len(pa), b, len(pb), key(pa), key(pb))
		return
	}
	for i := range pa {
		x, y := pa[i], pb[i]
		if x.Kind != y.Kind || x.Epoch != y.Epoch || x.Step != y.Step || x.Loss != y.Loss || x.Acc != y.Acc ||
			x.ValLoss != y.ValLoss || x.ValAcc != y.ValAcc || x.TestAcc != y.TestAcc {
			t.Errorf("point %d differs:\n %s: %+v\n %s: %+v", i, a, x, b, y)
			return
		}
	}
	for _, f := range []string{lab.FileGenotype, lab.FileAlphas, "model.safetensors"} {
		x, errA := os.ReadFile(filepath.Join(a, f))
		y, errB := os.ReadFile(filepath.Join(b, f))
		if errors.Is(errA, os.ErrNotExist) && errors.Is(errB, os.ErrNotExist) {
			continue
		}
		if f == lab.FileAlphas { // the step it was taken at may differ by a flush; the weights may not
			x, y = alphasOnly(t, x), alphasOnly(t, y)
		}
		if errA != nil || errB != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between %s and %s (%v, %v)", f, a, b, errA, errB)
		}
	}
}

func alphasOnly(t *testing.T, b []byte) []byte {
	i := bytes.Index(b, []byte(`"normal"`))
	j := bytes.Index(b, []byte(`"epoch"`))
	if i < 0 || j < i {
		return b
	}
	return b[i:j]
}

func readPoints(t *testing.T, dir string) []lab.Event {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, lab.FileMetrics))
	if err != nil {
		t.Fatal(err)
	}
	var out []lab.Event
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var e lab.Event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		out = append(out, e)
	}
	return out
}

// killNode kills what a dying node loses: slurmd (its pid file), and the
// job holding run folder dir (the pid in its run.lock) with its parent,
// the job's slurmstepd.
func killNode(t *testing.T, dir string) {
	t.Helper()
	base := os.Getenv("SLURM_BASE")
	if base == "" {
		base = "/tmp/slurm"
	}
	var pids []int
	if b, err := os.ReadFile(filepath.Join(base, "slurmd.pid")); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			pids = append(pids, p)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, lab.FileRunLock))
	job, err2 := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || err2 != nil {
		t.Fatalf("the job's pid in %s: %v %v", dir, err, err2)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", job))
	if err != nil {
		t.Fatalf("the job (pid %d): %v", job, err)
	}
	// /proc/PID/stat: "pid (comm) state ppid …"
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	stepd, _ := strconv.Atoi(f[1])
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", stepd)); !strings.HasPrefix(string(comm), "slurmstepd") {
		t.Fatalf("the job's parent %d is %q, not slurmstepd", stepd, comm)
	}
	pids = append(pids, stepd, job)
	for _, p := range pids {
		if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", p, err)
		}
	}
	t.Logf("node killed: slurmd, slurmstepd and job pids %v", pids)
}

// startCluster (re)starts the daemons that are down and returns the node
// to service.
func startCluster(t *testing.T) {
	t.Helper()
	out, err := exec.Command("bash", "../scripts/slurm/start.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/slurm/start.sh: %v\n%s", err, out)
	}
}
