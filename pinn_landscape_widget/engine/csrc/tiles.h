/* The register-tiled kernels the training and R-operator passes share (rop.c, train.c): a matmul whose
   terms accumulate in the same registers, a Gram product summed over points (a weight gradient), a dot
   product. Static: each file gets its own copy, inlined where it is called. */

#ifndef PLW_TILES_H
#define PLW_TILES_H

#include <stdint.h>

#include "vec.h"

#define ADDR(x) ((float *)(intptr_t)(x))
#define RT 6                      /* rows of a matmul register tile */
#define VT (ACCUMULATORS / RT)    /* vectors of a matmul register tile */
#define GR (ACCUMULATORS >= 24 ? 4 : 3) /* rows of a Gram register tile */

/* out[r][c] = sum over terms of sum_k A[r * ars + k * aks] B[k * ldb + c] */
typedef struct {
    const float *A;
    int64_t ars, aks;
    const float *B;
    int64_t ldb, K;
} term_t;

/* rows r0 .. r0 + rows - 1 (rows <= RT) by V vectors of columns from c0, the last of them with its first
   m lanes only (m = VL: whole) */
static inline __attribute__((always_inline)) void
matmul_tile(float *restrict out, int64_t ldo, int64_t r0, int64_t c0, const term_t *t, int nt, const int rows,
            const int V, const int m)
{
    vf acc[RT][VT];
    for (int r = 0; r < RT; ++r)
        for (int q = 0; q < VT; ++q)
            acc[r][q] = (vf){0};
    for (int s = 0; s < nt; ++s) {
        const float *A = t[s].A + r0 * t[s].ars, *B = t[s].B + c0;
        const int64_t ars = t[s].ars, aks = t[s].aks, ldb = t[s].ldb;
        for (int64_t k = 0; k < t[s].K; ++k) {
            vf b[VT];
            for (int q = 0; q < V; ++q)
                b[q] = q == V - 1 && m < VL ? vloadn(B + k * ldb + q * VL, m) : vload(B + k * ldb + q * VL);
            for (int r = 0; r < RT; ++r)
                if (r < rows) {
                    const vf a = vset1(A[r * ars + k * aks]);
                    for (int q = 0; q < V; ++q)
                        acc[r][q] = vfma(a, b[q], acc[r][q]);
                }
        }
    }
    for (int r = 0; r < RT; ++r)
        if (r < rows)
            for (int q = 0; q < V; ++q) {
                float *o = out + (r0 + r) * ldo + c0 + q * VL;
                if (q == V - 1 && m < VL)
                    vstoren(o, acc[r][q], m);
                else
                    vstore(o, acc[r][q]);
            }
}

static void matmul(int64_t M, int64_t N, float *restrict out, int64_t ldo, const term_t *t, int nt)
{
    int64_t c0 = 0;
    for (; c0 + VT * VL <= N; c0 += VT * VL) {
        int64_t r0 = 0;
        for (; r0 + RT <= M; r0 += RT)
            matmul_tile(out, ldo, r0, c0, t, nt, RT, VT, VL);
        if (r0 < M)
            matmul_tile(out, ldo, r0, c0, t, nt, (int)(M - r0), VT, VL);
    }
    for (; c0 < N; c0 += VL) { /* what is left: one vector at a time, the last one partial */
        const int m = N - c0 < VL ? (int)(N - c0) : VL;
        int64_t r0 = 0;
        for (; r0 + RT <= M; r0 += RT)
            matmul_tile(out, ldo, r0, c0, t, nt, RT, 1, m);
        if (r0 < M)
            matmul_tile(out, ldo, r0, c0, t, nt, (int)(M - r0), 1, m);
    }
}

/* G[r][s] += sum over terms of sum_c X[r * ldx + c] Y[s * ldy + c], c < N: a weight gradient, summed over
   points (and, one term per channel, over channels: the register tile is summed across lanes once) */
typedef struct {
    const float *X, *Y;
    int64_t ldx, ldy;
} gram_t;

#define GS (ACCUMULATORS / GR) /* columns of a Gram register tile */

static inline __attribute__((always_inline)) void
gram_tile(float *restrict G, int64_t ldg, int64_t r0, int64_t s0, const gram_t *t, int nt, int64_t N, const int ro,
          const int so)
{
    vf acc[GR][GS];
    for (int r = 0; r < GR; ++r)
        for (int s = 0; s < GS; ++s)
            acc[r][s] = (vf){0};
    for (int m = 0; m < nt; ++m) {
        const float *X = t[m].X + r0 * t[m].ldx, *Y = t[m].Y + s0 * t[m].ldy;
        const int64_t ldx = t[m].ldx, ldy = t[m].ldy;
        int64_t c = 0;
        for (; c + VL <= N; c += VL) {
            vf x[GR];
            for (int r = 0; r < GR; ++r)
                if (r < ro)
                    x[r] = vload(X + r * ldx + c);
            for (int r = 0; r < GR; ++r)
                if (r < ro)
                    vkeep(&x[r]);
            for (int s = 0; s < GS; ++s)
                if (s < so) {
                    const vf y = vload(Y + s * ldy + c);
                    for (int r = 0; r < GR; ++r)
                        if (r < ro)
                            acc[r][s] = vfma(x[r], y, acc[r][s]);
                }
        }
        if (c < N) { /* the last, partial vector */
            const int w = (int)(N - c);
            vf x[GR];
            for (int r = 0; r < GR; ++r)
                if (r < ro)
                    x[r] = vloadn(X + r * ldx + c, w);
            for (int s = 0; s < GS; ++s)
                if (s < so) {
                    const vf y = vloadn(Y + s * ldy + c, w);
                    for (int r = 0; r < GR; ++r)
                        if (r < ro)
                            acc[r][s] = vfma(x[r], y, acc[r][s]);
                }
        }
    }
    for (int r = 0; r < ro; ++r)
        for (int s = 0; s < so; ++s) {
            float sum = 0.0f;
            for (int l = 0; l < VL; ++l)
                sum += acc[r][s][l];
            G[(r0 + r) * ldg + s0 + s] += sum;
        }
}

static void gram(int64_t R, int64_t S, float *restrict G, int64_t ldg, const gram_t *t, int nt, int64_t N)
{
    for (int64_t r0 = 0; r0 < R; r0 += GR) {
        const int ro = R - r0 < GR ? (int)(R - r0) : GR;
        int64_t s0 = 0;
        if (ro == GR)
            for (; s0 + GS <= S; s0 += GS)
                gram_tile(G, ldg, r0, s0, t, nt, N, GR, GS);
        for (; s0 < S; s0 += GS)
            gram_tile(G, ldg, r0, s0, t, nt, N, ro, S - s0 < GS ? (int)(S - s0) : GS);
    }
}

static float dot(const float *restrict a, const float *restrict b, int64_t N)
{
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < N; ++c)
        s += a[c] * b[c];
    return s;
}

#endif
