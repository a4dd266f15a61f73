/* Hessian-vector products of a float32 tanh network's loss by Pearlmutter's R-operator: the R-forward and
   R-backward passes through the network's jet at one set of points, and the setup's passes they build on,
   which also give a training step's loss gradient. engine/jet_adjoint.py (JetPasses) and analysis/_rop.py
   (_PointSet) hold the algebra in their docstrings and prepare every array the passes read.

   Why C: in torch a Deep Ritz product is ~250 calls (matmuls, elementwise passes, views) for ~120 MFLOP,
   and the elementwise passes and the calls themselves take half its time. Here a layer is one register-
   tiled matmul (both of its terms accumulate in the same registers) and one elementwise pass over rows
   that are still in cache. Threads split the points (each takes its share through every layer, and sums
   its own weight gradients), so a pass needs no synchronisation but the final join; ctypes releases the
   GIL for the call.

   Layout. Jets are stacked [units][C][n] (channels: value, d gradient components, Laplacian), so a
   layer's matmul runs over the C*n flat columns. plan holds one record of F_N int64 per hidden layer
   (sizes, parameter offsets and the addresses of its arrays, see the enum) and a last one for the output
   layer (F_I, F_WOFF, F_BOFF, F_W, F_H; one output). */

#ifdef _OPENMP
#include <omp.h>
#endif
#include <pthread.h>
#include <stdint.h>

#include "abi.h"
#include "team.h"
#include "tiles.h"
#include "vec.h"

enum {
    F_O,      /* units */
    F_I,      /* inputs */
    F_WOFF,   /* offsets of the weights [O][I] and biases in a parameter vector */
    F_BOFF,
    F_W,      /* the weights at theta */
    F_H,      /* the layer's input jet [I][C][n] */
    F_S1,     /* tanh' [O][n] */
    F_S2GY,   /* s2 Gy_k [O][d][n] */
    F_LAPRY,  /* s2 Ly + s3 Q [O][n] */
    F_CRY,    /* [O][n] */
    F_CRGY,   /* [O][d][n] */
    F_LABS2,  /* [O][n] */
    F_YB,     /* adjoints of the pre-activation jet [O][C][n] */
    F_Z,      /* the pre-activation jet [O][C][n] */
    F_RZ,     /* written: R{pre-activation jet} [O][C][n] */
    F_RHOUT,  /* written: R{output jet} [O][C][n], the next layer's R-input */
    F_RABOUT, /* written: R{adjoint of the output jet} [O][C][n] */
    F_RYB,    /* written: R{adjoint of the pre-activation jet} [O][C][n] */
    F_N
};


/* One thread's share of a pass: the points p0 .. p1 - 1 (a product is per point until the weight
   gradients, which each thread sums over its own points into its own vector). */
typedef struct {
    const int64_t *plan;
    int64_t L, C, d, lap, n, p0, p1;
    const float *v;  /* the direction, or theta for the setup passes */
    const float *Yb; /* the output adjoints [C][n] */
    float *RYb;      /* their R-derivative [C][n]: read by the R-backward pass, written by a whole product */
    const float *B;  /* a whole product: the loss's per-point Hessian blocks [C][C][n] in Y-space */
    float *RY;       /* R-forward: R{Y} [C][n]; setup forward: Y [C][n] */
    float *out;      /* R-backward: this thread's sums [P] */
} share_t;

/* out[:, c * n + p0 ..< c * n + p1] for every channel c: a matmul over one thread's points */
static void matmul_points(const share_t *j, int64_t M, float *out, const term_t *t, int nt)
{
    const int64_t N = j->C * j->n;
    for (int64_t c = 0; c < j->C; ++c) {
        const int64_t at = c * j->n + j->p0;
        term_t tc[2];
        for (int s = 0; s < nt; ++s) {
            tc[s] = t[s];
            tc[s].B += at;
        }
        matmul(M, j->p1 - j->p0, out + at, N, tc, nt);
    }
}

/* The output layer, one output: Y[c] = sum_r w[r] X[r][c] + (c == 0) b, over one thread's points; also
   R{Y} with two terms (w2, X2) */
