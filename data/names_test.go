package data

import (
	"strings"
	"testing"
)

func TestCanonicalName(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "mnist", want: "mnist"},
		{in: "MNIST", want: "mnist"},
		{in: "fashion", want: "fashion-mnist"},
		{in: "fashion-mnist", want: "fashion-mnist"},
		{in: "Fashion_MNIST", want: "fashion-mnist"},
		{in: " fashionmnist ", want: "fashion-mnist"},
		{in: "cifar-10", want: "cifar10"},
		{in: "CIFAR100", want: "cifar100"},
		{in: "imagenet16-120", want: "imagenet16-120"},
		{in: "ImageNet-16-120", want: "imagenet16-120"},
		{in: "synthetic", want: "synthetic"},
		{in: "imagenet-1k", err: `unknown dataset "imagenet-1k" (known: mnist, fashion-mnist, cifar10, cifar100, imagenet16-120, synthetic)`},
		{in: "", err: `unknown dataset ""`},
	} {
		got, err := CanonicalName(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("CanonicalName(%q) = %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("CanonicalName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	// Every listed name is its own canonical spelling.
	for _, n := range Names() {
		if got, err := CanonicalName(n); err != nil || got != n {
			t.Errorf("CanonicalName(%q) = %q, %v", n, got, err)
		}
	}
}
