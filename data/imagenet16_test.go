package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// py2Pickle writes pickles byte by byte as Python 2's cPickle does at
// protocol 2 (str as SHORT_BINSTRING/BINSTRING, no memo).
type py2Pickle struct{ bytes.Buffer }

func (p *py2Pickle) op(b ...byte) { p.Write(b) }

func (p *py2Pickle) str(s string) {
	if len(s) < 256 {
		p.op('U', byte(len(s)))
	} else {
		p.op('T')
		binary.Write(p, binary.LittleEndian, uint32(len(s)))
	}
	p.WriteString(s)
}

func (p *py2Pickle) int(v int) {
	switch {
	case v >= 0 && v < 256:
		p.op('K', byte(v))
	case v >= 0 && v < 65536:
		p.op('M', byte(v), byte(v>>8))
	default:
		p.op('J')
		binary.Write(p, binary.LittleEndian, int32(v))
	}
}

func (p *py2Pickle) global(module, name string) { p.WriteString("c" + module + "\n" + name + "\n") }

func (p *py2Pickle) tuple(items ...func()) {
	p.op('(')
	for _, it := range items {
		it()
	}
	p.op('t')
}

// ndarray writes numpy.core.multiarray._reconstruct(ndarray, (0,), 'b') and
// its __setstate__((1, shape, dtype(dt), False, raw)).
func (p *py2Pickle) ndarray(shape []int, dt string, order string, raw []byte) {
	p.global("numpy.core.multiarray", "_reconstruct")
	p.global("numpy", "ndarray")
	p.int(0)
	p.op(0x85) // TUPLE1
	p.str("b")
	p.op(0x87, 'R') // TUPLE3, REDUCE
	p.tuple(func() { p.int(1) }, func() {
		p.tuple(func() {
			for _, s := range shape {
				p.int(s)
			}
		})
	}, func() {
		p.global("numpy", "dtype")
		p.str(dt)
		p.int(0)
		p.int(1)
		p.op(0x87, 'R')
		p.tuple(func() { p.int(3) }, func() { p.str(order) }, func() { p.op('N', 'N', 'N') },
			func() { p.int(-1); p.int(-1); p.int(0) })
		p.op('b') // BUILD
	}, func() { p.op(0x89) }, func() { p.str(string(raw)) })
	p.op('b')
}

// imagenet16Pickle is the content of one test pickle; fields left zero take
// the well-formed default.
type imagenet16Pickle struct {
	labels  []int
	shape   []int  // default (n, 768)
	dtype   string // default "u1"
	raw     []byte // default the test pattern
	noData  bool
	topList bool
}

func in16Pixel(file, i, j int) byte { return byte(17*file + 5*i + 11*j) }

func (c imagenet16Pickle) bytes(file int) []byte {
	n := len(c.labels)
	if c.shape == nil {
		c.shape = []int{n, imagenet16Pixels}
	}
	if c.dtype == "" {
		c.dtype = "u1"
	}
	if c.raw == nil {
		for i := range n {
			for j := range imagenet16Pixels {
				c.raw = append(c.raw, in16Pixel(file, i, j))
			}
		}
	}
	var p py2Pickle
	p.op(0x80, 2)
	if c.topList {
		p.op(']')
	} else {
		p.op('}', '(')
		if !c.noData {
			p.str("data")
			p.ndarray(c.shape, c.dtype, "|", c.raw)
		}
		p.str("labels")
		p.op(']', '(')
		for _, l := range c.labels {
			p.int(l)
		}
		p.op('e')
		p.str("mean")
		mean := make([]byte, 8*imagenet16Pixels)
		p.ndarray([]int{imagenet16Pixels}, "f8", "<", mean)
		p.op('u')
	}
	p.op('.')
	return p.Bytes()
}

// in16Labels gives file f (1..10 train, 0 val) labels around the 120 cut.
func in16Labels(f int) []int { return []int{f + 1, 120, 121, 1000, 119 - f} }

