package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestFans(t *testing.T) {
	tests := []struct {
		name        string
		shape       []int
		fanIn, fout int
	}{
		{"linear", []int{10, 20}, 20, 10},
		{"conv3x3", []int{16, 8, 3, 3}, 72, 144},
		{"grouped conv, I=8 groups=2", []int{32, 4, 3, 3}, 36, 288},
		{"depthwise 3x3", []int{16, 1, 3, 3}, 9, 144},
		{"pointwise", []int{32, 16, 1, 1}, 16, 32},
		{"conv1d", []int{4, 2, 5}, 10, 20},
	}
	for _, tc := range tests {
		fi, fo := Fans(tc.shape)
		if fi != tc.fanIn || fo != tc.fout {
			t.Errorf("%s: Fans(%v) = %d, %d, want %d, %d", tc.name, tc.shape, fi, fo, tc.fanIn, tc.fout)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Fans of a 1-D shape did not panic")
		}
	}()
	Fans([]int{5})
}

// TestXavierKaimingUniform: values lie within the bound and their
// empirical std matches XavierStd / KaimingStd.
func TestXavierKaimingUniform(t *testing.T) {
	tests := []struct {
		init         Init
		shape        []int
		bound, wantS float64
	}{
		{Xavier, []int{64, 32, 3, 3}, math.Sqrt(6.0 / (288 + 576)), math.Sqrt(2.0 / (288 + 576))},
		{Xavier, []int{100, 400}, math.Sqrt(6.0 / 500), math.Sqrt(2.0 / 500)},
		{Kaiming, []int{64, 32, 3, 3}, 1 / math.Sqrt(288), 1 / math.Sqrt(3*288)},
	}
	for _, tc := range tests {
		w := New(tc.shape...)
		fi, fo := Fans(tc.shape)
		tc.init.Fill(w, fi, fo, rand.New(rand.NewPCG(9, 9)))
		var ss float64
		for _, v := range w.Data {
			if math.Abs(float64(v)) > tc.bound*(1+1e-6) {
				t.Fatalf("%s %v: value %v beyond bound %v", tc.init, tc.shape, v, tc.bound)
			}
			ss += float64(v) * float64(v)
		}
		std := math.Sqrt(ss / float64(w.Len()))
		if math.Abs(std-tc.wantS) > 0.02*tc.wantS {
			t.Errorf("%s %v: empirical std %v, want %v", tc.init, tc.shape, std, tc.wantS)
		}
		if s := float64(tc.init.Std(fi, fo)); math.Abs(s-tc.wantS) > 1e-7 {
			t.Errorf("%s.Std(%d, %d) = %v, want %v", tc.init, fi, fo, s, tc.wantS)
		}
		w2 := New(tc.shape...)
		tc.init.Fill(w2, fi, fo, rand.New(rand.NewPCG(9, 9)))
		if w2.Data[7] != w.Data[7] {
			t.Errorf("%s: same seed gave different weights", tc.init)
		}
	}
	if XavierStd(3, 5) != float32(0.5) || KaimingStd(3) != float32(1.0/3) {
		t.Errorf("XavierStd(3,5) = %v, KaimingStd(3) = %v", XavierStd(3, 5), KaimingStd(3))
	}
}

func TestXavierParseInit(t *testing.T) {
	for in, want := range map[string]Init{"": Xavier, "xavier": Xavier, "Kaiming": Kaiming} {
		if got, err := ParseInit(in); err != nil || got != want {
			t.Errorf("ParseInit(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseInit("orthogonal"); err == nil {
		t.Error("ParseInit(orthogonal): no error")
	}
}
