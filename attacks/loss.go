package attacks

import (
	"math"

	"github.com/bionaslab/bionas/nn"
)

// The attack objectives, computed in float64 per row and returned with the
// gradient with respect to the logits. They run outside the graph: the
// attack seeds the graph's backward with their gradient (BackwardFrom).

// ceLoss is sgn·CE(z, labels) per row; the gradient is that of the mean
// over rows when mean is true (torchattacks' FGSM and PGD), of the sum
// otherwise. sgn = −1 gives a targeted attack's objective −CE(z, t).
//
// The gradient p − onehot is computed without cancellation: the label's
// entry as −Σ_{k≠y} p_k. With unit set, each row is moreover scaled by a
// positive factor, in log space, so that its largest entry has magnitude 1
// (and mean is ignored). Attacks that only use the sign of the input
// gradient ask for this: the backward pass is linear in its seed, image by
// image, so the sign is unchanged, while a saturated softmax — a logit gap
// beyond ~100 makes every p_k (k ≠ y) underflow float32, beyond ~745
// float64 — would otherwise seed exact zeros and show a model as robust
// only because its gradient vanished in floating point.
func ceLoss(labels []int, sgn float64, mean, unit bool) lossFunc {
	return func(z *nn.Tensor) ([]float32, []float32) {
		n, k := z.Shape[0], z.Shape[1]
		vals, dl := make([]float32, n), make([]float32, n*k)
		scale := sgn
		if mean {
			scale /= float64(n)
		}
		lp := make([]float64, k)
		g := make([]float64, k)
		for r := range n {
			nn.LogSoftmaxRow(lp, z.Data[r*k:(r+1)*k])
			y := labels[r]
			vals[r] = float32(-sgn * lp[y])
			shift := 0.0 // log of the factor the row is divided by
			if unit {
				shift = math.Inf(-1)
				for i, v := range lp {
					if i != y {
						shift = max(shift, v)
					}
				}
			}
			var others float64
			for i, v := range lp {
				if i != y {
					g[i] = math.Exp(v - shift)
					others += g[i]
				}
			}
			g[y] = -others
			rs := scale
			if unit {
				rs = sgn / math.Max(others, 1) // |g_y| = others is the largest entry
			}
			for i, v := range g {
				dl[r*k+i] = float32(rs * v)
			}
		}
		return vals, dl
	}
}

// unitRows scales each row of d (rows of k) so that its largest magnitude
// is 1, leaving zero rows alone: sign-preserving, see ceLoss.
func unitRows(d []float32, k int) {
	for r := 0; r < len(d); r += k {
		var m float32
		for _, v := range d[r : r+k] {
			m = max(m, float32(math.Abs(float64(v))))
		}
		if m > 0 {
			for i := r; i < r+k; i++ {
				d[i] /= m
			}
		}
	}
}

// dlrLoss is the difference-of-logits-ratio loss of Croce & Hein, per row:
//
//	DLR(z, y) = −(z_y − z_other) / (z_(1) − z_(3) + 1e-12)
//
// with z_(1) ≥ z_(2) ≥ z_(3) the sorted logits and z_other = z_(2) if the
// prediction is y, else z_(1). The gradient is that of the sum. It needs at
// least 3 classes (checked by the APGD constructor). With unit set the rows
// of the gradient are scaled to unit max-norm (see ceLoss).
func dlrLoss(labels []int, unit bool) lossFunc {
	return func(z *nn.Tensor) ([]float32, []float32) {
		n, k := z.Shape[0], z.Shape[1]
		vals, dl := make([]float32, n), make([]float32, n*k)
		for r := range n {
			row := z.Data[r*k : (r+1)*k]
			i1, i2, i3 := top3(row)
			y := labels[r]
			other := i1
			if i1 == y {
				other = i2
			}
			num := float64(row[y]) - float64(row[other])
			den := float64(row[i1]) - float64(row[i3]) + 1e-12
			vals[r] = float32(-num / den)
			g := dl[r*k : (r+1)*k]
			g[y] += float32(-1 / den)
			g[other] += float32(1 / den)
			g[i1] += float32(num / (den * den))
			g[i3] -= float32(num / (den * den))
		}
		if unit {
			unitRows(dl, k)
		}
		return vals, dl
	}
}

// top3 returns the indices of the three largest values (first index wins
// ties), len(v) ≥ 3.
func top3(v []float32) (a, b, c int) {
	a, b, c = -1, -1, -1
	for i, x := range v {
		switch {
		case a < 0 || x > v[a]:
			a, b, c = i, a, b
		case b < 0 || x > v[b]:
			b, c = i, b
		case c < 0 || x > v[c]:
			c = i
		}
	}
	return a, b, c
}

// klLoss is TPGD's objective: per row Σ_k p_k (log p_k − log softmax(z)_k)
// against the fixed clean distribution p (rows × K); terms with p = 0 add 0.
// The gradient is that of the sum over rows and classes (KLDivLoss with
// reduction "sum"); with unit set its rows are scaled to unit max-norm. A
// one-hot row of p (a saturated clean softmax) is the cross-entropy to its
// class, and is computed as ceLoss does, in log space.
func klLoss(p []float32, unit bool) lossFunc {
	return func(z *nn.Tensor) ([]float32, []float32) {
		n, k := z.Shape[0], z.Shape[1]
		vals, dl := make([]float32, n), make([]float32, n*k)
		lq := make([]float64, k)
		for r := range n {
			row := z.Data[r*k : (r+1)*k]
			ps := p[r*k : (r+1)*k]
			if c := oneHot(ps); c >= 0 {
				v, d := ceLoss([]int{c}, 1, false, unit)(nn.FromSlice(row, 1, k))
				vals[r] = v[0]
				copy(dl[r*k:(r+1)*k], d)
				continue
			}
			nn.LogSoftmaxRow(lq, row)
			var v, sp float64
			for i, pv := range ps {
				sp += float64(pv)
				if pv > 0 {
					v += float64(pv) * (math.Log(float64(pv)) - lq[i])
				}
			}
			vals[r] = float32(v)
			for i, l := range lq {
				dl[r*k+i] = float32(math.Exp(l)*sp - float64(ps[i]))
			}
		}
		if unit {
			unitRows(dl, k)
		}
		return vals, dl
	}
}

// oneHot returns c if p is exactly onehot(c), else −1.
func oneHot(p []float32) int {
	c := -1
	for i, v := range p {
		switch {
		case v == 1 && c < 0:
			c = i
		case v != 0:
			return -1
		}
	}
	return c
}

// softmaxRows returns softmax(z) row by row.
func softmaxRows(z *nn.Tensor) []float32 {
	n, k := z.Shape[0], z.Shape[1]
	out := make([]float32, n*k)
	p := make([]float64, k) // float64 until the end, as the losses compute it
	for r := range n {
		nn.SoftmaxRow(p, z.Data[r*k:(r+1)*k])
		for i, v := range p {
			out[r*k+i] = float32(v)
		}
	}
	return out
}

// margin is Square's success measure for one row: z_y − max_{k≠y} z_k
// untargeted, max_{k≠t} z_k − z_t targeted (y is then the target t). The
// attack succeeds when it is ≤ 0.
func margin(row []float32, y int, targeted bool) float32 {
	other := float32(math.Inf(-1))
	for i, v := range row {
		if i != y {
			other = max(other, v)
		}
	}
	if targeted {
		return other - row[y]
	}
	return row[y] - other
}

// rowCE is −log softmax(row)[y].
func rowCE(row []float32, y int) float32 {
	lp := make([]float64, len(row))
	nn.LogSoftmaxRow(lp, row)
	return float32(-lp[y])
}
