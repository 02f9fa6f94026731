package cpu

import (
	"fmt"
	"testing"
)

// BenchmarkMicro measures the micro-kernel alone on L1/L2-resident packed
// panels: the ceiling the blocked driver can approach.
func BenchmarkMicro(b *testing.B) {
	for _, ks := range availableSets() {
		const kc, panels = 256, 20
		a := make([]float32, ks.mr*kc)
		bp := make([]float32, panels*ks.nr*kc)
		c := make([]float32, ks.mr*ks.nr*panels)
		b.Run(fmt.Sprintf("%s_%dx%d", ks.name, ks.mr, ks.nr), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				for j := 0; j < panels; j++ {
					ks.micro(ks.nr, kc, a, bp[j*ks.nr*kc:], ks.nr, c[j*ks.nr:], ks.nr*panels, 1, 8*ks.nr*4)
				}
			}
			b.ReportMetric(2*float64(ks.mr*ks.nr*kc*panels)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
