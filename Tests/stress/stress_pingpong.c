/* Condition ping-pong: two threads hand a turn back and forth through one
 * dt_cond, 1,000,000 round trips at full scale (100,000 quick). Ping waits
 * with dt_cond_wait in a loop, pong with dt_interruptible_wait. The partner
 * always notifies at once, so a wait that times out is a lost wake-up and
 * fails the run (the long timeout only keeps it bounded). dt_cond_wait
 * returns DT_OK only when a notify chose it, and only pong notifies ping,
 * after handing it the turn: a DT_OK that finds the turn not ping's is a
 * spurious wake-up, and fails the run too. */
#include "stress.h"

static dt_cond *g_c;
static int g_turn;             /* 0: ping's, 1: pong's; guarded by the lock */
static long g_handoffs;        /* guarded by the lock */
static long g_lost_wakeups;    /* waits that timed out */
static long g_spurious;        /* dt_cond_wait returned DT_OK with the turn not ours */

typedef struct player {
    int me;
    long trips;
} player;

static int my_turn(void *ctx) { return g_turn == ((player *)ctx)->me; }

static void *play(void *arg) {
    player *p = (player *)arg;
    double timeout = 10.0 * st_slow;
    long i;
    for (i = 0; i < p->trips; i++) {
        ST_OK(dt_cond_acquire(g_c));
        if (p->me == 0) {
            while (g_turn != 0) {
                int st = ST_EXPECT(dt_cond_wait(g_c, timeout, NULL, NULL), ST_BIT(DT_OK) | ST_BIT(DT_ETIMEDOUT));
                if (st == DT_ETIMEDOUT) ST_ADD(&g_lost_wakeups, 1);
                else if (g_turn != 0) ST_ADD(&g_spurious, 1);
            }
        } else if (ST_EXPECT(dt_interruptible_wait(g_c, my_turn, p, NULL, NULL, timeout),
                             ST_BIT(DT_OK) | ST_BIT(DT_ETIMEDOUT)) == DT_ETIMEDOUT) {
            ST_ADD(&g_lost_wakeups, 1);
            i--; /* not our turn yet: wait again */
            ST_OK(dt_cond_release(g_c));
            continue;
        }
        g_turn = 1 - p->me;
        g_handoffs++;
        ST_OK(dt_cond_notify(g_c, 1));
        ST_OK(dt_cond_release(g_c));
        if ((i & 1023) == 1023) ST_BEAT();
    }
    return NULL;
}

static void dump(void) {
    fprintf(stderr, "  lost wake-ups: %ld (the turn and hand-off count are guarded by the stalled lock)\n",
            ST_LOAD(&g_lost_wakeups));
}

int main(int argc, char **argv) {
    pthread_t t[2];
    player p[2];
    dt_lock *lock;
    long trips, total = 0, expected = 0;
    double started, secs = 0;
    int rounds = 0, i;
    st_begin("stress_pingpong", argc, argv);
    st_dump = dump;
    trips = st_scaled(1000000, 10);
    st_set_phase("ping-pong");
    ST_OK(dt_lock_new(&lock));
    ST_OK(dt_cond_new(lock, &g_c));
    started = st_now();
    while (st_another_round(started, rounds)) {
        double t0 = st_now();
        g_turn = 0;
        g_handoffs = 0;
        for (i = 0; i < 2; i++) {
            p[i].me = i;
            p[i].trips = trips;
            st_spawn(&t[i], play, &p[i]);
        }
        for (i = 0; i < 2; i++) pthread_join(t[i], NULL);
        secs += st_now() - t0;
        ST_CHECK(g_handoffs == 2 * trips);
        ST_CHECK(g_turn == 0);
        total += g_handoffs / 2;
        expected += trips;
        rounds++;
    }
    ST_CHECK(ST_LOAD(&g_lost_wakeups) == 0);
    ST_CHECK(ST_LOAD(&g_spurious) == 0);
    ST_OK(dt_cond_free(g_c));
    ST_OK(dt_lock_free(lock));
    printf("RESULT {\"program\": \"pingpong\", \"mode\": \"%s\", \"rounds\": %d, \"threads\": 2, "
           "\"round_trips\": %ld, \"expected_round_trips\": %ld, \"seconds\": %.3f, "
           "\"round_trips_per_second\": %.0f, \"lost_wakeups\": %ld, \"spurious_wakeups\": %ld, "
           "\"failures\": %ld, \"ok\": %s}\n",
           st_mode(), rounds, total, expected, secs, secs > 0 ? total / secs : 0.0, ST_LOAD(&g_lost_wakeups),
           ST_LOAD(&g_spurious), ST_LOAD(&st_failures), ST_LOAD(&st_failures) == 0 ? "true" : "false");
    return ST_LOAD(&st_failures) == 0 ? 0 : 1;
}
