package search

import (
	"time"

	"github.com/bionaslab/bionas/nn"
)

// Event kinds.
const (
	EventStep     = "step"     // every EmitEvery optimizer steps: Loss, Acc, LR, ImagesPerSec
	EventEpoch    = "epoch"    // end of an epoch (or of a random-search sample): ValLoss, ValAcc / TestLoss, TestAcc
	EventAlphas   = "alphas"   // start of each search epoch, every AlphasEvery steps while α move (DARTS, PC-DARTS), after each EG-NAS exploration, and at the end: Alphas
	EventGenotype = "genotype" // start of each search epoch (derived before that epoch's training) and at the end
	EventDone     = "done"     // the run finished: the final numbers
	EventError    = "error"    // the run failed: Err
)

// Event is what searches and trainers report while they run. They call the
// Emit callback of their config synchronously, from the training goroutine:
// the callee must not block (copy what it needs and return; see
// DropEmitter for a channel that never blocks). The event owns its Alphas
// and Genotype: the callee may keep them.
//
// Accuracies are fractions in [0, 1]; losses are mean cross-entropies.
// Epoch counts from 0; Step is the number of optimizer steps done so far in
// the whole run (1 after the first step) and TotalSteps what the run will
// do in all.
type Event struct {
	Kind       string  `json:"kind"`
	Method     string  `json:"method,omitempty"`
	Epoch      int     `json:"epoch"`
	Epochs     int     `json:"epochs,omitempty"`
	Step       int     `json:"step"`
	TotalSteps int     `json:"total_steps,omitempty"`
	Loss       float64 `json:"loss,omitempty"`
	Acc        float64 `json:"acc,omitempty"`
	// ValLoss and ValAcc are measured on the search's validation (arch)
	// half; TestLoss and TestAcc on the trainer's test set.
	ValLoss      float64        `json:"val_loss,omitempty"`
	ValAcc       float64        `json:"val_acc,omitempty"`
	TestLoss     float64        `json:"test_loss,omitempty"`
	TestAcc      float64        `json:"test_acc,omitempty"`
	LR           float64        `json:"lr,omitempty"`
	ImagesPerSec float64        `json:"images_per_sec,omitempty"`
	Seconds      float64        `json:"seconds,omitempty"` // wall time since the run (or resume) started
	Alphas       *AlphaSnapshot `json:"alphas,omitempty"`
	Genotype     *Genotype      `json:"genotype,omitempty"`
	// Sample is the index of the random-search sample an event belongs to
	// (0, and absent from the JSON, for other runs).
	Sample int       `json:"sample,omitempty"`
	Err    string    `json:"error,omitempty"`
	Time   time.Time `json:"time"`
}

// AlphaSnapshot is the architecture at one moment: per edge (rows, in the
// supernet's flat edge order) and per pair (columns, in Pairs' order).
type AlphaSnapshot struct {
	// Pairs names the columns, e.g. "sep_conv_3x3:fa".
	Pairs []string `json:"pairs"`
	// Normal and Reduce are softmax(α) per edge (rows sum to 1).
	Normal [][]float32 `json:"normal"`
	Reduce [][]float32 `json:"reduce"`
	// RawNormal and RawReduce are the α logits themselves.
	RawNormal [][]float32 `json:"raw_normal"`
	RawReduce [][]float32 `json:"raw_reduce"`
	// BetaNormal and BetaReduce are PC-DARTS' edge-normalisation logits β
	// (one per edge), present only with partial channels.
	BetaNormal []float32 `json:"beta_normal,omitempty"`
	BetaReduce []float32 `json:"beta_reduce,omitempty"`
}

// emitter wraps a config's callback: a nil callback drops events, and every
// event gets its time stamp.
type emitter func(Event)

func newEmitter(f func(Event), method string) emitter {
	return func(e Event) {
		if f == nil {
			return
		}
		if e.Time.IsZero() {
			e.Time = time.Now()
		}
		if e.Method == "" {
			e.Method = method
		}
		f(e)
	}
}

// DropEmitter returns a callback that sends events to ch without ever
// blocking: an event that finds ch full is dropped. Use a buffered channel
// (a viewer that must not miss "epoch" or "done" events should keep up, or
// read the run's metrics.jsonl instead).
func DropEmitter(ch chan<- Event) func(Event) {
	return func(e Event) {
		select {
		case ch <- e:
		default:
		}
	}
}

// snapshotAlphas builds the AlphaSnapshot of a supernet.
func snapshotAlphas(s *Supernet, space Space) *AlphaSnapshot {
	snap := &AlphaSnapshot{}
	for _, p := range space.Pairs {
		snap.Pairs = append(snap.Pairs, p.String())
	}
	snap.Normal, snap.Reduce = s.AlphaSoftmax()
	snap.RawNormal = rows2D(s.AlphaNormal)
	snap.RawReduce = rows2D(s.AlphaReduce)
	if s.BetaNormal != nil {
		snap.BetaNormal = append([]float32(nil), s.BetaNormal.Values()...)
	}
	if s.BetaReduce != nil {
		snap.BetaReduce = append([]float32(nil), s.BetaReduce.Values()...)
	}
	return snap
}

// rows2D copies a 2-D tensor (rows × columns) into a slice of rows.
func rows2D(t *nn.Tensor) [][]float32 {
	if t == nil || len(t.Shape) != 2 {
		return nil
	}
	r, c := t.Shape[0], t.Shape[1]
	vals := t.Values()
	out := make([][]float32, r)
	for i := range out {
		out[i] = append([]float32(nil), vals[i*c:(i+1)*c]...)
	}
	return out
}
