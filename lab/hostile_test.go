package lab_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
)

// TestDamagedRunJSON: a run.json whose spec asks for what must not run (a
// network of 10^8 channels, 10^9 epochs) loads as a failed run naming the
// field, is refused by Resume, and is left on disk as it was.
func TestDamagedRunJSON(t *testing.T) {
	cases := []struct {
		name, spec, want string
	}{
		{"c", `{"kind":"search","c":100000000}`, "spec.c is 100000000, want 0..1024"},
		{"cells", `{"kind":"search","cells":1000000000}`, "spec.cells is 1000000000, want 0..256"},
		{"epochs", `{"kind":"train","epochs":-5}`, "spec.epochs is -5, want 0..10000"},
		{"batch", `{"kind":"search","batch_size":1000000000}`, "spec.batch_size is 1000000000"},
		{"lr", `{"kind":"search","lr":1e300}`, "spec.lr is 1e+300"},
		{"kind", `{"kind":"mine"}`, `spec.kind is "mine"`},
		{"method", `{"kind":"search","method":"dartz"}`, `spec.method is "dartz": want one of [darts darts2 pcdarts egnas random]`},
		{"attack eps", `{"kind":"attack","attack":{"model":"r0001","attack":"fgsm","mode":"own","eps":7}}`, "spec.attack.eps is 7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			rd := filepath.Join(dir, "runs", "r0001")
			os.MkdirAll(rd, 0o755)
			content := `{"id":"r0001","kind":"search","spec":` + tc.spec + `,"status":"interrupted","created":"2025-01-01T00:00:00Z","last":{}}`
			path := filepath.Join(rd, lab.FileRun)
			os.WriteFile(path, []byte(content), 0o644)
			l := openLab(t, dir, &labtest.Fake{StepsPerEpoch: 1, Epochs: 1})
			r, _ := l.Run("r0001")
			if r.Status != lab.StatusFailed || !strings.Contains(r.Error, tc.want) || !strings.Contains(r.Error, path) {
				t.Fatalf("run: %s %q, want failed naming %s and %q", r.Status, r.Error, path, tc.want)
			}
			if _, err := l.Resume("r0001"); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Resume: %v", err)
			}
			if err := lab.CheckRunFolder(rd); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckRunFolder: %v", err)
			}
			if b, _ := os.ReadFile(path); string(b) != content {
				t.Fatalf("run.json rewritten:\n%s", b)
			}
		})
	}
	t.Run("start", func(t *testing.T) {
		l := openLab(t, t.TempDir(), &labtest.Fake{StepsPerEpoch: 1, Epochs: 1})
		if _, err := l.Start(lab.Spec{Kind: lab.KindSearch, C: 100000000}); err == nil || !strings.Contains(err.Error(), "spec.c") {
			t.Fatalf("Start: %v", err)
		}
	})
}
