//go:build !purego

#include "textflag.h"
#include "mask_amd64.h"

// HSUM adds the 16 lanes of accumulator z (whose lower halves are y and x)
// into the float at off(DI).
#define HSUM(z, y, x, off) \
	VEXTRACTF64X4 $1, z, Y9 \
	VADDPS Y9, y, y \
	VEXTRACTF128 $1, y, X9 \
	VADDPS X9, x, x \
	VHADDPS x, x, x \
	VHADDPS x, x, x \
	VADDSS off(DI), x, x \
	VMOVSS x, off(DI)

// Multi-tap kernels for direct (depthwise) convolution: all taps of one
// output vector are summed in registers, instead of one AXPY pass over the
// output per tap, so the output is written once and each tap costs one load.

// func tapsAVX512(dst, src *float32, offs *int, w *float32, t, n int)
// dst[j] = Σ_{k<t} w[k]·src[j+offs[k]] for j < n.
TEXT ·tapsAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ offs+16(FP), R8
	MOVQ w+24(FP), R9
	MOVQ t+32(FP), R10
	MOVQ n+40(FP), CX
taps_four:
	CMPQ CX, $64
	JL taps_one
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	XORQ R11, R11
taps_four_tap:
	MOVQ (R8)(R11*8), AX
	VBROADCASTSS (R9)(R11*4), Z4
	LEAQ (SI)(AX*4), BX
	VFMADD231PS 0(BX), Z4, Z0
	VFMADD231PS 64(BX), Z4, Z1
	VFMADD231PS 128(BX), Z4, Z2
	VFMADD231PS 192(BX), Z4, Z3
	INCQ R11
	CMPQ R11, R10
	JL taps_four_tap
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ $256, SI
	ADDQ $256, DI
	SUBQ $64, CX
	JMP taps_four
taps_one:
	CMPQ CX, $16
	JL taps_tail
	VXORPS Z0, Z0, Z0
	XORQ R11, R11
taps_one_tap:
	MOVQ (R8)(R11*8), AX
	VBROADCASTSS (R9)(R11*4), Z4
	VFMADD231PS (SI)(AX*4), Z4, Z0
	INCQ R11
	CMPQ R11, R10
	JL taps_one_tap
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP taps_one
taps_tail:
	TESTQ CX, CX
	JZ taps_done
	TAILMASK(CX, AX, K1)
	VXORPS Z0, Z0, Z0
	XORQ R11, R11
taps_tail_tap:
	MOVQ (R8)(R11*8), AX
	VBROADCASTSS (R9)(R11*4), Z4
	LEAQ (SI)(AX*4), BX
	VMOVUPS.Z (BX), K1, Z5
	VFMADD231PS Z5, Z4, Z0
	INCQ R11
	CMPQ R11, R10
	JL taps_tail_tap
	VMOVUPS Z0, K1, (DI)
taps_done:
	VZEROUPPER
	RET

// func dotTaps8AVX512(y, x *float32, offs *int, n int, acc *float32)
// acc[k] += Σ_{j<n} y[j]·x[j+offs[k]] for k < 8: eight dot products against
// shifted copies of x, reading y once.
TEXT ·dotTaps8AVX512(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), SI
	MOVQ x+8(FP), DX
	MOVQ offs+16(FP), DI
	MOVQ n+24(FP), CX
	MOVQ 0(DI), R8
	LEAQ (DX)(R8*4), R8
	MOVQ 8(DI), R9
	LEAQ (DX)(R9*4), R9
	MOVQ 16(DI), R10
	LEAQ (DX)(R10*4), R10
	MOVQ 24(DI), R11
	LEAQ (DX)(R11*4), R11
	MOVQ 32(DI), R12
	LEAQ (DX)(R12*4), R12
	MOVQ 40(DI), R13
	LEAQ (DX)(R13*4), R13
	MOVQ 48(DI), AX
	LEAQ (DX)(AX*4), AX
	MOVQ 56(DI), BX
	LEAQ (DX)(BX*4), BX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	XORQ DI, DI
dt8_loop:
	CMPQ CX, $16
	JL dt8_tail
	VMOVUPS (SI)(DI*1), Z8
	VFMADD231PS (R8)(DI*1), Z8, Z0
	VFMADD231PS (R9)(DI*1), Z8, Z1
	VFMADD231PS (R10)(DI*1), Z8, Z2
	VFMADD231PS (R11)(DI*1), Z8, Z3
	VFMADD231PS (R12)(DI*1), Z8, Z4
	VFMADD231PS (R13)(DI*1), Z8, Z5
	VFMADD231PS (AX)(DI*1), Z8, Z6
	VFMADD231PS (BX)(DI*1), Z8, Z7
	ADDQ $64, DI
	SUBQ $16, CX
	JMP dt8_loop
dt8_tail:
	TESTQ CX, CX
	JZ dt8_store
	TAILMASK(CX, DX, K1)
	VMOVUPS.Z (SI)(DI*1), K1, Z8
	VMOVUPS.Z (R8)(DI*1), K1, Z9
	VFMADD231PS Z9, Z8, Z0
	VMOVUPS.Z (R9)(DI*1), K1, Z9
	VFMADD231PS Z9, Z8, Z1
	VMOVUPS.Z (R10)(DI*1), K1, Z9
	VFMADD231PS Z9, Z8, Z2
	VMOVUPS.Z (R11)(DI*1), K1, Z9
	VFMADD231PS Z9, Z8, Z3
	VMOVUPS.Z (R12)(DI*1), K1, Z9
	VFMADD231PS Z9, Z8, Z4
	VMOVUPS.Z (R13)(DI*1), K1, Z9
	VFMADD231PS Z9, Z8, Z5
	VMOVUPS.Z (AX)(DI*1), K1, Z9
	VFMADD231PS Z9, Z8, Z6
	VMOVUPS.Z (BX)(DI*1), K1, Z9
	VFMADD231PS Z9, Z8, Z7
dt8_store:
	MOVQ acc+32(FP), DI
	HSUM(Z0, Y0, X0, 0)
	HSUM(Z1, Y1, X1, 4)
	HSUM(Z2, Y2, X2, 8)
	HSUM(Z3, Y3, X3, 12)
	HSUM(Z4, Y4, X4, 16)
	HSUM(Z5, Y5, X5, 20)
	HSUM(Z6, Y6, X6, 24)
	HSUM(Z7, Y7, X7, 28)
	VZEROUPPER
	RET
