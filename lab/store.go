package lab

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bionaslab/bionas/nn"
)

// The files of a run folder.
const (
	FileRun          = "run.json"
	FileMetrics      = "metrics.jsonl"
	FileAlphas       = "alphas.json"
	FileGenotype     = "genotype.json"
	FileGenotypeText = "genotype.txt"
	FileLayers       = "layers.json"
	FileAttack       = "attack.json"
	FileLog          = "log.txt"
	DirCheckpoint    = "ckpt"
)

// runsDir is the folder of run folders inside a lab folder.
const runsDir = "runs"

// writeJSON writes v as indented JSON, atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return nn.WriteFileAtomic(path, append(b, '\n'))
}

// readJSON reads the JSON file at path into v; a missing file is
// (false, nil).
func readJSON(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	return true, nil
}

// readRunInfo reads a run folder's run.json and checks its spec (Spec.
// Validate), so that a run.json edited to ask for an enormous network is
// reported, naming the file and the field, instead of being resumed.
func readRunInfo(dir string) (RunInfo, bool, error) {
	path := filepath.Join(dir, FileRun)
	var info RunInfo
	ok, err := readJSON(path, &info)
	if err != nil || !ok {
		return info, ok, err
	}
	if err := info.Spec.Validate(); err != nil {
		return info, true, fmt.Errorf("read %s: %w", path, err)
	}
	return info, true, nil
}

// readMetrics reads metrics.jsonl. A line that does not parse is an error
// naming its number (the lab replaces the file atomically, so this means
// the folder was damaged by something else).
func readMetrics(path string) ([]Event, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return out, fmt.Errorf("read %s: line %d: %w", path, n, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read %s: %w", path, err)
	}
	return out, nil
}

// removeTemps deletes the temporary files an atomic write left behind when
// the process died in the middle of it (".run.json.tmp-123").
func removeTemps(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() && strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// CheckRunFolder verifies that every file the lab writes in a run folder
// parses. It is what "not corrupt" means for a run folder, and what the
// restart tests assert.
func CheckRunFolder(dir string) error {
	info, ok, err := readRunInfo(dir)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: no %s", dir, FileRun)
	}
	if info.ID != filepath.Base(dir) {
		return fmt.Errorf("%s: %s names run %q", dir, FileRun, info.ID)
	}
	if _, err := readMetrics(filepath.Join(dir, FileMetrics)); err != nil {
		return err
	}
	for name, v := range map[string]any{
		FileAlphas: &Alphas{}, FileGenotype: &Genotype{}, FileLayers: &[]LayerInfo{}, FileAttack: &AttackReport{},
	} {
		if _, err := readJSON(filepath.Join(dir, name), v); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			return fmt.Errorf("%s: leftover temporary file %s", dir, e.Name())
		}
	}
	return nil
}
