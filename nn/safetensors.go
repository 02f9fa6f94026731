package nn

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The safetensors format (https://github.com/huggingface/safetensors):
//
//	8 bytes   little-endian uint64 N, the header length
//	N bytes   JSON header: {"__metadata__": {string: string},   (optional)
//	                        name: {"dtype": "F32", "shape": [...],
//	                               "data_offsets": [begin, end]}, ...}
//	          padded with spaces so that N is a multiple of 8
//	rest      the tensors' little-endian bytes; offsets are relative to the
//	          start of this section, and the tensors tile it exactly
//
// Only F32 is written or read. Tensors are laid out in sorted name order,
// and the header lists __metadata__ first, then the tensors in that order,
// so the same tensors always give the same bytes.

// stMaxHeader caps the header length, as the reference implementation does,
// so a corrupt length cannot make us allocate gigabytes.
const stMaxHeader = 100 << 20

// WriteSafetensors writes tensors and optional metadata in the safetensors
// format. Names must be non-empty, unique and not "__metadata__".
func WriteSafetensors(w io.Writer, tensors []Named, meta map[string]string) error {
	ts := slices.Clone(tensors)
	slices.SortFunc(ts, func(a, b Named) int { return strings.Compare(a.Name, b.Name) })
	var h bytes.Buffer
	h.WriteByte('{')
	if len(meta) > 0 {
		h.WriteString(`"__metadata__":{`)
		keys := make([]string, 0, len(meta))
		for k := range meta {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			h.WriteString(stQuote(k))
			h.WriteByte(':')
			h.WriteString(stQuote(meta[k]))
		}
		h.WriteByte('}')
	}
	var off uint64
	for i, t := range ts {
		switch {
		case t.Name == "" || t.Name == "__metadata__":
			return fmt.Errorf("write safetensors: invalid tensor name %q", t.Name)
		case i > 0 && ts[i-1].Name == t.Name:
			return fmt.Errorf("write safetensors: duplicate tensor %q", t.Name)
		case t.T == nil:
			return fmt.Errorf("write safetensors: tensor %q is nil", t.Name)
		}
		n, ok := stNumel(t.T.Shape)
		if !ok || n != len(t.T.Data) {
			return fmt.Errorf("write safetensors: tensor %q: shape %v does not hold %d values", t.Name, t.T.Shape, len(t.T.Data))
		}
		if len(meta) > 0 || i > 0 {
			h.WriteByte(',')
		}
		end := off + 4*uint64(n)
		fmt.Fprintf(&h, `%s:{"dtype":"F32","shape":%s,"data_offsets":[%d,%d]}`, stQuote(t.Name), stShapeJSON(t.T.Shape), off, end)
		off = end
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(h.Len()))
	bw.Write(lenBuf[:])
	bw.Write(h.Bytes())
	var chunk [4096]byte
	for _, t := range ts {
		d := t.T.Data
		for len(d) > 0 {
			k := min(len(d), len(chunk)/4)
			for j, v := range d[:k] {
				binary.LittleEndian.PutUint32(chunk[4*j:], math.Float32bits(v))
			}
			bw.Write(chunk[:4*k]) // bufio keeps the first error; Flush reports it
			d = d[k:]
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write safetensors: %w", err)
	}
	return nil
}

// stQuote is a JSON string without HTML escaping, so names read as written.
func stQuote(s string) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

func stShapeJSON(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// stNumel is the element count of shape, false if a dimension is negative
// or the count overflows.
func stNumel(shape []int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt32/d {
			return 0, false // > 8 GiB of float32 is corrupt for us
		}
		n *= d
	}
	return n, true
}

// ReadSafetensors reads an F32 safetensors file, returning its tensors by
// name and its metadata (nil if none). It checks the whole file: header
// length against file size, JSON syntax, dtypes, offsets in range, tensors
// tiling the data section without gaps or overlaps, byte lengths against
// shapes, and duplicate names; errors name the file and the tensor.
func ReadSafetensors(path string) (map[string]*Tensor, map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read safetensors %s: %w", path, err)
	}
	return decodeSafetensors(path, b)
}

type stEntry struct {
	name       string
	shape      []int
	begin, end uint64
}

func decodeSafetensors(path string, b []byte) (map[string]*Tensor, map[string]string, error) {
	fail := func(format string, args ...any) (map[string]*Tensor, map[string]string, error) {
		return nil, nil, fmt.Errorf("read safetensors %s: "+format, append([]any{path}, args...)...)
	}
	if len(b) < 8 {
		return fail("file is %d bytes, too short for the 8-byte header length (truncated?)", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		return fail("header length %d exceeds the %d bytes after it (truncated?)", n, len(b)-8)
	}
	if n > stMaxHeader {
		return fail("header length %d exceeds the %d-byte limit", n, stMaxHeader)
	}
	header, data := b[8:8+n], b[8+n:]
	if len(header) == 0 || header[0] != '{' {
		return fail("header is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.DisallowUnknownFields()
	if _, err := dec.Token(); err != nil {
		return fail("header: %v", err)
	}
	var meta map[string]string
	var entries []stEntry
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail("header: %v", err)
		}
		name := tok.(string) // object keys are always strings
		if seen[name] {
			return fail("tensor %q: duplicate name in header", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := dec.Decode(&meta); err != nil {
				return fail("header __metadata__: %v", err)
			}
			continue
		}
		var info struct {
			Dtype       string   `json:"dtype"`
			Shape       []int    `json:"shape"`
			DataOffsets []uint64 `json:"data_offsets"`
		}
		if err := dec.Decode(&info); err != nil {
			return fail("tensor %q: header: %v", name, err)
		}
		switch {
		case info.Dtype != "F32":
			return fail("tensor %q: dtype %q is not supported (only F32)", name, info.Dtype)
		case info.Shape == nil:
			return fail("tensor %q: no shape", name)
		case len(info.DataOffsets) != 2:
			return fail("tensor %q: data_offsets %v is not [begin, end]", name, info.DataOffsets)
		}
		e := stEntry{name, info.Shape, info.DataOffsets[0], info.DataOffsets[1]}
		if e.begin > e.end || e.end > uint64(len(data)) {
			return fail("tensor %q: data_offsets [%d,%d] reversed or out of range (data section is %d bytes)", name, e.begin, e.end, len(data))
		}
		numel, ok := stNumel(e.shape)
		if !ok {
			return fail("tensor %q: invalid shape %v", name, e.shape)
		}
		if e.end-e.begin != 4*uint64(numel) {
			return fail("tensor %q: shape %v needs %d bytes, data_offsets [%d,%d] hold %d", name, e.shape, 4*numel, e.begin, e.end, e.end-e.begin)
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fail("header: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail("header: unexpected data after the JSON object")
	}
	// Check that the tensors tile the data section exactly.
	byOffset := slices.Clone(entries)
	slices.SortStableFunc(byOffset, func(a, b stEntry) int {
		if a.begin != b.begin {
			return cmpU64(a.begin, b.begin)
		}
		return cmpU64(a.end, b.end)
	})
	var pos uint64
	for i, e := range byOffset {
		if e.begin < pos {
			return fail("tensor %q: data_offsets [%d,%d] overlap tensor %q", e.name, e.begin, e.end, byOffset[i-1].name)
		}
		if e.begin > pos {
			return fail("tensor %q: data_offsets [%d,%d] leave a gap of %d bytes before it", e.name, e.begin, e.end, e.begin-pos)
		}
		pos = e.end
	}
	if pos != uint64(len(data)) {
		last := "(none)"
		if len(byOffset) > 0 {
			last = strconv.Quote(byOffset[len(byOffset)-1].name)
		}
		return fail("%d bytes after the last tensor %s", uint64(len(data))-pos, last)
	}
	out := make(map[string]*Tensor, len(entries))
	for _, e := range entries {
		raw := data[e.begin:e.end]
		vals := make([]float32, len(raw)/4)
		for j := range vals {
			vals[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
		}
		out[e.name] = FromSlice(vals, e.shape...)
	}
	return out, meta, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CheckpointFormat is the "format" value of a checkpoint sidecar.
const CheckpointFormat = "bionas-checkpoint/1"

// CheckpointSidecarPath is the sidecar JSON of a checkpoint: path with its
// extension replaced by .json (model.safetensors → model.json).
func CheckpointSidecarPath(path string) string {
	return strings.TrimSuffix(path, filepath.Ext(path)) + ".json"
}

// checkpointSidecar is the sidecar's JSON. SHA256 is the hash of the
// safetensors file: a crash between the two renames leaves a pair whose
// hashes disagree, which LoadCheckpoint reports instead of mixing them.
// Digest covers the tensors and Meta together (checkpointDigest), so an
// edited meta is refused too.
type checkpointSidecar struct {
	Format  string           `json:"format"`
	SHA256  string           `json:"sha256,omitempty"`
	Digest  string           `json:"digest,omitempty"`
	Tensors map[string][]int `json:"tensors"`
	Meta    json.RawMessage  `json:"meta,omitempty"`
}

// SaveCheckpoint writes tensors to path (safetensors) and a sidecar JSON
// beside it (CheckpointSidecarPath):
//
//	{"format": "bionas-checkpoint/1", "sha256": <hash of path's bytes>,
//	 "digest": <hash of that hash and meta>,
//	 "tensors": {name: shape, ...}, "meta": <sidecar>}
//
// sidecar may be nil. Each file is replaced atomically (WriteFileAtomic),
// the safetensors first.
func SaveCheckpoint(path string, tensors []Named, sidecar any) error {
	side := CheckpointSidecarPath(path)
	if side == path {
		return fmt.Errorf("save checkpoint %s: the path must not end in .json (that is the sidecar)", path)
	}
	var meta json.RawMessage
	if sidecar != nil {
		m, err := json.MarshalIndent(sidecar, "  ", "  ")
		if err != nil {
			return fmt.Errorf("save checkpoint %s: meta: %w", side, err)
		}
		meta = m
	}
	hash := sha256.New()
	err := writeAtomic(path, func(w io.Writer) error {
		return WriteSafetensors(io.MultiWriter(w, hash), tensors, nil)
	})
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	// Written by hand so each shape stays on one line.
	ts := slices.Clone(tensors)
	slices.SortFunc(ts, func(a, b Named) int { return strings.Compare(a.Name, b.Name) })
	tensorSHA := hex.EncodeToString(hash.Sum(nil))
	digest, err := checkpointDigest(tensorSHA, meta)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: meta: %w", side, err)
	}
	var j bytes.Buffer
	fmt.Fprintf(&j, "{\n  \"format\": %s,\n  \"sha256\": %q,\n  \"digest\": %q,\n  \"tensors\": {", stQuote(CheckpointFormat), tensorSHA, digest)
	for i, t := range ts {
		if i > 0 {
			j.WriteByte(',')
		}
		fmt.Fprintf(&j, "\n    %s: %s", stQuote(t.Name), strings.ReplaceAll(stShapeJSON(t.T.Shape), ",", ", "))
	}
	if len(ts) > 0 {
		j.WriteString("\n  ")
	}
	j.WriteString("}")
	if meta != nil {
		j.WriteString(",\n  \"meta\": ")
		j.Write(meta)
	}
	j.WriteString("\n}\n")
	if err := WriteFileAtomic(side, j.Bytes()); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

// LoadCheckpoint reads a checkpoint written by SaveCheckpoint and copies
// each tensor into the tensor of the same name in into, in place. It first
// verifies the pair as a whole (VerifyCheckpoint: sha256, digest over
// tensors and meta, the sidecar's tensor list), then fails, naming the file
// and the tensor, on a tensor missing from the file, an extra tensor in the
// file or a shape mismatch; into is untouched then. If sidecar is non-nil
// the sidecar's "meta" is decoded into it.
func LoadCheckpoint(path string, into []Named, sidecar any) error {
	info, file, err := readCheckpoint(path)
	if err != nil {
		return err
	}
	return loadVerified(info, file, into, sidecar)
}

// loadVerified is LoadCheckpoint after readCheckpoint.
func loadVerified(info CheckpointInfo, file map[string]*Tensor, into []Named, sidecar any) error {
	path, sidePath := info.Path, info.Sidecar
	want := make(map[string]bool, len(into))
	for _, n := range into {
		if want[n.Name] {
			return fmt.Errorf("load checkpoint %s: tensor %q requested twice", path, n.Name)
		}
		want[n.Name] = true
		t, ok := file[n.Name]
		if !ok {
			return fmt.Errorf("load checkpoint %s: tensor %q missing", path, n.Name)
		}
		if n.T == nil || !slices.Equal(n.T.Shape, t.Shape) || len(n.T.Data) != len(t.Data) {
			var shape []int
			if n.T != nil {
				shape = n.T.Shape
			}
			return fmt.Errorf("load checkpoint %s: tensor %q has shape %v in the file, model expects %v", path, n.Name, t.Shape, shape)
		}
	}
	for _, name := range stSortedKeys(file) {
		if !want[name] {
			return fmt.Errorf("load checkpoint %s: unexpected tensor %q (not in the model)", path, name)
		}
	}
	if sidecar != nil && len(info.Meta) > 0 {
		if err := json.Unmarshal(info.Meta, sidecar); err != nil {
			return fmt.Errorf("load checkpoint %s: meta: %w", sidePath, err)
		}
	}
	for _, n := range into {
		copy(n.T.Data, file[n.Name].Data)
	}
	return nil
}

func stSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// WriteFileAtomic replaces path with data so that a crash leaves either the
// old file or the new one, never a mix: it writes a temporary file in the
// same directory, fsyncs it, renames it over path and fsyncs the
// directory. The file gets mode 0644.
func WriteFileAtomic(path string, data []byte) error {
	return writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeAtomic is WriteFileAtomic with the content streamed by fill; an
// error from fill leaves path as it was.
func writeAtomic(path string, fill func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close() // may already be closed; the error is moot then
			os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err := fill(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename is durable only once the directory is synced. Some
	// systems cannot sync a directory; the file itself is safe then.
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
