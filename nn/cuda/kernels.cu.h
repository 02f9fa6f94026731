// kernels.cu holds every CUDA kernel of bionas' GPU backend: our own GEMM,
// convolution (im2col/col2im for dense, grouped and dilated; direct loops for
// depthwise), pooling, BatchNorm, ReLU, elementwise, reductions, softmax
// cross-entropy and the feedback-rule B constructions. No cuBLAS or cuDNN:
// the GPU machines carry other major versions than any headers we can
// install, so only the driver (libcuda.so.1) is linked.
//
// Layouts are those of package nn: float32, NCHW, row-major matrices.
// go generate ./nn/cuda compiles this file to kernels.ptx (see gen.sh).
#include "compat.h"

// ---------------------------------------------------------------- GEMM ---

#define BM 64
#define BN 64
#define BK 16

// sgemm computes, for each z in [0, gridDim.z), with zo = z / inner and
// zi = z % inner,
//   C_z = alpha·op(A_z)·op(B_z) + beta·C_z      (row-major, M×N, inner K)
// where X_z = X + zo·sx0 + zi·sx1. Two strides cover both the batch and the
// groups of a convolution in one launch. beta = 0 never reads C.
// 256 threads (16×16) compute a 64×64 tile, 4×4 values each, with strides of
// 16 so that neighbouring threads touch neighbouring columns.
extern "C" __global__ void sgemm(i64 ta, i64 tb, i64 M, i64 N, i64 K, float alpha,
                                 const float* A, i64 lda, i64 sa0, i64 sa1,
                                 const float* B, i64 ldb, i64 sb0, i64 sb1,
                                 float beta, float* C, i64 ldc, i64 sc0, i64 sc1, i64 inner) {
  __shared__ float As[BK][BM];
  __shared__ float Bs[BK][BN];
  i64 z = BIDZ, zo = z / inner, zi = z % inner;
  A += zo * sa0 + zi * sa1;
  B += zo * sb0 + zi * sb1;
  C += zo * sc0 + zi * sc1;
  int tx = TIDX, ty = TIDY, tid = ty * 16 + tx;
  i64 m0 = (i64)BIDY * BM, n0 = (i64)BIDX * BN;
  float acc[4][4];
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) acc[i][j] = 0.f;
  for (i64 k0 = 0; k0 < K; k0 += BK) {
    for (int l = 0; l < 4; l++) {
      int e = tid + 256 * l;
      // Load order follows memory order, so global reads coalesce.
      int mi, ki;
      if (!ta) { ki = e % BK; mi = e / BK; } else { mi = e % BM; ki = e / BM; }
      i64 m = m0 + mi, k = k0 + ki;
      float v = 0.f;
      if (m < M && k < K) v = ta ? A[k * lda + m] : A[m * lda + k];
      As[ki][mi] = v;
      int ni, kj;
      if (!tb) { ni = e % BN; kj = e / BN; } else { kj = e % BK; ni = e / BK; }
      i64 n = n0 + ni, kb = k0 + kj;
      float u = 0.f;
      if (n < N && kb < K) u = tb ? B[n * ldb + kb] : B[kb * ldb + n];
      Bs[kj][ni] = u;
    }
    SYNC();
    for (int kk = 0; kk < BK; kk++) {
      float a[4], b[4];
      for (int i = 0; i < 4; i++) a[i] = As[kk][ty + 16 * i];
      for (int j = 0; j < 4; j++) b[j] = Bs[kk][tx + 16 * j];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
    }
    SYNC();
  }
  for (int i = 0; i < 4; i++) {
    i64 m = m0 + ty + 16 * i;
    if (m >= M) continue;
    for (int j = 0; j < 4; j++) {
      i64 n = n0 + tx + 16 * j;
      if (n >= N) continue;
      float* c = &C[m * ldc + n];
      *c = beta == 0.f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * *c;
    }
  }
}

// ---------------------------------------------------------- convolution ---
// Geometry arguments, in this order everywhere:
//   N, C, H, W (input), KH, KW, S (stride), P (padding), D (dilation), Ho, Wo.

