package nn

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSafetensorsRoundTrip(t *testing.T) {
	in := []Named{
		{"w", FromSlice([]float32{1, -2.5, float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 3e-38, 6}, 2, 3)},
		{"scalar", FromSlice([]float32{42})}, // 0-d: shape [], one value
		{"empty", New(0, 4)},
		{"cells.3.edge2.sep_conv_3x3:fa.dw1.weight", randTensor(1, 1, 4, 1, 3, 3)},
	}
	meta := map[string]string{"format": "pt", "note": "<&> ünï"}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, in, meta); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, gotMeta, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) || !equalStringMaps(gotMeta, meta) {
		t.Fatalf("read %d tensors, meta %v", len(got), gotMeta)
	}
	for _, n := range in {
		g := got[n.Name]
		if g == nil || !slices.Equal(g.Shape, n.T.Shape) || len(g.Data) != len(n.T.Data) {
			t.Fatalf("%s: got %+v, want shape %v", n.Name, g, n.T.Shape)
		}
		for i := range g.Data {
			if math.Float32bits(g.Data[i]) != math.Float32bits(n.T.Data[i]) {
				t.Errorf("%s[%d] = %v, want %v", n.Name, i, g.Data[i], n.T.Data[i])
			}
		}
	}
	// The 8-byte length prefix plus a padded header keep the data aligned.
	if n := binary.LittleEndian.Uint64(buf.Bytes()); n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	// No metadata: the key is left out and read back as nil.
	buf.Reset()
	if err := WriteSafetensors(&buf, in[:1], nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, buf.Bytes(), 0o644)
	if _, m, err := ReadSafetensors(path); err != nil || m != nil || bytes.Contains(buf.Bytes(), []byte("__metadata__")) {
		t.Errorf("without metadata: meta %v, err %v", m, err)
	}
}

func equalStringMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestSafetensorsExactBytes pins the file for two tiny tensors, written in
// sorted order whatever the input order, metadata first, header padded with
// spaces to 136 = 17·8 bytes.
func TestSafetensorsExactBytes(t *testing.T) {
	var want []byte
	want = append(want, 0x88, 0, 0, 0, 0, 0, 0, 0) // header length 136
	want = append(want, `{"__metadata__":{"k":"v"},`+
		`"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},`+
		`"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}    `...)
	want = append(want,
		0x00, 0x00, 0x00, 0x3f, // a = 0.5
		0x00, 0x00, 0x80, 0x3f, // b[0] = 1
		0x00, 0x00, 0x00, 0x40, // b[1] = 2
	)
	var buf bytes.Buffer
	err := WriteSafetensors(&buf, []Named{
		{"b", FromSlice([]float32{1, 2}, 2)},
		{"a", FromSlice([]float32{0.5})},
	}, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("bytes:\n%q\nwant\n%q", buf.Bytes(), want)
	}
}

