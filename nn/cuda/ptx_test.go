package cuda

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"testing"
)

// kernels.ptx is committed; its first line holds the hash of the source it
// was compiled from (gen.sh). A changed kernel without a regenerated PTX
// would test fine on the emulator and run the old code on a GPU.
func TestPTXMatchesSource(t *testing.T) {
	h := sha256.New()
	for _, f := range []string{"compat.h", "kernels.cu.h"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	want := fmt.Sprintf("// bionas kernels.cu.h+compat.h sha256 %x", h.Sum(nil))
	f, err := os.Open("kernels.ptx")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	if got := strings.TrimSpace(sc.Text()); got != want {
		t.Fatalf("kernels.ptx is stale (first line %q, want %q): run go generate ./nn/cuda", got, want)
	}
	entries := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), ".visible .entry ") {
			entries++
		}
	}
	// Every kernel of the source is in the PTX (and nothing else).
	src, err := os.ReadFile("kernels.cu.h")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Count(string(src), "extern \"C\" __global__"); entries != want {
		t.Errorf("kernels.ptx has %d kernels, the source %d", entries, want)
	}
}