// im2col writes col[n][c][a][b][i][j] = x[n][c][i·S−P+a·D][j·S−P+b·D] (0
// outside). Per (n, group) this is the rows×cols matrix of package nn, so
// one batched GEMM multiplies every image and group.
extern "C" __global__ void im2col(const float* x, float* col, i64 N, i64 C, i64 H, i64 W,
                                  i64 KH, i64 KW, i64 S, i64 P, i64 D, i64 Ho, i64 Wo) {
  i64 total = N * C * KH * KW * Ho * Wo;
  FOR_EACH(t, total) {
    i64 j = t % Wo, r = t / Wo;
    i64 i = r % Ho; r /= Ho;
    i64 b = r % KW; r /= KW;
    i64 a = r % KH; r /= KH;  // r = n·C + c
    i64 ih = i * S - P + a * D, iw = j * S - P + b * D;
    col[t] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[(r * H + ih) * W + iw] : 0.f;
  }
}

// tap_out is the output index whose window reaches input index h through
// tap a (padding P, dilation D, stride S, Ho outputs), or −1 when none does:
// the inverse map every transposed-convolution gather below walks.
__device__ static i64 tap_out(i64 h, i64 a, i64 P, i64 D, i64 S, i64 Ho) {
  i64 y = h + P - a * D;
  return (y < 0 || y % S != 0 || y / S >= Ho) ? -1 : y / S;
}

// col2im_add adds the column gradient back onto the image: dx[n][c][h][w] +=
// Σ over the taps (a, b) and output positions (i, j) that read (h, w). A
// gather, one thread per pixel: no atomics, the same sum order every run.
extern "C" __global__ void col2im_add(const float* col, float* dx, i64 N, i64 C, i64 H, i64 W,
                                      i64 KH, i64 KW, i64 S, i64 P, i64 D, i64 Ho, i64 Wo) {
  i64 total = N * C * H * W;
  FOR_EACH(t, total) {
    i64 w = t % W, r = t / W;
    i64 h = r % H; r /= H;  // r = n·C + c
    float s = 0.f;
    for (i64 a = 0; a < KH; a++) {
      i64 i = tap_out(h, a, P, D, S, Ho);
      if (i < 0) continue;
      for (i64 b = 0; b < KW; b++) {
        i64 j = tap_out(w, b, P, D, S, Wo);
        if (j < 0) continue;
        s += col[(((r * KH + a) * KW + b) * Ho + i) * Wo + j];
      }
    }
    dx[t] += s;
  }
}

// dw_forward is the depthwise convolution (one KH×KW filter per channel).
extern "C" __global__ void dw_forward(const float* x, const float* w, float* out, i64 N, i64 C, i64 H, i64 W,
                                      i64 KH, i64 KW, i64 S, i64 P, i64 D, i64 Ho, i64 Wo) {
  i64 total = N * C * Ho * Wo;
  FOR_EACH(t, total) {
    i64 j = t % Wo, r = t / Wo;
    i64 i = r % Ho; r /= Ho;  // r = n·C + c
    i64 c = r % C;
    const float* xp = x + r * H * W;
    const float* wp = w + c * KH * KW;
    float s = 0.f;
    for (i64 a = 0; a < KH; a++) {
      i64 ih = i * S - P + a * D;
      if (ih < 0 || ih >= H) continue;
      for (i64 b = 0; b < KW; b++) {
        i64 iw = j * S - P + b * D;
        if (iw < 0 || iw >= W) continue;
        s += xp[ih * W + iw] * wp[a * KW + b];
      }
    }
    out[t] = s;
  }
}

