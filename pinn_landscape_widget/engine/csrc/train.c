/* A training step's passes for a float32 tanh network with any number of outputs and any jet: the forward
   jet at one set of points and the backward pass that adds the loss's parameter gradient J^T Yb, given the
   loss's adjoints Yb of the output jet. engine/jet_adjoint.py (NativeJets) prepares every array and holds
   the algebra, the same as its GeneralJets in torch.

   The jet's channels: 0 the value, 1 .. F the first partials the spec carries (the first layer's input jet
   says which inputs: a unit vector per channel), then S second-order channels, each a form
   q_s = sum over its terms of c d_a d_b of those partials (a pure second derivative, a mixed one, a
   Laplacian). Per hidden layer, from its input jet H [I][C][n]:
       Z = W H (+ b on the value channel): y, Gy_k, Ly_s;  Q_s = sum c Gy_a Gy_b
       A = tanh y,  GA_k = s1 Gy_k,  LA_s = s1 Ly_s + s2 Q_s            (s1, s2, s3: tanh's derivatives at y)
   and backward, from the adjoints (Ab, GAb_k, LAb_s) of its output jet:
       yb = Ab s1 + s2 sum_k GAb_k Gy_k + sum_s LAb_s (s2 Ly_s + s3 Q_s)
       Gyb_k = GAb_k s1 + sum_s LAb_s s2 dQ_s/dGy_k,   Lyb_s = LAb_s s1
       Wb = sum over channels of Yb_c H_c^T,  bb = sum of yb,  (adjoint of H) = W^T Yb
   The output layer is linear with m outputs: Y [m][C][n] = Wo H + bo on the value channel.

   tanh's derivatives come from A alone (s1 = 1 - A^2, s2 = -2 A s1, s3 = -2 s1^2 - 2 A s2) and Q_s from
   Gy, so a layer keeps only Z and its output jet between the passes. Threads split the points as in
   rop.c: each takes its share through every layer and sums its own weight gradients.

   plan: one record of T_N int64 per hidden layer and a last one for the output layer (T_O, T_I, T_WOFF,
   T_BOFF, T_H). The weights are read from theta at their offsets (row-major [O][I]). */

#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdint.h>

#include "team.h"
#include "tiles.h"
#include "vec.h"

enum {
    T_O,    /* units (outputs, for the output layer) */
    T_I,    /* inputs */
    T_WOFF, /* offsets of the weights [O][I] and biases in theta */
    T_BOFF,
    T_H,  /* the layer's input jet [I][C][n]; the first layer's comes filled */
    T_Z,  /* the pre-activation jet [O][C][n] */
    T_AB, /* the adjoint of the layer's output jet [O][C][n] */
    T_YB, /* the adjoint of the pre-activation jet [O][C][n] */
    T_N
};

int64_t plw_train_plan_fields(void) { return T_N; }

/* One thread's share of a pass: the points p0 .. p1 - 1. */
typedef struct {
    const int64_t *plan;
    int64_t L, C, F, S, n, p0, p1;
    const int64_t *counts; /* terms of each second-order channel [S] */
    const int64_t *terms;  /* (a, b) per term, positions among the first partials [2 * sum counts] */
    const float *coefs;    /* c per term */
    const float *theta;
    float *Y;        /* forward: the output jet [m][C][n] */
    const float *Yb; /* backward: its adjoints [m][C][n] */
    float *out;      /* backward: this thread's gradient [P] */
} tshare_t;

/* out[:, c * n + p0 ..< c * n + p1] for every channel c: a one-term matmul over one thread's points */
static void matmul_share(const tshare_t *j, int64_t M, float *out, term_t t)
{
    const int64_t N = j->C * j->n;
    for (int64_t c = 0; c < j->C; ++c) {
        term_t tc = t;
        tc.B += c * j->n + j->p0;
        matmul(M, j->p1 - j->p0, out + c * j->n + j->p0, N, &tc, 1);
    }
}

/* q[p] = sum over the terms of channel s of c z_a[p] z_b[p], over one thread's points; z the row of a
   pre-activation jet [C][n] */
static void quadratic(const tshare_t *j, const float *z, int64_t first_term, int64_t count, float *restrict q)
{
    const int64_t n = j->n, p0 = j->p0, p1 = j->p1;
    for (int64_t p = p0; p < p1; ++p)
        q[p] = 0.0f;
    for (int64_t t = first_term; t < first_term + count; ++t) {
        const float *restrict za = z + (1 + j->terms[2 * t]) * n, *restrict zb = z + (1 + j->terms[2 * t + 1]) * n;
        const float c = j->coefs[t];
#pragma omp simd
        for (int64_t p = p0; p < p1; ++p)
            q[p] = __builtin_fmaf(c * za[p], zb[p], q[p]);
    }
}

