/* Interruptible waits woken by a signal (pthread_kill SIGUSR1) to the
 * waiting thread, with the handler installed without and with SA_RESTART. */
#include "harness.h"

#include <signal.h>

static volatile sig_atomic_t g_signalled;
static void on_signal(int sig) {
    (void)sig;
    g_signalled = 1;
}
static dt_rlock *g_r; /* the condition's lock, and the lock for K_RLOCK */
static long g_held_in_callback; /* the callback ran with the lock held */
static double g_max_latency_ms;

/* The callback runs on the waiting thread without the waited-on lock. */
static void check_not_held(void) {
    long depth = 0;
    if (dt_rlock_count(g_r, &depth) != DT_OK || depth != 0) g_held_in_callback++;
}
/* Stops the wait once the handler has run. */
static int stop_after_signal(void *ctx) {
    (void)ctx;
    check_not_held();
    return g_signalled ? 1 : 0;
}
/* Never stops the wait: the signal must not end it. */
static int never_stop(void *ctx) {
    (void)ctx;
    check_not_held();
    return 0;
}
static int never_true(void *ctx) {
    (void)ctx;
    return 0;
}

enum kind { K_WAITER, K_IWAIT, K_CONDWAIT, K_LOCK, K_RLOCK, K_VALUE, K_COUNT };
static const char *kind_names[K_COUNT] = {"dt_waiter_wait", "dt_interruptible_wait", "dt_cond_wait",
                                          "dt_lock_acquire_timed", "dt_rlock_acquire_timed",
                                          "dt_value_acquire_timed"};

static dt_waiter *g_w;
static dt_caller *g_k;
static dt_cond *g_c;
static dt_lock *g_l;
static dt_value *g_v;

/* How long the main thread lets the waiter park before signalling it. */
static double park_ms(void) { return th_slow > 1 ? 500 : 100; }

typedef struct job {
    int kind, never;
    int started; /* guarded by g_mu */
    int st;
    double returned_ms;
    int lock_ok; /* the lock state afterwards was as documented */
} job;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static void waiter(void *arg) {
    job *j = (job *)arg;
    dt_interrupt_fn intr = j->never ? never_stop : stop_after_signal;
    double timeout = j->never ? (park_ms() + 200) / 1000.0 : 10.0;
    void *r;
    dt_error e;
    long depth = -1;
    int locked = -1;
    if (j->kind == K_IWAIT || j->kind == K_CONDWAIT) dt_cond_acquire(g_c);
    pthread_mutex_lock(&g_mu);
    j->started = 1;
    pthread_mutex_unlock(&g_mu);
    switch (j->kind) {
    case K_WAITER:
        j->st = dt_waiter_wait(g_w, timeout, intr, NULL, &r, &e);
        j->returned_ms = th_now_ms();
        j->lock_ok = 1;
        break;
    case K_IWAIT:
    case K_CONDWAIT:
        j->st = j->kind == K_IWAIT ? dt_interruptible_wait(g_c, never_true, NULL, intr, NULL, timeout)
                                   : dt_cond_wait(g_c, timeout, intr, NULL);
        j->returned_ms = th_now_ms();
        /* Held again, at depth 1, and releasable. */
        j->lock_ok = dt_rlock_count(g_r, &depth) == DT_OK && depth == 1 && dt_cond_release(g_c) == DT_OK;
        break;
    case K_LOCK:
        j->st = dt_lock_acquire_timed(g_l, timeout, intr, NULL);
        j->returned_ms = th_now_ms();
        /* Not taken: still the main thread's. */
        j->lock_ok = dt_lock_release(g_l) == DT_ENOTOWNER && dt_lock_locked(g_l, &locked) == DT_OK &&
                     locked == 1;
        break;
    case K_RLOCK:
        j->st = dt_rlock_acquire_timed(g_r, timeout, intr, NULL);
        j->returned_ms = th_now_ms();
        j->lock_ok = dt_rlock_count(g_r, &depth) == DT_OK && depth == 0 && dt_rlock_release(g_r) == DT_ENOTOWNER;
        break;
    case K_VALUE:
        j->st = dt_value_acquire_timed(g_v, timeout, intr, NULL);
        j->returned_ms = th_now_ms();
        j->lock_ok = dt_value_release(g_v) == DT_ENOTOWNER;
        break;
    }
}

