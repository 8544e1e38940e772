/* A pthread mutex as a foreign lock: dt_with_foreign_lock, dt_cond_new_foreign. */
#include "harness.h"

/* The application's lock: a mutex plus who holds it (for is_owned). */
typedef struct app_lock {
    pthread_mutex_t mu;
    pthread_t owner;
    int held;
    int fail_acquire, fail_release; /* fault injection */
    int acquires, releases;
} app_lock;

static int app_acquire(void *ctx) {
    app_lock *a = (app_lock *)ctx;
    if (a->fail_acquire) return a->fail_acquire;
    pthread_mutex_lock(&a->mu);
    a->owner = pthread_self();
    a->held = 1;
    a->acquires++;
    return 0;
}
static int app_release(void *ctx) {
    app_lock *a = (app_lock *)ctx;
    if (a->fail_release) return a->fail_release;
    if (!a->held || !pthread_equal(a->owner, pthread_self())) return 1;
    a->held = 0;
    a->releases++;
    pthread_mutex_unlock(&a->mu);
    return 0;
}
/* Reads held/owner without the mutex: only the holder writes them, so a
 * thread sees itself as the owner only when it is. */
static int app_is_owned(void *ctx) {
    app_lock *a = (app_lock *)ctx;
    return a->held && pthread_equal(a->owner, pthread_self());
}

static app_lock g_app = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, 0};

static dt_foreign_lock make_foreign(int with_is_owned) {
    dt_foreign_lock f;
    f.acquire = app_acquire;
    f.release = app_release;
    f.is_owned = with_is_owned ? app_is_owned : NULL;
    f.ctx = &g_app;
    return f;
}

static int body(void *ctx) {
    int *ran = (int *)ctx;
    (*ran)++;
    return app_is_owned(&g_app) ? 0 : 50;
}
static int body_ret7(void *ctx) { return body(ctx) == 0 ? 7 : 50; }

static void test_with_foreign(void) {
    dt_foreign_lock f = make_foreign(1), bad;
    int ran = 0;
    CHECK_ST(dt_with_foreign_lock(&f, body, &ran), DT_OK);
    CHECK_EQ(ran, 1);
    CHECK(!g_app.held);
    CHECK_EQ(dt_with_foreign_lock(&f, body_ret7, &ran), 7);
    CHECK_EQ(g_app.acquires, 2);
    CHECK_EQ(g_app.releases, 2);
    /* A failing acquire: its status, and the body does not run. */
    g_app.fail_acquire = 77;
    CHECK_EQ(dt_with_foreign_lock(&f, body, &ran), 77);
    CHECK_EQ(ran, 2);
    g_app.fail_acquire = 0;
    /* A failing release is reported as DT_ENOTOWNER. */
    g_app.fail_release = 3;
    CHECK_ST(dt_with_foreign_lock(&f, body, &ran), DT_ENOTOWNER);
    g_app.fail_release = 0;
    CHECK_EQ(app_release(&g_app), 0); /* undo the acquire that stuck */
    /* Misuse. */
    CHECK_ST(dt_with_foreign_lock(NULL, body, &ran), DT_EINVAL);
    CHECK_ST(dt_with_foreign_lock(&f, NULL, &ran), DT_EINVAL);
    bad = f;
    bad.acquire = NULL;
    CHECK_ST(dt_with_foreign_lock(&bad, body, &ran), DT_EINVAL);
    bad = f;
    bad.release = NULL;
    CHECK_ST(dt_with_foreign_lock(&bad, body, &ran), DT_EINVAL);
    CHECK_EQ(ran, 3);
    CHECK(!g_app.held);
}

static dt_cond *g_c;
static int g_flag;
static int flag_set(void *ctx) { return *(int *)ctx; }

static void waiter(void *arg) {
    int *st = (int *)arg;
    dt_cond_acquire(g_c);
    st[0] = dt_interruptible_wait(g_c, flag_set, &g_flag, NULL, NULL, 10.0);
    st[1] = app_is_owned(&g_app);
    st[2] = dt_cond_release(g_c);
}