static void output_points(const share_t *j, float *Y, float b, const float *w, const float *X, const float *w2,
                          const float *X2, int64_t I)
{
    const int64_t n = j->n, N = j->C * n;
    for (int64_t c = 0; c < j->C; ++c) {
        float *restrict y = Y + c * n;
        for (int64_t p = j->p0; p < j->p1; ++p)
            y[p] = c == 0 ? b : 0.0f;
        for (int64_t r = 0; r < I; ++r) {
            const float *restrict x = X + r * N + c * n, *restrict x2 = X2 ? X2 + r * N + c * n : x;
            const float a = w[r], a2 = X2 ? w2[r] : 0.0f;
#pragma omp simd
            for (int64_t p = j->p0; p < j->p1; ++p)
                y[p] = __builtin_fmaf(a2, x2[p], __builtin_fmaf(a, x[p], y[p]));
        }
    }
}

/* The setup's forward pass (engine/jet_adjoint.py's JetPasses): the network's jet at theta, layer by layer
   Z = W H + b; H' = (tanh y, s1 Gy_k, s1 Ly + s2 Q) with the factors the R-passes reuse (s1, s2 Gy_k,
   s2 Ly + s3 Q), and the output Y. The first layer's H (points and unit gradients) comes filled. */
static void setup_forward_share(const share_t *j)
{
    const int64_t C = j->C, d = j->d, n = j->n, N = C * n, p0 = j->p0, p1 = j->p1;
    const float *theta = j->v;
    for (int64_t l = 0; l < j->L; ++l) {
        const int64_t *f = j->plan + l * F_N;
        const int64_t O = f[F_O], I = f[F_I];
        float *Z = ADDR(f[F_Z]), *Hout = ADDR(f[F_N + F_H]); /* the next layer's input */
        const term_t t[1] = {{ADDR(f[F_W]), I, 1, ADDR(f[F_H]), N, I}};
        matmul_points(j, O, Z, t, 1);
        for (int64_t r = 0; r < O; ++r) {
            float *restrict z = Z + r * N, *restrict h = Hout + r * N, *restrict s1 = ADDR(f[F_S1]) + r * n;
            const float b = theta[f[F_BOFF] + r];
#pragma omp simd
            for (int64_t p = p0; p < p1; ++p) {
                const float y = z[p] + b, a = plw_tanhf(y);
                z[p] = y;
                h[p] = a;
                s1[p] = 1.0f - a * a;
            }
            for (int64_t k = 0; k < d; ++k) {
                const int64_t ck = (1 + k) * n;
                float *restrict sg = ADDR(f[F_S2GY]) + (r * d + k) * n;
#pragma omp simd
                for (int64_t p = p0; p < p1; ++p) {
                    const float s2 = -2.0f * h[p] * s1[p];
                    h[ck + p] = s1[p] * z[ck + p];
                    sg[p] = s2 * z[ck + p];
                }
            }
            if (j->lap) { /* Q = sum_k Gy_k^2 first gathered in lap_ry */
                const int64_t cl = (C - 1) * n;
                float *restrict lr = ADDR(f[F_LAPRY]) + r * n;
                for (int64_t p = p0; p < p1; ++p)
                    lr[p] = 0.0f;
                for (int64_t k = 0; k < d; ++k) {
                    const int64_t ck = (1 + k) * n;
#pragma omp simd
                    for (int64_t p = p0; p < p1; ++p)
                        lr[p] = __builtin_fmaf(z[ck + p], z[ck + p], lr[p]);
                }
#pragma omp simd
                for (int64_t p = p0; p < p1; ++p) {
                    const float a = h[p], s2 = -2.0f * a * s1[p], s3 = -2.0f * s1[p] * s1[p] - 2.0f * a * s2;
                    const float q = lr[p], ly = z[cl + p];
                    h[cl + p] = __builtin_fmaf(s2, q, s1[p] * ly);
                    lr[p] = __builtin_fmaf(s3, q, s2 * ly);
                }
            }
        }
    }
    const int64_t *f = j->plan + j->L * F_N;
    output_points(j, j->RY, theta[f[F_BOFF]], ADDR(f[F_W]), ADDR(f[F_H]), 0, 0, f[F_I]);
}

