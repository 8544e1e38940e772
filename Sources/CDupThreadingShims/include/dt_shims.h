/*
 * Tiny C shims for the few Linux calls Swift cannot reach directly
 * (syscall(2) is variadic and so is not imported into Swift).
 * Internal to the package: not part of the public C API.
 */
#ifndef DT_SHIMS_H
#define DT_SHIMS_H

#include <stdint.h>
#include <time.h>

/* Blocks while *word == expected, until woken, until the absolute
 * CLOCK_MONOTONIC time *deadline, or until a signal handler runs.
 * Returns 0 when woken, or a negative errno: -EAGAIN (the word had already
 * changed), -ETIMEDOUT, -EINTR.
 *
 * Because a deadline is always given, the kernel never restarts this wait
 * after a signal handler ran, even for handlers installed with SA_RESTART:
 * a timed futex wait ends with EINTR whenever a handler runs. */
int dupthreading_shim_futex_wait(uint32_t *word, uint32_t expected, const struct timespec *deadline);

/* Wakes at most `count` threads blocked in dupthreading_shim_futex_wait on `word`.
 * Returns how many were woken, or a negative errno. */
int dupthreading_shim_futex_wake(uint32_t *word, int32_t count);

#endif
