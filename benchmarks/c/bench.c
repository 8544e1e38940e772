/*
 * bench.c: the C benchmark of libdupthreading (the dt_ API) against
 * hand-written pthread code doing the same job.
 *
 * Built and run by benchmarks/run.py, against the library as it ships (CMake's
 * Embedded Swift build, bench-results/c-lib/lib):
 *   gcc -O2 -std=c11 -pthread -Iinclude benchmarks/c/bench.c \
 *       -L<lib> -ldupthreading -Wl,-rpath,<lib> -o bench_c
 * benchmarks/compare_libraries.sh runs it against two builds side by side.
 *   bench_c [--quick] [--rounds N] [--sample-ms MS] [--only NAME[,NAME...]]
 *
 * Output: one JSON object per line on stdout, e.g.
 *   {"suite":"c","bench":"value_get","contender":"dt","round":0,"value":12.3,"unit":"ns/op","n":1000000}
 * plus {"suite":"c","check":...} lines for correctness checks. Progress goes
 * to stderr. Contenders of a benchmark run interleaved: in each round every
 * contender takes one sample, and the order is reversed every other round
 * (A B, B A, A B, ...), so slow drift of a noisy machine hits all alike.
 * Benchmarks across threads, the noisiest, run twice as many rounds.
 *
 * Per-op figures come from tight loops of n operations timed with
 * clock_gettime(CLOCK_MONOTONIC); n is calibrated once per contender so that
 * a sample lasts about --sample-ms. Every loop folds its results and status
 * codes into an accumulator that is written to a volatile sink, so the
 * compiler cannot drop the work.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dup_threading.h"

/* ---- Harness ------------------------------------------------------------- */

static volatile uintptr_t sink;
static int opt_quick = 0;
static int opt_rounds = 15;
static double opt_sample_ms = 20.0;
static const char *opt_only = NULL;
static int check_failures = 0;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static void die(const char *what, int status) {
    fprintf(stderr, "bench_c: fatal: %s: status %d (%s)\n", what, status, dt_strerror(status));
    exit(2);
}

#define DT(call)                                    \
    do {                                            \
        int dt_rc_ = (call);                        \
        if (dt_rc_ != DT_OK) die(#call, dt_rc_);    \
    } while (0)

static void check(const char *name, int ok, const char *detail) {
    if (!ok) check_failures++;
    printf("{\"suite\":\"c\",\"check\":\"%s\",\"ok\":%s,\"detail\":\"%s\"}\n", name, ok ? "true" : "false",
           detail ? detail : "");
    fflush(stdout);
}

static int selected(const char *bench) {
    if (!opt_only) return 1;
    size_t len = strlen(bench);
    const char *p = opt_only;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        if (l == len && strncmp(p, bench, len) == 0) return 1;
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

static void emit(const char *bench, const char *contender, int round, double value, const char *unit, long n) {
    printf("{\"suite\":\"c\",\"bench\":\"%s\",\"contender\":\"%s\",\"round\":%d,\"value\":%.3f,\"unit\":\"%s\",\"n\":%ld}\n",
           bench, contender, round, value, unit, n);
    fflush(stdout);
}

/* A contender of a per-op benchmark: runs n operations and returns the
 * nanoseconds they took (setup excluded). */
typedef uint64_t (*run_fn)(long n);

typedef struct {
    const char *name;
    run_fn run;
    long n; /* calibrated */
} contender;

/* Doubles n until one sample takes at least a quarter of the target, then
 * scales it to the target. */
static long calibrate(run_fn run, long start, long max_n) {
    double target = opt_sample_ms * 1e6;
    long n = start;
    run(n); /* warm-up */
    for (;;) {
        uint64_t t = run(n);
        if ((double)t >= target / 4 || n >= max_n) {
            double scaled = (double)n * target / (double)(t ? t : 1);
            if (scaled < 1) scaled = 1;
            if (scaled > (double)max_n) scaled = (double)max_n;
            return (long)scaled;
        }
        n *= 2;
    }
}

/* Runs every contender `rounds` times, interleaved, emitting ns per op. */
static void run_interleaved_x(const char *bench, contender *cs, int count, long start, long max_n, int round_factor) {
    if (!selected(bench)) return;
    fprintf(stderr, "bench_c: %s\n", bench);
    for (int i = 0; i < count; i++) cs[i].n = calibrate(cs[i].run, start, max_n);
    for (int r = 0; r < opt_rounds * round_factor; r++) {
        for (int k = 0; k < count; k++) {
            int i = (r % 2 == 0) ? k : count - 1 - k;
            uint64_t t = cs[i].run(cs[i].n);
            emit(bench, cs[i].name, r, (double)t / (double)cs[i].n, "ns/op", cs[i].n);
        }
    }
}

static void run_interleaved(const char *bench, contender *cs, int count, long start, long max_n) {
    run_interleaved_x(bench, cs, count, start, max_n, 1);
}

/* ---- Shared state ------------------------------------------------------------ */

static pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
static void *pm_value; /* guarded by pm */
static dt_value *dv;

/* The transform of every transform benchmark: current + 1, through a pointer. */
__attribute__((noinline)) static int inc_fn(void *ctx, void *current, void **new_value) {
    (void)ctx;
    *new_value = (void *)((uintptr_t)current + 1);
    return 0;
}
/* Called through a volatile pointer so that the pthread baseline pays for an
 * indirect call, as dt_value_transform does. */
static int (*volatile inc_ptr)(void *, void *, void **) = inc_fn;

/* ---- value get / set ------------------------------------------------------------ */

static uint64_t value_get_dt(long n) {
    uintptr_t acc = 0;
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        void *p;
        st |= dt_value_get(dv, &p);
        acc += (uintptr_t)p;
    }
    uint64_t t = now_ns() - t0;
    if (st) die("dt_value_get", st);
    sink = acc;
    return t;
}

static uint64_t value_get_pthread(long n) {
    uintptr_t acc = 0;
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        st |= pthread_mutex_lock(&pm);
        void *p = pm_value;
        st |= pthread_mutex_unlock(&pm);
        acc += (uintptr_t)p;
    }
    uint64_t t = now_ns() - t0;
    if (st) die("pthread_mutex", st);
    sink = acc;
    return t;
}