#define GRAM_CHANNELS 4

/* The setup's backward pass (engine/jet_adjoint.py's JetPasses.backward) from the output adjoints Yb [C][n]:
   each layer's pre-activation adjoints (F_YB) and the R-backward pass's coefficients (c_ry, c_rgy, LAb s2).
   The adjoint of a layer's output jet goes through its F_RABOUT array, which the R-passes overwrite later.
   With j->out (a training step), the loss's parameter gradient J^T Yb over this share's points instead of
   the R-passes' coefficients, added into j->out [P]: Wb = sum over channels of Yb_l H_l^T, bb = sum of the
   value adjoints, while the adjoints are in cache. */
static void setup_backward_share(const share_t *j)
{
    const int64_t C = j->C, d = j->d, n = j->n, N = C * n, p0 = j->p0, p1 = j->p1;
    float *out = j->out;
    {
        const int64_t *f = j->plan + j->L * F_N;
        const float *wo = ADDR(f[F_W]), *H = ADDR(f[F_H]);
        float *A = ADDR(j->plan[(j->L - 1) * F_N + F_RABOUT]);
        for (int64_t r = 0; r < f[F_I]; ++r) {
            float s = 0.0f;
            for (int64_t c = 0; c < C; ++c) {
                float *restrict a = A + r * N + c * n;
                const float *restrict yb = j->Yb + c * n;
                if (out)
                    s += dot(yb + p0, H + r * N + c * n + p0, p1 - p0);
#pragma omp simd
                for (int64_t p = p0; p < p1; ++p)
                    a[p] = wo[r] * yb[p];
            }
            if (out)
                out[f[F_WOFF] + r] += s;
        }
        if (out) {
            float s = 0.0f;
            for (int64_t p = p0; p < p1; ++p)
                s += j->Yb[p];
            out[f[F_BOFF]] += s;
        }
    }
    for (int64_t l = j->L - 1; l >= 0; --l) {
        const int64_t *f = j->plan + l * F_N;
        const int64_t O = f[F_O], I = f[F_I];
        const float *A = ADDR(f[F_RABOUT]), *Z = ADDR(f[F_Z]), *Hout = ADDR(f[F_N + F_H]);
        float *Ybl = ADDR(f[F_YB]);
        /* yb = Ab s1 + sum_k GAb_k s2 Gy_k + LAb (s2 Ly + s3 Q);  Gyb_k = GAb_k s1 + 2 LAb s2 Gy_k;  Lyb = LAb s1
           c_ry = Ab s2 + s3 sum_k GAb_k Gy_k + LAb (s3 Ly + s4 Q);  c_rgy_k = s2 GAb_k + 2 LAb s3 Gy_k */
        for (int64_t r = 0; r < O; ++r) {
            const float *restrict a = A + r * N, *restrict z = Z + r * N, *restrict h = Hout + r * N;
            const float *restrict s1 = ADDR(f[F_S1]) + r * n;
            float *restrict yb = Ybl + r * N, *restrict cry = ADDR(f[F_CRY]) + r * n;
            const int64_t cl = (C - 1) * n;
            if (out) { /* a training step: the adjoints alone, none of the R-passes' coefficients */
#pragma omp simd
                for (int64_t p = p0; p < p1; ++p)
                    yb[p] = a[p] * s1[p];
                for (int64_t k = 0; k < d; ++k) {
                    const int64_t ck = (1 + k) * n;
                    const float *restrict sg = ADDR(f[F_S2GY]) + (r * d + k) * n;
                    const float *restrict lab = j->lap ? a + cl : a; /* read only with lap */
                    const float two_lap = j->lap ? 2.0f : 0.0f;
#pragma omp simd
                    for (int64_t p = p0; p < p1; ++p) {
                        const float gab = a[ck + p];
                        yb[p] = __builtin_fmaf(gab, sg[p], yb[p]);
                        yb[ck + p] = __builtin_fmaf(two_lap * lab[p], sg[p], gab * s1[p]);
                    }
                }
                if (j->lap) {
                    const float *restrict lr = ADDR(f[F_LAPRY]) + r * n;
#pragma omp simd
                    for (int64_t p = p0; p < p1; ++p) {
                        const float lab = a[cl + p];
                        yb[p] = __builtin_fmaf(lab, lr[p], yb[p]);
                        yb[cl + p] = lab * s1[p];
                    }
                }
                continue;
            }
#pragma omp simd
            for (int64_t p = p0; p < p1; ++p) {
                yb[p] = a[p] * s1[p];
                cry[p] = a[p] * (-2.0f * h[p] * s1[p]);
            }
            for (int64_t k = 0; k < d; ++k) {
                const int64_t ck = (1 + k) * n;
                const float *restrict sg = ADDR(f[F_S2GY]) + (r * d + k) * n;
                float *restrict cg = ADDR(f[F_CRGY]) + (r * d + k) * n;
                const float *restrict lab = j->lap ? a + cl : a; /* read only with lap */
                const float two_lap = j->lap ? 2.0f : 0.0f;
#pragma omp simd
                for (int64_t p = p0; p < p1; ++p) {
                    const float t = h[p], s2 = -2.0f * t * s1[p], s3 = -2.0f * s1[p] * s1[p] - 2.0f * t * s2;
                    const float s4 = -6.0f * s1[p] * s2 - 2.0f * t * s3, g = z[ck + p], gab = a[ck + p];
                    const float lb = two_lap * lab[p]; /* 2 LAb */
                    yb[p] = __builtin_fmaf(gab, sg[p], yb[p]);
                    yb[ck + p] = __builtin_fmaf(lb, sg[p], gab * s1[p]);
                    /* c_ry: s3 GAb_k Gy_k, and the Q part of LAb s4 Q */
                    cry[p] = __builtin_fmaf(s3 * g, gab, __builtin_fmaf(0.5f * lb * s4, g * g, cry[p]));
                    cg[p] = __builtin_fmaf(lb * s3, g, s2 * gab);
                }
            }
            if (j->lap) {
                const float *restrict lr = ADDR(f[F_LAPRY]) + r * n;
                float *restrict ls = ADDR(f[F_LABS2]) + r * n;
#pragma omp simd
                for (int64_t p = p0; p < p1; ++p) {
                    const float t = h[p], s2 = -2.0f * t * s1[p], s3 = -2.0f * s1[p] * s1[p] - 2.0f * t * s2;
                    const float lab = a[cl + p];
                    yb[p] = __builtin_fmaf(lab, lr[p], yb[p]);
                    yb[cl + p] = lab * s1[p];
                    cry[p] = __builtin_fmaf(lab * s3, z[cl + p], cry[p]);
                    ls[p] = lab * s2;
                }
            }
        }
        if (out) { /* the layer's gradient: Wb = sum_c Yb[c] H[c]^T, bb = sum of yb */
            for (int64_t r = 0; r < O; ++r) {
                const float *restrict yb = Ybl + r * N;
                float s = 0.0f;
#pragma omp simd reduction(+ : s)
                for (int64_t p = p0; p < p1; ++p)
                    s += yb[p];
                out[f[F_BOFF] + r] += s;
            }
            for (int64_t c0 = 0; c0 < C; c0 += GRAM_CHANNELS) {
                gram_t g[GRAM_CHANNELS];
                int nt = 0;
                for (int64_t c = c0; c < C && c < c0 + GRAM_CHANNELS; ++c)
                    g[nt++] = (gram_t){Ybl + c * n + p0, ADDR(f[F_H]) + c * n + p0, N, N};
                gram(O, I, out + f[F_WOFF], I, g, nt, p1 - p0);
            }
        }
        if (l > 0) { /* the adjoint of the layer's input jet: W^T Yb, the output adjoint of the layer below */
            const term_t t[1] = {{ADDR(f[F_W]), 1, I, Ybl, N, O}};
            matmul_points(j, I, ADDR(j->plan[(l - 1) * F_N + F_RABOUT]), t, 1);
        }
    }
}

