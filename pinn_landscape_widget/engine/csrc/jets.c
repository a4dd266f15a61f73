/* The whole forward jet of a float32 tanh MLP on a CPU, fused: value, input gradient and (order 2)
   Laplacian of the network's output at N input points, for each of K parameter vectors.

   Why one C function for the whole network: a landscape chunk is K networks at the same N points. torch
   runs it as one batched matmul per layer plus ~25 elementwise passes over the activations; MKL's sgemm
   reaches ~70 GFLOP/s per core here on these skinny 50 x 50 products, and each elementwise pass streams the
   activations through memory again. Here a block of points goes through every layer while its activations
   stay in cache, the matmul is a register-tiled kernel written for exactly this shape (~100 GFLOP/s per core
   here), and the activation's chain rule is applied to each tile as soon as it is complete.

   Numerics. Built by native.py with -ffp-contract=off and no libm: every operation is a plain IEEE one,
   with fused multiply-adds only where written out (vfma, fmaf). Points are processed in tiles of TP, the
   last tile padded, so every point goes through the same instructions: a value never depends on its
   position in a chunk or the chunk's size (a grid point's loss must not depend on its chunk). Each sum over
   the units of a layer runs in unit order, one fused multiply-add per unit. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "vec.h"

#define VPMAX 2              /* vectors per channel in a register tile: 2 for 2 channels, else 1 */
#define TPMAX (VL * VPMAX)   /* points per tile, at most */
#define BLOCK (8 * TPMAX)    /* points per block: a block's activations stay in cache through all layers */
#define ALIGN 64

/* The chain rule of one unit over TP points. tanh is taken at y = 2z (the 2 folded into the weights and
   bias, exactly): a = 2 sigmoid(y) - 1, a' = (1 - a^2)/2, a'' = -a a', so
     grad a = a' grad y,   lap a = a' lap y + a'' |grad y|^2 = a' (lap y - a |grad y|^2).
   z holds the unit's pre-activation channels [C][TP] (value without bias, D gradient components, Laplacian);
   the result goes to dst [C][stride] or, for the last hidden layer, is accumulated into acc [C][stride]
   times the output weight wo. first: the first layer, where grad y is the same row g1 [D] at every point
   and lap y = 0 (z then holds only the value channel). */
static inline __attribute__((always_inline)) void
activate(const float *restrict z, float b, const float *restrict g1, float *restrict dst, int64_t stride,
         float wo, const int TP, const int C, const int D, const int lap, const int first, const int last)
{
    float gg1 = 0.0f;
    if (first)
        for (int i = 0; i < D; ++i)
            gg1 = __builtin_fmaf(g1[i], g1[i], gg1);
#pragma omp simd aligned(z : ALIGN)
    for (int p = 0; p < TP; ++p) {
        float y = z[p] + b;
        float a = 2.0f / (1.0f + plw_expf(-y)) - 1.0f;
        float a1 = 0.5f - 0.5f * (a * a);
        /* scalars, not arrays: gcc vectorizes an array declared in an omp simd loop as one copy per lane,
           with scattered stores (and gave up on this loop for D >= 2) */
        float gg = first ? gg1 : 0.0f;
        const float g0 = first ? g1[0] : z[TP + p];
        const float g1v = D > 1 ? (first ? g1[1] : z[2 * TP + p]) : 0.0f;
        const float g2v = D > 2 ? (first ? g1[2] : z[3 * TP + p]) : 0.0f;
        if (!first) {
            gg = __builtin_fmaf(g0, g0, gg);
            if (D > 1)
                gg = __builtin_fmaf(g1v, g1v, gg);
            if (D > 2)
                gg = __builtin_fmaf(g2v, g2v, gg);
        }
        const float n0 = a1 * g0, n1 = a1 * g1v, n2 = a1 * g2v;
        float ln = 0.0f;
        if (lap)
            ln = a1 * ((first ? 0.0f : z[(1 + D) * TP + p]) - a * gg);
        if (last) {
            dst[p] = __builtin_fmaf(wo, a, dst[p]);
            dst[stride + p] = __builtin_fmaf(wo, n0, dst[stride + p]);
            if (D > 1)
                dst[2 * stride + p] = __builtin_fmaf(wo, n1, dst[2 * stride + p]);
            if (D > 2)
                dst[3 * stride + p] = __builtin_fmaf(wo, n2, dst[3 * stride + p]);
            if (lap)
                dst[(1 + D) * stride + p] = __builtin_fmaf(wo, ln, dst[(1 + D) * stride + p]);
        } else {
            dst[p] = a;
            dst[stride + p] = n0;
            if (D > 1)
                dst[2 * stride + p] = n1;
            if (D > 2)
                dst[3 * stride + p] = n2;
            if (lap)
                dst[(1 + D) * stride + p] = ln;
        }
    }
}

