//go:build !cuda

package cuda

import (
	"errors"
	"strings"
	"testing"
)

// A binary built without -tags cuda must say so, and how to get one.
func TestOpenWithoutCUDA(t *testing.T) {
	for _, ordinal := range []int{0, 3} {
		d, err := Open(ordinal)
		if d != nil || !errors.Is(err, ErrNotBuilt) {
			t.Fatalf("Open(%d) = %v, %v; want nil, ErrNotBuilt", ordinal, d, err)
		}
		for _, want := range []string{"built without CUDA", "-tags cuda", "scripts/cuda/build.sh"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open(%d) error %q does not mention %q", ordinal, err, want)
			}
		}
	}
	if Built {
		t.Error("Built is true in a build without -tags cuda")
	}
}
