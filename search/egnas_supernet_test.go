package search

import (
	"context"
	"strings"
	"testing"
)

// egnasShapeCfg is a tiny EG-NAS run with partial channels over a space
// with pools.
func egnasShapeCfg(t *testing.T, pcdarts bool) EGNASConfig {
	sn := SupernetConfig{C: 8, Cells: 3, Steps: 2, Multiplier: 2, StemMultiplier: 2, Space: algoSpace(t), Classes: 4, InChannels: 1, PartialChannels: 4}
	return EGNASConfig{Supernet: sn, PCDartsSupernet: pcdarts, Epochs: 1, BatchSize: 16, ArchBatch: 16, Warmup: -1,
		Samples: 1, Population: 3, Generations: 1, Seed: 4}
}

// poolBNs lists the supernet's BatchNorm buffers that follow a pool.
func poolBNs(net *Supernet) []string {
	var out []string
	for _, b := range net.Buffers() {
		if (strings.Contains(b.Name, "."+string(OpMaxPool)+".") || strings.Contains(b.Name, "."+string(OpAvgPool)+".")) && strings.Contains(b.Name, ".bn.") {
			out = append(out, b.Name)
		}
	}
	return out
}

// TestEGNASSupernetShape: EG-NAS searches on its own supernet by default —
// partial channels, but no β edge normalisation and no BatchNorm after
// the pools (REFERENCE.md §3.1) — and on PC-DARTS' supernet (β, pool BN)
// with PCDartsSupernet. PC-DARTS itself keeps both.
func TestEGNASSupernetShape(t *testing.T) {
	train, val := algoData(64)
	for _, pcdarts := range []bool{false, true} {
		cfg := egnasShapeCfg(t, pcdarts)
		net, err := NewSupernet(cfg.withDefaults().Supernet)
		if err != nil {
			t.Fatal(err)
		}
		if got := net.Edge(0, 0).K; got != 4 {
			t.Errorf("pcdarts %v: partial-channel factor %d, want 4", pcdarts, got)
		}
		hasBeta, pools := net.BetaNormal != nil || net.BetaReduce != nil, poolBNs(net)
		if hasBeta != pcdarts || len(net.Alphas()) != map[bool]int{false: 2, true: 4}[pcdarts] {
			t.Errorf("pcdarts %v: β present %v, architecture tensors %d", pcdarts, hasBeta, len(net.Alphas()))
		}
		if (len(pools) > 0) != pcdarts {
			t.Errorf("pcdarts %v: BatchNorm after pools: %v", pcdarts, pools)
		}
		// The run itself: its α snapshot carries β only on PC-DARTS' supernet.
		res, err := EGNAS(context.Background(), cfg, train, val)
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Alphas.BetaNormal != nil; got != pcdarts {
			t.Errorf("pcdarts %v: the result's α snapshot has β: %v", pcdarts, got)
		}
	}
	// PC-DARTS is unchanged.
	d := DARTSConfig{Supernet: egnasShapeCfg(t, false).Supernet}.withDefaults()
	net, err := NewSupernet(d.Supernet)
	if err != nil {
		t.Fatal(err)
	}
	if net.BetaNormal == nil || len(poolBNs(net)) == 0 {
		t.Errorf("PC-DARTS lost β (%v) or its pool BatchNorms (%v)", net.BetaNormal != nil, poolBNs(net))
	}
}
