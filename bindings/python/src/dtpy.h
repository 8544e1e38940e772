/*
 * dtpy.h: what the C files of dup_threading._native share.
 *
 * The extension adds exactly three things to the C ABI of libdupthreading:
 * the GIL, reference counts and exceptions. Semantics live in the library.
 *
 * The GIL rule, followed by every file:
 *   - A dt_ call that cannot block (try-acquire, release, get/set on a Value
 *     this thread already holds, notify, ...) is made with the GIL held.
 *   - A dt_ call that may block is made with the GIL released, and is given
 *     dtpy_interrupt() so that a signal (Ctrl-C) ends it; before releasing the
 *     GIL we always try the non-blocking path first, so an uncontended
 *     operation never touches the GIL.
 *   - Python code (a transform function, an async function, a predicate) runs
 *     only with the GIL held.
 * Because no thread ever blocks inside the library while holding the GIL,
 * a thread that holds a library lock and waits for the GIL cannot deadlock
 * with a thread that holds the GIL and wants the lock.
 */
#ifndef DTPY_H
#define DTPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "dup_threading.h"

/* ---- Objects ------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    dt_lock *handle;
    PyObject *weakrefs;
} LockObject;

typedef struct {
    PyObject_HEAD
    dt_rlock *handle;
    PyObject *weakrefs;
} RLockObject;

typedef struct {
    PyObject_HEAD
    dt_cond *handle;      /* NULL when the lock is foreign (see delegate) */
    PyObject *lock;       /* the LockObject / RLockObject / foreign lock */
    PyObject *delegate;   /* threading.Condition(lock) for a foreign lock */
    PyObject *weakrefs;
} ConditionObject;

typedef struct {
    PyObject_HEAD
    dt_value *handle;
    /* A borrowed copy of the stored pointer. Every store into the Value
     * happens in this extension with the GIL held, and the shadow is updated
     * before the GIL can be released, so any code holding the GIL sees in it
     * the object the Value really holds: the garbage collector (tp_traverse
     * must not block on the Value's lock) and set() (for its own reference
     * to the old value). Reads for Python code go through the library. */
    PyObject *shadow;
    /* How many levels of the Value's lock are held, plus how many threads
     * are waiting for it without the GIL (and so may get it at any moment).
     * Changed only with the GIL held. When it is 0, nobody holds the lock or
     * can take it before we release the GIL, so a plain dt_value_get /
     * dt_value_set (which lock inside the library) cannot block: get() and
     * set() then cost one library call instead of three (~9x faster than
     * duplicity's pure-Python Value, rather than ~5x). */
    Py_ssize_t busy;
    PyObject *weakrefs;
} ValueObject;

extern PyTypeObject DtPy_LockType;
extern PyTypeObject DtPy_RLockType;
extern PyTypeObject DtPy_ConditionType;
extern PyTypeObject DtPy_ValueType;
extern PyTypeObject DtPy_WaiterType;
extern PyTypeObject DtPy_CallerType;
/* Registers the fork handler async_split's conditions need; 0 or -1. */
int dtpy_async_split_init(void);

extern PyObject *DtPy_NotSupported;
extern PyObject *DtPy_str_acquire;
extern PyObject *DtPy_str_release;
extern PyObject *DtPy_str_wait;

/* ---- Errors ------------------------------------------------------------- */

/* Raises the Python exception for a dt_ status (RuntimeError, ValueError,
 * TimeoutError, MemoryError, ...), with `message` or dt_strerror's text.
 * For DT_EINTERRUPTED the exception a signal handler left is kept.
 * Always returns NULL. */
PyObject *dtpy_raise(int status, const char *message);

/* ---- Releasing the GIL around a blocking call ---------------------------- */

/* The context of a blocking dt_ call made without the GIL: the thread state
 * saved by PyEval_SaveThread, which dtpy_interrupt and the predicate
 * callbacks use to take the GIL back for a moment. */
