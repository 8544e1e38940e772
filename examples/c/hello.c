/*
 * hello.c: a tour of libdupthreading's C API.
 *
 *   cc hello.c $(pkg-config --cflags --libs dupthreading) -pthread -o hello
 *
 * A worker pthread runs the back half of an async split, bumping a shared
 * Value and announcing progress on a condition; the main thread waits for it
 * with an interruptible wait, then collects the result.
 */
#define _POSIX_C_SOURCE 200809L
#include <dup_threading.h>

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#define STEPS 5

static dt_value *counter; /* an integer stored in the pointer */
static dt_cond *progress; /* with its own reentrant lock */
static int steps_done;    /* guarded by progress's lock */
static volatile sig_atomic_t stop_requested; /* set by a SIGINT handler */

#define TRY(call)                                                             \
    do {                                                                      \
        int st_ = (call);                                                     \
        if (st_ != DT_OK) {                                                   \
            fprintf(stderr, "%s: %s\n", #call, dt_strerror(st_));             \
            return 1;                                                         \
        }                                                                     \
    } while (0)

static int add_one(void *ctx, void *current, void **new_value) {
    (void)ctx;
    *new_value = (void *)((intptr_t)current + 1);
    return 0;
}

static int bump_progress(void *ctx) {
    (void)ctx;
    steps_done++;
    return dt_cond_notify_all(progress);
}

/* The async function: runs on the worker thread. */
static int work(void *ctx, void **result, dt_error *error) {
    int i;
    (void)ctx, (void)error;
    for (i = 0; i < STEPS; i++) {
        if (dt_value_transform(counter, add_one, NULL, NULL) != DT_OK) return 1;
        if (dt_with_lock(progress, bump_progress, NULL) != DT_OK) return 1;
    }
    *result = "all steps done";
    return 0;
}

static void *worker(void *caller) {
    dt_caller_run((dt_caller *)caller, NULL);
    return NULL;
}

static int finished(void *ctx) {
    (void)ctx;
    return steps_done == STEPS;
}

static int interrupted(void *ctx) {
    (void)ctx;
    return stop_requested; /* Ctrl-C ends the wait with DT_EINTERRUPTED */
}

static void on_sigint(int sig) {
    (void)sig;
    stop_requested = 1;
}

int main(void) {
    dt_waiter *waiter;
    dt_caller *caller;
    pthread_t thread;
    void *result = NULL, *count = NULL;
    dt_error error = {0, NULL, NULL};
    int st;

    signal(SIGINT, on_sigint);
    printf("libdupthreading %s\n", dt_version_string());
    TRY(dt_value_new((void *)0, NULL, &counter));
    TRY(dt_cond_new(NULL, &progress));
    TRY(dt_async_split(work, NULL, NULL, &waiter, &caller));
    if (pthread_create(&thread, NULL, worker, caller) != 0) return 1;

    /* Wait (interruptibly, at most 10 s) until every step is announced. */
    TRY(dt_cond_acquire(progress));
    st = dt_interruptible_wait(progress, finished, NULL, interrupted, NULL, 10.0);
    TRY(dt_cond_release(progress));
    if (st != DT_OK) {
        fprintf(stderr, "waiting for progress: %s\n", dt_strerror(st));
        return 1;
    }

    TRY(dt_waiter_wait(waiter, 10.0, interrupted, NULL, &result, &error));
    TRY(dt_value_get(counter, &count));
    printf("worker says: %s; counter = %ld\n", (const char *)result, (long)(intptr_t)count);

    pthread_join(thread, NULL);
    TRY(dt_waiter_free(waiter));
    TRY(dt_caller_free(caller));
    TRY(dt_cond_free(progress));
    TRY(dt_value_free(counter));
    return (intptr_t)count == STEPS ? 0 : 1;
}
