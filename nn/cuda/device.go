//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// Built reports whether this binary carries the CUDA backend.
const Built = true

// Device is one GPU with our kernels loaded (its driver: context, stream,
// module) and a cache of device buffers; Resident is its nn.Device. Its
// methods are safe for concurrent use; they run one at a time, because a
// CUDA context is current per OS thread and Go moves goroutines between
// threads.
type Device struct {
	mu      sync.Mutex
	ordinal int
	drv     driver
	free    map[int64][]uintptr // reusable device buffers by byte size
	closed  bool
	mem     MemStats
}

// MemStats counts the device memory of a Device: what the driver was
// asked for (Mallocs calls, Reserved bytes, never given back before
// Close: the cache keeps them), what is lent out now (InUse) and the most
// ever lent at once since the last ResetPeak (Peak).
type MemStats struct {
	Mallocs               int64
	Reserved, InUse, Peak int64
}

// Memory returns the device's memory counters.
func (d *Device) Memory() MemStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mem
}

// ResetPeak starts a new peak measurement from what is in use now.
func (d *Device) ResetPeak() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mem.Peak = d.mem.InUse
}

// lend counts size bytes going out of (size > 0) or back to the cache.
func (d *Device) lend(size int64) {
	d.mem.InUse += size
	d.mem.Peak = max(d.mem.Peak, d.mem.InUse)
}

// driver is what Device needs from the CUDA driver API. driver_cu.go
// implements it on gorgonia.org/cu; with -tags cudaemu, driver_emu.go runs
// the same kernel source on the CPU (for checking the Go side and the
// kernels' index arithmetic on machines without a GPU).
type driver interface {
	name() string
	// current makes the driver's context current on this (locked) thread.
	current() error
	alloc(bytes int64) (uintptr, error)
	free(p uintptr) error
	htod(dst uintptr, src unsafe.Pointer, bytes int64) error
	dtoh(dst unsafe.Pointer, src uintptr, bytes int64) error
	// launch queues kernel with one 8-byte slot per argument.
	launch(kernel string, grid, block dim3, slots []uint64) error
	// sync waits for the queued kernels and reports their failures.
	sync() error
	close() error
}

// Open initialises GPU ordinal (0-based) and loads the kernels.
func Open(ordinal int) (*Device, error) {
	d := &Device{ordinal: ordinal, free: map[int64][]uintptr{}}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	drv, err := openDriver(ordinal)
	if err != nil {
		return nil, fmt.Errorf("open cuda:%d: %w", ordinal, err)
	}
	d.drv = drv
	return d, nil
}

// Name says which GPU this is, e.g. "cuda:0 (NVIDIA H100 80GB HBM3)".
func (d *Device) Name() string { return fmt.Sprintf("cuda:%d (%s)", d.ordinal, d.drv.name()) }

// Close frees the cached buffers, the module and the stream and releases
// the primary context. Later calls fail; a second Close does nothing.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.current(func() error {
		var first error
		keep := func(err error, what string) {
			if err != nil && first == nil {
				first = fmt.Errorf("close %s: %s: %w", d.Name(), what, err)
			}
		}
		for _, ptrs := range d.free {
			for _, p := range ptrs {
				keep(d.drv.free(p), "free buffer")
			}
		}
		d.free = nil
		keep(d.drv.close(), "release driver")
		return first
	})
}

// do runs f with d's context current, one call at a time.
func (d *Device) do(f func() error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("%s is closed", d.Name())
	}
	return d.current(f)
}

// current runs f on a locked OS thread with d's context current on it.
func (d *Device) current(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := d.drv.current(); err != nil {
		return fmt.Errorf("make %s current: %w", d.Name(), err)
	}
	return f()
}

// buf is a device buffer of n float32 (or int32) values.
type buf struct {
	ptr uintptr
	n   int
}

// at is the address of value i of b.
func (b buf) at(i int) uintptr { return b.ptr + uintptr(4*i) }

// alloc returns a device buffer of n values, reusing a freed one of the same
// size: cuMemAlloc synchronises the device, and a training step asks for
// the same sizes again and again. Called inside do.
func (d *Device) alloc(n int) (buf, error) {
	if n == 0 {
		n = 1 // a valid pointer for empty operands
	}
	size := int64(4 * n)
	if ps := d.free[size]; len(ps) > 0 {
		p := ps[len(ps)-1]
		d.free[size] = ps[:len(ps)-1]
		d.lend(size)
		return buf{p, n}, nil
	}
	p, err := d.drv.alloc(size)
	if err != nil {
		return buf{}, fmt.Errorf("allocate %d bytes on %s: %w", size, d.Name(), err)
	}
	d.mem.Mallocs++
	d.mem.Reserved += size
	d.lend(size)
	return buf{p, n}, nil
}

