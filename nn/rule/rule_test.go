package rule

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Rule
		wantErr bool
	}{
		{"bp", BP, false}, {" FA ", FA, false}, {"dfa", DFA, false}, {"uSF", USF, false},
		{"brsf", BRSF, false}, {"frsf", FRSF, false}, {"hebb", Hebb, false}, {"pc", PC, false},
		{"", "", true}, {"backprop", "", true},
	} {
		got, err := Parse(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("Parse(%q) = %q, %v", tc.in, got, err)
		}
		if err != nil && !strings.Contains(err.Error(), "bp, fa, dfa") {
			t.Errorf("Parse(%q) error %q does not list the valid rules", tc.in, err)
		}
	}
}

func TestKinds(t *testing.T) {
	for _, r := range All {
		if r.Describe() == "unknown rule" {
			t.Errorf("%s has no description", r)
		}
	}
	if Hebb.IsFeedback() || PC.IsFeedback() || !FA.IsFeedback() {
		t.Error("IsFeedback wrong")
	}
	for _, r := range []Rule{USF, BRSF, FRSF} {
		if !r.SignConcordant() {
			t.Errorf("%s should be sign-concordant", r)
		}
	}
	if FA.SignConcordant() || BP.SignConcordant() {
		t.Error("fa/bp are not sign-concordant")
	}
}

func TestName(t *testing.T) {
	for r, want := range map[Rule]string{BP: "back-propagation", FA: "feedback alignment", PC: "predictive-coding convolution", Hebb: "Hebbian convolution"} {
		if got := r.Name(); got != want {
			t.Errorf("%s.Name() = %q, want %q", r, got, want)
		}
	}
}