static uint64_t value_set_dt(long n) {
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) st |= dt_value_set(dv, (void *)(uintptr_t)i);
    uint64_t t = now_ns() - t0;
    if (st) die("dt_value_set", st);
    return t;
}

static uint64_t value_set_pthread(long n) {
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        st |= pthread_mutex_lock(&pm);
        pm_value = (void *)(uintptr_t)i;
        st |= pthread_mutex_unlock(&pm);
    }
    uint64_t t = now_ns() - t0;
    if (st) die("pthread_mutex", st);
    return t;
}

/* ---- the Python binding's paths, for diagnosis ---------------------------------- */

/* No-op reference-counting hooks, as the Python binding installs real ones. */
static long hook_count;
__attribute__((noinline)) static void hook_retain(void *ctx, void *ref) {
    (void)ref;
    ++*(long *)ctx;
}
__attribute__((noinline)) static void hook_release(void *ctx, void *ref) {
    (void)ref;
    --*(long *)ctx;
}
static void (*volatile retain_ptr)(void *, void *) = hook_retain;
static void (*volatile release_ptr)(void *, void *) = hook_release;
static dt_value *dv_hooked;
static pthread_mutex_t prm_value; /* recursive, for the nested baseline */

/* dt_value_get with hooks: a new reference, released by the caller. */
static uint64_t value_get_hooked_dt(long n) {
    uintptr_t acc = 0;
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        void *p;
        st |= dt_value_get(dv_hooked, &p);
        release_ptr(&hook_count, p);
        acc += (uintptr_t)p;
    }
    uint64_t t = now_ns() - t0;
    if (st) die("dt_value_get (hooks)", st);
    sink = acc;
    return t;
}

static uint64_t value_get_hooked_pthread(long n) {
    uintptr_t acc = 0;
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        st |= pthread_mutex_lock(&pm);
        void *p = pm_value;
        retain_ptr(&hook_count, p);
        st |= pthread_mutex_unlock(&pm);
        release_ptr(&hook_count, p);
        acc += (uintptr_t)p;
    }
    uint64_t t = now_ns() - t0;
    if (st) die("pthread get (hooks)", st);
    sink = acc;
    return t;
}

/* What the Python binding's Value.get does in the library: try-acquire the
 * Value, get (nested, with hooks), release. */
static uint64_t python_get_path_dt(long n) {
    uintptr_t acc = 0;
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        void *p;
        st |= dt_value_try_acquire(dv_hooked);
        st |= dt_value_get(dv_hooked, &p);
        st |= dt_value_release(dv_hooked);
        release_ptr(&hook_count, p);
        acc += (uintptr_t)p;
    }
    uint64_t t = now_ns() - t0;
    if (st) die("python get path", st);
    sink = acc;
    return t;
}

/* The same by hand: trylock a recursive mutex, lock it again, load, retain,
 * unlock twice. */
static uint64_t python_get_path_pthread(long n) {
    uintptr_t acc = 0;
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        st |= pthread_mutex_trylock(&prm_value);
        st |= pthread_mutex_lock(&prm_value);
        void *p = pm_value;
        retain_ptr(&hook_count, p);
        st |= pthread_mutex_unlock(&prm_value);
        st |= pthread_mutex_unlock(&prm_value);
        release_ptr(&hook_count, p);
        acc += (uintptr_t)p;
    }
    uint64_t t = now_ns() - t0;
    if (st) die("pthread python get path", st);
    sink = acc;
    return t;
}

/* What the Python binding's Value.set and the library part of its
 * Value.transform do: try-acquire, get the old value (nested), set the new
 * one (nested), release; with hooks. */
static uint64_t python_set_path_dt(long n) {
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        void *old;
        st |= dt_value_try_acquire(dv_hooked);
        st |= dt_value_get(dv_hooked, &old);
        st |= dt_value_set(dv_hooked, (void *)(uintptr_t)(i | 1));
        st |= dt_value_release(dv_hooked);
        release_ptr(&hook_count, old);
    }
    uint64_t t = now_ns() - t0;
    if (st) die("python set path", st);
    return t;
}

static uint64_t python_set_path_pthread(long n) {
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        st |= pthread_mutex_trylock(&prm_value);
        st |= pthread_mutex_lock(&prm_value);
        void *old = pm_value;
        retain_ptr(&hook_count, old);
        st |= pthread_mutex_unlock(&prm_value);
        st |= pthread_mutex_lock(&prm_value);
        void *nv = (void *)(uintptr_t)(i | 1);
        retain_ptr(&hook_count, nv);
        void *replaced = pm_value;
        pm_value = nv;
        st |= pthread_mutex_unlock(&prm_value);
        release_ptr(&hook_count, replaced);
        st |= pthread_mutex_unlock(&prm_value);
        release_ptr(&hook_count, old);
    }
    uint64_t t = now_ns() - t0;
    if (st) die("pthread python set path", st);
    return t;
}

