/*
 * fuzz_api.c: libFuzzer target for the C API.
 *
 * The input is split in two streams, each decoded by its own thread into a
 * sequence of dt_ calls on a small shared pool of handles (2 locks, 2
 * reentrant locks, 3 conditions, 2 Values, 2 async splits), misuse included:
 * NULL and wrong-kind handles, NULL out-pointers, releases by non-owners,
 * callers run twice, bad timeouts (negative, NaN, -inf), huge counts. Every
 * status must be one the header documents for that call and those arguments,
 * else the target aborts. At the end both threads release what they hold,
 * everything is freed once, and reference counts, result and error payloads
 * must balance (leaks are LSan's: build with -fsanitize=fuzzer,address).
 *
 * Never hangs: waits use tiny timeouts, and a call that may block without
 * one is made only by a thread that holds no lock (or holds that very lock,
 * reentrantly), so that two threads never wait on each other. Handles are
 * never freed while the other thread may use them.
 */
#define _POSIX_C_SOURCE 200809L

#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dup_threading.h"

#define BIT(s) (1u << (unsigned)(s))
#define WAITED (BIT(DT_OK) | BIT(DT_ETIMEDOUT))
#define NOT_MINE (BIT(DT_ENOTOWNER) | BIT(DT_ENOTLOCKED))
enum { NL = 2, NR = 2, NC = 3, NV = 2, NS = 2, NOBJ = 4 };
enum { VALID, NUL, WRONG }; /* how a handle argument is chosen */

static dt_lock *L[NL];
static dt_rlock *R[NR];
static dt_cond *C[NC]; /* C[0] on L[0], C[1] on R[0], C[2] on a lock of its own */
static dt_value *V[NV]; /* V[1] has reference-counting hooks over g_refs */
static dt_waiter *W[NS];
static dt_caller *K[NS];
static long g_refs[NOBJ], g_results_freed, g_errors_freed, g_runs;
static long g_status[14]; /* calls per status returned (13: a callback's own) */
static int g_result_token[NS], g_error_token[NS];

#define ADD(p, n) __atomic_add_fetch((p), (n), __ATOMIC_RELAXED)

/* A status the header does not allow here: report it and crash, so that
 * libFuzzer keeps the input. */
static int expect(int st, unsigned allowed, int extra, const char *call, int line) {
    ADD(&g_status[st >= 0 && st <= DT_EABANDONED ? st : 13], 1);
    if (st == extra || (st >= 0 && st < 32 && (allowed & BIT(st)))) return st;
    fprintf(stderr, "fuzz_api.c:%d: %s returned %d (%s); allowed mask 0x%x\n", line, call, st, dt_strerror(st),
            allowed);
    abort();
}
#define EXPECT(call, allowed) expect((call), (allowed), INT_MIN, #call, __LINE__)
#define EXPECT_OR(call, allowed, extra) expect((call), (allowed), (extra), #call, __LINE__)
#define REQUIRE(cond)                                                              \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "fuzz_api.c:%d: invariant failed: %s\n", __LINE__, #cond); \
            abort();                                                               \
        }                                                                          \
    } while (0)
/* The status for a handle chosen as `k`, when it is valid: `valid`. */
#define HANDLE(k, valid) ((k) == NUL ? BIT(DT_EINVAL) : (k) == WRONG ? BIT(DT_EBADHANDLE) : (valid))

static int objects[NOBJ]; /* what V[1] stores; g_refs counts the references taken */
static void retain(void *ctx, void *ref) { (void)ctx; ADD(&g_refs[(int *)ref - objects], 1); }
static void release(void *ctx, void *ref) { (void)ctx; ADD(&g_refs[(int *)ref - objects], -1); }
static void free_result(void *r) { (void)r; ADD(&g_results_freed, 1); }
static void free_data(void *d) { (void)d; ADD(&g_errors_freed, 1); }

