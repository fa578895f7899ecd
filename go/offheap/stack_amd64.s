// stack_amd64.s: the frame pointer of callerFP's caller, for the heap
// profiler's frame-pointer unwinding (stack_fp.go). NOFRAME leaves BP as the
// caller set it.

#include "textflag.h"

TEXT ·callerFP(SB),NOSPLIT|NOFRAME,$0-8
	MOVQ BP, ret+0(FP)
	RET
