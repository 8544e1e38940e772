/*
 * stress.h: what the stress programs share (header only): the scale switch,
 * a watchdog, status checks, per-thread random numbers, the result line.
 *
 * Scale: `--quick` (default, or DT_STRESS_SCALE=quick), `--full`
 * (DT_STRESS_SCALE=full), `--soak SECONDS` (full-size rounds repeated until
 * SECONDS have passed). Every program prints one line
 *   RESULT {"program": ..., "ok": true|false, ...}
 * for scripts/reliability.sh and exits 0 only if every check held.
 *
 * The watchdog fails the run (exit 2, with the program's counters) when the
 * heartbeat stops moving for st_stall_seconds: a deadlock or a lost wake-up
 * ends the run instead of hanging it. alarm() is the last resort.
 */
#ifndef DT_STRESS_H
#define DT_STRESS_H

#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dup_threading.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define ST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define ST_SANITIZED 1
#endif

static const char *st_name = "stress";
static int st_full;             /* full-size counts */
static double st_soak_seconds;  /* > 0: repeat rounds for this long */
static int st_slow = 1;         /* time bounds multiplier (sanitizers, valgrind) */
static long st_failures;        /* failed checks, all threads */
static long st_beat;            /* heartbeat: bumped by workers as they progress */
static const char *st_phase = "start"; /* st_set_phase / ST_PHASE */
static void (*st_dump)(void);   /* prints the program's counters on a stall */

#define ST_ADD(p, n) __atomic_add_fetch((p), (n), __ATOMIC_RELAXED)
#define ST_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define ST_BEAT() ST_ADD(&st_beat, 1)
#define ST_PHASE() __atomic_load_n(&st_phase, __ATOMIC_RELAXED)
static inline void st_set_phase(const char *phase) { __atomic_store_n(&st_phase, phase, __ATOMIC_RELAXED); }

static inline double st_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void st_sleep_us(long us) {
    struct timespec ts;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000;
    nanosleep(&ts, NULL); /* a signal may cut it short: fine */
}

/* Counts a failed check and says where. Thread-safe. */
#define ST_CHECK(cond)                                                              \
    do {                                                                            \
        if (!(cond)) {                                                              \
            ST_ADD(&st_failures, 1);                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)

/* A status outside what the header documents for the call is a bug: report
 * it and stop. `allowed` is a bit mask of statuses, ST_BIT(DT_OK) | ... */
#define ST_BIT(s) (1u << (unsigned)(s))
static inline int st_status(int got, unsigned allowed, const char *call, const char *file, int line) {
    if (got < 0 || got > 31 || !(allowed & ST_BIT(got))) {
        fprintf(stderr, "%s:%d: %s returned %d (%s): not a documented status here\n", file, line,
                call, got, dt_strerror(got));
        fflush(stderr);
        _exit(1);
    }
    return got;
}
#define ST_EXPECT(call, allowed) st_status((call), (allowed), #call, __FILE__, __LINE__)
#define ST_OK(call) ST_EXPECT(call, ST_BIT(DT_OK))

/* xorshift64*: a cheap per-thread random source. */
static inline uint64_t st_rand(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void *st_watchdog(void *arg) {
    long last = -1, stalled = 0;
    long limit = (long)(intptr_t)arg;
    for (;;) {
        long now;
        st_sleep_us(1000000);
        now = ST_LOAD(&st_beat);
        stalled = now == last ? stalled + 1 : 0;
        last = now;
        if (stalled >= limit) {
            fprintf(stderr, "%s: WATCHDOG: no progress for %ld s in phase '%s': deadlock or lost wake-up\n",
                    st_name, stalled, ST_PHASE());
            if (st_dump) st_dump();
            printf("RESULT {\"program\": \"%s\", \"ok\": false, \"stalled_in\": \"%s\"}\n", st_name, ST_PHASE());
            fflush(NULL);
            _exit(2);
        }
    }
    return NULL;
}

static void st_usage(void) {
    fprintf(stderr, "usage: %s [--quick | --full | --soak SECONDS]\n", st_name);
    exit(64);
}

/* Call first: parses the scale, starts the watchdog, arms the last-resort alarm. */
static inline void st_begin(const char *name, int argc, char **argv) {
    const char *env = getenv("DT_STRESS_SCALE"), *vg = getenv("DT_TEST_UNDER_VALGRIND");
    pthread_t wd;
    int i;
    long stall = 30;
    st_name = name;
    if (env && strcmp(env, "full") == 0) st_full = 1;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) st_full = 0;
        else if (strcmp(argv[i], "--full") == 0) st_full = 1;
        else if (strcmp(argv[i], "--soak") == 0 && i + 1 < argc) st_soak_seconds = atof(argv[++i]);
        else st_usage();
    }
    if (st_soak_seconds > 0) st_full = 1;
#ifdef ST_SANITIZED
    st_slow = 10;
#endif
    if (vg && *vg && strcmp(vg, "0") != 0) st_slow = 50;
    stall *= st_slow;
    if (getenv("DT_STRESS_SELFTEST_STALL")) stall = 2; /* the watchdog's own test: stall below */
    if (pthread_create(&wd, NULL, st_watchdog, (void *)(intptr_t)stall) != 0) exit(2);
    pthread_detach(wd);
    alarm((unsigned)(st_soak_seconds + 900.0 * st_slow));
    if (getenv("DT_STRESS_SELFTEST_STALL")) {
        st_set_phase("self-test stall");
        for (;;) pause(); /* no heartbeat: the watchdog must end the run */
    }
}

/* Rounds: run at least once, and while the soak time lasts. */
static inline int st_another_round(double started, int rounds_done) {
    return rounds_done == 0 || (st_soak_seconds > 0 && st_now() - started < st_soak_seconds);
}

/* Counts scaled for quick mode: `full` at full scale, full / div otherwise. */
static inline long st_scaled(long full, long div) { return st_full ? full : full / div; }

/* The mode, for the result line. */
static inline const char *st_mode(void) { return st_soak_seconds > 0 ? "soak" : st_full ? "full" : "quick"; }

/* Creates a thread or dies. */
static inline void st_spawn(pthread_t *t, void *(*fn)(void *), void *arg) {
    if (pthread_create(t, NULL, fn, arg) != 0) {
        fprintf(stderr, "%s: pthread_create failed\n", st_name);
        exit(2);
    }
}

#endif
