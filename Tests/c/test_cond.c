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
        /* Neither wait returns before the notify: dt_cond_wait has no
         * spurious wake-ups, and an interrupt the callback waves on is not
         * one either. */
        CHECK(w.woke_ms >= t0);
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

/* ---- Exact semantics: which waits a notify chooses, what an interrupt may do */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER; /* guards what a qwaiter reports */

/* A waiter that reports its wait: started on a thread by qw_start. */
typedef struct qwaiter {
    dt_cond *c;
    double timeout;
    int use_pred;          /* dt_interruptible_wait on *flag instead of dt_cond_wait */
    int *flag;             /* guarded by the condition's lock */
    dt_interrupt_fn intr;
    void *intr_ctx;
    int announced;         /* guarded by the condition's lock */
    int done, st, held_after;      /* guarded by g_mu */
    double started_ms, returned_ms; /* guarded by g_mu */
} qwaiter;

static void qwait(void *arg) {
    qwaiter *w = (qwaiter *)arg;
    int st, held;
    double t0, t1;
    CHECK_ST(dt_cond_acquire(w->c), DT_OK);
    w->announced = 1;
    t0 = th_now_ms();
    st = w->use_pred ? dt_interruptible_wait(w->c, flag_set, w->flag, w->intr, w->intr_ctx, w->timeout)
                     : dt_cond_wait(w->c, w->timeout, w->intr, w->intr_ctx);
    t1 = th_now_ms();
    held = dt_cond_release(w->c) == DT_OK;
    pthread_mutex_lock(&g_mu);
    w->st = st;
    w->held_after = held;
    w->started_ms = t0;
    w->returned_ms = t1;
    w->done = 1;
    pthread_mutex_unlock(&g_mu);
}

static int qw_announced(void *arg) {
    qwaiter *w = (qwaiter *)arg;
    int a;
    dt_cond_acquire(w->c);
    a = w->announced;
    dt_cond_release(w->c);
    return a;
}

/* Starts a waiter and returns once it is queued: it announced itself under
 * the lock, and we could take the lock after that, so its wait has released
 * the lock (a wait queues before it releases). Waiters started one after
 * another therefore queue in that order. */
static void qw_start(th_thread *t, qwaiter *w, dt_cond *c, double timeout, dt_interrupt_fn intr, void *ctx) {
    memset(w, 0, sizeof *w);
    w->c = c;
    w->timeout = timeout;
    w->intr = intr;
    w->intr_ctx = ctx;
    th_start(t, qwait, w);
    CHECK(th_wait_until(qw_announced, w, 10));
}

static int qw_done(qwaiter *w) {
    int d;
    pthread_mutex_lock(&g_mu);
    d = w->done;
    pthread_mutex_unlock(&g_mu);
    return d;
}

typedef struct qset {
    qwaiter *w;
    int n, want;
} qset;

static int qw_count_done(qwaiter *w, int n) {
    int i, k = 0;
    for (i = 0; i < n; i++) k += qw_done(&w[i]);
    return k;
}
static int qset_reached(void *arg) {
    qset *q = (qset *)arg;
    return qw_count_done(q->w, q->n) >= q->want;
}

static void notify_n(dt_cond *c, long n) {
    CHECK_ST(dt_cond_acquire(c), DT_OK);
    CHECK_ST(n < 0 ? dt_cond_notify_all(c) : dt_cond_notify(c, n), DT_OK);
    CHECK_ST(dt_cond_release(c), DT_OK);
}

/* An interrupt callback that says go on, and counts its calls. */
static int g_consults; /* guarded by g_mu */
static int go_on_counting(void *ctx) {
    (void)ctx;
    pthread_mutex_lock(&g_mu);
    g_consults++;
    pthread_mutex_unlock(&g_mu);
    return 0;
}
static int consults(void) {
    int n;
    pthread_mutex_lock(&g_mu);
    n = g_consults;
    pthread_mutex_unlock(&g_mu);
    return n;
}
typedef struct consults_at_least {
    int n;
} consults_at_least;
static int consults_reached(void *arg) { return consults() >= ((consults_at_least *)arg)->n; }

