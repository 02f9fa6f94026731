package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// idxFile returns an IDX file with the given magic, dimensions and data.
func idxFile(magic uint32, dims []int, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// smallIDX returns n images of 3×4 (pixel j of image i = 10·i + j) and
// labels i mod 10.
func smallIDX(n int) (images, labels []byte) {
	pix := make([]byte, n*12)
	lab := make([]byte, n)
	for i := range n {
		for j := range 12 {
			pix[i*12+j] = byte(10*i + j)
		}
		lab[i] = byte(i % 10)
	}
	return idxFile(idxImagesMagic, []int{n, 3, 4}, pix), idxFile(idxLabelsMagic, []int{n}, lab)
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadIDX(t *testing.T) {
	dir := t.TempDir()
	im, lb := smallIDX(5)
	for _, compressed := range []bool{false, true} {
		ip, lp := filepath.Join(dir, "im"), filepath.Join(dir, "lb")
		if compressed {
			im, lb = gz(im), gz(lb)
			ip, lp = ip+".gz", lp+".gz"
		}
		writeFile(t, ip, im)
		writeFile(t, lp, lb)
		ds, err := LoadIDX(ip, lp)
		if err != nil {
			t.Fatal(err)
		}
		if c, h, w := ds.Shape(); ds.Len() != 5 || c != 1 || h != 3 || w != 4 || ds.Classes() != 5 {
			t.Fatalf("Len %d shape %d×%d×%d classes %d", ds.Len(), c, h, w, ds.Classes())
		}
		img := make([]float32, 12)
		for i := range 5 {
			if l := ds.Image(i, img); l != i {
				t.Fatalf("label %d = %d", i, l)
			}
			for j, v := range img {
				if v != float32(10*i+j)/255 {
					t.Fatalf("image %d pixel %d = %v, want %v", i, j, v, float32(10*i+j)/255)
				}
			}
		}
	}
}

func TestIDXErrors(t *testing.T) {
	im, lb := smallIDX(4)
	labels11 := append([]byte(nil), lb...)
	labels11[len(labels11)-2] = 11 // record 2
	cases := []struct {
		name       string
		im, lb     []byte
		want       error
		file       string
		mentioning []string
	}{
		{"image magic", idxFile(0x00000801, []int{4, 3, 4}, nil), lb, ErrBadMagic, "train-images", []string{"magic 0x00000801", "want 0x00000803"}},
		{"label magic", im, idxFile(0x00000803, []int{4}, nil), ErrBadMagic, "train-labels", []string{"want 0x00000801"}},
		{"truncated image", im[:len(im)-13], lb, ErrTruncated, "train-images", []string{"record 2 of 4", "12 bytes per record"}},
		{"truncated header", im[:6], lb, ErrTruncated, "train-images", []string{"header"}},
		{"gzip truncated", gz(im)[:40], lb, ErrTruncated, "train-images", []string{"of 4", "12 bytes per record"}},
		{"gzip corrupt", corruptGzip(im), lb, ErrFormat, "train-images", []string{"corrupt input"}},
		{"label range", im, labels11, ErrLabelRange, "train-labels", []string{"record 2", "label 11 out of range [0,10)"}},
		{"count mismatch", im, idxFile(idxLabelsMagic, []int{3}, []byte{1, 2, 3}), ErrShape, "train-labels", []string{"3 labels for 4 images"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, mnistTrainImages), tc.im)
			writeFile(t, filepath.Join(dir, mnistTrainLabels), tc.lb)
			ds, err := MNISTDir(dir, true)
			if ds != nil {
				t.Error("a dataset returned with the error")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, filepath.Join(dir, tc.file)) {
				t.Errorf("error %q does not name the file %s", msg, tc.file)
			}
			for _, m := range tc.mentioning {
				if !strings.Contains(msg, m) {
					t.Errorf("error %q does not say %q", msg, m)
				}
			}
		})
	}
}

func TestMNISTDirLayouts(t *testing.T) {
	im, lb := smallIDX(3)
	dir := t.TempDir()
	// torchvision layout: raw/, gzip files.
	writeFile(t, filepath.Join(dir, "raw", mnistTestImages+".gz"), gz(im))
	writeFile(t, filepath.Join(dir, "raw", mnistTestLabels+".gz"), gz(lb))
	ds, err := MNISTDir(dir, false)
	if err != nil || ds.Len() != 3 || ds.Classes() != 10 {
		t.Fatalf("raw layout: %v", err)
	}
	fm, err := FashionMNIST(dir, false)
	if err != nil || fm.ClassNames()[9] != "Ankle boot" {
		t.Fatalf("fashion: %v", err)
	}
	// The training split is missing: the error says where it looked and what to run.
	_, err = FashionMNIST(dir, true)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	for _, want := range []string{filepath.Join(dir, mnistTrainImages+".gz"), filepath.Join(dir, "raw", mnistTrainImages), "bionas data fetch fashion-mnist --dir " + dir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// corruptGzip compresses b and flips a byte of the deflate stream.
func corruptGzip(b []byte) []byte {
	z := gz(b)
	z[len(z)-12] ^= 0xff
	return z
}
