package search

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestConfigJSONUnchanged: the JSON of every preset's configurations (what
// config.json and the checkpoints' fingerprints hold) is byte for byte
// the one recorded in testdata/configs.golden.json, so runs saved before a
// change to the config types still resume. Regenerate the file only for a
// deliberate format change: BIONAS_UPDATE_GOLDEN=1 go test -run ConfigJSON.
func TestConfigJSONUnchanged(t *testing.T) {
	var all []any
	for _, name := range PresetNames() {
		p, err := PresetByName(name)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.DARTS, p.DARTS2, p.PCDARTS, p.EGNAS, p.Random, p.Train)
		all = append(all, p.DARTS.withDefaults(), p.EGNAS.withDefaults(), p.Train.withDefaults())
	}
	got, err := json.MarshalIndent(all, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "configs.golden.json")
	if os.Getenv("BIONAS_UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("the configurations' JSON changed (%d bytes, golden %d): a saved run's config.json and checkpoint fingerprint would no longer match", len(got), len(want))
	}
}
