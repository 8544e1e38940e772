/*
 * dup_threading.h: the C interface of libdupthreading.
 *
 * A small threading toolkit: locks, conditions, a thread-safe Value container,
 * interruptible waits and a one-shot future split in two halves (async split).
 * It is the C face of the Swift module DupThreading and the native core of the
 * Python module dup_threading.
 *
 * Conventions, true of every function below unless its comment says otherwise:
 *
 *  - Every function returns an int status: DT_OK (0) or one of the DT_E* codes
 *    listed in dt_status. dt_strerror() names each one. Results come back
 *    through out-parameters, which are written only on DT_OK.
 *  - Handles (dt_lock, dt_rlock, dt_cond, dt_value, dt_waiter, dt_caller) are
 *    opaque. A *_new function creates one that the caller owns and frees with
 *    the matching *_free function, exactly once. Passing NULL gives DT_EINVAL.
 *    Passing a handle of another kind, or one already freed, gives
 *    DT_EBADHANDLE where that can be detected (a freed handle is detected as
 *    long as its memory has not been reused; do not rely on it).
 *  - Every function is thread-safe: any thread may call any function on any
 *    handle at any time, except that a handle must not be used while, or
 *    after, another thread frees it.
 *  - Timeouts are in seconds, as a double. DT_WAIT_FOREVER (-1.0) and +infinity
 *    mean no timeout; 0 means do not block; any other negative value and NaN
 *    give DT_EINVAL.
 *  - Blocking calls that take a dt_interrupt_fn consult it when the wait is
 *    disturbed: when a signal handler ran on the waiting thread (whether or not
 *    it was installed with SA_RESTART), when dt_cond_interrupt() was called on
 *    the condition, 25 ms after the thread parks and after every wake-up
 *    that sends it back to park (to catch a signal that landed just before
 *    it parked), and every two seconds while nothing disturbs it. If it
 *    returns non-zero the call returns DT_EINTERRUPTED; if it returns 0 the
 *    wait goes on with its original deadline. It runs on the waiting
 *    thread without the waited-on lock held. NULL means never interrupt.
 *    Timeouts too long to represent (beyond about 292 years) saturate.
 *    No wait polls: a notify or a release wakes the waiter at once.
 *
 * C99 and C++ clean.
 */
#ifndef DUP_THREADING_H
#define DUP_THREADING_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ------------------------------------------------------------ */

#define DT_VERSION_MAJOR 1
#define DT_VERSION_MINOR 0
#define DT_VERSION_PATCH 0
/* MAJOR * 10000 + MINOR * 100 + PATCH */
#define DT_VERSION_NUMBER (DT_VERSION_MAJOR * 10000 + DT_VERSION_MINOR * 100 + DT_VERSION_PATCH)
#define DT_VERSION_STRING "1.0.0"

/* The version of the library actually loaded, as DT_VERSION_NUMBER encodes it. */
int dt_version(void);

/* The version of the library actually loaded, as "MAJOR.MINOR.PATCH".
 * A static string: never freed. */
const char *dt_version_string(void);

/* ---- Status codes ------------------------------------------------------- */

typedef enum dt_status {
    DT_OK = 0,            /* success */
    DT_EINVAL = 1,        /* invalid argument: NULL pointer, bad timeout, negative count */
    DT_EBADHANDLE = 2,    /* handle of the wrong kind, or already freed */
    DT_ENOTOWNER = 3,     /* the calling thread does not hold the lock */
    DT_ENOTLOCKED = 4,    /* release of a lock that nobody holds */
    DT_EBUSY = 5,         /* try-acquire found the lock held, or free of a handle in use */
    DT_ETIMEDOUT = 6,     /* the timeout passed */
    DT_EINTERRUPTED = 7,  /* the interrupt callback asked the wait to stop */
    DT_EALREADY = 8,      /* an async-split caller was run a second time */
    DT_EFAILED = 9,       /* the async function failed: see the dt_error it left */
    DT_ENOTSUP = 10,      /* threading is not supported here */
    DT_ENOMEM = 11,       /* out of memory */
    DT_EABANDONED = 12    /* the async-split caller was freed without running */
} dt_status;

/* A static, human-readable description of a status code ("unknown status"
 * for codes this library does not define). Never NULL, never freed. */
const char *dt_strerror(int status);