/* Two threads in dt_cond_wait(1 s); one notify(1) once both are queued: the
 * longest-waiting returns DT_OK at once, the other times out. (Both used to
 * return DT_OK: a notify woke every wait that had not yet timed out.) */
static void test_notify_one_of_two(void) {
    qwaiter w[2];
    th_thread t[2];
    dt_cond *c;
    double timeout = th_slow > 1 ? 5.0 : 1.0, t0;
    int i, ok = 0, timed_out = 0;
    CHECK_ST(dt_cond_new(NULL, &c), DT_OK);
    for (i = 0; i < 2; i++) qw_start(&t[i], &w[i], c, timeout, NULL, NULL);
    t0 = th_now_ms();
    notify_n(c, 1);
    for (i = 0; i < 2; i++) th_join(&t[i], 10 + timeout);
    for (i = 0; i < 2; i++) {
        ok += w[i].st == DT_OK;
        timed_out += w[i].st == DT_ETIMEDOUT;
        CHECK(w[i].held_after);
    }
    CHECK_EQ(ok, 1);
    CHECK_EQ(timed_out, 1);
    CHECK_ST(w[0].st, DT_OK); /* first come, first chosen */
    CHECK(w[0].returned_ms - t0 < 100.0 * th_slow);
    CHECK_ST(w[1].st, DT_ETIMEDOUT);
    CHECK(w[1].returned_ms - w[1].started_ms >= timeout * 1000.0 - 1.0);
    CHECK_ST(dt_cond_free(c), DT_OK);
}

/* notify(3) with 5 queued: exactly the 3 longest-waiting return DT_OK; no
 * fourth follows, neither in the next 200 ms nor when dt_cond_interrupt
 * disturbs the other two (their callbacks say go on); notify_all then
 * releases those two. */
static void test_notify_n_exact(void) {
    enum { N = 5 };
    qwaiter w[N];
    th_thread t[N];
    qset q;
    consults_at_least want;
    dt_cond *c;
    int i;
    CHECK_ST(dt_cond_new(NULL, &c), DT_OK);
    for (i = 0; i < N; i++) qw_start(&t[i], &w[i], c, 30.0, go_on_counting, NULL);
    notify_n(c, 3);
    q.w = w;
    q.n = N;
    q.want = 3;
    CHECK(th_wait_until(qset_reached, &q, 10));
    for (i = 0; i < 3; i++) {
        CHECK(qw_done(&w[i]));
        pthread_mutex_lock(&g_mu);
        CHECK_ST(w[i].st, DT_OK);
        pthread_mutex_unlock(&g_mu);
    }
    th_sleep_ms(200);
    CHECK_EQ(qw_count_done(w, N), 3);
    want.n = consults() + 2;
    CHECK_ST(dt_cond_interrupt(c), DT_OK);
    CHECK(th_wait_until(consults_reached, &want, 10)); /* both were disturbed */
    th_sleep_ms(100);
    CHECK_EQ(qw_count_done(w, N), 3);
    notify_n(c, -1);
    for (i = 0; i < N; i++) {
        th_join(&t[i], 10);
        CHECK_ST(w[i].st, DT_OK);
        CHECK(w[i].held_after);
    }
    CHECK_ST(dt_cond_free(c), DT_OK);
}

/* A notify chooses among the threads waiting when it is called: it is not
 * banked for later waiters, and notify(n) with fewer waiting chooses them all. */
static void test_notify_not_banked(void) {
    qwaiter w[3];
    th_thread t[3];
    dt_cond *c;
    int i;
    CHECK_ST(dt_cond_new(NULL, &c), DT_OK);
    notify_n(c, 5); /* nobody waits */
    for (i = 0; i < 2; i++) qw_start(&t[i], &w[i], c, 10.0, NULL, NULL);
    notify_n(c, 3); /* chooses the two */
    qw_start(&t[2], &w[2], c, 0.1, NULL, NULL);
    for (i = 0; i < 3; i++) th_join(&t[i], 10);
    CHECK_ST(w[0].st, DT_OK);
    CHECK_ST(w[1].st, DT_OK);
    CHECK_ST(w[2].st, DT_ETIMEDOUT);
    CHECK_ST(dt_cond_free(c), DT_OK);
}