// dw_backward_input adds the depthwise transposed convolution of dy with the
// feedback filters B (W for bp) to dx; a gather per input pixel.
extern "C" __global__ void dw_backward_input(const float* dy, const float* bw, float* dx, i64 N, i64 C, i64 H, i64 W,
                                             i64 KH, i64 KW, i64 S, i64 P, i64 D, i64 Ho, i64 Wo) {
  i64 total = N * C * H * W;
  FOR_EACH(t, total) {
    i64 w = t % W, r = t / W;
    i64 h = r % H; r /= H;
    i64 c = r % C;
    const float* dyp = dy + r * Ho * Wo;
    const float* bp = bw + c * KH * KW;
    float s = 0.f;
    for (i64 a = 0; a < KH; a++) {
      i64 i = tap_out(h, a, P, D, S, Ho);
      if (i < 0) continue;
      for (i64 b = 0; b < KW; b++) {
        i64 j = tap_out(w, b, P, D, S, Wo);
        if (j < 0) continue;
        s += dyp[i * Wo + j] * bp[a * KW + b];
      }
    }
    dx[t] += s;
  }
}

// dw_backward_weight adds dW[c][a][b] = Σ_{n,i,j} dy[n][c][i][j]·x[n][c][i·S−P+a·D][j·S−P+b·D]:
// one block of 256 threads per filter tap, a tree reduction in shared memory.
extern "C" __global__ void dw_backward_weight(const float* x, const float* dy, float* dw, i64 N, i64 C, i64 H, i64 W,
                                              i64 KH, i64 KW, i64 S, i64 P, i64 D, i64 Ho, i64 Wo) {
  __shared__ float part[256];
  i64 tap = BIDX;  // c·KH·KW + a·KW + b
  i64 b = tap % KW, a = (tap / KW) % KH, c = tap / (KH * KW);
  float s = 0.f;
  i64 total = N * Ho * Wo;
  for (i64 t = TIDX; t < total; t += BDIMX) {
    i64 j = t % Wo, r = t / Wo;
    i64 i = r % Ho, n = r / Ho;
    i64 ih = i * S - P + a * D, iw = j * S - P + b * D;
    if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
    s += dy[((n * C + c) * Ho + i) * Wo + j] * x[((n * C + c) * H + ih) * W + iw];
  }
  part[TIDX] = s;
  SYNC();
  for (int h = 128; h > 0; h >>= 1) {
    if ((int)TIDX < h) part[TIDX] += part[TIDX + h];
    SYNC();
  }
  if (TIDX == 0) dw[tap] += part[0];
}

// sum_batch_add adds dst[i] += Σ_n src[n·len + i]: the per-image weight
// gradients of a dense convolution folded into one.
extern "C" __global__ void sum_batch_add(const float* src, float* dst, i64 n, i64 len) {
  FOR_EACH(i, len) {
    float s = 0.f;
    for (i64 b = 0; b < n; b++) s += src[b * len + i];
    dst[i] += s;
  }
}

// ---------------------------------------------------------- elementwise ---

extern "C" __global__ void relu_forward(const float* x, float* y, i64 n) {
  FOR_EACH(i, n) { float v = x[i]; y[i] = v > 0.f ? v : 0.f; }
}

// relu_backward adds dy to dx where y > 0 (the gradient at 0 is 0, as nn).
extern "C" __global__ void relu_backward(const float* y, const float* dy, float* dx, i64 n) {
  FOR_EACH(i, n) { if (y[i] > 0.f) dx[i] += dy[i]; }
}

// axpy: y += a·x.
extern "C" __global__ void axpy(float a, const float* x, float* y, i64 n) {
  FOR_EACH(i, n) { y[i] += a * x[i]; }
}

// scale: x *= a.
extern "C" __global__ void scale(float a, float* x, i64 n) {
  FOR_EACH(i, n) { x[i] *= a; }
}

// add_bias adds b[c] to every value of channel c of an (N, C, plane) tensor.
extern "C" __global__ void add_bias(float* out, const float* b, i64 N, i64 C, i64 plane) {
  i64 total = N * C * plane;
  FOR_EACH(t, total) { out[t] += b[(t / plane) % C]; }
}

// channel_sum_add adds db[c] += Σ_{n,p} dy[n][c][p]: one block per channel.
extern "C" __global__ void channel_sum_add(const float* dy, float* db, i64 N, i64 C, i64 plane) {
  __shared__ float part[256];
  i64 c = BIDX;
  float s = 0.f;
  for (i64 t = TIDX; t < N * plane; t += BDIMX) {
    i64 n = t / plane, p = t % plane;
    s += dy[(n * C + c) * plane + p];
  }
  part[TIDX] = s;
  SYNC();
  for (int h = 128; h > 0; h >>= 1) {
    if ((int)TIDX < h) part[TIDX] += part[TIDX + h];
    SYNC();
  }
  if (TIDX == 0) db[c] += part[0];
}

