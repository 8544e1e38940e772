/* dt_lock: states, ownership, timeouts, misuse, mutual exclusion, fork. */
#include "harness.h"

#include <math.h>
#include <sys/wait.h>

static dt_lock *g_lock;

static void other_release(void *arg) { *(int *)arg = dt_lock_release(g_lock); }
static void other_release_any(void *arg) { *(int *)arg = dt_lock_release_any_thread(g_lock); }
static void other_try(void *arg) { *(int *)arg = dt_lock_try_acquire(g_lock); }
static void other_acquire(void *arg) { *(int *)arg = dt_lock_acquire(g_lock); }

static void test_basic(void) {
    int locked = -1, st = -1;
    CHECK_ST(dt_lock_new(&g_lock), DT_OK);
    CHECK_ST(dt_lock_locked(g_lock, &locked), DT_OK);
    CHECK_EQ(locked, 0);
    CHECK_ST(dt_lock_release(g_lock), DT_ENOTLOCKED);
    CHECK_ST(dt_lock_release_any_thread(g_lock), DT_ENOTLOCKED);
    CHECK_ST(dt_lock_acquire(g_lock), DT_OK);
    CHECK_ST(dt_lock_locked(g_lock, &locked), DT_OK);
    CHECK_EQ(locked, 1);
    CHECK_ST(dt_lock_try_acquire(g_lock), DT_EBUSY); /* not reentrant */
    CHECK_ST(dt_lock_acquire_timed(g_lock, 0.0, NULL, NULL), DT_ETIMEDOUT);
    th_run(other_try, &st);
    CHECK_ST(st, DT_EBUSY);
    th_run(other_release, &st);
    CHECK_ST(st, DT_ENOTOWNER);
    CHECK_ST(dt_lock_free(g_lock), DT_EBUSY);
    CHECK_ST(dt_lock_release(g_lock), DT_OK);
    CHECK_ST(dt_lock_locked(g_lock, &locked), DT_OK);
    CHECK_EQ(locked, 0);
    CHECK_ST(dt_lock_try_acquire(g_lock), DT_OK);
    /* Python's Lock semantics: another thread may release it. */
    th_run(other_release_any, &st);
    CHECK_ST(st, DT_OK);
    CHECK_ST(dt_lock_release(g_lock), DT_ENOTLOCKED);
    /* Acquired by another thread, released (owner-checked) by us: refused. */
    th_run(other_acquire, &st);
    CHECK_ST(st, DT_OK);
    CHECK_ST(dt_lock_release(g_lock), DT_ENOTOWNER);
    CHECK_ST(dt_lock_release_any_thread(g_lock), DT_OK);
    CHECK_ST(dt_lock_acquire_timed(g_lock, DT_WAIT_FOREVER, NULL, NULL), DT_OK);
    CHECK_ST(dt_lock_release(g_lock), DT_OK);
    CHECK_ST(dt_lock_acquire_timed(g_lock, INFINITY, NULL, NULL), DT_OK);
    CHECK_ST(dt_lock_release(g_lock), DT_OK);
    CHECK_ST(dt_lock_acquire_timed(g_lock, 1e300, NULL, NULL), DT_OK); /* saturates */
    CHECK_ST(dt_lock_release(g_lock), DT_OK);
    CHECK_ST(dt_lock_free(g_lock), DT_OK);
}

