/* Fused elementwise kernels for the in-place jet evaluator (float32, tanh networks).

   A hidden layer of a grid chunk is one batched matmul (MKL) followed by the activation's chain rule on
   the value, gradient and Laplacian channels. In torch that rule is eight passes over the activations;
   here it is one, with the first layer's affine map folded in, and the output layer's row sums one more. Built by native.py at first use with
   -ffp-contract=off and no libm: every operation is a plain IEEE one, so the vector loop and its
   remainder round identically and a value never depends on its position in an array (a grid point's
   loss must not depend on its chunk). */

#include <stdint.h>
#include <string.h>

/* exp(x) for float32: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two so that n * LN2_HI is exact),
   e^r by its Taylor polynomial to degree 7 (truncation error (ln2/2)^8/8! = 5e-9, below float32's
   2^-24 = 6e-8) in fused multiply-adds, written out (fmaf rounds once, identically in vector and scalar
   code), times 2^n built in the exponent bits. x is clamped to [-87, 88], where 2^n stays normal and e^x
   finite; NaN passes through. */
static inline float plw_expf(float x)
{
    const float LN2_HI = 0.693359375f;             /* 355/512: 9 significant bits */
    const float LN2_LO = -2.12194440054690583e-4f; /* ln 2 - LN2_HI */
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float n = __builtin_rintf(x * 1.44269504088896341f);
    float r = __builtin_fmaf(-n, LN2_LO, __builtin_fmaf(-n, LN2_HI, x));
    float p = 1.0f / 5040.0f;
    p = __builtin_fmaf(p, r, 1.0f / 720.0f);
    p = __builtin_fmaf(p, r, 1.0f / 120.0f);
    p = __builtin_fmaf(p, r, 1.0f / 24.0f);
    p = __builtin_fmaf(p, r, 1.0f / 6.0f);
    p = __builtin_fmaf(p, r, 0.5f);
    p = __builtin_fmaf(p, r, 1.0f);
    p = __builtin_fmaf(p, r, 1.0f);
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* One tanh layer of the jet recursion for a chunk of K parameter points at N input points.

   tanh is taken at y = 2z (the 2 folded into the weights and bias, exactly): a = 2 sigmoid(y) - 1 and,
   per unit of y, a' = (1 - a^2)/2 and a'' = -a a'. The chain rule on the channels:
     grad a = a' grad y,   lap a = a' lap y + a'' |grad y|^2 = a' (lap y - a |grad y|^2).
   h is [K, C, N, W]: the value, D gradient components and (order 2) the Laplacian.

   first: the first layer; y = x w + bias is formed here from the points x [N, D] and the (scaled) weights
     w [K, D, W], whose rows are also grad y at every point (an affine map has no Laplacian).
   otherwise: y = h's value channel (the matmul's output) + bias [K, W], derivative channels from h.

   A row of W = 50 units is 3 vectors of 16 and a remainder of 2 done one at a time, and the remainder
   cost a third of the time. So the units are walked as one flat array per channel, TILE rows at a time,
   with the per-unit operands (bias, and for the first layer x and w) laid out as tiles of the same
   length: the vector loop then covers everything but the very end of a channel. */
#define TILE 16

