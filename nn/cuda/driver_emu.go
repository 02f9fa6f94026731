//go:build cuda && cudaemu

package cuda

// #cgo CXXFLAGS: -std=c++17 -O2
// #include <stdint.h>
// #include <stdlib.h>
// #include <string.h>
// int emu_launch(const char* name, int gx, int gy, int gz, int bx, int by, int bz, const uint64_t* slots, int nslots);
// // Device addresses cross as integers, as they do with a real driver.
// static uintptr_t emu_alloc(size_t n) { void* p = malloc(n); if (p) memset(p, 0x7f, n); return (uintptr_t)p; }
// static void emu_free(uintptr_t p) { free((void*)p); }
// static void emu_htod(uintptr_t dst, const void* src, size_t n) { memcpy((void*)dst, src, n); }
// static void emu_dtoh(void* dst, uintptr_t src, size_t n) { memcpy(dst, (const void*)src, n); }
import "C"

import (
	"fmt"
	"unsafe"
)

// emuDriver runs the kernels on the CPU (emu.cc): "device" memory is C
// memory and a launch runs the grid before it returns. Built with
// -tags cuda,cudaemu, for checking everything but the GPU itself.
type emuDriver struct{}

func openDriver(ordinal int) (driver, error) {
	if ordinal != 0 {
		return nil, fmt.Errorf("%w: the emulator is cuda:0 only", ErrNoDevice)
	}
	return emuDriver{}, nil
}

func (emuDriver) name() string   { return "CPU emulator of the CUDA kernels" }
func (emuDriver) current() error { return nil }

// alloc fills fresh memory with 0x7f bytes (a large float): fresh device
// memory is garbage on a GPU too, and a kernel that reads it shows.
func (emuDriver) alloc(bytes int64) (uintptr, error) {
	p := uintptr(C.emu_alloc(C.size_t(bytes)))
	if p == 0 {
		return 0, fmt.Errorf("emulator: out of memory for %d bytes", bytes)
	}
	return p, nil
}

func (emuDriver) free(p uintptr) error {
	C.emu_free(C.uintptr_t(p))
	return nil
}

func (emuDriver) htod(dst uintptr, src unsafe.Pointer, bytes int64) error {
	C.emu_htod(C.uintptr_t(dst), src, C.size_t(bytes))
	return nil
}

func (emuDriver) dtoh(dst unsafe.Pointer, src uintptr, bytes int64) error {
	C.emu_dtoh(dst, C.uintptr_t(src), C.size_t(bytes))
	return nil
}

func (emuDriver) launch(kernel string, grid, block dim3, slots []uint64) error {
	name := C.CString(kernel)
	defer C.free(unsafe.Pointer(name))
	var s *C.uint64_t
	if len(slots) > 0 {
		s = (*C.uint64_t)(unsafe.Pointer(&slots[0]))
	}
	rc := C.emu_launch(name, C.int(grid[0]), C.int(grid[1]), C.int(grid[2]), C.int(block[0]), C.int(block[1]), C.int(block[2]), s, C.int(len(slots)))
	switch rc {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("emulator: no kernel %s", kernel)
	case 2:
		return fmt.Errorf("emulator: kernel %s: wrong argument count %d", kernel, len(slots))
	}
	return fmt.Errorf("emulator: kernel %s: bad launch grid %v block %v", kernel, grid, block)
}

func (emuDriver) sync() error  { return nil }
func (emuDriver) close() error { return nil }
