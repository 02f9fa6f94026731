package attacks

import (
	"context"
	"testing"

	"github.com/bionaslab/bionas/nn/rule"
)

// TestTransferIsFGSMOnTheSurrogate: the transferred images are FGSM's (ε
// 8/255 by default, true gradient) on the surrogate, whatever the target,
// and the target is queried once per image.
func TestTransferIsFGSMOnTheSurrogate(t *testing.T) {
	sur := tinyCNN(t, rule.BP, 41)
	target := tinyCNN(t, rule.FA, 42)
	x, y := synthBatch(8, 1)
	f, _ := NewFGSM(sur, x, y, FGSMConfig{Eps: 8.0 / 255}, Options{Grad: True})
	want, err := f.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewTransfer(target, x, y, TransferConfig{Surrogate: sur, SurrogateName: "bp"}, Options{Grad: Own})
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := range got.Data {
		if got.Data[i] != want.Data[i] {
			t.Fatalf("transferred image differs from FGSM on the surrogate at %d", i)
		}
	}
	st := a.State()
	if q := st.MaxQueries(); q != 1 {
		t.Fatalf("target queried %d times", q)
	}
	if a.Surrogate().MaxQueries() != 2 {
		t.Fatalf("surrogate queried %d times", a.Surrogate().MaxQueries())
	}
	checkInvariants(t, "transfer", x, st, 8.0/255)
	if got := (TransferConfig{Surrogate: sur, SurrogateName: "bp"}).Label(); got != "transfer of FGSM ε=8/255 from bp" {
		t.Fatalf("label %q", got)
	}
}