/* The cost of one call into the library: dt_version(). */
static uint64_t abi_call_dt(long n) {
    uintptr_t acc = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) acc += (uintptr_t)dt_version();
    uint64_t t = now_ns() - t0;
    sink = acc;
    return t;
}

/* ---- transform ---------------------------------------------------------------- */

static uint64_t transform_dt(long n) {
    uintptr_t acc = 0;
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        void *r;
        st |= dt_value_transform(dv, inc_fn, NULL, &r);
        acc += (uintptr_t)r;
    }
    uint64_t t = now_ns() - t0;
    if (st) die("dt_value_transform", st);
    sink = acc;
    return t;
}

/* The same job by hand: lock, call the callback, store on success, unlock. */
static int pthread_transform(pthread_mutex_t *m, void **slot, void **result) {
    int st = pthread_mutex_lock(m);
    void *nv;
    int rc = inc_ptr(NULL, *slot, &nv);
    if (rc == 0) {
        *slot = nv;
        *result = nv;
    }
    st |= pthread_mutex_unlock(m);
    return st | rc;
}

static uint64_t transform_pthread(long n) {
    uintptr_t acc = 0;
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        void *r;
        st |= pthread_transform(&pm, &pm_value, &r);
        acc += (uintptr_t)r;
    }
    uint64_t t = now_ns() - t0;
    if (st) die("pthread transform", st);
    sink = acc;
    return t;
}

/* ---- lock / rlock / with_lock (informational) -------------------------------- */

static dt_lock *dl;
static dt_rlock *drl;
static pthread_mutex_t prm; /* recursive */

static uint64_t lock_dt(long n) {
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        st |= dt_lock_acquire(dl);
        st |= dt_lock_release(dl);
    }
    uint64_t t = now_ns() - t0;
    if (st) die("dt_lock", st);
    return t;
}

static uint64_t lock_pthread(long n) {
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        st |= pthread_mutex_lock(&pm);
        st |= pthread_mutex_unlock(&pm);
    }
    uint64_t t = now_ns() - t0;
    if (st) die("pthread_mutex", st);
    return t;
}

static uint64_t rlock_dt(long n) {
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        st |= dt_rlock_acquire(drl);
        st |= dt_rlock_release(drl);
    }
    uint64_t t = now_ns() - t0;
    if (st) die("dt_rlock", st);
    return t;
}

static uint64_t rlock_pthread(long n) {
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        st |= pthread_mutex_lock(&prm);
        st |= pthread_mutex_unlock(&prm);
    }
    uint64_t t = now_ns() - t0;
    if (st) die("pthread_mutex recursive", st);
    return t;
}

static long body_counter;
__attribute__((noinline)) static int body_fn(void *ctx) {
    (*(long *)ctx)++;
    return 0;
}
static int (*volatile body_ptr)(void *) = body_fn;

static uint64_t with_lock_dt(long n) {
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) st |= dt_with_lock(dl, body_fn, &body_counter);
    uint64_t t = now_ns() - t0;
    if (st) die("dt_with_lock", st);
    return t;
}

static uint64_t with_lock_pthread(long n) {
    int st = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        st |= pthread_mutex_lock(&pm);
        st |= body_ptr(&body_counter);
        st |= pthread_mutex_unlock(&pm);
    }
    uint64_t t = now_ns() - t0;
    if (st) die("pthread with_lock", st);
    return t;
}

/* ---- thread placement (for the cross-thread benchmarks) --------------------- */

/* 0: wherever the scheduler puts them; 1: main and partner on one CPU;
 * 2: main and partner on two different CPUs. */
static int pin_mode = 0;
static cpu_set_t original_affinity;
static int cpu_a = -1, cpu_b = -1; /* the first two CPUs we may run on */

static void find_cpus(void) {
    pthread_getaffinity_np(pthread_self(), sizeof original_affinity, &original_affinity);
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (!CPU_ISSET(c, &original_affinity)) continue;
        if (cpu_a < 0) cpu_a = c;
        else if (cpu_b < 0) cpu_b = c;
    }
}

/* The CPU of a benchmark's thread 0 or 1 under pin_mode (1 or 2). */
static int cpu_of(int thread) { return pin_mode == 1 || thread == 0 ? cpu_a : cpu_b; }

/* Creates a thread placed as pin_mode says for the benchmark's thread 0 or 1. */
static void create_placed(pthread_t *th, int thread, void *(*fn)(void *), void *arg) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (pin_mode != 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu_of(thread), &set);
        pthread_attr_setaffinity_np(&attr, sizeof set, &set);
    }
    pthread_create(th, &attr, fn, arg);
    pthread_attr_destroy(&attr);
}

/* Starts the partner thread of a latency benchmark, placing it (thread 1)
 * and the calling main thread (thread 0) as pin_mode says. Undo with unpin_main(). */
static void spawn_partner(pthread_t *th, void *(*fn)(void *), void *arg) {
    if (pin_mode != 0) {
        cpu_set_t main_set;
        CPU_ZERO(&main_set);
        CPU_SET(cpu_of(0), &main_set);
        pthread_setaffinity_np(pthread_self(), sizeof main_set, &main_set);
    }
    create_placed(th, 1, fn, arg);
}

static void unpin_main(void) {
    if (pin_mode != 0) pthread_setaffinity_np(pthread_self(), sizeof original_affinity, &original_affinity);
}

/* ---- 2 threads contending ----------------------------------------------------- */

