/* Faults while others make progress, for 2 s per round (20 s at full scale).
 * Two progress threads keep incrementing (under a dt_lock; through exclusive
 * access to a dt_value), a third keeps notifying a dt_cond over a dt_rlock.
 * Meanwhile: threads acquire the lock and the Value with short
 * timeouts; threads wait on the condition with short timeouts; an
 * interrupter calls dt_cond_interrupt and sends SIGUSR1 (pthread_kill) to
 * the waiting threads; a misuse thread releases locks it does not hold,
 * waits and notifies without the lock and passes bad timeouts. Every call
 * must return a documented status; every faulted thread retries.
 *
 * Invariants at the end: the progress threads did progress; both counters
 * equal the sum of the increments each thread made; every wait returned with the lock held at its depth; a wait
 * that said DT_OK saw its predicate true; no lock is left held; the
 * condition has no waiter left (dt_cond_free succeeds). */
#include "stress.h"

#include <math.h>

enum { T_LOCK, T_VALUE, T_NOTIFY, T_TLOCK1, T_TLOCK2, T_TVALUE, T_WAIT1, T_WAIT2, T_WAIT3, T_MISUSE, T_COUNT };

typedef struct worker {
    pthread_t id;                   /* main's handle, for join and pthread_kill */
    pthread_t self;                 /* written by the thread itself, read by the signal handler */
    int role;
    uint64_t rng;
    int signalled;                  /* set by the SIGUSR1 handler on this thread */
    long incs;                      /* increments this thread made */
    long ok, timeouts, interrupts;  /* outcomes of its waits */
    long consulted, stopped;        /* interrupt callback calls, and how many said stop */
} worker;

static worker g_w[T_COUNT];
static dt_lock *g_l;
static dt_value *g_v;
static dt_rlock *g_r;
static dt_cond *g_c;
static long g_counter;  /* guarded by g_l */
static long g_gen;      /* guarded by g_r */
static int g_stop;      /* the round is over */
static long g_notifies, g_cond_interrupts, g_signals, g_misuse, g_bad_depth, g_bad_predicate;

static const unsigned k_wait = ST_BIT(DT_OK) | ST_BIT(DT_ETIMEDOUT) | ST_BIT(DT_EINTERRUPTED);
static const unsigned k_not_mine = ST_BIT(DT_ENOTOWNER) | ST_BIT(DT_ENOTLOCKED);

static void on_signal(int sig) {
    int i;
    (void)sig;
    for (i = 0; i < T_COUNT; i++)
        if (pthread_equal(__atomic_load_n(&g_w[i].self, __ATOMIC_RELAXED), pthread_self()))
            __atomic_store_n(&g_w[i].signalled, 1, __ATOMIC_RELAXED);
}

/* Stops the wait if a signal reached this thread, else 1 time in 4. */
static int interrupt_cb(void *ctx) {
    worker *w = (worker *)ctx;
    int stop = __atomic_exchange_n(&w->signalled, 0, __ATOMIC_RELAXED) || st_rand(&w->rng) % 4 == 0;
    w->consulted++;
    w->stopped += stop;
    return stop;
}

static void count(worker *w, int st) {
    if (st == DT_OK) w->ok++;
    if (st == DT_ETIMEDOUT) w->timeouts++;
    if (st == DT_EINTERRUPTED) w->interrupts++;
}

static double short_timeout(worker *w) {
    static const double k[] = {0.0, 1e-6, 5e-5, 1e-3};
    return k[st_rand(&w->rng) % 4];
}

static void progress(worker *w) {
    long i;
    for (i = 0; !__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE); i++) {
        if (w->role == T_LOCK) {
            ST_OK(dt_lock_acquire_timed(g_l, 30.0 * st_slow, NULL, NULL));
            g_counter++;
            ST_OK(dt_lock_release(g_l));
        } else if (w->role == T_VALUE) {
            void *p;
            ST_OK(dt_value_acquire_timed(g_v, 30.0 * st_slow, NULL, NULL));
            ST_OK(dt_value_get(g_v, &p));
            ST_OK(dt_value_set(g_v, (void *)((intptr_t)p + 1)));
            ST_OK(dt_value_release(g_v));
        }
        w->incs++;
        if ((i & 127) == 127) ST_BEAT();
    }
}

/* Moves the generation and notifies, until the round is over. */
static void notifier(worker *w) {
    long i;
    for (i = 0; !__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE); i++) {
        ST_OK(dt_cond_acquire(g_c));
        g_gen++;
        ST_OK(i % 2 ? dt_cond_notify_all(g_c) : dt_cond_notify(g_c, 1));
        ST_OK(dt_cond_release(g_c));
        ST_ADD(&g_notifies, 1);
        st_sleep_us((long)(st_rand(&w->rng) % 200));
    }
}

