package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/bionaslab/bionas/nn"
)

// Checkpoints
//
// A search or a training run writes one checkpoint per epoch into its
// checkpoint folder, so that an interrupted run (Ctrl-C, SIGKILL, a power
// cut) started again with Resume continues from the last finished epoch and
// ends exactly as an uninterrupted run with the same seed would: same
// weights, same alphas, bit for bit, same number of steps.
//
// What makes that possible is that no random state has to be saved: every
// source of randomness is seeded from (Seed, epoch) or (Seed, epoch, step)
// (see deriveSeed) — the batch order and augmentation (a fresh data.Loader
// per epoch, seeded by the epoch), the graphs' random sources (drop path),
// EG-NAS' initial noise and CMA-ES samples — and the brSF feedback draws are
// counted by the layers themselves (nn.FeedbackState.Draws). So the position
// "epochs done" is the whole RNG state. The rest is saved:
//
//   - the model's parameters and buffers (BatchNorm running statistics,
//     feedback matrices, Hebbian weights) and every rule layer's feedback
//     state;
//   - the architecture parameters (α, and β with partial channels);
//   - the optimizer states (SGD momentum buffers, Adam moments and steps);
//   - EG-NAS' update momentum term. No CMA-ES state outlives an epoch: each
//     exploration creates its CMA-ES afresh (as EG-NAS does), seeded from
//     (Seed, epoch, sample), so there is none to save;
//   - the epoch and step counters and the per-epoch history.
//
// Layout of the folder: ckpt-NNNNNN.safetensors and ckpt-NNNNNN.json (the
// sidecar, with the JSON state under "meta"), NNNNNN being the number of
// epochs done, and LATEST, a one-line file naming the newest complete pair.
// LATEST is replaced atomically after both files are written, and older
// pairs are removed only after that, so a crash at any moment leaves a
// loadable checkpoint: at most the epoch in progress is lost. The pair
// before the newest is kept as well, so that a newest pair found damaged
// (a bad disk block, an edited sidecar) is not the end of the run: resume
// verifies each pair as a whole (nn.VerifyCheckpoint's digest, then the
// state's bounds against the run's configuration) before anything is
// built or truncated, and falls back to the previous pair if the newest
// fails (ResumePoint says which it took and why).

// checkpointLatest is the pointer file of a checkpoint folder.
const checkpointLatest = "LATEST"

// ckptState is the JSON state saved in a checkpoint's sidecar.
type ckptState struct {
	// Kind is what wrote it: "darts", "egnas", "train" or "random".
	Kind string `json:"kind"`
	// Config is the run's configuration; a resume with another
	// configuration is refused.
	Config json.RawMessage `json:"config"`
	// Epoch is the number of epochs done (for random search: samples done).
	Epoch int `json:"epoch"`
	// Step is the number of optimizer steps done.
	Step int `json:"step"`
	// Layers holds each rule layer's feedback state, by layer name.
	Layers map[string]nn.FeedbackState `json:"layers,omitempty"`
	// History holds one record per finished epoch.
	History []EpochStats `json:"history,omitempty"`
	// Extra is kind-specific state (random search's samples).
	Extra json.RawMessage `json:"extra,omitempty"`
}

// checkpointParts lists what a checkpoint holds, each group under a name
// prefix: "model/" (parameters and buffers), "arch/" (α, β), "opt_w/" and
// "opt_a/" (optimizer states), "egnas/" (EG-NAS' momentum term).
type checkpointParts struct {
	model    nn.Model
	alphas   []nn.Named
	wOpt     *nn.SGD
	aOpt     *nn.Adam
	extraTen []nn.Named // saved and restored in place, under their own names
}

// onHost returns the parts with every device tensor copied to the host,
// one download each, for the checkpoint writer (which reads host values):
// a device-resident run checkpoints without moving its model. Host tensors
// are used as they are, so a CPU run's parts come back unchanged.
func (p checkpointParts) onHost() checkpointParts {
	if p.model != nil {
		p.model = hostModel{params: hostTensors(p.model.Params()), buffers: hostTensors(p.model.Buffers()), layers: p.model}
	}
	p.alphas = hostTensors(p.alphas)
	p.extraTen = hostTensors(p.extraTen)
	return p
}

// hostTensors copies the device tensors of ns to the host.
func hostTensors(ns []nn.Named) []nn.Named {
	out := make([]nn.Named, len(ns))
	for i, n := range ns {
		out[i] = n
		if n.T.OnDevice() {
			out[i].T = nn.ToDevice(n.T, nil)
		}
	}
	return out
}

// hostModel is a model's tensors on the host beside its rule layers (whose
// feedback state is metadata: rule, seed, draws, B's shape).
type hostModel struct {
	params, buffers []nn.Named
	layers          nn.RuleLayerer
}

func (h hostModel) Params() []nn.Named         { return h.params }
func (h hostModel) Buffers() []nn.Named        { return h.buffers }
func (h hostModel) RuleLayers() []nn.RuleLayer { return h.layers.RuleLayers() }