typedef struct {
    PyThreadState *ts;
} dtpy_blocking;

#define DTPY_RELEASE_GIL(b) ((b)->ts = PyEval_SaveThread())
#define DTPY_TAKE_GIL(b) PyEval_RestoreThread((b)->ts)

/* dt_interrupt_fn: takes the GIL, runs pending signal handlers
 * (PyErr_CheckSignals: a no-op off the main thread) and releases the GIL.
 * Returns 1, leaving the handler's exception (KeyboardInterrupt) set, if a
 * handler raised; 0 to go on waiting. ctx is a dtpy_blocking *. */
int dtpy_interrupt(void *ctx);

/* Acquires a lock-like handle: the non-blocking try first, with the GIL; if
 * that finds it busy and timeout != 0, the blocking, interruptible timed call
 * without the GIL. timeout: -1 forever, 0 try only, > 0 seconds.
 * `busy`, if not NULL, is incremented (with the GIL) when the lock is taken
 * and also for as long as this thread may take it without the GIL (see
 * ValueObject.busy). Returns 1 acquired, 0 timed out / busy, -1 with an
 * exception set. */
typedef int (*dtpy_try_fn)(void *handle);
typedef int (*dtpy_timed_fn)(void *handle, double timeout, dt_interrupt_fn fn, void *ctx);
int dtpy_acquire(void *handle, dtpy_try_fn try_fn, dtpy_timed_fn timed_fn, double timeout, Py_ssize_t *busy);

/* ---- Arguments ---------------------------------------------------------- */

/* Matches METH_FASTCALL | METH_KEYWORDS arguments to parameters `names`
 * (positional-or-keyword, in order), the first `required` of them required.
 * Writes borrowed references to out[] (NULL for a parameter not given).
 * Returns 0, or -1 with a TypeError set. */
int dtpy_parse(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               const char *const *names, int count, int required, PyObject **out);

/* Parses acquire(blocking=True, timeout=-1) with the rules and messages of
 * the running version's _thread lock. Writes -1 (forever), 0 (do not block)
 * or a positive timeout. */
int dtpy_parse_acquire(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, double *timeout);

/* A timeout as threading.Condition.wait takes it: None (or absent) -> -1
 * (forever); anything not > 0 (NaN included) -> 0; a positive one must pass
 * acquire's rules (so +inf is an OverflowError, as there). */
int dtpy_parse_wait_timeout(PyObject *obj, double *timeout);

/* ---- Per-type entry points used across files ----------------------------- */

/* Each returns 1 acquired, 0 not acquired (timeout), -1 error; and 0 / -1. */
int dtpy_lock_acquire(LockObject *self, double timeout);
int dtpy_lock_release(LockObject *self);
int dtpy_rlock_acquire(RLockObject *self, double timeout);
int dtpy_rlock_release(RLockObject *self);
int dtpy_value_acquire(ValueObject *self, double timeout);
int dtpy_value_release(ValueObject *self);
/* For a condition with a native lock (handle != NULL). */
int dtpy_cond_acquire(ConditionObject *self, double timeout);
int dtpy_cond_release(ConditionObject *self);

/* Waits on a native condition until `predicate()` is truthy, with
 * dt_interruptible_wait. The caller has already run pending signal handlers
 * (PyErr_CheckSignals) and then evaluated the predicate once, with the lock
 * held, and got `initial` (falsy). Returns a new reference to the last
 * predicate result (falsy on timeout), or NULL with an exception. */
PyObject *dtpy_cond_wait_for(ConditionObject *self, PyObject *predicate, PyObject *initial, double timeout);

/* Module-level functions, defined in waits.c, async_split.c, module.c. */
PyObject *dtpy_with_lock(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
PyObject *dtpy_interruptably_wait(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames);
PyObject *dtpy_async_split(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);

/* Registers the types and exception on the module. 0 or -1. */
int dtpy_add_type(PyObject *module, PyTypeObject *type, const char *name);

#endif /* DTPY_H */
