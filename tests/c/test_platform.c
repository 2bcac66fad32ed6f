/* C tests of the platform layer, the thread team and the CPU dispatch, run by
 * tools/check_portability.sh natively, under wine (a Windows build) and under
 * qemu-aarch64 (an ARM build).  Prints one line per check; exits 1 if any failed. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cpu.h"
#include "fastnn_kernels.h"
#include "gemm.h"
#include "platform.h"
#include "team.h"

static int failures = 0;

static void check(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) failures++;
}

/* ---- the barrier: every worker writes its slot, meets the others, reads every slot ---- */
#define ROUNDS 4000
typedef struct {
    fnn_barrier barrier;
    int n_workers;
    FNN_ALIGNED(64) volatile int value[FNN_MAX_WORKERS][16];     /* a cache line each */
    int wrong[FNN_MAX_WORKERS][16];
} cross_reads;

static void cross_read_work(void *arg, int worker)
{
    cross_reads *c = (cross_reads *)arg;
    int wrong = 0;
    for (int round = 0; round < ROUNDS; round++) {
        fnn_store_release(&c->value[worker][0], round * c->n_workers + worker);
        fnn_barrier_wait(&c->barrier);           /* every write of this round is visible ... */
        for (int w = 0; w < c->n_workers; w++)
            wrong += fnn_load_acquire(&c->value[w][0]) != round * c->n_workers + w;
        fnn_barrier_wait(&c->barrier);           /* ... and read before the next round's */
    }
    c->wrong[worker][0] = wrong;
}

/* ---- the shared counter: each piece handed out exactly once ---- */
#define PIECES 100000
typedef struct {
    fnn_counter counter;
    volatile int taken[PIECES];
    long long per_worker[FNN_MAX_WORKERS];
} sharing;

static void take_work(void *arg, int worker)
{
    sharing *s = (sharing *)arg;
    long long n = 0;
    for (long long piece = fnn_counter_take(&s->counter); piece < PIECES; piece = fnn_counter_take(&s->counter)) {
        fnn_fetch_add(&s->taken[piece], 1);
        n++;
    }
    s->per_worker[worker] = n;
}

/* ---- thread-local storage: each thread sees its own value ---- */
typedef struct {
    int ok[FNN_MAX_WORKERS];
} locals;

static void tls_work(void *arg, int worker)
{
    locals *l = (locals *)arg;
    int *mine = fnn_tls_get();
    if (mine == NULL) {                        /* first use on this thread */
        mine = fnn_aligned_alloc64(sizeof(int));
        if (mine == NULL || fnn_tls_set(mine) != 0) return;
    }
    *mine = 1000 + worker;
    for (int i = 0; i < 1000; i++) fnn_thread_yield();
    int *again = fnn_tls_get();
    l->ok[worker] = again == mine && *again == 1000 + worker && ((size_t)mine % 64) == 0;
    /* the key is the one the GEMM keeps its workspace in: a thread that goes on (worker 0
     * is this program's main thread) must not leave an int there for the products below */
    if (fnn_tls_set(NULL) == 0) fnn_aligned_free(mine);
}

/* The momentum step v := fma(μ, v, −γ·g) rounds once on every instruction set: bit for bit
 * the same.  But mingw-w64's fmaf (which the plain build calls) is not fused: it rounds the
 * product first, so there the plain build may differ from the others in the last bit. */
#define N_STEP (3 * 37)
static int close(const float *x, const float *y)
{
    for (int i = 0; i < N_STEP; i++) {
#if defined(__MINGW32__)
        if (fabsf(x[i] - y[i]) > 1e-6f * (fabsf(y[i]) + 1e-3f)) return 0;
#else
        if (x[i] != y[i]) return 0;
#endif
    }
    return 1;
}