enum { C_PTHREAD_TRANSFORM, C_DT_TRANSFORM, C_PTHREAD_LOCK, C_DT_LOCK };

typedef struct {
    int mode;
    long n;
    pthread_barrier_t *start;
    uint64_t t_start, t_end; /* taken by the thread itself */
} contend_arg;

static long locked_counter; /* guarded by dl or pm, in the lock modes */

static void *contend_thread(void *p) {
    contend_arg *a = p;
    int st = 0;
    uintptr_t acc = 0;
    pthread_barrier_wait(a->start);
    a->t_start = now_ns();
    switch (a->mode) {
    case C_DT_TRANSFORM:
        for (long i = 0; i < a->n; i++) {
            void *r;
            st |= dt_value_transform(dv, inc_fn, NULL, &r);
            acc += (uintptr_t)r;
        }
        break;
    case C_PTHREAD_TRANSFORM:
        for (long i = 0; i < a->n; i++) {
            void *r;
            st |= pthread_transform(&pm, &pm_value, &r);
            acc += (uintptr_t)r;
        }
        break;
    case C_DT_LOCK:
        for (long i = 0; i < a->n; i++) {
            st |= dt_lock_acquire(dl);
            locked_counter++;
            st |= dt_lock_release(dl);
        }
        break;
    case C_PTHREAD_LOCK:
        for (long i = 0; i < a->n; i++) {
            st |= pthread_mutex_lock(&pm);
            locked_counter++;
            st |= pthread_mutex_unlock(&pm);
        }
        break;
    }
    a->t_end = now_ns();
    if (st) die("contended benchmark", st);
    sink = acc;
    return NULL;
}

/* n = total operations, split over 2 threads; returns the wall-clock ns from
 * the first thread's start to the last one's end, as the threads see them:
 * the main thread only waits, so that it is not a third thread competing for
 * 2 CPUs at the moment it would read the clock. */
static uint64_t contend(int mode, long n) {
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    pthread_t th[2];
    contend_arg args[2];
    uintptr_t before, after;
    void *p;
    switch (mode) {
    case C_DT_TRANSFORM: DT(dt_value_get(dv, &p)); before = (uintptr_t)p; break;
    case C_PTHREAD_TRANSFORM: before = (uintptr_t)pm_value; break;
    default: before = (uintptr_t)locked_counter; break;
    }
    for (int i = 0; i < 2; i++) {
        args[i] = (contend_arg){mode, n / 2, &start, 0, 0};
        create_placed(&th[i], i, contend_thread, &args[i]);
    }
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    uint64_t t0 = args[0].t_start < args[1].t_start ? args[0].t_start : args[1].t_start;
    uint64_t t1 = args[0].t_end > args[1].t_end ? args[0].t_end : args[1].t_end;
    uint64_t t = t1 - t0;
    pthread_barrier_destroy(&start);
    switch (mode) {
    case C_DT_TRANSFORM: DT(dt_value_get(dv, &p)); after = (uintptr_t)p; break;
    case C_PTHREAD_TRANSFORM: after = (uintptr_t)pm_value; break;
    default: after = (uintptr_t)locked_counter; break;
    }
    if (after - before != (uintptr_t)(2 * (n / 2))) check("contended_count", 0, "lost updates under contention");
    return t;
}

static uint64_t contend_dt(long n) { return contend(C_DT_TRANSFORM, n); }
static uint64_t contend_pthread(long n) { return contend(C_PTHREAD_TRANSFORM, n); }
static uint64_t contend_lock_dt(long n) { return contend(C_DT_LOCK, n); }
static uint64_t contend_lock_pthread(long n) { return contend(C_PTHREAD_LOCK, n); }

/* ---- condition notify-to-wake: ping-pong ------------------------------------- */

static dt_lock *pp_dlock;
static dt_cond *pp_dcond;
static pthread_cond_t pp_pcond = PTHREAD_COND_INITIALIZER;
static int pp_turn; /* guarded by the lock of the contender being run */
static long pp_n;

static void *pingpong_dt_partner(void *arg) {
    (void)arg;
    DT(dt_cond_acquire(pp_dcond));
    for (long i = 0; i < pp_n; i++) {
        while (pp_turn != 1) DT(dt_cond_wait(pp_dcond, DT_WAIT_FOREVER, NULL, NULL));
        pp_turn = 0;
        DT(dt_cond_notify(pp_dcond, 1));
    }
    DT(dt_cond_release(pp_dcond));
    return NULL;
}

static void *pingpong_pthread_partner(void *arg) {
    (void)arg;
    pthread_mutex_lock(&pm);
    for (long i = 0; i < pp_n; i++) {
        while (pp_turn != 1) pthread_cond_wait(&pp_pcond, &pm);
        pp_turn = 0;
        pthread_cond_signal(&pp_pcond);
    }
    pthread_mutex_unlock(&pm);
    return NULL;
}

/* n round trips (two notify-to-wake hand-offs each); returns ns. */
static uint64_t pingpong_dt(long n) {
    pthread_t th;
    pp_n = n;
    pp_turn = 0;
    spawn_partner(&th, pingpong_dt_partner, NULL);
    DT(dt_cond_acquire(pp_dcond));
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pp_turn = 1;
        DT(dt_cond_notify(pp_dcond, 1));
        while (pp_turn != 0) DT(dt_cond_wait(pp_dcond, DT_WAIT_FOREVER, NULL, NULL));
    }
    uint64_t t = now_ns() - t0;
    DT(dt_cond_release(pp_dcond));
    pthread_join(th, NULL);
    unpin_main();
    return t;
}