func writeImageNet16(t *testing.T, dir string) {
	writeFile(t, filepath.Join(dir, "val_data"), imagenet16Pickle{labels: in16Labels(0)}.bytes(0))
	for f := 1; f <= 10; f++ {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("train_data_batch_%d", f)), imagenet16Pickle{labels: in16Labels(f)}.bytes(f))
	}
}

func TestImageNet16(t *testing.T) {
	dir := t.TempDir()
	writeImageNet16(t, filepath.Join(dir, "ImageNet16"))
	type kept struct{ file, rec, target int }
	for _, tc := range []struct {
		train   bool
		classes int
		want    []kept
	}{
		{false, 120, []kept{{0, 0, 0}, {0, 1, 119}, {0, 4, 118}}},
		{false, 0, []kept{{0, 0, 0}, {0, 1, 119}, {0, 2, 120}, {0, 3, 999}, {0, 4, 118}}},
		{true, 120, func() []kept {
			var k []kept
			for f := 1; f <= 10; f++ {
				k = append(k, kept{f, 0, f}, kept{f, 1, 119}, kept{f, 4, 118 - f})
			}
			return k
		}()},
		{true, 5, []kept{{1, 0, 1}, {2, 0, 2}, {3, 0, 3}, {4, 0, 4}}},
	} {
		t.Run(fmt.Sprintf("train=%v,classes=%d", tc.train, tc.classes), func(t *testing.T) {
			ds, err := ImageNet16(dir, tc.train, tc.classes)
			if err != nil {
				t.Fatal(err)
			}
			wantClasses := tc.classes
			if wantClasses == 0 {
				wantClasses = 1000
			}
			if c, h, w := ds.Shape(); c != 3 || h != 16 || w != 16 || ds.Classes() != wantClasses || ds.Len() != len(tc.want) {
				t.Fatalf("shape %d×%d×%d classes %d Len %d, want 3×16×16, %d, %d", c, h, w, ds.Classes(), ds.Len(), wantClasses, len(tc.want))
			}
			img := make([]float32, imagenet16Pixels)
			for k, w := range tc.want {
				if l := ds.Image(k, img); l != w.target {
					t.Fatalf("image %d: target %d, want %d", k, l, w.target)
				}
				for _, j := range []int{0, 15, 16, 255, 256, 512, 767} {
					if want := float32(in16Pixel(w.file, w.rec, j)) / 255; img[j] != want {
						t.Fatalf("image %d value %d = %v, want %v (file %d record %d)", k, j, img[j], want, w.file, w.rec)
					}
				}
			}
		})
	}
}

// TestImageNet16PythonPickles reads pickles written by Python's own pickler
// (testdata/gen_imagenet16_fixtures.py): Python 2 at protocols 0 and 2,
// Python 3 at protocols 2 (bytes as _codecs.encode) and 4.
func TestImageNet16PythonPickles(t *testing.T) {
	for _, f := range []string{"imagenet16_py2_p0.pkl", "imagenet16_py2_p2.pkl", "imagenet16_py3_p2.pkl", "imagenet16_py3_p4.pkl"} {
		t.Run(f, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", f))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "val_data"), raw)
			ds, err := ImageNet16(dir, false, 120)
			if err != nil {
				t.Fatal(err)
			}
			// labels [1, 120, 121, 1000, 5]: records 0, 1, 4 are kept.
			if ds.Len() != 3 {
				t.Fatalf("Len %d, want 3", ds.Len())
			}
			img := make([]float32, imagenet16Pixels)
			for k, rec := range []int{0, 1, 4} {
				target := ds.Image(k, img)
				if want := []int{0, 119, 4}[k]; target != want {
					t.Fatalf("image %d: target %d, want %d", k, target, want)
				}
				for j, v := range img {
					if want := float32((7*rec+13*j)%256) / 255; v != want {
						t.Fatalf("image %d value %d = %v, want %v", k, j, v, want)
					}
				}
			}
		})
	}
}

