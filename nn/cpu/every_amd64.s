//go:build !purego

#include "textflag.h"
#include "mask_amd64.h"

// evenLanes holds 0, 2, …, 30: the VPERMI2PS indices picking the even
// lanes of two vectors.
DATA evenLanes<>+0(SB)/4, $0
DATA evenLanes<>+4(SB)/4, $2
DATA evenLanes<>+8(SB)/4, $4
DATA evenLanes<>+12(SB)/4, $6
DATA evenLanes<>+16(SB)/4, $8
DATA evenLanes<>+20(SB)/4, $10
DATA evenLanes<>+24(SB)/4, $12
DATA evenLanes<>+28(SB)/4, $14
DATA evenLanes<>+32(SB)/4, $16
DATA evenLanes<>+36(SB)/4, $18
DATA evenLanes<>+40(SB)/4, $20
DATA evenLanes<>+44(SB)/4, $22
DATA evenLanes<>+48(SB)/4, $24
DATA evenLanes<>+52(SB)/4, $26
DATA evenLanes<>+56(SB)/4, $28
DATA evenLanes<>+60(SB)/4, $30
GLOBL evenLanes<>(SB), RODATA|NOPTR, $64

// func everyOtherAVX512(dst, src *float32, n int)
// dst[j] = src[2j] for j < n (n ≥ 1), reading src[0 … 2n−2] only: full
// chunks while more than 16 remain (their 32-value loads stay inside),
// then the last 1–16 with masked loads and store.
TEXT ·everyOtherAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VMOVUPS evenLanes<>(SB), Z3
eo_loop:
	CMPQ CX, $16
	JLE eo_tail
	VMOVUPS (SI), Z1
	VMOVUPS 64(SI), Z2
	VMOVAPS Z3, Z0
	VPERMI2PS Z2, Z1, Z0
	VMOVUPS Z0, (DI)
	ADDQ $128, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP eo_loop
eo_tail:
	// t = CX outputs (kept in R8) need m = 2t−1 source values: the first
	// min(m, 16) from the first vector, the rest from the second.
	MOVQ CX, R8
	LEAQ -1(CX)(CX*1), CX
	CMPQ CX, $16
	JL eo_short
	MOVL $0xffff, AX
	KMOVW AX, K1
	SUBQ $16, CX
	TAILMASK(CX, AX, K2)
	JMP eo_load
eo_short:
	TAILMASK(CX, AX, K1)
	KXORW K2, K2, K2
eo_load:
	VMOVUPS.Z (SI), K1, Z1
	VMOVUPS.Z 64(SI), K2, Z2
	VMOVAPS Z3, Z0
	VPERMI2PS Z2, Z1, Z0
	MOVL $0xffff, AX
	KMOVW AX, K1
	CMPQ R8, $16
	JE eo_store
	MOVQ R8, CX
	TAILMASK(CX, AX, K1)
eo_store:
	VMOVUPS Z0, K1, (DI)
	VZEROUPPER
	RET
