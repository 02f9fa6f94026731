package data

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bionaslab/bionas/internal/allocguard"
)

// The fuzz targets of the dataset readers. Each writes the fuzzed bytes
// where the reader looks, reads them and checks that it returns (no panic),
// that a dataset it accepts is consistent, and that it allocated in
// proportion to the bytes given, never to the sizes they claim. Seeds are
// the files the tests above write. Run one longer with
//
//	go test -run xxx -fuzz FuzzImageNet16 -fuzztime 60s -fuzzminimizetime 100x -parallel 1 ./data

// fuzzAllocLimit is what a reader may allocate for n bytes of input: a
// fixed cost (buffers, tables, the dataset's structs) plus a few times n.
func fuzzAllocLimit(n int) uint64 { return 4<<20 + 16*uint64(n) }

// checkDataset checks the invariants of a dataset a reader accepted.
func checkDataset(t *testing.T, ds Dataset) {
	c, h, w := ds.Shape()
	if ds.Len() < 0 || c <= 0 || h <= 0 || w <= 0 || ds.Classes() <= 0 || len(ds.ClassNames()) != ds.Classes() {
		t.Fatalf("dataset: %d images of %d×%d×%d, %d classes %v", ds.Len(), c, h, w, ds.Classes(), ds.ClassNames())
	}
	img := make([]float32, c*h*w)
	for i := range min(ds.Len(), 4) {
		if l := ds.Image(i, img); l < 0 || l >= ds.Classes() {
			t.Fatalf("image %d: label %d of %d classes", i, l, ds.Classes())
		}
	}
}

func FuzzIDX(f *testing.F) {
	im, lb := smallIDX(3)
	f.Add(im, lb)
	f.Add(gz(im), gz(lb))
	f.Add(im[:20], lb)
	f.Add(idxFile(idxImagesMagic, []int{1 << 15, 1 << 8, 1 << 8}, nil), lb)
	dir := f.TempDir()
	ip, lp := filepath.Join(dir, "images"), filepath.Join(dir, "labels")
	f.Fuzz(func(t *testing.T, images, labels []byte) {
		if os.WriteFile(ip, images, 0o644) != nil || os.WriteFile(lp, labels, 0o644) != nil {
			t.Fatal("write")
		}
		var ds Dataset
		var err error
		// Gzip may legitimately inflate a few hundred times; the limit
		// allows that, not the header's claims.
		allocguard.Check(t, "LoadIDX", fuzzAllocLimit(1100*(len(images)+len(labels))), func() { ds, err = LoadIDX(ip, lp) })
		if err == nil {
			checkDataset(t, ds)
		}
	})
}

func FuzzCIFAR(f *testing.F) {
	f.Add(cifarRecords(0, 2, func(i int) []byte { return []byte{byte(i)} }), false)
	f.Add(cifarRecords(0, 1, func(i int) []byte { return []byte{3, 42} }), true)
	f.Add([]byte{10}, false)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte, hundred bool) {
		var ds Dataset
		var err error
		name := "test_batch.bin"
		if hundred {
			name = "test.bin"
		}
		if os.WriteFile(filepath.Join(dir, name), raw, 0o644) != nil {
			t.Fatal("write")
		}
		allocguard.Check(t, "CIFAR", fuzzAllocLimit(len(raw)), func() {
			if hundred {
				ds, err = CIFAR100(dir, false, len(raw)%2 == 0)
			} else {
				ds, err = CIFAR10(dir, false)
			}
		})
		if err == nil {
			checkDataset(t, ds)
		}
	})
}

func FuzzImageNet16(f *testing.F) {
	f.Add(imagenet16Pickle{labels: []int{1, 2, 120}}.bytes(0))
	f.Add(imagenet16Pickle{labels: []int{1}, shape: []int{1, 3072}, raw: make([]byte, 3072)}.bytes(0))
	f.Add(crafted16([]uint64{1 << 56, 768}, true, make([]byte, 8)))
	f.Add(crafted16([]uint64{2, 768}, true, make([]byte, 2*768)))
	f.Add(hugeString())
	for _, name := range []string{"imagenet16_py2_p0.pkl", "imagenet16_py2_p2.pkl", "imagenet16_py3_p2.pkl", "imagenet16_py3_p4.pkl"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b)
		}
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "val_data")
	f.Fuzz(func(t *testing.T, raw []byte) {
		if os.WriteFile(path, raw, 0o644) != nil {
			t.Fatal("write")
		}
		var ds Dataset
		var err error
		allocguard.Check(t, "ImageNet16", fuzzAllocLimit(len(raw)), func() { ds, err = ImageNet16(dir, false, 0) })
		if err == nil {
			checkDataset(t, ds)
		}
	})
}
