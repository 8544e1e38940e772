/*
 * upload_demo: duplicity's asynchronous volume upload, simulated in C over
 * libdupthreading.
 *
 * Volumes are produced in order by the main thread and uploaded concurrently
 * by worker threads, with at most --workers uploads in flight. Each upload is
 * an async split: the main thread keeps the waiter, a worker runs the caller.
 * A dt_value counts finished volumes and drives a live progress bar. A failed
 * upload (--fail-at N) stops production and its error reaches the main thread
 * through the waiter. Ctrl-C interrupts every wait at once and exits with 130.
 *
 *   upload_demo [--volumes N] [--workers K] [--fail-at N]
 */
#define _POSIX_C_SOURCE 200809L
#include "dup_threading.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_VOLUMES 1000
#define MAX_WORKERS 16

/* Everything below is guarded by `cond`'s lock unless it says otherwise. */
static dt_cond *cond;
static dt_caller *queue[MAX_VOLUMES];
static int queue_head, queue_tail;
static int in_flight;
static int shutting_down;
static dt_value *uploaded; /* finished volumes, as an intptr_t; has its own lock */
static int volumes = 40, workers = 4, fail_at = -1;

static volatile sig_atomic_t interrupted; /* set by the SIGINT handler */

static void on_sigint(int sig) { (void)sig; interrupted = 1; }

/* Interrupt callback for every wait: stop once Ctrl-C was pressed. */
static int stop_requested(void *ctx) { (void)ctx; return interrupted; }

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The simulated upload of one volume: 20-80 ms, or a failure at --fail-at. */
static int upload(void *ctx, void **result, dt_error *error) {
    intptr_t volume = (intptr_t)ctx;
    sleep_ms(20 + (long)((volume * 37) % 61));
    if (volume == fail_at) {
        char *message = malloc(64);
        snprintf(message, 64, "volume %ld: connection reset by peer", (long)volume);
        error->code = 1;
        error->data = message;
        error->free_data = free;
        return 1;
    }
    *result = (void *)(volume * 1000); /* a pretend byte count */
    return 0;
}

static int add_one(void *ctx, void *current, void **new_value) {
    (void)ctx;
    *new_value = (void *)((intptr_t)current + 1);
    return 0;
}

/* Draws the progress bar; runs under `uploaded`'s lock so lines do not mix. */
static int draw_progress(void *ctx) {
    (void)ctx;
    void *done;
    dt_value_get(uploaded, &done);
    int width = 30, filled = (int)((intptr_t)done * width / volumes);
    fprintf(stderr, "\r[%.*s%*s] %3ld/%d volumes", filled, "##############################",
            width - filled, "", (long)(intptr_t)done, volumes);
    return 0;
}

static int queue_not_empty_or_stopping(void *ctx) {
    (void)ctx;
    return queue_head != queue_tail || shutting_down;
}

static int room_in_flight(void *ctx) {
    (void)ctx;
    return in_flight < workers || shutting_down;
}

static void *worker(void *arg) {
    (void)arg;
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT); /* Ctrl-C goes to the main thread */
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    for (;;) {
        dt_cond_acquire(cond);
        int status = dt_interruptible_wait(cond, queue_not_empty_or_stopping, NULL, NULL, NULL, DT_WAIT_FOREVER);
        if (status != DT_OK || queue_head == queue_tail) { /* shutting down */
            dt_cond_release(cond);
            return NULL;
        }
        dt_caller *caller = queue[queue_head++];
        dt_cond_release(cond);

        int ok = dt_caller_run(caller, NULL) == DT_OK;
        dt_caller_free(caller);
        if (ok) {
            dt_value_transform(uploaded, add_one, NULL, NULL);
            dt_with_lock(uploaded, draw_progress, NULL);
        }
        dt_cond_acquire(cond);
        in_flight--;
        if (!ok) shutting_down = 1; /* the first failure stops production */
        dt_cond_notify_all(cond);
        dt_cond_release(cond);
    }
}

static int parse_args(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        int n = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--volumes") && n > 0 && n <= MAX_VOLUMES) volumes = n;
        else if (!strcmp(argv[i], "--workers") && n > 0 && n <= MAX_WORKERS) workers = n;
        else if (!strcmp(argv[i], "--fail-at") && n > 0) fail_at = n;
        else return -1;
    }
    return (argc % 2 == 1) ? 0 : -1;
}

int main(int argc, char **argv) {
    if (parse_args(argc, argv) != 0) {
        fprintf(stderr, "usage: %s [--volumes 1-%d] [--workers 1-%d] [--fail-at N]\n", argv[0], MAX_VOLUMES,
                MAX_WORKERS);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART needed: timed futex waits always see EINTR */
    sigaction(SIGINT, &sa, NULL);

    dt_cond_new(NULL, &cond);
    dt_value_new(NULL, NULL, &uploaded);
    pthread_t threads[MAX_WORKERS];
    for (int i = 0; i < workers; i++) pthread_create(&threads[i], NULL, worker, NULL);

    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    dt_waiter *waiters[MAX_VOLUMES];
    int produced = 0, status = DT_OK;
    for (; produced < volumes; produced++) {
        dt_cond_acquire(cond);
        status = dt_interruptible_wait(cond, room_in_flight, NULL, stop_requested, NULL, DT_WAIT_FOREVER);
        if (status != DT_OK || shutting_down) {
            dt_cond_release(cond);
            break;
        }
        dt_caller *caller;
        dt_async_split(upload, (void *)(intptr_t)(produced + 1), NULL, &waiters[produced], &caller);
        queue[queue_tail++] = caller;
        in_flight++;
        dt_cond_notify(cond, 1);
        dt_cond_release(cond);
    }

    /* Collect every scheduled upload in order; the first error wins. */
    const char *first_error = NULL;
    for (int i = 0; i < produced && status == DT_OK; i++) {
        dt_error error = {0, NULL, NULL};
        int s = dt_waiter_wait(waiters[i], DT_WAIT_FOREVER, stop_requested, NULL, NULL, &error);
        if (s == DT_EFAILED && !first_error) first_error = error.data;
        if (s == DT_EINTERRUPTED) status = s;
    }

    dt_cond_acquire(cond);
    shutting_down = 1;
    while (queue_head != queue_tail) dt_caller_free(queue[queue_head++]); /* never run */
    dt_cond_notify_all(cond);
    dt_cond_release(cond);
    for (int i = 0; i < workers; i++) pthread_join(threads[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &end);

    void *done;
    dt_value_get(uploaded, &done);
    double seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    fprintf(stderr, "\n");
    int exit_code = 0;
    if (interrupted) {
        printf("interrupted: %ld of %d volumes uploaded before Ctrl-C\n", (long)(intptr_t)done, volumes);
        exit_code = 130;
    } else if (first_error) {
        printf("upload failed: %s (%ld of %d volumes uploaded)\n", first_error, (long)(intptr_t)done, volumes);
        exit_code = 1;
    } else {
        printf("uploaded %ld volumes with %d workers in %.2f s\n", (long)(intptr_t)done, workers, seconds);
    }
    for (int i = 0; i < produced; i++) dt_waiter_free(waiters[i]); /* frees error payloads too */
    dt_value_free(uploaded);
    dt_cond_free(cond);
    return exit_code;
}