// stFile builds a safetensors file from a raw header and data section.
func stFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func TestSafetensorsCorrupt(t *testing.T) {
	good := func() []byte {
		var buf bytes.Buffer
		WriteSafetensors(&buf, []Named{{"a", New(2)}, {"b", New(3)}}, nil)
		return buf.Bytes()
	}()
	data20 := make([]byte, 20)
	const a8 = `"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`
	tests := []struct {
		name   string
		file   []byte
		tensor string // must appear in the error, quoted; "" for file-level errors
		what   string // must appear in the error too
	}{
		{"too short", []byte{1, 2, 3}, "", "too short"},
		{"truncated data", good[:len(good)-3], "b", "out of range"},
		{"header length beyond file", append(binary.LittleEndian.AppendUint64(nil, 1<<40), "{}"...), "", "exceeds"},
		{"not an object", stFile(`[1,2]   `, nil), "", "not a JSON object"},
		{"bad JSON in entry", stFile(`{"a":{"dtype":"F32","shape":[2],}}`, make([]byte, 8)), "a", "header"},
		{"bad JSON after entry", stFile(`{`+a8+`,}`, make([]byte, 8)), "", "header"},
		{"trailing garbage", stFile(`{`+a8+`} x`, make([]byte, 8)), "", "after the JSON"},
		{"wrong dtype", stFile(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, make([]byte, 4)), "a", "F16"},
		{"unknown field", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, make([]byte, 8)), "a", "x"},
		{"no shape", stFile(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, make([]byte, 8)), "a", "shape"},
		{"negative dim", stFile(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, make([]byte, 8)), "a", "shape"},
		{"one offset", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}}`, make([]byte, 8)), "a", "data_offsets"},
		{"offsets out of range", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}}`, make([]byte, 8)), "a", "out of range"},
		{"offsets reversed", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, make([]byte, 8)), "a", "out of range"},
		{"shape vs bytes", stFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), "a", "needs 12 bytes"},
		{"overlap", stFile(`{`+a8+`,"b":{"dtype":"F32","shape":[3],"data_offsets":[4,16]}}`, data20), "b", "overlap"},
		{"gap", stFile(`{`+a8+`,"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}`, data20), "b", "gap"},
		{"trailing bytes", stFile(`{`+a8+`}`, make([]byte, 12)), "a", "4 bytes after"},
		{"duplicate", stFile(`{`+a8+`,`+a8+`}`, make([]byte, 8)), "a", "duplicate"},
		{"bad metadata", stFile(`{"__metadata__":{"k":1}}`, nil), "", "__metadata__"},
	}
	dir := t.TempDir()
	for _, tc := range tests {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".safetensors")
		os.WriteFile(path, tc.file, 0o644)
		_, _, err := ReadSafetensors(path)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		msg := err.Error()
		t.Logf("%s: %s", tc.name, msg)
		if !strings.Contains(msg, path) || !strings.Contains(msg, tc.what) ||
			(tc.tensor != "" && !strings.Contains(msg, `"`+tc.tensor+`"`)) {
			t.Errorf("%s: error %q should name %s, tensor %q and say %q", tc.name, msg, path, tc.tensor, tc.what)
		}
	}
	if _, _, err := ReadSafetensors(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestSafetensorsWriteErrors(t *testing.T) {
	tests := []struct {
		name string
		ts   []Named
		want string
	}{
		{"duplicate", []Named{{"a", New(1)}, {"a", New(1)}}, `duplicate tensor "a"`},
		{"reserved", []Named{{"__metadata__", New(1)}}, `"__metadata__"`},
		{"empty name", []Named{{"", New(1)}}, `""`},
		{"nil", []Named{{"a", nil}}, `"a" is nil`},
		{"bad shape", []Named{{"a", &Tensor{Shape: []int{3}, Data: make([]float32, 2)}}}, `"a"`},
	}
	for _, tc := range tests {
		err := WriteSafetensors(io.Discard, tc.ts, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %s", tc.name, err, tc.want)
		}
	}
}

type ckptMeta struct {
	Epoch int     `json:"epoch"`
	Acc   float64 `json:"acc"`
}

func ckptModel(seed uint64) []Named {
	return []Named{
		{"conv.weight", randTensor(seed, 1, 4, 3, 3, 3)},
		{"bn.running_mean", randTensor(seed+1, 1, 4)},
		{"alpha_steps", FromSlice([]float32{float32(seed)})},
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	src := ckptModel(1)
	if err := SaveCheckpoint(path, src, ckptMeta{Epoch: 7, Acc: 0.5}); err != nil {
		t.Fatal(err)
	}
	side, err := os.ReadFile(filepath.Join(dir, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sidecar:\n%s", side)
	var parsed struct {
		Format  string           `json:"format"`
		Tensors map[string][]int `json:"tensors"`
		Meta    ckptMeta         `json:"meta"`
	}
	if err := json.Unmarshal(side, &parsed); err != nil {
		t.Fatalf("sidecar %s: %v", side, err)
	}
	if parsed.Format != "bionas-checkpoint/1" || !slices.Equal(parsed.Tensors["conv.weight"], []int{4, 3, 3, 3}) ||
		parsed.Tensors["alpha_steps"] == nil || parsed.Meta.Epoch != 7 {
		t.Errorf("sidecar:\n%s", side)
	}
	if !bytes.Contains(side, []byte("\n    \"conv.weight\": [4, 3, 3, 3]")) || !bytes.Contains(side, []byte("\n    \"epoch\": 7")) {
		t.Errorf("sidecar is not indented for reading:\n%s", side)
	}

	dst := ckptModel(2)
	var meta ckptMeta
	if err := LoadCheckpoint(path, dst, &meta); err != nil {
		t.Fatal(err)
	}
	if meta != (ckptMeta{7, 0.5}) {
		t.Errorf("meta = %+v", meta)
	}
	for i := range src {
		if !slices.Equal(src[i].T.Data, dst[i].T.Data) {
			t.Errorf("%s not restored", src[i].Name)
		}
	}
	if err := LoadCheckpoint(path, ckptModel(3), nil); err != nil {
		t.Errorf("load with nil sidecar: %v", err)
	}
	if err := SaveCheckpoint(filepath.Join(dir, "x.json"), src, nil); err == nil {
		t.Error("saving to a .json path (the sidecar's own name) did not fail")
	}
}

func TestCheckpointMismatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	side := filepath.Join(dir, "model.json")
	if err := SaveCheckpoint(path, ckptModel(1), ckptMeta{Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(side)
	m := ckptModel(5)
	tests := []struct {
		name    string
		into    []Named
		sidecar string // replaces the sidecar if not ""
		file    string // must be named in the error
		tensor  string
		what    string
	}{
		{"missing", append(ckptModel(5), Named{"head.weight", New(2, 2)}), "", path, "head.weight", "missing"},
		{"extra", m[:2], "", path, "alpha_steps", "unexpected"},
		{"shape", []Named{m[0], {"bn.running_mean", New(5)}, m[2]}, "", path, "bn.running_mean", "[5]"},
		{"sidecar shape", ckptModel(5), `{"format":"bionas-checkpoint/1","tensors":{"conv.weight":[4,27],"bn.running_mean":[4],"alpha_steps":[]}}`, side, "conv.weight", "[4 27]"},
		{"sidecar extra", ckptModel(5), `{"format":"bionas-checkpoint/1","tensors":{"conv.weight":[4,3,3,3],"bn.running_mean":[4],"alpha_steps":[],"z":[1]}}`, side, "z", "not in"},
		{"sidecar lacks", ckptModel(5), `{"format":"bionas-checkpoint/1","tensors":{"conv.weight":[4,3,3,3],"alpha_steps":[]}}`, side, "bn.running_mean", "not in the sidecar"},
		{"sidecar format", ckptModel(5), `{"format":"other/2","tensors":{}}`, side, "", "format"},
	}
	for _, tc := range tests {
		os.WriteFile(side, good, 0o644)
		if tc.sidecar != "" {
			os.WriteFile(side, []byte(tc.sidecar), 0o644)
		}
		before := slices.Clone(tc.into[0].T.Data)
		err := LoadCheckpoint(path, tc.into, nil)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		msg := err.Error()
		t.Logf("%s: %s", tc.name, msg)
		if !strings.Contains(msg, tc.file) || !strings.Contains(msg, tc.what) ||
			(tc.tensor != "" && !strings.Contains(msg, `"`+tc.tensor+`"`)) {
			t.Errorf("%s: error %q should name %s, tensor %q and say %q", tc.name, msg, tc.file, tc.tensor, tc.what)
		}
		if !slices.Equal(before, tc.into[0].T.Data) {
			t.Errorf("%s: failed load changed the model", tc.name)
		}
	}

	// A crash between the two renames pairs a new safetensors file with an
	// old sidecar; the hash catches it even though the shapes agree.
	os.WriteFile(side, good, 0o644)
	var buf bytes.Buffer
	WriteSafetensors(&buf, ckptModel(9), nil)
	WriteFileAtomic(path, buf.Bytes())
	if err := LoadCheckpoint(path, ckptModel(5), nil); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("mismatched pair: %v", err)
	}
	os.Remove(side)
	if err := LoadCheckpoint(path, ckptModel(5), nil); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), side) {
		t.Errorf("missing sidecar: %v", err)
	}
}

func TestAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run.json")
	if err := WriteFileAtomic(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("content %q, want new", b)
	}
	// An I/O error half-way leaves the old file and no temporary behind.
	boom := errors.New("disk on fire")
	err := writeAtomic(path, func(w io.Writer) error {
		w.Write(bytes.Repeat([]byte("x"), 1<<17))
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v, want the injected one naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("after a failed write: content %q, want new", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %d entries after a failed write, want 1", len(ents))
	}
}

func TestAtomicCheckpointFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := SaveCheckpoint(path, ckptModel(1), ckptMeta{Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	oldST, _ := os.ReadFile(path)
	oldSide, _ := os.ReadFile(filepath.Join(dir, "model.json"))
	for name, fn := range map[string]func() error{
		"bad meta":      func() error { return SaveCheckpoint(path, ckptModel(2), make(chan int)) },
		"bad tensors":   func() error { return SaveCheckpoint(path, append(ckptModel(2), ckptModel(2)[0]), nil) },
		"missing dir":   func() error { return SaveCheckpoint(filepath.Join(dir, "no", "m.safetensors"), ckptModel(2), nil) },
		"write to file": func() error { return WriteFileAtomic(filepath.Join(path, "x"), []byte("x")) },
	} {
		if err := fn(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if os.Geteuid() != 0 { // root writes anywhere
		os.Chmod(dir, 0o555)
		if err := SaveCheckpoint(path, ckptModel(2), nil); err == nil {
			t.Error("read-only directory: no error")
		}
		os.Chmod(dir, 0o755)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, oldST) {
		t.Error("safetensors file changed by failed saves")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "model.json")); !bytes.Equal(b, oldSide) {
		t.Error("sidecar changed by failed saves")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("directory holds %d entries, want 2 (no temporaries left)", len(ents))
	}
	if err := LoadCheckpoint(path, ckptModel(3), nil); err != nil {
		t.Errorf("old checkpoint no longer loads: %v", err)
	}
}
