package data

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// This file teaches gopickle the few numpy classes that a pickled ndarray
// names, so that Python pickles of numpy arrays load without Python:
//
//   - numpy.core.multiarray._reconstruct(ndarray, (0,), 'b') makes an empty
//     array, and its __setstate__ gets (version, shape, dtype, is_fortran,
//     raw bytes) (the 4-tuple without version is older numpy);
//   - numpy.dtype('u1', 0, 1) makes a dtype, whose __setstate__ gets
//     (3, byte order, ...);
//   - numpy.core.numeric._frombuffer(buffer, dtype, shape, order) is what
//     protocol 5 uses;
//   - _codecs.encode(text, 'latin1') is how Python 3 writes bytes at
//     protocols 0–2.
//
// numpy 2 spells the modules numpy._core.*. The raw bytes arrive as a Python 2
// str (a Go string; protocol 0 strings are still in Python's escaped form,
// which npArray undoes), as bytes or as a bytearray.

// npDtype is a numpy dtype: kind and item size ("u1", "i8", "f8") and byte
// order ('<', '>', '|' or '=').
type npDtype struct {
	str   string
	order byte
}

func (d *npDtype) PySetState(state interface{}) error {
	t, ok := state.(*types.Tuple)
	if !ok || t.Len() < 2 {
		return fmt.Errorf("numpy dtype state: want a tuple (version, byte order, ...), got %T", state)
	}
	if s, ok := t.Get(1).(string); ok && len(s) == 1 {
		d.order = s[0]
	}
	return nil
}

// itemSize returns the size in bytes of one element (0 if unknown).
func (d *npDtype) itemSize() int {
	if d == nil || len(d.str) < 2 {
		return 0
	}
	n, err := strconv.Atoi(d.str[1:])
	if err != nil || n < 0 || n > 64 { // numpy's largest scalar is 32 bytes
		return 0
	}
	return n
}

func (d *npDtype) String() string {
	if d == nil {
		return "none"
	}
	return d.str
}

type npDtypeClass struct{}

func (npDtypeClass) Call(args ...interface{}) (interface{}, error) {
	if len(args) == 0 {
		return nil, errors.New("numpy.dtype: no arguments")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("numpy.dtype: want a type string, got %T", args[0])
	}
	d := &npDtype{str: s, order: '|'}
	if len(s) > 0 && strings.ContainsRune("<>|=", rune(s[0])) {
		d.order, d.str = s[0], s[1:]
	}
	return d, nil
}

// npArray is a numpy ndarray as pickled: shape, dtype, order and raw bytes.
type npArray struct {
	shape   []int
	dtype   *npDtype
	fortran bool
	data    string
}

