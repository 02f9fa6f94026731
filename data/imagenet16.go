package data

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nlpodyssey/gopickle/types"
)

const (
	imagenet16Side   = 16
	imagenet16Pixels = 3 * imagenet16Side * imagenet16Side
	imagenet16Labels = 1000
)

// ImageNet16 loads the NAS-Bench-201 ImageNet16 pickles (Chrabaszcz et al.'s
// ImageNet downsampled to 16×16) from dir or dir/ImageNet16:
// train_data_batch_1 … train_data_batch_10 for training (1,281,167 images)
// or val_data (50,000). An empty dir means DefaultDir("imagenet16").
//
// Each file is a Python pickle (any protocol; written by Python 2) of a dict
// with 'data', a uint8 numpy array of shape (n, 768): per image 256 red, 256
// green and 256 blue bytes, each 16×16 row-major, as AutoDL-Projects reshapes
// it to (n, 3, 16, 16) (REFERENCE.md §7.1 says n×3072, but 3·16·16 = 768);
// and 'labels', n labels 1..1000 (a list, or an integer array). Train
// batches also carry 'mean', which is ignored.
//
// classes selects the ImageNet16-N subset of NAS-Bench-201: images with
// 1 ≤ label ≤ N are kept in file order and get target label−1, so
// ImageNet16(dir, true, 120) holds 151,700 images and ImageNet16(dir,
// false, 120) 6,000. classes 0 means all 1000. The files carry no class
// names; class k is named "class k+1" after its ImageNet32 label.
//
// Errors wrap ErrNotFound (a file is missing), ErrBadMagic (not a pickle),
// ErrTruncated (the pickle ends early), ErrFormat (it does not parse),
// ErrShape ('data' not n×768 uint8, or 'labels' not n integers) or
// ErrLabelRange (a label outside 1..1000; the message names the record).
func ImageNet16(dir string, train bool, classes int) (Dataset, error) {
	if classes == 0 {
		classes = imagenet16Labels
	}
	if classes < 1 || classes > imagenet16Labels {
		return nil, fmt.Errorf("ImageNet16: %d classes, want 1..%d", classes, imagenet16Labels)
	}
	if dir == "" {
		d, err := DefaultDir("imagenet16")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	files := []string{"val_data"}
	if train {
		files = nil
		for i := 1; i <= 10; i++ {
			files = append(files, fmt.Sprintf("train_data_batch_%d", i))
		}
	}
	folder := ""
	var missing []string
	for _, cand := range []string{dir, filepath.Join(dir, "ImageNet16")} {
		ok := true
		for _, f := range files {
			if st, err := os.Stat(filepath.Join(cand, f)); err != nil || !st.Mode().IsRegular() {
				missing = append(missing, filepath.Join(cand, f))
				ok = false
				break
			}
		}
		if ok {
			folder = cand
			break
		}
	}
	if folder == "" {
		return nil, fmt.Errorf("ImageNet16: %w: looked for %s; put the NAS-Bench-201 ImageNet16 files there "+
			"(see `bionas data fetch imagenet16-120 --dir %s`)", ErrNotFound, strings.Join(missing, " and "), dir)
	}
	var pix []byte
	var labels []int32
	for _, f := range files {
		path := filepath.Join(folder, f)
		data, labs, err := readImageNet16File(path)
		if err != nil {
			return nil, err
		}
		for i, l := range labs {
			if l <= classes {
				labels = append(labels, int32(l-1))
				pix = append(pix, data[i*imagenet16Pixels:(i+1)*imagenet16Pixels]...)
			}
		}
	}
	names := make([]string, classes)
	for i := range names {
		names[i] = fmt.Sprintf("class %d", i+1)
	}
	return newMemDataset(3, imagenet16Side, imagenet16Side, pix, labels, names), nil
}

// readImageNet16File reads one pickle and returns its n×768 pixel bytes (C
// order) and its n labels (1..1000, checked).
func readImageNet16File(path string) (string, []int, error) {
	fail := func(format string, args ...interface{}) (string, []int, error) {
		return "", nil, fmt.Errorf("read ImageNet16 pickle %s: "+format, append([]interface{}{path}, args...)...)
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fail("%w: %w", ErrNotFound, err)
		}
		return fail("%w", err)
	}
	defer f.Close()
	var first [1]byte
	if _, err := io.ReadFull(f, first[:]); err != nil {
		return fail("empty file: %w", ErrTruncated)
	}
	// Protocol 2+ starts with PROTO (0x80); protocols 0 and 1 start a dict
	// with MARK '(' or EMPTY_DICT '}'.
	if first[0] != 0x80 && first[0] != '(' && first[0] != '}' {
		return fail("first byte %#02x, want a pickle of a dict (0x80 PROTO, or '}' / '(' for protocols 0–1): %w",
			first[0], ErrBadMagic)
	}
	st, err := f.Stat()
	if err != nil {
		return fail("%w", err)
	}
	// Lengths are checked against the file before gopickle allocates them.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail("%w", err)
	}
	if err := scanPickle(f, st.Size()); err != nil {
		if errors.Is(err, ErrTruncated) {
			return fail("pickle ends early: %w", err)
		}
		return fail("unpickle: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail("%w", err)
	}
	obj, err := loadPickle(f, st.Size())
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fail("pickle ends early: %w (%v)", ErrTruncated, err)
		}
		if errors.Is(err, ErrShape) || errors.Is(err, ErrFormat) {
			return fail("%w", err)
		}
		return fail("unpickle: %v: %w", err, ErrFormat)
	}
	dict, ok := obj.(*types.Dict)
	if !ok {
		return fail("top level is %T, want a dict with 'data' and 'labels': %w", obj, ErrShape)
	}
	rawData, ok := dict.Get("data")
	if !ok {
		return fail("no 'data' key, want a dict with 'data' and 'labels': %w", ErrShape)
	}
	arr, ok := rawData.(*npArray)
	if !ok {
		return fail("'data' is %T, want a uint8 numpy array (n, %d): %w", rawData, imagenet16Pixels, ErrShape)
	}
	if arr.dtype == nil || arr.dtype.str != "u1" || len(arr.shape) != 2 || arr.shape[1] != imagenet16Pixels {
		return fail("'data' is a %s array of shape %s, want uint8 (u1) of shape (n, %d): %w",
			arr.dtype, arr.shapeString(), imagenet16Pixels, ErrShape)
	}
	n := arr.shape[0]
	data := arr.data
	if arr.fortran && n > 1 {
		t := make([]byte, len(data))
		for i := range n {
			for j := range imagenet16Pixels {
				t[i*imagenet16Pixels+j] = data[j*n+i]
			}
		}
		data = string(t)
	}
	rawLabels, ok := dict.Get("labels")
	if !ok {
		return fail("no 'labels' key, want a dict with 'data' and 'labels': %w", ErrShape)
	}
	var labs []int
	switch l := rawLabels.(type) {
	case *types.List:
		labs = make([]int, l.Len())
		for i := range labs {
			v, ok := toInt(l.Get(i))
			if !ok {
				return fail("record %d: label is %T, want an int: %w", i, l.Get(i), ErrShape)
			}
			labs[i] = v
		}
	case *npArray:
		if labs, err = l.ints(); err != nil {
			return fail("'labels': %w", err)
		}
	default:
		return fail("'labels' is %T, want a list of ints: %w", rawLabels, ErrShape)
	}
	if len(labs) != n {
		return fail("'labels' has %d entries, want %d (one per row of 'data'): %w", len(labs), n, ErrShape)
	}
	for i, l := range labs {
		if l < 1 || l > imagenet16Labels {
			return fail("record %d: label %d out of range [1,%d]: %w", i, l, imagenet16Labels, ErrLabelRange)
		}
	}
	return data, labs, nil
}