/* The plan's int64 fields per layer and the most threads a pass may be split over: _native.py checks both
   against the values engine/jet_adjoint.py is written for (PLAN_FIELDS, MAX_SHARES) */
int64_t plw_plan_fields(void) { return F_N; }
int64_t plw_max_shares(void) { return MAX_SHARES; }

static void forward_share(const share_t *j)
{
    const int64_t C = j->C, d = j->d, n = j->n, N = C * n, p0 = j->p0, p1 = j->p1;
    const float *v = j->v, *RHin = 0;
    for (int64_t l = 0; l < j->L; ++l) {
        const int64_t *f = j->plan + l * F_N;
        const int64_t O = f[F_O], I = f[F_I];
        float *RZ = ADDR(f[F_RZ]), *RH = ADDR(f[F_RHOUT]);
        const term_t t[2] = {{v + f[F_WOFF], I, 1, ADDR(f[F_H]), N, I}, {ADDR(f[F_W]), I, 1, RHin, N, I}};
        matmul_points(j, O, RZ, t, RHin ? 2 : 1);
        /* R{A} = s1 Ry;  R{GA_k} = s1 RGy_k + s2 Gy_k Ry;  R{LA} = s1 RLy + (s2 Ly + s3 Q) Ry + 2 sum_k s2 Gy_k RGy_k */
        for (int64_t r = 0; r < O; ++r) {
            float *restrict rz = RZ + r * N, *restrict rh = RH + r * N;
            const float *restrict s1 = ADDR(f[F_S1]) + r * n;
            const float b = v[f[F_BOFF] + r];
#pragma omp simd
            for (int64_t p = p0; p < p1; ++p) {
                rz[p] += b;
                rh[p] = s1[p] * rz[p];
            }
            for (int64_t k = 0; k < d; ++k) {
                const float *restrict sg = ADDR(f[F_S2GY]) + (r * d + k) * n;
#pragma omp simd
                for (int64_t p = p0; p < p1; ++p)
                    rh[(1 + k) * n + p] = __builtin_fmaf(sg[p], rz[p], s1[p] * rz[(1 + k) * n + p]);
            }
            if (j->lap) {
                const float *restrict lr = ADDR(f[F_LAPRY]) + r * n;
                float *restrict rl = rh + (C - 1) * n;
#pragma omp simd
                for (int64_t p = p0; p < p1; ++p)
                    rl[p] = __builtin_fmaf(lr[p], rz[p], s1[p] * rz[(C - 1) * n + p]);
                for (int64_t k = 0; k < d; ++k) {
                    const float *restrict sg = ADDR(f[F_S2GY]) + (r * d + k) * n;
#pragma omp simd
                    for (int64_t p = p0; p < p1; ++p)
                        rl[p] = __builtin_fmaf(2.0f * sg[p], rz[(1 + k) * n + p], rl[p]);
                }
            }
        }
        RHin = RH;
    }
    const int64_t *f = j->plan + j->L * F_N;
    output_points(j, j->RY, v[f[F_BOFF]], v + f[F_WOFF], ADDR(f[F_H]), ADDR(f[F_W]), RHin, f[F_I]);
}