/* Pass as a timeout to wait without limit. */
#define DT_WAIT_FOREVER (-1.0)

/* Consulted by interruptible waits (see the conventions above).
 * Return non-zero to stop waiting. */
typedef int (*dt_interrupt_fn)(void *ctx);

/* ---- Threading support --------------------------------------------------- */

/* 1 if threads are supported on this system, else 0. Always 1 on Linux. */
int dt_threading_supported(void);

/* DT_OK if threading is supported; otherwise DT_ENOTSUP, and a message that
 * names `reason` (NULL: "(no reason given)") is written to `message`
 * (NUL-terminated, truncated to `message_size` bytes; `message` may be NULL
 * when `message_size` is 0). DT_EINVAL if `message` is NULL and
 * `message_size` is not 0. */
int dt_require_threading(const char *reason, char *message, size_t message_size);

/* ---- Locks ---------------------------------------------------------------- */

/* A non-reentrant lock that remembers its holder. */
typedef struct dt_lock dt_lock;

/* Creates an unlocked lock in *out; free it with dt_lock_free. */
int dt_lock_new(dt_lock **out);

/* Frees a lock. DT_EBUSY (and nothing freed) if it is held or a thread is
 * blocked acquiring it (counted from the moment it finds the lock held; a
 * thread only starting a call is not seen, which is why a handle must not
 * be freed while another thread may still call a function on it). */
int dt_lock_free(dt_lock *lock);

/* Blocks until the calling thread holds the lock. Not interruptible: use
 * dt_lock_acquire_timed for that. Acquiring a lock the calling thread holds
 * blocks until another thread releases it with dt_lock_release_any_thread. */
int dt_lock_acquire(dt_lock *lock);

/* Takes the lock if it is free: DT_OK, or DT_EBUSY if it is held. */
int dt_lock_try_acquire(dt_lock *lock);

/* Blocks until the lock is held (DT_OK), the timeout passes (DT_ETIMEDOUT) or
 * `interrupt` asks to stop (DT_EINTERRUPTED). DT_EINVAL for a bad timeout. */
int dt_lock_acquire_timed(dt_lock *lock, double timeout, dt_interrupt_fn interrupt, void *interrupt_ctx);

/* Releases the lock. DT_ENOTLOCKED if nobody holds it, DT_ENOTOWNER if
 * another thread does. */
int dt_lock_release(dt_lock *lock);

/* Releases the lock whichever thread holds it (the semantics of Python's
 * threading.Lock). DT_ENOTLOCKED if nobody holds it. Each DT_OK ends exactly
 * one hold: of two racing releases of one hold, one returns DT_OK and the
 * other DT_ENOTLOCKED (or releases a hold taken after the first release). */
int dt_lock_release_any_thread(dt_lock *lock);

/* Writes 1 to *locked if any thread holds the lock, else 0 (a snapshot). */
int dt_lock_locked(dt_lock *lock, int *locked);

/* Resets the lock to unlocked. Only in a child process right after fork(). */
int dt_lock_reinit_after_fork(dt_lock *lock);

/* A reentrant lock: its holder may acquire it again and releases it as often. */
typedef struct dt_rlock dt_rlock;

/* Creates an unlocked reentrant lock in *out; free it with dt_rlock_free. */
int dt_rlock_new(dt_rlock **out);

/* Frees a reentrant lock. DT_EBUSY (and nothing freed) if it is held or a
 * thread is blocked acquiring it. */
int dt_rlock_free(dt_rlock *lock);

/* Blocks until the calling thread holds the lock (once more). */
int dt_rlock_acquire(dt_rlock *lock);

/* Takes the lock (once more) if that needs no waiting: DT_OK or DT_EBUSY. */
int dt_rlock_try_acquire(dt_rlock *lock);

/* As dt_lock_acquire_timed, for a reentrant lock. */
int dt_rlock_acquire_timed(dt_rlock *lock, double timeout, dt_interrupt_fn interrupt, void *interrupt_ctx);

/* Releases one level. DT_ENOTOWNER if another thread holds the lock,
 * DT_ENOTLOCKED if nobody does. */
int dt_rlock_release(dt_rlock *lock);

/* Writes 1 to *locked if any thread holds the lock, else 0 (a snapshot). */
int dt_rlock_locked(dt_rlock *lock, int *locked);

