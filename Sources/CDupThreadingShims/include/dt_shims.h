/*
 * Tiny C shims for the few Linux calls the Swift core makes: the futex
 * system call (syscall(2) is variadic and so is not imported into Swift),
 * the monotonic clock, yielding the processor and the calling thread's
 * identity. The core reaches libc only through this header, never through
 * the Glibc module, so that the same sources also build in Embedded Swift
 * (which has no Glibc module). Internal to the package: not part of the
 * public C API.
 */
#ifndef DT_SHIMS_H
#define DT_SHIMS_H

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

/* What dupthreading_shim_futex_wait returns besides 0 (woken), as constants
 * Swift can see (errno.h's macros belong to the Glibc module). */
enum {
    DUPTHREADING_SHIM_TIMED_OUT = -ETIMEDOUT,
    DUPTHREADING_SHIM_INTERRUPTED = -EINTR
};

/* The deadline that means "none" for dupthreading_shim_futex_wait. */
#define DUPTHREADING_SHIM_NO_DEADLINE UINT64_MAX

/* Blocks while *word == expected, until woken, until the absolute
 * CLOCK_MONOTONIC time deadline_ns, in nanoseconds
 * (DUPTHREADING_SHIM_NO_DEADLINE: none), or until a signal handler runs.
 * Returns 0 when woken, or a negative errno: -EAGAIN (the word had already
 * changed), DUPTHREADING_SHIM_TIMED_OUT (-ETIMEDOUT),
 * DUPTHREADING_SHIM_INTERRUPTED (-EINTR).
 *
 * With a deadline the kernel never restarts this wait after a signal handler
 * ran, even for handlers installed with SA_RESTART: a timed futex wait ends
 * with EINTR whenever a handler runs. Without one, an SA_RESTART handler's
 * return resumes the wait unseen, so waits that must notice signals pass a
 * deadline. */
int dupthreading_shim_futex_wait(uint32_t *word, uint32_t expected, uint64_t deadline_ns);

/* Wakes at most `count` threads blocked in dupthreading_shim_futex_wait on `word`.
 * Returns how many were woken, or a negative errno. */
int dupthreading_shim_futex_wake(uint32_t *word, int32_t count);

/* CLOCK_MONOTONIC now, in nanoseconds. */
static inline uint64_t dupthreading_shim_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Gives the processor to another thread (sched_yield). */
static inline void dupthreading_shim_yield(void) { (void)sched_yield(); }

/* A non-zero identifier of the calling thread, equal to pthread_self()
 * as an integer. Where the compiler can read the thread pointer directly
 * (glibc's pthread_self() returns exactly that on x86_64) this
 * is one instruction instead of a library call. */
#if defined(__GLIBC__) && defined(__x86_64__) && defined(__has_builtin)
#if __has_builtin(__builtin_thread_pointer)
#define DUPTHREADING_SHIM_THREAD_POINTER 1
#endif
#endif

#ifdef DUPTHREADING_SHIM_THREAD_POINTER
static inline uintptr_t dupthreading_shim_thread_id(void) {
    return (uintptr_t)__builtin_thread_pointer();
}
#else
#include <pthread.h>
static inline uintptr_t dupthreading_shim_thread_id(void) { return (uintptr_t)pthread_self(); }
#endif

#endif
