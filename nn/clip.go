package nn

import "math"

// ClipGradNorm rescales the gradients of params (nil ones skipped) so that
// their global L2 norm is at most maxNorm, as PyTorch's clip_grad_norm_:
// with coef = maxNorm/(norm+1e-6), every gradient is multiplied by coef when
// coef < 1. It returns the norm before clipping. DARTS clips the weights'
// gradients (not the alphas') to 5.
//
// A non-finite norm is returned as is and the gradients are left untouched,
// so the caller can detect it and skip the step (PyTorch would scale by
// NaN or 0 instead).
func ClipGradNorm(params []*Tensor, maxNorm float32) float32 {
	sum := GradSumSquares(params) // summed where the gradients live
	norm := math.Sqrt(sum)
	if math.IsNaN(norm) || math.IsInf(norm, 0) {
		return float32(norm)
	}
	norm32 := float32(norm)
	coef := maxNorm / (norm32 + 1e-6)
	if coef < 1 {
		for _, p := range params {
			if p == nil {
				continue
			}
			if p.gstore != nil {
				d := p.store.dev
				mustDev(d, "nn.ClipGradNorm", d.Axpby(0, nil, coef, p.gstore.buf, p.Len()))
				continue
			}
			for i := range p.Grad {
				p.Grad[i] *= coef
			}
		}
	}
	return norm32
}