/* The first layer on one tile of points: y = x w_j + b_j per unit j (w, b scaled by 2), from the points
   xt [D][stride]. */
static inline __attribute__((always_inline)) void
first_layer_tile(const float *restrict w, const float *restrict b, const float *restrict xt, int64_t xstride,
                 float *restrict dst, int64_t stride, const float *restrict wout, int64_t units, const int TP,
                 const int C, const int D, const int lap, const int last)
{
    float z[TPMAX] __attribute__((aligned(ALIGN)));
    for (int64_t j = 0; j < units; ++j) {
        const float *wj = w + j * D;
#pragma omp simd aligned(z : ALIGN)
        for (int p = 0; p < TP; ++p) {
            float y = xt[p] * wj[0];
            for (int i = 1; i < D; ++i)
                y = __builtin_fmaf(xt[i * xstride + p], wj[i], y);
            z[p] = y;
        }
        activate(z, b[j], wj, last ? dst : dst + j * C * stride, stride, last ? wout[j] : 0.0f, TP, C, D, lap, 1,
                 last);
    }
}

/* ROWS units (i0 ...) of a hidden layer on one tile of points: z = W h (W [O][I] scaled by 2) in vector
   registers, ROWS x C x VP accumulators, one fused multiply-add per input unit in unit order; then the
   chain rule per unit. h is [I][C][stride]; dst is [O][C][stride], or the output accumulator [C][stride]. */
static inline __attribute__((always_inline)) void
hidden_tile(const float *restrict W, const float *restrict b, const float *restrict h, int64_t I, int64_t i0,
            float *restrict dst, int64_t stride, const float *restrict wout, const int ROWS, const int VP,
            const int C, const int D, const int lap, const int last)
{
    /* fixed-size arrays, indexed by constants once the loops unroll: the compiler keeps them in registers
       (arrays sized by ROWS and C would be variable-length, and live on the stack) */
    vf acc[ACCUMULATORS], x[5 * VPMAX];
    for (int m = 0; m < ROWS * C * VP; ++m)
        acc[m] = (vf){0};
    for (int64_t j = 0; j < I; ++j) {
        for (int c = 0; c < C; ++c)
            for (int v = 0; v < VP; ++v)
                x[c * VP + v] = *(const vf *)(h + (j * C + c) * stride + v * VL);
        for (int r = 0; r < ROWS; ++r) {
            const vf w = vset1(W[(i0 + r) * I + j]);
            for (int m = 0; m < C * VP; ++m)
                acc[r * C * VP + m] = vfma(w, x[m], acc[r * C * VP + m]);
        }
    }
    float z[5 * TPMAX] __attribute__((aligned(ALIGN)));
    for (int r = 0; r < ROWS; ++r) {
        for (int m = 0; m < C * VP; ++m)
            *(vf *)(z + m * VL) = acc[r * C * VP + m];
        activate(z, b[i0 + r], 0, last ? dst : dst + (i0 + r) * C * stride, stride, last ? wout[i0 + r] : 0.0f,
                 VL * VP, C, D, lap, 0, last);
    }
}

