#include "dt_shims.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

int dupthreading_shim_futex_wait(uint32_t *word, uint32_t expected, uint64_t deadline_ns) {
    /* FUTEX_WAIT_BITSET takes an absolute deadline on CLOCK_MONOTONIC, so a
     * wait that is disturbed and retried keeps its original deadline. */
    struct timespec deadline;
    const struct timespec *until = NULL;
    if (deadline_ns != DUPTHREADING_SHIM_NO_DEADLINE) {
        deadline.tv_sec = (time_t)(deadline_ns / 1000000000u);
        deadline.tv_nsec = (long)(deadline_ns % 1000000000u);
        until = &deadline;
    }
    long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected,
                     until, NULL, FUTEX_BITSET_MATCH_ANY);
    return r == 0 ? 0 : -errno;
}

int dupthreading_shim_futex_wake(uint32_t *word, int32_t count) {
    long r = syscall(SYS_futex, word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, count, NULL, NULL, 0);
    return r >= 0 ? (int)r : -errno;
}
