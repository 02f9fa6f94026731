package data

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Record sizes of the CIFAR binary versions: label byte(s), then 3072 pixel
// bytes (1024 red, 1024 green, 1024 blue, each 32×32 row-major).
const (
	cifarPixels    = 3 * 32 * 32
	cifar10Record  = 1 + cifarPixels
	cifar100Record = 2 + cifarPixels
)

func cifar10Names() []string {
	return []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
}

func cifar100FineNames() []string {
	return strings.Fields(`apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy
bridge bus butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch
crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard
lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree
orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit
raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel
streetcar sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip
turtle wardrobe whale willow_tree wolf woman worm`)
}

func cifar100CoarseNames() []string {
	return strings.Fields(`aquatic_mammals fish flowers food_containers fruit_and_vegetables
household_electrical_devices household_furniture insects large_carnivores
large_man-made_outdoor_things large_natural_outdoor_scenes large_omnivores_and_herbivores
medium_mammals non-insect_invertebrates people reptiles small_mammals trees vehicles_1 vehicles_2`)
}

// CIFAR10 loads the binary version of CIFAR-10 from dir or
// dir/cifar-10-batches-bin: data_batch_1.bin … data_batch_5.bin (train,
// 50000 images) or test_batch.bin (10000), 3×32×32, 10 classes. Class names
// come from batches.meta.txt when present. An empty dir means
// DefaultDir("cifar10").
//
// Each record is one label byte (0–9) and 3072 pixel bytes; the files have
// no header. Errors wrap ErrNotFound (a file is missing), ErrTruncated (a
// file's size is not a whole number of records; the message names the
// truncated record) or ErrLabelRange (a label byte above 9).
func CIFAR10(dir string, train bool) (Dataset, error) {
	files := []string{"test_batch.bin"}
	if train {
		files = nil
		for i := 1; i <= 5; i++ {
			files = append(files, fmt.Sprintf("data_batch_%d.bin", i))
		}
	}
	folder, err := cifarFolder(dir, "cifar10", "cifar-10-batches-bin", files)
	if err != nil {
		return nil, err
	}
	names := readNames(filepath.Join(folder, "batches.meta.txt"), 10, cifar10Names())
	return readCIFARFiles(folder, files, 1, 0, names)
}

// CIFAR100 loads the binary version of CIFAR-100 from dir or
// dir/cifar-100-binary: train.bin (50000 images) or test.bin (10000),
// 3×32×32, with the 100 fine labels or, if coarse, the 20 superclasses.
// Class names come from fine_label_names.txt / coarse_label_names.txt when
// present. An empty dir means DefaultDir("cifar100").
//
// Each record is a coarse label byte (0–19), a fine label byte (0–99) and
// 3072 pixel bytes. Both labels are checked. Errors as for CIFAR10.
func CIFAR100(dir string, train bool, coarse bool) (Dataset, error) {
	file := "test.bin"
	if train {
		file = "train.bin"
	}
	folder, err := cifarFolder(dir, "cifar100", "cifar-100-binary", []string{file})
	if err != nil {
		return nil, err
	}
	names := readNames(filepath.Join(folder, "fine_label_names.txt"), 100, cifar100FineNames())
	labelAt := 1
	if coarse {
		names = readNames(filepath.Join(folder, "coarse_label_names.txt"), 20, cifar100CoarseNames())
		labelAt = 0
	}
	return readCIFARFiles(folder, []string{file}, 2, labelAt, names)
}

// cifarFolder returns dir or dir/sub, whichever holds all files.
func cifarFolder(dir, name, sub string, files []string) (string, error) {
	if dir == "" {
		d, err := DefaultDir(name)
		if err != nil {
			return "", err
		}
		dir = d
	}
	var missing []string
	for _, folder := range []string{dir, filepath.Join(dir, sub)} {
		ok := true
		for _, f := range files {
			p := filepath.Join(folder, f)
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				missing = append(missing, p)
				ok = false
				break
			}
		}
		if ok {
			return folder, nil
		}
	}
	return "", fmt.Errorf("%s: %w: looked for %s; run `bionas data fetch %s --dir %s`",
		name, ErrNotFound, strings.Join(missing, " and "), name, dir)
}

// readCIFARFiles reads CIFAR binary files of records with labelBytes label
// bytes each, taking the label at byte labelAt.
func readCIFARFiles(folder string, files []string, labelBytes, labelAt int, names []string) (Dataset, error) {
	rec := labelBytes + cifarPixels
	var pix []byte
	var labels []int32
	limits := []int{20, 100} // CIFAR-100 coarse, fine
	if labelBytes == 1 {
		limits = []int{10}
	}
	for _, f := range files {
		path := filepath.Join(folder, f)
		raw, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("read CIFAR batch %s: %w: %w", path, ErrNotFound, err)
			}
			return nil, fmt.Errorf("read CIFAR batch %s: %w", path, err)
		}
		n := len(raw) / rec
		if len(raw) == 0 || len(raw)%rec != 0 {
			return nil, fmt.Errorf("read CIFAR batch %s: record %d: %d bytes left, want records of %d bytes (file of %d bytes): %w",
				path, n, len(raw)%rec, rec, len(raw), ErrTruncated)
		}
		if pix == nil {
			pix = make([]byte, 0, n*cifarPixels*len(files))
			labels = make([]int32, 0, n*len(files))
		}
		for i := range n {
			r := raw[i*rec : (i+1)*rec]
			for b, limit := range limits {
				if int(r[b]) >= limit {
					return nil, fmt.Errorf("read CIFAR batch %s: record %d: label byte %d is %d, want [0,%d): %w",
						path, i, b, r[b], limit, ErrLabelRange)
				}
			}
			labels = append(labels, int32(r[labelAt]))
			pix = append(pix, r[labelBytes:]...)
		}
	}
	return newMemDataset(3, 32, 32, pix, labels, names), nil
}

// readNames reads one class name per non-empty line; it falls back to def if
// the file is missing or does not hold exactly want names.
func readNames(path string, want int, def []string) []string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return def
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			names = append(names, s)
		}
	}
	if len(names) != want {
		return def
	}
	return names
}
