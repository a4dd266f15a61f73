/* The float32 vector type shared by the kernels: AVX-512, AVX2 with FMA, or a generic 4-lane fallback
   built on scalar fused multiply-adds (native.py does not use the kernels without hardware FMA). */

#ifndef PLW_VEC_H
#define PLW_VEC_H

#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define VL 16
#define ACCUMULATORS 24 /* of the 32 vector registers */
typedef float vf __attribute__((vector_size(64), aligned(64)));
static inline vf vfma(vf a, vf b, vf c) { return (vf)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c); }
static inline vf vset1(float a) { return (vf)_mm512_set1_ps(a); }
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define VL 8
#define ACCUMULATORS 12 /* of the 16 vector registers */
typedef float vf __attribute__((vector_size(32), aligned(32)));
static inline vf vfma(vf a, vf b, vf c) { return (vf)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c); }
static inline vf vset1(float a) { return (vf)_mm256_set1_ps(a); }
#else
#define VL 4
#define ACCUMULATORS 12
typedef float vf __attribute__((vector_size(16), aligned(16)));
static inline vf vfma(vf a, vf b, vf c)
{
    vf r;
    for (int l = 0; l < VL; ++l)
        r[l] = __builtin_fmaf(a[l], b[l], c[l]);
    return r;
}
static inline vf vset1(float a) { return (vf){a, a, a, a}; }
#endif

/* Keeps a loaded vector in a register: without it the compiler folds the load into every fused multiply-add
   that uses the vector (one load per FMA: the Gram tiles of rop.c became load-bound, 20% slower). */
static inline void vkeep(vf *x)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__("" : "+v"(*x));
#else
    (void)x;
#endif
}

/* unaligned load and store; the n variants move the first m < VL lanes only (loading zeros beyond) */
static inline vf vload(const float *p)
{
    vf r;
    memcpy(&r, p, sizeof r);
    return r;
}
static inline void vstore(float *p, vf a) { memcpy(p, &a, sizeof a); }
#if defined(__AVX512F__)
static inline vf vloadn(const float *p, int m) { return (vf)_mm512_maskz_loadu_ps((__mmask16)((1u << m) - 1), p); }
static inline void vstoren(float *p, vf a, int m) { _mm512_mask_storeu_ps(p, (__mmask16)((1u << m) - 1), (__m512)a); }
#else
static inline vf vloadn(const float *p, int m)
{
    vf r = {0};
    memcpy(&r, p, m * sizeof(float));
    return r;
}
static inline void vstoren(float *p, vf a, int m) { memcpy(p, &a, m * sizeof(float)); }
#endif

/* exp(x) for float32: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two so that n * LN2_HI is exact),
   e^r by its Taylor polynomial to degree 7 (truncation error (ln2/2)^8/8! = 5e-9, below float32's
   2^-24 = 6e-8) in fused multiply-adds, times 2^n built in the exponent bits. x is clamped to [-87, 88],
   where 2^n stays normal and e^x finite; NaN passes through. */
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

/* tanh(y) = 2 / (1 + e^(-2y)) - 1, to a few float32 ulps of 1 in absolute terms (not relative: for |y| << 1
   it is y plus ~1e-7); every use here adds it to, or multiplies it by, numbers of order one */
static inline float plw_tanhf(float y) { return 2.0f / (1.0f + plw_expf(-2.0f * y)) - 1.0f; }

#endif
