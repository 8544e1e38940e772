/* dt_async_split: a caller on one thread, three waiters on others. */
#include "harness.h"

#include <math.h>

static int g_runs, g_free_result, g_free_data;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static void count(int *n) {
    pthread_mutex_lock(&g_mu);
    (*n)++;
    pthread_mutex_unlock(&g_mu);
}
static int get(int *n) {
    int v;
    pthread_mutex_lock(&g_mu);
    v = *n;
    pthread_mutex_unlock(&g_mu);
    return v;
}

static int g_result_obj = 1234, g_error_obj = 4321;

static void free_result(void *r) {
    CHECK(r == &g_result_obj);
    count(&g_free_result);
}
static void free_data(void *d) {
    CHECK(d == &g_error_obj);
    count(&g_free_data);
}

/* ctx: 0 succeed, 1 fail with a payload, 2 fail leaving error->code 0. */
static int fn(void *ctx, void **result, dt_error *error) {
    int mode = *(int *)ctx;
    count(&g_runs);
    th_sleep_ms(20);
    if (mode == 0) {
        *result = &g_result_obj;
        return 0;
    }
    CHECK(error->code == 0 && error->data == NULL && error->free_data == NULL);
    if (mode == 1) {
        error->code = 42;
        error->data = &g_error_obj;
        error->free_data = free_data;
        return 9;
    }
    return 33;
}

typedef struct waiter_out {
    dt_waiter *w;
    int st;
    void *result;
    dt_error err;
} waiter_out;

static void wait_thread(void *arg) {
    waiter_out *o = (waiter_out *)arg;
    o->st = dt_waiter_wait(o->w, 10.0, NULL, NULL, &o->result, &o->err);
}

typedef struct caller_out {
    dt_caller *c;
    int st;
    dt_waiter *w2;
} caller_out;

static void call_thread(void *arg) {
    caller_out *o = (caller_out *)arg;
    th_sleep_ms(50); /* let the waiters park first */
    o->st = dt_caller_run(o->c, &o->w2);
}

static void run_split(int mode, int free_caller_first) {
    dt_waiter *w, *w3 = NULL;
    caller_out co;
    waiter_out wo[3];
    th_thread tc, tw[3];
    int i, done = -1, ctx = mode, runs0 = get(&g_runs);
    int fr0 = get(&g_free_result), fd0 = get(&g_free_data);
    void *r = NULL;
    dt_error e;
    memset(&co, 0, sizeof co);
    CHECK_ST(dt_async_split(fn, &ctx, free_result, &w, &co.c), DT_OK);
    CHECK_ST(dt_waiter_done(w, &done), DT_OK);
    CHECK_EQ(done, 0);
    CHECK_ST(dt_waiter_wait(w, 0.0, NULL, NULL, &r, &e), DT_ETIMEDOUT);
    for (i = 0; i < 3; i++) {
        memset(&wo[i], 0, sizeof wo[i]);
        wo[i].w = w; /* one handle, many threads */
        th_start(&tw[i], wait_thread, &wo[i]);
    }
    th_start(&tc, call_thread, &co);
    th_join(&tc, 10);
    for (i = 0; i < 3; i++) th_join(&tw[i], 10);
    CHECK_ST(co.st, mode == 0 ? DT_OK : DT_EFAILED);
    CHECK(co.w2 != NULL);
    CHECK_EQ(get(&g_runs) - runs0, 1);
    for (i = 0; i < 3; i++) {
        if (mode == 0) {
            CHECK_ST(wo[i].st, DT_OK);
            CHECK(wo[i].result == &g_result_obj);
        } else {
            CHECK_ST(wo[i].st, DT_EFAILED);
            CHECK_EQ(wo[i].err.code, mode == 1 ? 42 : 33);
            CHECK(wo[i].err.data == (mode == 1 ? (void *)&g_error_obj : NULL));
        }
    }
    /* The waiter from dt_caller_run sees the same outcome. */
    CHECK_ST(dt_waiter_done(co.w2, &done), DT_OK);
    CHECK_EQ(done, 1);
    r = NULL;
    CHECK_ST(dt_waiter_wait(co.w2, 0.0, NULL, NULL, &r, &e), mode == 0 ? DT_OK : DT_EFAILED);
    if (mode == 0) CHECK(r == &g_result_obj);
    /* The function runs once. */
    CHECK_ST(dt_caller_run(co.c, &w3), DT_EALREADY);
    CHECK(w3 == NULL);
    CHECK_ST(dt_caller_run(co.c, NULL), DT_EALREADY);
    CHECK_EQ(get(&g_runs) - runs0, 1);
    /* Payloads are freed exactly once, when the last handle goes. */
    if (free_caller_first) CHECK_ST(dt_caller_free(co.c), DT_OK);
    CHECK_ST(dt_waiter_free(w), DT_OK);
    if (!free_caller_first) CHECK_ST(dt_caller_free(co.c), DT_OK);
    CHECK_EQ(get(&g_free_result) - fr0, 0);
    CHECK_EQ(get(&g_free_data) - fd0, 0);
    CHECK_ST(dt_waiter_free(co.w2), DT_OK);
    CHECK_EQ(get(&g_free_result) - fr0, mode == 0 ? 1 : 0);
    CHECK_EQ(get(&g_free_data) - fd0, mode == 1 ? 1 : 0);
}

