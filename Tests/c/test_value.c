/* dt_value: get/set/transform, exclusive access, hooks, a transform race. */
#include "harness.h"
#include "free_while_acquiring.h"

#include <math.h>
#include <stdint.h>
#include <sys/wait.h>

/* Adds ctx (an intptr_t) to the integer stored in the pointer. */
static int add(void *ctx, void *current, void **new_value) {
    *new_value = (void *)((intptr_t)current + (intptr_t)ctx);
    return 0;
}
static int fail42(void *ctx, void *current, void **new_value) {
    (void)ctx, (void)current;
    *new_value = (void *)0x1;
    return 42;
}

static dt_value *g_v;
static void other_probe(void *arg) {
    int *st = (int *)arg;
    st[0] = dt_value_try_acquire(g_v);
    st[1] = dt_value_release(g_v);
    st[2] = dt_value_acquire_timed(g_v, 0.02, NULL, NULL);
}

static void test_basic(void) {
    void *p = (void *)0x99, *res = NULL;
    int st[3];
    CHECK_ST(dt_value_new((void *)5, NULL, &g_v), DT_OK);
    CHECK_ST(dt_value_get(g_v, &p), DT_OK);
    CHECK(p == (void *)5);
    CHECK_ST(dt_value_set(g_v, (void *)7), DT_OK);
    CHECK_ST(dt_value_get(g_v, &p), DT_OK);
    CHECK(p == (void *)7);
    CHECK_ST(dt_value_transform(g_v, add, (void *)3, &res), DT_OK);
    CHECK(res == (void *)10);
    CHECK_ST(dt_value_transform(g_v, add, (void *)1, NULL), DT_OK);
    res = (void *)0x77;
    CHECK_EQ(dt_value_transform(g_v, fail42, NULL, &res), 42);
    CHECK(res == (void *)0x77); /* not written */
    CHECK_ST(dt_value_get(g_v, &p), DT_OK);
    CHECK(p == (void *)11); /* unchanged by the failed transform */
    CHECK_ST(dt_value_set(g_v, NULL), DT_OK);
    CHECK_ST(dt_value_get(g_v, &p), DT_OK);
    CHECK(p == NULL);

    /* Exclusive access, reentrant, owner-checked. */
    CHECK_ST(dt_value_release(g_v), DT_ENOTLOCKED);
    CHECK_ST(dt_value_acquire(g_v), DT_OK);
    CHECK_ST(dt_value_try_acquire(g_v), DT_OK);
    CHECK_ST(dt_value_acquire_timed(g_v, 0.0, NULL, NULL), DT_OK);
    CHECK_ST(dt_value_get(g_v, &p), DT_OK); /* reentrant */
    th_run(other_probe, st);
    CHECK_ST(st[0], DT_EBUSY);
    CHECK_ST(st[1], DT_ENOTOWNER);
    CHECK_ST(st[2], DT_ETIMEDOUT);
    CHECK_ST(dt_value_free(g_v), DT_EBUSY);
    CHECK_ST(dt_value_release(g_v), DT_OK);
    CHECK_ST(dt_value_release(g_v), DT_OK);
    CHECK_ST(dt_value_release(g_v), DT_OK);
    CHECK_ST(dt_value_release(g_v), DT_ENOTLOCKED);
    CHECK_ST(dt_value_free(g_v), DT_OK);
}

