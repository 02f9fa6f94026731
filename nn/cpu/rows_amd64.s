//go:build !purego

#include "textflag.h"
#include "mask_amd64.h"

// Row-block copies for padding and un-padding image planes: one call moves
// a whole plane, where a copy per row would spend more on the call than on
// the 32 or so floats of a DARTS row.

// func copyRowsAVX512(dst *float32, dstride int, src *float32, sstride int, rows, cols int)
TEXT ·copyRowsAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ dstride+8(FP), R8
	SHLQ $2, R8
	MOVQ src+16(FP), SI
	MOVQ sstride+24(FP), R9
	SHLQ $2, R9
	MOVQ rows+32(FP), DX
	MOVQ cols+40(FP), R10
	MOVQ R10, CX
	ANDQ $15, CX
	TAILMASK(CX, AX, K1)
	SHRQ $4, R10
copy_row:
	TESTQ DX, DX
	JZ copy_done
	XORQ BX, BX
	MOVQ R10, CX
copy_vec:
	TESTQ CX, CX
	JZ copy_tail
	VMOVUPS (SI)(BX*1), Z0
	VMOVUPS Z0, (DI)(BX*1)
	ADDQ $64, BX
	DECQ CX
	JMP copy_vec
copy_tail:
	KORTESTW K1, K1
	JZ copy_next
	VMOVUPS.Z (SI)(BX*1), K1, Z0
	VMOVUPS Z0, K1, (DI)(BX*1)
copy_next:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ DX
	JMP copy_row
copy_done:
	VZEROUPPER
	RET

// func addRowsAVX512(dst *float32, dstride int, src *float32, sstride int, rows, cols int)
TEXT ·addRowsAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ dstride+8(FP), R8
	SHLQ $2, R8
	MOVQ src+16(FP), SI
	MOVQ sstride+24(FP), R9
	SHLQ $2, R9
	MOVQ rows+32(FP), DX
	MOVQ cols+40(FP), R10
	MOVQ R10, CX
	ANDQ $15, CX
	TAILMASK(CX, AX, K1)
	SHRQ $4, R10
add_row:
	TESTQ DX, DX
	JZ add_done
	XORQ BX, BX
	MOVQ R10, CX
add_vec:
	TESTQ CX, CX
	JZ add_tail
	VMOVUPS (DI)(BX*1), Z1
	VADDPS (SI)(BX*1), Z1, Z1
	VMOVUPS Z1, (DI)(BX*1)
	ADDQ $64, BX
	DECQ CX
	JMP add_vec
add_tail:
	KORTESTW K1, K1
	JZ add_next
	VMOVUPS.Z (SI)(BX*1), K1, Z0
	VMOVUPS.Z (DI)(BX*1), K1, Z1
	VADDPS Z0, Z1, Z1
	VMOVUPS Z1, K1, (DI)(BX*1)
add_next:
	ADDQ R8, DI
	ADDQ R9, SI
	DECQ DX
	JMP add_row
add_done:
	VZEROUPPER
	RET
