//go:build !purego

#include "textflag.h"
#include "mask_amd64.h"

// Max-pool merges: y[j], ay[j] = v[j], (its index) where v[j] > y[j] or v[j]
// is the first NaN (v NaN, y not), as nn's scalar maxStep decides, 16 lanes
// at a time; the last partial vector is masked.

DATA iota16<>+0(SB)/4, $0
DATA iota16<>+4(SB)/4, $1
DATA iota16<>+8(SB)/4, $2
DATA iota16<>+12(SB)/4, $3
DATA iota16<>+16(SB)/4, $4
DATA iota16<>+20(SB)/4, $5
DATA iota16<>+24(SB)/4, $6
DATA iota16<>+28(SB)/4, $7
DATA iota16<>+32(SB)/4, $8
DATA iota16<>+36(SB)/4, $9
DATA iota16<>+40(SB)/4, $10
DATA iota16<>+44(SB)/4, $11
DATA iota16<>+48(SB)/4, $12
DATA iota16<>+52(SB)/4, $13
DATA iota16<>+56(SB)/4, $14
DATA iota16<>+60(SB)/4, $15
GLOBL iota16<>(SB), RODATA|NOPTR, $64

// MERGEMASK sets K1 to the lanes (among those of K4) where v (Z0) replaces
// y (Z1).
#define MERGEMASK \
	VCMPPS $0x1e, Z1, Z0, K4, K1 \
	VCMPPS $3, Z0, Z0, K4, K2 \
	VCMPPS $7, Z1, Z1, K4, K3 \
	KANDW K2, K3, K2 \
	KORW K1, K2, K1

// func maxMergeIdxAVX512(y *float32, ay *int32, v *float32, iv *int32, n int)
TEXT ·maxMergeIdxAVX512(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), DI
	MOVQ ay+8(FP), DX
	MOVQ v+16(FP), SI
	MOVQ iv+24(FP), R8
	MOVQ n+32(FP), CX
idx_loop:
	TESTQ CX, CX
	JLE idx_done
	CMPQ CX, $16
	JGE idx_full
	TAILMASK(CX, AX, K4)
	JMP idx_go
idx_full:
	MOVL $0xffff, AX
	KMOVW AX, K4
idx_go:
	VMOVUPS.Z (SI), K4, Z0
	VMOVUPS.Z (DI), K4, Z1
	MERGEMASK
	VMOVDQU32.Z (R8), K1, Z2
	VMOVUPS Z0, K1, (DI)
	VMOVDQU32 Z2, K1, (DX)
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, DX
	ADDQ $64, R8
	SUBQ $16, CX
	JMP idx_loop
idx_done:
	VZEROUPPER
	RET

// func maxMergeIotaAVX512(y *float32, ay *int32, v *float32, start int32, n int)
// The index of v[j] is start+j.
TEXT ·maxMergeIotaAVX512(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), DI
	MOVQ ay+8(FP), DX
	MOVQ v+16(FP), SI
	MOVL start+24(FP), AX
	VPBROADCASTD AX, Z3
	VPADDD iota16<>(SB), Z3, Z3
	MOVL $16, AX
	VPBROADCASTD AX, Z4
	MOVQ n+32(FP), CX
iota_loop:
	TESTQ CX, CX
	JLE iota_done
	CMPQ CX, $16
	JGE iota_full
	TAILMASK(CX, AX, K4)
	JMP iota_go
iota_full:
	MOVL $0xffff, AX
	KMOVW AX, K4
iota_go:
	VMOVUPS.Z (SI), K4, Z0
	VMOVUPS.Z (DI), K4, Z1
	MERGEMASK
	VMOVUPS Z0, K1, (DI)
	VMOVDQU32 Z3, K1, (DX)
	VPADDD Z4, Z3, Z3
	ADDQ $64, SI
	ADDQ $64, DI
	ADDQ $64, DX
	SUBQ $16, CX
	JMP iota_loop
iota_done:
	VZEROUPPER
	RET