static void forward_share(const tshare_t *j)
{
    const int64_t C = j->C, F = j->F, S = j->S, n = j->n, N = C * n, p0 = j->p0, p1 = j->p1;
    for (int64_t l = 0; l < j->L; ++l) {
        const int64_t *f = j->plan + l * T_N;
        const int64_t O = f[T_O], I = f[T_I];
        float *Z = ADDR(f[T_Z]), *Hout = ADDR(f[T_N + T_H]);
        matmul_share(j, O, Z, (term_t){j->theta + f[T_WOFF], I, 1, ADDR(f[T_H]), N, I});
        for (int64_t r = 0; r < O; ++r) {
            float *restrict z = Z + r * N, *restrict h = Hout + r * N;
            const float b = j->theta[f[T_BOFF] + r];
#pragma omp simd
            for (int64_t p = p0; p < p1; ++p) {
                const float y = z[p] + b;
                z[p] = y;
                h[p] = plw_tanhf(y);
            }
            for (int64_t k = 0; k < F; ++k) {
                const int64_t ck = (1 + k) * n;
#pragma omp simd
                for (int64_t p = p0; p < p1; ++p)
                    h[ck + p] = (1.0f - h[p] * h[p]) * z[ck + p];
            }
            for (int64_t s = 0, t = 0; s < S; t += j->counts[s], ++s) {
                const int64_t cs = (1 + F + s) * n;
                quadratic(j, z, t, j->counts[s], h + cs); /* Q_s, then LA_s in its place */
#pragma omp simd
                for (int64_t p = p0; p < p1; ++p) {
                    const float a = h[p], s1 = 1.0f - a * a, s2 = -2.0f * a * s1;
                    h[cs + p] = __builtin_fmaf(s2, h[cs + p], s1 * z[cs + p]);
                }
            }
        }
    }
    const int64_t *f = j->plan + j->L * T_N;
    const int64_t m = f[T_O], I = f[T_I];
    matmul_share(j, m, j->Y, (term_t){j->theta + f[T_WOFF], I, 1, ADDR(f[T_H]), N, I});
    for (int64_t o = 0; o < m; ++o) {
        float *restrict y = j->Y + o * N;
        const float b = j->theta[f[T_BOFF] + o];
#pragma omp simd
        for (int64_t p = p0; p < p1; ++p)
            y[p] += b;
    }
}

#define GRAM_CHANNELS 4

/* out[woff ..] += sum over channels of Yb_c H_c^T ([O][I], over this share's points), out[boff ..] += the
   value adjoints summed */
static void layer_gradient(const tshare_t *j, int64_t O, int64_t I, const float *Yb, const float *H, int64_t woff,
                           int64_t boff)
{
    const int64_t C = j->C, n = j->n, N = C * n, p0 = j->p0, p1 = j->p1;
    for (int64_t r = 0; r < O; ++r) {
        const float *restrict yb = Yb + r * N;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int64_t p = p0; p < p1; ++p)
            s += yb[p];
        j->out[boff + r] += s;
    }
    for (int64_t c0 = 0; c0 < C; c0 += GRAM_CHANNELS) {
        gram_t g[GRAM_CHANNELS];
        int nt = 0;
        for (int64_t c = c0; c < C && c < c0 + GRAM_CHANNELS; ++c)
            g[nt++] = (gram_t){Yb + c * n + p0, H + c * n + p0, N, N};
        gram(O, I, j->out + woff, I, g, nt, p1 - p0);
    }
}

