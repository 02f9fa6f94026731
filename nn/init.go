package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Init names a weight initialisation (REFERENCE.md §1.2); biotorch's
// "xavier" is the default of every rule.
type Init string

const (
	Xavier  Init = "xavier"  // U(−a, a), a = sqrt(6/(fan_in+fan_out))
	Kaiming Init = "kaiming" // PyTorch's default: U(−b, b), b = 1/sqrt(fan_in)
)

// ParseInit reads an Init name, case-insensitively; "" means Xavier.
func ParseInit(s string) (Init, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", string(Xavier):
		return Xavier, nil
	case string(Kaiming):
		return Kaiming, nil
	}
	return "", fmt.Errorf("unknown init %q (want %q or %q)", s, Xavier, Kaiming)
}

// Fill initialises t with this scheme's uniform distribution. It panics on
// an unknown Init.
func (in Init) Fill(t *Tensor, fanIn, fanOut int, rng *rand.Rand) {
	switch in {
	case Xavier:
		XavierUniform(t, fanIn, fanOut, rng)
	case Kaiming:
		KaimingUniform(t, fanIn, rng)
	default:
		panic(fmt.Sprintf("nn.Init.Fill: unknown init %q", string(in)))
	}
}

// Std is the standard deviation of this scheme's distribution, biotorch's
// scaling_factor (the uSF feedback scale). It panics on an unknown Init.
func (in Init) Std(fanIn, fanOut int) float32 {
	switch in {
	case Xavier:
		return XavierStd(fanIn, fanOut)
	case Kaiming:
		return KaimingStd(fanIn)
	}
	panic(fmt.Sprintf("nn.Init.Std: unknown init %q", string(in)))
}

// Fans returns PyTorch's fan_in and fan_out of a weight shape: (O, I) for a
// linear layer gives (I, O); (O, I/groups, kh, kw) for a convolution gives
// ((I/groups)·kh·kw, O·kh·kw), so a depthwise (C, 1, k, k) weight has
// fan_in k² and fan_out C·k². It panics on fewer than 2 dimensions.
func Fans(shape []int) (fanIn, fanOut int) {
	if len(shape) < 2 {
		panic(fmt.Sprintf("nn.Fans: need at least 2 dimensions, got shape %v", shape))
	}
	rf := 1
	for _, d := range shape[2:] {
		rf *= d
	}
	return shape[1] * rf, shape[0] * rf
}

// XavierUniform fills t from U(−a, a), a = sqrt(6/(fanIn+fanOut)) (gain 1).
func XavierUniform(t *Tensor, fanIn, fanOut int, rng *rand.Rand) {
	if fanIn+fanOut <= 0 {
		panic(fmt.Sprintf("nn.XavierUniform: fans %d, %d", fanIn, fanOut))
	}
	initFillUniform(t, math.Sqrt(6/float64(fanIn+fanOut)), rng)
}

// KaimingUniform fills t as PyTorch's default layer init,
// kaiming_uniform_(a=√5): U(−b, b) with b = 1/sqrt(fanIn).
func KaimingUniform(t *Tensor, fanIn int, rng *rand.Rand) {
	if fanIn <= 0 {
		panic(fmt.Sprintf("nn.KaimingUniform: fan_in %d", fanIn))
	}
	initFillUniform(t, 1/math.Sqrt(float64(fanIn)), rng)
}

// XavierStd = sqrt(2/(fanIn+fanOut)), the std of XavierUniform.
func XavierStd(fanIn, fanOut int) float32 {
	return float32(math.Sqrt(2 / float64(fanIn+fanOut)))
}

// KaimingStd = 1/sqrt(3·fanIn), the std of KaimingUniform.
func KaimingStd(fanIn int) float32 {
	return float32(1 / math.Sqrt(3*float64(fanIn)))
}

func initFillUniform(t *Tensor, bound float64, rng *rand.Rand) {
	for i := range t.Data {
		t.Data[i] = float32((2*rng.Float64() - 1) * bound)
	}
}
