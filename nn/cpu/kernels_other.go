//go:build !amd64 || purego

package cpu

func availableSets() []*kernelSet { return []*kernelSet{genericSet} }

func axpy(alpha float32, x, y []float32) { axpyGeneric(alpha, x, y) }
func dot(x, y []float32) float32         { return dotGeneric(x, y) }
func scal(alpha float32, x []float32)    { scalGeneric(alpha, x) }
func add(dst, x []float32)               { addGeneric(dst, x) }
