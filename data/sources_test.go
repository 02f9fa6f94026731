package data

import "testing"

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		name string
		want Description
	}{
		{"mnist", Description{"mnist", 1, 28, 28, 10}},
		{"Fashion", Description{"fashion-mnist", 1, 28, 28, 10}},
		{"cifar-100", Description{"cifar100", 3, 32, 32, 100}},
		{"imagenet16-120", Description{"imagenet16-120", 3, 16, 16, 120}},
		{"imagenet16", Description{"imagenet16", 3, 16, 16, 1000}},
		{"synthetic", Description{"synthetic", 1, 28, 28, 10}},
	} {
		got, err := Describe(tc.name)
		if err != nil || got != tc.want {
			t.Errorf("Describe(%q) = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	if _, err := Describe("imagenet-1k"); err == nil {
		t.Error("Describe of an unknown dataset: no error")
	}
}