static uint64_t pingpong_pthread(long n) {
    pthread_t th;
    pp_n = n;
    pp_turn = 0;
    spawn_partner(&th, pingpong_pthread_partner, NULL);
    pthread_mutex_lock(&pm);
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pp_turn = 1;
        pthread_cond_signal(&pp_pcond);
        while (pp_turn != 0) pthread_cond_wait(&pp_pcond, &pm);
    }
    uint64_t t = now_ns() - t0;
    pthread_mutex_unlock(&pm);
    pthread_join(th, NULL);
    unpin_main();
    return t;
}

/* ---- async_split hand-off to a running worker thread -------------------------- */

/* The job: returns its context as its result. */
static int job_fn(void *ctx, void **result, dt_error *error) {
    (void)error;
    *result = ctx;
    return 0;
}

/* Mailbox of the worker, dt flavour: a dt_cond with its own lock. */
static dt_cond *mb_dcond;
/* Mailbox and completion, pthread flavour. */
static pthread_mutex_t mb_pm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mb_pc = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t done_pm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_pc = PTHREAD_COND_INITIALIZER;

static void *mb_job;  /* guarded by the mailbox lock; NULL: empty */
static int mb_stop;   /* guarded by the mailbox lock */
static void *done_result;
static int done_flag; /* guarded by done_pm */
static int (*volatile job_ptr)(void *, void **, dt_error *) = job_fn;

static int mb_has_job(void *ctx) {
    (void)ctx;
    return mb_job != NULL || mb_stop;
}

/* Worker for "dt": takes a dt_caller from a dt_cond mailbox and runs it. */
static void *handoff_dt_worker(void *arg) {
    (void)arg;
    for (;;) {
        DT(dt_cond_acquire(mb_dcond));
        DT(dt_interruptible_wait(mb_dcond, mb_has_job, NULL, NULL, NULL, DT_WAIT_FOREVER));
        dt_caller *caller = mb_job;
        int stop = mb_stop;
        mb_job = NULL;
        DT(dt_cond_release(mb_dcond));
        if (stop && !caller) return NULL;
        DT(dt_caller_run(caller, NULL));
        DT(dt_caller_free(caller));
    }
}

/* Worker for the pthread baselines: takes a job from a pthread mailbox. If
 * the job is a dt_caller (arg != NULL), runs it; otherwise runs job_fn and
 * reports completion through done_pm/done_pc. */
static void *handoff_pthread_worker(void *arg) {
    int run_dt_caller = arg != NULL;
    for (;;) {
        pthread_mutex_lock(&mb_pm);
        while (mb_job == NULL && !mb_stop) pthread_cond_wait(&mb_pc, &mb_pm);
        void *job = mb_job;
        int stop = mb_stop;
        mb_job = NULL;
        pthread_mutex_unlock(&mb_pm);
        if (stop && !job) return NULL;
        if (run_dt_caller) {
            DT(dt_caller_run((dt_caller *)job, NULL));
            DT(dt_caller_free((dt_caller *)job));
        } else {
            void *r;
            job_ptr(job, &r, NULL);
            pthread_mutex_lock(&done_pm);
            done_result = r;
            done_flag = 1;
            pthread_cond_signal(&done_pc);
            pthread_mutex_unlock(&done_pm);
        }
    }
}

static void mailbox_post_pthread(void *job) {
    pthread_mutex_lock(&mb_pm);
    mb_job = job;
    pthread_cond_signal(&mb_pc);
    pthread_mutex_unlock(&mb_pm);
}

static void mailbox_stop_pthread(pthread_t th) {
    pthread_mutex_lock(&mb_pm);
    mb_stop = 1;
    pthread_cond_signal(&mb_pc);
    pthread_mutex_unlock(&mb_pm);
    pthread_join(th, NULL);
    mb_stop = 0;
}

/* dt all the way: dt_async_split, dt_cond mailbox, dt_waiter_wait. */
static uint64_t handoff_dt(long n) {
    pthread_t th;
    uintptr_t acc = 0;
    spawn_partner(&th, handoff_dt_worker, NULL);
    sleep_ns(1000000); /* let the worker block */
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        dt_waiter *w;
        dt_caller *c;
        void *r;
        DT(dt_async_split(job_fn, (void *)(uintptr_t)(i + 1), NULL, &w, &c));
        DT(dt_cond_acquire(mb_dcond));
        mb_job = c;
        DT(dt_cond_notify(mb_dcond, 1));
        DT(dt_cond_release(mb_dcond));
        DT(dt_waiter_wait(w, DT_WAIT_FOREVER, NULL, NULL, &r, NULL));
        DT(dt_waiter_free(w));
        acc += (uintptr_t)r;
    }
    uint64_t t = now_ns() - t0;
    DT(dt_cond_acquire(mb_dcond));
    mb_stop = 1;
    DT(dt_cond_notify(mb_dcond, 1));
    DT(dt_cond_release(mb_dcond));
    pthread_join(th, NULL);
    unpin_main();
    mb_stop = 0;
    if (acc != (uintptr_t)n * (uintptr_t)(n + 1) / 2) check("handoff_dt_results", 0, "wrong results");
    sink = acc;
    return t;
}