/* dt_cond_interrupt with a callback that returns 0: the wait neither returns
 * (it used to return DT_OK, a fake notify) nor loses the notify that
 * follows; with no callback the wait returns DT_EINTERRUPTED. */
static void test_interrupt_go_on(void) {
    int use_pred;
    for (use_pred = 0; use_pred < 2; use_pred++) {
        qwaiter w;
        th_thread t;
        consults_at_least want;
        dt_cond *c;
        int flag = 0;
        double t0;
        CHECK_ST(dt_cond_new(NULL, &c), DT_OK);
        memset(&w, 0, sizeof w);
        w.c = c;
        w.timeout = 30.0;
        w.use_pred = use_pred;
        w.flag = &flag;
        w.intr = go_on_counting;
        th_start(&t, qwait, &w);
        CHECK(th_wait_until(qw_announced, &w, 10));
        want.n = consults() + 1;
        CHECK_ST(dt_cond_interrupt(c), DT_OK);
        CHECK(th_wait_until(consults_reached, &want, 10)); /* it consulted the callback */
        th_sleep_ms(100);
        if (!CHECK(!qw_done(&w)))
            fprintf(stderr, "  %s returned %d after an interrupt its callback waved on\n",
                    use_pred ? "dt_interruptible_wait" : "dt_cond_wait", w.st);
        CHECK_ST(dt_cond_acquire(c), DT_OK);
        flag = 1;
        t0 = th_now_ms();
        CHECK_ST(dt_cond_notify(c, 1), DT_OK);
        CHECK_ST(dt_cond_release(c), DT_OK);
        th_join(&t, 10);
        CHECK_ST(w.st, DT_OK);
        CHECK(w.returned_ms >= t0);
        CHECK(w.returned_ms - t0 < 100.0 * th_slow);
        CHECK(w.held_after);

        /* No callback: the interrupt ends the wait. */
        memset(&w, 0, sizeof w);
        w.c = c;
        w.timeout = 30.0;
        w.use_pred = use_pred;
        w.flag = &flag;
        CHECK_ST(dt_cond_acquire(c), DT_OK);
        flag = 0;
        CHECK_ST(dt_cond_release(c), DT_OK);
        th_start(&t, qwait, &w);
        CHECK(th_wait_until(qw_announced, &w, 10));
        t0 = th_now_ms();
        CHECK_ST(dt_cond_interrupt(c), DT_OK);
        th_join(&t, 10);
        CHECK_ST(w.st, DT_EINTERRUPTED);
        CHECK(w.returned_ms - t0 < 100.0 * th_slow);
        CHECK(w.held_after);
        CHECK_ST(dt_cond_free(c), DT_OK);
    }
}

/* A notify that chose a wait whose callback then stops it is handed on to
 * the longest-waiting other thread (ret 1); a callback that says go on
 * keeps the notify (ret 0). A is held in its callback while the notify
 * chooses it, so the order of events is fixed. */
static void test_notify_while_in_callback(void) {
    int ret;
    for (ret = 1; ret >= 0; ret--) {
        qwaiter a, b;
        th_thread ta, tb;
        th_cb_gate gate;
        dt_cond *c;
        CHECK_ST(dt_cond_new(NULL, &c), DT_OK);
        th_cb_gate_init(&gate, ret);
        gate.armed = 0; /* not before both are queued */
        qw_start(&ta, &a, c, 30.0, th_cb_gate_fn, &gate);
        qw_start(&tb, &b, c, 5.0 * th_slow, go_on_counting, NULL);
        pthread_mutex_lock(&gate.mu);
        gate.armed = 1;
        pthread_mutex_unlock(&gate.mu);
        CHECK_ST(dt_cond_interrupt(c), DT_OK);
        CHECK(th_wait_until(th_cb_gate_inside, &gate, 10));
        notify_n(c, 1); /* A is still queued, first: chosen */
        th_cb_gate_open(&gate);
        th_join(&ta, 10);
        CHECK_ST(a.st, ret ? DT_EINTERRUPTED : DT_OK);
        CHECK(a.held_after);
        if (ret) {
            th_join(&tb, 10 + 5.0);
            if (!CHECK_ST(b.st, DT_OK)) fprintf(stderr, "  the notify A gave up was not handed on to B\n");
        } else {
            th_sleep_ms(100);
            CHECK(!qw_done(&b)); /* one notify, one wait */
            notify_n(c, 1);
            th_join(&tb, 10);
            CHECK_ST(b.st, DT_OK);
        }
        CHECK(b.held_after);
        CHECK_ST(dt_cond_free(c), DT_OK);
        th_cb_gate_destroy(&gate);
    }
}

