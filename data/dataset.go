package data

import "fmt"

// Dataset is a finite, indexable set of labelled images.
//
// Implementations in this package are safe for concurrent use by several
// goroutines (Image only reads).
type Dataset interface {
	// Len returns the number of images.
	Len() int
	// Shape returns the shape of one image: channels, height and width.
	Shape() (c, h, w int)
	// Classes returns the number of classes; labels lie in [0, Classes()).
	Classes() int
	// ClassNames returns one name per class (a fresh slice).
	ClassNames() []string
	// Image writes the i-th image as C·H·W float32 values in [0,1] (CHW
	// order) into dst and returns its label. It panics if i is out of range
	// or dst is shorter than C·H·W.
	Image(i int, dst []float32) int
}

// Batch is a batch of images and labels.
type Batch struct {
	// X holds N·C·H·W values in NCHW order.
	X []float32
	// N, C, H, W give the shape of X. N may be smaller than the loader's
	// batch size for the last batch of an epoch (unless DropLast).
	N, C, H, W int
	// Y holds the N labels.
	Y []int
}

// memDataset keeps images as bytes, one image after the other, each in CHW
// order, and converts them to [0,1] on demand with byte/255, the same
// conversion as torchvision's ToTensor.
type memDataset struct {
	c, h, w int
	pix     []byte  // Len()·c·h·w bytes
	labels  []int32 // Len() labels in [0, len(names))
	names   []string
	lut     [256]float32
}

func newMemDataset(c, h, w int, pix []byte, labels []int32, names []string) *memDataset {
	d := &memDataset{c: c, h: h, w: w, pix: pix, labels: labels, names: names}
	for v := range d.lut {
		d.lut[v] = float32(v) / 255
	}
	return d
}

func (d *memDataset) Len() int             { return len(d.labels) }
func (d *memDataset) Shape() (c, h, w int) { return d.c, d.h, d.w }
func (d *memDataset) Classes() int         { return len(d.names) }
func (d *memDataset) ClassNames() []string { return append([]string(nil), d.names...) }
func (d *memDataset) raw(i int) []byte     { n := d.c * d.h * d.w; return d.pix[i*n : (i+1)*n] }
func (d *memDataset) Image(i int, dst []float32) int {
	src := d.raw(i)
	dst = dst[:len(src)]
	for j, v := range src {
		dst[j] = d.lut[v]
	}
	return int(d.labels[i])
}

// subset is a view of some indices of a dataset.
type subset struct {
	Dataset
	idx []int
}

// Subset returns the dataset made of the images of ds at the given indices,
// in that order. It panics if an index is out of range. The indices are
// copied.
func Subset(ds Dataset, indices []int) Dataset {
	n := ds.Len()
	for _, i := range indices {
		if i < 0 || i >= n {
			panic(fmt.Sprintf("data.Subset: index %d out of range [0,%d)", i, n))
		}
	}
	return &subset{Dataset: ds, idx: append([]int(nil), indices...)}
}

func (s *subset) Len() int                       { return len(s.idx) }
func (s *subset) Image(i int, dst []float32) int { return s.Dataset.Image(s.idx[i], dst) }

// SearchSplit halves a training set for the bilevel search as DARTS does
// (train_portion 0.5): train holds the first ⌊n/2⌋ indices (weights), val the
// rest (architecture parameters). Both are in index order; a Loader with
// Shuffle samples them randomly.
func SearchSplit(ds Dataset) (train, val []int) {
	return Split(ds, 0.5)
}

// Split splits the indices 0..n-1 of ds at ⌊portion·n⌋: first holds the
// indices before the split, second those from it on. portion is clamped to
// [0,1].
func Split(ds Dataset, portion float64) (first, second []int) {
	n := ds.Len()
	portion = min(max(portion, 0), 1)
	k := int(portion * float64(n))
	first = make([]int, k)
	second = make([]int, n-k)
	for i := range first {
		first[i] = i
	}
	for i := range second {
		second[i] = k + i
	}
	return first, second
}
