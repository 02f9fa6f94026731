package nn

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Checkpoints are verified as a whole before anything reads their state:
// the sidecar's "sha256" is the hash of the safetensors file, and its
// "digest" is a hash over that hash and the sidecar's "meta" together, so
// that an edited meta (an epoch changed by hand, a network size made
// enormous) is refused as surely as a torn save. Sidecars written before
// the digest existed have only "sha256" (or, older still, nothing); they
// still load, their meta then checked only by the caller's own bounds
// (CheckpointInfo.MetaVerified is false).

// ErrCheckpointDigest is wrapped by the errors of checkpoints whose sidecar
// does not match its safetensors file, or whose meta was changed after it
// was saved.
var ErrCheckpointDigest = errors.New("checkpoint does not match its digest")

// maxSidecarBytes bounds the sidecar JSON read into memory. Real sidecars
// are kilobytes (a few hundred layers' rule states and an epoch history);
// the cap keeps a stray huge file from being parsed.
const maxSidecarBytes = 64 << 20

// checkpointDigest is the digest of a checkpoint: SHA-256 over a version
// tag, the safetensors file's SHA-256 (hex) and the canonical form of the
// meta JSON (canonicalJSON), so that reformatting the sidecar (indentation,
// key order, as jq or an editor may do) keeps it valid while any change of
// a value does not.
func checkpointDigest(tensorSHA string, meta json.RawMessage) (string, error) {
	var canon []byte
	if len(meta) > 0 {
		c, err := canonicalJSON(meta)
		if err != nil {
			return "", err
		}
		canon = c
	}
	h := sha256.New()
	fmt.Fprintf(h, "bionas-checkpoint-digest/1\n%s\n", strings.ToLower(tensorSHA))
	h.Write(canon)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// canonicalJSON re-encodes a JSON value with object keys sorted and no
// spaces. Numbers keep their literal text (json.Number): a 64-bit seed
// must not round through float64, where neighbours would collide.
func canonicalJSON(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

// CheckpointInfo is what VerifyCheckpoint learnt about a checkpoint.
type CheckpointInfo struct {
	// Path and Sidecar are the two files.
	Path, Sidecar string
	// Tensors are the tensors' shapes by name, as in the safetensors file.
	Tensors map[string][]int
	// Meta is the sidecar's "meta" (nil if none).
	Meta json.RawMessage
	// MetaVerified is true when the sidecar carries a digest and it
	// matched; false for sidecars older than the digest.
	MetaVerified bool
}

// Bytes is the size of the tensors' data, 4 bytes a value.
func (c CheckpointInfo) Bytes() int64 {
	var n int64
	for _, s := range c.Tensors {
		v, _ := stNumel(s)
		n += 4 * int64(v)
	}
	return n
}

// VerifyCheckpoint checks the checkpoint at path (written by
// SaveCheckpoint) without building anything: the safetensors file parses,
// the sidecar's format, sha256 and digest match it, and the sidecar lists
// exactly the file's tensors with their shapes. Errors name the file and
// the field at fault.
func VerifyCheckpoint(path string) (CheckpointInfo, error) {
	info, _, err := readCheckpoint(path)
	return info, err
}

// readCheckpoint is VerifyCheckpoint that also returns the tensors.
func readCheckpoint(path string) (CheckpointInfo, map[string]*Tensor, error) {
	sidePath := CheckpointSidecarPath(path)
	info := CheckpointInfo{Path: path, Sidecar: sidePath}
	b, err := os.ReadFile(path)
	if err != nil {
		return info, nil, fmt.Errorf("load checkpoint: %w", err)
	}
	file, _, err := decodeSafetensors(path, b)
	if err != nil {
		return info, nil, fmt.Errorf("load checkpoint: %w", err)
	}
	sb, err := readBounded(sidePath, maxSidecarBytes)
	if err != nil {
		return info, nil, fmt.Errorf("load checkpoint: %w", err)
	}
	var side checkpointSidecar
	if err := json.Unmarshal(sb, &side); err != nil {
		return info, nil, fmt.Errorf("load checkpoint %s: %w", sidePath, err)
	}
	if side.Format != CheckpointFormat {
		return info, nil, fmt.Errorf("load checkpoint %s: field format is %q, want %q", sidePath, side.Format, CheckpointFormat)
	}
	sum := sha256.Sum256(b)
	got := hex.EncodeToString(sum[:])
	if side.SHA256 != "" && !strings.EqualFold(got, side.SHA256) {
		return info, nil, fmt.Errorf("load checkpoint %s: field sha256 is %s, but %s has sha256 %s: files from different saves? %w",
			sidePath, side.SHA256, path, got, ErrCheckpointDigest)
	}
	if side.Digest != "" {
		want, err := checkpointDigest(got, side.Meta)
		if err != nil {
			return info, nil, fmt.Errorf("load checkpoint %s: field meta: %w", sidePath, err)
		}
		if !strings.EqualFold(want, side.Digest) {
			return info, nil, fmt.Errorf("load checkpoint %s: field digest is %s, but the tensors of %s and the sidecar's meta give %s: the sidecar was edited after it was saved: %w",
				sidePath, side.Digest, path, want, ErrCheckpointDigest)
		}
		info.MetaVerified = true
	}
	for _, name := range stSortedKeys(file) {
		shape, ok := side.Tensors[name]
		if !ok {
			return info, nil, fmt.Errorf("load checkpoint %s: tensor %q is in %s but not in the sidecar", sidePath, name, path)
		}
		if !slices.Equal(shape, file[name].Shape) {
			return info, nil, fmt.Errorf("load checkpoint %s: tensor %q has shape %v, but %v in %s", sidePath, name, shape, file[name].Shape, path)
		}
	}
	for _, name := range stSortedKeys(side.Tensors) {
		if _, ok := file[name]; !ok {
			return info, nil, fmt.Errorf("load checkpoint %s: tensor %q is in the sidecar but not in %s", sidePath, name, path)
		}
	}
	info.Tensors = make(map[string][]int, len(file))
	for name, t := range file {
		info.Tensors[name] = slices.Clone(t.Shape)
	}
	info.Meta = side.Meta
	return info, file, nil
}

// readBounded reads a file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a sidecar may have", path, st.Size(), limit)
	}
	return os.ReadFile(path)
}