/* The interrupt callback is consulted 25 ms after every wake-up that sends
 * the wait back to park, not only after the first park (it used to be two
 * seconds after an interrupt the callback waved on). */
typedef struct stamps {
    int n;
    double at[64];
} stamps; /* guarded by g_mu */
static int stamp_go_on(void *ctx) {
    stamps *s = (stamps *)ctx;
    pthread_mutex_lock(&g_mu);
    if (s->n < 64) s->at[s->n] = th_now_ms();
    s->n++;
    pthread_mutex_unlock(&g_mu);
    return 0;
}
typedef struct stamps_want {
    stamps *s;
    int n;
} stamps_want;
static int stamps_reached(void *arg) {
    stamps_want *sw = (stamps_want *)arg;
    int n;
    pthread_mutex_lock(&g_mu);
    n = sw->s->n;
    pthread_mutex_unlock(&g_mu);
    return n >= sw->n;
}

static void test_recheck_after_wakeup(void) {
    qwaiter w;
    th_thread t;
    stamps s;
    stamps_want sw;
    dt_cond *c;
    double ti, next = 0;
    int n0;
    memset(&s, 0, sizeof s);
    CHECK_ST(dt_cond_new(NULL, &c), DT_OK);
    qw_start(&t, &w, c, 30.0, stamp_go_on, &s);
    /* Once its first check (25 ms after it parked) is done, the next
     * scheduled one is 2 s away. */
    sw.s = &s;
    sw.n = 1;
    CHECK(th_wait_until(stamps_reached, &sw, 10));
    th_sleep_ms(50);
    pthread_mutex_lock(&g_mu);
    n0 = s.n;
    pthread_mutex_unlock(&g_mu);
    ti = th_now_ms();
    CHECK_ST(dt_cond_interrupt(c), DT_OK);
    sw.n = n0 + 2; /* the interrupt's call, then the re-armed check */
    if (CHECK(th_wait_until(stamps_reached, &sw, 10)) && n0 + 1 < 64) {
        pthread_mutex_lock(&g_mu);
        next = s.at[n0 + 1];
        pthread_mutex_unlock(&g_mu);
        if (!CHECK(next - ti >= 20.0 && next - ti < 1000.0 * th_slow))
            fprintf(stderr, "  the check after the interrupt came %.1f ms after it\n", next - ti);
    }
    notify_n(c, 1);
    th_join(&t, 10);
    CHECK_ST(w.st, DT_OK);
    CHECK_ST(dt_cond_free(c), DT_OK);
}

/* Timeouts too long to represent saturate: the wait does not end at once. */
static void test_huge_timeouts(void) {
    static const double k[] = {1e300, 1.8446744073e10 + 0.8};
    int i, with_cb;
    for (i = 0; i < 2; i++)
        for (with_cb = 0; with_cb < 2; with_cb++) {
            qwaiter w;
            th_thread t;
            dt_cond *c;
            CHECK_ST(dt_cond_new(NULL, &c), DT_OK);
            qw_start(&t, &w, c, k[i], with_cb ? go_on_counting : NULL, NULL);
            th_sleep_ms(100);
            if (!CHECK(!qw_done(&w))) fprintf(stderr, "  dt_cond_wait(%g s) returned %d at once\n", k[i], w.st);
            notify_n(c, 1);
            th_join(&t, 10);
            CHECK_ST(w.st, DT_OK);
            CHECK_ST(dt_cond_free(c), DT_OK);
        }
}