static int noop(void *ctx, void **result, dt_error *error) {
    (void)ctx, (void)error;
    *result = NULL;
    return 0;
}

static void test_misuse_and_timeouts(void) {
    dt_waiter *w;
    dt_caller *c;
    void *r = (void *)0x5;
    dt_error e;
    int done, ran = 0;
    double t0, ms;
    CHECK_ST(dt_async_split(NULL, NULL, NULL, &w, &c), DT_EINVAL);
    CHECK_ST(dt_async_split(noop, NULL, NULL, NULL, &c), DT_EINVAL);
    CHECK_ST(dt_async_split(noop, NULL, NULL, &w, NULL), DT_EINVAL);
    CHECK_ST(dt_caller_run(NULL, NULL), DT_EINVAL);
    CHECK_ST(dt_caller_free(NULL), DT_EINVAL);
    CHECK_ST(dt_waiter_wait(NULL, 0.0, NULL, NULL, &r, &e), DT_EINVAL);
    CHECK_ST(dt_waiter_done(NULL, &done), DT_EINVAL);
    CHECK_ST(dt_waiter_free(NULL), DT_EINVAL);

    CHECK_ST(dt_async_split(noop, &ran, NULL, &w, &c), DT_OK);
    CHECK_ST(dt_waiter_done(w, NULL), DT_EINVAL);
    CHECK_ST(dt_waiter_wait(w, -2.0, NULL, NULL, &r, &e), DT_EINVAL);
    CHECK_ST(dt_waiter_wait(w, NAN, NULL, NULL, &r, &e), DT_EINVAL);
    t0 = th_now_ms();
    CHECK_ST(dt_waiter_wait(w, 0.05, NULL, NULL, &r, &e), DT_ETIMEDOUT);
    ms = th_now_ms() - t0;
    CHECK(ms >= 45.0 && ms < 1000.0 * th_slow);
    CHECK(r == (void *)0x5); /* not written */
    /* Handles of the other kind. */
    CHECK_ST(dt_caller_run((dt_caller *)(void *)w, NULL), DT_EBADHANDLE);
    CHECK_ST(dt_waiter_wait((dt_waiter *)(void *)c, 0.0, NULL, NULL, &r, &e), DT_EBADHANDLE);
    CHECK_ST(dt_waiter_done((dt_waiter *)(void *)c, &done), DT_EBADHANDLE);
    CHECK_ST(dt_waiter_free((dt_waiter *)(void *)c), DT_EBADHANDLE);
    CHECK_ST(dt_caller_free((dt_caller *)(void *)w), DT_EBADHANDLE);
    /* An unrun caller is dropped; its waiters are told, not left blocked. */
    CHECK_ST(dt_caller_free(c), DT_OK);
    CHECK_ST(dt_waiter_wait(w, DT_WAIT_FOREVER, NULL, NULL, &r, &e), DT_EABANDONED);
    CHECK_ST(dt_waiter_done(w, &done), DT_OK);
    CHECK_EQ(done, 1);
    CHECK_ST(dt_waiter_free(w), DT_OK);
    CHECK_EQ(ran, 0);

    /* Run on the calling thread, no second waiter wanted. */
    CHECK_ST(dt_async_split(noop, NULL, NULL, &w, &c), DT_OK);
    CHECK_ST(dt_caller_run(c, NULL), DT_OK);
    r = (void *)0x5;
    CHECK_ST(dt_waiter_wait(w, DT_WAIT_FOREVER, NULL, NULL, &r, &e), DT_OK);
    CHECK(r == NULL);
    /* A bad timeout is refused even when the outcome is already known. */
    CHECK_ST(dt_waiter_wait(w, NAN, NULL, NULL, &r, &e), DT_EINVAL);
    CHECK_ST(dt_waiter_wait(w, -2.0, NULL, NULL, &r, &e), DT_EINVAL);
    CHECK_ST(dt_waiter_free(w), DT_OK);
    CHECK_ST(dt_caller_free(c), DT_OK);
}

/* dt_waiter_wait with NULL result and NULL error: the status alone says how
 * the function ended (DT_OK, DT_EFAILED, DT_EABANDONED), whether the wait
 * blocked first or the outcome was already known; a failure's payload is
 * still freed once, with the last handle. (NULL used to give DT_EINVAL.) */
typedef struct null_waiter {
    dt_waiter *w;
    int st;
} null_waiter;