/* A hidden layer (O units) on one tile: register tiles of R rows, then the remaining O mod R rows (R <= 6) */
static inline __attribute__((always_inline)) void
hidden_layer_tile(const float *W, const float *b, const float *h, int64_t I, int64_t O, float *dst,
                  int64_t stride, const float *wout, const int R, const int VP, const int C, const int D,
                  const int lap, const int last)
{
    int64_t i0 = 0;
    for (; i0 + R <= O; i0 += R)
        hidden_tile(W, b, h, I, i0, dst, stride, wout, R, VP, C, D, lap, last);
#define PLW_REST(ROWS)                                                                                   \
    if (ROWS < R && O - i0 == ROWS)                                                                      \
        hidden_tile(W, b, h, I, i0, dst, stride, wout, ROWS < R ? ROWS : 1, VP, C, D, lap, last);
    PLW_REST(1) PLW_REST(2) PLW_REST(3) PLW_REST(4) PLW_REST(5)
#undef PLW_REST
}

/* Layer sizes: layout [L][4] = (weight offset, bias offset, out, in) into a parameter row [P]; layers
   0..L-2 are tanh layers, L-1 the (linear, one output) output layer. */
static inline __attribute__((always_inline)) int
mlp(const float *params, int64_t P, int64_t K, const float *xt, int64_t N, const int64_t *layout, int64_t L,
    float *out, const int D, const int lap)
{
    const int C = 1 + D + lap;
    /* register tile: VP vectors of points x C channels x R units <= ACCUMULATORS (measured best here:
       2 x 2 x 6 for two channels, 1 x 3 x 6 for three) */
    const int VP = C == 2 ? 2 : 1, TP = VL * VP;
    const int R = ACCUMULATORS / (C * VP) > 6 ? 6 : ACCUMULATORS / (C * VP);
    int64_t width = 1, n_weights = 0;
    for (int64_t l = 0; l < L - 1; ++l) {
        width = layout[4 * l + 2] > width ? layout[4 * l + 2] : width;
        n_weights += layout[4 * l + 2] * (layout[4 * l + 3] + 1);
    }
    const int64_t n_blocks = (N + BLOCK - 1) / BLOCK, npad = n_blocks * BLOCK;
    const int64_t hsize = width * C * BLOCK;
    /* the points padded with zeros (padded points compute harmless values that are never written out),
       two activation buffers, the output accumulator and one parameter vector's scaled weights */
    size_t floats = (size_t)(D * npad + 2 * hsize + C * BLOCK + n_weights);
    float *mem = aligned_alloc(ALIGN, ((floats * sizeof(float) + ALIGN - 1) / ALIGN) * ALIGN);
    if (!mem)
        return -2;
    float *xpad = mem, *ha = xpad + D * npad, *hb = ha + hsize, *acc = hb + hsize, *scaled = acc + C * BLOCK;
    memset(xpad, 0, sizeof(float) * D * npad);
    for (int i = 0; i < D; ++i)
        memcpy(xpad + i * npad, xt + i * N, sizeof(float) * N);
    const int64_t *out_layer = layout + 4 * (L - 1);

    for (int64_t k = 0; k < K; ++k) {
        const float *theta = params + k * P;
        /* tanh(z) = a(2z): the hidden layers' weights and biases times 2, exactly; [W | b] per layer */
        float *s = scaled;
        for (int64_t l = 0; l < L - 1; ++l) {
            const int64_t o = layout[4 * l + 2], in = layout[4 * l + 3];
            for (int64_t m = 0; m < o * in; ++m)
                s[m] = 2.0f * theta[layout[4 * l] + m];
            for (int64_t m = 0; m < o; ++m)
                s[o * in + m] = 2.0f * theta[layout[4 * l + 1] + m];
            s += o * (in + 1);
        }
        const float *wout = theta + out_layer[0];
        const float bout = theta[out_layer[1]];
        for (int64_t blk = 0; blk < n_blocks; ++blk) {
            const int64_t n0 = blk * BLOCK;
            memset(acc, 0, sizeof(float) * C * BLOCK);
            const float *h = 0;
            float *dst = ha;
            s = scaled;
            for (int64_t l = 0; l < L - 1; ++l) {
                const int64_t o = layout[4 * l + 2], in = layout[4 * l + 3];
                const float *W = s, *b = s + o * in;
                const int last = l == L - 2;
                float *target = last ? acc : dst;
                for (int64_t p0 = 0; p0 < BLOCK; p0 += TP) {
                    if (l == 0) {
                        if (last)
                            first_layer_tile(W, b, xpad + n0 + p0, npad, target + p0, BLOCK, wout, o, TP, C, D, lap, 1);
                        else
                            first_layer_tile(W, b, xpad + n0 + p0, npad, target + p0, BLOCK, wout, o, TP, C, D, lap, 0);
                    } else if (last) {
                        hidden_layer_tile(W, b, h + p0, in, o, target + p0, BLOCK, wout, R, VP, C, D, lap, 1);
                    } else {
                        hidden_layer_tile(W, b, h + p0, in, o, target + p0, BLOCK, wout, R, VP, C, D, lap, 0);
                    }
                }
                h = dst;
                dst = dst == ha ? hb : ha;
                s += o * (in + 1);
            }
            const int64_t n_valid = N - n0 < BLOCK ? N - n0 : BLOCK;
            float *o = out + k * C * N + n0;
            for (int c = 0; c < C; ++c)
                for (int64_t p = 0; p < n_valid; ++p)
                    o[c * N + p] = c == 0 ? acc[p] + bout : acc[c * BLOCK + p];
        }
    }
    free(mem);
    return 0;
}