/* ---- dt_cond_free: refused while the condition is in use ------------------ */

/* A thread that holds `l` (a dt_lock or dt_rlock handle) until told. */
typedef struct holder {
    dt_lock *l;
    dt_rlock *r;
    int holding, let_go; /* guarded by g_mu */
} holder;
static int get_int(int *p) {
    int v;
    pthread_mutex_lock(&g_mu);
    v = *p;
    pthread_mutex_unlock(&g_mu);
    return v;
}
static void set_int(int *p, int v) {
    pthread_mutex_lock(&g_mu);
    *p = v;
    pthread_mutex_unlock(&g_mu);
}
static int holder_holding(void *arg) { return get_int(&((holder *)arg)->holding); }
static int holder_let_go(void *arg) { return get_int(&((holder *)arg)->let_go); }
static void hold(void *arg) {
    holder *h = (holder *)arg;
    CHECK_ST(h->l ? dt_lock_acquire(h->l) : dt_rlock_acquire(h->r), DT_OK);
    set_int(&h->holding, 1);
    CHECK(th_wait_until(holder_let_go, h, 10));
    CHECK_ST(h->l ? dt_lock_release(h->l) : dt_rlock_release(h->r), DT_OK);
}

/* Blocks acquiring `l` / `r` with an interrupt callback (a gate). */
typedef struct acquirer {
    dt_lock *l;
    dt_rlock *r;
    th_cb_gate *gate;
    int st;
} acquirer;
static void acquire_gated(void *arg) {
    acquirer *a = (acquirer *)arg;
    a->st = a->l ? dt_lock_acquire_timed(a->l, 10.0 * th_slow, th_cb_gate_fn, a->gate)
                 : dt_rlock_acquire_timed(a->r, 10.0 * th_slow, th_cb_gate_fn, a->gate);
    if (a->st == DT_OK) CHECK_ST(a->l ? dt_lock_release(a->l) : dt_rlock_release(a->r), DT_OK);
}

/* The condition keeps its lock alive, and may be the last to hold it: its
 * free is refused while that lock is held, by any thread and through any
 * handle, or being acquired (it used to look at waiting threads only). */
static void test_free_while_lock_in_use(void) {
    int kind;
    dt_cond *c;
    CHECK_ST(dt_cond_new(NULL, &c), DT_OK);
    CHECK_ST(dt_cond_acquire(c), DT_OK);
    CHECK_ST(dt_cond_free(c), DT_EBUSY);
    CHECK_ST(dt_cond_release(c), DT_OK);
    CHECK_ST(dt_cond_free(c), DT_OK);
    for (kind = 0; kind < 2; kind++) {
        dt_lock *l = NULL;
        dt_rlock *r = NULL;
        holder h;
        acquirer a;
        th_cb_gate gate;
        th_thread t;
        int locked = -1;
        if (kind == 0) CHECK_ST(dt_lock_new(&l), DT_OK);
        else CHECK_ST(dt_rlock_new(&r), DT_OK);
        CHECK_ST(dt_cond_new(kind == 0 ? (void *)l : (void *)r, &c), DT_OK);
        /* Held through the lock's own handle, by us. */
        CHECK_ST(l ? dt_lock_acquire(l) : dt_rlock_acquire(r), DT_OK);
        CHECK_ST(dt_cond_free(c), DT_EBUSY);
        CHECK_ST(l ? dt_lock_release(l) : dt_rlock_release(r), DT_OK);
        /* Held by another thread. */
        memset(&h, 0, sizeof h);
        h.l = l;
        h.r = r;
        th_start(&t, hold, &h);
        CHECK(th_wait_until(holder_holding, &h, 10));
        CHECK_ST(dt_cond_free(c), DT_EBUSY);
        set_int(&h.let_go, 1);
        th_join(&t, 10);
        /* Being acquired: another thread is in the acquire's slow path (held
         * in its interrupt callback) while nobody holds the lock. */
        th_cb_gate_init(&gate, 0);
        memset(&a, 0, sizeof a);
        a.l = l;
        a.r = r;
        a.gate = &gate;
        CHECK_ST(l ? dt_lock_acquire(l) : dt_rlock_acquire(r), DT_OK);
        th_start(&t, acquire_gated, &a);
        CHECK(th_wait_until(th_cb_gate_inside, &gate, 10));
        CHECK_ST(l ? dt_lock_release(l) : dt_rlock_release(r), DT_OK);
        CHECK_ST(l ? dt_lock_locked(l, &locked) : dt_rlock_locked(r, &locked), DT_OK);
        CHECK_EQ(locked, 0);
        CHECK_ST(dt_cond_free(c), DT_EBUSY);
        th_cb_gate_open(&gate);
        th_join(&t, 10);
        CHECK_ST(a.st, DT_OK);
        th_cb_gate_destroy(&gate);
        /* Idle: freed, and the lock handle still works. */
        CHECK_ST(dt_cond_free(c), DT_OK);
        CHECK_ST(l ? dt_lock_acquire(l) : dt_rlock_acquire(r), DT_OK);
        CHECK_ST(l ? dt_lock_release(l) : dt_rlock_release(r), DT_OK);
        CHECK_ST(l ? dt_lock_free(l) : dt_rlock_free(r), DT_OK);
    }
}