static void timed_acquirer(worker *w) {
    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        int st;
        if (w->role == T_TVALUE) {
            st = ST_EXPECT(dt_value_acquire_timed(g_v, short_timeout(w), interrupt_cb, w), k_wait);
            if (st == DT_OK) {
                void *p;
                ST_OK(dt_value_get(g_v, &p));
                ST_OK(dt_value_set(g_v, (void *)((intptr_t)p + 1)));
                w->incs++;
                ST_OK(dt_value_release(g_v));
            }
        } else {
            st = ST_EXPECT(dt_lock_acquire_timed(g_l, short_timeout(w), interrupt_cb, w), k_wait);
            if (st == DT_OK) {
                g_counter++;
                w->incs++;
                if (st_rand(&w->rng) % 16 == 0) st_sleep_us(100); /* make others time out */
                ST_OK(dt_lock_release(g_l));
            }
        }
        count(w, st);
    }
}

static int gen_moved(void *ctx) { return g_gen != *(long *)ctx; }

static void cond_waiter(worker *w) {
    static const double k[] = {1e-3, 5e-3, 2e-2};
    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        long seen, depth = 0, want = 1 + (long)(st_rand(&w->rng) % 2);
        double timeout = k[st_rand(&w->rng) % 3];
        int st;
        ST_OK(dt_cond_acquire(g_c));
        if (want == 2) ST_OK(dt_rlock_acquire(g_r)); /* a wait releases both levels */
        seen = g_gen;
        if (st_rand(&w->rng) % 2) {
            st = ST_EXPECT(dt_interruptible_wait(g_c, gen_moved, &seen, interrupt_cb, w, timeout), k_wait);
            if (st == DT_OK && g_gen == seen) ST_ADD(&g_bad_predicate, 1);
        } else {
            st = ST_EXPECT(dt_cond_wait(g_c, timeout, interrupt_cb, w), k_wait);
        }
        count(w, st);
        if (dt_rlock_count(g_r, &depth) != DT_OK || depth != want) ST_ADD(&g_bad_depth, 1);
        if (want == 2) ST_OK(dt_rlock_release(g_r));
        ST_OK(dt_cond_release(g_c));
    }
}

static void misuse(worker *w) {
    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        ST_EXPECT(dt_lock_release(g_l), k_not_mine);
        ST_EXPECT(dt_rlock_release(g_r), k_not_mine);
        ST_EXPECT(dt_value_release(g_v), k_not_mine);
        ST_EXPECT(dt_cond_release(g_c), k_not_mine);
        ST_EXPECT(dt_cond_notify(g_c, 1), ST_BIT(DT_ENOTOWNER));
        ST_EXPECT(dt_cond_notify_all(g_c), ST_BIT(DT_ENOTOWNER));
        ST_EXPECT(dt_cond_wait(g_c, 0.001, interrupt_cb, w), ST_BIT(DT_ENOTOWNER));
        ST_EXPECT(dt_lock_acquire_timed(g_l, NAN, NULL, NULL), ST_BIT(DT_EINVAL));
        ST_EXPECT(dt_value_acquire_timed(g_v, -2.0, NULL, NULL), ST_BIT(DT_EINVAL));
        ST_EXPECT(dt_rlock_acquire_timed(g_r, -INFINITY, NULL, NULL), ST_BIT(DT_EINVAL));
        ST_EXPECT(dt_cond_notify(g_c, -1), ST_BIT(DT_EINVAL) | ST_BIT(DT_ENOTOWNER));
        ST_EXPECT(dt_lock_acquire((dt_lock *)(void *)g_v), ST_BIT(DT_EBADHANDLE));
        ST_ADD(&g_misuse, 12);
        st_sleep_us(200);
    }
}

static void *run(void *arg) {
    worker *w = (worker *)arg;
    __atomic_store_n(&w->self, pthread_self(), __ATOMIC_RELAXED);
    switch (w->role) {
    case T_LOCK: case T_VALUE: progress(w); break;
    case T_NOTIFY: notifier(w); break;
    case T_TLOCK1: case T_TLOCK2: case T_TVALUE: timed_acquirer(w); break;
    case T_WAIT1: case T_WAIT2: case T_WAIT3: cond_waiter(w); break;
    default: misuse(w); break;
    }
    return NULL;
}

/* Disturbs the waiting threads until the round is over. */
static void *interrupter(void *arg) {
    uint64_t rng = 99;
    (void)arg;
    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        int target = T_TLOCK1 + (int)(st_rand(&rng) % (T_WAIT3 - T_TLOCK1 + 1));
        ST_OK(dt_cond_interrupt(g_c));
        ST_ADD(&g_cond_interrupts, 1);
        if (pthread_kill(g_w[target].id, SIGUSR1) == 0) ST_ADD(&g_signals, 1);
        st_sleep_us(300);
    }
    return NULL;
}

static void dump(void) {
    fprintf(stderr, "  cond interrupts %ld, signals %ld, misuse calls %ld\n", ST_LOAD(&g_cond_interrupts),
            ST_LOAD(&g_signals), ST_LOAD(&g_misuse));
}

