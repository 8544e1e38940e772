/*
 * free_while_acquiring.h: the check that a lock-like handle (dt_lock,
 * dt_rlock, dt_value) cannot be freed while a thread is blocked acquiring it,
 * whether or not it is held at that moment. Include after harness.h.
 *
 * The blocked thread is first parked behind a holder; then it is held in its
 * interrupt callback (inside the acquire, not parked) while the holder
 * releases, and the free comes in that window, in which nobody holds the
 * handle: the free used to succeed there and leave the acquiring thread on
 * freed memory.
 */
#ifndef DT_TEST_FREE_WHILE_ACQUIRING_H
#define DT_TEST_FREE_WHILE_ACQUIRING_H

#include "harness.h"

/* One kind of lock-like handle, seen through its C functions (each test
 * wraps its kind's functions to take the handle as void *). */
typedef struct th_lockable {
    void *handle;
    int (*acquire)(void *handle);
    int (*acquire_timed)(void *handle, double timeout, dt_interrupt_fn fn, void *ctx);
    int (*release)(void *handle);
    int (*free)(void *handle);
    /* NULL if the kind cannot report whether it is held. */
    int (*locked)(void *handle, int *locked);
    /* Levels the holder takes in the first part (2 for a recursive kind:
     * the free stays refused until the last release). */
    int depth;
} th_lockable;

typedef struct th_gated_acquire {
    const th_lockable *lockable;
    th_cb_gate *gate;
    int st;
} th_gated_acquire;

static inline void th_acquire_gated(void *arg) {
    th_gated_acquire *a = (th_gated_acquire *)arg;
    const th_lockable *l = a->lockable;
    a->st = l->acquire_timed(l->handle, 10.0 * th_slow, a->gate ? th_cb_gate_fn : NULL, a->gate);
    if (a->st == DT_OK) CHECK_ST(l->release(l->handle), DT_OK);
}

/* Runs the check on a new, unheld handle and frees it at the end. */
static inline void th_check_free_while_acquiring(const th_lockable *l) {
    th_cb_gate gate;
    th_gated_acquire a;
    th_thread t;
    int level, locked = -1;
    /* Held, a thread blocked in the timed acquire. */
    for (level = 0; level < l->depth; level++) CHECK_ST(l->acquire(l->handle), DT_OK);
    a.lockable = l;
    a.gate = NULL;
    a.st = -1;
    th_start(&t, th_acquire_gated, &a);
    th_sleep_ms(50);
    CHECK(!th_finished(&t));
    for (level = 0; level < l->depth; level++) {
        CHECK_ST(l->free(l->handle), DT_EBUSY);
        CHECK_ST(l->release(l->handle), DT_OK);
    }
    th_join(&t, 10);
    CHECK_ST(a.st, DT_OK);
    /* Not held, a thread still in the acquire. */
    th_cb_gate_init(&gate, 0);
    a.gate = &gate;
    a.st = -1;
    CHECK_ST(l->acquire(l->handle), DT_OK);
    th_start(&t, th_acquire_gated, &a);
    CHECK(th_wait_until(th_cb_gate_inside, &gate, 10));
    CHECK_ST(l->free(l->handle), DT_EBUSY);
    CHECK_ST(l->release(l->handle), DT_OK);
    if (l->locked) {
        CHECK_ST(l->locked(l->handle, &locked), DT_OK);
        CHECK_EQ(locked, 0);
    }
    CHECK_ST(l->free(l->handle), DT_EBUSY);
    th_cb_gate_open(&gate);
    th_join(&t, 10);
    CHECK_ST(a.st, DT_OK); /* it went on and took the free handle */
    th_cb_gate_destroy(&gate);
    CHECK_ST(l->free(l->handle), DT_OK);
}

#endif
