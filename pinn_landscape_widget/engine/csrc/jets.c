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
#define CMAX 7               /* channels at most: the value, 3 first partials, 3 second-order quantities */

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

/* The pre-activations of ROWS units (i0 ...) of a hidden layer on one tile of points: z = W h (W [O][I]
   scaled by 2) in vector registers, ROWS x C x VP accumulators, one fused multiply-add per input unit in
   unit order. h is [I][C][stride]; z is [ROWS][C][VL * VP]. */
static inline __attribute__((always_inline)) void
tile_matmul(const float *restrict W, const float *restrict h, int64_t I, int64_t i0, int64_t stride,
            float *restrict z, const int ROWS, const int VP, const int C)
{
    /* fixed-size arrays, indexed by constants once the loops unroll: the compiler keeps them in registers
       (arrays sized by ROWS and C would be variable-length, and live on the stack) */
    vf acc[ACCUMULATORS], x[CMAX * VPMAX];
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
    for (int m = 0; m < ROWS * C * VP; ++m)
        *(vf *)(z + m * VL) = acc[m];
}

/* ROWS units of a hidden layer on one tile: the matmul, then the chain rule per unit. dst is [O][C][stride],
   or the output accumulator [C][stride]. */
static inline __attribute__((always_inline)) void
hidden_tile(const float *restrict W, const float *restrict b, const float *restrict h, int64_t I, int64_t i0,
            int64_t hstride, float *restrict dst, int64_t stride, const float *restrict wout, const int ROWS,
            const int VP, const int C, const int D, const int lap, const int last)
{
    float z[ACCUMULATORS * VL] __attribute__((aligned(ALIGN)));
    tile_matmul(W, h, I, i0, hstride, z, ROWS, VP, C);
    for (int r = 0; r < ROWS; ++r)
        activate(z + r * C * VP * VL, b[i0 + r], 0, last ? dst : dst + (i0 + r) * C * stride, stride,
                 last ? wout[i0 + r] : 0.0f, VL * VP, C, D, lap, 0, last);
}