func TestImageNet16Errors(t *testing.T) {
	good := imagenet16Pickle{labels: []int{1, 2, 3}}
	cases := []struct {
		name    string
		file    []byte
		want    error
		mention []string
	}{
		{"wrong magic", []byte("PK\x03\x04 a zip, not a pickle"), ErrBadMagic, []string{"first byte 0x50"}},
		{"empty", nil, ErrTruncated, []string{"empty file"}},
		{"truncated", good.bytes(0)[:1200], ErrTruncated, []string{"pickle ends early"}},
		{"unknown opcode", append([]byte{0x80, 2}, "Z"...), ErrFormat, []string{"unpickle: unknown opcode"}},
		{"opcode unknown to pickle", append([]byte{0x80, 2}, "\xff\xfe"...), ErrFormat, []string{"unpickle: unknown opcode 0xff at offset 2"}},
		{"opcode that panics gopickle", append([]byte{0x80, 2}, "(K\x01d."...), ErrFormat, []string{"malformed pickle"}},
		{"label zero", imagenet16Pickle{labels: []int{1, 0, 3}}.bytes(0), ErrLabelRange, []string{"record 1: label 0 out of range [1,1000]"}},
		{"label 1001", imagenet16Pickle{labels: []int{1, 2, 1001}}.bytes(0), ErrLabelRange, []string{"record 2: label 1001 out of range"}},
		{"row of 3072", imagenet16Pickle{labels: []int{1}, shape: []int{1, 3072}, raw: make([]byte, 3072)}.bytes(0), ErrShape, []string{"shape (1, 3072)", "want uint8 (u1) of shape (n, 768)"}},
		{"4-d data", imagenet16Pickle{labels: []int{1}, shape: []int{1, 3, 16, 16}}.bytes(0), ErrShape, []string{"shape (1, 3, 16, 16)"}},
		{"uint16 data", imagenet16Pickle{labels: []int{1}, dtype: "u2", raw: make([]byte, 2*768)}.bytes(0), ErrShape, []string{"u2 array"}},
		{"short data", imagenet16Pickle{labels: []int{1, 2}, raw: make([]byte, 768)}.bytes(0), ErrShape, []string{"holds 768 bytes, its shape needs 1536"}},
		{"labels length", imagenet16Pickle{labels: []int{1, 2}, shape: []int{3, 768}, raw: make([]byte, 3*768)}.bytes(0), ErrShape, []string{"'labels' has 2 entries, want 3"}},
		{"no data", imagenet16Pickle{labels: []int{1}, noData: true}.bytes(0), ErrShape, []string{"no 'data' key"}},
		{"not a dict", imagenet16Pickle{topList: true}.bytes(0), ErrShape, []string{"want a dict"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, filepath.Join(dir, "val_data"), tc.file)
			_, err := ImageNet16(dir, false, 120)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			for _, m := range append(tc.mention, "read ImageNet16 pickle "+path) {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		dir := t.TempDir()
		_, err := ImageNet16(dir, true, 120)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), filepath.Join(dir, "train_data_batch_1")) ||
			!strings.Contains(err.Error(), "bionas data fetch imagenet16-120") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("classes", func(t *testing.T) {
		if _, err := ImageNet16(t.TempDir(), false, 1001); err == nil {
			t.Fatal("1001 classes accepted")
		}
	})
}

func TestPyUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`abc`:                  "abc",
		`a\\b\'c\"d`:           `a\b'c"d`,
		`\x00\xff\n\r\t\a\b`:   "\x00\xff\n\r\t\a\b",
		`\0\12\177\f\v`:        "\x00\n\x7f\f\v",
		"line\\\ncontinued\\q": "linecontinued\\q",
	} {
		got, err := pyUnescape(in)
		if err != nil || got != want {
			t.Errorf("pyUnescape(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`\x4`, `abc\`, `\xzz`} {
		if _, err := pyUnescape(bad); err == nil {
			t.Errorf("pyUnescape(%q) succeeded", bad)
		}
	}
}