static void backward_share(const share_t *j)
{
    const int64_t C = j->C, d = j->d, n = j->n, N = C * n, p0 = j->p0, p1 = j->p1;
    const float *v = j->v, *Yb = j->Yb, *RYb = j->RYb;
    float *out = j->out;
    {
        const int64_t *f = j->plan + j->L * F_N, *below = j->plan + (j->L - 1) * F_N;
        const float *wo = ADDR(f[F_W]), *H = ADDR(f[F_H]), *RH = ADDR(below[F_RHOUT]), *vo = v + f[F_WOFF];
        float *RAb = ADDR(below[F_RABOUT]);
        for (int64_t r = 0; r < f[F_I]; ++r) {
            float s = 0.0f;
            for (int64_t c = 0; c < C; ++c) {
                const int64_t at = r * N + c * n + p0;
                s += dot(RYb + c * n + p0, H + at, p1 - p0) + dot(Yb + c * n + p0, RH + at, p1 - p0);
                float *restrict ra = RAb + at;
                const float *restrict ryb = RYb + c * n + p0, *restrict yb = Yb + c * n + p0;
                const float a = wo[r], b = vo[r];
#pragma omp simd
                for (int64_t p = 0; p < p1 - p0; ++p)
                    ra[p] = __builtin_fmaf(a, ryb[p], b * yb[p]);
            }
            out[f[F_WOFF] + r] += s;
        }
        float s = 0.0f;
        for (int64_t p = p0; p < p1; ++p)
            s += RYb[p];
        out[f[F_BOFF]] += s;
    }
    for (int64_t l = j->L - 1; l >= 0; --l) {
        const int64_t *f = j->plan + l * F_N;
        const int64_t O = f[F_O], I = f[F_I];
        const float *RZ = ADDR(f[F_RZ]), *RAb = ADDR(f[F_RABOUT]);
        float *RYbl = ADDR(f[F_RYB]);
        /* Ryb = s1 RAb + c_ry Ry + sum_k (s2 Gy_k RGAb_k + c_rgy_k RGy_k) [+ lap_ry RLAb + LAb s2 RLy]
           RGyb_k = s1 RGAb_k + c_rgy_k Ry [+ 2 s2 Gy_k RLAb + 2 LAb s2 RGy_k];  RLyb = s1 RLAb + LAb s2 Ry */
        for (int64_t r = 0; r < O; ++r) {
            const float *restrict rz = RZ + r * N, *restrict ra = RAb + r * N;
            const float *restrict s1 = ADDR(f[F_S1]) + r * n, *restrict cry = ADDR(f[F_CRY]) + r * n;
            float *restrict rb = RYbl + r * N;
#pragma omp simd
            for (int64_t p = p0; p < p1; ++p)
                rb[p] = __builtin_fmaf(cry[p], rz[p], s1[p] * ra[p]);
            for (int64_t k = 0; k < d; ++k) {
                const float *restrict sg = ADDR(f[F_S2GY]) + (r * d + k) * n;
                const float *restrict cg = ADDR(f[F_CRGY]) + (r * d + k) * n;
                const int64_t ck = (1 + k) * n;
#pragma omp simd
                for (int64_t p = p0; p < p1; ++p) {
                    rb[p] = __builtin_fmaf(sg[p], ra[ck + p], __builtin_fmaf(cg[p], rz[ck + p], rb[p]));
                    rb[ck + p] = __builtin_fmaf(cg[p], rz[p], s1[p] * ra[ck + p]);
                }
            }
            if (j->lap) {
                const int64_t cl = (C - 1) * n;
                const float *restrict lr = ADDR(f[F_LAPRY]) + r * n, *restrict ls = ADDR(f[F_LABS2]) + r * n;
#pragma omp simd
                for (int64_t p = p0; p < p1; ++p) {
                    rb[p] = __builtin_fmaf(lr[p], ra[cl + p], __builtin_fmaf(ls[p], rz[cl + p], rb[p]));
                    rb[cl + p] = __builtin_fmaf(ls[p], rz[p], s1[p] * ra[cl + p]);
                }
                for (int64_t k = 0; k < d; ++k) {
                    const float *restrict sg = ADDR(f[F_S2GY]) + (r * d + k) * n;
                    const int64_t ck = (1 + k) * n;
#pragma omp simd
                    for (int64_t p = p0; p < p1; ++p)
                        rb[ck + p] = __builtin_fmaf(2.0f * sg[p], ra[cl + p],
                                                    __builtin_fmaf(2.0f * ls[p], rz[ck + p], rb[ck + p]));
                }
            }
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int64_t p = p0; p < p1; ++p)
                s += rb[p];
            out[f[F_BOFF] + r] += s;
        }
        /* weights: R{Wb} = R{Yb} H^T + Yb R{H}^T (the first layer's input is constant in theta) */
        const float *RHin = l > 0 ? ADDR(j->plan[(l - 1) * F_N + F_RHOUT]) : 0;
        for (int64_t c0 = 0; c0 < C; c0 += GRAM_CHANNELS) { /* one Gram over a few channels at a time */
            gram_t g[2 * GRAM_CHANNELS];
            int nt = 0;
            for (int64_t c = c0; c < C && c < c0 + GRAM_CHANNELS; ++c) {
                const int64_t at = c * n + p0;
                g[nt++] = (gram_t){RYbl + at, ADDR(f[F_H]) + at, N, N};
                if (RHin)
                    g[nt++] = (gram_t){ADDR(f[F_YB]) + at, RHin + at, N, N};
            }
            gram(O, I, out + f[F_WOFF], I, g, nt, p1 - p0);
        }
        if (l > 0) { /* R{adjoint of the input jet} = W^T R{Yb} + V^T Yb */
            const term_t t[2] = {{ADDR(f[F_W]), 1, I, RYbl, N, O}, {v + f[F_WOFF], 1, I, ADDR(f[F_YB]), N, O}};
            matmul_points(j, I, ADDR(j->plan[(l - 1) * F_N + F_RABOUT]), t, 2);
        }
    }
}

