/* The operating system's part of the kernels, kept thin: threads, a thread-local key,
 * aligned memory, a monotonic clock, giving way to other threads, and the few atomic
 * operations the thread team needs, on plain int and long long fields.
 *
 * POSIX threads on Linux and macOS, the Win32 API on Windows.  The atomics are the
 * compilers' builtins (GCC/Clang __atomic_*, MSVC _Interlocked*), so this header pulls in
 * no <stdatomic.h>: it is included by C that Cython generates, which MSVC compiles
 * without its C11-atomics switch. */
#ifndef FASTNN_PLATFORM_H
#define FASTNN_PLATFORM_H

#include <stddef.h>
#include "portable.h"

#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#endif

/* ---- atomics on plain fields (sequential order where not said otherwise) ---- */
#if defined(__GNUC__) || defined(__clang__)
static inline int fnn_load_acquire(const volatile int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void fnn_store_release(volatile int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline int fnn_fetch_add(volatile int *p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL); }
static inline long long fnn_load_acquire_ll(const volatile long long *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void fnn_store_release_ll(volatile long long *p, long long v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline long long fnn_fetch_add_ll(volatile long long *p, long long v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL);
}
#elif defined(_MSC_VER)
/* The interlocked operations are full barriers; a load on x86-64 is an acquire (a compiler
 * barrier keeps it in place), on ARM64 it is followed by a data memory barrier. */
#if defined(_M_ARM64)
static inline int fnn_load_acquire(const volatile int *p)
{
    int v = __iso_volatile_load32((const volatile __int32 *)p);
    __dmb(_ARM64_BARRIER_ISH);
    return v;
}
#else
static inline int fnn_load_acquire(const volatile int *p) { int v = *p; _ReadWriteBarrier(); return v; }
#endif
static inline void fnn_store_release(volatile int *p, int v) { _InterlockedExchange((volatile long *)p, v); }
static inline int fnn_fetch_add(volatile int *p, int v) { return _InterlockedExchangeAdd((volatile long *)p, v); }
static inline long long fnn_load_acquire_ll(const volatile long long *p)
{
    return _InterlockedCompareExchange64((volatile long long *)p, 0, 0);
}
static inline void fnn_store_release_ll(volatile long long *p, long long v) { _InterlockedExchange64(p, v); }
static inline long long fnn_fetch_add_ll(volatile long long *p, long long v) { return _InterlockedExchangeAdd64(p, v); }
#else
#error "fastnn needs GCC, Clang or MSVC atomics"
#endif

/* ---- threads ---- */
typedef struct fnn_thread fnn_thread;      /* opaque; one per started thread */

/* Starts fn(arg) on a new thread with a stack of at least 1 MB (musl's default is
 * 128 KB).  Returns the thread, or NULL if it could not be started. */
fnn_thread *fnn_thread_start(void (*fn)(void *arg), void *arg);

/* Waits for the thread to end and frees it. */
void fnn_thread_join(fnn_thread *thread);

/* Gives the rest of this thread's time slice to another thread. */
void fnn_thread_yield(void);

/* Seconds on a monotonic clock (for measurements only). */
double fnn_seconds(void);

/* ---- one thread-local pointer (per compiled module that links platform.c), freed with
 * fnn_aligned_free when its thread ends ---- */

/* The calling thread's value of the key (NULL if it set none, or the key could not be made). */
void *fnn_tls_get(void);

/* Sets the calling thread's value; returns 0, or -1 (then the caller keeps ownership). */
int fnn_tls_set(void *value);

/* ---- memory aligned to 64 bytes (a cache line) ---- */
void *fnn_aligned_alloc64(size_t size);     /* NULL when there is no memory */
void fnn_aligned_free(void *p);

#endif
