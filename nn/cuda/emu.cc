//go:build cuda && cudaemu

// emu.cc runs kernels.cu.h on the CPU for -tags cuda,cudaemu builds:
// the same kernel source as the PTX, so the device check can exercise the
// kernels' index arithmetic and the Go side's launches, strides and copies
// on a machine without a GPU. It says nothing about the PTX, the driver or
// the GPU's speed.
//
// Blocks run one after another; the threads of a block are coroutines
// (ucontext) switched round-robin, each running until the next barrier, so
// __syncthreads and shared memory behave as on a GPU, deterministically.
#define BIONAS_EMU 1
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels.cu.h"

namespace emu {
unsigned tid_x, tid_y, bid_x, bid_y, bid_z, bdim_x, gdim_x;

static ucontext_t sched;
static std::vector<ucontext_t> threads;
static std::vector<std::vector<char>> stacks;
static std::vector<bool> done;
static int cur;
static void (*entry_fn)(const uint64_t*);
static const uint64_t* entry_args;

void sync() { swapcontext(&threads[cur], &sched); }

static void entry() {
  entry_fn(entry_args);
  done[cur] = true;  // returning resumes sched through uc_link
}

template <typename T>
static T arg(uint64_t s) {
  if constexpr (std::is_pointer_v<T>) {
    return reinterpret_cast<T>(static_cast<uintptr_t>(s));
  } else if constexpr (std::is_same_v<T, float>) {
    uint32_t b = static_cast<uint32_t>(s);
    float f;
    memcpy(&f, &b, 4);
    return f;
  } else {
    return static_cast<T>(s);
  }
}

template <typename... A, size_t... I>
static void call_(void (*f)(A...), const uint64_t* s, std::index_sequence<I...>) {
  f(arg<A>(s[I])...);
}

template <typename... A>
static void call(void (*f)(A...), const uint64_t* s) {
  call_(f, s, std::index_sequence_for<A...>{});
}

template <typename... A>
static int nargs(void (*)(A...)) {
  return sizeof...(A);
}

struct kernel {
  int nargs;
  void (*run)(const uint64_t*);
};

#define K(k) {#k, {nargs(k), [](const uint64_t* s) { call(k, s); }}}
static const std::map<std::string, kernel> kernels = {
    K(sgemm), K(im2col), K(col2im_add), K(dw_forward), K(dw_backward_input), K(dw_backward_weight),
    K(sum_batch_add), K(relu_forward), K(relu_backward), K(axpy), K(scale), K(add_bias),
    K(channel_sum_add), K(usf_b), K(rsf_b), K(max_pool_forward), K(max_pool_backward),
    K(avg_pool_forward), K(avg_pool_backward), K(bn_stats), K(bn_apply), K(bn_backward_reduce),
    K(bn_backward_input), K(softmax_xent), K(fill), K(copy5), K(axpby), K(scale_at), K(dot_at),
    K(mul_rows), K(channel_affine), K(plane_mean), K(plane_mean_backward), K(bn_running),
    K(bn_apply_relu), K(bn_param_grads), K(sgd_step), K(adam_step), K(dfa_taps), K(softmax_rows), K(softmax_rows_backward),
};
}  // namespace emu

// emu_launch runs kernel name over the grid; it returns 0, or 1 for an
// unknown kernel, 2 for a wrong argument count, 3 for a bad launch shape.
extern "C" int emu_launch(const char* name, int gx, int gy, int gz, int bx, int by, int bz,
                          const uint64_t* slots, int nslots) {
  using namespace emu;
  auto it = kernels.find(name);
  if (it == kernels.end()) return 1;
  if (it->second.nargs != nslots) return 2;
  int nt = bx * by * bz;
  if (nt <= 0 || nt > 1024 || bz != 1 || gx <= 0 || gy <= 0 || gz <= 0) return 3;
  const size_t stack = 256 * 1024;
  threads.resize(nt);
  done.assign(nt, false);
  if ((int)stacks.size() < nt) stacks.resize(nt);
  for (auto& s : stacks)
    if (s.size() < stack) s.resize(stack);
  entry_fn = it->second.run;
  entry_args = slots;
  bdim_x = bx;
  gdim_x = gx;
  for (int z = 0; z < gz; z++)
    for (int y = 0; y < gy; y++)
      for (int x = 0; x < gx; x++) {
        bid_x = x, bid_y = y, bid_z = z;
        for (int t = 0; t < nt; t++) {
          getcontext(&threads[t]);
          threads[t].uc_stack.ss_sp = stacks[t].data();
          threads[t].uc_stack.ss_size = stacks[t].size();
          threads[t].uc_link = &sched;
          makecontext(&threads[t], entry, 0);
          done[t] = false;
        }
        // Each round runs every live thread to its next barrier or its end.
        for (bool live = true; live;) {
          live = false;
          for (int t = 0; t < nt; t++) {
            if (done[t]) continue;
            cur = t;
            tid_x = t % bx;
            tid_y = t / bx;
            swapcontext(&sched, &threads[t]);
            if (!done[t]) live = true;
          }
        }
      }
  return 0;
}