/* Runs work on `threads` shares of the points (whole vectors each, but the last) in an OpenMP team, each
   share a copy of proto with its own points (and, for passes that sum weight gradients into proto.out, its
   own row of sums [threads - 1][P], zeroed, added to out at the end).

   Why OpenMP and not threads of our own: torch's CPU ops run on OpenMP too, and this library is linked
   against the libgomp torch has loaded (the dynamic linker reuses a loaded libgomp.so.1), so the team is
   torch's own pool. libgomp's workers spin for a while after each parallel region; with helpers of our
   own, the workers of torch's last op took a core from them for milliseconds (a Deep Ritz top-2 run after
   a few torch ops: 18 ms instead of 9.5). Here they are the threads that take our shares. A pass is
   ~0.2-0.8 ms, and a product's two passes are a fraction of a millisecond apart: spinning workers start
   them at once. A smaller team than asked for (nested in another region, a thread limit) takes all the
   shares between its threads.

   A forked child runs every share on its calling thread: libgomp's pool there is the parent's, whose
   threads are gone, and a team would wait for them for ever (torch's own parallel ops hang there too). */
static int forked_child;
static void note_fork(void) { forked_child = 1; }
__attribute__((constructor)) static void install_fork_handler(void) { pthread_atfork(0, 0, note_fork); }
int plw_forked_child(void) { return forked_child; }

