package search

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bionaslab/bionas/nn"
)

// maxCheckpointEpochs bounds a checkpoint's epoch count when the run's
// configuration does not say how many it has (no search runs a million).
const maxCheckpointEpochs = 1_000_000

// Resume is the checkpoint a resume starts from (ResumePoint).
type Resume struct {
	// Path is the pair's safetensors file.
	Path string
	// Epoch and Step are the epochs (random search: samples) and optimizer
	// steps done.
	Epoch, Step int
	// Skipped lists the newer pairs that failed verification, newest
	// first; each error names the file and the field at fault. Non-empty
	// means the resume falls back to an older pair.
	Skipped []error

	state ckptState
}

// ResumePoint finds the checkpoint a resume of dir starts from: the newest
// pair (the one LATEST names, then older ones) that verifies as a whole
// (nn.VerifyCheckpoint: the digest over tensors and meta) and whose state
// is within bounds: 0 ≤ epoch ≤ epochs (epochs ≤ 0: no limit but a sane
// maximum), as many history records as epochs, a step count that agrees
// with them. It reads nothing into a model and changes nothing on disk.
// ok is false if dir holds no checkpoint (no LATEST). If no pair
// verifies, the error gives each one's fault, the newest first.
func ResumePoint(dir string, epochs int) (r Resume, ok bool, err error) {
	r, err = findResumePoint(dir, epochs)
	if errors.Is(err, errNoCheckpoint) {
		return Resume{}, false, nil
	}
	return r, err == nil, err
}

// findResumePoint is ResumePoint; a folder without a checkpoint is an
// error wrapping errNoCheckpoint.
func findResumePoint(dir string, epochs int) (Resume, error) {
	if epochs <= 0 {
		epochs = maxCheckpointEpochs
	}
	latest, err := latestCheckpoint(dir)
	if errors.Is(err, errNoCheckpoint) {
		return Resume{}, err
	}
	var skipped []error
	var paths []string
	if err != nil {
		skipped = append(skipped, err) // LATEST itself is damaged: try the pairs there are
	} else {
		paths = append(paths, latest)
	}
	for _, e := range checkpointEpochs(dir) {
		if p := filepath.Join(dir, ckptName(e)); p != latest {
			paths = append(paths, p)
		}
	}
	for _, p := range paths {
		st, err := verifyCheckpointState(p, epochs)
		if err != nil {
			skipped = append(skipped, err)
			continue
		}
		return Resume{Path: p, Epoch: st.Epoch, Step: st.Step, Skipped: skipped, state: st}, nil
	}
	if len(skipped) == 0 {
		return Resume{}, fmt.Errorf("resume from %s: LATEST names %s, which is missing: %w", dir, latest, errNoCheckpoint)
	}
	return Resume{}, fmt.Errorf("resume from %s: no checkpoint there verifies: %w", dir, errors.Join(skipped...))
}

// verifyCheckpointState verifies the pair at path and decodes its state,
// checking it against the run's epoch count.
func verifyCheckpointState(path string, epochs int) (ckptState, error) {
	info, err := nn.VerifyCheckpoint(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ckptState{}, fmt.Errorf("checkpoint %s: %w", path, err)
		}
		return ckptState{}, err
	}
	side := info.Sidecar
	if len(info.Meta) == 0 {
		return ckptState{}, fmt.Errorf("checkpoint %s: no field meta (the run's state)", side)
	}
	var st ckptState
	if err := json.Unmarshal(info.Meta, &st); err != nil {
		return ckptState{}, fmt.Errorf("checkpoint %s: field meta: %w", side, err)
	}
	if err := st.check(epochs); err != nil {
		return ckptState{}, fmt.Errorf("checkpoint %s: %w", side, err)
	}
	return st, nil
}

// check tests the state's counters against each other and against the
// run's epoch count, so that a resume never starts before the first epoch
// (which would drop every line of metrics.jsonl) or after the last (which
// would report a run done that never ran).
func (st ckptState) check(epochs int) error {
	switch st.Kind {
	case "darts", "darts2", "pcdarts", "egnas", "train", "random":
	default:
		return fmt.Errorf("field meta.kind is %q, want darts, darts2, pcdarts, egnas, train or random", clipText(st.Kind))
	}
	if st.Epoch < 0 || st.Epoch > epochs {
		return fmt.Errorf("field meta.epoch is %d, want 0..%d (the run's epochs)", st.Epoch, epochs)
	}
	if st.Step < 0 {
		return fmt.Errorf("field meta.step is %d, want ≥ 0", st.Step)
	}
	if st.Kind != "random" && st.Step < st.Epoch {
		return fmt.Errorf("field meta.step is %d, fewer than the %d epochs done (every epoch takes a step)", st.Step, st.Epoch)
	}
	if len(st.History) != st.Epoch {
		return fmt.Errorf("field meta.history has %d records, want one per epoch done (%d)", len(st.History), st.Epoch)
	}
	for i, h := range st.History {
		if h.Epoch != i {
			return fmt.Errorf("field meta.history[%d].epoch is %d, want %d", i, h.Epoch, i)
		}
	}
	if n := len(st.History); n > 0 && st.Kind != "random" && st.History[n-1].Steps > 0 && st.History[n-1].Steps != st.Step {
		return fmt.Errorf("field meta.step is %d, but the last epoch ended at step %d (meta.history[%d].steps)", st.Step, st.History[n-1].Steps, n-1)
	}
	return nil
}

// ckptEpochLimit is the run's epoch count (random search: samples) as its
// configuration JSON gives it, false if it does not.
func ckptEpochLimit(kind string, config json.RawMessage) (int, bool) {
	var c struct {
		Epochs  int `json:"epochs"`
		Samples int `json:"samples"`
		Train   struct {
			Epochs int `json:"epochs"`
		} `json:"train"`
	}
	if json.Unmarshal(config, &c) != nil {
		return 0, false
	}
	n := c.Epochs
	switch kind {
	case "random":
		n = c.Samples
	case "train":
		n = c.Train.Epochs
	}
	return n, n > 0
}

// readSmall reads a file that is at most limit bytes long; a longer one
// is an error, not an allocation.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: longer than %d bytes", path, limit)
	}
	return b, nil
}