/* Hand-written: pthread mailbox, pthread completion flag. */
static uint64_t handoff_pthread(long n) {
    pthread_t th;
    uintptr_t acc = 0;
    spawn_partner(&th, handoff_pthread_worker, NULL);
    sleep_ns(1000000);
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        mailbox_post_pthread((void *)(uintptr_t)(i + 1));
        pthread_mutex_lock(&done_pm);
        while (!done_flag) pthread_cond_wait(&done_pc, &done_pm);
        done_flag = 0;
        void *r = done_result;
        pthread_mutex_unlock(&done_pm);
        acc += (uintptr_t)r;
    }
    uint64_t t = now_ns() - t0;
    mailbox_stop_pthread(th);
    unpin_main();
    if (acc != (uintptr_t)n * (uintptr_t)(n + 1) / 2) check("handoff_pthread_results", 0, "wrong results");
    sink = acc;
    return t;
}

/* Mixed (diagnostic): pthread mailbox, dt_async_split for the completion. */
static uint64_t handoff_split_only(long n) {
    pthread_t th;
    uintptr_t acc = 0;
    spawn_partner(&th, handoff_pthread_worker, (void *)1);
    sleep_ns(1000000);
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        dt_waiter *w;
        dt_caller *c;
        void *r;
        DT(dt_async_split(job_fn, (void *)(uintptr_t)(i + 1), NULL, &w, &c));
        mailbox_post_pthread(c);
        DT(dt_waiter_wait(w, DT_WAIT_FOREVER, NULL, NULL, &r, NULL));
        DT(dt_waiter_free(w));
        acc += (uintptr_t)r;
    }
    uint64_t t = now_ns() - t0;
    mailbox_stop_pthread(th);
    unpin_main();
    if (acc != (uintptr_t)n * (uintptr_t)(n + 1) / 2) check("handoff_split_results", 0, "wrong results");
    sink = acc;
    return t;
}

/* async_split round trip on one thread (informational): split, run, wait, free. */
static uint64_t split_same_thread_dt(long n) {
    uintptr_t acc = 0;
    uint64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        dt_waiter *w;
        dt_caller *c;
        void *r;
        DT(dt_async_split(job_fn, (void *)(uintptr_t)i, NULL, &w, &c));
        DT(dt_caller_run(c, NULL));
        DT(dt_waiter_wait(w, DT_WAIT_FOREVER, NULL, NULL, &r, NULL));
        DT(dt_caller_free(c));
        DT(dt_waiter_free(w));
        acc += (uintptr_t)r;
    }
    uint64_t t = now_ns() - t0;
    sink = acc;
    return t;
}

/* ---- an idle interruptible wait: voluntary context switches ------------------- */

static int never_fn(void *ctx) {
    (void)ctx;
    return 0;
}
static atomic_long interrupt_calls;
static int counting_interrupt(void *ctx) {
    (void)ctx;
    atomic_fetch_add(&interrupt_calls, 1);
    return 0;
}

typedef struct {
    double seconds;
    long nvcsw, nivcsw, hook_calls;
    int status;
    double elapsed;
} idle_result;

static void *idle_waiter(void *p) {
    idle_result *res = p;
    dt_cond *c;
    struct rusage before, after;
    DT(dt_cond_new(NULL, &c));
    DT(dt_cond_acquire(c));
    atomic_store(&interrupt_calls, 0);
    getrusage(RUSAGE_THREAD, &before);
    uint64_t t0 = now_ns();
    res->status = dt_interruptible_wait(c, never_fn, NULL, counting_interrupt, NULL, res->seconds);
    uint64_t t1 = now_ns();
    getrusage(RUSAGE_THREAD, &after);
    DT(dt_cond_release(c));
    DT(dt_cond_free(c));
    res->nvcsw = after.ru_nvcsw - before.ru_nvcsw;
    res->nivcsw = after.ru_nivcsw - before.ru_nivcsw;
    res->hook_calls = atomic_load(&interrupt_calls);
    res->elapsed = (double)(t1 - t0) / 1e9;
    return NULL;
}

static void bench_idle_wait(void) {
    if (!selected("idle_wait_csw")) return;
    double seconds = opt_quick ? 1.0 : 2.0;
    int rounds = opt_quick ? 1 : 3;
    fprintf(stderr, "bench_c: idle_wait_csw (%d x %.0f s)\n", rounds, seconds);
    for (int r = 0; r < rounds; r++) {
        idle_result res = {seconds, 0, 0, 0, 0, 0};
        pthread_t th;
        pthread_create(&th, NULL, idle_waiter, &res);
        pthread_join(th, NULL);
        if (res.status != DT_ETIMEDOUT) check("idle_wait_timed_out", 0, dt_strerror(res.status));
        printf("{\"suite\":\"c\",\"bench\":\"idle_wait_csw\",\"contender\":\"dt_interruptible_wait\",\"round\":%d,"
               "\"value\":%.3f,\"unit\":\"csw/s\",\"nvcsw\":%ld,\"nivcsw\":%ld,\"hook_calls\":%ld,"
               "\"seconds\":%.3f}\n",
               r, (double)res.nvcsw / res.elapsed, res.nvcsw, res.nivcsw, res.hook_calls, res.elapsed);
        fflush(stdout);
    }
}

/* ---- signal to interrupted: latency ------------------------------------------- */

/* Per thread: each waiter sees only the signals sent to it. */
static __thread volatile sig_atomic_t got_signal;
static void on_signal(int sig) {
    (void)sig;
    got_signal = 1;
}
static int signal_interrupt(void *ctx) {
    (void)ctx;
    return got_signal != 0;
}

typedef struct {
    int kind;            /* 0: dt_cond_wait; 1: sigsuspend (floor) */
    dt_cond *cond;
    atomic_int ready;    /* trial number the waiter is about to wait in */
    atomic_int finished; /* trial number the waiter finished */
    atomic_int tid;
    uint64_t t_return;
    int status;
    int trials;
} sig_waiter;

