package attacks

import (
	"strings"
	"testing"
)

func TestPresets(t *testing.T) {
	def, err := Preset("default")
	if err != nil {
		t.Fatal(err)
	}
	if def.FGSM.Epsilon() != 8.0/255 || def.PGD.withDefaults().Steps != 10 || def.Square.withDefaults().Queries != 5000 {
		t.Fatalf("default preset %+v", def)
	}
	p, err := Preset("paper")
	if err != nil {
		t.Fatal(err)
	}
	if p.FGSM.Eps != 0.35 || p.PGD.Eps != 0.35 || p.TPGD.Steps != 7 || p.APGD.Steps != 50 || p.Square.Queries != 50 || p.TransferEps != 8.0/255 {
		t.Fatalf("paper preset %+v", p)
	}
	if _, err := Preset("madry"); err == nil {
		t.Fatal("unknown preset accepted")
	}
}

func TestSuiteSet(t *testing.T) {
	s, _ := Preset("paper")
	for _, kv := range [][2]string{
		{"pgd.steps", "20"}, {"pgd.alpha", "1/255"}, {"pgd.random-start", "false"},
		{"square.shared", "true"}, {"square.rescale", "false"}, {"square.queries", "100"},
		{"apgd.loss", "dlr"}, {"onepixel.pixels", "3"}, {"fgsm.target", "random"},
		{"transfer.eps", "0.1"},
	} {
		if err := s.Set(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if s.PGD.Steps != 20 || s.PGD.Alpha != 1.0/255 || !s.PGD.NoRandomStart || !s.Square.SharedWindow || !s.Square.NoRescale ||
		s.Square.Queries != 100 || s.APGD.Loss != "dlr" || s.OnePixel.Pixels != 3 || s.FGSM.Target.Mode != TargetRandom || s.TransferEps != 0.1 {
		t.Fatalf("after Set: %+v", s)
	}
	if err := s.Set("eps", "0.3"); err != nil {
		t.Fatal(err)
	}
	if s.FGSM.Eps != 0.3 || s.PGD.Eps != 0.3 || s.TPGD.Eps != 0.3 || s.APGD.Eps != 0.3 || s.Square.Eps != 0.3 || s.TransferEps != 0.3 {
		t.Fatalf("eps did not reach every attack: %+v", s)
	}
	for _, bad := range [][2]string{{"pgd.step", "1"}, {"pgd.steps", "x"}, {"fgsm.eps", "1/0"}, {"fgsm.target", "fixed"}} {
		if err := s.Set(bad[0], bad[1]); err == nil {
			t.Fatalf("Set(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestSuiteSpecs(t *testing.T) {
	s, _ := Preset("default")
	if _, err := s.Specs([]string{"all"}); err == nil || !strings.Contains(err.Error(), "surrogate") {
		t.Fatalf("transfer without surrogate: %v", err)
	}
	specs, err := s.Specs([]string{"square", "FGSM", "one-pixel"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sp := range specs {
		names = append(names, sp.Name())
	}
	if strings.Join(names, ",") != "fgsm,onepixel,square" {
		t.Fatalf("specs %v", names)
	}
	if _, err := s.Specs([]string{"cw"}); err == nil {
		t.Fatal("unknown attack accepted")
	}
	s.Transfer.Surrogate = linearModel(4, 2, 1)
	all, err := s.Specs([]string{"all"})
	if err != nil || len(all) != 7 {
		t.Fatalf("all: %d specs, %v", len(all), err)
	}
	if all[6].Epsilon() != 8.0/255 {
		t.Fatalf("transfer ε %v", all[6].Epsilon())
	}
}

func TestParseFraction(t *testing.T) {
	for in, want := range map[string]float64{"8/255": 8.0 / 255, "0.35": 0.35, " 2 / 255": 2.0 / 255} {
		got, err := ParseFraction(strings.TrimSpace(in))
		if err != nil || got != want {
			t.Fatalf("%q: %v, %v", in, got, err)
		}
	}
	if _, err := ParseFraction("a/2"); err == nil {
		t.Fatal("bad fraction accepted")
	}
}
