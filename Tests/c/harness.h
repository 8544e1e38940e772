/*
 * harness.h: a tiny test harness shared by the C tests (header only).
 *
 * Include it first in every test file. It gives CHECK / CHECK_EQ / CHECK_ST
 * (print file:line and count a failure, never abort), a monotonic clock,
 * sleeps, deadlines, a thread helper whose join has a deadline, an interrupt
 * callback that can hold a waiting thread at a known point (th_cb_gate), and
 * th_begin/th_end that print "<name>: N passed, M failed" and pick the exit
 * status.
 *
 * Under valgrind (DT_TEST_UNDER_VALGRIND=1) time bounds are scaled by
 * th_slow and stress loops shrink (th_stress_div); the checks stay the same.
 */
#ifndef DT_TEST_HARNESS_H
#define DT_TEST_HARNESS_H

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dup_threading.h"

static const char *th_name = "test";
static int th_passed, th_failed;
static int th_slow = 1;       /* multiply time bounds by this */
static int th_stress_div = 1; /* divide stress iteration counts by this */
static pthread_mutex_t th_count_mu = PTHREAD_MUTEX_INITIALIZER;

/* Counts one check; prints where it failed. Thread-safe. */
static inline int th_check(int ok, const char *file, int line, const char *what) {
    pthread_mutex_lock(&th_count_mu);
    if (ok) {
        th_passed++;
    } else {
        th_failed++;
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, what);
        fflush(stderr);
    }
    pthread_mutex_unlock(&th_count_mu);
    return ok;
}

static inline int th_check_eq(long long a, long long b, const char *file, int line,
                              const char *ea, const char *eb) {
    if (a != b) fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", file, line, ea, a, eb, b);
    return th_check(a == b, file, line, "CHECK_EQ");
}

static inline int th_check_st(int got, int want, const char *file, int line, const char *expr) {
    if (got != want)
        fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s)\n", file, line, expr, got,
                dt_strerror(got), want, dt_strerror(want));
    return th_check(got == want, file, line, "CHECK_ST");
}

#define CHECK(cond) th_check(!!(cond), __FILE__, __LINE__, #cond)
#define CHECK_EQ(a, b) th_check_eq((long long)(a), (long long)(b), __FILE__, __LINE__, #a, #b)
/* CHECK_ST(call, DT_xxx): a dt_ call returned the expected status. */
#define CHECK_ST(call, want) th_check_st((call), (want), __FILE__, __LINE__, #call)

/* Monotonic time in milliseconds. */
static inline double th_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static inline void th_sleep_ms(double ms) {
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)((ms - ts.tv_sec * 1000.0) * 1e6);
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Deadlines, in th_now_ms() time; `seconds` is scaled by th_slow. */
static inline double th_deadline(double seconds) { return th_now_ms() + seconds * 1e3 * th_slow; }
static inline int th_expired(double deadline) { return th_now_ms() >= deadline; }

/* Polls pred(arg) every millisecond until it is true (returns 1) or the
 * deadline passes (returns 0). For test set-up only, never in place of
 * the library's own waits. */
static inline int th_wait_until(int (*pred)(void *), void *arg, double seconds) {
    double dl = th_deadline(seconds);
    while (!pred(arg)) {
        if (th_expired(dl)) return 0;
        th_sleep_ms(1);
    }
    return 1;
}

/* A thread whose join is bounded: th_start, then th_join(&t, seconds). */
typedef struct th_thread {
    pthread_t id;
    void (*fn)(void *);
    void *arg;
    int done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} th_thread;

static inline void *th_trampoline(void *p) {
    th_thread *t = (th_thread *)p;
    t->fn(t->arg);
    pthread_mutex_lock(&t->mu);
    t->done = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static inline void th_start(th_thread *t, void (*fn)(void *), void *arg) {
    pthread_condattr_t ca;
    t->fn = fn;
    t->arg = arg;
    t->done = 0;
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t->id, NULL, th_trampoline, t) != 0) {
        fprintf(stderr, "%s: pthread_create failed\n", th_name);
        exit(2);
    }
}

/* Whether the thread's function has returned (a snapshot; no join). */
static inline int th_finished(th_thread *t) {
    int done;
    pthread_mutex_lock(&t->mu);
    done = t->done;
    pthread_mutex_unlock(&t->mu);
    return done;
}

/* For th_wait_until: th_finished. */
static inline int th_finished_pred(void *t) { return th_finished((th_thread *)t); }

/* Joins within `seconds` (scaled by th_slow). A thread that does not finish
 * is a hang: report it and exit, since its stack may still be in use. */
