/* dt_rlock: depth, ownership, release_save / acquire_restore, misuse. */
#include "harness.h"
#include "free_while_acquiring.h"

#include <math.h>

static dt_rlock *g_r;

typedef struct probe {
    int try_st, release_st, save_st, locked;
    long count, saved;
    double timed_ms;
    int timed_st;
} probe;

/* What another thread sees while the main thread holds g_r. */
static void other_probe(void *arg) {
    probe *p = (probe *)arg;
    double t0;
    p->try_st = dt_rlock_try_acquire(g_r);
    p->release_st = dt_rlock_release(g_r);
    p->save_st = dt_rlock_release_save(g_r, &p->saved);
    dt_rlock_locked(g_r, &p->locked);
    dt_rlock_count(g_r, &p->count);
    t0 = th_now_ms();
    p->timed_st = dt_rlock_acquire_timed(g_r, 0.05, NULL, NULL);
    p->timed_ms = th_now_ms() - t0;
}

static void test_depth(void) {
    long count = -1;
    int locked = -1;
    probe p;
    CHECK_ST(dt_rlock_new(&g_r), DT_OK);
    CHECK_ST(dt_rlock_count(g_r, &count), DT_OK);
    CHECK_EQ(count, 0);
    CHECK_ST(dt_rlock_release(g_r), DT_ENOTLOCKED);
    CHECK_ST(dt_rlock_acquire(g_r), DT_OK);
    CHECK_ST(dt_rlock_try_acquire(g_r), DT_OK);
    CHECK_ST(dt_rlock_acquire_timed(g_r, 0.0, NULL, NULL), DT_OK);
    CHECK_ST(dt_rlock_count(g_r, &count), DT_OK);
    CHECK_EQ(count, 3);
    CHECK_ST(dt_rlock_locked(g_r, &locked), DT_OK);
    CHECK_EQ(locked, 1);

    memset(&p, 0, sizeof p);
    p.count = -1;
    th_run(other_probe, &p);
    CHECK_ST(p.try_st, DT_EBUSY);
    CHECK_ST(p.release_st, DT_ENOTOWNER);
    CHECK_ST(p.save_st, DT_ENOTOWNER);
    CHECK_EQ(p.locked, 1);
    CHECK_EQ(p.count, 0);
    CHECK_ST(p.timed_st, DT_ETIMEDOUT);
    CHECK(p.timed_ms >= 45.0 && p.timed_ms < 1000.0 * th_slow);

    CHECK_ST(dt_rlock_free(g_r), DT_EBUSY);
    CHECK_ST(dt_rlock_release(g_r), DT_OK);
    CHECK_ST(dt_rlock_release(g_r), DT_OK);
    CHECK_ST(dt_rlock_count(g_r, &count), DT_OK);
    CHECK_EQ(count, 1);
    CHECK_ST(dt_rlock_release(g_r), DT_OK);
    CHECK_ST(dt_rlock_locked(g_r, &locked), DT_OK);
    CHECK_EQ(locked, 0);
    CHECK_ST(dt_rlock_release(g_r), DT_ENOTLOCKED);
    CHECK_ST(dt_rlock_free(g_r), DT_OK);
}

static void test_save_restore(void) {
    dt_rlock *r;
    long saved = -1, count = -1;
    int locked = -1;
    CHECK_ST(dt_rlock_new(&r), DT_OK);
    CHECK_ST(dt_rlock_release_save(r, &saved), DT_ENOTLOCKED);
    CHECK_EQ(saved, -1); /* not written on failure */
    CHECK_ST(dt_rlock_acquire(r), DT_OK);
    CHECK_ST(dt_rlock_acquire(r), DT_OK);
    CHECK_ST(dt_rlock_acquire(r), DT_OK);
    CHECK_ST(dt_rlock_release_save(r, NULL), DT_EINVAL);
    CHECK_ST(dt_rlock_release_save(r, &saved), DT_OK);
    CHECK_EQ(saved, 3);
    CHECK_ST(dt_rlock_locked(r, &locked), DT_OK);
    CHECK_EQ(locked, 0);
    CHECK_ST(dt_rlock_acquire_restore(r, 0), DT_EINVAL);
    CHECK_ST(dt_rlock_acquire_restore(r, -1), DT_EINVAL);
    CHECK_ST(dt_rlock_acquire_restore(r, saved), DT_OK);
    CHECK_ST(dt_rlock_count(r, &count), DT_OK);
    CHECK_EQ(count, 3);
    CHECK_ST(dt_rlock_acquire_restore(r, 1), DT_EBUSY); /* already held */
    CHECK_ST(dt_rlock_count(r, &count), DT_OK);
    CHECK_EQ(count, 3);
    CHECK_ST(dt_rlock_release_save(r, &saved), DT_OK);
    CHECK_ST(dt_rlock_acquire_restore(r, 1), DT_OK);
    CHECK_ST(dt_rlock_release(r), DT_OK);
    CHECK_ST(dt_rlock_free(r), DT_OK);
}

