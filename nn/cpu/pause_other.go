//go:build !amd64 || purego

package cpu

// spinPause is a no-op where there is no pause instruction wrapper: the
// spin loops still poll, just hotter.
func spinPause() {}
