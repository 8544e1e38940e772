/* dt_lock: states, ownership, timeouts, misuse, mutual exclusion, fork. */
#include "harness.h"
#include "free_while_acquiring.h"

#include <float.h>
#include <math.h>
#include <sched.h>
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

/* ---- Racing any-thread releases; saturating timeouts; free while acquiring */

/* A barrier for `n` threads whose wait is bounded (10 s, scaled): a thread
 * that does not arrive is a hang, reported as th_join reports one. */
typedef struct tbar {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n, arrived;
    unsigned gen;
} tbar;

static void tbar_init(tbar *b, int n) {
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->n = n;
    b->arrived = 0;
    b->gen = 0;
}

static void tbar_wait(tbar *b) {
    struct timespec dl;
    unsigned gen;
    int rc = 0, stuck;
    clock_gettime(CLOCK_REALTIME, &dl); /* the default condattr clock */
    dl.tv_sec += 10 * th_slow;
    pthread_mutex_lock(&b->mu);
    gen = b->gen;
    if (++b->arrived == b->n) {
        b->arrived = 0;
        b->gen++;
        pthread_cond_broadcast(&b->cv);
    } else {
        while (gen == b->gen && rc == 0) rc = pthread_cond_timedwait(&b->cv, &b->mu, &dl);
    }
    stuck = gen == b->gen;
    pthread_mutex_unlock(&b->mu);
    if (stuck) {
        fprintf(stderr, "%s: a barrier was not reached within %d s: hang\n", th_name, 10 * th_slow);
        exit(3);
    }
}

static void tbar_destroy(tbar *b) {
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
}

typedef struct release_racer {
    tbar *bar;
    long *spin; /* the racers' own start line, shared */
    int rounds;
    int st; /* this round's status; read by main between the barriers */
} release_racer;

/* The two racers meet on a spinning start line, so that their releases
 * overlap far more often than a wake-up from a barrier would let them
 * (yielding now and then, for valgrind and busy machines). */
static void spin_meet(long *spin, long target) {
    long spins = 0;
    __atomic_add_fetch(spin, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(spin, __ATOMIC_ACQUIRE) < target)
        if (++spins % 1024 == 0) sched_yield();
}

static void race_release(void *arg) {
    release_racer *r = (release_racer *)arg;
    int i;
    for (i = 0; i < r->rounds; i++) {
        tbar_wait(r->bar); /* main holds the lock */
        spin_meet(r->spin, 2L * (i + 1));
        r->st = dt_lock_release_any_thread(g_lock);
        tbar_wait(r->bar); /* main looks */
    }
}

/* Each round: this thread takes the lock, two threads release it with
 * dt_lock_release_any_thread at once. One hold, so one DT_OK and one
 * DT_ENOTLOCKED, and the lock is free afterwards (both used to succeed,
 * the second releasing nothing, or a hold taken in between). */
static void test_release_any_thread_race(void) {
    release_racer r[2];
    th_thread t[2];
    tbar bar;
    long spin = 0;
    int i, round, rounds = 20000 / th_stress_div, bad = 0, locked;
    double t0 = th_now_ms();
    CHECK_ST(dt_lock_new(&g_lock), DT_OK);
    tbar_init(&bar, 3);
    for (i = 0; i < 2; i++) {
        r[i].bar = &bar;
        r[i].spin = &spin;
        r[i].rounds = rounds;
        r[i].st = -1;
        th_start(&t[i], race_release, &r[i]);
    }
    for (round = 0; round < rounds; round++) {
        int ok = 0, not_locked = 0;
        if (dt_lock_acquire(g_lock) != DT_OK) bad++;
        tbar_wait(&bar);
        tbar_wait(&bar);
        for (i = 0; i < 2; i++) {
            ok += r[i].st == DT_OK;
            not_locked += r[i].st == DT_ENOTLOCKED;
        }
        locked = -1;
        dt_lock_locked(g_lock, &locked);
        if (ok != 1 || not_locked != 1 || locked != 0) {
            if (bad++ < 5)
                fprintf(stderr, "  round %d: releases returned %d (%s) and %d (%s); locked after: %d\n", round,
                        r[0].st, dt_strerror(r[0].st), r[1].st, dt_strerror(r[1].st), locked);
            if (locked == 1) dt_lock_release_any_thread(g_lock);
        }
    }
    for (i = 0; i < 2; i++) th_join(&t[i], 60);
    CHECK_EQ(bad, 0);
    CHECK_ST(dt_lock_locked(g_lock, &locked), DT_OK);
    CHECK_EQ(locked, 0);
    CHECK_ST(dt_lock_release_any_thread(g_lock), DT_ENOTLOCKED);
    CHECK_ST(dt_lock_try_acquire(g_lock), DT_OK); /* still a working lock */
    CHECK_ST(dt_lock_release(g_lock), DT_OK);
    CHECK_ST(dt_lock_free(g_lock), DT_OK);
    tbar_destroy(&bar);
    printf("lock: %d racing release rounds in %.0f ms\n", rounds, th_now_ms() - t0);
}

