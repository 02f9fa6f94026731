package attacks

import (
	"fmt"
	"math"
)

// BlackBoxLabel is how reports and steppers name the "gradient mode" of an
// attack that takes no gradient of the attacked model (One-Pixel, Square,
// transfer): it only queries the model's outputs.
const BlackBoxLabel = "black-box"

// Gradient names how attack s in mode m gets its direction: "own" or
// "true" for a white-box attack, BlackBoxLabel for the others (whatever m
// is).
func Gradient(s Spec, m GradMode) string {
	if !s.WhiteBox() {
		return BlackBoxLabel
	}
	if m == "" {
		m = Own
	}
	return string(m)
}

// Budget describes an attack's perturbation budget in a few characters:
// "ε 0.3" for the L∞ attacks, "1 pixel" or "3 pixels" for One-Pixel, which
// sets pixels to any value (an L0 budget: no ε bounds it).
func Budget(s Spec) string {
	if k := PixelBudget(s); k > 0 {
		if k == 1 {
			return "1 pixel"
		}
		return fmt.Sprintf("%d pixels", k)
	}
	if e := s.Epsilon(); e > 0 {
		return "ε " + fmtEps(e)
	}
	return ""
}

// PixelBudget is the number of pixels an L0 attack may change (One-Pixel's
// Pixels), 0 for every other attack.
func PixelBudget(s Spec) int {
	if c, ok := s.(OnePixelConfig); ok {
		return c.withDefaults().Pixels
	}
	return 0
}

// BudgetWarning says, when it is so, that attack s cannot use its ε: an
// iterative L∞ attack whose steps of α move a pixel at most steps·α from
// where it starts, and steps·α < ε (PGD, TPGD, and a transfer crafted by
// them). Such an attack reports a model more robust than it is: with
// torchattacks' α 2/255 and 10 steps, PGD at ε 0.3 moves at most 0.078 and
// may leave more images standing than FGSM, which takes one step of ε.
// It returns "" when the budget is reachable (FGSM steps ε at once; APGD
// starts with steps of 2ε; Square moves windows by 2ε).
func BudgetWarning(s Spec) string {
	name, eps, alpha, steps, key := "", 0.0, 0.0, 0, ""
	switch c := s.(type) {
	case PGDConfig:
		c = c.withDefaults()
		name, eps, alpha, steps, key = "PGD", c.Eps, c.Alpha, c.Steps, "pgd"
	case TPGDConfig:
		c = c.withDefaults()
		name, eps, alpha, steps, key = "TPGD", c.Eps, c.Alpha, c.Steps, "tpgd"
	case TransferConfig:
		if w := BudgetWarning(c.withDefaults().Attack); w != "" {
			return "crafted by " + w
		}
		return ""
	default:
		return ""
	}
	reach := alpha * float64(steps)
	if reach >= eps*(1-1e-9) {
		return ""
	}
	return fmt.Sprintf("%s: %d steps × α %s = %.3f < ε %s: it cannot use its budget and overstates robustness; use ≥ %d steps (%s.steps) or α ≥ %.3g (%s.alpha)",
		name, steps, fmtEps(alpha), reach, fmtEps(eps), StepsToReach(eps, alpha), key, eps/float64(max(steps, 1)), key)
}

// StepsToReach is the number of steps of α an iterative attack needs to
// move ε: ⌈ε/α⌉ (0 when α is not positive).
func StepsToReach(eps, alpha float64) int {
	if !(alpha > 0) {
		return 0
	}
	return int(math.Ceil(eps/alpha - 1e-9))
}