// release returns b to the cache. Called inside do.
func (d *Device) release(bs ...buf) {
	for _, b := range bs {
		if b.ptr != 0 {
			d.free[int64(4*b.n)] = append(d.free[int64(4*b.n)], b.ptr)
			d.lend(-int64(4 * b.n))
		}
	}
}

// upload allocates a buffer holding a copy of host (nil host: uninitialised
// buffer of n values). Called inside do.
func (d *Device) upload(host []float32, n int) (buf, error) {
	b, err := d.alloc(n)
	if err != nil {
		return b, err
	}
	if len(host) > 0 {
		if err := d.drv.htod(b.ptr, unsafe.Pointer(&host[0]), int64(4*len(host))); err != nil {
			d.release(b)
			return buf{}, fmt.Errorf("copy %d values to %s: %w", len(host), d.Name(), err)
		}
	}
	return b, nil
}

// uploadInts is upload for int32 values (labels, argmax indices).
func (d *Device) uploadInts(host []int32) (buf, error) {
	b, err := d.alloc(len(host))
	if err != nil {
		return b, err
	}
	if len(host) > 0 {
		if err := d.drv.htod(b.ptr, unsafe.Pointer(&host[0]), int64(4*len(host))); err != nil {
			d.release(b)
			return buf{}, fmt.Errorf("copy %d ints to %s: %w", len(host), d.Name(), err)
		}
	}
	return b, nil
}

// download copies len(host) values of b back. The synchronous copy waits
// for the kernels queued on d's stream. Called inside do.
func (d *Device) download(host []float32, b buf) error {
	if len(host) == 0 {
		return nil
	}
	if err := d.drv.dtoh(unsafe.Pointer(&host[0]), b.ptr, int64(4*len(host))); err != nil {
		return fmt.Errorf("copy %d values from %s: %w", len(host), d.Name(), err)
	}
	return nil
}

// downloadInts is download for int32 values.
func (d *Device) downloadInts(host []int32, b buf) error {
	if len(host) == 0 {
		return nil
	}
	if err := d.drv.dtoh(unsafe.Pointer(&host[0]), b.ptr, int64(4*len(host))); err != nil {
		return fmt.Errorf("copy %d ints from %s: %w", len(host), d.Name(), err)
	}
	return nil
}

// sync waits for every kernel queued on d's stream and reports a kernel
// failure (an illegal address, say) as an error. Called inside do.
func (d *Device) sync(what string) error {
	if err := d.drv.sync(); err != nil {
		return fmt.Errorf("%s on %s: %w", what, d.Name(), err)
	}
	return nil
}

// dim3 is a grid or block size.
type dim3 [3]int

// grid1 is the 1-D launch of the grid-stride kernels: 256 threads per block,
// enough blocks to cover n, capped because the loops stride over the rest.
func grid1(n int) (dim3, dim3) {
	blocks := (n + 255) / 256
	blocks = max(1, min(blocks, 65535))
	return dim3{blocks, 1, 1}, dim3{256, 1, 1}
}

// launch queues kernel name on d's stream. Every argument travels in one
// 8-byte slot: ints as int64 (the kernels take long long), float32 as its
// bits in the low half (the driver copies 4 bytes for a float parameter),
// buffers and device pointers as addresses. Called inside do.
func (d *Device) launch(name string, grid, block dim3, args ...any) error {
	slots := make([]uint64, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case int:
			slots[i] = uint64(int64(v))
		case bool:
			if v {
				slots[i] = 1
			}
		case float32:
			slots[i] = uint64(math.Float32bits(v))
		case buf:
			slots[i] = uint64(v.ptr)
		case uintptr:
			slots[i] = uint64(v)
		default:
			return fmt.Errorf("launch %s: argument %d has unsupported type %T", name, i, a)
		}
	}
	if err := d.drv.launch(name, grid, block, slots); err != nil {
		return fmt.Errorf("launch %s on %s: %w", name, d.Name(), err)
	}
	return nil
}
