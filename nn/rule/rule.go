// Package rule names the feedback (learning) rules a parametric layer can use
// and builds the feedback matrix B that replaces W in the backward pass.
//
// Semantics follow biotorch (see ../shared/REFERENCE.md §1): the weight
// gradient is always the true local gradient; only the error sent to the
// layer below changes. ReLU, BN and pooling are always exact.
package rule

import (
	"fmt"
	"strings"
)

// Rule is a learning rule's canonical name, as used in flags, JSON and the UI.
type Rule string

// The rules. BP is ordinary back-propagation.
const (
	BP   Rule = "bp"   // error sent down through Wᵀ
	FA   Rule = "fa"   // fixed random B, drawn once (feedback alignment)
	DFA  Rule = "dfa"  // output error sent straight to the layer through a fixed random B
	USF  Rule = "usf"  // B = scale·sign(W), scale = the init std sqrt(2/(fan_in+fan_out))
	BRSF Rule = "brsf" // B = |R|·sign(W), R redrawn at every training forward
	FRSF Rule = "frsf" // B = |R|·sign(W), R drawn once at construction
	Hebb Rule = "hebb" // Hebbian convolution: weights set by a local outer-product rule
	PC   Rule = "pc"   // predictive-coding convolution
)

// All lists every rule in canonical order.
var All = []Rule{BP, FA, DFA, USF, BRSF, FRSF, Hebb, PC}

// Feedback lists the rules that a conv or linear layer can carry as its
// backward path (Hebb and PC are layer kinds of their own, not feedback paths).
var Feedback = []Rule{BP, FA, DFA, USF, BRSF, FRSF}

// Parse turns a name (any case, surrounding spaces ignored) into a Rule.
func Parse(s string) (Rule, error) {
	r := Rule(strings.ToLower(strings.TrimSpace(s)))
	for _, k := range All {
		if r == k {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown learning rule %q: want one of %s", s, names(All))
}

// IsFeedback reports whether r is a backward path a conv or linear layer can use.
func (r Rule) IsFeedback() bool {
	for _, k := range Feedback {
		if r == k {
			return true
		}
	}
	return false
}

// SignConcordant reports whether B always has the signs of W.
func (r Rule) SignConcordant() bool { return r == USF || r == BRSF || r == FRSF }

// String returns the canonical name.
func (r Rule) String() string { return string(r) }

// Describe is a one-line human description, used by help texts and legends.
func (r Rule) Describe() string {
	switch r {
	case BP:
		return "back-propagation (Wᵀ)"
	case FA:
		return "feedback alignment: fixed random B"
	case DFA:
		return "direct feedback alignment: output error through fixed random B"
	case USF:
		return "uniform sign feedback: B = scale·sign(W)"
	case BRSF:
		return "batchwise random-magnitude sign feedback: B = |R|·sign(W), R redrawn each step"
	case FRSF:
		return "fixed random-magnitude sign feedback: B = |R|·sign(W), R fixed"
	case Hebb:
		return "Hebbian convolution: local outer-product update"
	case PC:
		return "predictive-coding convolution"
	}
	return "unknown rule"
}

// Name is the rule's short name, for legends: Describe up to its colon or
// parenthesis ("feedback alignment", "back-propagation").
func (r Rule) Name() string {
	d := r.Describe()
	if i := strings.IndexAny(d, ":("); i > 0 {
		d = strings.TrimSpace(d[:i])
	}
	return d
}

func names(rs []Rule) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}
