package lab

import (
	"math"
	"time"
)

// EventKind says what an Event carries.
type EventKind string

// The kinds of event.
const (
	EventStatus   EventKind = "status"   // Info: the run's record changed (status, progress, numbers)
	EventStep     EventKind = "step"     // training step metrics: Loss, Acc, LR, ImagesPerSec
	EventEpoch    EventKind = "epoch"    // end of an epoch: ValLoss, ValAcc, TestAcc
	EventAlphas   EventKind = "alphas"   // Alphas: a snapshot of the architecture weights
	EventGenotype EventKind = "genotype" // Genotype (+ GenotypeText): the current discrete architecture
	EventLayers   EventKind = "layers"   // Layers: the discrete network's rule layers
	EventAttack   EventKind = "attack"   // Attack: an attack run's report so far
	EventLog      EventKind = "log"      // Message: a line for the run's log
	EventDeleted  EventKind = "deleted"  // the run was deleted (moved to the lab's trash)
)

// Event is what a job reports and what viewers receive. Run and Seq are set
// by the lab: Seq counts a run's events from 1, so a viewer that loaded a
// Snapshot can drop the events it already holds (Seq ≤ Snapshot.Seq).
//
// Numbers that are not finite (a diverged loss) are stored as −1: losses,
// accuracies and rates are never negative, and JSON has no NaN.
type Event struct {
	Run  string    `json:"run"`
	Seq  uint64    `json:"seq"`
	Kind EventKind `json:"kind"`
	Time time.Time `json:"time"`

	Epoch        int     `json:"epoch,omitempty"`
	Epochs       int     `json:"epochs,omitempty"`
	Step         int     `json:"step,omitempty"`
	TotalSteps   int     `json:"total_steps,omitempty"`
	Loss         float64 `json:"loss,omitempty"`
	Acc          float64 `json:"acc,omitempty"`
	ValLoss      float64 `json:"val_loss,omitempty"`
	ValAcc       float64 `json:"val_acc,omitempty"`
	TestLoss     float64 `json:"test_loss,omitempty"`
	TestAcc      float64 `json:"test_acc,omitempty"`
	LR           float64 `json:"lr,omitempty"`
	ImagesPerSec float64 `json:"images_per_sec,omitempty"`

	Info         *RunInfo      `json:"info,omitempty"`
	Alphas       *Alphas       `json:"alphas,omitempty"`
	Genotype     *Genotype     `json:"genotype,omitempty"`
	GenotypeText string        `json:"genotype_text,omitempty"`
	Layers       []LayerInfo   `json:"layers,omitempty"`
	Attack       *AttackReport `json:"attack,omitempty"`
	Message      string        `json:"message,omitempty"`
}

// IsPoint reports whether the event is a metrics point (step or epoch),
// the kind kept in metrics.jsonl and drawn in charts.
func (e Event) IsPoint() bool { return e.Kind == EventStep || e.Kind == EventEpoch }

// sanitize replaces non-finite numbers by −1.
func (e *Event) sanitize() {
	for _, p := range []*float64{&e.Loss, &e.Acc, &e.ValLoss, &e.ValAcc, &e.TestLoss, &e.TestAcc, &e.LR, &e.ImagesPerSec} {
		if math.IsNaN(*p) || math.IsInf(*p, 0) {
			*p = -1
		}
	}
}

// clone returns a deep copy, so that a viewer never aliases a job's buffers.
func (e Event) clone() Event {
	if e.Info != nil {
		i := e.Info.Clone()
		e.Info = &i
	}
	e.Alphas = e.Alphas.Clone()
	e.Genotype = e.Genotype.Clone()
	if e.Layers != nil {
		e.Layers = cloneLayers(e.Layers)
	}
	e.Attack = e.Attack.Clone()
	return e
}

func cloneLayers(ls []LayerInfo) []LayerInfo {
	out := make([]LayerInfo, len(ls))
	for i, l := range ls {
		l.Shape = append([]int(nil), l.Shape...)
		out[i] = l
	}
	return out
}