static void test_misuse(void) {
    dt_value *v;
    dt_lock *l;
    void *p;
    CHECK_ST(dt_value_new(NULL, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_value_free(NULL), DT_EINVAL);
    CHECK_ST(dt_value_get(NULL, &p), DT_EINVAL);
    CHECK_ST(dt_value_set(NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_value_transform(NULL, add, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_value_acquire(NULL), DT_EINVAL);
    CHECK_ST(dt_value_try_acquire(NULL), DT_EINVAL);
    CHECK_ST(dt_value_acquire_timed(NULL, 0.0, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_value_release(NULL), DT_EINVAL);
    CHECK_ST(dt_value_new(NULL, NULL, &v), DT_OK);
    CHECK_ST(dt_value_get(v, NULL), DT_EINVAL);
    CHECK_ST(dt_value_transform(v, NULL, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_value_acquire_timed(v, -2.0, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_value_acquire_timed(v, NAN, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_value_release(v), DT_ENOTLOCKED); /* the EINVALs took nothing */

    CHECK_ST(dt_lock_new(&l), DT_OK);
    CHECK_ST(dt_value_get((dt_value *)(void *)l, &p), DT_EBADHANDLE);
    CHECK_ST(dt_value_set((dt_value *)(void *)l, NULL), DT_EBADHANDLE);
    CHECK_ST(dt_value_transform((dt_value *)(void *)l, add, NULL, NULL), DT_EBADHANDLE);
    CHECK_ST(dt_value_acquire((dt_value *)(void *)l), DT_EBADHANDLE);
    CHECK_ST(dt_value_try_acquire((dt_value *)(void *)l), DT_EBADHANDLE);
    CHECK_ST(dt_value_acquire_timed((dt_value *)(void *)l, 0.0, NULL, NULL), DT_EBADHANDLE);
    CHECK_ST(dt_value_release((dt_value *)(void *)l), DT_EBADHANDLE);
    CHECK_ST(dt_value_free((dt_value *)(void *)l), DT_EBADHANDLE);
    CHECK_ST(dt_lock_free(l), DT_OK);
    CHECK_ST(dt_value_free(v), DT_OK);
}

/* 8 threads x 100,000 transforms of +1: the total is exact. */
static void bump(void *arg) {
    int i, n = *(int *)arg, bad = 0;
    th_gate_wait();
    for (i = 0; i < n; i++)
        if (dt_value_transform(g_v, add, (void *)(intptr_t)1, NULL) != DT_OK) bad++;
    CHECK_EQ(bad, 0);
}

static void test_transform_race(void) {
    th_thread t[8];
    int i, n = 100000 / th_stress_div;
    void *p = NULL;
    CHECK_ST(dt_value_new((void *)0, NULL, &g_v), DT_OK);
    th_gate_close();
    for (i = 0; i < 8; i++) th_start(&t[i], bump, &n);
    th_gate_open();
    for (i = 0; i < 8; i++) th_join(&t[i], 120);
    CHECK_ST(dt_value_get(g_v, &p), DT_OK);
    CHECK_EQ((intptr_t)p, 8L * n);
    CHECK_ST(dt_value_free(g_v), DT_OK);
}

/* Reference-counting hooks: per-object counts plus a global balance. */
typedef struct obj {
    long refs;
} obj;
static long g_retains, g_releases, g_null_calls, g_negative;
static void retain(void *ctx, void *ref) {
    (void)ctx;
    if (!ref) { g_null_calls++; return; }
    ((obj *)ref)->refs++;
    g_retains++;
}
static void release(void *ctx, void *ref) {
    (void)ctx;
    if (!ref) { g_null_calls++; return; }
    if (--((obj *)ref)->refs < 0) g_negative++;
    g_releases++;
}
static int to_ctx(void *ctx, void *current, void **new_value) {
    (void)current;
    *new_value = ctx;
    return 0;
}

static void test_hooks(void) {
    obj a = {0}, b = {0}, c = {0};
    dt_value_hooks hooks;
    dt_value *v;
    void *p = NULL;
    hooks.retain = retain;
    hooks.release = release;
    hooks.ctx = NULL;
    CHECK_ST(dt_value_new(&a, &hooks, &v), DT_OK);
    hooks.retain = NULL; /* the struct was copied */
    CHECK_EQ(a.refs, 1);
    CHECK_ST(dt_value_get(v, &p), DT_OK);
    CHECK(p == &a);
    CHECK_EQ(a.refs, 2); /* a new reference for us */
    release(NULL, p);
    CHECK_ST(dt_value_set(v, &b), DT_OK);
    CHECK_EQ(a.refs, 0);
    CHECK_EQ(b.refs, 1);
    CHECK_ST(dt_value_transform(v, to_ctx, &c, &p), DT_OK);
    CHECK(p == &c);
    CHECK_EQ(b.refs, 0);
    CHECK_EQ(c.refs, 2); /* the Value's and ours */
    release(NULL, p);
    CHECK_ST(dt_value_transform(v, to_ctx, &a, NULL), DT_OK);
    CHECK_EQ(a.refs, 1);
    CHECK_EQ(c.refs, 0);
    CHECK_EQ(dt_value_transform(v, fail42, NULL, &p), 42);
    CHECK_EQ(a.refs, 1);
    CHECK_ST(dt_value_set(v, NULL), DT_OK);
    CHECK_EQ(a.refs, 0);
    CHECK_ST(dt_value_get(v, &p), DT_OK);
    CHECK(p == NULL);
    CHECK_ST(dt_value_set(v, &b), DT_OK);
    CHECK_ST(dt_value_set(v, &b), DT_OK); /* same pointer again: still one ref */
    CHECK_EQ(b.refs, 1);
    CHECK_ST(dt_value_free(v), DT_OK);
    CHECK_EQ(a.refs + b.refs + c.refs, 0);
    CHECK_EQ(g_retains, g_releases);
    CHECK(g_retains > 0);
    CHECK_EQ(g_null_calls, 0);
    CHECK_EQ(g_negative, 0);
}

/* Hooks are called outside the lock where possible: a release hook for a
 * replaced pointer runs when another thread can take the Value. */
static dt_value *g_hv;
static int g_probe_armed, g_probe_st = -1;
static void probe_try(void *arg) {
    (void)arg;
    g_probe_st = dt_value_try_acquire(g_hv);
    if (g_probe_st == DT_OK) dt_value_release(g_hv);
}
static void release_probe(void *ctx, void *ref) {
    release(ctx, ref);
    if (g_probe_armed) {
        g_probe_armed = 0;
        th_run(probe_try, NULL);
    }
}

static void test_hooks_outside_lock(void) {
    obj a = {0}, b = {0};
    dt_value_hooks hooks = {retain, release_probe, NULL};
    CHECK_ST(dt_value_new(&a, &hooks, &g_hv), DT_OK);
    g_probe_armed = 1;
    CHECK_ST(dt_value_set(g_hv, &b), DT_OK); /* releases a */
    CHECK_EQ(g_probe_armed, 0);
    CHECK_ST(g_probe_st, DT_OK);
    CHECK_ST(dt_value_free(g_hv), DT_OK);
    CHECK_EQ(a.refs + b.refs, 0);
}

/* Threads set fresh objects and get/release the current one concurrently.
 * An object whose count reached 0 is dead: a retain of it would mean the
 * Value handed out a pointer it no longer owned. */
#define RACE_THREADS 4
#define RACE_ITERS 5000
typedef struct robj {
    long refs;
    int dead;
} robj;
static robj g_pool[RACE_THREADS][RACE_ITERS];
static pthread_mutex_t g_rmu = PTHREAD_MUTEX_INITIALIZER;
static long g_dead_retains, g_over_releases;
static void rretain(void *ctx, void *ref) {
    robj *o = (robj *)ref;
    (void)ctx;
    pthread_mutex_lock(&g_rmu);
    if (o->dead) g_dead_retains++;
    o->refs++;
    pthread_mutex_unlock(&g_rmu);
}
static void rrelease(void *ctx, void *ref) {
    robj *o = (robj *)ref;
    (void)ctx;
    pthread_mutex_lock(&g_rmu);
    if (o->refs <= 0) g_over_releases++;
    if (--o->refs == 0) o->dead = 1;
    pthread_mutex_unlock(&g_rmu);
}
static void racer(void *arg) {
    robj *mine = g_pool[(intptr_t)arg];
    int i, n = RACE_ITERS / th_stress_div, bad = 0;
    void *p;
    th_gate_wait();
    for (i = 0; i < n; i++) {
        mine[i].refs = 1; /* our reference */
        if (dt_value_set(g_hv, &mine[i]) != DT_OK) bad++;
        rrelease(NULL, &mine[i]);
        if (dt_value_get(g_hv, &p) != DT_OK) bad++;
        if (p) rrelease(NULL, p);
    }
    CHECK_EQ(bad, 0);
}

static void test_hooks_race(void) {
    dt_value_hooks hooks = {rretain, rrelease, NULL};
    th_thread t[RACE_THREADS];
    intptr_t i;
    int j, n = RACE_ITERS / th_stress_div;
    long live = 0;
    CHECK_ST(dt_value_new(NULL, &hooks, &g_hv), DT_OK);
    th_gate_close();
    for (i = 0; i < RACE_THREADS; i++) th_start(&t[i], racer, (void *)i);
    th_gate_open();
    for (i = 0; i < RACE_THREADS; i++) th_join(&t[i], 60);
    CHECK_ST(dt_value_free(g_hv), DT_OK);
    for (i = 0; i < RACE_THREADS; i++)
        for (j = 0; j < n; j++) live += g_pool[i][j].refs != 0 || !g_pool[i][j].dead;
    CHECK_EQ(live, 0);
    CHECK_EQ(g_dead_retains, 0);
    CHECK_EQ(g_over_releases, 0);
}

/* The lock is reentrant, so a transform callback may read and write the
 * same Value. Run in a child process: a crash there is reported, not fatal. */
static dt_value *g_rv;
static int reenter_transform(void *ctx, void *current, void **new_value) {
    void *p = NULL;
    (void)ctx;
    if (dt_value_get(g_rv, &p) != DT_OK || p != current) return 100;
    if (dt_value_set(g_rv, (void *)7) != DT_OK) return 101;
    *new_value = (void *)((intptr_t)current + 1);
    return 0;
}

static void test_reentrant_transform(void) {
    pid_t pid;
    int status = 0;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        void *r = NULL;
        int st;
        alarm(10);
        if (dt_value_new((void *)1, NULL, &g_rv) != DT_OK) _exit(2);
        st = dt_value_transform(g_rv, reenter_transform, NULL, &r);
        dt_value_free(g_rv);
        _exit(st == DT_OK && r == (void *)2 ? 0 : 1);
    }
    CHECK(pid > 0);
    CHECK(waitpid(pid, &status, 0) == pid);
    if (!CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        fprintf(stderr, "  dt_value_get/set inside a dt_value_transform callback: child %s %d\n",
                WIFSIGNALED(status) ? "killed by signal" : "exited with", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

/* dt_value_release from inside the Value's own transform callback: the
 * level the transform holds is refused (DT_ENOTOWNER; it used to be
 * released, and the transform then stored its result without the lock); a
 * level the callback took itself may be released. Afterwards the Value is
 * as it should be: the new value stored, nothing held, usable from another
 * thread, and free succeeds. */
static dt_value *g_tv;
typedef struct release_inside {
    int first, acquire, own, again;
} release_inside;

static int release_in_transform(void *ctx, void *current, void **new_value) {
    release_inside *r = (release_inside *)ctx;
    r->first = dt_value_release(g_tv);
    r->acquire = dt_value_acquire(g_tv);
    r->own = dt_value_release(g_tv);
    r->again = dt_value_release(g_tv);
    *new_value = (void *)((intptr_t)current + 1);
    return 0;
}

typedef struct other_use {
    int try_st, release_st;
    void *got;
    int get_st;
} other_use;

static void use_from_other_thread(void *arg) {
    other_use *o = (other_use *)arg;
    o->get_st = dt_value_get(g_tv, &o->got);
    o->try_st = dt_value_try_acquire(g_tv);
    o->release_st = o->try_st == DT_OK ? dt_value_release(g_tv) : -1;
}

static void test_release_inside_transform(void) {
    int outer;
    CHECK_ST(dt_value_new((void *)41, NULL, &g_tv), DT_OK);
    for (outer = 0; outer < 2; outer++) {
        release_inside r = {-1, -1, -1, -1};
        other_use o;
        void *res = NULL;
        /* With outer = 1 we also hold a level of our own around the transform. */
        if (outer) CHECK_ST(dt_value_acquire(g_tv), DT_OK);
        CHECK_ST(dt_value_transform(g_tv, release_in_transform, &r, &res), DT_OK);
        CHECK_ST(r.first, DT_ENOTOWNER);
        CHECK_ST(r.acquire, DT_OK);
        CHECK_ST(r.own, DT_OK);
        CHECK_ST(r.again, DT_ENOTOWNER);
        CHECK(res == (void *)(intptr_t)(42 + outer));
        if (outer) CHECK_ST(dt_value_release(g_tv), DT_OK);
        CHECK_ST(dt_value_release(g_tv), DT_ENOTLOCKED); /* nothing left held */
        memset(&o, 0, sizeof o);
        th_run(use_from_other_thread, &o);
        CHECK_ST(o.get_st, DT_OK);
        CHECK(o.got == (void *)(intptr_t)(42 + outer));
        CHECK_ST(o.try_st, DT_OK);
        CHECK_ST(o.release_st, DT_OK);
    }
    CHECK_ST(dt_value_free(g_tv), DT_OK);
}

/* dt_value_free is refused while a thread is blocked acquiring the Value,
 * held or not (free_while_acquiring.h). */
static int vl_acquire(void *h) { return dt_value_acquire(h); }
static int vl_acquire_timed(void *h, double timeout, dt_interrupt_fn fn, void *ctx) {
    return dt_value_acquire_timed(h, timeout, fn, ctx);
}
static int vl_release(void *h) { return dt_value_release(h); }
static int vl_free(void *h) { return dt_value_free(h); }

static void test_free_while_acquiring(void) {
    dt_value *h;
    th_lockable l = {NULL, vl_acquire, vl_acquire_timed, vl_release, vl_free, NULL, 1};
    CHECK_ST(dt_value_new(NULL, NULL, &h), DT_OK);
    l.handle = h;
    th_check_free_while_acquiring(&l);
}

int main(void) {
    th_begin("value");
    test_basic();
    test_misuse();
    test_transform_race();
    test_hooks();
    test_hooks_outside_lock();
    test_hooks_race();
    test_reentrant_transform();
    test_release_inside_transform();
    test_free_while_acquiring();
    return th_end();
}