/* A hidden layer (O units) on one tile: register tiles of R rows, then the remaining O mod R rows (R <= 6) */
static inline __attribute__((always_inline)) void
hidden_layer_tile(const float *W, const float *b, const float *h, int64_t I, int64_t O, int64_t hstride,
                  float *dst, int64_t stride, const float *wout, const int R, const int VP, const int C,
                  const int D, const int lap, const int last)
{
    int64_t i0 = 0;
    for (; i0 + R <= O; i0 += R)
        hidden_tile(W, b, h, I, i0, hstride, dst, stride, wout, R, VP, C, D, lap, last);
#define PLW_REST(ROWS)                                                                                   \
    if (ROWS < R && O - i0 == ROWS)                                                                      \
        hidden_tile(W, b, h, I, i0, hstride, dst, stride, wout, ROWS < R ? ROWS : 1, VP, C, D, lap, last);
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
                for (int64_t p0 = 0; p0 < BLOCK; p0 += TP) {
                    /* activations tile by tile ([tile][unit][C][TP]): a tile's inputs are one contiguous
                       run that stays in L1 through its layer; rows of a [unit][C][BLOCK] array lie a power
                       of two apart and share a few L1 sets, so every load came from L2 */
                    const float *ht = h + (p0 / TP) * in * C * TP;
                    float *dt = last ? acc + p0 : dst + (p0 / TP) * o * C * TP;
                    const int64_t ds = last ? BLOCK : TP;
                    if (l == 0) {
                        if (last)
                            first_layer_tile(W, b, xpad + n0 + p0, npad, dt, ds, wout, o, TP, C, D, lap, 1);
                        else
                            first_layer_tile(W, b, xpad + n0 + p0, npad, dt, ds, wout, o, TP, C, D, lap, 0);
                    } else if (last) {
                        hidden_layer_tile(W, b, ht, in, o, TP, dt, ds, wout, R, VP, C, D, lap, 1);
                    } else {
                        hidden_layer_tile(W, b, ht, in, o, TP, dt, ds, wout, R, VP, C, D, lap, 0);
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

/* ---- any jet: chosen first partials and second-order channels, any number of outputs ----------------

   The channels are the value, NF first partials (input indices fin[]) and NS second-order quantities, each
   a sum of coef * d^2/dx_a dx_b over its terms (a, b: positions among the first partials). Through the
   activation (derivatives in y = 2z as above) such a channel obeys
     q(a) = a' q(y) + a'' sum coef y_a y_b = a' (q(y) - a sum coef y_a y_b),
   which for the Laplacian is the classic kernel's formula, in the same operation order. The per-point
   loops here run over channels outside and points inside, so each one vectorizes whatever the recipe. */
typedef struct {
    int nf, ns, nout, din;
    int fin[3];
    int t0[4], tn[4]; /* second-order channel s: its terms t0[s] .. t0[s] + tn[s] - 1 */
    int ta[12], tb[12];
    float tc[12];
} recipe;

/* The chain rule of one unit for any recipe; z [C][TP] as in activate. first: z holds only the value, the
   first partials are the rows g1 [nf] and the second-order ones 0. last: accumulate wo[o * wstride] times
   each channel into dst [nout][C][stride] (through tmp [C][TP]), else write dst [C][stride]. */
static inline __attribute__((always_inline)) void
activate_any(const float *restrict z, float b, const float *restrict g1, float *restrict dst, int64_t stride,
             const float *restrict wo, int64_t wstride, const recipe *rc, const int TP, const int first,
             const int last)
{
    const int nf = rc->nf, ns = rc->ns, C = 1 + nf + ns;
    float a[TPMAX] __attribute__((aligned(ALIGN))), a1[TPMAX] __attribute__((aligned(ALIGN)));
    float q[TPMAX] __attribute__((aligned(ALIGN))), tmp[CMAX * TPMAX] __attribute__((aligned(ALIGN)));
    float *out = last ? tmp : dst;
    const int64_t os = last ? TP : stride;
#pragma omp simd aligned(z, a, a1 : ALIGN)
    for (int p = 0; p < TP; ++p) {
        const float y = z[p] + b;
        a[p] = 2.0f / (1.0f + plw_expf(-y)) - 1.0f;
        a1[p] = 0.5f - 0.5f * (a[p] * a[p]);
    }
#pragma omp simd aligned(a : ALIGN)
    for (int p = 0; p < TP; ++p)
        out[p] = a[p];
    for (int c = 0; c < nf; ++c) {
        float *o = out + (1 + c) * os;
        if (first) {
            const float g = g1[c];
#pragma omp simd aligned(a1 : ALIGN)
            for (int p = 0; p < TP; ++p)
                o[p] = a1[p] * g;
        } else {
            const float *gz = z + (1 + c) * TP;
#pragma omp simd aligned(a1, gz : ALIGN)
            for (int p = 0; p < TP; ++p)
                o[p] = a1[p] * gz[p];
        }
    }
    for (int s = 0; s < ns; ++s) {
        float *o = out + (1 + nf + s) * os;
        if (first) {
            /* the first layer's gradient rows are the same at every point: one scalar sum */
            float gg = 0.0f;
            for (int t = rc->t0[s]; t < rc->t0[s] + rc->tn[s]; ++t)
                gg = rc->tc[t] == 1.0f ? __builtin_fmaf(g1[rc->ta[t]], g1[rc->tb[t]], gg)
                                       : __builtin_fmaf(rc->tc[t] * g1[rc->ta[t]], g1[rc->tb[t]], gg);
#pragma omp simd aligned(a, a1 : ALIGN)
            for (int p = 0; p < TP; ++p)
                o[p] = a1[p] * (0.0f - a[p] * gg);
        } else {
#pragma omp simd aligned(q : ALIGN)
            for (int p = 0; p < TP; ++p)
                q[p] = 0.0f;
            for (int t = rc->t0[s]; t < rc->t0[s] + rc->tn[s]; ++t) {
                const float *ga = z + (1 + rc->ta[t]) * TP, *gb = z + (1 + rc->tb[t]) * TP;
                const float c = rc->tc[t];
                if (c == 1.0f) {
#pragma omp simd aligned(q, ga, gb : ALIGN)
                    for (int p = 0; p < TP; ++p)
                        q[p] = __builtin_fmaf(ga[p], gb[p], q[p]);
                } else {
#pragma omp simd aligned(q, ga, gb : ALIGN)
                    for (int p = 0; p < TP; ++p)
                        q[p] = __builtin_fmaf(c * ga[p], gb[p], q[p]);
                }
            }
            const float *zs = z + (1 + nf + s) * TP;
#pragma omp simd aligned(a, a1, q, zs : ALIGN)
            for (int p = 0; p < TP; ++p)
                o[p] = a1[p] * (zs[p] - a[p] * q[p]);
        }
    }
    if (last)
        for (int k = 0; k < rc->nout; ++k) {
            const float w = wo[k * wstride];
            for (int c = 0; c < C; ++c) {
                float *d = dst + (k * C + c) * stride;
                const float *v = tmp + c * TP;
#pragma omp simd aligned(v : ALIGN)
                for (int p = 0; p < TP; ++p)
                    d[p] = __builtin_fmaf(w, v[p], d[p]);
            }
        }
}

/* The first layer for any recipe on one tile: y = sum_i x_i w_i (in input order, as first_layer_tile) */
static inline __attribute__((always_inline)) void
first_layer_any(const float *restrict w, const float *restrict b, const float *restrict xt, int64_t xstride,
                float *restrict dst, int64_t stride, const float *restrict wout, int64_t wstride, int64_t units,
                const recipe *rc, const int TP, const int last)
{
    float z[TPMAX] __attribute__((aligned(ALIGN)));
    const int din = rc->din, C = 1 + rc->nf + rc->ns;
    for (int64_t j = 0; j < units; ++j) {
        const float *wj = w + j * din;
        float g1[3];
        for (int c = 0; c < rc->nf; ++c)
            g1[c] = wj[rc->fin[c]];
#pragma omp simd aligned(z : ALIGN)
        for (int p = 0; p < TP; ++p)
            z[p] = xt[p] * wj[0];
        for (int i = 1; i < din; ++i) {
            const float wi = wj[i];
            const float *xi = xt + i * xstride;
#pragma omp simd aligned(z : ALIGN)
            for (int p = 0; p < TP; ++p)
                z[p] = __builtin_fmaf(xi[p], wi, z[p]);
        }
        activate_any(z, b[j], g1, last ? dst : dst + j * C * stride, stride, wout + j, wstride, rc, TP, 1, last);
    }
}

/* ROWS units of a hidden layer for any recipe: the register-tiled matmul, then activate_any per unit */
static inline __attribute__((always_inline)) void
hidden_tile_any(const float *restrict W, const float *restrict b, const float *restrict h, int64_t I, int64_t i0,
                int64_t hstride, float *restrict dst, int64_t stride, const float *restrict wout, int64_t wstride,
                const recipe *rc, const int ROWS, const int VP, const int C, const int last)
{
    float z[ACCUMULATORS * VL] __attribute__((aligned(ALIGN)));
    tile_matmul(W, h, I, i0, hstride, z, ROWS, VP, C);
    for (int r = 0; r < ROWS; ++r)
        activate_any(z + r * C * VP * VL, b[i0 + r], 0, last ? dst : dst + (i0 + r) * C * stride, stride,
                     wout + i0 + r, wstride, rc, VL * VP, 0, last);
}

static inline __attribute__((always_inline)) void
hidden_layer_any(const float *W, const float *b, const float *h, int64_t I, int64_t O, int64_t hstride,
                 float *dst, int64_t stride, const float *wout, int64_t wstride, const recipe *rc, const int R,
                 const int VP, const int C, const int last)
{
    int64_t i0 = 0;
    for (; i0 + R <= O; i0 += R)
        hidden_tile_any(W, b, h, I, i0, hstride, dst, stride, wout, wstride, rc, R, VP, C, last);
    /* the remaining O mod R units one at a time: one more instance of the tile per C, not five (the
       build's time grows with every instance, and these rows are a few of a layer's) */
    for (; i0 < O; ++i0)
        hidden_tile_any(W, b, h, I, i0, hstride, dst, stride, wout, wstride, rc, 1, VP, C, last);
}

/* The network for any recipe, C channels (a compile-time constant: it sizes the register tile). Layout as
   in mlp; the output layer has nout outputs. out [K][nout][C][N]. */
static inline __attribute__((always_inline)) int
mlp_any(const float *params, int64_t P, int64_t K, const float *xt, int64_t N, const int64_t *layout, int64_t L,
        float *out, const recipe *rc, const int C)
{
    const int VP = C == 2 ? 2 : 1, TP = VL * VP;
    const int R = ACCUMULATORS / (C * VP) > 6 ? 6 : ACCUMULATORS / (C * VP);
    const int D = rc->din, nout = rc->nout;
    int64_t width = 1, n_weights = 0;
    for (int64_t l = 0; l < L - 1; ++l) {
        width = layout[4 * l + 2] > width ? layout[4 * l + 2] : width;
        n_weights += layout[4 * l + 2] * (layout[4 * l + 3] + 1);
    }
    const int64_t n_blocks = (N + BLOCK - 1) / BLOCK, npad = n_blocks * BLOCK;
    const int64_t hsize = width * C * BLOCK;
    size_t floats = (size_t)(D * npad + 2 * hsize + nout * C * BLOCK + n_weights);
    float *mem = aligned_alloc(ALIGN, ((floats * sizeof(float) + ALIGN - 1) / ALIGN) * ALIGN);
    if (!mem)
        return -2;
    float *xpad = mem, *ha = xpad + D * npad, *hb = ha + hsize, *acc = hb + hsize, *scaled = acc + nout * C * BLOCK;
    memset(xpad, 0, sizeof(float) * D * npad);
    for (int i = 0; i < D; ++i)
        memcpy(xpad + i * npad, xt + i * N, sizeof(float) * N);
    const int64_t *out_layer = layout + 4 * (L - 1);
    const int64_t wstride = out_layer[3]; /* the output weights [nout][last width]: unit j of output k */

    for (int64_t k = 0; k < K; ++k) {
        const float *theta = params + k * P;
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
        const float *bout = theta + out_layer[1];
        for (int64_t blk = 0; blk < n_blocks; ++blk) {
            const int64_t n0 = blk * BLOCK;
            memset(acc, 0, sizeof(float) * nout * C * BLOCK);
            const float *h = 0;
            float *dst = ha;
            s = scaled;
            for (int64_t l = 0; l < L - 1; ++l) {
                const int64_t o = layout[4 * l + 2], in = layout[4 * l + 3];
                const float *W = s, *b = s + o * in;
                const int last = l == L - 2;
                for (int64_t p0 = 0; p0 < BLOCK; p0 += TP) {
                    /* tile by tile, as in mlp */
                    const float *ht = h + (p0 / TP) * in * C * TP;
                    float *dt = last ? acc + p0 : dst + (p0 / TP) * o * C * TP;
                    const int64_t ds = last ? BLOCK : TP;
                    if (l == 0) {
                        if (last)
                            first_layer_any(W, b, xpad + n0 + p0, npad, dt, ds, wout, wstride, o, rc, TP, 1);
                        else
                            first_layer_any(W, b, xpad + n0 + p0, npad, dt, ds, wout, wstride, o, rc, TP, 0);
                    } else if (last) {
                        hidden_layer_any(W, b, ht, in, o, TP, dt, ds, wout, wstride, rc, R, VP, C, 1);
                    } else {
                        hidden_layer_any(W, b, ht, in, o, TP, dt, ds, wout, wstride, rc, R, VP, C, 0);
                    }
                }
                h = dst;
                dst = dst == ha ? hb : ha;
                s += o * (in + 1);
            }
            const int64_t n_valid = N - n0 < BLOCK ? N - n0 : BLOCK;
            for (int m = 0; m < nout; ++m)
                for (int c = 0; c < C; ++c) {
                    float *o = out + ((k * nout + m) * C + c) * N + n0;
                    const float *a = acc + (m * C + c) * BLOCK;
                    for (int64_t p = 0; p < n_valid; ++p)
                        o[p] = c == 0 ? a[p] + bout[m] : a[p];
                }
        }
    }
    free(mem);
    return 0;
}

#define PLW_ANY(C)                                                                                       \
    static int mlp_any_##C(const float *params, int64_t P, int64_t K, const float *xt, int64_t N,        \
                           const int64_t *layout, int64_t L, float *out, const recipe *rc)               \
    {                                                                                                    \
        return mlp_any(params, P, K, xt, N, layout, L, out, rc, C);                                      \
    }
PLW_ANY(2) PLW_ANY(3) PLW_ANY(4) PLW_ANY(5) PLW_ANY(6) PLW_ANY(7)

/* out [K, nout, C, N]: the output jet of a tanh MLP with nout outputs for the recipe: the value, the first
   partials along the inputs first[0 .. nf-1] (distinct, below d), and ns second-order channels, channel s
   the sum over its terms t (term_counts[s] of them, in order) of coefs[t] * d^2/dx_a dx_b, with a, b =
   terms[2t], terms[2t+1] positions in first. Returns 0; -1 for a recipe there is no kernel for (d > 3,
   nf > 3, ns > 3, more than 12 terms, a position out of range); -2 when memory could not be allocated. */
int plw_tanh_mlp_jet(const float *params, int64_t P, int64_t K, const float *xt, int64_t N, int64_t d,
                     const int64_t *layout, int64_t L, int64_t nf, const int64_t *first, int64_t ns,
                     const int64_t *term_counts, const int64_t *terms, const float *coefs, float *out)
{
    if (L < 2 || d < 1 || d > 3 || nf < 1 || nf > 3 || ns < 0 || ns > 3 || layout[4 * (L - 1) + 2] < 1)
        return -1;
    recipe rc;
    memset(&rc, 0, sizeof rc);
    rc.nf = (int)nf;
    rc.ns = (int)ns;
    rc.din = (int)d;
    rc.nout = (int)layout[4 * (L - 1) + 2];
    for (int c = 0; c < nf; ++c) {
        if (first[c] < 0 || first[c] >= d)
            return -1;
        rc.fin[c] = (int)first[c];
    }
    int t = 0;
    for (int s = 0; s < ns; ++s) {
        if (term_counts[s] < 1 || t + term_counts[s] > 12)
            return -1;
        rc.t0[s] = t;
        rc.tn[s] = (int)term_counts[s];
        for (int64_t m = 0; m < term_counts[s]; ++m, ++t) {
            if (terms[2 * t] < 0 || terms[2 * t] >= nf || terms[2 * t + 1] < 0 || terms[2 * t + 1] >= nf)
                return -1;
            rc.ta[t] = (int)terms[2 * t];
            rc.tb[t] = (int)terms[2 * t + 1];
            rc.tc[t] = coefs[t];
        }
    }
    switch (1 + nf + ns) {
    case 2: return mlp_any_2(params, P, K, xt, N, layout, L, out, &rc);
    case 3: return mlp_any_3(params, P, K, xt, N, layout, L, out, &rc);
    case 4: return mlp_any_4(params, P, K, xt, N, layout, L, out, &rc);
    case 5: return mlp_any_5(params, P, K, xt, N, layout, L, out, &rc);
    case 6: return mlp_any_6(params, P, K, xt, N, layout, L, out, &rc);
    case 7: return mlp_any_7(params, P, K, xt, N, layout, L, out, &rc);
    }
    return -1;
}

/* ---- value and input gradient by reverse mode --------------------------------------------------------

   For the value and the whole input gradient of one output in d >= 2 inputs, forward mode carries d + 1
   channels through every matmul; reverse mode carries two (the value forward, then one adjoint back
   through the transposed weights), for the same numbers up to the order of the sums. Per block of points:
   the forward pass keeps each hidden layer's activations, the backward pass turns them into the adjoint
   d u / d y of each layer (y the scaled pre-activation), and the first layer's weights give the gradient. */
static int
mlp_grad(const float *params, int64_t P, int64_t K, const float *xt, int64_t N, const int64_t *layout, int64_t L,
         float *out, const int D)
{
    enum { VP = 2, TP = VL * VP, R = ACCUMULATORS / VP > 6 ? 6 : ACCUMULATORS / VP };
    int64_t width = 1, n_weights = 0, n_acts = 0;
    for (int64_t l = 0; l < L - 1; ++l) {
        width = layout[4 * l + 2] > width ? layout[4 * l + 2] : width;
        n_weights += 2 * layout[4 * l + 2] * (layout[4 * l + 3] + 1); /* scaled, and transposed */
        n_acts += layout[4 * l + 2];
    }
    const int64_t n_blocks = (N + BLOCK - 1) / BLOCK, npad = n_blocks * BLOCK;
    size_t floats = (size_t)(D * npad + n_acts * BLOCK + 2 * width * BLOCK + n_weights);
    float *mem = aligned_alloc(ALIGN, ((floats * sizeof(float) + ALIGN - 1) / ALIGN) * ALIGN);
    if (!mem)
        return -2;
    float *xpad = mem, *acts = xpad + D * npad, *ga = acts + n_acts * BLOCK, *gb = ga + width * BLOCK;
    float *scaled = gb + width * BLOCK;
    memset(xpad, 0, sizeof(float) * D * npad);
    for (int i = 0; i < D; ++i)
        memcpy(xpad + i * npad, xt + i * N, sizeof(float) * N);
    const int64_t *out_layer = layout + 4 * (L - 1);
    float z[ACCUMULATORS * VL] __attribute__((aligned(ALIGN)));

    for (int64_t k = 0; k < K; ++k) {
        const float *theta = params + k * P;
        /* per layer [W | b] times 2 (as mlp), then W^T [in][out] times 2 */
        float *s = scaled;
        for (int64_t l = 0; l < L - 1; ++l) {
            const int64_t o = layout[4 * l + 2], in = layout[4 * l + 3];
            for (int64_t m = 0; m < o * in; ++m)
                s[m] = 2.0f * theta[layout[4 * l] + m];
            for (int64_t m = 0; m < o; ++m)
                s[o * in + m] = 2.0f * theta[layout[4 * l + 1] + m];
            float *t = s + o * (in + 1);
            for (int64_t i = 0; i < in; ++i)
                for (int64_t j = 0; j < o; ++j)
                    t[i * o + j] = s[j * in + i];
            s += 2 * o * (in + 1);
        }
        const float *wout = theta + out_layer[0];
        const float bout = theta[out_layer[1]];
        for (int64_t blk = 0; blk < n_blocks; ++blk) {
            const int64_t n0 = blk * BLOCK;
            /* forward: the activations of every hidden layer, [units][BLOCK] each */
            float *a = acts;
            const float *prev = 0;
            int64_t prev_units = 0;
            s = scaled;
            for (int64_t l = 0; l < L - 1; ++l) {
                const int64_t o = layout[4 * l + 2], in = layout[4 * l + 3];
                const float *W = s, *b = s + o * in;
                for (int64_t p0 = 0; p0 < BLOCK; p0 += TP) {
                    if (l == 0) {
                        /* y = sum_i x_i w_i in input order, as the forward kernels; loops over points
                           innermost, so each one vectorizes whatever D is */
                        for (int64_t j = 0; j < o; ++j) {
                            const float *wj = W + j * D;
                            float *dst = a + j * BLOCK + p0;
                            const float *x0 = xpad + n0 + p0;
                            const float w0 = wj[0], bj = b[j];
#pragma omp simd aligned(dst : ALIGN)
                            for (int p = 0; p < TP; ++p)
                                dst[p] = x0[p] * w0;
                            for (int i = 1; i < D; ++i) {
                                const float wi = wj[i];
                                const float *xi = x0 + i * npad;
#pragma omp simd aligned(dst : ALIGN)
                                for (int p = 0; p < TP; ++p)
                                    dst[p] = __builtin_fmaf(xi[p], wi, dst[p]);
                            }
#pragma omp simd aligned(dst : ALIGN)
                            for (int p = 0; p < TP; ++p)
                                dst[p] = 2.0f / (1.0f + plw_expf(-(dst[p] + bj))) - 1.0f;
                        }
                    } else {
                        int64_t i0 = 0;
                        for (; i0 < o; i0 += R) {
                            const int rows = o - i0 < R ? (int)(o - i0) : R;
#define PLW_FWD(ROWS)                                                                                    \
    if (rows == ROWS) {                                                                                  \
        tile_matmul(W, prev + p0, prev_units, i0, BLOCK, z, ROWS, VP, 1);                                \
        for (int r = 0; r < ROWS; ++r) {                                                                 \
            float *dst = a + (i0 + r) * BLOCK + p0;                                                      \
            const float bj = b[i0 + r], *zr = z + r * TP;                                                \
            _Pragma("omp simd aligned(dst, zr : ALIGN)") for (int p = 0; p < TP; ++p)                    \
                dst[p] = 2.0f / (1.0f + plw_expf(-(zr[p] + bj))) - 1.0f;                                 \
        }                                                                                                \
    }
                            PLW_FWD(1) PLW_FWD(2) PLW_FWD(3) PLW_FWD(4) PLW_FWD(5) PLW_FWD(6)
#undef PLW_FWD
                        }
                    }
                }
                prev = a;
                prev_units = o;
                a += o * BLOCK;
                s += 2 * o * (in + 1);
            }
            /* the value, summed over the last layer's units in unit order (as mlp's output accumulator) */
            const int64_t last_units = prev_units;
            const float *alast = prev;
            float *ov = out + k * (1 + D) * N + n0;
            const int64_t n_valid = N - n0 < BLOCK ? N - n0 : BLOCK;
            /* the adjoint of the last layer's pre-activations: w_out a'(y) */
            float *g = ga, *gnext = gb;
            for (int64_t j = 0; j < last_units; ++j) {
                const float w = wout[j], *aj = alast + j * BLOCK;
                float *gj = g + j * BLOCK;
#pragma omp simd aligned(aj, gj : ALIGN)
                for (int p = 0; p < BLOCK; ++p)
                    gj[p] = w * (0.5f - 0.5f * (aj[p] * aj[p]));
            }
            {
                float v[BLOCK] __attribute__((aligned(ALIGN)));
                memset(v, 0, sizeof v);
                for (int64_t j = 0; j < last_units; ++j) {
                    const float w = wout[j], *aj = alast + j * BLOCK;
#pragma omp simd aligned(aj, v : ALIGN)
                    for (int p = 0; p < BLOCK; ++p)
                        v[p] = __builtin_fmaf(w, aj[p], v[p]);
                }
                for (int64_t p = 0; p < n_valid; ++p)
                    ov[p] = v[p] + bout;
            }
            /* backward through the hidden layers above the first: g_prev = (W^T g) * a'(y_prev) */
            for (int64_t l = L - 2; l >= 1; --l) {
                /* layer l's transposed weights: after its [W | b] in scaled */
                const float *sl = scaled;
                for (int64_t m = 0; m < l; ++m)
                    sl += 2 * layout[4 * m + 2] * (layout[4 * m + 3] + 1);
                const int64_t o = layout[4 * l + 2], in = layout[4 * l + 3];
                const float *WT = sl + o * (in + 1);
                const float *aprev = acts;
                for (int64_t m = 0; m < l - 1; ++m)
                    aprev += layout[4 * m + 2] * BLOCK;
                for (int64_t p0 = 0; p0 < BLOCK; p0 += TP) {
                    for (int64_t i0 = 0; i0 < in; i0 += R) {
                        const int rows = in - i0 < R ? (int)(in - i0) : R;
#define PLW_BWD(ROWS)                                                                                    \
    if (rows == ROWS) {                                                                                  \
        tile_matmul(WT, g + p0, o, i0, BLOCK, z, ROWS, VP, 1);                                           \
        for (int r = 0; r < ROWS; ++r) {                                                                 \
            float *dst = gnext + (i0 + r) * BLOCK + p0;                                                  \
            const float *ar = aprev + (i0 + r) * BLOCK + p0, *zr = z + r * TP;                           \
            _Pragma("omp simd aligned(dst, ar, zr : ALIGN)") for (int p = 0; p < TP; ++p)                \
                dst[p] = zr[p] * (0.5f - 0.5f * (ar[p] * ar[p]));                                        \
        }                                                                                                \
    }
                        PLW_BWD(1) PLW_BWD(2) PLW_BWD(3) PLW_BWD(4) PLW_BWD(5) PLW_BWD(6)
#undef PLW_BWD
                    }
                }
                float *t = g;
                g = gnext;
                gnext = t;
            }
            /* the gradient: d u / d x_i = sum_j (2 W_0)[j][i] g[j], in unit order */
            const int64_t o0 = layout[2];
            for (int i = 0; i < D; ++i) {
                float v[BLOCK] __attribute__((aligned(ALIGN)));
                memset(v, 0, sizeof v);
                for (int64_t j = 0; j < o0; ++j) {
                    const float w = scaled[j * D + i], *gj = g + j * BLOCK;
#pragma omp simd aligned(gj, v : ALIGN)
                    for (int p = 0; p < BLOCK; ++p)
                        v[p] = __builtin_fmaf(w, gj[p], v[p]);
                }
                for (int64_t p = 0; p < n_valid; ++p)
                    ov[(1 + i) * N + p] = v[p];
            }
        }
    }
    free(mem);
    return 0;
}

/* out [K, 1 + d, N]: the value and input gradient of a tanh MLP with one output, by reverse mode (see
   mlp_grad); the same layout and results as plw_tanh_mlp with order 1, up to the order of the sums.
   Returns 0; -1 where there is no kernel (d outside 1..3); -2 when memory could not be allocated. */
int plw_tanh_mlp_grad(const float *params, int64_t P, int64_t K, const float *xt, int64_t N, int64_t d,
                      const int64_t *layout, int64_t L, float *out)
{
    if (L < 2 || d < 1 || d > 3 || layout[4 * (L - 1) + 2] != 1)
        return -1;
    if (d == 1)
        return mlp_grad(params, P, K, xt, N, layout, L, out, 1);
    if (d == 2)
        return mlp_grad(params, P, K, xt, N, layout, L, out, 2);
    return mlp_grad(params, P, K, xt, N, layout, L, out, 3);
}

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