/* An interrupt callback that always says go on. */
static int go_on(void *ctx) {
    (void)ctx;
    return 0;
}

typedef struct timed_acq {
    double timeout;
    dt_interrupt_fn intr;
    int st;
} timed_acq;

static void acquire_timed_then_release(void *arg) {
    timed_acq *a = (timed_acq *)arg;
    a->st = dt_lock_acquire_timed(g_lock, a->timeout, a->intr, NULL);
    if (a->st == DT_OK) CHECK_ST(dt_lock_release(g_lock), DT_OK);
}

/* Timeouts too long to represent saturate: a timed acquire of a held lock
 * with such a timeout keeps waiting, and takes the lock once another thread
 * releases it. (2^64 ns + 0.8 s used to wrap round to under a second.) */
static void test_huge_timeouts_block(void) {
    static const double k[] = {1e300, 1.8446744073e10 + 0.8, DBL_MAX};
    int i, with_cb;
    for (i = 0; i < 3; i++)
        for (with_cb = 0; with_cb < 2; with_cb++) {
            timed_acq a;
            th_thread t;
            a.timeout = k[i];
            a.intr = with_cb ? go_on : NULL;
            a.st = -1;
            CHECK_ST(dt_lock_new(&g_lock), DT_OK);
            CHECK_ST(dt_lock_acquire(g_lock), DT_OK);
            th_start(&t, acquire_timed_then_release, &a);
            th_sleep_ms(100);
            if (!CHECK(!th_finished(&t)))
                fprintf(stderr, "  dt_lock_acquire_timed(%.17g s%s) returned %d at once\n", k[i],
                        with_cb ? ", callback" : "", a.st);
            CHECK_ST(dt_lock_release_any_thread(g_lock), DT_OK);
            th_join(&t, 10);
            CHECK_ST(a.st, DT_OK);
            CHECK_ST(dt_lock_free(g_lock), DT_OK);
        }
}

/* dt_lock_free is refused while a thread is blocked acquiring the lock,
 * held or not (free_while_acquiring.h). */
static int lk_acquire(void *h) { return dt_lock_acquire(h); }
static int lk_acquire_timed(void *h, double timeout, dt_interrupt_fn fn, void *ctx) {
    return dt_lock_acquire_timed(h, timeout, fn, ctx);
}
static int lk_release(void *h) { return dt_lock_release(h); }
static int lk_free(void *h) { return dt_lock_free(h); }
static int lk_locked(void *h, int *locked) { return dt_lock_locked(h, locked); }

static void test_free_while_acquiring(void) {
    dt_lock *h;
    th_lockable l = {NULL, lk_acquire, lk_acquire_timed, lk_release, lk_free, lk_locked, 1};
    CHECK_ST(dt_lock_new(&h), DT_OK);
    l.handle = h;
    th_check_free_while_acquiring(&l);
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
    test_release_any_thread_race();
    test_huge_timeouts_block();
    test_free_while_acquiring();
    return th_end();
}
