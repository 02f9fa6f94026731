package search

import ()

// EpochStats is the record of one finished epoch (or random-search
// sample).
type EpochStats struct {
	Epoch int     `json:"epoch"`
	Steps int     `json:"steps"` // steps done in the whole run at the end of the epoch
	LR    float64 `json:"lr"`
	// Loss and Acc average the training batches of the epoch.
	Loss     float64   `json:"loss"`
	Acc      float64   `json:"acc"`
	ValLoss  float64   `json:"val_loss,omitempty"`
	ValAcc   float64   `json:"val_acc,omitempty"`
	TestLoss float64   `json:"test_loss,omitempty"`
	TestAcc  float64   `json:"test_acc,omitempty"`
	Genotype *Genotype `json:"genotype,omitempty"`
	Seconds  float64   `json:"seconds"`
}

// Result is the outcome of a search.
type Result struct {
	Method   string         `json:"method"`
	Genotype Genotype       `json:"genotype"`
	Alphas   *AlphaSnapshot `json:"alphas,omitempty"`
	Epochs   int            `json:"epochs"`
	Steps    int            `json:"steps"`
	ValLoss  float64        `json:"val_loss"`
	ValAcc   float64        `json:"val_acc"`
	History  []EpochStats   `json:"history"`
	// ResumedAt is the number of epochs (samples) already done when the run
	// resumed from a checkpoint (0 for a fresh run).
	ResumedAt int `json:"resumed_at,omitempty"`
	// Samples lists random search's evaluated genotypes.
	Samples []RandomSample `json:"samples,omitempty"`
	// Seconds is the wall time of this process's part of the run.
	Seconds float64 `json:"seconds"`
}