/* Writes how many times the calling thread holds the lock (0 if it does not). */
int dt_rlock_count(dt_rlock *lock, long *count);

/* Writes which thread holds the lock (its pthread_t as an integer, 0 if
 * none) and how many times, as a snapshot for diagnostics: it may be stale
 * as soon as it is read. */
int dt_rlock_owner(dt_rlock *lock, unsigned long *owner, long *count);

/* Releases every level the calling thread holds and writes their number to
 * *count (for a later dt_rlock_acquire_restore). DT_ENOTOWNER / DT_ENOTLOCKED
 * if the calling thread does not hold it. */
int dt_rlock_release_save(dt_rlock *lock, long *count);

/* Blocks until the calling thread holds the lock `count` times (count >= 1,
 * else DT_EINVAL); the calling thread must not hold it already (DT_EBUSY). */
int dt_rlock_acquire_restore(dt_rlock *lock, long count);

/* Resets the lock to unlocked. Only in a child process right after fork(). */
int dt_rlock_reinit_after_fork(dt_rlock *lock);

/* A lock of the application's, given as callbacks: acquire and release
 * return 0 on success (a non-zero release status is reported as
 * DT_ENOTOWNER); is_owned, if not NULL, returns 1 if the calling thread holds
 * the lock, 0 if not, -1 if it cannot tell. The struct is copied; `ctx` must
 * stay valid while it is in use. */
typedef struct dt_foreign_lock {
    int (*acquire)(void *ctx);
    int (*release)(void *ctx);
    int (*is_owned)(void *ctx);
    void *ctx;
} dt_foreign_lock;

/* ---- Conditions ------------------------------------------------------------- */

/* A condition variable bound to a lock, like Python's threading.Condition. */
typedef struct dt_cond dt_cond;

/* Creates a condition bound to `lock`, which is a dt_lock *, a dt_rlock *,
 * or NULL for a reentrant lock of its own. The condition keeps the lock's
 * state alive, so the lock handle may be freed first. Free with dt_cond_free. */
int dt_cond_new(void *lock, dt_cond **out);

/* Creates a condition bound to a foreign lock (the struct is copied). Whether
 * the calling thread holds it is checked only if `is_owned` is given. */
int dt_cond_new_foreign(const dt_foreign_lock *lock, dt_cond **out);

/* Frees a condition. DT_EBUSY (and nothing freed) while any thread is inside
 * dt_cond_wait or dt_interruptible_wait on it, from the start of the call
 * until it returns with the lock held again (including while it takes the
 * lock back), and while its lock (unless foreign) is held or being acquired:
 * the condition keeps its lock alive, and may be the last to hold it. */
int dt_cond_free(dt_cond *cond);

/* Acquires / releases the condition's lock (statuses as for its lock; for a
 * foreign lock, a failing acquire callback's status is returned as is). A
 * foreign acquire that fails while a wait takes the lock back cannot be
 * reported: use foreign locks whose acquire blocks until it succeeds. */
int dt_cond_acquire(dt_cond *cond);
int dt_cond_release(dt_cond *cond);

/* Releases the lock (fully, if reentrant), waits until a notify chooses the
 * calling thread, and takes the lock back at the same depth. Waiting threads
 * queue in arrival order; see dt_cond_notify for which ones a notify chooses.
 * Returns:
 *  - DT_OK only if a notify chose this thread: there are no spurious
 *    wake-ups. A notify that chooses it at the instant its timeout passes is
 *    not lost: the wait returns DT_OK.
 *  - DT_ETIMEDOUT if the timeout passed before any notify chose it.
 *  - DT_EINTERRUPTED if the wait was disturbed (dt_cond_interrupt, a signal,
 *    a scheduled check; see dt_interrupt_fn) and `interrupt` returned
 *    non-zero, or dt_cond_interrupt was called and `interrupt` is NULL. If
 *    `interrupt` returns 0 the wait goes on with its original deadline, as if
 *    nothing happened: it neither returns nor consumes a notify. A notify
 *    that had chosen a thread whose wait then ends with DT_EINTERRUPTED is
 *    handed on to the longest-waiting other thread that was already waiting
 *    when the notify was called (if there is none, it is spent).
 *  - DT_ENOTOWNER if the calling thread does not hold the lock, DT_EINVAL for
 *    a bad timeout; nothing was done.
 * The lock is held again on every return except DT_ENOTOWNER and DT_EINVAL. */
