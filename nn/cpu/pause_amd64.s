//go:build !purego

#include "textflag.h"

// func spinPause()
// One PAUSE: tells the core this is a spin-wait loop (saves power, and
// the pipeline flush on exit) while a helper polls for its next chunk.
TEXT ·spinPause(SB), NOSPLIT, $0-0
	PAUSE
	RET
