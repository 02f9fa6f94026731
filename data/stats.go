package data

import "math"

// Stats summarises a dataset.
type Stats struct {
	// Len is the number of images; C, H, W their shape.
	Len, C, H, W int
	// Counts holds the number of images of each class.
	Counts []int
	// Mean and Std are the per-channel mean and (population) standard
	// deviation of the pixel values in [0,1].
	Mean, Std []float64
}

// ComputeStats reads every image of ds once.
func ComputeStats(ds Dataset) Stats {
	c, h, w := ds.Shape()
	s := Stats{Len: ds.Len(), C: c, H: h, W: w, Counts: make([]int, ds.Classes()),
		Mean: make([]float64, c), Std: make([]float64, c)}
	sum := make([]float64, c)
	sq := make([]float64, c)
	img := make([]float32, c*h*w)
	for i := range s.Len {
		lab := ds.Image(i, img)
		if lab >= 0 && lab < len(s.Counts) {
			s.Counts[lab]++
		}
		for ch := range c {
			var a, b float64
			for _, v := range img[ch*h*w : (ch+1)*h*w] {
				a += float64(v)
				b += float64(v) * float64(v)
			}
			sum[ch] += a
			sq[ch] += b
		}
	}
	if m := float64(s.Len * h * w); m > 0 {
		for ch := range c {
			s.Mean[ch] = sum[ch] / m
			s.Std[ch] = math.Sqrt(max(sq[ch]/m-s.Mean[ch]*s.Mean[ch], 0))
		}
	}
	return s
}

// channelMean returns the per-channel mean pixel value of the images at idx.
func channelMean(ds Dataset, idx []int) []float32 {
	c, h, w := ds.Shape()
	sum := make([]float64, c)
	img := make([]float32, c*h*w)
	for _, i := range idx {
		ds.Image(i, img)
		for ch := range c {
			var a float64
			for _, v := range img[ch*h*w : (ch+1)*h*w] {
				a += float64(v)
			}
			sum[ch] += a
		}
	}
	out := make([]float32, c)
	if m := float64(len(idx) * h * w); m > 0 {
		for ch := range c {
			out[ch] = float32(sum[ch] / m)
		}
	}
	return out
}
