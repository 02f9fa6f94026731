// Package allocguard lets tests and fuzz targets assert that a reader of
// outside bytes allocates in proportion to the bytes it was given, not to
// the sizes those bytes claim (a 24-byte file that announces a 4 GiB string
// must not cost 4 GiB).
package allocguard

import (
	"runtime"
	"testing"
)

// Bytes runs f and returns the bytes the process allocated meanwhile. Run
// fuzz targets with -parallel 1 so that little else allocates at the same
// time; the figure is an upper bound of f's allocations.
func Bytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Check runs f and fails t if it allocated more than limit bytes.
func Check(t testing.TB, what string, limit uint64, f func()) {
	t.Helper()
	if n := Bytes(f); n > limit {
		t.Fatalf("%s allocated %d bytes, more than the limit of %d", what, n, limit)
	}
}