static int run_shares(share_t proto, int64_t threads, void (*work)(const share_t *), float *sums, int64_t P)
{
    if (threads < 1 || threads > MAX_SHARES)
        return -1;
    share_t share[MAX_SHARES];
    const int64_t n = proto.n;
    const int64_t per = ((n + threads - 1) / threads + VL - 1) / VL * VL;
    for (int t = 0; t < threads; ++t) {
        share[t] = proto;
        share[t].p0 = t * per < n ? t * per : n;
        share[t].p1 = (t + 1) * per < n ? (t + 1) * per : n;
        if (t > 0 && proto.out)
            share[t].out = sums + (t - 1) * P; /* the other threads' weight gradients, added at the end */
    }
#ifdef _OPENMP
    if (threads > 1 && !forked_child) {
#pragma omp parallel num_threads((int)threads)
        for (int t = omp_get_thread_num(); t < threads; t += omp_get_num_threads())
            work(&share[t]);
    } else
#endif
        for (int t = 0; t < threads; ++t) /* one thread, a forked child, or built without OpenMP */
            work(&share[t]);
    if (proto.out)
        for (int t = 1; t < threads; ++t)
            for (int64_t i = 0; i < P; ++i)
                proto.out[i] += sums[(t - 1) * P + i];
    return 0;
}

/* The setup's passes at theta: forward (fills F_Z, F_S1, F_S2GY, F_LAPRY, every next F_H, and Y [C][n]),
   then, given the output adjoints Yb [C][n], backward (F_YB, F_CRY, F_CRGY, F_LABS2) */