int dt_cond_wait(dt_cond *cond, double timeout, dt_interrupt_fn interrupt, void *interrupt_ctx);

/* Chooses exactly min(n, number of threads waiting) of the threads waiting
 * on the condition when it is called, longest-waiting first, and wakes them:
 * each of their waits returns DT_OK. Never more. (n == 0: none; DT_EINVAL if
 * n < 0.) The calling thread must hold the lock (DT_ENOTOWNER). */
int dt_cond_notify(dt_cond *cond, long n);

/* Chooses every thread waiting now, as dt_cond_notify with n = infinity.
 * The calling thread must hold the lock (DT_ENOTOWNER). */
int dt_cond_notify_all(dt_cond *cond);

/* Disturbs every thread waiting on the condition now: each consults its
 * interrupt callback and ends with DT_EINTERRUPTED if it returns non-zero
 * (a wait with no callback returns DT_EINTERRUPTED); otherwise it goes on
 * waiting unchanged. Any thread may call it, with or without the lock, and
 * so may a signal handler: it never blocks (if the condition's internal
 * queue lock is taken, even by the interrupted thread itself, the holder
 * delivers the interruption as it lets the queue go). */
int dt_cond_interrupt(dt_cond *cond);

/* Forgets the condition's waiters and resets its lock (unless foreign).
 * Only in a child process right after fork(). */
int dt_cond_reinit_after_fork(dt_cond *cond);

/* The predicate of dt_interruptible_wait: returns > 0 when satisfied, 0 when
 * not, and a negative value to abort the wait with that value as its status. */
typedef int (*dt_predicate_fn)(void *ctx);

/* Waits on `cond` until `predicate` is satisfied (checked with the lock held,
 * first before any waiting), without polling. The calling thread must hold
 * the lock, and holds it again on every return path. Returns DT_OK
 * (satisfied), DT_ETIMEDOUT, DT_EINTERRUPTED, the predicate's negative
 * status, DT_ENOTOWNER, or DT_EINVAL (NULL predicate, bad timeout). */
int dt_interruptible_wait(dt_cond *cond, dt_predicate_fn predicate, void *predicate_ctx,
                          dt_interrupt_fn interrupt, void *interrupt_ctx, double timeout);

/* ---- Value ------------------------------------------------------------------ */

/* A thread-safe container of one pointer, with a reentrant lock. */
typedef struct dt_value dt_value;

/* Optional reference-counting hooks for the stored pointer. With hooks, the
 * Value holds its own reference to what it stores (retain on store, release
 * when replaced or when the Value is freed, both outside the lock where
 * possible), and every pointer it hands out is a new reference the caller
 * must release. Without hooks the pointer is stored as is and its lifetime
 * is the caller's business. Hooks are not called on NULL pointers. */
typedef struct dt_value_hooks {
    void (*retain)(void *ctx, void *ref);
    void (*release)(void *ctx, void *ref);
    void *ctx;
} dt_value_hooks;

/* Creates a Value holding `initial` (may be NULL). `hooks` may be NULL; the
 * struct is copied. Free with dt_value_free. */
int dt_value_new(void *initial, const dt_value_hooks *hooks, dt_value **out);

/* Frees a Value, releasing its stored pointer through the hooks.
 * DT_EBUSY (and nothing freed) if some thread holds it or is blocked
 * acquiring it. */
int dt_value_free(dt_value *value);

/* Writes the stored pointer to *out (a new reference, with hooks). */
int dt_value_get(dt_value *value, void **out);

/* Stores `ref` (retained, with hooks), replacing and releasing the old one. */
int dt_value_set(dt_value *value, void *ref);

/* Called by dt_value_transform with the current pointer (borrowed). On
 * success it returns 0 and writes the pointer to store to *new_value (the
 * Value retains it, with hooks; the callback keeps its own reference). Any
 * non-zero return leaves the Value unchanged and is returned by
 * dt_value_transform. */
typedef int (*dt_transform_fn)(void *ctx, void *current, void **new_value);

/* Calls `fn` with exclusive access and stores what it produces. On success
 * writes the new pointer to *result (a new reference, with hooks; `result`
 * may be NULL). Returns DT_OK, the callback's non-zero status, or DT_EINVAL. */