static void *signal_waiter(void *p) {
    sig_waiter *w = p;
    atomic_store(&w->tid, (int)syscall(SYS_gettid));
    if (w->kind == 1) {
        /* The floor: block the signals, then wait for one atomically. */
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGUSR1);
        sigaddset(&block, SIGUSR2);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        for (int t = 1; t <= w->trials; t++) {
            got_signal = 0;
            atomic_store(&w->ready, t);
            while (!got_signal) sigsuspend(&old);
            w->t_return = now_ns();
            w->status = DT_EINTERRUPTED;
            atomic_store(&w->finished, t);
        }
        return NULL;
    }
    for (int t = 1; t <= w->trials; t++) {
        DT(dt_cond_acquire(w->cond));
        got_signal = 0;
        atomic_store(&w->ready, t);
        int st = dt_cond_wait(w->cond, DT_WAIT_FOREVER, signal_interrupt, NULL);
        w->t_return = now_ns();
        w->status = st;
        DT(dt_cond_release(w->cond));
        atomic_store(&w->finished, t);
    }
    return NULL;
}

/* Whether the thread is asleep in the kernel ('S' in /proc/self/task/TID/stat). */
static int thread_sleeping(int tid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f) return 1; /* cannot tell: assume so */
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] == 'S';
}

static void bench_signal_latency(void) {
    if (!selected("signal_latency")) return;
    int trials = opt_quick ? 30 : 200;
    fprintf(stderr, "bench_c: signal_latency (%d trials per contender)\n", trials);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* as CPython installs its handlers: no SA_RESTART */
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &sa, NULL);

    struct {
        const char *name;
        int kind, sig;
    } cs[] = {
        {"dt_cond_wait", 0, SIGUSR1},
        {"dt_cond_wait_sa_restart", 0, SIGUSR2},
        {"sigsuspend_floor", 1, SIGUSR1},
    };
    enum { NC = 3 };
    sig_waiter ws[NC];
    pthread_t th[NC];
    for (int i = 0; i < NC; i++) {
        memset(&ws[i], 0, sizeof ws[i]);
        ws[i].kind = cs[i].kind;
        ws[i].trials = trials;
        if (cs[i].kind == 0) DT(dt_cond_new(NULL, &ws[i].cond));
        pthread_create(&th[i], NULL, signal_waiter, &ws[i]);
    }
    int bad = 0, slow_waits = 0;
    for (int t = 1; t <= trials; t++) {
        for (int k = 0; k < NC; k++) {
            int i = (t % 2 == 0) ? k : NC - 1 - k;
            sig_waiter *w = &ws[i];
            while (atomic_load(&w->ready) != t) sleep_ns(20000);
            if (w->kind == 0) {
                /* The waiter released the lock only inside dt_cond_wait. */
                DT(dt_cond_acquire(w->cond));
                DT(dt_cond_release(w->cond));
            }
            /* Then wait until it is asleep in the kernel, so that the signal
             * lands during the wait, not before it. */
            uint64_t limit = now_ns() + 200000000u;
            while (!thread_sleeping(atomic_load(&w->tid)) && now_ns() < limit) sleep_ns(20000);
            if (now_ns() >= limit) slow_waits++;
            sleep_ns(200000);
            uint64_t t0 = now_ns();
            pthread_kill(th[i], cs[i].sig);
            while (atomic_load(&w->finished) != t) sleep_ns(5000);
            if (w->status != DT_EINTERRUPTED) bad++;
            emit("signal_latency", cs[i].name, t - 1, (double)(w->t_return - t0), "ns", 1);
        }
    }
    for (int i = 0; i < NC; i++) {
        pthread_join(th[i], NULL);
        if (ws[i].cond) DT(dt_cond_free(ws[i].cond));
    }
    char detail[96];
    snprintf(detail, sizeof detail, "%d of %d waits did not end with DT_EINTERRUPTED", bad, trials * NC);
    check("signal_interrupts_wait", bad == 0, detail);
    if (slow_waits) fprintf(stderr, "bench_c: %d waiters were not seen asleep within 200 ms\n", slow_waits);
}

