/* dt_with_lock on every handle kind; reentrancy of a Value inside it. */
#include "harness.h"

typedef struct body_ctx {
    void *handle; /* what dt_with_lock was given */
    int ret;      /* what the body returns */
    int ran;
    int other_try; /* what another thread's try-acquire saw inside the body */
} body_ctx;

/* From another thread: is the handle held? (try-acquire must say EBUSY) */
static void other_try(void *arg) {
    body_ctx *b = (body_ctx *)arg;
    int st;
    /* Whatever its kind: the first try_acquire that knows the handle. */
    st = dt_lock_try_acquire((dt_lock *)b->handle);
    if (st == DT_EBADHANDLE) st = dt_rlock_try_acquire((dt_rlock *)b->handle);
    if (st == DT_EBADHANDLE) st = dt_value_try_acquire((dt_value *)b->handle);
    b->other_try = st;
}

static int body(void *ctx) {
    body_ctx *b = (body_ctx *)ctx;
    b->ran++;
    th_run(other_try, b);
    return b->ret;
}

static void run_on(void *handle, void *probe_handle, const char *kind) {
    body_ctx b;
    memset(&b, 0, sizeof b);
    b.handle = probe_handle;
    b.ret = 0;
    CHECK_ST(dt_with_lock(handle, body, &b), DT_OK);
    CHECK_EQ(b.ran, 1);
    if (probe_handle) CHECK_ST(b.other_try, DT_EBUSY);
    b.ret = 17; /* the body's status comes back as is */
    CHECK_EQ(dt_with_lock(handle, body, &b), 17);
    CHECK_EQ(b.ran, 2);
    b.ret = DT_ETIMEDOUT;
    CHECK_ST(dt_with_lock(handle, body, &b), DT_ETIMEDOUT);
    if (b.ran != 3) fprintf(stderr, "  (dt_with_lock on a %s)\n", kind);
}

/* A body that releases the lock itself: the release's failure is reported. */
static int sneaky_release(void *ctx) { return dt_lock_release((dt_lock *)ctx) == DT_OK ? 0 : 99; }
static int sneaky_release_fail(void *ctx) { dt_lock_release((dt_lock *)ctx); return 5; }

/* Reentrancy: get and set the Value inside dt_with_lock on it. */
static int reenter(void *ctx) {
    dt_value *v = (dt_value *)ctx;
    void *p = NULL;
    if (dt_value_get(v, &p) != DT_OK || p != (void *)1) return 100;
    if (dt_value_set(v, (void *)2) != DT_OK) return 101;
    if (dt_value_get(v, &p) != DT_OK || p != (void *)2) return 102;
    if (dt_with_lock(v, NULL, NULL) != DT_EINVAL) return 103;
    return 0;
}

static int noop(void *ctx, void **result, dt_error *error) {
    (void)ctx, (void)error;
    *result = NULL;
    return 0;
}

static void test_kinds(void) {
    dt_lock *l;
    dt_rlock *r;
    dt_cond *c;
    dt_value *v;
    dt_waiter *w;
    dt_caller *k;
    int locked = -1;
    long count = -1;
    void *p = NULL;
    CHECK_ST(dt_lock_new(&l), DT_OK);
    CHECK_ST(dt_rlock_new(&r), DT_OK);
    CHECK_ST(dt_cond_new(l, &c), DT_OK);
    CHECK_ST(dt_value_new((void *)1, NULL, &v), DT_OK);

    run_on(l, l, "dt_lock");
    run_on(r, r, "dt_rlock");
    run_on(c, l, "dt_cond"); /* the condition's lock is l */
    run_on(v, v, "dt_value");
    CHECK_ST(dt_lock_locked(l, &locked), DT_OK);
    CHECK_EQ(locked, 0);
    CHECK_ST(dt_rlock_count(r, &count), DT_OK);
    CHECK_EQ(count, 0);
    CHECK_ST(dt_value_release(v), DT_ENOTLOCKED);

    CHECK_ST(dt_with_lock(v, reenter, v), DT_OK);
    CHECK_ST(dt_value_get(v, &p), DT_OK);
    CHECK(p == (void *)2);
    CHECK_ST(dt_value_release(v), DT_ENOTLOCKED); /* fully released */

    CHECK_ST(dt_with_lock(l, sneaky_release, l), DT_ENOTLOCKED);
    CHECK_EQ(dt_with_lock(l, sneaky_release_fail, l), 5);
    CHECK_ST(dt_lock_locked(l, &locked), DT_OK);
    CHECK_EQ(locked, 0);

    /* Misuse. */
    CHECK_ST(dt_with_lock(NULL, reenter, NULL), DT_EINVAL);
    CHECK_ST(dt_with_lock(l, NULL, NULL), DT_EINVAL);
    /* Handles that are no lock: a waiter and a caller. */
    CHECK_ST(dt_async_split(noop, NULL, NULL, &w, &k), DT_OK);
    CHECK_ST(dt_with_lock(w, reenter, NULL), DT_EBADHANDLE);
    CHECK_ST(dt_with_lock(k, reenter, NULL), DT_EBADHANDLE);
    CHECK_ST(dt_waiter_free(w), DT_OK);
    CHECK_ST(dt_caller_free(k), DT_OK);
    CHECK_ST(dt_value_free(v), DT_OK);
    CHECK_ST(dt_cond_free(c), DT_OK);
    CHECK_ST(dt_rlock_free(r), DT_OK);
    CHECK_ST(dt_lock_free(l), DT_OK);
}

int main(void) {
    th_begin("with_lock");
    test_kinds();
    return th_end();
}