int plw_rop_setup_forward(const int64_t *plan, int64_t L, int64_t C, int64_t d, int64_t lap, int64_t n,
                          const float *theta, float *Y, int64_t threads)
{
    return run_shares((share_t){.plan = plan, .L = L, .C = C, .d = d, .lap = lap, .n = n, .v = theta, .RY = Y},
                      threads, setup_forward_share, 0, 0);
}

int plw_rop_setup_backward(const int64_t *plan, int64_t L, int64_t C, int64_t d, int64_t lap, int64_t n,
                           const float *Yb, int64_t threads)
{
    return run_shares((share_t){.plan = plan, .L = L, .C = C, .d = d, .lap = lap, .n = n, .Yb = Yb}, threads,
                      setup_backward_share, 0, 0);
}

/* The setup's backward pass as plw_rop_setup_backward without the R-passes' coefficients, and the loss's
   parameter gradient J^T Yb added into out [P] (a training step); sums [threads - 1][P] (zeroed) takes the
   other threads' shares */
int plw_rop_setup_gradient(const int64_t *plan, int64_t L, int64_t C, int64_t d, int64_t lap, int64_t n,
                           const float *Yb, float *out, float *sums, int64_t P, int64_t threads)
{
    return run_shares((share_t){.plan = plan, .L = L, .C = C, .d = d, .lap = lap, .n = n, .Yb = Yb, .out = out},
                      threads, setup_backward_share, sums, P);
}

/* R{Y} [C][n] = J v on `threads` threads; fills each hidden layer's F_RZ and F_RHOUT */
int plw_rop_forward(const int64_t *plan, int64_t L, int64_t C, int64_t d, int64_t lap, int64_t n, const float *v,
                    float *RY, int64_t threads)
{
    return run_shares((share_t){.plan = plan, .L = L, .C = C, .d = d, .lap = lap, .n = n, .v = v, .RY = RY},
                      threads, forward_share, 0, 0);
}

/* out [P] += R{J^T Yb}, given the output adjoints Yb [C][n] and R{Yb} [C][n], after plw_rop_forward with the
   same v; sums [threads - 1][P] (zeroed) takes the other threads' shares, added to out at the end */
int plw_rop_backward(const int64_t *plan, int64_t L, int64_t C, int64_t d, int64_t lap, int64_t n, const float *v,
                     const float *Yb, const float *RYb, float *out, float *sums, int64_t P, int64_t threads)
{
    return run_shares((share_t){.plan = plan, .L = L, .C = C, .d = d, .lap = lap, .n = n, .v = v, .Yb = Yb,
                                .RYb = (float *)RYb /* only read */, .out = out},
                      threads, backward_share, sums, P);
}

/* A whole product, when the loss's Hessian in Y-space is block diagonal over the points (rop.py checks):
   R-forward, R{Yb}[c][p] = sum_c' B[c][c'][p] R{Y}[c'][p], R-backward, all per point, so each thread takes
   its share through all three with no join between them. RY and RYb [C][n] are scratch. */
static void product_share(const share_t *j)
{
    const int64_t C = j->C, n = j->n;
    forward_share(j);
    for (int64_t c = 0; c < C; ++c) {
        float *restrict ryb = j->RYb + c * n;
        for (int64_t p = j->p0; p < j->p1; ++p)
            ryb[p] = 0.0f;
        for (int64_t e = 0; e < C; ++e) {
            const float *restrict b = j->B + (c * C + e) * n, *restrict ry = j->RY + e * n;
#pragma omp simd
            for (int64_t p = j->p0; p < j->p1; ++p)
                ryb[p] = __builtin_fmaf(b[p], ry[p], ryb[p]);
        }
    }
    backward_share(j);
}

int plw_rop_product(const int64_t *plan, int64_t L, int64_t C, int64_t d, int64_t lap, int64_t n, const float *v,
                    const float *Yb, const float *B, float *RY, float *RYb, float *out, float *sums, int64_t P,
                    int64_t threads)
{
    return run_shares((share_t){.plan = plan, .L = L, .C = C, .d = d, .lap = lap, .n = n, .v = v, .Yb = Yb,
                                .RYb = RYb, .B = B, .RY = RY, .out = out},
                      threads, product_share, sums, P);
}
