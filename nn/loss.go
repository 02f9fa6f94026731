package nn

import (
	"fmt"
	"math"
)

// rowsOf returns the row count and row length of a 2-D (rows×K) tensor.
func rowsOf(op string, x *Tensor) (rows, k int) {
	if len(x.Shape) != 2 || x.Shape[1] == 0 {
		panic(fmt.Sprintf("nn.%s: want a 2-D (rows×K) tensor with K ≥ 1, got shape %v", op, x.Shape))
	}
	return x.Shape[0], x.Shape[1]
}

// LogSoftmaxRow writes log softmax(x) into dst, stably (shifted by the
// max, the sum in float64): the one row-wise log-softmax of the project,
// for code that works on logits outside a graph (attacks' losses, panes).
func LogSoftmaxRow[T float32 | float64](dst []T, x []float32) {
	mx := x[0]
	for _, v := range x[1:] {
		mx = max(mx, v)
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v - mx))
	}
	lse := float64(mx) + math.Log(s)
	for i, v := range x {
		dst[i] = T(float64(v) - lse)
	}
}

// SoftmaxRow writes softmax(x) into dst, as exp of LogSoftmaxRow.
func SoftmaxRow[T float32 | float64](dst []T, x []float32) {
	LogSoftmaxRow(dst, x)
	for i, v := range dst {
		dst[i] = T(math.Exp(float64(v)))
	}
}

// Softmax returns the softmax of each row of a 2-D (rows×K) tensor.
func (g *Graph) Softmax(x *Tensor) *Tensor {
	rows, k := rowsOf("Softmax", x)
	if d := x.Device(); d != nil {
		y := g.allocOn(d, x.Shape...)
		mustDev(d, "nn.Softmax", d.Softmax(x.Buf(), y.Buf(), rows, k))
		if g.Records(x) {
			g.Record(y, func() {
				mustDev(d, "nn.Softmax backward", d.SoftmaxBackward(y.Buf(), y.GradBufDev(), x.GradBufDev(), rows, k))
			})
		}
		return y
	}
	y := g.Alloc(x.Shape...)
	parRows(rows, 4*k, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			SoftmaxRow(y.Data[r*k:(r+1)*k], x.Data[r*k:(r+1)*k])
		}
	})
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			parRows(rows, 2*k, func(lo, hi int) {
				for r := lo; r < hi; r++ {
					ys, dys := y.Data[r*k:(r+1)*k], y.Grad[r*k:(r+1)*k]
					var dot float32 // dx = y ⊙ (dy − ⟨dy, y⟩)
					for i, v := range ys {
						dot += v * dys[i]
					}
					for i, v := range ys {
						dx[r*k+i] += v * (dys[i] - dot)
					}
				}
			})
		})
	}
	return y
}

// LogSoftmax returns the log softmax of each row of a 2-D (rows×K) tensor.
func (g *Graph) LogSoftmax(x *Tensor) *Tensor {
	rows, k := rowsOf("LogSoftmax", x)
	noDevice("LogSoftmax", x)
	y := g.Alloc(x.Shape...)
	parRows(rows, 4*k, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			LogSoftmaxRow(y.Data[r*k:(r+1)*k], x.Data[r*k:(r+1)*k])
		}
	})
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			parRows(rows, 2*k, func(lo, hi int) {
				for r := lo; r < hi; r++ {
					ys, dys := y.Data[r*k:(r+1)*k], y.Grad[r*k:(r+1)*k]
					var s float32 // dx = dy − softmax·Σdy
					for _, d := range dys {
						s += d
					}
					for i, v := range ys {
						dx[r*k+i] += dys[i] - float32(math.Exp(float64(v)))*s
					}
				}
			})
		})
	}
	return y
}

// checkLabels panics unless labels has one class index in [0, k) per row.
func checkLabels(op string, logits *Tensor, labels []int, k int) {
	if len(labels) != logits.Shape[0] {
		panic(fmt.Sprintf("nn.%s: %d labels for logits of shape %v", op, len(labels), logits.Shape))
	}
	for i, l := range labels {
		if l < 0 || l >= k {
			panic(fmt.Sprintf("nn.%s: label %d of sample %d out of range for logits of shape %v", op, l, i, logits.Shape))
		}
	}
}