// -------------------------------------------------------- feedback rules ---

// usf_b: B = scale·sign(W), sign(0) = 0 (the uSF rule).
extern "C" __global__ void usf_b(const float* w, float* b, float scale, i64 n) {
  FOR_EACH(i, n) {
    float v = w[i];
    b[i] = v > 0.f ? scale : (v < 0.f ? -scale : 0.f);
  }
}

// rsf_b: B = |R|·sign(W) (brSF with a fresh R, frSF with the stored |R|).
extern "C" __global__ void rsf_b(const float* w, const float* r, float* b, i64 n) {
  FOR_EACH(i, n) {
    float v = w[i], m = r[i] < 0.f ? -r[i] : r[i];
    b[i] = v > 0.f ? m : (v < 0.f ? -m : 0.f);
  }
}

// -------------------------------------------------------------- pooling ---
// Pool geometry: N, C, H, W, K, S, P, Ho, Wo.

// max_pool_forward keeps the first maximum of each window in row-major
// order (padding is −∞), and its index within the plane for backward.
extern "C" __global__ void max_pool_forward(const float* x, float* y, int* arg, i64 N, i64 C, i64 H, i64 W,
                                            i64 K, i64 S, i64 P, i64 Ho, i64 Wo) {
  i64 total = N * C * Ho * Wo;
  FOR_EACH(t, total) {
    i64 ox = t % Wo, r = t / Wo;
    i64 oy = r % Ho; r /= Ho;
    const float* xp = x + r * H * W;
    i64 y0 = oy * S - P, x0 = ox * S - P;
    float best = 0.f;
    int bi = -1;
    for (i64 iy = y0 < 0 ? 0 : y0; iy < y0 + K && iy < H; iy++)
      for (i64 ix = x0 < 0 ? 0 : x0; ix < x0 + K && ix < W; ix++) {
        float v = xp[iy * W + ix];
        if (bi < 0 || v > best || (v != v && best == best)) { best = v; bi = (int)(iy * W + ix); }
      }
    y[t] = best;
    arg[t] = bi;
  }
}

// max_pool_backward adds to each input pixel the gradients of the windows
// whose maximum it was (a gather over the windows covering it).
extern "C" __global__ void max_pool_backward(const float* dy, const int* arg, float* dx, i64 N, i64 C, i64 H, i64 W,
                                             i64 K, i64 S, i64 P, i64 Ho, i64 Wo) {
  i64 total = N * C * H * W;
  FOR_EACH(t, total) {
    i64 w = t % W, r = t / W;
    i64 h = r % H; r /= H;
    i64 idx = h * W + w;
    float s = 0.f;
    for (i64 oy = 0; oy < Ho; oy++) {
      i64 y0 = oy * S - P;
      if (h < y0 || h >= y0 + K) continue;
      for (i64 ox = 0; ox < Wo; ox++) {
        i64 x0 = ox * S - P;
        if (w < x0 || w >= x0 + K) continue;
        i64 o = (r * Ho + oy) * Wo + ox;
        if (arg[o] == idx) s += dy[o];
      }
    }
    dx[t] += s;
  }
}

// avg_count is the divisor of window (oy, ox): K·K with include_pad, else
// the number of in-bounds pixels (DARTS).
__device__ static float avg_count(i64 oy, i64 ox, i64 H, i64 W, i64 K, i64 S, i64 P, i64 incl) {
  if (incl) return (float)(K * K);
  i64 y0 = oy * S - P, x0 = ox * S - P;
  i64 ylo = y0 < 0 ? 0 : y0, yhi = y0 + K < H ? y0 + K : H;
  i64 xlo = x0 < 0 ? 0 : x0, xhi = x0 + K < W ? x0 + K : W;
  return (float)((yhi - ylo) * (xhi - xlo));
}

