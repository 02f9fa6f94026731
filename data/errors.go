package data

import "errors"

// Sentinel errors. Every error returned by a reader wraps one of these, and
// its message names the file, the record (where there is one) and what was
// expected, e.g.
//
//	read CIFAR batch /d/data_batch_1.bin: record 17: label 12 out of range [0,10): label out of range
//
// Test with errors.Is.
var (
	// ErrNotFound: the dataset's files are not where the lab looked. The
	// message lists the places and the `bionas data fetch` command to run.
	ErrNotFound = errors.New("dataset not found")
	// ErrBadMagic: a file does not start as its format requires (IDX magic
	// number, pickle protocol opcode).
	ErrBadMagic = errors.New("wrong magic number")
	// ErrTruncated: a file ends inside a record, or holds no record at all.
	ErrTruncated = errors.New("truncated record")
	// ErrLabelRange: a label lies outside the dataset's class range.
	ErrLabelRange = errors.New("label out of range")
	// ErrShape: an array or header has the wrong shape, type or count (an
	// ImageNet16 pickle whose 'data' is not n×3072 uint8, image and label
	// files of different lengths, ...).
	ErrShape = errors.New("wrong shape")
	// ErrFormat: a file is malformed in another way (a pickle that does not
	// parse, a gzip stream that is not one).
	ErrFormat = errors.New("malformed file")
	// ErrChecksum: a downloaded or cached file does not match its published
	// checksum. Nothing is renamed into place when this happens.
	ErrChecksum = errors.New("checksum mismatch")
)
