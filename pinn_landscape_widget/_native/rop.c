/* Hessian-vector products of a float32 tanh network's loss by Pearlmutter's R-operator: the R-forward and
   R-backward passes through the network's jet at one set of points. rop.py holds the algebra (its
   docstring and _PointSet) and prepares every array that does not depend on the direction v; these two
   functions are its r_forward and r_backward.

   Why C: in torch a Deep Ritz product was ~250 calls (matmuls, elementwise passes, views) for ~120 MFLOP,
   and the elementwise passes and the calls themselves took half its time. Here a layer is one register-
   tiled matmul (both of its terms accumulate in the same registers) and one elementwise pass over rows
   that are still in cache. Threads split the points (each takes its share through every layer, and sums
   its own weight gradients), so a pass needs no synchronisation but the final join; ctypes releases the
   GIL for the call.

   Layout. Jets are stacked [units][C][n] (channels: value, d gradient components, Laplacian), so a
   layer's matmul runs over the C*n flat columns. plan holds one record of F_N int64 per hidden layer
   (sizes, parameter offsets and the addresses of its arrays, see the enum) and a last one for the output
   layer (F_I, F_WOFF, F_BOFF, F_W, F_H; one output). */

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

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
    F_RZ,     /* written: R{pre-activation jet} [O][C][n] */
    F_RHOUT,  /* written: R{output jet} [O][C][n], the next layer's R-input */
    F_RABOUT, /* written: R{adjoint of the output jet} [O][C][n] */
    F_RYB,    /* written: R{adjoint of the pre-activation jet} [O][C][n] */
    F_N
};

#define ADDR(x) ((float *)(intptr_t)(x))
#define RT 6                      /* rows of a matmul register tile */
#define VT (ACCUMULATORS / RT)    /* vectors of a matmul register tile */
#define GR (ACCUMULATORS >= 24 ? 4 : 3) /* rows and columns of a Gram register tile */

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
   points and channels */
typedef struct {
    const float *X, *Y;
    int64_t ldx, ldy;
} gram_t;