static inline void th_join(th_thread *t, double seconds) {
    struct timespec dl;
    int rc = 0;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    seconds *= th_slow;
    dl.tv_sec += (time_t)seconds;
    dl.tv_nsec += (long)((seconds - (time_t)seconds) * 1e9);
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&t->mu);
    while (!t->done && rc == 0) rc = pthread_cond_timedwait(&t->cv, &t->mu, &dl);
    pthread_mutex_unlock(&t->mu);
    if (!t->done) {
        fprintf(stderr, "%s: a thread did not finish within %.1f s: hang\n", th_name, seconds);
        exit(3);
    }
    pthread_join(t->id, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
}

/* A start gate, so that racing threads begin together: workers call
 * th_gate_wait() (bounded: 10 s), the test calls th_gate_open(). */
static pthread_mutex_t th_gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t th_gate_cv = PTHREAD_COND_INITIALIZER;
static int th_gate_is_open;

static inline void th_gate_close(void) {
    pthread_mutex_lock(&th_gate_mu);
    th_gate_is_open = 0;
    pthread_mutex_unlock(&th_gate_mu);
}

static inline void th_gate_wait(void) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl); /* the default condattr clock */
    dl.tv_sec += 10 * th_slow;
    pthread_mutex_lock(&th_gate_mu);
    while (!th_gate_is_open)
        if (pthread_cond_timedwait(&th_gate_cv, &th_gate_mu, &dl) != 0) break;
    pthread_mutex_unlock(&th_gate_mu);
}

static inline void th_gate_open(void) {
    pthread_mutex_lock(&th_gate_mu);
    th_gate_is_open = 1;
    pthread_cond_broadcast(&th_gate_cv);
    pthread_mutex_unlock(&th_gate_mu);
}

/* An interrupt callback a test can hold a waiting thread in: while the
 * thread runs its dt_interrupt_fn it is inside the blocking call but not
 * parked, so the test can act at that exact point (free a handle, release
 * a lock, notify). Arm it, wait until the thread is inside
 * (th_cb_gate_inside), act, then th_cb_gate_open: the callback returns
 * `ret`. Calls while not armed return `idle_ret` at once. All fields are
 * guarded by `mu`; the hold is bounded (10 s, scaled). */
typedef struct th_cb_gate {
    pthread_mutex_t mu;
    int armed, inside, open, ret, idle_ret, calls;
} th_cb_gate;

static inline void th_cb_gate_init(th_cb_gate *g, int ret) {
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->mu, NULL);
    g->armed = 1;
    g->ret = ret;
}

static inline int th_cb_gate_fn(void *ctx) {
    th_cb_gate *g = (th_cb_gate *)ctx;
    double dl = th_deadline(10);
    int r;
    pthread_mutex_lock(&g->mu);
    g->calls++;
    r = g->idle_ret;
    if (g->armed) {
        g->armed = 0;
        g->inside = 1;
        while (!g->open && !th_expired(dl)) {
            pthread_mutex_unlock(&g->mu);
            th_sleep_ms(1);
            pthread_mutex_lock(&g->mu);
        }
        if (!g->open) fprintf(stderr, "%s: an interrupt callback was held for 10 s\n", th_name);
        g->inside = 0;
        r = g->ret;
    }
    pthread_mutex_unlock(&g->mu);
    return r;
}

/* For th_wait_until: the armed callback is holding its thread. */
static inline int th_cb_gate_inside(void *ctx) {
    th_cb_gate *g = (th_cb_gate *)ctx;
    int in;
    pthread_mutex_lock(&g->mu);
    in = g->inside;
    pthread_mutex_unlock(&g->mu);
    return in;
}

static inline void th_cb_gate_open(th_cb_gate *g) {
    pthread_mutex_lock(&g->mu);
    g->open = 1;
    pthread_mutex_unlock(&g->mu);
}

static inline int th_cb_gate_calls(th_cb_gate *g) {
    int n;
    pthread_mutex_lock(&g->mu);
    n = g->calls;
    pthread_mutex_unlock(&g->mu);
    return n;
}

static inline void th_cb_gate_destroy(th_cb_gate *g) { pthread_mutex_destroy(&g->mu); }

/* Runs fn(arg) on a new thread and joins it (bounded). */
static inline void th_run(void (*fn)(void *), void *arg) {
    th_thread t;
    th_start(&t, fn, arg);
    th_join(&t, 10);
}

/* Call first: names the test, reads the valgrind switch, arms a last-resort alarm. */
static inline void th_begin(const char *name) {
    const char *vg = getenv("DT_TEST_UNDER_VALGRIND");
    th_name = name;
    if (vg && *vg && strcmp(vg, "0") != 0) {
        th_slow = 20;
        th_stress_div = 20;
    }
    alarm(60u * (unsigned)th_slow);
}

/* Call last: prints the summary and returns the exit status. */
static inline int th_end(void) {
    printf("%s: %d passed, %d failed\n", th_name, th_passed, th_failed);
    fflush(stdout);
    return th_failed == 0 && th_passed > 0 ? 0 : 1;
}

#endif
