#include "team.h"
#include "platform.h"

/* pauses (each some tens of ns) a waiting worker spins before it gives its core away: the
 * other worker is then likely descheduled */
#define SPINS_BEFORE_YIELD 2000

void fnn_barrier_init(fnn_barrier *barrier, int n_workers)
{
    fnn_store_release(&barrier->waiting, 0);
    fnn_store_release(&barrier->round, 0);
    barrier->n_workers = n_workers;
}

void fnn_barrier_wait(fnn_barrier *barrier)
{
    if (barrier->n_workers <= 1) return;
    int round = fnn_load_acquire(&barrier->round);
    if (fnn_fetch_add(&barrier->waiting, 1) == barrier->n_workers - 1) {
        fnn_store_release(&barrier->waiting, 0);
        fnn_fetch_add(&barrier->round, 1);
        return;
    }
    for (long spins = 0; fnn_load_acquire(&barrier->round) == round; spins++) {
        if (spins > SPINS_BEFORE_YIELD) fnn_thread_yield();
        else FNN_SPIN_PAUSE();
    }
}

void fnn_counter_init(fnn_counter *counter) { fnn_store_release_ll(&counter->next, 0); }

long long fnn_counter_take(fnn_counter *counter) { return fnn_fetch_add_ll(&counter->next, 1); }

typedef struct {
    void (*work)(void *arg, int worker);
    void *arg;
    int worker;
    volatile int *start;    /* 0: wait, 1: go, -1: the team could not be formed, return */
} fnn_job;

static void fnn_thread_main(void *p)
{
    fnn_job *job = (fnn_job *)p;
    int go;
    while ((go = fnn_load_acquire(job->start)) == 0) fnn_thread_yield();
    if (go > 0) job->work(job->arg, job->worker);
}

static int start_limit = -1;      /* fnn_team_limit_threads */

void fnn_team_limit_threads(int n) { start_limit = n; }

int fnn_team_run(int n_workers, void (*work)(void *arg, int worker), void *arg)
{
    fnn_thread *threads[FNN_MAX_WORKERS];
    fnn_job jobs[FNN_MAX_WORKERS];
    volatile int start = 0;
    if (n_workers < 1) n_workers = 1;
    if (n_workers > FNN_MAX_WORKERS) n_workers = FNN_MAX_WORKERS;
    int started = 1;
    for (int w = 1; w < n_workers; w++) {
        jobs[w] = (fnn_job){work, arg, w, &start};
        if (start_limit >= 0 && started - 1 >= start_limit) break;
        if ((threads[w] = fnn_thread_start(fnn_thread_main, &jobs[w])) == NULL) break;
        started++;
    }
    fnn_store_release(&start, started == n_workers ? 1 : -1);
    if (started == n_workers) work(arg, 0);
    for (int w = 1; w < started; w++) fnn_thread_join(threads[w]);
    return started == n_workers ? 0 : -1;
}

/* ---- how far apart the team's two cores are ---- */

typedef struct {
    FNN_ALIGNED(64) volatile long long turn;    /* odd: worker 1's move, even: worker 0's */
    long long rounds;
    double seconds;
} fnn_ping;

static void fnn_ping_work(void *arg, int worker)
{
    fnn_ping *p = (fnn_ping *)arg;
    double t0 = worker == 0 ? fnn_seconds() : 0.0;
    for (long long i = 0; i < p->rounds; i++) {
        long long mine = 2 * i + worker;
        long spins = 0;
        while (fnn_load_acquire_ll(&p->turn) != mine) {
            if (++spins > SPINS_BEFORE_YIELD) { fnn_thread_yield(); spins = 0; }
            else FNN_SPIN_PAUSE();
        }
        fnn_store_release_ll(&p->turn, mine + 1);
    }
    if (worker == 0) p->seconds = fnn_seconds() - t0;
}

double fnn_team_round_trip_ns(long long rounds)
{
    fnn_ping p;
    fnn_store_release_ll(&p.turn, 0);
    p.rounds = rounds > 0 ? rounds : 1;
    p.seconds = 0.0;
    if (fnn_team_run(2, fnn_ping_work, &p) != 0) return -1.0;
    return 1e9 * p.seconds / (double)p.rounds;
}