func (a *npArray) shapeString() string {
	parts := make([]string, len(a.shape))
	for i, s := range a.shape {
		parts[i] = strconv.Itoa(s)
	}
	if len(parts) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// count returns the number of elements, false if it overflows an int.
func (a *npArray) count() (int, bool) {
	return shapeCount(a.shape, a.dtype.itemSize())
}

// shapeCount is the product of shape, false if it or its product with
// itemSize (the byte count) overflows an int: a crafted shape such as
// (2^56, 768) must not wrap around to a small count that the data seems
// to match.
func shapeCount(shape []int, itemSize int) (int, bool) {
	n := 1
	for _, s := range shape {
		if s < 0 || (s != 0 && n > math.MaxInt/s) {
			return 0, false
		}
		n *= s
	}
	if itemSize > 1 && n > math.MaxInt/itemSize {
		return 0, false
	}
	return n, true
}

func (a *npArray) PySetState(state interface{}) error {
	t, ok := state.(*types.Tuple)
	if !ok {
		return fmt.Errorf("numpy array state: want a tuple, got %T", state)
	}
	items := []interface{}(*t)
	if len(items) == 5 { // (version, shape, dtype, is_fortran, data)
		items = items[1:]
	}
	if len(items) != 4 {
		return fmt.Errorf("numpy array state: want 4 or 5 items, got %d", t.Len())
	}
	shape, err := toShape(items[0])
	if err != nil {
		return err
	}
	dt, ok := items[1].(*npDtype)
	if !ok {
		return fmt.Errorf("numpy array state: want a dtype, got %T", items[1])
	}
	a.shape, a.dtype = shape, dt
	switch f := items[2].(type) {
	case bool:
		a.fortran = f
	case int:
		a.fortran = f != 0
	}
	return a.setData(items[3])
}

// setData stores the raw bytes and checks their length against the shape.
func (a *npArray) setData(v interface{}) error {
	switch d := v.(type) {
	case string:
		a.data = d
	case []byte:
		a.data = string(d)
	case *types.ByteArray:
		a.data = string(*d)
	default:
		return fmt.Errorf("numpy array %s %s: raw data is %T, want bytes (object arrays are not supported)",
			a.shapeString(), a.dtype, v)
	}
	count, ok := a.count()
	if !ok {
		return fmt.Errorf("numpy array %s %s: the shape's element count overflows (the file holds %d bytes): %w",
			a.shapeString(), a.dtype, len(a.data), ErrShape)
	}
	want := count * a.dtype.itemSize()
	if len(a.data) != want && len(a.data) > want {
		// A protocol-0 STRING keeps Python's escapes; undo them.
		if s, err := pyUnescape(a.data); err == nil && len(s) == want {
			a.data = s
		}
	}
	if len(a.data) != want {
		return fmt.Errorf("numpy array %s %s: holds %d bytes, its shape needs %d: %w",
			a.shapeString(), a.dtype, len(a.data), want, ErrShape)
	}
	return nil
}

// ints returns the elements of an integer array in C order.
func (a *npArray) ints() ([]int, error) {
	size := a.dtype.itemSize()
	kind := byte(0)
	if a.dtype != nil && len(a.dtype.str) > 0 {
		kind = a.dtype.str[0]
	}
	if (kind != 'u' && kind != 'i' && kind != 'b') || (size != 1 && size != 2 && size != 4 && size != 8) {
		return nil, fmt.Errorf("numpy array %s: dtype %s is not an integer type: %w", a.shapeString(), a.dtype, ErrShape)
	}
	if len(a.shape) > 1 {
		return nil, fmt.Errorf("numpy array %s: want one dimension: %w", a.shapeString(), ErrShape)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if a.dtype != nil && a.dtype.order == '>' {
		bo = binary.BigEndian
	}
	// setData checked count·size == len(data), so this is bounded by the
	// bytes present.
	out := make([]int, len(a.data)/size)
	for i := range out {
		b := a.data[i*size : (i+1)*size]
		var u uint64
		switch size {
		case 1:
			u = uint64(b[0])
		case 2:
			u = uint64(bo.Uint16([]byte(b)))
		case 4:
			u = uint64(bo.Uint32([]byte(b)))
		case 8:
			u = bo.Uint64([]byte(b))
		}
		if kind == 'i' && size < 8 {
			shift := 64 - 8*size
			out[i] = int(int64(u<<shift) >> shift)
		} else {
			out[i] = int(u)
		}
	}
	return out, nil
}

func toShape(v interface{}) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("numpy array state: shape is %T, want a tuple", v)
	}
	shape := make([]int, t.Len())
	for i := range shape {
		n, ok := toInt(t.Get(i))
		if !ok || n < 0 {
			return nil, fmt.Errorf("numpy array state: shape item %v is not a size", t.Get(i))
		}
		shape[i] = n
	}
	return shape, nil
}

// toInt converts an unpickled Python int.
func toInt(v interface{}) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case int32:
		return int(n), true
	case bool:
		if n {
			return 1, true
		}
		return 0, true
	case *big.Int:
		if n.IsInt64() {
			return int(n.Int64()), true
		}
	}
	return 0, false
}

type npReconstruct struct{}

func (npReconstruct) Call(args ...interface{}) (interface{}, error) { return &npArray{}, nil }

type npFrombuffer struct{}

