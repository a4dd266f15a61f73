/* Fused elementwise kernels for the jet evaluator on a CPU (float32, tanh networks).

   A hidden layer of a grid chunk is one batched matmul (MKL) followed by the activation's chain rule on
   the value, gradient and Laplacian channels. In torch that rule is eight passes over the activations;
   here it is one, with the first layer's affine map and the output layer folded in. Built by native.py at
   first use with -ffp-contract=off and no libm: every operation is a plain IEEE one (fmaf where written
   out), so the vector loop and its remainder round identically and a value never depends on its position
   in an array (a grid point's loss must not depend on its chunk).

   Layout: unit-major, h[K, W, C, N] (parameter point, unit, channel, input point). The matmul of a layer
   is then W_k @ h_k[W, C * N], which MKL runs 13-15% faster here than h_k @ W_k^T on point-major
   activations, and every loop below runs along the N points of one unit: a per-unit bias or weight is a
   scalar, the output layer is a sum of scaled rows (no horizontal sums), and N = 1000 leaves a remainder
   of 8 after 62 vectors. */

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
   h is [K, W, C, N]: per unit the value, D gradient components and (order 2) the Laplacian.

   first: the first layer; y = x w + bias is formed here from the points xt [D, N] and the (scaled)
     weights w [K, W, D], whose rows are also grad y at every point (an affine map has no Laplacian).
   otherwise: y = h's value channel (the matmul's output) + bias [K, W], derivative channels from h.
   last: the last hidden layer; a is not written back, the output layer is applied instead:
     out[k, c, n] = sum_j wout[k, j] a_c[k, j, n] (+ bout[k] on the value channel), accumulated unit by
     unit in the same order for every point. */
static inline __attribute__((always_inline)) void
tanh_layer(float *restrict h, const float *restrict bias, const float *restrict xt, const float *restrict w,
           const float *restrict wout, const float *restrict bout, float *restrict out, int64_t K, int64_t N,
           int64_t W, const int order, const int D, const int first, const int last)
{
    const int64_t C = 1 + D + (order >= 2 ? 1 : 0);
    for (int64_t k = 0; k < K; ++k) {
        float *acc = last ? out + k * C * N : 0;
        if (last)
            for (int64_t m = 0; m < C * N; ++m)
                acc[m] = 0.0f;
        for (int64_t j = 0; j < W; ++j) {
            float *v = h + (k * W + j) * C * N;
            float *g = v + N;
            float *lap = v + (1 + D) * N;
            const float b = bias[k * W + j];
            float wj[3] = {0.0f, 0.0f, 0.0f}, gg1 = 0.0f; /* first layer: grad y and |grad y|^2 */
            if (first)
                for (int i = 0; i < D; ++i) {
                    wj[i] = w[(k * W + j) * D + i];
                    gg1 = gg1 + wj[i] * wj[i];
                }
            const float wo = last ? wout[k * W + j] : 0.0f;
#pragma omp simd
            for (int64_t n = 0; n < N; ++n) {
                float y;
                if (first) {
                    y = xt[n] * wj[0];
                    for (int i = 1; i < D; ++i)
                        y = y + xt[i * N + n] * wj[i];
                    y = y + b;
                } else {
                    y = v[n] + b;
                }
                float a = 2.0f / (1.0f + plw_expf(-y)) - 1.0f;
                float a1 = 0.5f - 0.5f * (a * a);
                float gg = first ? gg1 : 0.0f;
                float gn[3];
                for (int i = 0; i < D; ++i) {
                    float gi = first ? wj[i] : g[i * N + n];
                    if (!first)
                        gg = gg + gi * gi;
                    gn[i] = a1 * gi;
                }
                float ln = 0.0f;
                if (order >= 2)
                    ln = a1 * ((first ? 0.0f : lap[n]) - a * gg);
                if (last) {
                    acc[n] = acc[n] + wo * a;
                    for (int i = 0; i < D; ++i)
                        acc[(1 + i) * N + n] = acc[(1 + i) * N + n] + wo * gn[i];
                    if (order >= 2)
                        acc[(1 + D) * N + n] = acc[(1 + D) * N + n] + wo * ln;
                } else {
                    v[n] = a;
                    for (int i = 0; i < D; ++i)
                        g[i * N + n] = gn[i];
                    if (order >= 2)
                        lap[n] = ln;
                }
            }
        }
        if (last)
            for (int64_t n = 0; n < N; ++n)
                acc[n] = acc[n] + bout[k];
    }
}

/* one function per (order, D, first, last), so that the constants fold and the point loop vectorises */
#define PLW_VARIANT(ORDER, D, FIRST, LAST)                                                               \
    static void tanh_layer_##ORDER##_##D##_##FIRST##_##LAST(                                             \
        float *h, const float *b, const float *xt, const float *w, const float *wo, const float *bo,     \
        float *out, int64_t K, int64_t N, int64_t W)                                                     \
    {                                                                                                    \
        tanh_layer(h, b, xt, w, wo, bo, out, K, N, W, ORDER, D, FIRST, LAST);                           \
    }
#define PLW_VARIANTS_FL(ORDER, D) \
    PLW_VARIANT(ORDER, D, 0, 0) PLW_VARIANT(ORDER, D, 0, 1) PLW_VARIANT(ORDER, D, 1, 0) PLW_VARIANT(ORDER, D, 1, 1)
#define PLW_VARIANTS(D) PLW_VARIANTS_FL(1, D) PLW_VARIANTS_FL(2, D)
PLW_VARIANTS(1)
PLW_VARIANTS(2)
PLW_VARIANTS(3)

/* xt and w are given for the first layer (else NULL); wout, bout and out for the last hidden layer (else
   NULL). Returns 0, or -1 where there is no kernel for (order, d): the caller then uses torch. */
int plw_tanh_layer(float *h, const float *bias, const float *xt, const float *w, const float *wout,
                   const float *bout, float *out, int64_t K, int64_t N, int64_t W, int64_t d, int64_t order)
{
    const int first = xt != 0, last = out != 0;
#define PLW_CASE(ORDER, D)                                                                               \
    if (order == ORDER && d == D) {                                                                      \
        if (first && last)                                                                               \
            tanh_layer_##ORDER##_##D##_1_1(h, bias, xt, w, wout, bout, out, K, N, W);                    \
        else if (first)                                                                                  \
            tanh_layer_##ORDER##_##D##_1_0(h, bias, xt, w, wout, bout, out, K, N, W);                    \
        else if (last)                                                                                   \
            tanh_layer_##ORDER##_##D##_0_1(h, bias, xt, w, wout, bout, out, K, N, W);                    \
        else                                                                                             \
            tanh_layer_##ORDER##_##D##_0_0(h, bias, xt, w, wout, bout, out, K, N, W);                    \
        return 0;                                                                                        \
    }
    PLW_CASE(1, 1) PLW_CASE(1, 2) PLW_CASE(1, 3) PLW_CASE(2, 1) PLW_CASE(2, 2) PLW_CASE(2, 3)
#undef PLW_CASE
    return -1;
}
