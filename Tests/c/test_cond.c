/* dt_cond and dt_interruptible_wait: notify, timeouts, interrupt, misuse. */
#include "harness.h"

#include <sys/wait.h>

#include <math.h>

static dt_cond *g_c;
static int g_ready, g_flag; /* guarded by the condition's lock */

static int flag_set(void *ctx) { return *(int *)ctx ? 1 : 0; }
static int always(void *ctx) { return ctx ? *(int *)ctx : 1; }

static void test_misuse(void) {
    dt_cond *c;
    dt_lock *l;
    dt_value *v;
    int one = 1;
    CHECK_ST(dt_cond_new(NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_cond_new_foreign(NULL, &c), DT_EINVAL);
    CHECK_ST(dt_cond_free(NULL), DT_EINVAL);
    CHECK_ST(dt_cond_acquire(NULL), DT_EINVAL);
    CHECK_ST(dt_cond_release(NULL), DT_EINVAL);
    CHECK_ST(dt_cond_wait(NULL, 0.0, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_cond_notify(NULL, 1), DT_EINVAL);
    CHECK_ST(dt_cond_notify_all(NULL), DT_EINVAL);
    CHECK_ST(dt_cond_interrupt(NULL), DT_EINVAL);
    CHECK_ST(dt_interruptible_wait(NULL, flag_set, &one, NULL, NULL, 0.0), DT_EINVAL);

    /* A Value is not a lock a condition can use; nor is a condition. */
    CHECK_ST(dt_value_new(NULL, NULL, &v), DT_OK);
    CHECK_ST(dt_cond_new(v, &c), DT_EBADHANDLE);
    CHECK_ST(dt_cond_acquire((dt_cond *)(void *)v), DT_EBADHANDLE);
    CHECK_ST(dt_cond_release((dt_cond *)(void *)v), DT_EBADHANDLE);
    CHECK_ST(dt_cond_wait((dt_cond *)(void *)v, 0.0, NULL, NULL), DT_EBADHANDLE);
    CHECK_ST(dt_cond_notify((dt_cond *)(void *)v, 1), DT_EBADHANDLE);
    CHECK_ST(dt_cond_notify_all((dt_cond *)(void *)v), DT_EBADHANDLE);
    CHECK_ST(dt_cond_interrupt((dt_cond *)(void *)v), DT_EBADHANDLE);
    CHECK_ST(dt_interruptible_wait((dt_cond *)(void *)v, flag_set, &one, NULL, NULL, 0.0), DT_EBADHANDLE);
    CHECK_ST(dt_cond_free((dt_cond *)(void *)v), DT_EBADHANDLE);
    CHECK_ST(dt_value_free(v), DT_OK);

    CHECK_ST(dt_lock_new(&l), DT_OK);
    CHECK_ST(dt_cond_new(l, &c), DT_OK);
    /* Without the lock. */
    CHECK_ST(dt_cond_release(c), DT_ENOTLOCKED);
    CHECK_ST(dt_cond_wait(c, 0.0, NULL, NULL), DT_ENOTOWNER);
    CHECK_ST(dt_cond_notify(c, 1), DT_ENOTOWNER);
    CHECK_ST(dt_cond_notify_all(c), DT_ENOTOWNER);
    CHECK_ST(dt_interruptible_wait(c, flag_set, &one, NULL, NULL, 0.0), DT_ENOTOWNER);
    CHECK_ST(dt_cond_interrupt(c), DT_OK); /* allowed without the lock */
    /* With the lock. */
    CHECK_ST(dt_cond_acquire(c), DT_OK);
    CHECK_ST(dt_cond_notify(c, -1), DT_EINVAL);
    CHECK_ST(dt_cond_notify(c, 0), DT_OK);
    CHECK_ST(dt_cond_notify(c, 1), DT_OK);
    CHECK_ST(dt_cond_notify(c, 1000000), DT_OK);
    CHECK_ST(dt_cond_notify_all(c), DT_OK);
    CHECK_ST(dt_cond_wait(c, -2.0, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_cond_wait(c, NAN, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_interruptible_wait(c, NULL, NULL, NULL, NULL, 0.0), DT_EINVAL);
    CHECK_ST(dt_interruptible_wait(c, flag_set, &one, NULL, NULL, -2.0), DT_EINVAL);
    CHECK_ST(dt_interruptible_wait(c, flag_set, &one, NULL, NULL, NAN), DT_EINVAL);
    CHECK_ST(dt_cond_release(c), DT_OK); /* still held after the EINVALs */
    CHECK_ST(dt_cond_free(c), DT_OK);
    CHECK_ST(dt_lock_free(l), DT_OK);
}

/* Timed waits end within sane bounds, with the lock held again at its depth. */
static void test_timeouts(void) {
    dt_rlock *r;
    dt_cond *c;
    long depth = 0;
    int never = 0, st;
    double t0, ms;
    CHECK_ST(dt_rlock_new(&r), DT_OK);
    CHECK_ST(dt_cond_new(r, &c), DT_OK);
    CHECK_ST(dt_rlock_acquire(r), DT_OK);
    CHECK_ST(dt_cond_acquire(c), DT_OK); /* depth 2 */
    t0 = th_now_ms();
    CHECK_ST(dt_cond_wait(c, 0.05, NULL, NULL), DT_ETIMEDOUT);
    ms = th_now_ms() - t0;
    CHECK(ms >= 45.0 && ms < 1000.0 * th_slow);
    CHECK_ST(dt_rlock_count(r, &depth), DT_OK);
    CHECK_EQ(depth, 2);
    CHECK_ST(dt_cond_wait(c, 0.0, NULL, NULL), DT_ETIMEDOUT);
    t0 = th_now_ms();
    CHECK_ST(dt_interruptible_wait(c, flag_set, &never, always, &never, 0.05), DT_ETIMEDOUT);
    ms = th_now_ms() - t0;
    CHECK(ms >= 45.0 && ms < 1000.0 * th_slow);
    CHECK_ST(dt_rlock_count(r, &depth), DT_OK);
    CHECK_EQ(depth, 2);
    /* Satisfied at once: no wait. A negative predicate aborts with its value. */
    never = 1;
    CHECK_ST(dt_interruptible_wait(c, flag_set, &never, NULL, NULL, 0.0), DT_OK);
    never = -42;
    st = dt_interruptible_wait(c, always, &never, NULL, NULL, DT_WAIT_FOREVER);
    CHECK_EQ(st, -42);
    CHECK_ST(dt_rlock_count(r, &depth), DT_OK);
    CHECK_EQ(depth, 2);
    CHECK_ST(dt_cond_release(c), DT_OK);
    CHECK_ST(dt_rlock_release(r), DT_OK);
    CHECK_ST(dt_rlock_release(r), DT_ENOTLOCKED);
    /* The condition keeps the lock alive: free the lock handle first. */
    CHECK_ST(dt_rlock_free(r), DT_OK);
    CHECK_ST(dt_cond_acquire(c), DT_OK);
    CHECK_ST(dt_cond_wait(c, 0.001, NULL, NULL), DT_ETIMEDOUT);
    CHECK_ST(dt_cond_release(c), DT_OK);
    CHECK_ST(dt_cond_free(c), DT_OK);
}

/* A waiter thread: announces itself under the lock, then waits. Once the
 * main thread holds the lock, the waiter is inside the wait. */
typedef struct waiter_args {
    int use_pred;            /* dt_interruptible_wait instead of dt_cond_wait */
    dt_interrupt_fn intr;    /* interrupt callback */
    int *intr_ctx;
    int st;
    double woke_ms;
    int held_after;          /* dt_cond_release returned DT_OK */
} waiter_args;

static void waiter(void *arg) {
    waiter_args *w = (waiter_args *)arg;
    dt_cond_acquire(g_c);
    g_ready = 1;
    if (w->use_pred)
        w->st = dt_interruptible_wait(g_c, flag_set, &g_flag, w->intr, w->intr_ctx, 10.0);
    else
        w->st = dt_cond_wait(g_c, 10.0, w->intr, w->intr_ctx);
    w->woke_ms = th_now_ms();
    w->held_after = dt_cond_release(g_c) == DT_OK;
}

static int waiter_ready(void *arg) {
    int ready;
    (void)arg;
    dt_cond_acquire(g_c);
    ready = g_ready;
    dt_cond_release(g_c);
    return ready;
}

/* Starts a waiter and returns once it is in the wait: it announced itself
 * under the lock, and the wait released it. */
static void start_waiter(th_thread *t, waiter_args *w) {
    g_ready = 0;
    g_flag = 0;
    th_start(t, waiter, w);
    CHECK(th_wait_until(waiter_ready, NULL, 10));
}

static void test_notify(void) {
    th_thread t;
    waiter_args w;
    double t0;
    int use_pred;
    CHECK_ST(dt_cond_new(NULL, &g_c), DT_OK);
    for (use_pred = 0; use_pred < 2; use_pred++) {
        memset(&w, 0, sizeof w);
        w.use_pred = use_pred;
        start_waiter(&t, &w);
        th_sleep_ms(20);
        CHECK_ST(dt_cond_acquire(g_c), DT_OK);
        g_flag = 1;
        t0 = th_now_ms();
        CHECK_ST(dt_cond_notify(g_c, 1), DT_OK);
        CHECK_ST(dt_cond_release(g_c), DT_OK);
        th_join(&t, 10);
        CHECK_ST(w.st, DT_OK);
        CHECK(w.held_after);
        CHECK(w.woke_ms - t0 < 100.0 * th_slow); /* woken at once, no polling */
    }
    /* Free while a thread waits: refused. */
    memset(&w, 0, sizeof w);
    start_waiter(&t, &w);
    CHECK_ST(dt_cond_free(g_c), DT_EBUSY);
    CHECK_ST(dt_cond_acquire(g_c), DT_OK);
    CHECK_ST(dt_cond_notify_all(g_c), DT_OK);
    CHECK_ST(dt_cond_release(g_c), DT_OK);
    th_join(&t, 10);
    CHECK_ST(w.st, DT_OK);
    CHECK_ST(dt_cond_free(g_c), DT_OK);
}

static void test_interrupt(void) {
    th_thread t;
    waiter_args w;
    int yes = 1, no = 0, use_pred;
    double t0;
    CHECK_ST(dt_cond_new(NULL, &g_c), DT_OK);
    for (use_pred = 0; use_pred < 2; use_pred++) {
        /* No callback: an interrupt ends the wait. */
        memset(&w, 0, sizeof w);
        w.use_pred = use_pred;
        start_waiter(&t, &w);
        t0 = th_now_ms();
        CHECK_ST(dt_cond_interrupt(g_c), DT_OK);
        th_join(&t, 10);
        CHECK_ST(w.st, DT_EINTERRUPTED);
        CHECK(w.held_after);
        CHECK(w.woke_ms - t0 < 100.0 * th_slow);
        /* A callback that says stop. */
        memset(&w, 0, sizeof w);
        w.use_pred = use_pred;
        w.intr = always;
        w.intr_ctx = &yes;
        start_waiter(&t, &w);
        CHECK_ST(dt_cond_interrupt(g_c), DT_OK);
        th_join(&t, 10);
        CHECK_ST(w.st, DT_EINTERRUPTED);
        CHECK(w.held_after);
        /* A callback that says go on: the wait continues until notified. */
        memset(&w, 0, sizeof w);
        w.use_pred = use_pred;
        w.intr = always;
        w.intr_ctx = &no;
        start_waiter(&t, &w);
        CHECK_ST(dt_cond_interrupt(g_c), DT_OK);
        th_sleep_ms(50);
        CHECK_ST(dt_cond_acquire(g_c), DT_OK);
        g_flag = 1;
        t0 = th_now_ms();
        CHECK_ST(dt_cond_notify_all(g_c), DT_OK);
        CHECK_ST(dt_cond_release(g_c), DT_OK);
        th_join(&t, 10);
        CHECK_ST(w.st, DT_OK);
        CHECK(w.held_after);
        /* dt_cond_wait may return early (a spurious wake-up); the predicate
         * wait must not: it only ends once the flag is set. */
        if (use_pred) CHECK(w.woke_ms >= t0);
    }
    CHECK_ST(dt_cond_free(g_c), DT_OK);
}

/* Waits on the condition until the flag is set, recording that it waits.
 * Both flags are guarded by the condition's lock. */
typedef struct fork_waiter {
    dt_cond *cond;
    int waiting;
    int stop;
} fork_waiter;

static int fork_waiter_waiting(void *arg) {
    fork_waiter *w = (fork_waiter *)arg;
    int waiting;
    dt_cond_acquire(w->cond);
    waiting = w->waiting;
    dt_cond_release(w->cond);
    return waiting;
}

static int stop_set(void *arg) { return ((fork_waiter *)arg)->stop; }

static void wait_for_stop(void *arg) {
    fork_waiter *w = (fork_waiter *)arg;
    CHECK_ST(dt_cond_acquire(w->cond), DT_OK);
    w->waiting = 1;
    CHECK_ST(dt_interruptible_wait(w->cond, stop_set, w, NULL, NULL, 30.0), DT_OK);
    CHECK_ST(dt_cond_release(w->cond), DT_OK);
}

/* In a fork child the waiting thread no longer exists: the condition still
 * counts it (free says busy) until dt_cond_reinit_after_fork forgets it. */
static void test_reinit_after_fork(void) {
    fork_waiter w = {NULL, 0, 0};
    th_thread t;
    pid_t child;
    int status = -1;
    CHECK_ST(dt_cond_new(NULL, &w.cond), DT_OK);
    th_start(&t, wait_for_stop, &w);
    CHECK(th_wait_until(fork_waiter_waiting, &w, 10.0));
    /* Once we can take the lock, the waiter has released it inside its wait. */
    CHECK_ST(dt_cond_acquire(w.cond), DT_OK);
    CHECK_ST(dt_cond_free(w.cond), DT_EBUSY);
    child = fork();
    if (child == 0) {
        /* Child: we hold the lock (our thread survived the fork), the waiter does not exist. */
        int ok = dt_cond_free(w.cond) == DT_EBUSY && dt_cond_reinit_after_fork(w.cond) == DT_OK &&
                 dt_cond_release(w.cond) == DT_ENOTLOCKED && dt_cond_acquire(w.cond) == DT_OK &&
                 dt_cond_release(w.cond) == DT_OK && dt_cond_free(w.cond) == DT_OK;
        _exit(ok ? 0 : 1);
    }
    CHECK(child > 0);
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    w.stop = 1;
    CHECK_ST(dt_cond_notify_all(w.cond), DT_OK);
    CHECK_ST(dt_cond_release(w.cond), DT_OK);
    th_join(&t, 10.0);
    CHECK_ST(dt_cond_reinit_after_fork(NULL), DT_EINVAL);
    CHECK_ST(dt_cond_free(w.cond), DT_OK);
}

int main(void) {
    th_begin("cond");
    test_reinit_after_fork();
    test_misuse();
    test_timeouts();
    test_notify();
    test_interrupt();
    return th_end();
}