static void wait_null_outputs(void *arg) {
    null_waiter *n = (null_waiter *)arg;
    n->st = dt_waiter_wait(n->w, 10.0, NULL, NULL, NULL, NULL);
}

static void test_wait_null_outputs(void) {
    int mode;
    for (mode = 0; mode < 3; mode++) {
        int ctx = mode, fr0 = get(&g_free_result), fd0 = get(&g_free_data);
        dt_waiter *w;
        dt_caller *c;
        null_waiter n;
        th_thread t;
        void *r = NULL;
        dt_error e;
        int want = mode == 0 ? DT_OK : DT_EFAILED;
        CHECK_ST(dt_async_split(fn, &ctx, free_result, &w, &c), DT_OK);
        CHECK_ST(dt_waiter_wait(w, 0.0, NULL, NULL, NULL, NULL), DT_ETIMEDOUT);
        n.w = w;
        n.st = -1;
        th_start(&t, wait_null_outputs, &n);
        th_sleep_ms(20);
        CHECK_ST(dt_caller_run(c, NULL), want);
        th_join(&t, 10);
        CHECK_ST(n.st, want);
        CHECK_ST(dt_waiter_wait(w, 0.0, NULL, NULL, NULL, NULL), want);
        CHECK_ST(dt_waiter_wait(w, DT_WAIT_FOREVER, NULL, NULL, NULL, NULL), want);
        /* Only one of the two wanted. */
        CHECK_ST(dt_waiter_wait(w, 0.0, NULL, NULL, &r, NULL), want);
        if (mode == 0) CHECK(r == &g_result_obj);
        memset(&e, 0, sizeof e);
        CHECK_ST(dt_waiter_wait(w, 0.0, NULL, NULL, NULL, &e), want);
        if (mode != 0) CHECK_EQ(e.code, mode == 1 ? 42 : 33);
        /* A bad timeout is still refused. */
        CHECK_ST(dt_waiter_wait(w, -2.0, NULL, NULL, NULL, NULL), DT_EINVAL);
        CHECK_ST(dt_caller_free(c), DT_OK);
        CHECK_ST(dt_waiter_free(w), DT_OK);
        CHECK_EQ(get(&g_free_result) - fr0, mode == 0 ? 1 : 0);
        CHECK_EQ(get(&g_free_data) - fd0, mode == 1 ? 1 : 0);
    }
    /* Abandoned: the caller was freed without running. */
    {
        dt_waiter *w;
        dt_caller *c;
        null_waiter n;
        th_thread t;
        CHECK_ST(dt_async_split(noop, NULL, NULL, &w, &c), DT_OK);
        n.w = w;
        n.st = -1;
        th_start(&t, wait_null_outputs, &n);
        th_sleep_ms(20);
        CHECK_ST(dt_caller_free(c), DT_OK);
        th_join(&t, 10);
        CHECK_ST(n.st, DT_EABANDONED);
        CHECK_ST(dt_waiter_wait(w, 0.0, NULL, NULL, NULL, NULL), DT_EABANDONED);
        CHECK_ST(dt_waiter_free(w), DT_OK);
    }
}

/* Timeouts too long to represent saturate: the wait does not end at once. */
typedef struct huge_waiter {
    dt_waiter *w;
    double timeout;
    int st;
} huge_waiter;

static int go_on(void *ctx) {
    (void)ctx;
    return 0;
}

static void wait_huge(void *arg) {
    huge_waiter *h = (huge_waiter *)arg;
    void *r;
    dt_error e;
    h->st = dt_waiter_wait(h->w, h->timeout, go_on, NULL, &r, &e);
}

static void test_huge_timeouts(void) {
    static const double k[] = {1e300, 1.8446744073e10 + 0.8};
    int i;
    for (i = 0; i < 2; i++) {
        dt_waiter *w;
        dt_caller *c;
        huge_waiter h;
        th_thread t;
        CHECK_ST(dt_async_split(noop, NULL, NULL, &w, &c), DT_OK);
        h.w = w;
        h.timeout = k[i];
        h.st = -1;
        th_start(&t, wait_huge, &h);
        th_sleep_ms(100);
        if (!CHECK(!th_finished(&t))) fprintf(stderr, "  dt_waiter_wait(%.17g s) returned at once\n", k[i]);
        CHECK_ST(dt_caller_run(c, NULL), DT_OK);
        th_join(&t, 10);
        CHECK_ST(h.st, DT_OK);
        CHECK_ST(dt_caller_free(c), DT_OK);
        CHECK_ST(dt_waiter_free(w), DT_OK);
    }
}

int main(void) {
    th_begin("async");
    run_split(0, 0);
    run_split(1, 1);
    run_split(2, 0);
    run_split(0, 1);
    test_misuse_and_timeouts();
    test_wait_null_outputs();
    test_huge_timeouts();
    return th_end();
}
