/* The float32 vector type shared by the kernels: AVX-512, AVX2 with FMA, or a generic 4-lane fallback
   built on scalar fused multiply-adds (native.py does not use the kernels without hardware FMA). */

#ifndef PLW_VEC_H
#define PLW_VEC_H

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

#endif
