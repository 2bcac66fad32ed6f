/* A small team of threads for the compiled training loop: run one function on N
 * workers (the caller is worker 0) and let them meet at a barrier between phases.
 * Built on platform.h (POSIX threads or Win32, compiler atomics on plain fields):
 * this header is included by the C Cython generates, so it carries no <stdatomic.h>.
 * Nothing here knows about Python. */
#ifndef FASTNN_TEAM_H
#define FASTNN_TEAM_H

#define FNN_MAX_WORKERS 8

typedef struct {
    volatile int waiting;   /* workers that have arrived in the current round (atomic) */
    volatile int round;     /* incremented when the last worker arrives (atomic) */
    int n_workers;
} fnn_barrier;

void fnn_barrier_init(fnn_barrier *barrier, int n_workers);

/* A shared count of pieces of work handed out: each worker takes the next piece when it is
 * ready for one, so a worker slowed down (a busy or descheduled core) simply takes fewer. */
typedef struct {
    volatile long long next;    /* atomic */
} fnn_counter;

void fnn_counter_init(fnn_counter *counter);

/* The next piece's number (0, 1, 2, ... over all workers, each handed out once). */
long long fnn_counter_take(fnn_counter *counter);

/* Block until all n_workers have called it; spins briefly (with the CPU's pause hint),
 * then yields the CPU. */
void fnn_barrier_wait(fnn_barrier *barrier);

/* Run work(arg, w) for w = 0 .. n_workers-1, worker 0 on the calling thread; return when
 * all have finished. Returns 0, or -1 if a thread could not be started (then nothing ran). */
int fnn_team_run(int n_workers, void (*work)(void *arg, int worker), void *arg);

/* For tests of the fallback: later calls of fnn_team_run start at most n threads (n < 0: no
 * limit), as if the others could not be started.  Not for use while a team runs. */
void fnn_team_limit_threads(int n);

/* The mean time, in ns, for a cache line to go from one worker of a team of two to the
 * other and back (each waits for the other's write, then writes): the cost of every value
 * one worker writes and the other reads, and of each barrier.  Returns -1 if the second
 * thread could not be started. */
double fnn_team_round_trip_ns(long long rounds);

#endif