static void test_misuse(void) {
    dt_rlock *r;
    dt_lock *l;
    long count;
    int locked;
    CHECK_ST(dt_rlock_new(NULL), DT_EINVAL);
    CHECK_ST(dt_rlock_free(NULL), DT_EINVAL);
    CHECK_ST(dt_rlock_acquire(NULL), DT_EINVAL);
    CHECK_ST(dt_rlock_try_acquire(NULL), DT_EINVAL);
    CHECK_ST(dt_rlock_acquire_timed(NULL, 1.0, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_rlock_release(NULL), DT_EINVAL);
    CHECK_ST(dt_rlock_locked(NULL, &locked), DT_EINVAL);
    CHECK_ST(dt_rlock_count(NULL, &count), DT_EINVAL);
    CHECK_ST(dt_rlock_release_save(NULL, &count), DT_EINVAL);
    CHECK_ST(dt_rlock_acquire_restore(NULL, 1), DT_EINVAL);
    CHECK_ST(dt_rlock_reinit_after_fork(NULL), DT_EINVAL);

    CHECK_ST(dt_rlock_new(&r), DT_OK);
    CHECK_ST(dt_rlock_locked(r, NULL), DT_EINVAL);
    CHECK_ST(dt_rlock_count(r, NULL), DT_EINVAL);
    CHECK_ST(dt_rlock_acquire_timed(r, -2.0, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_rlock_acquire_timed(r, NAN, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_rlock_locked(r, &locked), DT_OK);
    CHECK_EQ(locked, 0);

    CHECK_ST(dt_lock_new(&l), DT_OK);
    CHECK_ST(dt_rlock_acquire((dt_rlock *)(void *)l), DT_EBADHANDLE);
    CHECK_ST(dt_rlock_try_acquire((dt_rlock *)(void *)l), DT_EBADHANDLE);
    CHECK_ST(dt_rlock_acquire_timed((dt_rlock *)(void *)l, 0.0, NULL, NULL), DT_EBADHANDLE);
    CHECK_ST(dt_rlock_release((dt_rlock *)(void *)l), DT_EBADHANDLE);
    CHECK_ST(dt_rlock_locked((dt_rlock *)(void *)l, &locked), DT_EBADHANDLE);
    CHECK_ST(dt_rlock_count((dt_rlock *)(void *)l, &count), DT_EBADHANDLE);
    CHECK_ST(dt_rlock_release_save((dt_rlock *)(void *)l, &count), DT_EBADHANDLE);
    CHECK_ST(dt_rlock_acquire_restore((dt_rlock *)(void *)l, 1), DT_EBADHANDLE);
    CHECK_ST(dt_rlock_reinit_after_fork((dt_rlock *)(void *)l), DT_EBADHANDLE);
    CHECK_ST(dt_rlock_free((dt_rlock *)(void *)l), DT_EBADHANDLE);
    CHECK_ST(dt_lock_free(l), DT_OK);

    /* reinit resets a held lock (as a fork child would). */
    CHECK_ST(dt_rlock_acquire(r), DT_OK);
    CHECK_ST(dt_rlock_acquire(r), DT_OK);
    CHECK_ST(dt_rlock_reinit_after_fork(r), DT_OK);
    CHECK_ST(dt_rlock_locked(r, &locked), DT_OK);
    CHECK_EQ(locked, 0);
    CHECK_ST(dt_rlock_free(r), DT_OK);
}

/* Another thread's view of the owner, for the snapshot test. */
typedef struct owner_view {
    dt_rlock *lock;
    unsigned long expected_owner;
} owner_view;

static void read_owner(void *arg) {
    owner_view *view = (owner_view *)arg;
    unsigned long owner = 0;
    long count = 0;
    CHECK_ST(dt_rlock_owner(view->lock, &owner, &count), DT_OK);
    CHECK(owner == view->expected_owner);
    CHECK(owner != (unsigned long)pthread_self());
    CHECK_EQ(count, 2);
}

static void test_owner_snapshot(void) {
    dt_rlock *lock;
    unsigned long owner = 1;
    long count = 1;
    th_thread t;
    owner_view view;
    CHECK_ST(dt_rlock_new(&lock), DT_OK);
    CHECK_ST(dt_rlock_owner(lock, &owner, &count), DT_OK);
    CHECK_EQ(owner, 0);
    CHECK_EQ(count, 0);
    CHECK_ST(dt_rlock_acquire(lock), DT_OK);
    CHECK_ST(dt_rlock_acquire(lock), DT_OK);
    CHECK_ST(dt_rlock_owner(lock, &owner, &count), DT_OK);
    CHECK(owner == (unsigned long)pthread_self());
    CHECK_EQ(count, 2);
    view.lock = lock;
    view.expected_owner = (unsigned long)pthread_self();
    th_start(&t, read_owner, &view);
    th_join(&t, 10.0);
    CHECK_ST(dt_rlock_owner(lock, NULL, &count), DT_EINVAL);
    CHECK_ST(dt_rlock_owner(lock, &owner, NULL), DT_EINVAL);
    CHECK_ST(dt_rlock_owner(NULL, &owner, &count), DT_EINVAL);
    CHECK_ST(dt_rlock_release(lock), DT_OK);
    CHECK_ST(dt_rlock_release(lock), DT_OK);
    CHECK_ST(dt_rlock_free(lock), DT_OK);
}

/* dt_rlock_free is refused while a thread is blocked acquiring the lock,
 * held or not (free_while_acquiring.h). */
static int rl_acquire(void *h) { return dt_rlock_acquire(h); }
static int rl_acquire_timed(void *h, double timeout, dt_interrupt_fn fn, void *ctx) {
    return dt_rlock_acquire_timed(h, timeout, fn, ctx);
}
static int rl_release(void *h) { return dt_rlock_release(h); }
static int rl_free(void *h) { return dt_rlock_free(h); }
static int rl_locked(void *h, int *locked) { return dt_rlock_locked(h, locked); }

static void test_free_while_acquiring(void) {
    dt_rlock *h;
    th_lockable l = {NULL, rl_acquire, rl_acquire_timed, rl_release, rl_free, rl_locked, 2};
    CHECK_ST(dt_rlock_new(&h), DT_OK);
    l.handle = h;
    th_check_free_while_acquiring(&l);
}

int main(void) {
    th_begin("rlock");
    test_owner_snapshot();
    test_depth();
    test_save_restore();
    test_misuse();
    test_free_while_acquiring();
    return th_end();
}