static inline __attribute__((always_inline)) void
tanh_layer(float *restrict h, const float *restrict bias, const float *restrict x, const float *restrict w,
           float *restrict tiles, int64_t K, int64_t N, int64_t W, const int order, const int D, const int first)
{
    const int64_t C = 1 + D + (order >= 2 ? 1 : 0);
    const int64_t gs = N * W; /* distance between channels */
    const int64_t L = TILE * W;
    float *bt = tiles, *xt = tiles + L, *wt = tiles + (1 + D) * L; /* bias, D x and D weight tiles */
    for (int64_t k = 0; k < K; ++k) {
        for (int64_t m = 0; m < L; ++m)
            bt[m] = bias[k * W + m % W];
        if (first)
            for (int i = 0; i < D; ++i)
                for (int64_t m = 0; m < L; ++m)
                    wt[i * L + m] = w[(k * D + i) * W + m % W];
        float *base = h + k * C * gs;
        for (int64_t r0 = 0; r0 < N; r0 += TILE) {
            const int64_t len = (N - r0 < TILE ? N - r0 : TILE) * W;
            float *v = base + r0 * W;
            float *g = v + gs;
            float *lap = v + (1 + D) * gs;
            float xs[3 * TILE];
            if (first) {
                for (int64_t r = 0; r * W < len; ++r)
                    for (int i = 0; i < D; ++i)
                        xs[i * TILE + r] = x[(r0 + r) * D + i];
                for (int i = 0; i < D; ++i)
                    for (int64_t r = 0; r * W < len; ++r)
                        for (int64_t j = 0; j < W; ++j)
                            xt[i * L + r * W + j] = xs[i * TILE + r];
            }
#pragma omp simd
            for (int64_t m = 0; m < len; ++m) {
                float y;
                if (first) {
                    y = xt[m] * wt[m];
                    for (int i = 1; i < D; ++i)
                        y = y + xt[i * L + m] * wt[i * L + m];
                    y = y + bt[m];
                } else {
                    y = v[m] + bt[m];
                }
                float a = 2.0f / (1.0f + plw_expf(-y)) - 1.0f;
                float a1 = 0.5f - 0.5f * (a * a);
                float gg = 0.0f;
                for (int i = 0; i < D; ++i) {
                    float gi = first ? wt[i * L + m] : g[i * gs + m];
                    gg = gg + gi * gi;
                    g[i * gs + m] = a1 * gi;
                }
                if (order >= 2)
                    lap[m] = a1 * ((first ? 0.0f : lap[m]) - a * gg);
                v[m] = a;
            }
        }
    }
}

/* one function per (order, D, first), so that the constants fold and the unit loop vectorises */
#define PLW_VARIANT(ORDER, D, FIRST)                                                                     \
    static void tanh_layer_##ORDER##_##D##_##FIRST(float *h, const float *b, const float *x, const float *w, \
                                                   float *tiles, int64_t K, int64_t N, int64_t W)        \
    {                                                                                                    \
        tanh_layer(h, b, x, w, tiles, K, N, W, ORDER, D, FIRST);                                         \
    }
#define PLW_VARIANTS(D) PLW_VARIANT(1, D, 0) PLW_VARIANT(1, D, 1) PLW_VARIANT(2, D, 0) PLW_VARIANT(2, D, 1)
PLW_VARIANTS(1)
PLW_VARIANTS(2)
PLW_VARIANTS(3)

/* The output layer: out[k, c, n] = sum_j h[k, c, n, j] wout[k, j], plus bout[k] on the value channel,
   every row summed by the same code in the same order whatever K and N. */
static void output_layer(const float *restrict h, const float *restrict wout, const float *restrict bout,
                         float *restrict out, int64_t K, int64_t C, int64_t N, int64_t W)
{
    for (int64_t k = 0; k < K; ++k)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t n = 0; n < N; ++n) {
                const float *row = h + ((k * C + c) * N + n) * W;
                const float *wo = wout + k * W;
                float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
                for (int64_t j = 0; j < W; ++j)
                    acc += row[j] * wo[j];
                out[(k * C + c) * N + n] = c == 0 ? acc + bout[k] : acc;
            }
}

/* x and w are given for the first layer (else NULL); wout, bout and out for the last hidden layer (else
   NULL): then the output layer follows. tiles: scratch of (1 + 2d) * TILE * W floats. Returns 0, or -1
   where there is no kernel for (order, d): the caller then uses torch. */
int plw_tanh_layer(float *h, const float *bias, const float *x, const float *w, const float *wout,
                   const float *bout, float *out, float *tiles, int64_t K, int64_t N, int64_t W, int64_t d,
                   int64_t order)
{
    const int first = x != 0;
    int done = 0;
#define PLW_CASE(ORDER, D)                                                                               \
    if (!done && order == ORDER && d == D) {                                                             \
        if (first)                                                                                       \
            tanh_layer_##ORDER##_##D##_1(h, bias, x, w, tiles, K, N, W);                                 \
        else                                                                                             \
            tanh_layer_##ORDER##_##D##_0(h, bias, x, w, tiles, K, N, W);                                 \
        done = 1;                                                                                        \
    }
    PLW_CASE(1, 1) PLW_CASE(1, 2) PLW_CASE(1, 3) PLW_CASE(2, 1) PLW_CASE(2, 2) PLW_CASE(2, 3)
#undef PLW_CASE
    if (!done)
        return -1;
    if (out)
        output_layer(h, wout, bout, out, K, 1 + d + (order >= 2 ? 1 : 0), N, W);
    return 0;
}

int plw_tile_rows(void) { return TILE; }