/* One thread's stream and what it holds. Its beliefs may only err on the
 * side of "held" (another thread may release a dt_lock for it). */
typedef struct actor {
    const uint8_t *p, *end;
    int lock_held[NL];
    long value_depth[NV], cond2_depth, saved[NR];
} actor;

static uint8_t next(actor *a) { return a->p < a->end ? *a->p++ : 0; }

static long rcount(int i) {
    long n = -1;
    EXPECT(dt_rlock_count(R[i], &n), BIT(DT_OK));
    return n;
}

/* Locks held, not counting the condition `except`'s lock (-1: none). */
static int holds(actor *a, int except) {
    int n = 0, i;
    for (i = 0; i < NL; i++) n += a->lock_held[i] && !(except == 0 && i == 0);
    for (i = 0; i < NR; i++) n += rcount(i) > 0 && !(except == 1 && i == 0);
    for (i = 0; i < NV; i++) n += a->value_depth[i] > 0;
    return n + (a->cond2_depth > 0 && except != 2);
}

static int pick(actor *a, int n, int *idx) {
    uint8_t b = next(a);
    *idx = b % n;
    return b % 16 == 14 ? NUL : b % 16 == 15 ? WRONG : VALID;
}

/* A timeout: tiny, zero, -0.0, or invalid (*bad). */
static double timeout_of(actor *a, int *bad) {
    static const double k[8] = {0.0, 1e-5, 1e-4, -0.0, -2.0, 0.0 /* NaN */, -1e-9, 0.0 /* -inf */};
    int b = next(a) % 8;
    *bad = b >= 4;
    return b == 5 ? NAN : b == 7 ? -INFINITY : k[b];
}

static int intr_yes(void *ctx) { (void)ctx; return 1; }
static int intr_no(void *ctx) { (void)ctx; return 0; }
static dt_interrupt_fn intr_of(actor *a) { int b = next(a) % 3; return b == 0 ? NULL : b == 1 ? intr_yes : intr_no; }
static int pred(void *ctx) { return *(int *)ctx; }

/* What a transform callback gets: its mode, and the Value it runs on. */
typedef struct transform_ctx {
    int mode;
    dt_value *v;
} transform_ctx;

static int transform_cb(void *ctx, void *current, void **new_value) {
    const transform_ctx *t = (const transform_ctx *)ctx;
    int mode = t->mode;
    (void)current;
    if (mode == 1) return 77; /* refused: the Value stays as it is */
    if (mode == 3) {
        /* The transform's own level cannot be released from inside it; a
         * level the callback takes itself can. */
        EXPECT(dt_value_release(t->v), BIT(DT_ENOTOWNER));
        EXPECT(dt_value_acquire(t->v), BIT(DT_OK));
        EXPECT(dt_value_release(t->v), BIT(DT_OK));
        EXPECT(dt_value_release(t->v), BIT(DT_ENOTOWNER));
    }
    *new_value = mode == 0 ? NULL : &objects[mode % NOBJ];
    return 0;
}
static int body(void *ctx) { return *(int *)ctx; }
static int fn(void *ctx, void **result, dt_error *error) {
    int i = *(int *)ctx;
    ADD(&g_runs, 1);
    if (i == 0) {
        *result = &g_result_token[0];
        return 0;
    }
    error->code = 5;
    error->data = &g_error_token[i];
    error->free_data = free_data;
    return 1;
}
static int split_ids[NS] = {0, 1};

static void *value_ref(actor *a, int i) {
    uint8_t b = next(a);
    if (i == 0) return (void *)(uintptr_t)b;
    return b % 5 == 4 ? NULL : &objects[b % 4];
}