extern "C" __global__ void avg_pool_forward(const float* x, float* y, i64 N, i64 C, i64 H, i64 W,
                                            i64 K, i64 S, i64 P, i64 Ho, i64 Wo, i64 incl) {
  i64 total = N * C * Ho * Wo;
  FOR_EACH(t, total) {
    i64 ox = t % Wo, r = t / Wo;
    i64 oy = r % Ho; r /= Ho;
    const float* xp = x + r * H * W;
    i64 y0 = oy * S - P, x0 = ox * S - P;
    float s = 0.f;
    for (i64 iy = y0 < 0 ? 0 : y0; iy < y0 + K && iy < H; iy++)
      for (i64 ix = x0 < 0 ? 0 : x0; ix < x0 + K && ix < W; ix++) s += xp[iy * W + ix];
    y[t] = s / avg_count(oy, ox, H, W, K, S, P, incl);
  }
}

extern "C" __global__ void avg_pool_backward(const float* dy, float* dx, i64 N, i64 C, i64 H, i64 W,
                                             i64 K, i64 S, i64 P, i64 Ho, i64 Wo, i64 incl) {
  i64 total = N * C * H * W;
  FOR_EACH(t, total) {
    i64 w = t % W, r = t / W;
    i64 h = r % H; r /= H;
    float s = 0.f;
    for (i64 oy = 0; oy < Ho; oy++) {
      i64 y0 = oy * S - P;
      if (h < y0 || h >= y0 + K) continue;
      for (i64 ox = 0; ox < Wo; ox++) {
        i64 x0 = ox * S - P;
        if (w < x0 || w >= x0 + K) continue;
        s += dy[(r * Ho + oy) * Wo + ox] / avg_count(oy, ox, H, W, K, S, P, incl);
      }
    }
    dx[t] += s;
  }
}

// ------------------------------------------------------------ BatchNorm ---

// bn_stats computes, per channel (one block each), the batch mean and the
// biased variance over N·plane values, in two passes as package nn does.
extern "C" __global__ void bn_stats(const float* x, float* mean, float* var, i64 N, i64 C, i64 plane) {
  __shared__ float part[256];
  i64 c = BIDX, m = N * plane;
  float s = 0.f;
  for (i64 t = TIDX; t < m; t += BDIMX) s += x[((t / plane) * C + c) * plane + t % plane];
  part[TIDX] = s;
  SYNC();
  for (int h = 128; h > 0; h >>= 1) {
    if ((int)TIDX < h) part[TIDX] += part[TIDX + h];
    SYNC();
  }
  float mu = part[0] / (float)m;
  SYNC();
  float ss = 0.f;
  for (i64 t = TIDX; t < m; t += BDIMX) {
    float d = x[((t / plane) * C + c) * plane + t % plane] - mu;
    ss += d * d;
  }
  part[TIDX] = ss;
  SYNC();
  for (int h = 128; h > 0; h >>= 1) {
    if ((int)TIDX < h) part[TIDX] += part[TIDX + h];
    SYNC();
  }
  if (TIDX == 0) { mean[c] = mu; var[c] = part[0] / (float)m; }
}

// bn_apply writes xhat = (x−mean)/sqrt(var+eps) and y = w·xhat + b
// (w, b may be null: no affine).
extern "C" __global__ void bn_apply(const float* x, const float* mean, const float* var, const float* w,
                                    const float* b, float* xhat, float* y, float eps, i64 N, i64 C, i64 plane) {
  i64 total = N * C * plane;
  FOR_EACH(t, total) {
    i64 c = (t / plane) % C;
    float xh = (x[t] - mean[c]) / SQRTF(var[c] + eps);
    xhat[t] = xh;
    y[t] = (w ? w[c] : 1.f) * xh + (b ? b[c] : 0.f);
  }
}