int main(void)
{
    const char *names[] = {"generic", "avx2", "avx512"};
    printf("cpu: detected %s\n", names[fnn_cpu_detected_isa()]);

    for (int n = 2; n <= 4; n++) {
        static cross_reads c;
        memset((void *)&c, 0, sizeof c);
        c.n_workers = n;
        fnn_barrier_init(&c.barrier, n);
        int status = fnn_team_run(n, cross_read_work, &c);
        int wrong = 0;
        for (int w = 0; w < n; w++) wrong += c.wrong[w][0];
        char what[160];
        snprintf(what, sizeof what, "barrier: %d workers, %d rounds, each reads every other's write: %d wrong",
                 n, ROUNDS, wrong);
        check(status == 0 && wrong == 0, what);
    }

    static sharing s;
    memset((void *)&s, 0, sizeof s);
    fnn_counter_init(&s.counter);
    int status = fnn_team_run(3, take_work, &s);
    int once = 1;
    for (int i = 0; i < PIECES; i++) once &= s.taken[i] == 1;
    check(status == 0 && once && s.per_worker[0] + s.per_worker[1] + s.per_worker[2] == PIECES,
          "counter: 3 workers take 100000 pieces, each exactly once");

    locals l;
    memset(&l, 0, sizeof l);
    status = fnn_team_run(4, tls_work, &l);
    check(status == 0 && l.ok[0] && l.ok[1] && l.ok[2] && l.ok[3],
          "thread-local key: 4 threads, each its own 64-byte aligned value");

    double ns = fnn_team_round_trip_ns(20000);
    char what[160];
    snprintf(what, sizeof what, "round trip between two workers: %.0f ns", ns);
    check(ns > 0, what);

    /* the vectorised kernels: every instruction set this CPU has gives the same values */
    float z[N_STEP], a[3][N_STEP], b[37], w[3][N_STEP], g[N_STEP], v[3][N_STEP];
    for (int i = 0; i < N_STEP; i++) z[i] = (float)((i * 7919) % 101 - 50) / 17.0f, g[i] = z[i] / 3;
    for (int i = 0; i < 37; i++) b[i] = (float)(i % 5) / 4 - 0.5f;
    int same = 1, best = fnn_cpu_detected_isa();
    for (int isa = FNN_ISA_GENERIC; isa <= best; isa++) {
        fnn_cpu_set_cap(isa);
        float zz[N_STEP];
        memcpy(zz, z, sizeof z);
        fnn_bias_activation_f32(FNN_RELU, b, zz, a[isa], 3, 37);
        for (int i = 0; i < N_STEP; i++) w[isa][i] = z[i], v[isa][i] = g[i];
        fnn_sgd_momentum_f32(w[isa], g, v[isa], N_STEP, 0.01, 0.9, 0);
        if (isa > 0) same &= !memcmp(a[isa], a[0], sizeof a[0]) && close(w[isa], w[0]) && close(v[isa], v[0]);
        if (fnn_cpu_isa() != isa) same = 0;
    }
    int relu_ok = 1;
    for (int i = 0; i < N_STEP; i++) {
        float zb = z[i] + b[i % 37];
        relu_ok &= a[0][i] == (zb > 0 ? zb : 0);
    }
#if defined(__MINGW32__)
    const char *equal = "equal (the step within 1e-6: mingw's fmaf is not fused)";
#else
    const char *equal = "equal bit for bit";
#endif
    snprintf(what, sizeof what, "kernels: relu(z + b) and the momentum step %s on every level up to %s", equal,
             names[best]);
    check(same && relu_ok, what);
    fnn_cpu_set_cap(FNN_ISA_AVX512);

    /* the own GEMM: a product where it runs, -1 (BLAS' turn) where it does not */
    float A[2 * 3] = {1, 2, 3, 4, 5, 6}, B[3 * 2] = {1, 0, 0, 1, 1, 1}, C[4] = {0};
    int r = fnn_sgemm(0, 0, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2);
    if (fnn_sgemm_available())
        check(r == 0 && C[0] == 4 && C[1] == 5 && C[2] == 10 && C[3] == 11, "own GEMM: a 2x3 by 3x2 product");
    else
        check(r == -1 && C[0] == 0, "own GEMM: not on this CPU, leaves the product to BLAS (-1)");

    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
