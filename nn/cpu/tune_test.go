package cpu

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// bestRate runs f (doing flops each) repeatedly for total and returns the best
// GFLOP/s over windows of ~win, to see through a noisy shared machine.
func bestRate(f func(), flops float64, total, win time.Duration) float64 {
	best := 0.0
	end := time.Now().Add(total)
	for time.Now().Before(end) {
		t0 := time.Now()
		n := 0
		for time.Since(t0) < win {
			f()
			n++
		}
		if r := flops * float64(n) / time.Since(t0).Seconds() / 1e9; r > best {
			best = r
		}
	}
	return best
}

func TestTuneMicro(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip("TUNE not set")
	}
	ks := active
	kc, panels := envI("KC", 256), envI("PANELS", 20)
	a := make([]float32, ks.mr*kc)
	bp := make([]float32, panels*ks.nr*kc)
	c := make([]float32, ks.mr*ks.nr*panels)
	f := func() {
		for j := 0; j < panels; j++ {
			ks.micro(ks.nr, kc, a, bp[j*ks.nr*kc:], ks.nr, c[j*ks.nr:], ks.nr*panels, 1, 8*ks.nr*4)
		}
	}
	t.Logf("micro %dx%d: %.1f GFLOP/s", ks.mr, ks.nr, bestRate(f, 2*float64(ks.mr*ks.nr*kc*panels), 2*time.Second, time.Millisecond))
}

func TestTune512(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip("TUNE not set")
	}
	n := 512
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = float32(i%7), float32(i%5)
	}
	f := func() { Sgemm(false, false, n, n, n, 1, a, n, b, n, 0, c, n) }
	t.Logf("512 serial: %.1f GFLOP/s", bestRate(f, 2*float64(n*n*n), 2*time.Second, 20*time.Millisecond))
	f = func() { SgemmParallel(false, false, n, n, n, 1, a, n, b, n, 0, c, n) }
	t.Logf("512 parallel: %.1f GFLOP/s", bestRate(f, 2*float64(n*n*n), 2*time.Second, 20*time.Millisecond))
}

func envI(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func TestTuneBlocks(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip("TUNE not set")
	}
	m, n, k := envI("M", 512), envI("N", 512), envI("K", 512)
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = float32(i % 7)
	}
	for i := range b {
		b[i] = float32(i % 5)
	}
	for _, kc := range []int{128, 192, 256, 320, 384, 512} {
		for _, nc := range []int{480, 960, 1920} {
			ks := &kernelSet{name: "t", mr: active.mr, nr: active.nr, step: active.step, kc: kc, mc: 192, nc: nc, micro: active.micro}
			f := func() { sgemm(ks, false, false, m, n, k, 1, a, k, b, n, 0, c, n) }
			t.Logf("kc=%d nc=%d: %.1f GFLOP/s", kc, nc, bestRate(f, 2*float64(m*n*k), 1500*time.Millisecond, 5*time.Millisecond))
		}
	}
}

func TestTuneDirect(t *testing.T) {
	if os.Getenv("TUNE") == "" {
		t.Skip("TUNE not set")
	}
	m, n, k := envI("M", 16), envI("N", 65536), envI("K", 144)
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range b {
		b[i] = float32(i % 5)
	}
	pfPanels = envI("PFP", 1)
	for _, d := range []bool{false, true} {
		forceDirect = &d
		f := func() { Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n) }
		t.Logf("direct=%v: %.1f GFLOP/s", d, bestRate(f, 2*float64(m*n*k), 2*time.Second, 20*time.Millisecond))
	}
	forceDirect = nil
}