func ckptPrefixed(prefix string, ns []nn.Named) []nn.Named {
	out := make([]nn.Named, len(ns))
	for i, n := range ns {
		out[i] = nn.Named{Name: prefix + n.Name, T: n.T}
	}
	return out
}

// modelTensors is the model's parameters and buffers.
func ckptModelTensors(m nn.Model) []nn.Named {
	return append(slices.Clone(m.Params()), m.Buffers()...)
}

func ckptName(epoch int) string { return fmt.Sprintf("ckpt-%06d.safetensors", epoch) }

// saveCheckpoint writes the checkpoint of st into dir (see the layout
// above).
func saveCheckpoint(dir string, parts checkpointParts, st ckptState) error {
	parts = parts.onHost()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	var ts []nn.Named
	if parts.model != nil {
		ts = append(ts, ckptPrefixed("model/", ckptModelTensors(parts.model))...)
		st.Layers = map[string]nn.FeedbackState{}
		for _, l := range parts.model.RuleLayers() {
			st.Layers[l.LayerName()] = l.FeedbackState()
		}
	}
	ts = append(ts, ckptPrefixed("arch/", parts.alphas)...)
	if parts.wOpt != nil {
		ts = append(ts, ckptPrefixed("opt_w/", parts.wOpt.State())...)
	}
	if parts.aOpt != nil {
		ts = append(ts, ckptPrefixed("opt_a/", parts.aOpt.State())...)
	}
	ts = append(ts, parts.extraTen...)
	name := ckptName(st.Epoch)
	path := filepath.Join(dir, name)
	if err := nn.SaveCheckpoint(path, ts, st); err != nil {
		return err
	}
	if err := nn.WriteFileAtomic(filepath.Join(dir, checkpointLatest), []byte(name+"\n")); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	// Remove older pairs but the one before this (the fallback of a
	// damaged newest pair), and temporary files of interrupted saves.
	keep := map[string]bool{name: true}
	if prev := previousCheckpoint(dir, st.Epoch); prev >= 0 {
		keep[ckptName(prev)] = true
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "ckpt-") && !keep[n] && !keep[strings.TrimSuffix(n, ".json")+".safetensors"] {
			os.Remove(filepath.Join(dir, n))
		}
		if strings.HasPrefix(n, ".ckpt-") && strings.Contains(n, ".tmp-") {
			os.Remove(filepath.Join(dir, n))
		}
	}
	return nil
}

// previousCheckpoint is the epoch of the newest pair in dir before epoch,
// or -1.
func previousCheckpoint(dir string, epoch int) int {
	best := -1
	for _, e := range checkpointEpochs(dir) {
		if e < epoch && e > best {
			best = e
		}
	}
	return best
}

// checkpointEpochs lists the epochs of the ckpt-NNNNNN.safetensors files
// in dir, newest first.
func checkpointEpochs(dir string) []int {
	entries, _ := os.ReadDir(dir)
	var out []int
	for _, e := range entries {
		var n int
		if _, err := fmt.Sscanf(e.Name(), "ckpt-%06d.safetensors", &n); err == nil && ckptName(n) == e.Name() {
			out = append(out, n)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(out)))
	return out
}

// errNoCheckpoint reports a folder without a checkpoint.
var errNoCheckpoint = errors.New("no checkpoint")

// latestCheckpoint returns the path of the newest checkpoint in dir, or an
// error wrapping errNoCheckpoint.
func latestCheckpoint(dir string) (string, error) {
	b, err := readSmall(filepath.Join(dir, checkpointLatest), 256)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", dir, errNoCheckpoint)
	}
	if err != nil {
		return "", fmt.Errorf("read checkpoint pointer: %w", err)
	}
	name := strings.TrimSpace(string(b))
	var epoch int
	if _, err := fmt.Sscanf(name, "ckpt-%06d.safetensors", &epoch); err != nil || ckptName(epoch) != name {
		return "", fmt.Errorf("checkpoint pointer %s: content %q, want one line naming a ckpt-NNNNNN.safetensors file", filepath.Join(dir, checkpointLatest), clipText(name))
	}
	return filepath.Join(dir, name), nil
}

