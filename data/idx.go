package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// IDX magic numbers: two zero bytes, the element type (0x08 = unsigned
// byte) and the number of dimensions.
const (
	idxImagesMagic = 0x00000803
	idxLabelsMagic = 0x00000801
	// maxIDXBytes bounds the allocation a (corrupt) header can ask for.
	maxIDXBytes = 1 << 31
)

// The file names of the MNIST family, as published.
const (
	mnistTrainImages = "train-images-idx3-ubyte"
	mnistTrainLabels = "train-labels-idx1-ubyte"
	mnistTestImages  = "t10k-images-idx3-ubyte"
	mnistTestLabels  = "t10k-labels-idx1-ubyte"
)

func digitNames() []string {
	return []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
}

func fashionNames() []string {
	return []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
		"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
}

// LoadIDX reads an IDX image file (magic 0x00000803, n×rows×cols unsigned
// bytes) and its IDX label file (magic 0x00000801, n unsigned bytes), gzip
// compressed or plain (recognised by content, not by name). The dataset has
// one channel and max(label)+1 classes named "0", "1", ...
//
// Errors wrap ErrBadMagic (wrong magic number), ErrTruncated (a file ends
// inside record i; the message gives i and the record size) or ErrShape (the
// files hold different numbers of records).
func LoadIDX(imagesPath, labelsPath string) (Dataset, error) {
	return loadIDX(imagesPath, labelsPath, nil)
}

// loadIDX reads an image/label pair; with names set, labels must lie in
// [0, len(names)) (ErrLabelRange otherwise).
func loadIDX(imagesPath, labelsPath string, names []string) (Dataset, error) {
	dims, pix, err := readIDX(imagesPath, idxImagesMagic, "images")
	if err != nil {
		return nil, err
	}
	ldims, lab, err := readIDX(labelsPath, idxLabelsMagic, "labels")
	if err != nil {
		return nil, err
	}
	if dims[0] != ldims[0] {
		return nil, fmt.Errorf("read IDX labels %s: %d labels for %d images in %s: %w",
			labelsPath, ldims[0], dims[0], imagesPath, ErrShape)
	}
	labels := make([]int32, len(lab))
	maxLab := 0
	for i, v := range lab {
		if names != nil && int(v) >= len(names) {
			return nil, fmt.Errorf("read IDX labels %s: record %d: label %d out of range [0,%d): %w",
				labelsPath, i, v, len(names), ErrLabelRange)
		}
		labels[i] = int32(v)
		maxLab = max(maxLab, int(v))
	}
	if names == nil {
		names = make([]string, maxLab+1)
		for i := range names {
			names[i] = fmt.Sprint(i)
		}
	}
	return newMemDataset(1, dims[1], dims[2], pix, labels, names), nil
}

// readIDX reads an unsigned-byte IDX file with the given magic number and
// returns its dimensions and its bytes.
func readIDX(path string, magic uint32, what string) ([]int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("read IDX %s %s: %w: %w", what, path, ErrNotFound, err)
		}
		return nil, nil, fmt.Errorf("read IDX %s %s: %w", what, path, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	var r io.Reader = br
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("read IDX %s %s: gzip header: %v: %w", what, path, err, ErrFormat)
		}
		defer zr.Close()
		r = zr
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, nil, fmt.Errorf("read IDX %s %s: header: want 4-byte magic %#08x: %w (%v)",
			what, path, magic, ErrTruncated, err)
	}
	if got := binary.BigEndian.Uint32(hdr[:]); got != magic {
		return nil, nil, fmt.Errorf("read IDX %s %s: magic %#08x, want %#08x (%d-dimensional unsigned bytes): %w",
			what, path, got, magic, magic&0xff, ErrBadMagic)
	}
	nd := int(magic & 0xff)
	dims := make([]int, nd)
	raw := make([]byte, 4*nd)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, nil, fmt.Errorf("read IDX %s %s: header: want %d dimensions: %w (%v)",
			what, path, nd, ErrTruncated, err)
	}
	total := 1
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(raw[4*i:]))
		total *= max(dims[i], 1)
		if total > maxIDXBytes {
			return nil, nil, fmt.Errorf("read IDX %s %s: dimensions %v exceed %d bytes: %w",
				what, path, dims, maxIDXBytes, ErrShape)
		}
	}
	for _, d := range dims[1:] {
		if d == 0 {
			// A record of no values (an image 0 pixels wide) is no image.
			return nil, nil, fmt.Errorf("read IDX %s %s: dimensions %v: every size after the count must be at least 1: %w",
				what, path, dims, ErrShape)
		}
	}
	if dims[0] == 0 {
		total = 0
	}
	rec := 1
	for _, d := range dims[1:] {
		rec *= d
	}
	// The header's count is not trusted with an allocation: the buffer
	// grows with the bytes that actually arrive (a 16-byte file claiming
	// 2^31 bytes costs a few kilobytes, not 2 GiB).
	buf, err := io.ReadAll(io.LimitReader(r, int64(total)))
	if n := len(buf); err != nil || n < total {
		i := 0
		if rec > 0 {
			i = n / rec
		}
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			// A corrupt gzip stream, or a read error.
			return nil, nil, fmt.Errorf("read IDX %s %s: record %d of %d: %v: %w", what, path, i, dims[0], err, ErrFormat)
		}
		return nil, nil, fmt.Errorf("read IDX %s %s: record %d of %d: want %d bytes per record, file ends after %d bytes of data: %w (%v)",
			what, path, i, dims[0], rec, n, ErrTruncated, io.ErrUnexpectedEOF)
	}
	if zr, ok := r.(*gzip.Reader); ok {
		// Read to the end of the gzip stream so that its CRC is checked.
		if _, err := io.Copy(io.Discard, zr); err != nil {
			return nil, nil, fmt.Errorf("read IDX %s %s: after %d records: %v: %w", what, path, dims[0], err, ErrFormat)
		}
	}
	return dims, buf, nil
}