/* A foreign lock (a pthread mutex) whose acquire, when called by the thread
 * that is waiting on `cond` while the wait takes the lock back, tries to
 * free the condition and records the status. */
typedef struct probe_lock {
    pthread_mutex_t mu;
    pthread_t owner;
    int held;
    dt_cond *cond;
    pthread_t prober; /* the waiting thread; written under mu */
    int probing;      /* written under mu by the prober */
    int free_calls, free_st;
} probe_lock;

static int probe_acquire(void *ctx) {
    probe_lock *p = (probe_lock *)ctx;
    pthread_mutex_lock(&p->mu);
    p->owner = pthread_self();
    p->held = 1;
    /* The lock is ours again, but the wait has not returned yet. */
    if (p->probing && pthread_equal(p->prober, pthread_self())) {
        p->free_st = dt_cond_free(p->cond);
        p->free_calls++;
    }
    return 0;
}
static int probe_release(void *ctx) {
    probe_lock *p = (probe_lock *)ctx;
    if (!p->held || !pthread_equal(p->owner, pthread_self())) return 1;
    p->held = 0;
    pthread_mutex_unlock(&p->mu);
    return 0;
}
static int probe_is_owned(void *ctx) {
    probe_lock *p = (probe_lock *)ctx;
    return p->held && pthread_equal(p->owner, pthread_self());
}

typedef struct probe_wait {
    probe_lock *p;
    double timeout;
    int announced; /* guarded by the foreign lock */
    int st;
} probe_wait;

/* Waits on the condition with the probe armed for this thread. */
static void probe_waiter(void *arg) {
    probe_wait *w = (probe_wait *)arg;
    CHECK_ST(dt_cond_acquire(w->p->cond), DT_OK);
    w->p->prober = pthread_self();
    w->p->probing = 1;
    w->announced = 1;
    w->st = dt_cond_wait(w->p->cond, w->timeout, NULL, NULL);
    w->p->probing = 0;
    CHECK_ST(dt_cond_release(w->p->cond), DT_OK);
}

static int probe_announced(void *arg) {
    probe_wait *w = (probe_wait *)arg;
    int a;
    dt_cond_acquire(w->p->cond);
    a = w->announced;
    dt_cond_release(w->p->cond);
    return a;
}

/* dt_cond_free is refused while a wait takes the lock back, after a
 * timeout, a notify or an interrupt (it used to succeed there, freeing the
 * condition under the returning wait), and while a thread is parked in a
 * wait on a foreign lock (whose state the condition cannot see). */
