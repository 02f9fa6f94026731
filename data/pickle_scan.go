package data

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The pickle reader (gopickle) allocates the buffer a length-prefixed
// opcode announces before it reads a byte of it: a 24-byte file whose
// BINUNICODE says 0xFFFFFFF0 costs 4 GiB. scanPickle walks the opcodes
// first, as Python's pickletools.genops does, and refuses any length that
// exceeds the bytes left in the file, so that what gopickle then allocates
// is bounded by the file's size.

// pickleArg is how an opcode's argument is encoded.
type pickleArg int8

const (
	argNone   pickleArg = iota
	argFixed            // a fixed number of bytes (pickleFixed)
	argLine             // one text line
	argLines2           // two text lines (GLOBAL, INST)
	argLen1             // a 1-byte length, then that many bytes
	argLen4             // a 4-byte little-endian length, then that many bytes
	argLen8             // an 8-byte little-endian length, then that many bytes
	argFrame            // an 8-byte frame length (the frame's opcodes follow inline)
)

type pickleOp struct {
	name  string
	arg   pickleArg
	fixed int
}

// pickleOps lists every opcode of protocols 0–5 (Lib/pickletools.py).
var pickleOps = map[byte]pickleOp{
	'(': {"MARK", argNone, 0}, '.': {"STOP", argNone, 0}, '0': {"POP", argNone, 0},
	'1': {"POP_MARK", argNone, 0}, '2': {"DUP", argNone, 0}, 'N': {"NONE", argNone, 0},
	'Q': {"BINPERSID", argNone, 0}, 'R': {"REDUCE", argNone, 0}, 'a': {"APPEND", argNone, 0},
	'b': {"BUILD", argNone, 0}, 'd': {"DICT", argNone, 0}, '}': {"EMPTY_DICT", argNone, 0},
	'e': {"APPENDS", argNone, 0}, 'l': {"LIST", argNone, 0}, ']': {"EMPTY_LIST", argNone, 0},
	'o': {"OBJ", argNone, 0}, 's': {"SETITEM", argNone, 0}, 't': {"TUPLE", argNone, 0},
	')': {"EMPTY_TUPLE", argNone, 0}, 'u': {"SETITEMS", argNone, 0},
	0x81: {"NEWOBJ", argNone, 0}, 0x85: {"TUPLE1", argNone, 0}, 0x86: {"TUPLE2", argNone, 0},
	0x87: {"TUPLE3", argNone, 0}, 0x88: {"NEWTRUE", argNone, 0}, 0x89: {"NEWFALSE", argNone, 0},
	0x8f: {"EMPTY_SET", argNone, 0}, 0x90: {"ADDITEMS", argNone, 0}, 0x91: {"FROZENSET", argNone, 0},
	0x92: {"NEWOBJ_EX", argNone, 0}, 0x93: {"STACK_GLOBAL", argNone, 0}, 0x94: {"MEMOIZE", argNone, 0},
	0x97: {"NEXT_BUFFER", argNone, 0}, 0x98: {"READONLY_BUFFER", argNone, 0},

	'K': {"BININT1", argFixed, 1}, 'h': {"BINGET", argFixed, 1}, 'q': {"BINPUT", argFixed, 1},
	0x80: {"PROTO", argFixed, 1}, 0x82: {"EXT1", argFixed, 1},
	'M': {"BININT2", argFixed, 2}, 0x83: {"EXT2", argFixed, 2},
	'J': {"BININT", argFixed, 4}, 'j': {"LONG_BINGET", argFixed, 4}, 'r': {"LONG_BINPUT", argFixed, 4},
	0x84: {"EXT4", argFixed, 4}, 'G': {"BINFLOAT", argFixed, 8},

	'I': {"INT", argLine, 0}, 'L': {"LONG", argLine, 0}, 'F': {"FLOAT", argLine, 0},
	'S': {"STRING", argLine, 0}, 'V': {"UNICODE", argLine, 0}, 'g': {"GET", argLine, 0},
	'p': {"PUT", argLine, 0}, 'P': {"PERSID", argLine, 0},
	'c': {"GLOBAL", argLines2, 0}, 'i': {"INST", argLines2, 0},

	'U': {"SHORT_BINSTRING", argLen1, 0}, 'C': {"SHORT_BINBYTES", argLen1, 0},
	0x8c: {"SHORT_BINUNICODE", argLen1, 0}, 0x8a: {"LONG1", argLen1, 0},
	'T': {"BINSTRING", argLen4, 0}, 'B': {"BINBYTES", argLen4, 0}, 'X': {"BINUNICODE", argLen4, 0},
	0x8b: {"LONG4", argLen4, 0},
	0x8e: {"BINBYTES8", argLen8, 0}, 0x8d: {"BINUNICODE8", argLen8, 0}, 0x96: {"BYTEARRAY8", argLen8, 0},
	0x95: {"FRAME", argFrame, 0},
}

