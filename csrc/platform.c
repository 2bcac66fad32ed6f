/* Threads, a thread-local key, aligned memory and a clock (see platform.h). */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L
#endif
#include "platform.h"

#include <stdlib.h>

#if defined(_WIN32)
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <malloc.h>

struct fnn_thread {
    HANDLE handle;
    void (*fn)(void *arg);
    void *arg;
};

static DWORD WINAPI thread_main(LPVOID p)
{
    struct fnn_thread *t = (struct fnn_thread *)p;
    t->fn(t->arg);
    return 0;
}

fnn_thread *fnn_thread_start(void (*fn)(void *arg), void *arg)
{
    struct fnn_thread *t = (struct fnn_thread *)malloc(sizeof *t);
    if (t == NULL) return NULL;
    t->fn = fn, t->arg = arg;
    t->handle = CreateThread(NULL, 1 << 20, thread_main, t, STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
    if (t->handle == NULL) { free(t); return NULL; }
    return t;
}

void fnn_thread_join(fnn_thread *t)
{
    WaitForSingleObject(t->handle, INFINITE);
    CloseHandle(t->handle);
    free(t);
}

void fnn_thread_yield(void) { SwitchToThread(); }

double fnn_seconds(void)
{
    LARGE_INTEGER now, frequency;
    QueryPerformanceCounter(&now);
    QueryPerformanceFrequency(&frequency);
    return (double)now.QuadPart / (double)frequency.QuadPart;
}

/* fiber-local storage: unlike TlsAlloc, it calls the destructor when a thread ends */
static INIT_ONCE key_once = INIT_ONCE_STATIC_INIT;
static DWORD key = FLS_OUT_OF_INDEXES;

static void WINAPI free_value(void *value) { if (value != NULL) fnn_aligned_free(value); }

static BOOL CALLBACK make_key(PINIT_ONCE once, PVOID param, PVOID *context)
{
    (void)once, (void)param, (void)context;
    key = FlsAlloc(free_value);
    return TRUE;
}

void *fnn_tls_get(void)
{
    InitOnceExecuteOnce(&key_once, make_key, NULL, NULL);
    return key == FLS_OUT_OF_INDEXES ? NULL : FlsGetValue(key);
}

int fnn_tls_set(void *value)
{
    InitOnceExecuteOnce(&key_once, make_key, NULL, NULL);
    return key != FLS_OUT_OF_INDEXES && FlsSetValue(key, value) ? 0 : -1;
}

void *fnn_aligned_alloc64(size_t size) { return _aligned_malloc((size + 63) / 64 * 64, 64); }
void fnn_aligned_free(void *p) { _aligned_free(p); }

#else   /* POSIX */
#include <pthread.h>
#include <sched.h>
#include <time.h>

struct fnn_thread {
    pthread_t handle;
    void (*fn)(void *arg);
    void *arg;
};

static void *thread_main(void *p)
{
    struct fnn_thread *t = (struct fnn_thread *)p;
    t->fn(t->arg);
    return NULL;
}

fnn_thread *fnn_thread_start(void (*fn)(void *arg), void *arg)
{
    struct fnn_thread *t = (struct fnn_thread *)malloc(sizeof *t);
    if (t == NULL) return NULL;
    t->fn = fn, t->arg = arg;
    pthread_attr_t attr;
    int ok = pthread_attr_init(&attr) == 0;
    if (!ok) { free(t); return NULL; }
    size_t stack = 0;       /* at least 1 MB: musl gives 128 KB, glibc 8 MB */
    if (pthread_attr_getstacksize(&attr, &stack) != 0 || stack < ((size_t)1 << 20))
        pthread_attr_setstacksize(&attr, (size_t)1 << 20);
    ok = pthread_create(&t->handle, &attr, thread_main, t) == 0;
    pthread_attr_destroy(&attr);
    if (!ok) { free(t); return NULL; }
    return t;
}

void fnn_thread_join(fnn_thread *t)
{
    pthread_join(t->handle, NULL);
    free(t);
}

void fnn_thread_yield(void) { sched_yield(); }

double fnn_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static int key_ok;

static void free_value(void *value) { fnn_aligned_free(value); }
static void make_key(void) { key_ok = pthread_key_create(&key, free_value) == 0; }

void *fnn_tls_get(void)
{
    pthread_once(&key_once, make_key);
    return key_ok ? pthread_getspecific(key) : NULL;
}

int fnn_tls_set(void *value)
{
    pthread_once(&key_once, make_key);
    return key_ok && pthread_setspecific(key, value) == 0 ? 0 : -1;
}

void *fnn_aligned_alloc64(size_t size)
{
    void *p = NULL;         /* posix_memalign: macOS before 10.15 has no aligned_alloc */
    return posix_memalign(&p, 64, (size + 63) / 64 * 64) == 0 ? p : NULL;
}

void fnn_aligned_free(void *p) { free(p); }
#endif