int main(int argc, char **argv) {
    struct sigaction sa;
    pthread_t intr;
    long lock_incs = 0, value_incs = 0, timeouts = 0, interrupts = 0, consulted = 0, waits = 0;
    long counter_mismatch = 0;
    long progress_lock = 0, progress_value = 0, least_progress = -1;
    double started, secs = 0, round_seconds;
    int i, rounds = 0, locked;
    st_begin("stress_chaos", argc, argv);
    st_dump = dump;
    round_seconds = st_full ? 20.0 : 2.0;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* the harder case: the kernel would restart plain syscalls */
    sigaction(SIGUSR1, &sa, NULL);
    started = st_now();
    while (st_another_round(started, rounds)) {
        double t0 = st_now();
        void *v = NULL;
        st_set_phase("chaos");
        ST_OK(dt_lock_new(&g_l));
        ST_OK(dt_value_new((void *)0, NULL, &g_v));
        ST_OK(dt_rlock_new(&g_r));
        ST_OK(dt_cond_new(g_r, &g_c));
        g_counter = g_gen = 0;
        g_stop = 0;
        memset(g_w, 0, sizeof g_w);
        for (i = 0; i < T_COUNT; i++) {
            g_w[i].role = i;
            g_w[i].rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1 + rounds * T_COUNT);
        }
        for (i = 0; i < T_COUNT; i++) st_spawn(&g_w[i].id, run, &g_w[i]);
        st_spawn(&intr, interrupter, NULL);
        while (st_now() - t0 < round_seconds) st_sleep_us(20000);
        __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
        pthread_join(intr, NULL); /* before the others: it signals them */
        for (i = 0; i < T_COUNT; i++) pthread_join(g_w[i].id, NULL);
        secs += st_now() - t0;
        /* Invariants. */
        ST_CHECK(g_w[T_LOCK].incs >= 1000 && g_w[T_VALUE].incs >= 1000); /* not starved */
        progress_lock += g_w[T_LOCK].incs;
        progress_value += g_w[T_VALUE].incs;
        for (i = T_LOCK; i <= T_VALUE; i++)
            if (least_progress < 0 || g_w[i].incs < least_progress) least_progress = g_w[i].incs;
        ST_CHECK(g_counter == g_w[T_LOCK].incs + g_w[T_TLOCK1].incs + g_w[T_TLOCK2].incs);
        counter_mismatch += labs(g_counter - (g_w[T_LOCK].incs + g_w[T_TLOCK1].incs + g_w[T_TLOCK2].incs));
        ST_OK(dt_value_get(g_v, &v));
        ST_CHECK((long)(intptr_t)v == g_w[T_VALUE].incs + g_w[T_TVALUE].incs);
        counter_mismatch += labs((long)(intptr_t)v - (g_w[T_VALUE].incs + g_w[T_TVALUE].incs));
        ST_OK(dt_lock_locked(g_l, &locked));
        ST_CHECK(locked == 0);
        ST_OK(dt_rlock_locked(g_r, &locked));
        ST_CHECK(locked == 0);
        ST_OK(dt_value_try_acquire(g_v));
        ST_OK(dt_value_release(g_v));
        ST_OK(dt_cond_free(g_c)); /* DT_EBUSY would mean a waiter was left behind */
        ST_OK(dt_rlock_free(g_r));
        ST_OK(dt_value_free(g_v));
        ST_OK(dt_lock_free(g_l));
        lock_incs += g_counter;
        value_incs += (long)(intptr_t)v;
        for (i = T_TLOCK1; i <= T_WAIT3; i++) {
            timeouts += g_w[i].timeouts;
            interrupts += g_w[i].interrupts;
            consulted += g_w[i].consulted;
            waits += g_w[i].ok + g_w[i].timeouts + g_w[i].interrupts;
        }
        rounds++;
    }
    ST_CHECK(ST_LOAD(&g_bad_depth) == 0);
    ST_CHECK(ST_LOAD(&g_bad_predicate) == 0);
    printf("RESULT {\"program\": \"chaos\", \"mode\": \"%s\", \"rounds\": %d, \"threads\": %d, "
           "\"seconds_per_round\": %.0f, \"progress_lock_ops\": %ld, \"progress_value_ops\": %ld, "
           "\"least_progress_per_round\": %ld, \"lock_increments\": %ld, \"value_increments\": %ld, \"notifies\": %ld, "
           "\"chaos_waits\": %ld, \"timeouts\": %ld, \"interrupted\": %ld, \"interrupt_callbacks\": %ld, "
           "\"cond_interrupts\": %ld, \"signals\": %ld, \"misuse_calls\": %ld, \"counter_mismatch\": %ld, "
           "\"bad_lock_depth\": %ld, \"ok_without_predicate\": %ld, \"seconds\": %.3f, \"failures\": %ld, "
           "\"ok\": %s}\n",
           st_mode(), rounds, T_COUNT + 1, round_seconds, progress_lock, progress_value, least_progress, lock_incs, value_incs, ST_LOAD(&g_notifies), waits, timeouts, interrupts,
           consulted, ST_LOAD(&g_cond_interrupts), ST_LOAD(&g_signals), ST_LOAD(&g_misuse), counter_mismatch,
           ST_LOAD(&g_bad_depth), ST_LOAD(&g_bad_predicate), secs, ST_LOAD(&st_failures),
           ST_LOAD(&st_failures) == 0 ? "true" : "false");
    return ST_LOAD(&st_failures) == 0 ? 0 : 1;
}
