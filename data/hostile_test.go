package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/internal/allocguard"
)

// long1 writes v as a pickle LONG1 (8 bytes, two's complement), the
// encoding Python uses for ints beyond 32 bits.
func (p *py2Pickle) long1(v uint64) {
	p.op(0x8a, 8)
	binary.Write(p, binary.LittleEndian, v)
}

// crafted16 is an ImageNet16 pickle whose 'data' array has the given shape
// (written with LONG1 so that it may exceed 32 bits), Fortran order and raw
// bytes, and one label.
func crafted16(shape []uint64, fortran bool, raw []byte) []byte {
	var p py2Pickle
	p.op(0x80, 2, '}', '(')
	p.str("data")
	p.global("numpy.core.multiarray", "_reconstruct")
	p.global("numpy", "ndarray")
	p.int(0)
	p.op(0x85)
	p.str("b")
	p.op(0x87, 'R')
	p.tuple(func() { p.int(1) }, func() {
		p.tuple(func() {
			for _, s := range shape {
				p.long1(s)
			}
		})
	}, func() {
		p.global("numpy", "dtype")
		p.str("u1")
		p.int(0)
		p.int(1)
		p.op(0x87, 'R')
		p.tuple(func() { p.int(3) }, func() { p.str("|") }, func() { p.op('N', 'N', 'N') },
			func() { p.int(-1); p.int(-1); p.int(0) })
		p.op('b')
	}, func() {
		if fortran {
			p.op(0x88)
		} else {
			p.op(0x89)
		}
	}, func() { p.str(string(raw)) })
	p.op('b')
	p.str("labels")
	p.op(']', '(')
	p.int(1)
	p.op('e', 'u', '.')
	return p.Bytes()
}

// hugeString is the 24-byte pickle of the issue: PROTO 2, then a
// BINUNICODE announcing 0xFFFFFFF0 bytes that are not there.
func hugeString() []byte {
	b := []byte{0x80, 2, 'X', 0xf0, 0xff, 0xff, 0xff}
	for len(b) < 24 {
		b = append(b, 'a')
	}
	return b
}

// TestHostileImageNet16 feeds the crafted pickles of issue 15: each must
// give an error naming the file, the field and what was expected, without
// a panic and without allocating more than a small multiple of its size.
func TestHostileImageNet16(t *testing.T) {
	cases := []struct {
		name    string
		file    []byte
		want    error
		mention []string
	}{
		{"data shape 2^56×768 in Fortran order", crafted16([]uint64{1 << 56, 768}, true, make([]byte, 8)), ErrShape,
			[]string{"numpy array (72057594037927936, 768) u1", "element count overflows"}},
		{"data shape 2^56×768 in C order", crafted16([]uint64{1 << 56, 768}, false, nil), ErrShape,
			[]string{"element count overflows"}},
		{"data shape 2^63-1 × 2", crafted16([]uint64{1<<63 - 1, 2}, true, nil), ErrShape, []string{"overflows"}},
		{"BINUNICODE of 0xFFFFFFF0 bytes", hugeString(), ErrTruncated,
			[]string{"opcode BINUNICODE at offset 2: length 4294967280, but only 17 bytes follow"}},
		{"BINBYTES8 of 2^62 bytes", append([]byte{0x80, 4, 0x8e}, binary.LittleEndian.AppendUint64(nil, 1<<62)...), ErrTruncated,
			[]string{"opcode BINBYTES8 at offset 2: length 4611686018427387904"}},
		{"FRAME of 2^40 bytes", append([]byte{0x80, 4, 0x95}, binary.LittleEndian.AppendUint64(nil, 1<<40)...), ErrTruncated,
			[]string{"opcode FRAME at offset 2: length 1099511627776"}},
		{"negative BINSTRING", []byte{0x80, 2, 'T', 0xff, 0xff, 0xff, 0xff, '.'}, ErrFormat, []string{"negative length -1"}},
		{"no STOP", []byte{0x80, 2, '}'}, ErrTruncated, []string{"without a STOP opcode"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, filepath.Join(dir, "val_data"), tc.file)
			var err error
			// The limit is the fixed cost of a load (buffers, the lookup
			// tables) plus a few times the file: never what it claims.
			allocguard.Check(t, "ImageNet16", 256<<10+8*uint64(len(tc.file)), func() {
				_, err = ImageNet16(dir, false, 120)
			})
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
}

// TestHostileIDX: a header's dimensions are not an allocation: a 16-byte
// file that claims 2^31 bytes of images is reported as truncated at the
// cost of the bytes that are there.
func TestHostileIDX(t *testing.T) {
	_, lab := smallIDX(4)
	cases := []struct {
		name    string
		images  []byte
		mention string
	}{
		{"2^31 bytes claimed, none there", idxFile(idxImagesMagic, []int{1 << 15, 1 << 8, 1 << 8}, nil),
			"record 0 of 32768: want 65536 bytes per record, file ends after 0 bytes of data"},
		{"2^31 bytes claimed, gzip", gz(idxFile(idxImagesMagic, []int{1 << 15, 1 << 8, 1 << 8}, make([]byte, 100))),
			"file ends after 100 bytes of data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ip := writeFile(t, filepath.Join(dir, "i"), tc.images)
			lp := writeFile(t, filepath.Join(dir, "l"), lab)
			var err error
			allocguard.Check(t, "LoadIDX", 1<<20, func() { _, err = LoadIDX(ip, lp) })
			if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), tc.mention) || !strings.Contains(err.Error(), ip) {
				t.Fatalf("err = %v, want ErrTruncated naming %s and %q", err, ip, tc.mention)
			}
		})
	}
}

// hostileFixtures are the crafted pickles of issue 15, kept in testdata so
// that the command line's tests can feed them to `bionas data info`.
func hostileFixtures() map[string][]byte {
	return map[string][]byte{
		"hostile_shape_overflow.pkl": crafted16([]uint64{1 << 56, 768}, true, make([]byte, 8)),
		"hostile_binunicode.pkl":     hugeString(),
	}
}

// TestHostileFixtures keeps testdata's crafted pickles equal to what the
// builders above write (BIONAS_WRITE_FIXTURES=1 rewrites them).
func TestHostileFixtures(t *testing.T) {
	for name, want := range hostileFixtures() {
		path := filepath.Join("testdata", name)
		if os.Getenv("BIONAS_WRITE_FIXTURES") != "" {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s differs from its builder (%v); rerun with BIONAS_WRITE_FIXTURES=1", path, err)
		}
	}
}
