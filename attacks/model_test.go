package attacks

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// TestRegistryRoundTrip saves SmallCNNs (with normalisation inside) with
// their spec and loads them back through the registry: same logits, same
// own-mode gradients (the feedback matrices travel too).
func TestRegistryRoundTrip(t *testing.T) {
	dir := t.TempDir()
	x, y := synthBatch(6, 1)
	for _, r := range []rule.Rule{rule.BP, rule.FA, rule.BRSF, rule.DFA} {
		cfg := nn.SmallCNNConfig{C: tC, H: tH, W: tW, Classes: tK, Width: 4, Rule: r}
		raw, _ := json.Marshal(cfg)
		spec := ModelSpec{Kind: KindSmallCNN, Rule: string(r), Dataset: "synthetic", Mean: []float32{0.5}, Std: []float32{0.25}, Config: raw, TestAccuracy: 0.5}
		cnn, err := nn.NewSmallCNN(cfg, rand.New(rand.NewPCG(uint64(len(r)), 3)))
		if err != nil {
			t.Fatal(err)
		}
		net, err := Normalized(cnn, spec.Mean, spec.Std)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "smallcnn-"+string(r)+".safetensors")
		if err := SaveNetwork(path, net, spec); err != nil {
			t.Fatal(err)
		}
		lm, err := NewRegistry().Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if lm.Name() != string(r) || lm.Spec.Dataset != "synthetic" || lm.Spec.TestAccuracy != 0.5 {
			t.Fatalf("%s: loaded spec %+v", r, lm.Spec)
		}
		want, gw, _ := InputGradient(net, x, y, Own)
		got, gg, _ := InputGradient(lm.Model, x, y, Own)
		for i := range want.Data {
			if want.Data[i] != got.Data[i] {
				t.Fatalf("%s: logits differ after load", r)
			}
		}
		for i := range gw {
			if gw[i] != gg[i] {
				t.Fatalf("%s: own-mode gradients differ after load", r)
			}
		}
	}
}

func TestRegistryErrors(t *testing.T) {
	dir := t.TempDir()
	net := tinyCNN(t, rule.BP, 1)
	// no spec
	plain := filepath.Join(dir, "plain.safetensors")
	if err := nn.SaveModel(plain, net, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRegistry().Load(plain); err == nil || !strings.Contains(err.Error(), "no model spec") {
		t.Fatalf("checkpoint without spec: %v", err)
	}
	// unknown kind
	odd := filepath.Join(dir, "odd.safetensors")
	if err := SaveNetwork(odd, net, ModelSpec{Kind: "network"}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRegistry().Load(odd); err == nil || !strings.Contains(err.Error(), `unknown kind "network"`) {
		t.Fatalf("unknown kind: %v", err)
	}
	// a plugged-in builder is used
	reg := NewRegistry()
	reg["network"] = func(ModelSpec) (Network, error) { return tinyCNN(t, rule.BP, 2), nil }
	if _, err := reg.Load(odd); err != nil {
		t.Fatalf("plugged-in kind: %v", err)
	}
	if _, err := NewRegistry().Load(filepath.Join(dir, "missing.safetensors")); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("missing file: %v", err)
	}
	if err := SaveNetwork(filepath.Join(dir, "x.safetensors"), net, ModelSpec{}); err == nil {
		t.Fatal("spec without kind saved")
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}
