//go:build !purego

#include "textflag.h"
#include "mask_amd64.h"

// func affineAVX512(y, x *float32, n int, a, b float32, relu bool)
// y[i] = a·x[i] + b (one fused multiply-add), then, with relu, +0 wherever
// the result's sign bit is set (as ReLUInto: an arithmetic shift of the
// bits gives the mask).
TEXT ·affineAVX512(SB), NOSPLIT, $0-33
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS a+24(FP), Z1
	VBROADCASTSS b+28(FP), Z2
	MOVBLZX relu+32(FP), DX
aff_loop:
	CMPQ CX, $16
	JL aff_tail
	VMOVUPS (SI), Z0
	VFMADD213PS Z2, Z1, Z0
	TESTQ DX, DX
	JZ aff_store
	VPSRAD $31, Z0, Z3
	VPANDND Z0, Z3, Z0
aff_store:
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP aff_loop
aff_tail:
	TESTQ CX, CX
	JZ aff_done
	TAILMASK(CX, AX, K1)
	VMOVUPS.Z (SI), K1, Z0
	VFMADD213PS Z2, Z1, Z0
	TESTQ DX, DX
	JZ aff_tail_store
	VPSRAD $31, Z0, Z3
	VPANDND Z0, Z3, Z0
aff_tail_store:
	VMOVUPS Z0, K1, (DI)
aff_done:
	VZEROUPPER
	RET

// func reluAVX512(dst, src *float32, n int)
// dst[i] = src[i] with +0 wherever its sign bit is set.
TEXT ·reluAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
relu_loop:
	CMPQ CX, $16
	JL relu_tail
	VMOVUPS (SI), Z0
	VPSRAD $31, Z0, Z3
	VPANDND Z0, Z3, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP relu_loop
relu_tail:
	TESTQ CX, CX
	JZ relu_done
	TAILMASK(CX, AX, K1)
	VMOVUPS.Z (SI), K1, Z0
	VPSRAD $31, Z0, Z3
	VPANDND Z0, Z3, Z0
	VMOVUPS Z0, K1, (DI)
relu_done:
	VZEROUPPER
	RET
