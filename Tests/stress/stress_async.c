/* Async splits through a thread pool: 100,000 splits at full scale (10,000
 * quick). The main thread creates them and hands them out through a dt_cond
 * queue; 3 runner threads run (or abandon) the callers, 4 waiter threads
 * take two waiter jobs per split. 1 split in 16 fails with a payload, 1 in
 * 16 is abandoned (its caller freed unrun). Checked exactly, per split: the
 * function ran once (never, if abandoned); both waiter jobs and the runner's
 * own second waiter saw the outcome; the result or the error payload was
 * freed once. A waiter that times out never got its result: a lost result. */
#include "stress.h"

enum { K_OK, K_FAIL, K_ABANDON };
static int kind_of(long i) { return i % 16 == 15 ? K_ABANDON : i % 16 == 7 ? K_FAIL : K_OK; }

typedef struct split {
    dt_waiter *w;
    dt_caller *c;
    int kind;
    int refs; /* waiter jobs not yet done with w; the last one frees it */
    int runs, delivered, freed_result, freed_error, misdelivered;
} split;

static split *g_s;
static long g_n;
static dt_cond *g_q;                           /* guards the three counters below */
static long g_produced, g_next_run, g_next_job; /* a split gives 1 run and 2 waiter jobs */
static long g_double_runs, g_abandoned_seen;

static void free_result(void *r) { ST_ADD(&((split *)r)->freed_result, 1); }
static void free_data(void *d) { ST_ADD(&((split *)d)->freed_error, 1); }

static int fn(void *ctx, void **result, dt_error *error) {
    split *s = (split *)ctx;
    ST_ADD(&s->runs, 1);
    if (s->kind == K_OK) {
        *result = s;
        return 0;
    }
    error->code = 42;
    error->data = s;
    error->free_data = free_data;
    return 1;
}

/* Checks one delivered outcome against the split's kind. */
static void check_outcome(split *s, int st, void *r, dt_error *e) {
    int good = s->kind == K_OK        ? st == DT_OK && r == s
               : s->kind == K_FAIL    ? st == DT_EFAILED && e->code == 42 && e->data == s
                                      : st == DT_EABANDONED;
    if (!good) ST_ADD(&s->misdelivered, 1);
    ST_ADD(&s->delivered, 1);
}

static int run_ready(void *ctx) { (void)ctx; return g_next_run < g_produced || g_produced == g_n; }
static int job_ready(void *ctx) { (void)ctx; return g_next_job < 2 * g_produced || g_produced == g_n; }

/* Claims the next item under the queue's lock: a split index, or -1 when done. */
static long claim(int runner) {
    long got = -1;
    unsigned ok_or_timeout = ST_BIT(DT_OK) | ST_BIT(DT_ETIMEDOUT);
    ST_OK(dt_cond_acquire(g_q));
    while (ST_EXPECT(dt_interruptible_wait(g_q, runner ? run_ready : job_ready, NULL, NULL, NULL, 10.0 * st_slow),
                     ok_or_timeout) == DT_ETIMEDOUT)
        fprintf(stderr, "stress_async: a pool thread waited 10 s for work: lost wake-up?\n");
    if (runner && g_next_run < g_produced) got = g_next_run++;
    if (!runner && g_next_job < 2 * g_produced) got = g_next_job++;
    ST_OK(dt_cond_release(g_q));
    return got;
}

static void *runner(void *arg) {
    long i;
    (void)arg;
    while ((i = claim(1)) >= 0) {
        split *s = &g_s[i];
        dt_waiter *w2 = NULL;
        void *r = NULL;
        dt_error e;
        int st;
        if (s->kind == K_ABANDON) {
            ST_OK(dt_caller_free(s->c));
            continue;
        }
        ST_EXPECT(dt_caller_run(s->c, &w2), ST_BIT(s->kind == K_OK ? DT_OK : DT_EFAILED));
        if (i % 8 == 0) {
            ST_EXPECT(dt_caller_run(s->c, NULL), ST_BIT(DT_EALREADY)); /* misuse: run twice */
            ST_ADD(&g_double_runs, 1);
        }
        memset(&e, 0, sizeof e);
        st = dt_waiter_wait(w2, 0.0, NULL, NULL, &r, &e); /* known already: no wait */
        check_outcome(s, st, r, &e);
        ST_OK(dt_waiter_free(w2));
        ST_OK(dt_caller_free(s->c));
        ST_BEAT();
    }
    return NULL;
}

