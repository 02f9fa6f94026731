package data

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// cifarPixel is the test pattern: byte j of the pixels of record i of file f.
func cifarPixel(f, i, j int) byte { return byte(31*f + 7*i + 3*j) }

// cifarRecords returns n records of the binary format with the given label
// bytes per record.
func cifarRecords(f, n int, labels func(i int) []byte) []byte {
	var out []byte
	for i := range n {
		out = append(out, labels(i)...)
		for j := range cifarPixels {
			out = append(out, cifarPixel(f, i, j))
		}
	}
	return out
}

func TestCIFAR10(t *testing.T) {
	for _, sub := range []string{"", "cifar-10-batches-bin"} {
		t.Run("folder="+sub, func(t *testing.T) {
			dir := t.TempDir()
			for f := 1; f <= 5; f++ {
				writeFile(t, filepath.Join(dir, sub, fmt.Sprintf("data_batch_%d.bin", f)),
					cifarRecords(f, 3, func(i int) []byte { return []byte{byte((f + i) % 10)} }))
			}
			writeFile(t, filepath.Join(dir, sub, "test_batch.bin"), cifarRecords(0, 2, func(i int) []byte { return []byte{byte(9 - i)} }))
			writeFile(t, filepath.Join(dir, sub, "batches.meta.txt"), []byte("a0\na1\na2\na3\na4\na5\na6\na7\na8\na9\n\n"))

			train, err := CIFAR10(dir, true)
			if err != nil {
				t.Fatal(err)
			}
			if c, h, w := train.Shape(); train.Len() != 15 || c != 3 || h != 32 || w != 32 || train.Classes() != 10 {
				t.Fatalf("Len %d shape %d×%d×%d", train.Len(), c, h, w)
			}
			if got := train.ClassNames()[3]; got != "a3" {
				t.Fatalf("class name %q from batches.meta.txt, want a3", got)
			}
			img := make([]float32, cifarPixels)
			for k := range 15 {
				f, i := k/3+1, k%3
				if l := train.Image(k, img); l != (f+i)%10 {
					t.Fatalf("image %d: label %d, want %d", k, l, (f+i)%10)
				}
				// Byte j of the record is channel j/1024, row (j/32)%32, column j%32: CHW.
				for _, j := range []int{0, 31, 32, 1023, 1024, 2048, 3071} {
					if want := float32(cifarPixel(f, i, j)) / 255; img[j] != want {
						t.Fatalf("image %d value %d = %v, want %v", k, j, img[j], want)
					}
				}
			}
			test, err := CIFAR10(dir, false)
			if err != nil {
				t.Fatal(err)
			}
			if test.Len() != 2 || test.Image(1, img) != 8 {
				t.Fatalf("test split: Len %d", test.Len())
			}
		})
	}
}

func TestCIFAR100(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "cifar-100-binary")
	writeFile(t, filepath.Join(sub, "train.bin"), cifarRecords(1, 4, func(i int) []byte { return []byte{byte(19 - i), byte(99 - 2*i)} }))
	writeFile(t, filepath.Join(sub, "test.bin"), cifarRecords(2, 1, func(i int) []byte { return []byte{0, 0} }))
	fine, err := CIFAR100(dir, true, false)
	if err != nil {
		t.Fatal(err)
	}
	coarse, err := CIFAR100(dir, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if fine.Classes() != 100 || coarse.Classes() != 20 || fine.ClassNames()[99] != "worm" || coarse.ClassNames()[19] != "vehicles_2" {
		t.Fatalf("classes %d %d", fine.Classes(), coarse.Classes())
	}
	img := make([]float32, cifarPixels)
	for i := range 4 {
		if l := fine.Image(i, img); l != 99-2*i {
			t.Errorf("fine label %d = %d", i, l)
		}
		if img[5] != float32(cifarPixel(1, i, 5))/255 {
			t.Errorf("pixels shifted: image %d", i)
		}
		if l := coarse.Image(i, img); l != 19-i {
			t.Errorf("coarse label %d = %d", i, l)
		}
	}
	if test, err := CIFAR100(dir, false, false); err != nil || test.Len() != 1 {
		t.Fatalf("test split: %v", err)
	}
}

func TestCIFARErrors(t *testing.T) {
	good := func(f int) []byte { return cifarRecords(f, 3, func(int) []byte { return []byte{1} }) }
	cases := []struct {
		name    string
		batch3  []byte // data_batch_3.bin
		want    error
		mention []string
	}{
		{"truncated record", good(3)[:2*cifar10Record+100], ErrTruncated, []string{"data_batch_3.bin", "record 2", "100 bytes left", "3073 bytes"}},
		{"empty file", nil, ErrTruncated, []string{"data_batch_3.bin", "record 0"}},
		{"label out of range", cifarRecords(3, 3, func(i int) []byte { return []byte{byte(8 + i)} }), ErrLabelRange, []string{"data_batch_3.bin", "record 2", "is 10, want [0,10)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for f := 1; f <= 5; f++ {
				b := good(f)
				if f == 3 {
					b = tc.batch3
				}
				writeFile(t, filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", f)), b)
			}
			_, err := CIFAR10(dir, true)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			for _, m := range append(tc.mention, "read CIFAR batch "+dir) {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
		})
	}
	t.Run("missing batch", func(t *testing.T) {
		dir := t.TempDir()
		for f := 1; f <= 4; f++ {
			writeFile(t, filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", f)), good(f))
		}
		_, err := CIFAR10(dir, true)
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		for _, m := range []string{filepath.Join(dir, "data_batch_5.bin"), filepath.Join(dir, "cifar-10-batches-bin", "data_batch_1.bin"), "bionas data fetch cifar10 --dir " + dir} {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("error %q does not say %q", err, m)
			}
		}
	})
	t.Run("cifar100 coarse range", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "train.bin"), cifarRecords(1, 2, func(i int) []byte { return []byte{byte(19 + i), 5} }))
		_, err := CIFAR100(dir, true, false) // both labels are checked, whichever is used
		if !errors.Is(err, ErrLabelRange) || !strings.Contains(err.Error(), "record 1: label byte 0 is 20, want [0,20)") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("cifar100 fine range", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "test.bin"), cifarRecords(1, 1, func(i int) []byte { return []byte{3, 100} }))
		_, err := CIFAR100(dir, false, true)
		if !errors.Is(err, ErrLabelRange) || !strings.Contains(err.Error(), "record 0: label byte 1 is 100, want [0,100)") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("cifar100 truncated", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "test.bin"), cifarRecords(1, 2, func(i int) []byte { return []byte{3, 1} })[:cifar100Record+cifar10Record])
		_, err := CIFAR100(dir, false, false)
		if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "record 1: 3073 bytes left, want records of 3074 bytes") {
			t.Fatalf("err = %v", err)
		}
	})
}