static void test_free_while_waiter_restores(void) {
    static probe_lock p; /* zeroed */
    dt_foreign_lock f;
    probe_wait w;
    th_thread t;
    int how;
    pthread_mutex_init(&p.mu, NULL);
    f.acquire = probe_acquire;
    f.release = probe_release;
    f.is_owned = probe_is_owned;
    f.ctx = &p;
    CHECK_ST(dt_cond_new_foreign(&f, &p.cond), DT_OK);

    /* A timed-out wait, on this thread. */
    memset(&w, 0, sizeof w);
    w.p = &p;
    w.timeout = 0.02;
    probe_waiter(&w);
    CHECK_ST(w.st, DT_ETIMEDOUT);
    CHECK_EQ(p.free_calls, 1);
    CHECK_ST(p.free_st, DT_EBUSY);

    /* Woken by a notify, and by an interrupt, on another thread. */
    for (how = 0; how < 2; how++) {
        memset(&w, 0, sizeof w);
        w.p = &p;
        w.timeout = 30.0;
        p.free_calls = 0;
        p.free_st = -1;
        th_start(&t, probe_waiter, &w);
        CHECK(th_wait_until(probe_announced, &w, 10));
        CHECK_ST(dt_cond_free(p.cond), DT_EBUSY); /* parked: inside the wait */
        if (how == 0) notify_n(p.cond, 1);
        else CHECK_ST(dt_cond_interrupt(p.cond), DT_OK);
        th_join(&t, 10);
        CHECK_ST(w.st, how == 0 ? DT_OK : DT_EINTERRUPTED);
        CHECK_EQ(p.free_calls, 1);
        CHECK_ST(p.free_st, DT_EBUSY);
    }
    CHECK(!p.held);
    CHECK_ST(dt_cond_free(p.cond), DT_OK);
    pthread_mutex_destroy(&p.mu);
}

/* dt_cond_free from inside the call, on a condition over a foreign lock
 * (whose state the free cannot see): from dt_interruptible_wait's predicate,
 * before the first wait and between waits, and from the is_owned check that
 * dt_cond_wait makes at its start. The thread is inside a wait call in each
 * case: DT_EBUSY (the free used to succeed there, as only the park itself
 * was counted). */
static pthread_mutex_t g_fmu = PTHREAD_MUTEX_INITIALIZER;
static dt_cond *g_fc;
static pthread_t g_fowner;
static int g_fheld, g_fprobe_owned, g_fpred_calls, g_ffree_st[3];

static int fa_acquire(void *ctx) {
    (void)ctx;
    pthread_mutex_lock(&g_fmu);
    g_fowner = pthread_self();
    g_fheld = 1;
    return 0;
}
static int fa_release(void *ctx) {
    (void)ctx;
    if (!g_fheld || !pthread_equal(g_fowner, pthread_self())) return 1;
    g_fheld = 0;
    pthread_mutex_unlock(&g_fmu);
    return 0;
}
static int fa_is_owned(void *ctx) {
    (void)ctx;
    if (g_fprobe_owned) {
        g_fprobe_owned = 0;
        g_ffree_st[2] = dt_cond_free(g_fc);
    }
    return g_fheld && pthread_equal(g_fowner, pthread_self());
}
static int pred_frees(void *ctx) {
    (void)ctx;
    if (g_fpred_calls < 2) g_ffree_st[g_fpred_calls] = dt_cond_free(g_fc);
    return ++g_fpred_calls >= 2;
}

static void test_free_inside_wait_call(void) {
    dt_foreign_lock f;
    f.acquire = fa_acquire;
    f.release = fa_release;
    f.is_owned = fa_is_owned;
    f.ctx = NULL;
    g_ffree_st[0] = g_ffree_st[1] = g_ffree_st[2] = -1;
    CHECK_ST(dt_cond_new_foreign(&f, &g_fc), DT_OK);
    CHECK_ST(dt_cond_acquire(g_fc), DT_OK);
    /* The predicate is false at first, true after one (timed-out) wait. */
    CHECK_ST(dt_interruptible_wait(g_fc, pred_frees, NULL, NULL, NULL, 0.01), DT_OK);
    CHECK_EQ(g_fpred_calls, 2);
    CHECK_ST(g_ffree_st[0], DT_EBUSY);
    CHECK_ST(g_ffree_st[1], DT_EBUSY);
    g_fprobe_owned = 1;
    CHECK_ST(dt_cond_wait(g_fc, 0.01, NULL, NULL), DT_ETIMEDOUT);
    CHECK_ST(g_ffree_st[2], DT_EBUSY);
    CHECK_ST(dt_cond_release(g_fc), DT_OK);
    CHECK_ST(dt_cond_free(g_fc), DT_OK);
}