#define PLW_VARIANT(D, LAP)                                                                              \
    static int mlp_##D##_##LAP(const float *params, int64_t P, int64_t K, const float *xt, int64_t N,   \
                               const int64_t *layout, int64_t L, float *out)                             \
    {                                                                                                    \
        return mlp(params, P, K, xt, N, layout, L, out, D, LAP);                                         \
    }
PLW_VARIANT(1, 0) PLW_VARIANT(1, 1) PLW_VARIANT(2, 0) PLW_VARIANT(2, 1) PLW_VARIANT(3, 0) PLW_VARIANT(3, 1)

/* The interface version (abi.h) and the largest input dimension plw_tanh_mlp has a kernel for (PLW_CASE
   below); _native.py checks both at load */
int64_t plw_abi_version(void) { return PLW_ABI_VERSION; }
int64_t plw_max_input_dim(void) { return 3; }

/* 1 when fused multiply-adds are instructions here; without them every fmaf is a call into libm and the
   kernel is ~100x slower than torch's, so native.py does not use it */
int plw_hardware_fma(void)
{
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA) || defined(__aarch64__)
    return 1;
#else
    return 0;
#endif
}

/* out [K, C, N]: the network's output jet (value, d gradient components, Laplacian if order 2) at the
   points xt [d, N] for each parameter row of params [K, P]. Returns 0; -1 where there is no kernel for
   (d, order) (the caller then uses torch); -2 when memory could not be allocated. */
int plw_tanh_mlp(const float *params, int64_t P, int64_t K, const float *xt, int64_t N, int64_t d,
                 int64_t order, const int64_t *layout, int64_t L, float *out)
{
    if (order < 1 || order > 2 || L < 2)
        return -1;
    const int lap = order == 2;
#define PLW_CASE(D)                                                                                      \
    if (d == D)                                                                                          \
        return lap ? mlp_##D##_1(params, P, K, xt, N, layout, L, out)                                    \
                   : mlp_##D##_0(params, P, K, xt, N, layout, L, out);
    PLW_CASE(1) PLW_CASE(2) PLW_CASE(3)
#undef PLW_CASE
    return -1;
}