static void *noop_thread(void *arg) { return arg; }

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            opt_quick = 1;
            opt_rounds = 3;
            opt_sample_ms = 4.0;
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            opt_rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--sample-ms") == 0 && i + 1 < argc) {
            opt_sample_ms = atof(argv[++i]);
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            opt_only = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--quick] [--rounds N] [--sample-ms MS] [--only NAME,...]\n", argv[0]);
            return 2;
        }
    }
    printf("{\"suite\":\"c\",\"meta\":{\"library_version\":\"%s\",\"rounds\":%d,\"sample_ms\":%.1f,\"quick\":%s}}\n",
           dt_version_string(), opt_rounds, opt_sample_ms, opt_quick ? "true" : "false");

    /* glibc takes cheaper, non-atomic paths while a process has never had a
     * second thread (__libc_single_threaded). A program that uses this
     * library is multi-threaded, so make this one so before measuring. */
    {
        pthread_t th;
        pthread_create(&th, NULL, noop_thread, NULL);
        pthread_join(th, NULL);
    }
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&prm, &attr);
    find_cpus();
    DT(dt_value_new((void *)42, NULL, &dv));
    {
        static const dt_value_hooks hooks = {hook_retain, hook_release, &hook_count};
        DT(dt_value_new((void *)42, &hooks, &dv_hooked));
        pthread_mutex_init(&prm_value, &attr);
    }
    DT(dt_lock_new(&dl));
    DT(dt_rlock_new(&drl));
    DT(dt_lock_new(&pp_dlock));
    DT(dt_cond_new(pp_dlock, &pp_dcond));
    DT(dt_cond_new(NULL, &mb_dcond));

    /* Sanity: the dt transform really adds one. */
    {
        void *before, *after, *r;
        DT(dt_value_get(dv, &before));
        DT(dt_value_transform(dv, inc_fn, NULL, &r));
        DT(dt_value_get(dv, &after));
        check("transform_adds_one", (uintptr_t)after == (uintptr_t)before + 1 && r == after, "");
    }

    long big = 1L << 30;
    contender get[] = {{"dt", value_get_dt, 0}, {"pthread_mutex", value_get_pthread, 0}};
    run_interleaved("value_get", get, 2, 1000, big);
    contender set[] = {{"dt", value_set_dt, 0}, {"pthread_mutex", value_set_pthread, 0}};
    run_interleaved("value_set", set, 2, 1000, big);
    contender tr[] = {{"dt", transform_dt, 0}, {"pthread_mutex", transform_pthread, 0}};
    run_interleaved("transform", tr, 2, 1000, big);
    /* Two threads on one Value: unpinned (the scheduler may put both on one
     * CPU, where they take turns by time slice), then one thread per CPU
     * (true contention), then both on one CPU. */
    static const char *placement[] = {"", "_same_cpu", "_two_cpus"};
    for (pin_mode = 0; pin_mode < 3; pin_mode++) {
        char name[64];
        if (pin_mode == 2 && cpu_b < 0) break;
        contender ct[] = {{"dt", contend_dt, 0}, {"pthread_mutex", contend_pthread, 0}};
        snprintf(name, sizeof name, "contended_transform_2t%s", placement[pin_mode]);
        run_interleaved_x(name, ct, 2, 1000, big, 2);
        contender cl[] = {{"dt_lock", contend_lock_dt, 0}, {"pthread_mutex", contend_lock_pthread, 0}};
        snprintf(name, sizeof name, "contended_lock_2t%s", placement[pin_mode]);
        run_interleaved_x(name, cl, 2, 1000, big, 2);
    }
    pin_mode = 0;
    contender gh[] = {{"dt_hooks", value_get_hooked_dt, 0}, {"pthread_mutex", value_get_hooked_pthread, 0}};
    run_interleaved("value_get_hooked", gh, 2, 1000, big);
    contender pg[] = {{"dt_try_acquire+get+release", python_get_path_dt, 0},
                      {"pthread_recursive_trylock+lock+load+unlock+unlock", python_get_path_pthread, 0}};
    run_interleaved("python_get_path", pg, 2, 1000, big);
    contender ps[] = {{"dt_try_acquire+get+set+release", python_set_path_dt, 0},
                      {"pthread_recursive_equivalent", python_set_path_pthread, 0}};
    run_interleaved("python_set_path", ps, 2, 1000, big);
    contender ab[] = {{"dt_version", abi_call_dt, 0}};
    run_interleaved("abi_call", ab, 1, 1000, big);
    contender lk[] = {{"dt_lock", lock_dt, 0}, {"pthread_mutex", lock_pthread, 0}};
    run_interleaved("lock_acquire_release", lk, 2, 1000, big);
    contender rl[] = {{"dt_rlock", rlock_dt, 0}, {"pthread_mutex_recursive", rlock_pthread, 0}};
    run_interleaved("rlock_acquire_release", rl, 2, 1000, big);
    contender wl[] = {{"dt_with_lock", with_lock_dt, 0}, {"pthread_mutex", with_lock_pthread, 0}};
    run_interleaved("with_lock", wl, 2, 1000, big);
    /* Cross-thread latency: unpinned (what a program gets), then pinned to
     * one CPU (the software path alone: context switches, no idle-CPU
     * wake-up) and to two CPUs (a wake-up of another, idle CPU). */
    for (pin_mode = 0; pin_mode < 3; pin_mode++) {
        char name[64];
        if (pin_mode == 2 && cpu_b < 0) break;
        contender pp[] = {{"dt_cond", pingpong_dt, 0}, {"pthread_cond", pingpong_pthread, 0}};
        snprintf(name, sizeof name, "cond_pingpong%s", placement[pin_mode]);
        run_interleaved_x(name, pp, 2, 100, big, 2);
        contender ho[] = {{"dt", handoff_dt, 0},
                          {"pthread_cond", handoff_pthread, 0},
                          {"dt_split+pthread_mailbox", handoff_split_only, 0}};
        snprintf(name, sizeof name, "async_split_handoff%s", placement[pin_mode]);
        run_interleaved_x(name, ho, 3, 100, big, 2);
    }
    pin_mode = 0;
    contender ss[] = {{"dt", split_same_thread_dt, 0}};
    run_interleaved("async_split_same_thread", ss, 1, 1000, big);
    bench_idle_wait();
    bench_signal_latency();

    DT(dt_cond_free(mb_dcond));
    DT(dt_cond_free(pp_dcond));
    DT(dt_lock_free(pp_dlock));
    DT(dt_rlock_free(drl));
    DT(dt_lock_free(dl));
    DT(dt_value_free(dv));
    DT(dt_value_free(dv_hooked));
    if (hook_count != 0) check("hooks_balanced", 0, "retain/release hooks unbalanced");
    printf("{\"suite\":\"c\",\"done\":true,\"check_failures\":%d}\n", check_failures);
    return 0;
}
