/*
 * waits.c: with_lock(lock, fn) and interruptably_wait(cv, waitFor).
 *
 * Both take any object with duplicity's duck-typed protocol (acquire() /
 * release(), wait()); this module's own types go through the library directly.
 */
#include "dtpy.h"

enum lock_kind { K_GENERIC, K_LOCK, K_RLOCK, K_VALUE, K_COND };

static enum lock_kind kind_of(PyObject *lock) {
    /* Exact types only: a subclass may override acquire()/release(). */
    PyTypeObject *type = Py_TYPE(lock);
    if (type == DtPy_LockType) return K_LOCK;
    if (type == DtPy_RLockType) return K_RLOCK;
    if (type == DtPy_ValueType) return K_VALUE;
    if (type == DtPy_ConditionType && ((ConditionObject *)lock)->handle != NULL) return K_COND;
    return K_GENERIC;
}

/* 0 acquired, -1 error. Blocking waits release the GIL and end on Ctrl-C. */
static int acquire_any(PyObject *lock, enum lock_kind kind) {
    switch (kind) {
    case K_LOCK: return dtpy_lock_acquire((LockObject *)lock, -1) < 0 ? -1 : 0;
    case K_RLOCK: return dtpy_rlock_acquire((RLockObject *)lock, -1) < 0 ? -1 : 0;
    case K_VALUE: return dtpy_value_acquire((ValueObject *)lock, -1) < 0 ? -1 : 0;
    case K_COND: return dtpy_cond_acquire((ConditionObject *)lock, -1) < 0 ? -1 : 0;
    default: break;
    }
    PyObject *r = dtpy_call_method_noargs(lock, DtPy_str_acquire);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static int release_any(PyObject *lock, enum lock_kind kind) {
    switch (kind) {
    case K_LOCK: return dtpy_lock_release((LockObject *)lock);
    case K_RLOCK: return dtpy_rlock_release((RLockObject *)lock);
    case K_VALUE: return dtpy_value_release((ValueObject *)lock);
    case K_COND: return dtpy_cond_release((ConditionObject *)lock);
    default: break;
    }
    PyObject *r = dtpy_call_method_noargs(lock, DtPy_str_release);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* The current exception (the release's) gets the earlier one (fn's) as its
 * __context__, as a `finally:` block that raises would do. Steals the three. */
static void chain_exception(PyObject *type, PyObject *value, PyObject *tb) {
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL) PyException_SetTraceback(value, tb);
    PyObject *type2, *value2, *tb2;
    PyErr_Fetch(&type2, &value2, &tb2);
    PyErr_NormalizeException(&type2, &value2, &tb2);
    PyException_SetContext(value2, value); /* steals value */
    Py_XDECREF(type);
    Py_XDECREF(tb);
    PyErr_Restore(type2, value2, tb2);
}

PyObject *dtpy_with_lock(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    PyObject *o[2];
    if (nargs == 2 && kwnames == NULL) {
        o[0] = args[0];
        o[1] = args[1];
    } else {
        static const char *const names[] = {"lock", "fn"};
        if (dtpy_parse("with_lock", args, nargs, kwnames, names, 2, 2, o) < 0) return NULL;
    }
    PyObject *lock = o[0], *fn = o[1];
    enum lock_kind kind = kind_of(lock);
    if (acquire_any(lock, kind) < 0) return NULL;
    PyObject *result = PyObject_CallNoArgs(fn);
    if (result != NULL) {
        if (release_any(lock, kind) < 0) Py_CLEAR(result);
        return result;
    }
    /* fn raised: release all the same. Python code must not run with an
     * exception set, so park fn's exception while we release. */
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (release_any(lock, kind) < 0)
        chain_exception(type, value, tb);
    else
        PyErr_Restore(type, value, tb); /* the very same exception and traceback */
    return NULL;
}

PyObject *dtpy_interruptably_wait(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                                  PyObject *kwnames) {
    static const char *const names[] = {"cv", "waitFor"};
    PyObject *o[2];
    if (dtpy_parse("interruptably_wait", args, nargs, kwnames, names, 2, 2, o) < 0) return NULL;
    PyObject *cv = o[0], *wait_for = o[1];
    int native = Py_IS_TYPE(cv, DtPy_ConditionType) && ((ConditionObject *)cv)->handle != NULL;
    /* Pending signal handlers first: one may change what waitFor reads and
     * notify, and must run before waitFor is evaluated (see
     * dtpy_cond_wait_for), or its notify could come before our wait. */
    if (PyErr_CheckSignals() < 0) return NULL;
    for (;;) {
        PyObject *r = PyObject_CallNoArgs(wait_for);
        if (r == NULL) return NULL;
        int truth = PyObject_IsTrue(r);
        if (truth != 0) {
            Py_DECREF(r);
            return truth < 0 ? NULL : Py_NewRef(Py_None);
        }
        if (native) {
            /* One library wait that re-checks waitFor itself after each wake-up,
             * releasing the GIL while parked: no polling, Ctrl-C ends it. */
            PyObject *last = dtpy_cond_wait_for((ConditionObject *)cv, wait_for, r, -1);
            Py_DECREF(r);
            if (last == NULL) return NULL;
            Py_DECREF(last);
            Py_RETURN_NONE;
        }
        Py_DECREF(r);
        /* threading.Condition (or anything with wait()): its untimed wait
         * releases the GIL and is already interrupted by Ctrl-C on POSIX. */
        PyObject *w = dtpy_call_method_noargs(cv, DtPy_str_wait);
        if (w == NULL) return NULL;
        Py_DECREF(w);
    }
}