/* Runs one call decoded from the stream. */
static void step(actor *a) {
    int op = next(a) % 16, k, i, bad, st, mode;
    long before, n;
    double t;
    dt_interrupt_fn in;
    void *out = NULL;
    dt_error err;
    switch (op) {
    case 0: { /* lock: try, timed, or (holding nothing) a blocking acquire */
        int how = next(a) % 3;
        dt_lock *l;
        k = pick(a, NL, &i);
        l = k == VALID ? L[i] : k == NUL ? NULL : (dt_lock *)(void *)V[i];
        if (how == 0) st = EXPECT(dt_lock_try_acquire(l), HANDLE(k, BIT(DT_OK) | BIT(DT_EBUSY)));
        else if (how == 1) {
            t = timeout_of(a, &bad);
            in = intr_of(a);
            st = EXPECT(dt_lock_acquire_timed(l, t, in, NULL),
                        HANDLE(k, bad ? BIT(DT_EINVAL) : WAITED | (in ? BIT(DT_EINTERRUPTED) : 0)));
        } else if (k != VALID || !holds(a, -1)) st = EXPECT(dt_lock_acquire(l), HANDLE(k, BIT(DT_OK)));
        else break;
        if (k == VALID && st == DT_OK) a->lock_held[i] = 1;
        break;
    }
    case 1: { /* lock: release, release from any thread, locked */
        int how = next(a) % 3, locked;
        dt_lock *l;
        k = pick(a, NL, &i);
        l = k == VALID ? L[i] : k == NUL ? NULL : (dt_lock *)(void *)R[i];
        if (how == 0) st = EXPECT(dt_lock_release(l), HANDLE(k, BIT(DT_OK) | NOT_MINE));
        else if (how == 1) st = EXPECT(dt_lock_release_any_thread(l), HANDLE(k, BIT(DT_OK) | BIT(DT_ENOTLOCKED)));
        else {
            int null_out = next(a) % 4 == 0;
            EXPECT(dt_lock_locked(l, null_out ? NULL : &locked),
                   k == WRONG ? BIT(DT_EBADHANDLE) : null_out ? BIT(DT_EINVAL) : HANDLE(k, BIT(DT_OK)));
            break;
        }
        if (k == VALID) a->lock_held[i] = 0; /* whatever happened, it is not ours now */
        break;
    }
    case 2: { /* rlock acquire: try, timed, or blocking (reentrant, or holding nothing) */
        int how = next(a) % 3;
        dt_rlock *r;
        k = pick(a, NR, &i);
        r = k == VALID ? R[i] : k == NUL ? NULL : (dt_rlock *)(void *)L[i];
        before = k == VALID ? rcount(i) : 0;
        if (how == 0) st = EXPECT(dt_rlock_try_acquire(r), HANDLE(k, before ? BIT(DT_OK) : BIT(DT_OK) | BIT(DT_EBUSY)));
        else if (how == 1) {
            t = timeout_of(a, &bad);
            in = intr_of(a);
            st = EXPECT(dt_rlock_acquire_timed(r, t, in, NULL),
                        HANDLE(k, bad ? BIT(DT_EINVAL) : before ? BIT(DT_OK) : WAITED | (in ? BIT(DT_EINTERRUPTED) : 0)));
        } else if (k != VALID || before || !holds(a, -1)) st = EXPECT(dt_rlock_acquire(r), HANDLE(k, BIT(DT_OK)));
        else break;
        if (k == VALID) REQUIRE(rcount(i) == (before == LONG_MAX ? before : before + (st == DT_OK))); /* saturates */
        break;
    }
    case 3: { /* rlock release, release_save, acquire_restore */
        int how = next(a) % 3;
        dt_rlock *r;
        k = pick(a, NR, &i);
        r = k == VALID ? R[i] : k == NUL ? NULL : (dt_rlock *)(void *)C[i];
        before = k == VALID ? rcount(i) : 0;
        if (how == 0) {
            st = EXPECT(dt_rlock_release(r), HANDLE(k, before ? BIT(DT_OK) : NOT_MINE));
        } else if (how == 1) {
            n = -7;
            st = EXPECT(dt_rlock_release_save(r, &n), HANDLE(k, before ? BIT(DT_OK) : NOT_MINE));
            if (k == VALID && st == DT_OK) a->saved[i] = n;
            if (k == VALID) REQUIRE(st == DT_OK ? n == before : n == -7);
        } else {
            static const long counts[4] = {1, 0, -1, LONG_MAX};
            n = next(a) % 5 == 4 ? a->saved[i] : counts[next(a) % 4];
            if (k == VALID && n >= 1 && !before && holds(a, -1)) break; /* it would block */
            st = EXPECT(dt_rlock_acquire_restore(r, n),
                        n < 1 ? BIT(DT_EINVAL) | HANDLE(k, 0) : HANDLE(k, before ? BIT(DT_EBUSY) : BIT(DT_OK)));
            if (k == VALID && st == DT_OK) REQUIRE(rcount(i) == n);
        }
        break;
    }
    case 4: { /* rlock queries, NULL out-pointers included */
        unsigned long owner;
        int locked;
        k = pick(a, NR, &i);
        n = next(a) % 4;
        EXPECT(dt_rlock_owner(k == VALID ? R[i] : NULL, n == 1 ? NULL : &owner, n == 2 ? NULL : &before),
               n == 1 || n == 2 || k != VALID ? BIT(DT_EINVAL) : BIT(DT_OK));
        EXPECT(dt_rlock_locked(k == VALID ? R[i] : NULL, n == 3 ? NULL : &locked),
               n == 3 || k != VALID ? BIT(DT_EINVAL) : BIT(DT_OK));
        break;
    }
    case 5: { /* condition acquire / release */
        int release = next(a) % 2, mine;
        dt_cond *c;
        k = pick(a, NC, &i);
        c = k == VALID ? C[i] : k == NUL ? NULL : (dt_cond *)(void *)V[i % NV];
        mine = i == 0 ? a->lock_held[0] : i == 1 ? rcount(0) > 0 : a->cond2_depth > 0;
        if (release) {
            st = EXPECT(dt_cond_release(c), HANDLE(k, BIT(DT_OK) | NOT_MINE));
            if (k == VALID && i == 0) a->lock_held[0] = 0;
            if (k == VALID && i > 0) REQUIRE((st == DT_OK) == mine); /* exact for reentrant locks */
            if (k == VALID && i == 2 && st == DT_OK) a->cond2_depth--;
        } else if (k != VALID || (i > 0 && mine) || !holds(a, -1)) {
            st = EXPECT(dt_cond_acquire(c), HANDLE(k, BIT(DT_OK)));
            if (k == VALID && i == 0) a->lock_held[0] = 1;
            if (k == VALID && i == 2) a->cond2_depth++;
        }
        break;
    }
    case 6: { /* condition waits, with or without the lock */
        int use_pred = next(a) % 2, pv = (int)(next(a) % 3) - 1, depth_ok, mine;
        dt_cond *c;
        k = pick(a, NC, &i);
        c = k == VALID ? C[i] : k == NUL ? NULL : (dt_cond *)(void *)L[i % NL];
        mine = i == 0 ? a->lock_held[0] : i == 1 ? rcount(0) > 0 : a->cond2_depth > 0;
        if (k == VALID && mine && holds(a, i)) break; /* the wait would retake its lock holding others */
        t = timeout_of(a, &bad);
        in = intr_of(a);
        before = i == 1 ? rcount(0) : 0;
        if (use_pred) {
            if (pv == -1) pv = -5; /* the predicate's own abort status */
            st = EXPECT_OR(dt_interruptible_wait(c, next(a) % 8 ? pred : NULL, &pv, in, NULL, t),
                           BIT(DT_EINVAL) | HANDLE(k, bad ? BIT(DT_EINVAL)
                                                          : WAITED | BIT(DT_EINTERRUPTED) | BIT(DT_ENOTOWNER)),
                           -5);
        } else {
            st = EXPECT(dt_cond_wait(c, t, in, NULL),
                        HANDLE(k, bad ? BIT(DT_EINVAL) : WAITED | BIT(DT_EINTERRUPTED) | BIT(DT_ENOTOWNER)));
        }
        if (k != VALID || st == DT_EINVAL) break;
        depth_ok = st == DT_ENOTOWNER ? !(i > 0 && mine) : i != 1 || rcount(0) == before;
        REQUIRE(depth_ok); /* held again at its depth, or refused only when not ours */
        if (i == 0) a->lock_held[0] = st != DT_ENOTOWNER;
        break;
    }
    case 7: { /* notify, notify_all, interrupt; huge and negative counts */
        static const long counts[6] = {0, 1, 2, LONG_MAX, -1, LONG_MIN};
        dt_cond *c;
        int how = next(a) % 3;
        k = pick(a, NC, &i);
        c = k == VALID ? C[i] : k == NUL ? NULL : (dt_cond *)(void *)W[i % NS];
        n = counts[next(a) % 6];
        if (how == 0)
            EXPECT(dt_cond_notify(c, n), n < 0 ? BIT(DT_EINVAL) | HANDLE(k, BIT(DT_ENOTOWNER))
                                               : HANDLE(k, BIT(DT_OK) | BIT(DT_ENOTOWNER)));
        else if (how == 1) EXPECT(dt_cond_notify_all(c), HANDLE(k, BIT(DT_OK) | BIT(DT_ENOTOWNER)));
        else EXPECT(dt_cond_interrupt(c), HANDLE(k, BIT(DT_OK)));
        break;
    }
    case 8: { /* Value get / set / transform: they take the lock without a timeout */
        int how = next(a) % 3;
        dt_value *v;
        k = pick(a, NV, &i);
        v = k == VALID ? V[i] : k == NUL ? NULL : (dt_value *)(void *)R[i];
        if (k == VALID && !a->value_depth[i] && holds(a, -1)) break;
        if (how == 0) {
            int null_out = next(a) % 8 == 0;
            st = EXPECT(dt_value_get(v, null_out ? NULL : &out), null_out ? BIT(DT_EINVAL) : HANDLE(k, BIT(DT_OK)));
            if (st == DT_OK && i == 1 && out) release(NULL, out); /* a new reference for us */
        } else if (how == 1) {
            EXPECT(dt_value_set(v, value_ref(a, i)), HANDLE(k, BIT(DT_OK)));
        } else {
            int null_fn = next(a) % 8 == 0, want = next(a) % 2;
            transform_ctx tc;
            mode = next(a) % 4;
            tc.mode = mode;
            tc.v = v;
            out = NULL;
            st = EXPECT_OR(dt_value_transform(v, null_fn ? NULL : transform_cb, &tc, want ? &out : NULL),
                           null_fn ? BIT(DT_EINVAL) : HANDLE(k, mode == 1 ? 0 : BIT(DT_OK)), mode == 1 && k == VALID ? 77 : INT_MIN);
            if (st == DT_OK && i == 1 && out) release(NULL, out);
        }
        break;
    }
    case 9: { /* Value exclusive access */
        int how = next(a) % 4;
        dt_value *v;
        k = pick(a, NV, &i);
        v = k == VALID ? V[i] : k == NUL ? NULL : (dt_value *)(void *)K[i];
        before = k == VALID ? a->value_depth[i] : 0;
        if (how == 0) st = EXPECT(dt_value_try_acquire(v), HANDLE(k, before ? BIT(DT_OK) : BIT(DT_OK) | BIT(DT_EBUSY)));
        else if (how == 1) {
            t = timeout_of(a, &bad);
            in = intr_of(a);
            st = EXPECT(dt_value_acquire_timed(v, t, in, NULL),
                        HANDLE(k, bad ? BIT(DT_EINVAL) : before ? BIT(DT_OK) : WAITED | (in ? BIT(DT_EINTERRUPTED) : 0)));
        } else if (how == 2) {
            st = EXPECT(dt_value_release(v), HANDLE(k, before ? BIT(DT_OK) : NOT_MINE));
            if (k == VALID && st == DT_OK) a->value_depth[i]--;
            break;
        } else if (k != VALID || before || !holds(a, -1)) st = EXPECT(dt_value_acquire(v), HANDLE(k, BIT(DT_OK)));
        else break;
        if (k == VALID && st == DT_OK) a->value_depth[i]++;
        break;
    }
    case 10: { /* dt_with_lock on any kind of handle; the body's status comes back */
        static const int rets[3] = {0, 5, 77};
        void *h;
        int kind = next(a) % 6, ret = rets[next(a) % 3], may_block;
        i = next(a) % 2;
        h = kind == 0 ? (void *)L[i] : kind == 1 ? (void *)R[i] : kind == 2 ? (void *)C[i + 1]
          : kind == 3 ? (void *)V[i] : kind == 4 ? (void *)W[i] : NULL;
        may_block = kind == 0 || (kind == 1 && !rcount(i)) || (kind == 2 && !(i == 0 ? rcount(0) : a->cond2_depth))
                    || (kind == 3 && !a->value_depth[i]);
        if (may_block && holds(a, -1)) break; /* also: a dt_lock we hold is not reentrant */
        /* A dt_lock may be released under the body by the other thread's
         * dt_lock_release_any_thread: then the release's status comes back. */
        EXPECT_OR(dt_with_lock(h, next(a) % 8 ? body : NULL, &ret),
                  kind == 5 ? BIT(DT_EINVAL) : kind == 4 ? BIT(DT_EBADHANDLE) | BIT(DT_EINVAL)
                  : kind == 0 && ret == 0 ? BIT(DT_EINVAL) | NOT_MINE : BIT(DT_EINVAL),
                  kind < 4 ? ret : INT_MIN);
        break;
    }
    case 11: { /* run a shared caller (again: DT_EALREADY), maybe with a second waiter */
        dt_waiter *w2 = NULL;
        dt_caller *c;
        k = pick(a, NS, &i);
        c = k == VALID ? K[i] : k == NUL ? NULL : (dt_caller *)(void *)W[i];
        st = EXPECT(dt_caller_run(c, next(a) % 2 ? &w2 : NULL),
                    HANDLE(k, BIT(DT_OK) | BIT(DT_EFAILED) | BIT(DT_EALREADY)));
        if (k == VALID && st != DT_EALREADY) REQUIRE(st == (i == 0 ? DT_OK : DT_EFAILED));
        if (w2) {
            REQUIRE(st == DT_OK || st == DT_EFAILED);
            EXPECT(dt_waiter_wait(w2, 0.0, NULL, NULL, &out, &err), BIT(st));
            EXPECT(dt_waiter_free(w2), BIT(DT_OK));
        }
        break;
    }
    case 12: { /* wait on a shared waiter, tiny timeouts */
        int done;
        dt_waiter *w;
        k = pick(a, NS, &i);
        w = k == VALID ? W[i] : k == NUL ? NULL : (dt_waiter *)(void *)K[i];
        t = timeout_of(a, &bad);
        in = intr_of(a);
        memset(&err, 0, sizeof err);
        st = EXPECT(dt_waiter_wait(w, t, in, NULL, &out, &err),
                    HANDLE(k, bad ? BIT(DT_EINVAL)
                                  : BIT(DT_ETIMEDOUT) | BIT(i == 0 ? DT_OK : DT_EFAILED) | (in ? BIT(DT_EINTERRUPTED) : 0)));
        if (k == VALID && st == DT_EFAILED) REQUIRE(err.code == 5 && err.data == &g_error_token[i]);
        EXPECT(dt_waiter_done(w, next(a) % 4 ? &done : NULL), HANDLE(k, BIT(DT_OK)) | BIT(DT_EINVAL));
        break;
    }
    case 13: { /* a private split: run, abandon, run twice; free in either order */
        dt_waiter *w;
        dt_caller *c;
        int id = next(a) % 2, how = next(a) % 4;
        EXPECT(dt_async_split(how == 3 ? NULL : fn, &split_ids[id], free_result, &w, &c),
               how == 3 ? BIT(DT_EINVAL) : BIT(DT_OK));
        if (how == 3) break;
        if (how == 0) EXPECT(dt_caller_free(c), BIT(DT_OK));
        else EXPECT(dt_caller_run(c, NULL), BIT(id == 0 ? DT_OK : DT_EFAILED));
        if (how == 2) EXPECT(dt_caller_run(c, NULL), BIT(DT_EALREADY));
        EXPECT(dt_waiter_wait(w, 0.0, NULL, NULL, &out, &err),
               BIT(how == 0 ? DT_EABANDONED : id == 0 ? DT_OK : DT_EFAILED));
        if (how != 0) EXPECT(dt_caller_free(c), BIT(DT_OK));
        EXPECT(dt_waiter_free(w), BIT(DT_OK));
        break;
    }
    case 14: { /* private handles: create and free (refused while held); creation misuse */
        dt_lock *l;
        dt_cond *c;
        dt_value *v;
        dt_value_hooks hooks = {retain, release, NULL};
        dt_foreign_lock f = {NULL, NULL, NULL, NULL};
        int idx = next(a) % NOBJ;
        EXPECT(dt_lock_new(NULL), BIT(DT_EINVAL));
        EXPECT(dt_lock_new(&l), BIT(DT_OK));
        if (EXPECT(dt_cond_new(next(a) % 2 ? (void *)l : (void *)V[0], &c), BIT(DT_OK) | BIT(DT_EBADHANDLE)) == DT_OK) {
            /* Held, through either handle: neither may be freed. */
            EXPECT(dt_cond_acquire(c), BIT(DT_OK));
            EXPECT(dt_cond_free(c), BIT(DT_EBUSY));
            EXPECT(dt_lock_free(l), BIT(DT_EBUSY));
            EXPECT(dt_lock_release(l), BIT(DT_OK));
            EXPECT(dt_cond_free(c), BIT(DT_OK));
        }
        EXPECT(dt_cond_new_foreign(&f, &c), BIT(DT_EINVAL));
        EXPECT(dt_value_new(&objects[idx], &hooks, &v), BIT(DT_OK));
        EXPECT(dt_value_acquire(v), BIT(DT_OK));
        EXPECT(dt_value_free(v), BIT(DT_EBUSY));
        EXPECT(dt_value_release(v), BIT(DT_OK));
        EXPECT(dt_value_free(v), BIT(DT_OK)); /* releases its reference */
        EXPECT(dt_lock_free(l), BIT(DT_OK));
        break;
    }
    case 15: { /* the rest: strerror, threading, version, foreign with_lock misuse */
        int code = (int)(int8_t)next(a);
        char msg[8];
        int with_msg = next(a) % 2;
        dt_foreign_lock f = {NULL, NULL, NULL, NULL};
        REQUIRE(dt_strerror(code) != NULL);
        REQUIRE(dt_version() == DT_VERSION_NUMBER);
        EXPECT(dt_require_threading(NULL, with_msg ? msg : NULL, sizeof msg), BIT(with_msg ? DT_OK : DT_EINVAL));
        EXPECT(dt_with_foreign_lock(next(a) % 2 ? &f : NULL, body, &code), BIT(DT_EINVAL));
        break;
    }
    }
}

