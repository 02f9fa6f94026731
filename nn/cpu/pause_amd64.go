//go:build !purego

package cpu

// spinPause is one PAUSE instruction (pause_amd64.s).
//
//go:noescape
func spinPause()