// CrossEntropy returns the mean over the batch of −Σ_k q_k·log softmax(logits)_k
// with q = (1−smoothing)·onehot(label) + smoothing/K, as PyTorch's
// cross_entropy with label_smoothing. The output has shape [1].
func (g *Graph) CrossEntropy(logits *Tensor, labels []int, smoothing float32) *Tensor {
	rows, k := rowsOf("CrossEntropy", logits)
	checkLabels("CrossEntropy", logits, labels, k)
	if smoothing < 0 || smoothing > 1 {
		panic(fmt.Sprintf("nn.CrossEntropy: smoothing %v outside [0, 1]", smoothing))
	}
	if rows == 0 {
		panic(fmt.Sprintf("nn.CrossEntropy: empty batch, logits of shape %v", logits.Shape))
	}
	if d := logits.Device(); d != nil {
		return g.crossEntropyDev(d, logits, labels, smoothing)
	}
	off, on := float64(smoothing)/float64(k), 1-float64(smoothing)
	logp := make([]float32, logits.Len())
	var loss float64
	for r := range rows {
		lp := logp[r*k : (r+1)*k]
		LogSoftmaxRow(lp, logits.Data[r*k:(r+1)*k])
		loss -= on * float64(lp[labels[r]])
		if off != 0 {
			var s float64
			for _, v := range lp {
				s += float64(v)
			}
			loss -= off * s
		}
	}
	y := g.Alloc(1)
	y.Data[0] = float32(loss / float64(rows))
	if g.Records(logits) {
		g.Record(y, func() {
			// d/dz = (softmax − q)/N.
			dx := logits.GradBuf()
			scale := y.Grad[0] / float32(rows)
			for r := range rows {
				for i, v := range logp[r*k : (r+1)*k] {
					q := float32(off)
					if i == labels[r] {
						q += float32(on)
					}
					dx[r*k+i] += scale * (float32(math.Exp(float64(v))) - q)
				}
			}
		})
	}
	return y
}

// CrossEntropyPerSample returns −log softmax(logits)[label] for each row,
// with no graph (attacks and evaluation).
func CrossEntropyPerSample(logits *Tensor, labels []int) []float32 {
	rows, k := rowsOf("CrossEntropyPerSample", logits)
	checkLabels("CrossEntropyPerSample", logits, labels, k)
	out := make([]float32, rows)
	lp := make([]float32, k)
	vals := logits.Values() // the logits are read, so a device's come back
	for r := range rows {
		LogSoftmaxRow(lp, vals[r*k:(r+1)*k])
		out[r] = -lp[labels[r]]
	}
	return out
}

// KLDivergence returns Σ over rows and classes of p·(log p − log softmax(logits)),
// as torch's KLDivLoss(reduction='sum') on log_softmax(logits); terms with
// p = 0 contribute 0. p is a constant (no gradient); the output has shape [1].
func (g *Graph) KLDivergence(p *Tensor, logits *Tensor) *Tensor {
	rows, k := rowsOf("KLDivergence", logits)
	mustSameShape("KLDivergence", p, logits)
	noDevice("KLDivergence", p, logits)
	logq := make([]float32, logits.Len())
	var loss float64
	for r := range rows {
		lq := logq[r*k : (r+1)*k]
		LogSoftmaxRow(lq, logits.Data[r*k:(r+1)*k])
		for i, pv := range p.Data[r*k : (r+1)*k] {
			if pv != 0 {
				loss += float64(pv) * (math.Log(float64(pv)) - float64(lq[i]))
			}
		}
	}
	y := g.Alloc(1)
	y.Data[0] = float32(loss)
	if g.Records(logits) {
		g.Record(y, func() {
			// d/dz_i = softmax_i·Σp − p_i (Σp is 1 for a distribution).
			dx := logits.GradBuf()
			d := y.Grad[0]
			for r := range rows {
				ps := p.Data[r*k : (r+1)*k]
				var sp float32
				for _, v := range ps {
					sp += v
				}
				for i, v := range logq[r*k : (r+1)*k] {
					dx[r*k+i] += d * (float32(math.Exp(float64(v)))*sp - ps[i])
				}
			}
		})
	}
	return y
}

// Argmax returns the index of the largest logit of each row (the first one
// on ties).
func Argmax(logits *Tensor) []int {
	rows, k := rowsOf("Argmax", logits)
	out := make([]int, rows)
	vals := logits.Values()
	for r := range rows {
		row := vals[r*k : (r+1)*k]
		best := 0
		for i, v := range row {
			if v > row[best] {
				best = i
			}
		}
		out[r] = best
	}
	return out
}

// Accuracy counts the rows whose argmax equals the label.
func Accuracy(logits *Tensor, labels []int) (correct int) {
	if len(labels) != logits.Dim(0) {
		panic(fmt.Sprintf("nn.Accuracy: %d labels for logits of shape %v", len(labels), logits.Shape))
	}
	for i, a := range Argmax(logits) {
		if a == labels[i] {
			correct++
		}
	}
	return correct
}
