//go:build !purego

#include "textflag.h"
#include "mask_amd64.h"

// BatchNorm backward kernels. mask selects the ReLU-after-BN form: dy is
// taken only where y > 0, with the mask of reluBackward (the sign of the
// negated bits of y, as integers).

// func bnSumsAVX512(y, dy, x *float32, n int, mask bool, out *float32)
// out[0] = Σ d, out[1] = Σ d·x, with d = dy (masked by y > 0 when mask).
TEXT ·bnSumsAVX512(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), BX
	MOVQ dy+8(FP), SI
	MOVQ x+16(FP), DI
	MOVQ n+24(FP), CX
	MOVBLZX mask+32(FP), DX
	VPXORD Z9, Z9, Z9
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
sums_loop:
	CMPQ CX, $16
	JL sums_tail
	VMOVUPS (SI), Z0
	TESTQ DX, DX
	JZ sums_acc
	VPSUBD (BX), Z9, Z1
	VPSRAD $31, Z1, Z1
	VPANDD Z1, Z0, Z0
sums_acc:
	VADDPS Z0, Z4, Z4
	VFMADD231PS (DI), Z0, Z5
	ADDQ $64, BX
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP sums_loop
sums_tail:
	TESTQ CX, CX
	JZ sums_done
	TAILMASK(CX, AX, K1)
	VMOVUPS.Z (SI), K1, Z0
	TESTQ DX, DX
	JZ sums_tail_acc
	VMOVUPS.Z (BX), K1, Z2
	VPSUBD Z2, Z9, Z1
	VPSRAD $31, Z1, Z1
	VPANDD Z1, Z0, Z0
sums_tail_acc:
	VMOVUPS.Z (DI), K1, Z3
	VADDPS Z0, Z4, Z4
	VFMADD231PS Z3, Z0, Z5
sums_done:
	MOVQ out+40(FP), DI
	VEXTRACTF64X4 $1, Z4, Y6
	VADDPS Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X6
	VADDPS X6, X4, X4
	VHADDPS X4, X4, X4
	VHADDPS X4, X4, X4
	VMOVSS X4, 0(DI)
	VEXTRACTF64X4 $1, Z5, Y6
	VADDPS Y6, Y5, Y5
	VEXTRACTF128 $1, Y5, X6
	VADDPS X6, X5, X5
	VHADDPS X5, X5, X5
	VHADDPS X5, X5, X5
	VMOVSS X5, 4(DI)
	VZEROUPPER
	RET

// func bnApplyAVX512(dx, y, dy, x *float32, n int, mask, overwrite bool, k, kx, c float32)
// dx[i] += k·d[i] − kx·x[i] + c (= with overwrite), with d as in bnSumsAVX512.
TEXT ·bnApplyAVX512(SB), NOSPLIT, $0-56
	MOVQ dx+0(FP), R8
	MOVQ y+8(FP), BX
	MOVQ dy+16(FP), SI
	MOVQ x+24(FP), DI
	MOVQ n+32(FP), CX
	MOVBLZX mask+40(FP), DX
	MOVBLZX overwrite+41(FP), R9
	VBROADCASTSS k+44(FP), Z6
	VBROADCASTSS kx+48(FP), Z7
	VBROADCASTSS c+52(FP), Z8
	VPXORD Z9, Z9, Z9
apply_loop:
	CMPQ CX, $16
	JL apply_tail
	VMOVUPS (SI), Z0
	TESTQ DX, DX
	JZ apply_acc
	VPSUBD (BX), Z9, Z1
	VPSRAD $31, Z1, Z1
	VPANDD Z1, Z0, Z0
apply_acc:
	VMOVAPS Z8, Z2
	VFMADD231PS Z0, Z6, Z2
	VFNMADD231PS (DI), Z7, Z2
	TESTQ R9, R9
	JNZ apply_store
	VADDPS (R8), Z2, Z2
apply_store:
	VMOVUPS Z2, (R8)
	ADDQ $64, R8
	ADDQ $64, BX
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP apply_loop
apply_tail:
	TESTQ CX, CX
	JZ apply_done
	TAILMASK(CX, AX, K1)
	VMOVUPS.Z (SI), K1, Z0
	TESTQ DX, DX
	JZ apply_tail_acc
	VMOVUPS.Z (BX), K1, Z3
	VPSUBD Z3, Z9, Z1
	VPSRAD $31, Z1, Z1
	VPANDD Z1, Z0, Z0
apply_tail_acc:
	VMOVUPS.Z (DI), K1, Z3
	VMOVAPS Z8, Z2
	VFMADD231PS Z0, Z6, Z2
	VFNMADD231PS Z3, Z7, Z2
	TESTQ R9, R9
	JNZ apply_tail_store
	VMOVUPS.Z (R8), K1, Z3
	VADDPS Z3, Z2, Z2
apply_tail_store:
	VMOVUPS Z2, K1, (R8)
apply_done:
	VZEROUPPER
	RET