/* dt_cond_free's busy check leaves the condition's lock alone: while a waiter
 * is parked and another thread keeps calling dt_cond_free (always DT_EBUSY),
 * the lock, free all along, must look free to everyone else: no phantom hold
 * for dt_lock_try_acquire to trip on, none for dt_lock_release_any_thread to
 * release. (A check that took the lock for a moment made both happen, and
 * its unlock could end another thread's hold.) */
static dt_lock *g_fc_lock;
static dt_cond *g_fc_cond;
static volatile int g_fc_stop;
static long g_fc_not_busy;

static void fc_waiter(void *arg) {
    (void)arg;
    if (dt_cond_acquire(g_fc_cond) != DT_OK) return;
    (void)dt_cond_wait(g_fc_cond, 30.0 * th_slow, NULL, NULL);
    (void)dt_cond_release(g_fc_cond);
}

static void fc_freer(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&g_fc_stop, __ATOMIC_ACQUIRE))
        if (dt_cond_free(g_fc_cond) != DT_EBUSY) g_fc_not_busy++;
}

static int fc_waiting(void *arg) {
    (void)arg;
    int locked = 1;
    /* Parked: the lock is free again. */
    return dt_lock_locked(g_fc_lock, &locked) == DT_OK && !locked;
}

static void test_free_check_leaves_the_lock_alone(void) {
    th_thread w, f;
    long phantom_release = 0, phantom_busy = 0, n = 200000 / th_stress_div;
    CHECK_ST(dt_lock_new(&g_fc_lock), DT_OK);
    CHECK_ST(dt_cond_new(g_fc_lock, &g_fc_cond), DT_OK);
    th_start(&w, fc_waiter, NULL);
    CHECK(th_wait_until(fc_waiting, NULL, 10));
    th_sleep_ms(20);
    th_start(&f, fc_freer, NULL);
    for (long i = 0; i < n; i++) {
        if (dt_lock_release_any_thread(g_fc_lock) == DT_OK) phantom_release++;
        if (dt_lock_try_acquire(g_fc_lock) == DT_OK)
            (void)dt_lock_release(g_fc_lock);
        else
            phantom_busy++;
    }
    __atomic_store_n(&g_fc_stop, 1, __ATOMIC_RELEASE);
    th_join(&f, 10);
    CHECK_EQ(phantom_release, 0);
    CHECK_EQ(phantom_busy, 0);
    CHECK_EQ(g_fc_not_busy, 0);
    CHECK_ST(dt_lock_acquire(g_fc_lock), DT_OK);
    CHECK_ST(dt_cond_notify_all(g_fc_cond), DT_OK);
    CHECK_ST(dt_lock_release(g_fc_lock), DT_OK);
    th_join(&w, 10);
    CHECK_ST(dt_cond_free(g_fc_cond), DT_OK);
    CHECK_ST(dt_lock_free(g_fc_lock), DT_OK);
}

int main(void) {
    th_begin("cond");
    test_reinit_after_fork();
    test_misuse();
    test_timeouts();
    test_notify();
    test_interrupt();
    test_notify_one_of_two();
    test_notify_n_exact();
    test_notify_not_banked();
    test_interrupt_go_on();
    test_notify_while_in_callback();
    test_recheck_after_wakeup();
    test_huge_timeouts();
    test_free_while_lock_in_use();
    test_free_while_waiter_restores();
    test_free_inside_wait_call();
    test_free_check_leaves_the_lock_alone();
    return th_end();
}
