#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "team.h"

void fnn_barrier_init(fnn_barrier *barrier, int n_workers)
{
    atomic_store(&barrier->waiting, 0);
    atomic_store(&barrier->round, 0);
    barrier->n_workers = n_workers;
}

void fnn_barrier_wait(fnn_barrier *barrier)
{
    if (barrier->n_workers <= 1) return;
    int round = atomic_load_explicit(&barrier->round, memory_order_acquire);
    if (atomic_fetch_add_explicit(&barrier->waiting, 1, memory_order_acq_rel) == barrier->n_workers - 1) {
        atomic_store_explicit(&barrier->waiting, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&barrier->round, 1, memory_order_release);
        return;
    }
    for (long spins = 0; atomic_load_explicit(&barrier->round, memory_order_acquire) == round; spins++) {
        if (spins > 20000) sched_yield();     /* the other worker is descheduled: give way */
    }
}

void fnn_counter_init(fnn_counter *counter) { atomic_store(&counter->next, 0); }

long fnn_counter_take(fnn_counter *counter)
{
    return atomic_fetch_add_explicit(&counter->next, 1, memory_order_relaxed);
}

typedef struct {
    void (*work)(void *arg, int worker);
    void *arg;
    int worker;
    atomic_int *start;      /* 0: wait, 1: go, -1: the team could not be formed, return */
} fnn_job;

static void *fnn_thread_main(void *p)
{
    fnn_job *job = (fnn_job *)p;
    int go;
    while ((go = atomic_load_explicit(job->start, memory_order_acquire)) == 0) sched_yield();
    if (go > 0) job->work(job->arg, job->worker);
    return NULL;
}

int fnn_team_run(int n_workers, void (*work)(void *arg, int worker), void *arg)
{
    pthread_t threads[FNN_MAX_WORKERS];
    fnn_job jobs[FNN_MAX_WORKERS];
    atomic_int start;
    atomic_init(&start, 0);
    if (n_workers < 1) n_workers = 1;
    if (n_workers > FNN_MAX_WORKERS) n_workers = FNN_MAX_WORKERS;
    int started = 1;
    for (int w = 1; w < n_workers; w++) {
        jobs[w] = (fnn_job){work, arg, w, &start};
        if (pthread_create(&threads[w], NULL, fnn_thread_main, &jobs[w]) != 0) break;
        started++;
    }
    atomic_store_explicit(&start, started == n_workers ? 1 : -1, memory_order_release);
    if (started == n_workers) work(arg, 0);
    for (int w = 1; w < started; w++) pthread_join(threads[w], NULL);
    return started == n_workers ? 0 : -1;
}

/* ---- how far apart the team's two cores are ---- */

typedef struct {
    _Alignas(64) atomic_long turn;      /* odd: worker 1's move, even: worker 0's */
    long rounds;
    double seconds;
} fnn_ping;

static void fnn_ping_work(void *arg, int worker)
{
    fnn_ping *p = (fnn_ping *)arg;
    struct timespec t0, t1;
    if (worker == 0) clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < p->rounds; i++) {
        long mine = 2 * i + worker, spins = 0;
        while (atomic_load_explicit(&p->turn, memory_order_acquire) != mine)
            if (++spins > 20000) { sched_yield(); spins = 0; }     /* the other is descheduled */
        atomic_store_explicit(&p->turn, mine + 1, memory_order_release);
    }
    if (worker == 0) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        p->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    }
}

double fnn_team_round_trip_ns(long rounds)
{
    fnn_ping p;
    atomic_init(&p.turn, 0);
    p.rounds = rounds > 0 ? rounds : 1;
    p.seconds = 0.0;
    if (fnn_team_run(2, fnn_ping_work, &p) != 0) return -1.0;
    return 1e9 * p.seconds / (double)p.rounds;
}