// bn_backward_reduce: per channel sdy = Σ dy and sdyx = Σ dy·xhat.
extern "C" __global__ void bn_backward_reduce(const float* dy, const float* xhat, float* sdy, float* sdyx,
                                              i64 N, i64 C, i64 plane) {
  __shared__ float p1[256];
  __shared__ float p2[256];
  i64 c = BIDX, m = N * plane;
  float a = 0.f, b = 0.f;
  for (i64 t = TIDX; t < m; t += BDIMX) {
    i64 i = ((t / plane) * C + c) * plane + t % plane;
    a += dy[i];
    b += dy[i] * xhat[i];
  }
  p1[TIDX] = a;
  p2[TIDX] = b;
  SYNC();
  for (int h = 128; h > 0; h >>= 1) {
    if ((int)TIDX < h) { p1[TIDX] += p1[TIDX + h]; p2[TIDX] += p2[TIDX + h]; }
    SYNC();
  }
  if (TIDX == 0) { sdy[c] = p1[0]; sdyx[c] = p2[0]; }
}

// bn_backward_input: dx += w·σ⁻¹·(dy − mean(dy) − xhat·mean(dy·xhat)) in
// training; in evaluation (train = 0) the means drop out.
extern "C" __global__ void bn_backward_input(const float* dy, const float* xhat, const float* var, const float* w,
                                             const float* sdy, const float* sdyx, float* dx, float eps, i64 train,
                                             i64 N, i64 C, i64 plane) {
  i64 total = N * C * plane;
  float m = (float)(N * plane);
  FOR_EACH(t, total) {
    i64 c = (t / plane) % C;
    float k = (w ? w[c] : 1.f) / SQRTF(var[c] + eps);
    float mdy = train ? sdy[c] / m : 0.f, mdyx = train ? sdyx[c] / m : 0.f;
    dx[t] += k * (dy[t] - mdy - xhat[t] * mdyx);
  }
}

// ----------------------------------------------------------------- loss ---