int dt_value_transform(dt_value *value, dt_transform_fn fn, void *ctx, void **result);

/* Acquire / release exclusive access (reentrant), as for dt_rlock.
 * dt_value_release called from inside this Value's own transform callback
 * returns DT_ENOTOWNER for the level the transform holds (releasing it would
 * let the transform store its result without the lock). */
int dt_value_acquire(dt_value *value);
int dt_value_try_acquire(dt_value *value);
int dt_value_acquire_timed(dt_value *value, double timeout, dt_interrupt_fn interrupt, void *interrupt_ctx);
int dt_value_release(dt_value *value);

/* ---- with_lock --------------------------------------------------------------- */

/* The body run by dt_with_lock; its return value is passed back. */
typedef int (*dt_body_fn)(void *ctx);

/* Runs `body` with `lockable` held and releases it afterwards, returning the
 * body's status (or the release's status if the body returned 0 and the
 * release failed). `lockable` is a dt_lock *, dt_rlock *, dt_cond * or
 * dt_value * (recognised by its handle; DT_EBADHANDLE otherwise). */
int dt_with_lock(void *lockable, dt_body_fn body, void *ctx);

/* As dt_with_lock, for a foreign lock: a failing acquire's status is
 * returned and the body does not run. */
int dt_with_foreign_lock(const dt_foreign_lock *lock, dt_body_fn body, void *ctx);

/* ---- Async split ----------------------------------------------------------- */

/* How an async function failed: a non-zero code plus an optional payload
 * with its own free function, called once when both halves are freed. */
typedef struct dt_error {
    int code;
    void *data;
    void (*free_data)(void *data);
} dt_error;

/* The function of an async split. On success it returns 0 and writes its
 * result to *result. On failure it returns non-zero and may fill *error
 * (which starts zeroed); if error->code is left 0 the return value is used. */
typedef int (*dt_async_fn)(void *ctx, void **result, dt_error *error);

/* The front-end half: wait for the outcome. */
typedef struct dt_waiter dt_waiter;
/* The back-end half: run the function, once. */
typedef struct dt_caller dt_caller;

/* Splits calling fn(ctx) into a waiter and a caller, both owned by the
 * application and freed with dt_waiter_free / dt_caller_free in any order.
 * `free_result`, if not NULL, is called on a successful non-NULL result when
 * the last of the handles is freed. `ctx` must stay valid until the caller has run. */
int dt_async_split(dt_async_fn fn, void *ctx, void (*free_result)(void *result),
                   dt_waiter **waiter, dt_caller **caller);

/* Runs the function on the calling thread and publishes its outcome to every
 * waiter. Returns DT_OK if it succeeded, DT_EFAILED if it failed, DT_EALREADY
 * (without running it) if the caller already ran. If `waiter` is not NULL a
 * new waiter handle is written there, which the application frees. */
int dt_caller_run(dt_caller *caller, dt_waiter **waiter);

/* Frees a caller handle. Never DT_EBUSY. If it never ran, its function is
 * dropped unrun and every waiter gets DT_EABANDONED instead of blocking. */
int dt_caller_free(dt_caller *caller);

/* Blocks until the outcome is known. DT_OK: the result is written to *result
 * (borrowed: valid until the split's last handle is freed; the result itself
 * may be NULL). DT_EFAILED: the failure is written to *error (its data is
 * borrowed on the same terms). `result` and `error` may be NULL when the
 * caller does not want them (an exception to the NULL-pointer convention):
 * the status alone then says how the function ended. DT_EABANDONED if the caller was freed without
 * running. Also DT_ETIMEDOUT, DT_EINTERRUPTED, DT_EINVAL (a bad timeout is
 * rejected even when the outcome is already known).
 * Any number of threads may wait, any number of times; all see one outcome. */
int dt_waiter_wait(dt_waiter *waiter, double timeout, dt_interrupt_fn interrupt, void *interrupt_ctx,
                   void **result, dt_error *error);

/* Writes 1 to *done if the outcome is known, else 0. */
int dt_waiter_done(dt_waiter *waiter, int *done);

/* Frees a waiter handle. Other threads may still wait on other handles. */
int dt_waiter_free(dt_waiter *waiter);

#ifdef __cplusplus
}
#endif

#endif /* DUP_THREADING_H */