static int job_started(void *arg) {
    job *j = (job *)arg;
    int started;
    pthread_mutex_lock(&g_mu);
    started = j->started;
    pthread_mutex_unlock(&g_mu);
    return started;
}

/* One wait of `kind`, disturbed by a signal 100 ms in. */
static void run_case(int kind, int never, int restart) {
    th_thread t;
    job j;
    double t0, ms;
    memset(&j, 0, sizeof j);
    j.kind = kind;
    j.never = never;
    g_signalled = 0;
    /* The main thread holds the lock the waiter will want. */
    if (kind == K_LOCK) dt_lock_acquire(g_l);
    if (kind == K_RLOCK) dt_rlock_acquire(g_r);
    if (kind == K_VALUE) dt_value_acquire(g_v);
    th_start(&t, waiter, &j);
    CHECK(th_wait_until(job_started, &j, 10));
    th_sleep_ms(park_ms()); /* let it park in the kernel */
    t0 = th_now_ms();
    CHECK(pthread_kill(t.id, SIGUSR1) == 0);
    th_join(&t, 10);
    ms = j.returned_ms - t0;
    if (!CHECK_ST(j.st, never ? DT_ETIMEDOUT : DT_EINTERRUPTED) || !CHECK(j.lock_ok) ||
        !CHECK(never || ms < 50.0 * th_slow) || !CHECK(!never || ms >= 100.0))
        fprintf(stderr, "  (%s, %s SA_RESTART, interrupt %s: returned %.1f ms after the signal)\n",
                kind_names[kind], restart ? "with" : "without", never ? "never" : "on signal", ms);
    CHECK(g_signalled);
    if (!never && ms > g_max_latency_ms) g_max_latency_ms = ms;
    if (kind == K_LOCK) CHECK_ST(dt_lock_release(g_l), DT_OK);
    if (kind == K_RLOCK) CHECK_ST(dt_rlock_release(g_r), DT_OK);
    if (kind == K_VALUE) CHECK_ST(dt_value_release(g_v), DT_OK);
}

static int never_runs(void *ctx, void **result, dt_error *error) {
    (void)ctx, (void)result, (void)error;
    return 1;
}

static void run_all(int restart) {
    struct sigaction sa;
    int kind, never;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart ? SA_RESTART : 0;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    for (kind = 0; kind < K_COUNT; kind++)
        for (never = 0; never < 2; never++) run_case(kind, never, restart);
}

int main(void) {
    th_begin("signal");
    CHECK_ST(dt_async_split(never_runs, NULL, NULL, &g_w, &g_k), DT_OK);
    CHECK_ST(dt_rlock_new(&g_r), DT_OK);
    CHECK_ST(dt_cond_new(g_r, &g_c), DT_OK);
    CHECK_ST(dt_lock_new(&g_l), DT_OK);
    CHECK_ST(dt_value_new(NULL, NULL, &g_v), DT_OK);
    run_all(0);
    run_all(1);
    CHECK_EQ(g_held_in_callback, 0);
    printf("signal: slowest return after a signal: %.2f ms\n", g_max_latency_ms);
    CHECK_ST(dt_value_free(g_v), DT_OK);
    CHECK_ST(dt_lock_free(g_l), DT_OK);
    CHECK_ST(dt_cond_free(g_c), DT_OK);
    CHECK_ST(dt_rlock_free(g_r), DT_OK);
    CHECK_ST(dt_caller_free(g_k), DT_OK);
    CHECK_ST(dt_waiter_free(g_w), DT_OK);
    return th_end();
}
