/* Value increments from 2 to 32 threads: 1,000,000 per thread count at full
 * scale (100,000 quick), 7 in 8 by dt_value_transform, 1 in 8 by exclusive
 * access plus get and set inside it (the reentrant path). The final count is
 * exact: any lost (or extra) update fails the run. */
#include "stress.h"

static const int k_threads[] = {2, 4, 8, 16, 32};
#define K_CONFIGS ((int)(sizeof k_threads / sizeof k_threads[0]))

static dt_value *g_v;
static long g_done; /* increments finished, all threads */
static pthread_barrier_t g_start; /* the threads of a configuration start together */

static int add_one(void *ctx, void *current, void **new_value) {
    (void)ctx;
    *new_value = (void *)((intptr_t)current + 1);
    return 0;
}

static void *worker(void *arg) {
    long i, n = *(long *)arg;
    double timeout = 30.0 * st_slow; /* a timeout here is a stall: fail */
    pthread_barrier_wait(&g_start);
    for (i = 0; i < n; i++) {
        if (i % 8 == 7) {
            void *p = NULL;
            ST_OK(dt_value_acquire_timed(g_v, timeout, NULL, NULL));
            ST_OK(dt_value_get(g_v, &p));
            ST_OK(dt_value_set(g_v, (void *)((intptr_t)p + 1)));
            ST_OK(dt_value_release(g_v));
        } else {
            ST_OK(dt_value_transform(g_v, add_one, NULL, NULL));
        }
        if ((i & 255) == 255) {
            ST_ADD(&g_done, 256);
            ST_BEAT();
        }
    }
    return NULL;
}

static void dump(void) { fprintf(stderr, "  increments done so far: %ld\n", ST_LOAD(&g_done)); }

int main(int argc, char **argv) {
    pthread_t t[32];
    long total = 0, mismatch = 0, per_config;
    double secs[K_CONFIGS] = {0}, started;
    int c, i, rounds = 0;
    st_begin("stress_transform", argc, argv);
    st_dump = dump;
    per_config = st_scaled(1000000, 10);
    started = st_now();
    while (st_another_round(started, rounds)) {
        for (c = 0; c < K_CONFIGS; c++) {
            long n = per_config / k_threads[c];
            void *final = NULL;
            double t0;
            st_set_phase("transform");
            ST_OK(dt_value_new((void *)0, NULL, &g_v));
            pthread_barrier_init(&g_start, NULL, (unsigned)k_threads[c] + 1);
            for (i = 0; i < k_threads[c]; i++) st_spawn(&t[i], worker, &n);
            t0 = st_now();
            pthread_barrier_wait(&g_start);
            for (i = 0; i < k_threads[c]; i++) pthread_join(t[i], NULL);
            secs[c] += st_now() - t0;
            pthread_barrier_destroy(&g_start);
            ST_OK(dt_value_get(g_v, &final));
            ST_CHECK((intptr_t)final == n * k_threads[c]);
            mismatch += labs(n * k_threads[c] - (long)(intptr_t)final);
            ST_OK(dt_value_free(g_v));
            total += n * k_threads[c];
        }
        rounds++;
    }
    printf("RESULT {\"program\": \"transform\", \"mode\": \"%s\", \"rounds\": %d, \"ops_per_config\": %ld, "
           "\"configs\": [", st_mode(), rounds, per_config);
    for (c = 0; c < K_CONFIGS; c++)
        printf("%s{\"threads\": %d, \"seconds\": %.3f}", c ? ", " : "", k_threads[c], secs[c]);
    printf("], \"ops_total\": %ld, \"count_mismatch\": %ld, \"failures\": %ld, \"ok\": %s}\n", total, mismatch,
           ST_LOAD(&st_failures), ST_LOAD(&st_failures) == 0 ? "true" : "false");
    return ST_LOAD(&st_failures) == 0 ? 0 : 1;
}
