package nn

import (
	"math"
	"testing"
)

func TestSchedules(t *testing.T) {
	darts := Cosine{Base: 0.025, Min: 0.001, Epochs: 50}
	tests := []struct {
		name  string
		s     Schedule
		epoch int
		want  float64
	}{
		{"cosine e=0", darts, 0, 0.025},
		{"cosine e=1", darts, 1, 0.001 + 0.012*(1+math.Cos(math.Pi/50))}, // 0.0249763…
		{"cosine e=25", darts, 25, 0.013},
		{"cosine e=49", darts, 49, 0.001 + 0.012*(1+math.Cos(49*math.Pi/50))}, // 0.0010237…
		{"cosine e=E", darts, 50, 0.001},
		{"cosine past E", darts, 70, 0.001},
		{"cosine before 0", darts, -3, 0.025},
		{"cosine no epochs", Cosine{Base: 0.1, Min: 0, Epochs: 0}, 5, 0.1},
		{"cosine step", CosineStep{Base: 1, Min: 0, Steps: 1000}, 500, 0.5},
		{"cosine step end", CosineStep{Base: 1, Min: 0, Steps: 1000}, 1000, 0},
		{"linear start", LinearDecay{Start: 0.1, End: 0.3, Epochs: 4}, 0, 0.1},
		{"linear mid", LinearDecay{Start: 0.1, End: 0.3, Epochs: 4}, 1, 0.15},
		{"linear end", LinearDecay{Start: 0.1, End: 0.3, Epochs: 4}, 9, 0.3},
		{"constant", Constant(0.01), 123, 0.01},
		{"multistep before", MultiStep{Base: 0.1, Milestones: []int{30, 60}}, 29, 0.1},
		{"multistep first", MultiStep{Base: 0.1, Milestones: []int{30, 60}}, 30, 0.01},
		{"multistep both", MultiStep{Base: 0.1, Milestones: []int{60, 30}, Gamma: 0.5}, 60, 0.025},
	}
	for _, tc := range tests {
		got := float64(tc.s.LR(tc.epoch))
		if math.Abs(got-tc.want) > 1e-7*math.Max(1, tc.want) {
			t.Errorf("%s: LR(%d) = %.9f, want %.9f", tc.name, tc.epoch, got, tc.want)
		}
	}
	if got := darts.LR(1); math.Abs(float64(got)-0.0249763207) > 1e-9 {
		t.Errorf("DARTS lr_1 = %.10f, want 0.0249763207", got)
	}
}

// TestCosineMonotone: the DARTS schedule only falls, and stays above Min
// for every epoch actually trained (0..E−1).
func TestCosineMonotone(t *testing.T) {
	s := Cosine{Base: 0.025, Min: 0.001, Epochs: 50}
	for e := 1; e < 50; e++ {
		if s.LR(e) >= s.LR(e-1) || s.LR(e) <= 0.001 {
			t.Fatalf("LR(%d) = %v after %v", e, s.LR(e), s.LR(e-1))
		}
	}
}