/* Releases whatever the thread still holds, so the handles can be freed. */
static void release_all(actor *a) {
    int i;
    long n;
    for (i = 0; i < NL; i++)
        if (a->lock_held[i]) EXPECT(dt_lock_release(L[i]), BIT(DT_OK) | NOT_MINE);
    for (i = 0; i < NR; i++)
        if (rcount(i) > 0) EXPECT(dt_rlock_release_save(R[i], &n), BIT(DT_OK));
    for (i = 0; i < NV; i++)
        while (a->value_depth[i]-- > 0) EXPECT(dt_value_release(V[i]), BIT(DT_OK));
    while (a->cond2_depth-- > 0) EXPECT(dt_cond_release(C[2]), BIT(DT_OK));
}

static void *run(void *arg) {
    actor *a = (actor *)arg;
    while (a->p < a->end) step(a);
    release_all(a);
    return NULL;
}

/* At exit: how many calls returned each status, for scripts/reliability.sh. */
static void print_stats(void) {
    int i;
    fprintf(stderr, "FUZZ_STATS {\"status_counts\": [");
    for (i = 0; i < 14; i++) fprintf(stderr, "%s%ld", i ? ", " : "", g_status[i]);
    fprintf(stderr, "]}\n");
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    atexit(print_stats);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dt_value_hooks hooks = {retain, release, NULL};
    actor a[2];
    pthread_t t;
    int i, locked, ran[NS];
    long runs0 = g_runs, results0 = g_results_freed, errors0 = g_errors_freed;
    void *out;
    dt_error err;
    for (i = 0; i < NL; i++) EXPECT(dt_lock_new(&L[i]), BIT(DT_OK));
    for (i = 0; i < NR; i++) EXPECT(dt_rlock_new(&R[i]), BIT(DT_OK));
    EXPECT(dt_cond_new(L[0], &C[0]), BIT(DT_OK));
    EXPECT(dt_cond_new(R[0], &C[1]), BIT(DT_OK));
    EXPECT(dt_cond_new(NULL, &C[2]), BIT(DT_OK));
    EXPECT(dt_value_new(NULL, NULL, &V[0]), BIT(DT_OK));
    EXPECT(dt_value_new(&objects[0], &hooks, &V[1]), BIT(DT_OK));
    for (i = 0; i < NS; i++) EXPECT(dt_async_split(fn, &split_ids[i], free_result, &W[i], &K[i]), BIT(DT_OK));
    memset(a, 0, sizeof a);
    a[0].p = data;
    a[0].end = a[1].p = data + size / 2;
    a[1].end = data + size;
    if (pthread_create(&t, NULL, run, &a[1]) != 0) abort();
    run(&a[0]);
    pthread_join(t, NULL);
    /* Nothing is left held; every handle frees once. */
    for (i = 0; i < NL; i++) {
        EXPECT(dt_lock_locked(L[i], &locked), BIT(DT_OK));
        REQUIRE(!locked);
    }
    for (i = 0; i < NS; i++) {
        int done = 0;
        EXPECT(dt_waiter_done(W[i], &done), BIT(DT_OK));
        ran[i] = done;
        EXPECT(dt_caller_free(K[i]), BIT(DT_OK));
        EXPECT(dt_waiter_wait(W[i], 0.0, NULL, NULL, &out, &err),
               BIT(!ran[i] ? DT_EABANDONED : i == 0 ? DT_OK : DT_EFAILED));
        EXPECT(dt_waiter_free(W[i]), BIT(DT_OK));
    }
    for (i = 0; i < NC; i++) EXPECT(dt_cond_free(C[i]), BIT(DT_OK));
    for (i = 0; i < NV; i++) EXPECT(dt_value_free(V[i]), BIT(DT_OK));
    for (i = 0; i < NR; i++) EXPECT(dt_rlock_free(R[i]), BIT(DT_OK));
    for (i = 0; i < NL; i++) EXPECT(dt_lock_free(L[i]), BIT(DT_OK));
    /* Payloads freed exactly once per run; the Value's references all given back. */
    REQUIRE(g_results_freed - results0 + g_errors_freed - errors0 == g_runs - runs0);
    for (i = 0; i < NOBJ; i++) REQUIRE(g_refs[i] == 0);
    return 0;
}