static void *waiter(void *arg) {
    long j;
    (void)arg;
    while ((j = claim(0)) >= 0) {
        split *s = &g_s[j / 2];
        void *r = NULL;
        dt_error e;
        int st;
        memset(&e, 0, sizeof e);
        st = ST_EXPECT(dt_waiter_wait(s->w, 10.0 * st_slow, NULL, NULL, &r, &e),
                       ST_BIT(DT_OK) | ST_BIT(DT_EFAILED) | ST_BIT(DT_EABANDONED) | ST_BIT(DT_ETIMEDOUT));
        if (st == DT_EABANDONED) ST_ADD(&g_abandoned_seen, 1);
        if (st != DT_ETIMEDOUT) check_outcome(s, st, r, &e); /* a timeout is a lost result */
        /* acq_rel, as for any reference count: our use of w happens before the free. */
        if (__atomic_add_fetch(&s->refs, -1, __ATOMIC_ACQ_REL) == 0) ST_OK(dt_waiter_free(s->w));
        ST_BEAT();
    }
    return NULL;
}

/* On a stall only: unlocked reads of lock-guarded counters, for diagnosis. */
static void dump(void) {
    fprintf(stderr, "  splits produced %ld of %ld, runs claimed %ld, waiter jobs claimed %ld\n",
            ST_LOAD(&g_produced), g_n, ST_LOAD(&g_next_run), ST_LOAD(&g_next_job));
}

int main(int argc, char **argv) {
    enum { RUNNERS = 3, WAITERS = 4 };
    pthread_t t[RUNNERS + WAITERS];
    long i, lost = 0, wrong = 0, bad_runs = 0, bad_frees = 0, total = 0, deliveries = 0;
    double started, secs = 0;
    int k, rounds = 0;
    st_begin("stress_async", argc, argv);
    st_dump = dump;
    g_n = st_scaled(100000, 10);
    g_s = (split *)calloc((size_t)g_n, sizeof *g_s);
    if (!g_s) return 2;
    ST_OK(dt_cond_new(NULL, &g_q));
    started = st_now();
    while (st_another_round(started, rounds)) {
        double t0 = st_now();
        st_set_phase("async splits");
        memset(g_s, 0, (size_t)g_n * sizeof *g_s);
        g_produced = g_next_run = g_next_job = 0;
        for (k = 0; k < RUNNERS + WAITERS; k++) st_spawn(&t[k], k < RUNNERS ? runner : waiter, NULL);
        for (i = 0; i < g_n; i++) {
            split *s = &g_s[i];
            s->kind = kind_of(i);
            s->refs = 2;
            ST_OK(dt_async_split(fn, s, free_result, &s->w, &s->c));
            if (i % 64 == 63 || i == g_n - 1) { /* publish a batch */
                ST_OK(dt_cond_acquire(g_q));
                g_produced = i + 1;
                ST_OK(dt_cond_notify_all(g_q));
                ST_OK(dt_cond_release(g_q));
            }
        }
        for (k = 0; k < RUNNERS + WAITERS; k++) pthread_join(t[k], NULL);
        secs += st_now() - t0;
        for (i = 0; i < g_n; i++) {
            split *s = &g_s[i];
            int want = s->kind == K_ABANDON ? 2 : 3;
            lost += s->delivered < want ? want - s->delivered : 0;
            wrong += s->misdelivered + (s->delivered > want ? s->delivered - want : 0);
            bad_runs += s->runs != (s->kind == K_ABANDON ? 0 : 1);
            bad_frees += s->freed_result != (s->kind == K_OK) || s->freed_error != (s->kind == K_FAIL);
            deliveries += s->delivered;
        }
        total += g_n;
        rounds++;
    }
    ST_CHECK(lost == 0);
    ST_CHECK(wrong == 0);
    ST_CHECK(bad_runs == 0);
    ST_CHECK(bad_frees == 0);
    ST_OK(dt_cond_free(g_q));
    free(g_s);
    printf("RESULT {\"program\": \"async\", \"mode\": \"%s\", \"rounds\": %d, \"splits\": %ld, "
           "\"runner_threads\": %d, \"waiter_threads\": %d, \"deliveries\": %ld, \"abandoned_seen\": %ld, "
           "\"double_runs\": %ld, \"seconds\": %.3f, \"lost_results\": %ld, \"wrong_results\": %ld, "
           "\"wrong_run_counts\": %ld, \"wrong_frees\": %ld, \"failures\": %ld, \"ok\": %s}\n",
           st_mode(), rounds, total, RUNNERS, WAITERS, deliveries, ST_LOAD(&g_abandoned_seen),
           ST_LOAD(&g_double_runs), secs, lost, wrong, bad_runs, bad_frees, ST_LOAD(&st_failures),
           ST_LOAD(&st_failures) == 0 ? "true" : "false");
    return ST_LOAD(&st_failures) == 0 ? 0 : 1;
}
