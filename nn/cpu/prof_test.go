package cpu

import "testing"

func BenchmarkTuneShape(b *testing.B) {
	m, n, k := envI("M", 16), envI("N", 65536), envI("K", 144)
	tA, tB := envI("TA", 0) == 1, envI("TB", 0) == 1
	if d := envI("DIRECT", -1); d >= 0 {
		v := d == 1
		forceDirect = &v
		defer func() { forceDirect = nil }()
	}
	f := Sgemm
	if envI("PAR", 0) == 1 {
		f = SgemmParallel
	}
	benchGemm(b, f, tA, tB, m, n, k)
}