// Call implements _frombuffer(buffer, dtype, shape, order).
func (npFrombuffer) Call(args ...interface{}) (interface{}, error) {
	if len(args) != 4 {
		return nil, fmt.Errorf("numpy _frombuffer: want 4 arguments, got %d", len(args))
	}
	dt, ok := args[1].(*npDtype)
	if !ok {
		return nil, fmt.Errorf("numpy _frombuffer: want a dtype, got %T", args[1])
	}
	shape, err := toShape(args[2])
	if err != nil {
		return nil, err
	}
	a := &npArray{shape: shape, dtype: dt}
	if o, ok := args[3].(string); ok && o == "F" {
		a.fortran = true
	}
	return a, a.setData(args[0])
}

type codecsEncode struct{}

// Call implements _codecs.encode(text, 'latin1'): each rune is one byte.
func (codecsEncode) Call(args ...interface{}) (interface{}, error) {
	if len(args) < 1 {
		return nil, errors.New("_codecs.encode: no arguments")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("_codecs.encode: want text, got %T", args[0])
	}
	if len(args) > 1 {
		if enc, _ := args[1].(string); enc != "latin1" && enc != "latin-1" && enc != "iso-8859-1" {
			return nil, fmt.Errorf("_codecs.encode: encoding %q, want latin1", enc)
		}
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, fmt.Errorf("_codecs.encode: rune %U is not latin1", r)
		}
		out = append(out, byte(r))
	}
	return out, nil
}

type placeholderClass struct{ module, name string }

func (c placeholderClass) Call(args ...interface{}) (interface{}, error) {
	return nil, fmt.Errorf("cannot call %s.%s", c.module, c.name)
}

// numpyClasses resolves the globals a numpy pickle names.
func numpyClasses(module, name string) (interface{}, error) {
	switch module {
	case "numpy.core.multiarray", "numpy._core.multiarray":
		if name == "_reconstruct" {
			return npReconstruct{}, nil
		}
	case "numpy.core.numeric", "numpy._core.numeric":
		if name == "_frombuffer" {
			return npFrombuffer{}, nil
		}
	case "numpy":
		switch name {
		case "dtype":
			return npDtypeClass{}, nil
		case "ndarray":
			return placeholderClass{module, name}, nil
		}
	case "_codecs":
		if name == "encode" {
			return codecsEncode{}, nil
		}
	}
	return types.NewGenericClass(module, name), nil
}

// loadPickle unpickles one object from r (size bytes; check it with
// scanPickle first) with numpy support. Panics of the unpickler on
// malformed input become errors.
func loadPickle(r io.Reader, size int64) (obj interface{}, err error) {
	defer func() {
		if p := recover(); p != nil {
			obj, err = nil, fmt.Errorf("malformed pickle: %v: %w", p, ErrFormat)
		}
	}()
	u := pickle.NewUnpickler(bufio.NewReaderSize(r, readBufferSize(size, 1<<20)))
	u.FindClass = numpyClasses
	return u.Load()
}

// pyUnescape undoes Python's string escapes (as codecs.escape_decode does):
// \\ \' \" \a \b \f \n \r \t \v \xHH and octal \OOO.
func pyUnescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			return "", errors.New("trailing backslash")
		}
		switch e := s[i]; e {
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '\n':
			// line continuation
		case 'x':
			if i+2 >= len(s) {
				return "", errors.New("short \\x escape")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", fmt.Errorf("bad \\x escape %q", s[i+1:i+3])
			}
			b.WriteByte(byte(v))
			i += 2
		default:
			if e >= '0' && e <= '7' {
				j := i
				for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
					j++
				}
				v, _ := strconv.ParseUint(s[i:j], 8, 16)
				b.WriteByte(byte(v))
				i = j - 1
			} else {
				b.WriteByte('\\')
				b.WriteByte(e)
			}
		}
	}
	return b.String(), nil
}

// readBufferSize is a read buffer for a file of size bytes: at most max,
// and no bigger than the file, so small files cost small buffers.
func readBufferSize(size int64, max int) int {
	if size < int64(max) {
		return int(size) + 16 // bufio's minimum
	}
	return max
}