static void backward_share(const tshare_t *j)
{
    const int64_t C = j->C, F = j->F, S = j->S, n = j->n, N = C * n, p0 = j->p0, p1 = j->p1;
    {
        const int64_t *f = j->plan + j->L * T_N;
        const int64_t m = f[T_O], I = f[T_I];
        layer_gradient(j, m, I, j->Yb, ADDR(f[T_H]), f[T_WOFF], f[T_BOFF]);
        /* the adjoint of the last hidden layer's output: Wo^T Yb */
        matmul_share(j, I, ADDR(j->plan[(j->L - 1) * T_N + T_AB]), (term_t){j->theta + f[T_WOFF], 1, I, j->Yb, N, m});
    }
    for (int64_t l = j->L - 1; l >= 0; --l) {
        const int64_t *f = j->plan + l * T_N;
        const int64_t O = f[T_O], I = f[T_I];
        const float *A = ADDR(f[T_AB]), *Z = ADDR(f[T_Z]), *Hout = ADDR(f[T_N + T_H]);
        float *Ybl = ADDR(f[T_YB]);
        for (int64_t r = 0; r < O; ++r) {
            const float *restrict a = A + r * N, *restrict z = Z + r * N, *restrict h = Hout + r * N;
            float *restrict yb = Ybl + r * N;
#pragma omp simd
            for (int64_t p = p0; p < p1; ++p)
                yb[p] = a[p] * (1.0f - h[p] * h[p]);
            for (int64_t k = 0; k < F; ++k) {
                const int64_t ck = (1 + k) * n;
#pragma omp simd
                for (int64_t p = p0; p < p1; ++p) {
                    const float t = h[p], s1 = 1.0f - t * t, s2 = -2.0f * t * s1;
                    yb[p] = __builtin_fmaf(s2 * a[ck + p], z[ck + p], yb[p]);
                    yb[ck + p] = a[ck + p] * s1;
                }
            }
            for (int64_t s = 0, t0 = 0; s < S; t0 += j->counts[s], ++s) {
                const int64_t cs = (1 + F + s) * n;
                quadratic(j, z, t0, j->counts[s], yb + cs); /* Q_s, then Lyb_s in its place */
#pragma omp simd
                for (int64_t p = p0; p < p1; ++p) {
                    const float t = h[p], s1 = 1.0f - t * t, s2 = -2.0f * t * s1, s3 = -2.0f * s1 * s1 - 2.0f * t * s2;
                    const float lab = a[cs + p];
                    yb[p] = __builtin_fmaf(lab, __builtin_fmaf(s3, yb[cs + p], s2 * z[cs + p]), yb[p]);
                    yb[cs + p] = lab * s1;
                }
                /* Gyb_a += LAb_s s2 c Gy_b and Gyb_b += LAb_s s2 c Gy_a per term */
                for (int64_t t = t0; t < t0 + j->counts[s]; ++t) {
                    const int64_t ca = (1 + j->terms[2 * t]) * n, cb = (1 + j->terms[2 * t + 1]) * n;
                    const float c = j->coefs[t];
#pragma omp simd
                    for (int64_t p = p0; p < p1; ++p) {
                        const float u = h[p], w = c * a[cs + p] * (-2.0f * u * (1.0f - u * u));
                        const float ga = z[ca + p], gb = z[cb + p];
                        yb[ca + p] = __builtin_fmaf(w, gb, yb[ca + p]);
                        yb[cb + p] = __builtin_fmaf(w, ga, yb[cb + p]);
                    }
                }
            }
        }
        layer_gradient(j, O, I, Ybl, ADDR(f[T_H]), f[T_WOFF], f[T_BOFF]);
        if (l > 0) /* the adjoint of the layer's input jet: W^T Yb, the output adjoint of the layer below */
            matmul_share(j, I, ADDR(j->plan[(l - 1) * T_N + T_AB]), (term_t){j->theta + f[T_WOFF], 1, I, Ybl, N, O});
    }
}

/* Runs work on `threads` shares of the points (whole vectors each, but the last) in an OpenMP team (see
   rop.c's run_shares for why OpenMP), each share with its own gradient row: sums [threads - 1][P],
   zeroed, added into proto.out at the end. */
static int run(tshare_t proto, int64_t threads, void (*work)(const tshare_t *), float *sums, int64_t P)
{
    if (threads < 1 || threads > MAX_SHARES || proto.L < 1)
        return -1;
    tshare_t share[MAX_SHARES];
    const int64_t n = proto.n;
    const int64_t per = ((n + threads - 1) / threads + VL - 1) / VL * VL;
    for (int t = 0; t < threads; ++t) {
        share[t] = proto;
        share[t].p0 = t * per < n ? t * per : n;
        share[t].p1 = (t + 1) * per < n ? (t + 1) * per : n;
        if (t > 0 && proto.out)
            share[t].out = sums + (t - 1) * P;
    }
#ifdef _OPENMP
    if (threads > 1 && !plw_forked_child()) {
#pragma omp parallel num_threads((int)threads)
        for (int t = omp_get_thread_num(); t < threads; t += omp_get_num_threads())
            work(&share[t]);
    } else
#endif
        for (int t = 0; t < threads; ++t)
            work(&share[t]);
    if (proto.out)
        for (int t = 1; t < threads; ++t)
            for (int64_t i = 0; i < P; ++i)
                proto.out[i] += sums[(t - 1) * P + i];
    return 0;
}

/* The forward jet at theta: fills every hidden layer's T_Z and the next T_H, and Y [m][C][n]. The spec:
   F first partials, S second-order channels of counts[s] terms each, terms (a, b) and coefs per term. */
int plw_train_forward(const int64_t *plan, int64_t L, int64_t C, int64_t F, int64_t S, const int64_t *counts,
                      const int64_t *terms, const float *coefs, int64_t n, const float *theta, float *Y,
                      int64_t threads)
{
    if (C != 1 + F + S)
        return -1;
    return run((tshare_t){.plan = plan, .L = L, .C = C, .F = F, .S = S, .n = n, .counts = counts, .terms = terms,
                          .coefs = coefs, .theta = theta, .Y = Y},
               threads, forward_share, 0, 0);
}

/* After plw_train_forward at the same theta: out [P] += J^T Yb, given the output adjoints Yb [m][C][n];
   sums [threads - 1][P] (zeroed) takes the other threads' shares. */
int plw_train_gradient(const int64_t *plan, int64_t L, int64_t C, int64_t F, int64_t S, const int64_t *counts,
                       const int64_t *terms, const float *coefs, int64_t n, const float *theta, const float *Yb,
                       float *out, float *sums, int64_t P, int64_t threads)
{
    if (C != 1 + F + S)
        return -1;
    return run((tshare_t){.plan = plan, .L = L, .C = C, .F = F, .S = S, .n = n, .counts = counts, .terms = terms,
                          .coefs = coefs, .theta = theta, .Yb = Yb, .out = out},
               threads, backward_share, sums, P);
}