static void test_cond_foreign(void) {
    dt_foreign_lock f = make_foreign(1), bad;
    dt_cond *c2;
    th_thread t;
    int st[3] = {-1, -1, -1};
    double t0, ms;
    CHECK_ST(dt_cond_new_foreign(&f, NULL), DT_EINVAL);
    bad = f;
    bad.acquire = NULL;
    CHECK_ST(dt_cond_new_foreign(&bad, &c2), DT_EINVAL);
    CHECK_ST(dt_cond_new_foreign(&f, &g_c), DT_OK);
    f.acquire = NULL; /* copied: our struct may change */

    /* is_owned given: misuse is detected. */
    CHECK_ST(dt_cond_wait(g_c, 0.0, NULL, NULL), DT_ENOTOWNER);
    CHECK_ST(dt_cond_notify(g_c, 1), DT_ENOTOWNER);
    /* A timed wait releases the mutex and takes it back. */
    CHECK_ST(dt_cond_acquire(g_c), DT_OK);
    CHECK(app_is_owned(&g_app));
    t0 = th_now_ms();
    CHECK_ST(dt_cond_wait(g_c, 0.05, NULL, NULL), DT_ETIMEDOUT);
    ms = th_now_ms() - t0;
    CHECK(ms >= 45.0 && ms < 1000.0 * th_slow);
    CHECK(app_is_owned(&g_app));
    CHECK_ST(dt_cond_release(g_c), DT_OK);
    CHECK(!g_app.held);

    /* A waiter on another thread, woken by a notify under the mutex. */
    g_flag = 0;
    th_start(&t, waiter, st);
    th_sleep_ms(50);
    CHECK_ST(dt_with_lock(g_c, NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_cond_acquire(g_c), DT_OK);
    g_flag = 1;
    CHECK_ST(dt_cond_notify_all(g_c), DT_OK);
    CHECK_ST(dt_cond_release(g_c), DT_OK);
    th_join(&t, 10);
    CHECK_ST(st[0], DT_OK);
    CHECK_EQ(st[1], 1);
    CHECK_ST(st[2], DT_OK);
    CHECK_ST(dt_cond_free(g_c), DT_OK);

    /* Without is_owned the condition trusts the caller. */
    f = make_foreign(0);
    CHECK_ST(dt_cond_new_foreign(&f, &g_c), DT_OK);
    CHECK_ST(dt_cond_acquire(g_c), DT_OK);
    CHECK_ST(dt_cond_notify(g_c, 1), DT_OK);
    CHECK_ST(dt_cond_wait(g_c, 0.01, NULL, NULL), DT_ETIMEDOUT);
    CHECK(app_is_owned(&g_app));
    CHECK_ST(dt_cond_release(g_c), DT_OK);
    CHECK_ST(dt_cond_free(g_c), DT_OK);
    CHECK(!g_app.held);
}

/* A foreign acquire that fails is reported by the condition too, and
 * dt_with_lock on such a condition does not run its body. */
static void test_cond_foreign_acquire_fails(void) {
    dt_foreign_lock f = make_foreign(1);
    int ran = 0, st;
    CHECK_ST(dt_cond_new_foreign(&f, &g_c), DT_OK);
    g_app.fail_acquire = 77;
    st = dt_cond_acquire(g_c);
    if (!CHECK(st != DT_OK)) fprintf(stderr, "  dt_cond_acquire ignored a failing foreign acquire\n");
    st = dt_with_lock(g_c, body, &ran);
    if (!CHECK(st != DT_OK && ran == 0))
        fprintf(stderr, "  dt_with_lock on a foreign condition ran its body without the lock (status %d)\n", st);
    g_app.fail_acquire = 0;
    CHECK(!g_app.held);
    CHECK_ST(dt_cond_free(g_c), DT_OK);
}

int main(void) {
    th_begin("foreign");
    test_with_foreign();
    test_cond_foreign();
    test_cond_foreign_acquire_fails();
    return th_end();
}