static inline __attribute__((always_inline)) void
gram_tile(float *restrict G, int64_t ldg, int64_t r0, int64_t s0, const gram_t *t, int nt, int64_t N, const int ro,
          const int so)
{
    vf acc[GR][GR];
    for (int r = 0; r < GR; ++r)
        for (int s = 0; s < GR; ++s)
            acc[r][s] = (vf){0};
    for (int m = 0; m < nt; ++m) {
        const float *X = t[m].X + r0 * t[m].ldx, *Y = t[m].Y + s0 * t[m].ldy;
        const int64_t ldx = t[m].ldx, ldy = t[m].ldy;
        int64_t c = 0;
        for (; c + VL <= N; c += VL) {
            vf x[GR], y[GR];
            for (int r = 0; r < GR; ++r)
                if (r < ro)
                    x[r] = vload(X + r * ldx + c);
            for (int s = 0; s < GR; ++s)
                if (s < so)
                    y[s] = vload(Y + s * ldy + c);
            for (int r = 0; r < GR; ++r)
                for (int s = 0; s < GR; ++s)
                    if (r < ro && s < so)
                        acc[r][s] = vfma(x[r], y[s], acc[r][s]);
        }
        if (c < N) { /* the last, partial vector */
            vf x[GR], y[GR];
            for (int r = 0; r < GR; ++r)
                if (r < ro)
                    x[r] = vloadn(X + r * ldx + c, (int)(N - c));
            for (int s = 0; s < GR; ++s)
                if (s < so)
                    y[s] = vloadn(Y + s * ldy + c, (int)(N - c));
            for (int r = 0; r < GR; ++r)
                for (int s = 0; s < GR; ++s)
                    if (r < ro && s < so)
                        acc[r][s] = vfma(x[r], y[s], acc[r][s]);
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
            for (; s0 + GR <= S; s0 += GR)
                gram_tile(G, ldg, r0, s0, t, nt, N, GR, GR);
        for (; s0 < S; s0 += GR)
            gram_tile(G, ldg, r0, s0, t, nt, N, ro, S - s0 < GR ? (int)(S - s0) : GR);
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

/* One thread's share of a pass: the points p0 .. p1 - 1 (a product is per point until the weight
   gradients, which each thread sums over its own points into its own vector). */
typedef struct {
    const int64_t *plan;
    int64_t L, C, d, lap, n, p0, p1;
    const float *v, *Yb, *RYb;
    float *RY;  /* forward: R{Y} [C][n] */
    float *out; /* backward: this thread's sums [P] */
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
    const float *wo = ADDR(f[F_W]), *H = ADDR(f[F_H]), *vo = v + f[F_WOFF];
    for (int64_t c = 0; c < C; ++c) {
        float *restrict ry = j->RY + c * n;
        for (int64_t p = p0; p < p1; ++p)
            ry[p] = c == 0 ? v[f[F_BOFF]] : 0.0f;
        for (int64_t r = 0; r < f[F_I]; ++r) {
            const float *restrict h = H + r * N + c * n, *restrict rh = RHin + r * N + c * n;
            const float a = vo[r], b = wo[r];
#pragma omp simd
            for (int64_t p = p0; p < p1; ++p)
                ry[p] = __builtin_fmaf(a, h[p], __builtin_fmaf(b, rh[p], ry[p]));
        }
    }
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
        for (int64_t c = 0; c < C; ++c) {
            const int64_t at = c * n + p0;
            const gram_t g[2] = {{RYbl + at, ADDR(f[F_H]) + at, N, N}, {ADDR(f[F_YB]) + at, RHin + at, N, N}};
            gram(O, I, out + f[F_WOFF], I, g, RHin ? 2 : 1, p1 - p0);
        }
        if (l > 0) { /* R{adjoint of the input jet} = W^T R{Yb} + V^T Yb */
            const term_t t[2] = {{ADDR(f[F_W]), 1, I, RYbl, N, O}, {v + f[F_WOFF], 1, I, ADDR(f[F_YB]), N, O}};
            matmul_points(j, I, ADDR(j->plan[(l - 1) * F_N + F_RABOUT]), t, 2);
        }
    }
}

/* A pass is ~0.2-0.6 ms, and a product's two passes are a fraction of a millisecond apart: starting a thread
   per pass (~45 us here, and more before a sleeping core wakes) would cost much of what it gains. So the
   helpers persist: each spins for its next share for SPIN_NS before it sleeps on a condition variable,
   or at once after plw_rop_rest. A spinning helper takes a core: torch's threads should not run meanwhile
   (rop.py keeps torch at one thread during a series of products). */
#define MAX_THREADS 64
#define SPIN_NS 500000

typedef struct {
    _Atomic uint64_t posted, finished; /* generation numbers */
    void (*work)(const share_t *);
    const share_t *share;
} helper_t;

static helper_t helpers[MAX_THREADS]; /* 1 .. n_helpers */
static int n_helpers;
static uint64_t generation;
static pthread_mutex_t pass_lock = PTHREAD_MUTEX_INITIALIZER; /* one pass at a time uses the helpers */
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;
static _Atomic int resting; /* set by plw_rop_rest: helpers sleep now instead of spinning */

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *helper_main(void *arg)
{
    helper_t *h = arg;
    uint64_t seen = atomic_load(&h->finished); /* the generation it was started at (posted may be newer) */
    for (;;) {
        uint64_t posted;
        const int64_t t0 = now_ns();
        for (int64_t i = 1; (posted = atomic_load_explicit(&h->posted, memory_order_acquire)) == seen; ++i) {
            if (i % 256 == 0 && (atomic_load(&resting) || now_ns() - t0 > SPIN_NS)) {
                pthread_mutex_lock(&sleep_lock);
                while ((posted = atomic_load(&h->posted)) == seen)
                    pthread_cond_wait(&wake, &sleep_lock);
                pthread_mutex_unlock(&sleep_lock);
                break;
            }
            relax();
        }
        seen = posted;
        h->work(h->share);
        atomic_store_explicit(&h->finished, seen, memory_order_release);
    }
    return 0;
}

/* a forked child has none of the parent's helpers */
static void forget_helpers(void)
{
    n_helpers = 0;
    pthread_mutex_init(&pass_lock, 0);
    pthread_mutex_init(&sleep_lock, 0);
    pthread_cond_init(&wake, 0);
}

static void install_fork_handler(void) { pthread_atfork(0, 0, forget_helpers); }

/* Runs work on `threads` shares of the points (whole vectors each, but the last): the first on the calling
   thread, the others on helpers; on this thread alone when another pass holds the helpers or none starts. */
static void in_shares(share_t *share, int threads, void (*work)(const share_t *))
{
    const int64_t n = share[0].n;
    if (threads > 1 && pthread_mutex_trylock(&pass_lock) != 0)
        threads = 1;
    if (threads > 1) {
        pthread_once(&fork_handler_once, install_fork_handler);
        while (n_helpers < threads - 1) {
            pthread_t id;
            helper_t *h = &helpers[n_helpers + 1];
            atomic_store(&h->posted, generation);
            atomic_store(&h->finished, generation);
            if (pthread_create(&id, 0, helper_main, h) != 0)
                break;
            pthread_detach(id);
            ++n_helpers;
        }
        if (n_helpers < threads - 1)
            threads = n_helpers + 1;
    }
    const int64_t per = ((n + threads - 1) / threads + VL - 1) / VL * VL;
    for (int t = 0; t < threads; ++t) {
        share[t].p0 = t * per < n ? t * per : n;
        share[t].p1 = (t + 1) * per < n ? (t + 1) * per : n;
    }
    if (threads > 1) {
        ++generation;
        atomic_store(&resting, 0);
        pthread_mutex_lock(&sleep_lock);
        for (int t = 1; t < threads; ++t) {
            helpers[t].work = work;
            helpers[t].share = &share[t];
            atomic_store_explicit(&helpers[t].posted, generation, memory_order_release);
        }
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    work(&share[0]);
    if (threads > 1) {
        for (int t = 1; t < threads; ++t)
            while (atomic_load_explicit(&helpers[t].finished, memory_order_acquire) != generation)
                relax();
        pthread_mutex_unlock(&pass_lock);
    }
}

/* Tells the helpers to sleep now rather than spin for a next pass (rop.py calls it after a series of
   products, before torch's own threads want the cores). */
void plw_rop_rest(void) { atomic_store(&resting, 1); }

/* R{Y} [C][n] = J v on `threads` threads; fills each hidden layer's F_RZ and F_RHOUT */
int plw_rop_forward(const int64_t *plan, int64_t L, int64_t C, int64_t d, int64_t lap, int64_t n, const float *v,
                    float *RY, int64_t threads)
{
    if (threads < 1 || threads > MAX_THREADS)
        return -1;
    share_t share[MAX_THREADS];
    for (int t = 0; t < threads; ++t)
        share[t] = (share_t){plan, L, C, d, lap, n, 0, 0, v, 0, 0, RY, 0};
    in_shares(share, (int)threads, forward_share);
    return 0;
}

/* out [P] += R{J^T Yb}, given the output adjoints Yb [C][n] and R{Yb} [C][n], after plw_rop_forward with the
   same v; sums [threads - 1][P] (zeroed) takes the other threads' shares, added to out at the end */
int plw_rop_backward(const int64_t *plan, int64_t L, int64_t C, int64_t d, int64_t lap, int64_t n, const float *v,
                     const float *Yb, const float *RYb, float *out, float *sums, int64_t P, int64_t threads)
{
    if (threads < 1 || threads > MAX_THREADS)
        return -1;
    share_t share[MAX_THREADS];
    for (int t = 0; t < threads; ++t)
        share[t] = (share_t){plan, L, C, d, lap, n, 0, 0, v, Yb, RYb, 0, t == 0 ? out : sums + (t - 1) * P};
    in_shares(share, (int)threads, backward_share);
    for (int t = 1; t < threads; ++t)
        for (int64_t i = 0; i < P; ++i)
            out[i] += sums[(t - 1) * P + i];
    return 0;
}