// row_lse is log Σ exp(z_k) over a row of K logits, shifted by the row's
// maximum so that no exp overflows.
__device__ static float row_lse(const float* z, i64 K) {
  float mx = z[0];
  for (i64 k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
  float se = 0.f;
  for (i64 k = 0; k < K; k++) se += EXPF(z[k] - mx);
  return mx + LOGF(se);
}

// softmax_xent: one thread per row of (rows, K) logits; loss[r] is
// −Σ q·log softmax with q = (1−s)·onehot + s/K, and dlogits[r] = (softmax − q)·gscale.
extern "C" __global__ void softmax_xent(const float* logits, const int* labels, float* loss, float* dlogits,
                                        i64 rows, i64 K, float smoothing, float gscale) {
  FOR_EACH(r, rows) {
    const float* z = logits + r * K;
    float lse = row_lse(z, K);
    float off = smoothing / (float)K, on = 1.f - smoothing, l = 0.f;
    for (i64 k = 0; k < K; k++) {
      float lp = z[k] - lse;
      float q = off + (k == labels[r] ? on : 0.f);
      l -= q * lp;
      dlogits[r * K + k] = gscale * (EXPF(lp) - q);
    }
    loss[r] = l;
  }
}

// ------------------------------------------------- device-resident ops ---
// The kernels below serve nn.Device (resident.go): tensors that live on
// the GPU for a whole step, so they work on device pointers only.

extern "C" __global__ void fill(float* b, float v, i64 n) {
  FOR_EACH(i, n) { b[i] = v; }
}

// copy5: dst[doff + Σ i_k·ds_k] (+)= src[soff + Σ i_k·ss_k] over a 5-D block
// (the views of concat, slice, crop, subsample and channel shuffle, and
// their backward scatters; the destination map is injective).
extern "C" __global__ void copy5(float* dst, const float* src, i64 d0, i64 d1, i64 d2, i64 d3, i64 d4,
                                 i64 ds0, i64 ds1, i64 ds2, i64 ds3, i64 ds4,
                                 i64 ss0, i64 ss1, i64 ss2, i64 ss3, i64 ss4, i64 doff, i64 soff, i64 acc) {
  i64 total = d0 * d1 * d2 * d3 * d4;
  FOR_EACH(t, total) {
    i64 r = t;
    i64 i4 = r % d4; r /= d4;
    i64 i3 = r % d3; r /= d3;
    i64 i2 = r % d2; r /= d2;
    i64 i1 = r % d1; r /= d1;
    i64 i0 = r;
    i64 di = doff + i0 * ds0 + i1 * ds1 + i2 * ds2 + i3 * ds3 + i4 * ds4;
    float v = src[soff + i0 * ss0 + i1 * ss1 + i2 * ss2 + i3 * ss3 + i4 * ss4];
    if (acc) dst[di] += v; else dst[di] = v;
  }
}

// axpby: y = a·x + b·y; a term whose coefficient is 0 is not read (so
// b = 0 overwrites garbage and NaN, and a = 0 scales y alone).
extern "C" __global__ void axpby(float a, const float* x, float b, float* y, i64 n) {
  FOR_EACH(i, n) {
    float v = a == 0.f ? 0.f : a * x[i];
    if (b != 0.f) v += b * y[i];
    y[i] = v;
  }
}

// scale_at: y = w[idx]·x + beta·y (a mixed op's α weight read on the device).
extern "C" __global__ void scale_at(const float* w, i64 idx, const float* x, float beta, float* y, i64 n) {
  float s = w[idx];
  FOR_EACH(i, n) {
    float v = s * x[i];
    if (beta != 0.f) v += beta * y[i];
    y[i] = v;
  }
}

// dot_at: dst[idx] += Σ x·y in one block of 256 threads (a fixed order:
// the same sum every run; the α gradients and small reductions).
extern "C" __global__ void dot_at(const float* x, const float* y, i64 n, float* dst, i64 idx) {
  __shared__ float part[256];
  float s = 0.f;
  for (i64 i = TIDX; i < n; i += BDIMX) s += x[i] * y[i];
  part[TIDX] = s;
  SYNC();
  for (int h = 128; h > 0; h >>= 1) {
    if ((int)TIDX < h) part[TIDX] += part[TIDX + h];
    SYNC();
  }
  if (TIDX == 0) dst[idx] += part[0];
}

// mul_rows: y (+)= x·mask[u] for rows u of size values (dropout, drop path).
extern "C" __global__ void mul_rows(const float* x, const float* mask, i64 rows, i64 size, float* y, i64 acc) {
  i64 total = rows * size;
  FOR_EACH(t, total) {
    float v = x[t] * mask[t / size];
    if (acc) y[t] += v; else y[t] = v;
  }
}

// channel_affine: y (+)= x·k[c] + b[c] over (N, C, plane); b may be null.
extern "C" __global__ void channel_affine(const float* x, const float* k, const float* b, float* y,
                                          i64 N, i64 C, i64 plane, i64 acc) {
  i64 total = N * C * plane;
  FOR_EACH(t, total) {
    i64 c = (t / plane) % C;
    float v = x[t] * k[c] + (b ? b[c] : 0.f);
    if (acc) y[t] += v; else y[t] = v;
  }
}

// plane_mean: y[p] = mean of plane p (global average pooling).
extern "C" __global__ void plane_mean(const float* x, float* y, i64 planes, i64 size) {
  FOR_EACH(p, planes) {
    float s = 0.f;
    for (i64 i = 0; i < size; i++) s += x[p * size + i];
    y[p] = s * (1.f / (float)size);
  }
}

extern "C" __global__ void plane_mean_backward(const float* dy, float* dx, i64 planes, i64 size) {
  i64 total = planes * size;
  FOR_EACH(t, total) { dx[t] += dy[t / size] * (1.f / (float)size); }
}

// bn_running: the running statistics move by momentum towards the batch
// mean and the unbiased batch variance (m values per channel).
extern "C" __global__ void bn_running(const float* mean, const float* var, float* rmean, float* rvar,
                                      i64 C, float mom, i64 m) {
  FOR_EACH(c, C) {
    rmean[c] = (1.f - mom) * rmean[c] + mom * mean[c];
    rvar[c] = (1.f - mom) * rvar[c] + mom * var[c] * (float)m / (float)(m - 1);
  }
}

// bn_apply_relu is bn_apply with an optional x̂ (null: not kept) and an
// optional ReLU after the affine map (the search space's fused BN+ReLU).
extern "C" __global__ void bn_apply_relu(const float* x, const float* mean, const float* var, const float* w,
                                         const float* b, float* xhat, float* y, float eps, i64 N, i64 C,
                                         i64 plane, i64 relu) {
  i64 total = N * C * plane;
  FOR_EACH(t, total) {
    i64 c = (t / plane) % C;
    float xh = (x[t] - mean[c]) / SQRTF(var[c] + eps);
    if (xhat) xhat[t] = xh;
    float v = (w ? w[c] : 1.f) * xh + (b ? b[c] : 0.f);
    y[t] = relu && !(v > 0.f) && v == v ? 0.f : v;
  }
}

// bn_param_grads adds the per-channel sums of bn_backward_reduce to the
// weight and bias gradients (either may be null).
extern "C" __global__ void bn_param_grads(const float* sdy, const float* sdyx, float* dw, float* db, i64 C) {
  FOR_EACH(c, C) {
    if (dw) dw[c] += sdyx[c];
    if (db) db[c] += sdy[c];
  }
}

// sgd_step is nn.SGD's update (dampening 0) on one parameter.
extern "C" __global__ void sgd_step(float* w, const float* g, float* buf, i64 n, float lr, float m, float wd,
                                    i64 nesterov, i64 first) {
  FOR_EACH(j, n) {
    float d = g[j] + wd * w[j];
    if (m != 0.f) {
      float bj = first ? d : m * buf[j] + d;
      buf[j] = bj;
      d = nesterov ? d + m * bj : bj;
    }
    w[j] -= lr * d;
  }
}

// adam_step is nn.Adam's update; bc1, bc2 are the bias corrections 1−βᵗ.
extern "C" __global__ void adam_step(float* w, const float* g, float* m, float* v, i64 n, float lr, float b1,
                                     float b2, float eps, float wd, float bc1, float bc2) {
  float step = lr / bc1, bc2s = SQRTF(bc2);
  FOR_EACH(j, n) {
    float gj = g[j] + wd * w[j];
    m[j] += (1.f - b1) * (gj - m[j]);
    v[j] = b2 * v[j] + (1.f - b2) * gj * gj;
    float denom = SQRTF(v[j]) / bc2s + eps;
    w[j] -= step * (m[j] / denom);
  }
}

// dfa_taps adds, to every input pixel of plane q = (n, c), the tap values
// v[q·KH·KW + tap] of the taps that reach it (the transposed convolution of
// a spatially constant error, for the dfa rule).
extern "C" __global__ void dfa_taps(const float* v, float* dx, i64 N, i64 C, i64 H, i64 W, i64 KH, i64 KW,
                                    i64 S, i64 P, i64 D, i64 Ho, i64 Wo) {
  i64 total = N * C * H * W;
  FOR_EACH(t, total) {
    i64 w = t % W, r = t / W;
    i64 h = r % H; r /= H;
    const float* taps = v + r * KH * KW;
    float s = 0.f;
    for (i64 a = 0; a < KH; a++) {
      if (tap_out(h, a, P, D, S, Ho) < 0) continue;
      for (i64 b = 0; b < KW; b++) {
        if (tap_out(w, b, P, D, S, Wo) >= 0) s += taps[a * KW + b];
      }
    }
    dx[t] += s;
  }
}

// softmax_rows: y = softmax of each row of (rows, K) x; one thread per row.
extern "C" __global__ void softmax_rows(const float* x, float* y, i64 rows, i64 K) {
  FOR_EACH(r, rows) {
    const float* z = x + r * K;
    float lse = row_lse(z, K);
    for (i64 k = 0; k < K; k++) y[r * K + k] = EXPF(z[k] - lse);
  }
}

// softmax_rows_backward: dx += y·(dy − Σ dy·y) per row.
extern "C" __global__ void softmax_rows_backward(const float* y, const float* dy, float* dx, i64 rows, i64 K) {
  FOR_EACH(r, rows) {
    float s = 0.f;
    for (i64 k = 0; k < K; k++) s += dy[r * K + k] * y[r * K + k];
    for (i64 k = 0; k < K; k++) dx[r * K + k] += y[r * K + k] * (dy[r * K + k] - s);
  }
}