static void test_misuse(void) {
    dt_lock *l;
    dt_rlock *r;
    dt_value *v;
    int locked;
    CHECK_ST(dt_lock_new(NULL), DT_EINVAL);
    CHECK_ST(dt_lock_free(NULL), DT_EINVAL);
    CHECK_ST(dt_lock_acquire(NULL), DT_EINVAL);
    CHECK_ST(dt_lock_try_acquire(NULL), DT_EINVAL);
    CHECK_ST(dt_lock_acquire_timed(NULL, 1.0, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_lock_release(NULL), DT_EINVAL);
    CHECK_ST(dt_lock_release_any_thread(NULL), DT_EINVAL);
    CHECK_ST(dt_lock_locked(NULL, &locked), DT_EINVAL);
    CHECK_ST(dt_lock_reinit_after_fork(NULL), DT_EINVAL);

    CHECK_ST(dt_lock_new(&l), DT_OK);
    CHECK_ST(dt_lock_locked(l, NULL), DT_EINVAL);
    CHECK_ST(dt_lock_acquire_timed(l, -2.0, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_lock_acquire_timed(l, -0.5, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_lock_acquire_timed(l, NAN, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_lock_acquire_timed(l, -INFINITY, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_lock_locked(l, &locked), DT_OK);
    CHECK_EQ(locked, 0); /* a bad timeout did nothing */

    /* Handles of another kind. */
    CHECK_ST(dt_rlock_new(&r), DT_OK);
    CHECK_ST(dt_value_new(NULL, NULL, &v), DT_OK);
    CHECK_ST(dt_lock_acquire((dt_lock *)(void *)v), DT_EBADHANDLE);
    CHECK_ST(dt_lock_acquire((dt_lock *)(void *)r), DT_EBADHANDLE);
    CHECK_ST(dt_lock_try_acquire((dt_lock *)(void *)v), DT_EBADHANDLE);
    CHECK_ST(dt_lock_acquire_timed((dt_lock *)(void *)r, 0.0, NULL, NULL), DT_EBADHANDLE);
    CHECK_ST(dt_lock_release((dt_lock *)(void *)r), DT_EBADHANDLE);
    CHECK_ST(dt_lock_release_any_thread((dt_lock *)(void *)v), DT_EBADHANDLE);
    CHECK_ST(dt_lock_locked((dt_lock *)(void *)v, &locked), DT_EBADHANDLE);
    CHECK_ST(dt_lock_reinit_after_fork((dt_lock *)(void *)r), DT_EBADHANDLE);
    CHECK_ST(dt_lock_free((dt_lock *)(void *)v), DT_EBADHANDLE);
    CHECK_ST(dt_value_free(v), DT_OK); /* still intact */
    CHECK_ST(dt_rlock_free(r), DT_OK);
    CHECK_ST(dt_lock_free(l), DT_OK);
}

static void test_timeouts(void) {
    double t0, ms;
    dt_lock *l;
    CHECK_ST(dt_lock_new(&l), DT_OK);
    CHECK_ST(dt_lock_acquire(l), DT_OK);
    /* Our own lock: a second acquire waits for the timeout. */
    t0 = th_now_ms();
    CHECK_ST(dt_lock_acquire_timed(l, 0.05, NULL, NULL), DT_ETIMEDOUT);
    ms = th_now_ms() - t0;
    CHECK(ms >= 45.0);
    CHECK(ms < 1000.0 * th_slow);
    CHECK_ST(dt_lock_release(l), DT_OK);
    CHECK_ST(dt_lock_free(l), DT_OK);
}

/* A timed acquire wakes at once when the holder releases. */
static double g_woke_ms;
static void timed_waiter(void *arg) {
    *(int *)arg = dt_lock_acquire_timed(g_lock, 10.0, NULL, NULL);
    g_woke_ms = th_now_ms();
    dt_lock_release(g_lock);
}

static void test_handoff(void) {
    th_thread t;
    int st = -1;
    double t0;
    CHECK_ST(dt_lock_new(&g_lock), DT_OK);
    CHECK_ST(dt_lock_acquire(g_lock), DT_OK);
    th_start(&t, timed_waiter, &st);
    th_sleep_ms(100);
    t0 = th_now_ms();
    CHECK_ST(dt_lock_release(g_lock), DT_OK);
    th_join(&t, 10);
    CHECK_ST(st, DT_OK);
    CHECK(g_woke_ms - t0 < 100.0 * th_slow); /* no polling */
    CHECK_ST(dt_lock_free(g_lock), DT_OK);
}

/* 4 threads increment a plain counter under the lock: no lost update. */
static long g_counter;
static void incrementer(void *arg) {
    int i, n = *(int *)arg, bad = 0;
    th_gate_wait();
    for (i = 0; i < n; i++) {
        if (dt_lock_acquire(g_lock) != DT_OK) bad++;
        g_counter++;
        if (dt_lock_release(g_lock) != DT_OK) bad++;
    }
    CHECK_EQ(bad, 0);
}

static void test_exclusion(void) {
    th_thread t[4];
    int i, n = 50000 / th_stress_div;
    g_counter = 0;
    CHECK_ST(dt_lock_new(&g_lock), DT_OK);
    th_gate_close();
    for (i = 0; i < 4; i++) th_start(&t[i], incrementer, &n);
    th_gate_open();
    for (i = 0; i < 4; i++) th_join(&t[i], 60);
    CHECK_EQ(g_counter, 4L * n);
    CHECK_ST(dt_lock_free(g_lock), DT_OK);
}

/* Acquiring a lock we hold blocks until another thread releases it. */
static void release_later(void *arg) {
    (void)arg;
    th_sleep_ms(50);
    CHECK_ST(dt_lock_release_any_thread(g_lock), DT_OK);
}

static void test_self_deadlock_handoff(void) {
    th_thread t;
    double t0, ms;
    CHECK_ST(dt_lock_new(&g_lock), DT_OK);
    CHECK_ST(dt_lock_acquire(g_lock), DT_OK);
    th_start(&t, release_later, NULL);
    t0 = th_now_ms();
    CHECK_ST(dt_lock_acquire(g_lock), DT_OK);
    ms = th_now_ms() - t0;
    th_join(&t, 10);
    CHECK(ms >= 40.0);
    CHECK_ST(dt_lock_release(g_lock), DT_OK);
    CHECK_ST(dt_lock_free(g_lock), DT_OK);
}

/* The interrupt callback is consulted 25 ms after the wait parks and then
 * every two seconds, even when nothing disturbs the wait. */
typedef struct consults {
    int calls;
    double at_ms[2];
} consults;

static int stop_on_second(void *ctx) {
    consults *c = (consults *)ctx;
    if (c->calls < 2) c->at_ms[c->calls] = th_now_ms();
    return ++c->calls >= 2;
}

static void test_safety_interval(void) {
    dt_lock *l;
    consults c = {0, {0, 0}};
    double t0, ms;
    CHECK_ST(dt_lock_new(&l), DT_OK);
    CHECK_ST(dt_lock_acquire(l), DT_OK);
    t0 = th_now_ms();
    CHECK_ST(dt_lock_acquire_timed(l, 10.0, stop_on_second, &c), DT_EINTERRUPTED);
    ms = th_now_ms() - t0;
    CHECK_EQ(c.calls, 2);
    CHECK(c.at_ms[0] - t0 >= 20.0 && c.at_ms[0] - t0 < 1000.0 * th_slow);
    CHECK(ms >= 1900.0 && ms < 4000.0 * th_slow);
    CHECK_ST(dt_lock_release(l), DT_OK);
    CHECK_ST(dt_lock_free(l), DT_OK);
}

/* A lock held when the process forks is reset in the child. */
static void test_fork(void) {
    dt_lock *l;
    pid_t pid;
    int status = 0;
    CHECK_ST(dt_lock_new(&l), DT_OK);
    CHECK_ST(dt_lock_acquire(l), DT_OK);
    pid = fork();
    if (pid == 0) {
        int ok = dt_lock_reinit_after_fork(l) == DT_OK && dt_lock_try_acquire(l) == DT_OK &&
                 dt_lock_release(l) == DT_OK;
        _exit(ok ? 0 : 1);
    }
    CHECK(pid > 0);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_ST(dt_lock_release(l), DT_OK); /* the parent's lock is untouched */
    CHECK_ST(dt_lock_acquire(l), DT_OK);
    CHECK_ST(dt_lock_reinit_after_fork(l), DT_OK);
    CHECK_ST(dt_lock_try_acquire(l), DT_OK);
    CHECK_ST(dt_lock_release(l), DT_OK);
    CHECK_ST(dt_lock_free(l), DT_OK);
}

int main(void) {
    th_begin("lock");
    test_basic();
    test_misuse();
    test_timeouts();
    test_handoff();
    test_exclusion();
    test_self_deadlock_handoff();
    test_safety_interval();
    test_fork();
    return th_end();
}
