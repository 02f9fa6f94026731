//go:build cuda && !cudaemu

package cuda

import (
	_ "embed"
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

//go:embed kernels.ptx
var kernelsPTX string

// kernelNames are the entry points of kernels.ptx that the driver resolves
// when it opens, so a missing kernel fails Open rather than a training step.
var kernelNames = []string{
	"sgemm", "im2col", "col2im_add", "dw_forward", "dw_backward_input", "dw_backward_weight",
	"sum_batch_add", "relu_forward", "relu_backward", "axpy", "scale", "add_bias",
	"channel_sum_add", "usf_b", "rsf_b", "max_pool_forward", "max_pool_backward",
	"avg_pool_forward", "avg_pool_backward", "bn_stats", "bn_apply", "bn_backward_reduce",
	"bn_backward_input", "softmax_xent",
}

// cuDriver is the driver on gorgonia.org/cu: the device's primary context,
// one stream and the module JIT-compiled from the embedded PTX.
type cuDriver struct {
	dev    cu.Device
	label  string
	ctx    cu.CUContext
	stream cu.Stream
	mod    cu.Module
	fns    map[string]cu.Function
}

// openDriver opens GPU ordinal. The caller has locked its OS thread.
func openDriver(ordinal int) (driver, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w (the driver sees none)", ErrNoDevice)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("%w: the driver sees %d device(s), cuda:0 to cuda:%d", ErrNoDevice, n, n-1)
	}
	c := &cuDriver{fns: map[string]cu.Function{}}
	if c.dev, err = cu.GetDevice(ordinal); err != nil {
		return nil, fmt.Errorf("get device: %w", err)
	}
	if c.label, err = c.dev.Name(); err != nil {
		return nil, fmt.Errorf("device name: %w", err)
	}
	if c.ctx, err = c.dev.RetainPrimaryCtx(); err != nil {
		return nil, fmt.Errorf("%s: retain primary context: %w", c.label, err)
	}
	if err := c.load(); err != nil {
		_ = c.dev.ReleasePrimaryCtx()
		return nil, fmt.Errorf("%s: %w", c.label, err)
	}
	return c, nil
}

func (c *cuDriver) load() error {
	var err error
	if err = c.current(); err != nil {
		return err
	}
	// A blocking stream: the synchronous copies (legacy default stream)
	// wait for the kernels queued on it, so results are never read early.
	if c.stream, err = cu.MakeStream(cu.DefaultStream); err != nil {
		return fmt.Errorf("create stream: %w", err)
	}
	// The driver JIT-compiles the sm_70 PTX for this GPU here.
	if c.mod, err = cu.LoadData(kernelsPTX); err != nil {
		return fmt.Errorf("load kernels.ptx: %w", err)
	}
	for _, k := range kernelNames {
		f, err := c.mod.Function(k)
		if err != nil {
			return fmt.Errorf("kernel %s: %w", k, err)
		}
		c.fns[k] = f
	}
	return nil
}

func (c *cuDriver) name() string { return c.label }

func (c *cuDriver) current() error {
	if err := cu.SetCurrentContext(c.ctx); err != nil {
		return fmt.Errorf("make context current: %w", err)
	}
	return nil
}

func (c *cuDriver) alloc(bytes int64) (uintptr, error) {
	p, err := cu.MemAlloc(bytes)
	return uintptr(p), err
}

func (c *cuDriver) free(p uintptr) error { return cu.MemFree(cu.DevicePtr(p)) }

func (c *cuDriver) htod(dst uintptr, src unsafe.Pointer, bytes int64) error {
	return cu.MemcpyHtoD(cu.DevicePtr(dst), src, bytes)
}

func (c *cuDriver) dtoh(dst unsafe.Pointer, src uintptr, bytes int64) error {
	return cu.MemcpyDtoH(dst, cu.DevicePtr(src), bytes)
}

// launch hands cu one pointer per argument slot; cu copies the slots to C
// memory before cuLaunchKernel, and the driver reads as many bytes of each
// as the kernel's parameter takes.
func (c *cuDriver) launch(kernel string, grid, block dim3, slots []uint64) error {
	f, ok := c.fns[kernel]
	if !ok {
		return fmt.Errorf("no kernel %s in kernels.ptx", kernel)
	}
	params := make([]unsafe.Pointer, len(slots))
	for i := range slots {
		params[i] = unsafe.Pointer(&slots[i])
	}
	return f.Launch(grid[0], grid[1], grid[2], block[0], block[1], block[2], 0, c.stream, params)
}

func (c *cuDriver) sync() error { return c.stream.Synchronize() }

func (c *cuDriver) close() error {
	var first error
	for _, err := range []error{c.mod.Unload(), c.stream.Destroy(), c.dev.ReleasePrimaryCtx()} {
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}