// lengthBytes is the size of the length field of the length-prefixed
// opcodes.
var lengthBytes = map[pickleArg]int{argLen1: 1, argLen4: 4, argLen8: 8, argFrame: 8}

// readLength reads the length field of op (at offset at; left bytes
// remain in the file). BINSTRING and LONG4 lengths are signed.
func readLength(br *bufio.Reader, op pickleOp, at, left int64) (uint64, error) {
	w := lengthBytes[op.arg]
	var b [8]byte
	if int64(w) > left {
		return 0, fmt.Errorf("opcode %s at offset %d: file ends inside its %d-byte length: %w", op.name, at, w, ErrTruncated)
	}
	if _, err := io.ReadFull(br, b[:w]); err != nil {
		return 0, fmt.Errorf("opcode %s at offset %d: file ends inside its %d-byte length: %w", op.name, at, w, ErrTruncated)
	}
	switch w {
	case 1:
		return uint64(b[0]), nil
	case 4:
		n := binary.LittleEndian.Uint32(b[:4])
		if (op.name == "BINSTRING" || op.name == "LONG4") && int32(n) < 0 {
			return 0, fmt.Errorf("opcode %s at offset %d: negative length %d: %w", op.name, at, int32(n), ErrFormat)
		}
		return uint64(n), nil
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// scanPickle checks that the pickle in r (size bytes long) is a sequence
// of known opcodes ending in STOP whose lengths all fit in the bytes that
// follow them. Errors give the opcode, its offset and the length, and wrap
// ErrTruncated (the file ends inside an opcode or before STOP) or ErrFormat
// (an unknown opcode, a negative length); a length beyond the end of the
// file is ErrTruncated.
func scanPickle(r io.Reader, size int64) error {
	br := bufio.NewReaderSize(r, readBufferSize(size, 1<<16))
	var off int64
	// skip consumes n argument bytes of op (at offset at), which must be
	// there.
	skip := func(op pickleOp, at int64, n uint64) error {
		if left := uint64(size - off); n > left {
			return fmt.Errorf("opcode %s at offset %d: length %d, but only %d bytes follow: %w",
				op.name, at, n, left, ErrTruncated)
		}
		d, err := br.Discard(int(n))
		off += int64(d)
		if err != nil {
			return fmt.Errorf("opcode %s at offset %d: file ends after %d of its %d bytes: %w", op.name, at, d, n, ErrTruncated)
		}
		return nil
	}
	// line consumes one text line; a line cannot be longer than the file.
	line := func(op pickleOp, at int64) error {
		for {
			b, err := br.ReadSlice('\n')
			off += int64(len(b))
			if err == nil {
				return nil
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				return fmt.Errorf("opcode %s at offset %d: file ends inside its text line: %w", op.name, at, ErrTruncated)
			}
		}
	}
	for {
		at := off
		code, err := br.ReadByte()
		if err != nil {
			return fmt.Errorf("pickle ends at offset %d without a STOP opcode: %w", off, ErrTruncated)
		}
		off++
		op, ok := pickleOps[code]
		if !ok {
			return fmt.Errorf("unknown opcode %#02x at offset %d: %w", code, at, ErrFormat)
		}
		switch op.arg {
		case argNone:
			if code == '.' {
				return nil
			}
		case argFixed:
			err = skip(op, at, uint64(op.fixed))
		case argLine:
			err = line(op, at)
		case argLines2:
			if err = line(op, at); err == nil {
				err = line(op, at)
			}
		case argLen1, argLen4, argLen8, argFrame:
			var n uint64
			if n, err = readLength(br, op, at, size-off); err != nil {
				break
			}
			off += int64(lengthBytes[op.arg])
			if op.arg == argFrame {
				// The frame's opcodes follow inline and are scanned as
				// such; gopickle allocates the frame, so it must fit.
				if left := uint64(size - off); n > left {
					err = fmt.Errorf("opcode FRAME at offset %d: length %d, but only %d bytes follow: %w", at, n, left, ErrTruncated)
				}
				break
			}
			err = skip(op, at, n)
		}
		if err != nil {
			return err
		}
	}
}
