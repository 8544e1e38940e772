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

/* ---- The limited API -------------------------------------------------------
 *
 * Built with Py_LIMITED_API=0x030a0000 (CMake option DTPY_LIMITED_API), the
 * module is one binary for every CPython from 3.10 on (abi3). The sources are
 * the same either way; what the 3.10 limited API lacks is below, and the few
 * places that differ are marked with #ifdef Py_LIMITED_API. */

/* The running interpreter's version, for the behaviour that must match each
 * CPython's own threading: the headers' PY_VERSION_HEX in a per-version
 * build (a constant, so the checks fold away); sys.hexversion, read once by
 * the module's init, in a limited build (Py_Version is not in the 3.10
 * limited API). */
#ifdef Py_LIMITED_API
extern unsigned long dtpy_python_version;
#define DTPY_PYTHON_VERSION dtpy_python_version
#else
#define DTPY_PYTHON_VERSION ((unsigned long)PY_VERSION_HEX)
#endif

/* Tuple and dict accessors: the macros where they exist, the functions in
 * the limited API (same results on the tuples and dicts given to them). */
#ifdef Py_LIMITED_API
#define DTPY_TUPLE_SIZE(t) PyTuple_Size(t)
#define DTPY_TUPLE_ITEM(t, i) PyTuple_GetItem((t), (i))
#define DTPY_TUPLE_SET(t, i, v) ((void)PyTuple_SetItem((t), (i), (v))) /* a new tuple: cannot fail */
#define DTPY_DICT_SIZE(d) PyDict_Size(d)
#else
#define DTPY_TUPLE_SIZE(t) PyTuple_GET_SIZE(t)
#define DTPY_TUPLE_ITEM(t, i) PyTuple_GET_ITEM((t), (i))
#define DTPY_TUPLE_SET(t, i, v) PyTuple_SET_ITEM((t), (i), (v))
#define DTPY_DICT_SIZE(d) PyDict_GET_SIZE(d)
#endif

/* fn(arg) and obj.name(): PyObject_CallOneArg and PyObject_CallMethodNoArgs
 * are not in the 3.10 limited API. */
#ifdef Py_LIMITED_API
#define dtpy_call_one(fn, arg) PyObject_CallFunctionObjArgs((fn), (arg), NULL)
#define dtpy_call_method_noargs(obj, name) PyObject_CallMethodObjArgs((obj), (name), NULL)
#else
#define dtpy_call_one(fn, arg) PyObject_CallOneArg((fn), (arg))
#define dtpy_call_method_noargs(obj, name) PyObject_CallMethodNoArgs((obj), (name))
#endif

/* callable(*args[:nargs], **dict(zip(kwnames, args[nargs:]))), the
 * PyObject_Vectorcall calling convention, for the limited API (which has
 * PyObject_Vectorcall from 3.12 only): through a tuple and a dict. */
PyObject *dtpy_vectorcall(PyObject *callable, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);

/* The other way round, for a tp_call slot in the limited API (no vectorcall
 * before 3.12): calls fn, a METH_FASTCALL | METH_KEYWORDS style function, with
 * the arguments of a tuple and a dict. */
typedef PyObject *(*dtpy_fastcall_fn)(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                      PyObject *kwnames);
PyObject *dtpy_call_fastcall(dtpy_fastcall_fn fn, PyObject *self, PyObject *args, PyObject *kwargs);

/* The types are heap types (PyType_FromSpec), in both builds. An instance
 * holds a reference to its type: tp_dealloc drops it after tp_free, and
 * tp_traverse visits it. tp_alloc and tp_free through PyType_GetSlot (the
 * limited API has no PyTypeObject fields). */
static inline PyObject *dtpy_alloc(PyTypeObject *type) {
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    return alloc(type, 0);
}
static inline void dtpy_free(PyObject *self) {
    PyTypeObject *type = Py_TYPE(self);
    freefunc free_fn = (freefunc)PyType_GetSlot(type, Py_tp_free);
    free_fn(self);
    Py_DECREF(type);
}

/* A new reference to Py_TYPE(self)->tp_name as a str, for the reprs: the
 * spec's name (dup_threading.X) for this module's own types, and for a
 * Python subclass its name (a class statement's tp_name is its __name__). */
PyObject *dtpy_type_name(PyObject *self);

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

/* The types, made from their specs by the module's init. */
extern PyTypeObject *DtPy_LockType;
extern PyTypeObject *DtPy_RLockType;
extern PyTypeObject *DtPy_ConditionType;
extern PyTypeObject *DtPy_ValueType;
extern PyTypeObject *DtPy_WaiterType;
extern PyTypeObject *DtPy_CallerType;
extern PyType_Spec DtPy_LockSpec;
extern PyType_Spec DtPy_RLockSpec;
extern PyType_Spec DtPy_ConditionSpec;
extern PyType_Spec DtPy_ValueSpec;
extern PyType_Spec DtPy_WaiterSpec;
extern PyType_Spec DtPy_CallerSpec;
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

/* Makes the type of `spec` into *type and adds it to the module under
 * `name`. 0 or -1. */
int dtpy_add_type(PyObject *module, PyType_Spec *spec, PyTypeObject **type, const char *name);

#endif /* DTPY_H */