// HasCheckpoint reports whether dir holds a checkpoint to resume from.
func HasCheckpoint(dir string) bool {
	p, err := latestCheckpoint(dir)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

// loadCheckpoint restores the newest checkpoint of dir into parts and
// returns its state. kind and config must match what was saved. It returns
// an error wrapping errNoCheckpoint if dir holds none.
func loadCheckpoint(dir, kind string, config json.RawMessage, parts checkpointParts) (ckptState, error) {
	limit, _ := ckptEpochLimit(kind, config)
	rp, err := findResumePoint(dir, limit)
	if err != nil {
		return ckptState{}, err
	}
	path, st := rp.Path, rp.state
	// A checkpoint of another run is the user's mistake, not damage: no
	// fallback to an older pair of that same run.
	if st.Kind != kind {
		return ckptState{}, fmt.Errorf("resume from %s: checkpoint of a %q run, this is a %q run", path, st.Kind, kind)
	}
	if diff := configDiff(st.Config, config); diff != "" {
		return ckptState{}, fmt.Errorf("resume from %s: the checkpoint was written with another configuration (%s); use a fresh output folder or the same settings", path, diff)
	}
	// First the JSON state, so the feedback rules (and thus the shapes of
	// feedback buffers) are restored before the tensors.
	var ts []nn.Named
	if parts.model != nil {
		layers := parts.model.RuleLayers()
		if len(st.Layers) != len(layers) {
			return ckptState{}, fmt.Errorf("resume from %s: checkpoint lists %d rule layers, the model has %d", path, len(st.Layers), len(layers))
		}
		for _, l := range layers {
			fs, ok := st.Layers[l.LayerName()]
			if !ok {
				return ckptState{}, fmt.Errorf("resume from %s: no feedback state for layer %q", path, l.LayerName())
			}
			if err := l.RestoreFeedback(fs); err != nil {
				return ckptState{}, fmt.Errorf("resume from %s: layer %q: %w", path, l.LayerName(), err)
			}
		}
		ts = append(ts, ckptPrefixed("model/", ckptModelTensors(parts.model))...)
	}
	ts = append(ts, ckptPrefixed("arch/", parts.alphas)...)
	ts = append(ts, parts.extraTen...)
	// Optimizer states have data-dependent lists (buffers appear after the
	// first step): read the file, split them off, load the rest in place.
	file, _, err := nn.ReadSafetensors(path)
	if err != nil {
		return ckptState{}, fmt.Errorf("resume: %w", err)
	}
	var wState, aState []nn.Named
	for _, name := range ckptKeys(file) {
		switch {
		case strings.HasPrefix(name, "opt_w/"):
			wState = append(wState, nn.Named{Name: strings.TrimPrefix(name, "opt_w/"), T: file[name]})
		case strings.HasPrefix(name, "opt_a/"):
			aState = append(aState, nn.Named{Name: strings.TrimPrefix(name, "opt_a/"), T: file[name]})
		}
	}
	want := map[string]bool{}
	for _, n := range ts {
		want[n.Name] = true
		t, ok := file[n.Name]
		if !ok {
			return ckptState{}, fmt.Errorf("resume from %s: tensor %q missing", path, n.Name)
		}
		if !slices.Equal(t.Shape, n.T.Shape) {
			return ckptState{}, fmt.Errorf("resume from %s: tensor %q has shape %v, the model expects %v", path, n.Name, t.Shape, n.T.Shape)
		}
	}
	for name := range file {
		if !want[name] && !strings.HasPrefix(name, "opt_w/") && !strings.HasPrefix(name, "opt_a/") {
			return ckptState{}, fmt.Errorf("resume from %s: unexpected tensor %q", path, name)
		}
	}
	if parts.wOpt != nil {
		if err := parts.wOpt.LoadState(wState); err != nil {
			return ckptState{}, fmt.Errorf("resume from %s: %w", path, err)
		}
	} else if len(wState) > 0 {
		return ckptState{}, fmt.Errorf("resume from %s: unexpected weight-optimizer state", path)
	}
	if parts.aOpt != nil {
		if err := parts.aOpt.LoadState(aState); err != nil {
			return ckptState{}, fmt.Errorf("resume from %s: %w", path, err)
		}
	} else if len(aState) > 0 {
		return ckptState{}, fmt.Errorf("resume from %s: unexpected architecture-optimizer state", path)
	}
	for _, n := range ts {
		copy(n.T.Data, file[n.Name].Data)
	}
	return st, nil
}

// configDiff compares two JSON configurations and names the top-level
// fields that differ ("" if none).
func configDiff(saved, now json.RawMessage) string {
	if bytes.Equal(bytes.TrimSpace(saved), bytes.TrimSpace(now)) {
		return ""
	}
	var a, b map[string]json.RawMessage
	if json.Unmarshal(saved, &a) != nil || json.Unmarshal(now, &b) != nil {
		return "unreadable configuration"
	}
	var diff []string
	for k, v := range a {
		w, ok := b[k]
		if !ok || !jsonEqual(v, w) {
			diff = append(diff, fmt.Sprintf("%s: saved %s, now %s", k, clipText(string(v)), clipText(string(w))))
		}
	}
	for k, w := range b {
		if _, ok := a[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s: saved none, now %s", k, clipText(string(w))))
		}
	}
	sort.Strings(diff)
	return strings.Join(diff, "; ")
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}

func clipText(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	if s == "" {
		return "none"
	}
	return s
}

func ckptKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// configJSON marshals a configuration for the checkpoint's comparison.
func configJSON(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: encode configuration: %w", err)
	}
	return b, nil
}

// CheckpointEpoch returns the number of epochs (random search: samples)
// done according to the checkpoint a resume of dir would start from (the
// newest pair that verifies; see ResumePoint), and false if dir holds none.
// Callers that keep their own per-epoch logs (metrics.jsonl) use it to
// drop what a resumed run will redo.
func CheckpointEpoch(dir string) (int, bool, error) {
	rp, ok, err := ResumePoint(dir, 0)
	return rp.Epoch, ok, err
}