// findIDX returns the path of an IDX file called base (or base.gz) in one of
// the folders, or an ErrNotFound error listing the places looked at.
func findIDX(dirs []string, base string) (string, error) {
	var looked []string
	for _, d := range dirs {
		for _, name := range []string{base + ".gz", base} {
			p := filepath.Join(d, name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p, nil
			}
			looked = append(looked, p)
		}
	}
	return "", fmt.Errorf("%s not found: looked at %s: %w", base, strings.Join(looked, ", "), ErrNotFound)
}

// loadMNISTFamily loads the train or test pair of an MNIST-like dataset from
// dir (or dir/raw, torchvision's layout).
func loadMNISTFamily(dir string, train bool, names []string, fetchName string) (Dataset, error) {
	imgBase, labBase := mnistTestImages, mnistTestLabels
	if train {
		imgBase, labBase = mnistTrainImages, mnistTrainLabels
	}
	dirs := []string{dir, filepath.Join(dir, "raw")}
	ip, err := findIDX(dirs, imgBase)
	if err == nil {
		var lp string
		if lp, err = findIDX(dirs, labBase); err == nil {
			return loadIDX(ip, lp, names)
		}
	}
	return nil, fmt.Errorf("%s in %s: %w; run `bionas data fetch %s --dir %s`", fetchName, dir, err, fetchName, dir)
}

// MNISTDir loads MNIST from the IDX files in dir (or dir/raw), as written by
// `bionas data fetch mnist --dir dir` or torchvision.
func MNISTDir(dir string, train bool) (Dataset, error) {
	return loadMNISTFamily(dir, train, digitNames(), "mnist")
}

// DebianFashionMNIST is where Debian's dataset-fashion-mnist package puts
// the IDX files.
const DebianFashionMNIST = "/usr/share/datasets/fashion-mnist"

// FashionMNIST loads Fashion-MNIST (10 classes of clothing, MNIST format)
// from the IDX files in dir (or dir/raw). An empty dir means the default
// cache folder, DefaultDir("fashion-mnist"), if it holds the files, else
// Debian's package folder (DebianFashionMNIST), as MNIST needs no set-up
// either.
func FashionMNIST(dir string, train bool) (Dataset, error) {
	if dir == "" {
		d, err := DefaultDir("fashion-mnist")
		if err != nil {
			return nil, err
		}
		ds, err := loadMNISTFamily(d, train, fashionNames(), "fashion-mnist")
		if err == nil || !errors.Is(err, ErrNotFound) {
			return ds, err
		}
		if _, serr := os.Stat(DebianFashionMNIST); serr != nil {
			return nil, fmt.Errorf("%w (or install Debian's dataset-fashion-mnist, which puts it in %s)", err, DebianFashionMNIST)
		}
		dir = DebianFashionMNIST
	}
	return loadMNISTFamily(dir, train, fashionNames(), "fashion-mnist")
}
