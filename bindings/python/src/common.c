/*
 * common.c: status -> exception mapping, the GIL-releasing acquire, and
 * argument parsing shared by the types.
 */
#include "dtpy.h"

#include <math.h>

/* ---- Errors ------------------------------------------------------------- */

PyObject *dtpy_raise(int status, const char *message) {
    PyObject *type;
    switch (status) {
    case DT_EINTERRUPTED:
        /* A signal handler raised (KeyboardInterrupt...): keep its exception. */
        if (PyErr_Occurred()) return NULL;
        type = PyExc_InterruptedError;
        break;
    case DT_EINVAL: type = PyExc_ValueError; break;
    case DT_ETIMEDOUT: type = PyExc_TimeoutError; break;
    case DT_ENOMEM: return PyErr_NoMemory();
    case DT_ENOTSUP: type = DtPy_NotSupported; break;
    case DT_ENOTOWNER:
    case DT_ENOTLOCKED:
    case DT_EBUSY:
    case DT_EALREADY:
    case DT_EABANDONED: type = PyExc_RuntimeError; break;
    default: type = PyExc_SystemError; break; /* DT_EBADHANDLE, unknown: a bug */
    }
    if (message != NULL)
        PyErr_SetString(type, message);
    else
        PyErr_Format(type, "%s (dup_threading status %d)", dt_strerror(status), status);
    return NULL;
}

/* ---- The GIL ------------------------------------------------------------ */

int dtpy_interrupt(void *ctx) {
    dtpy_blocking *b = ctx;
    /* We are inside a blocking dt_ call without the GIL and without the
     * waited-on lock: take the GIL just long enough to run signal handlers. */
    PyEval_RestoreThread(b->ts);
    int raised = PyErr_CheckSignals() < 0;
    /* Releasing the GIL with the exception set is fine: it lives in our
     * thread state until the binding returns NULL. */
    b->ts = PyEval_SaveThread();
    return raised;
}

int dtpy_acquire(void *handle, dtpy_try_fn try_fn, dtpy_timed_fn timed_fn, double timeout, Py_ssize_t *busy) {
    int rc = try_fn(handle); /* fast path: with the GIL, never blocks */
    if (rc == DT_OK) {
        if (busy != NULL) ++*busy;
        return 1;
    }
    if (rc != DT_EBUSY) return dtpy_raise(rc, NULL), -1;
    if (timeout == 0) return 0;
    /* A signal that arrived just before we park would otherwise wait for the
     * library's first scheduled check: handle it now (cheap). */
    if (PyErr_CheckSignals() < 0) return -1;
    if (busy != NULL) ++*busy; /* we may take the lock while not holding the GIL */
    dtpy_blocking b;
    DTPY_RELEASE_GIL(&b);
    rc = timed_fn(handle, timeout < 0 ? DT_WAIT_FOREVER : timeout, dtpy_interrupt, &b);
    DTPY_TAKE_GIL(&b);
    if (rc == DT_OK) return 1;
    if (busy != NULL) --*busy;
    if (rc == DT_ETIMEDOUT) return 0;
    return dtpy_raise(rc, NULL), -1; /* DT_EINTERRUPTED keeps KeyboardInterrupt */
}

/* ---- Arguments ---------------------------------------------------------- */

int dtpy_parse(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               const char *const *names, int count, int required, PyObject **out) {
    if (nargs > count) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d argument%s (%zd given)", fname, count,
                     count == 1 ? "" : "s", nargs);
        return -1;
    }
    for (int i = 0; i < count; i++) out[i] = i < nargs ? args[i] : NULL;
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        int i = 0;
        while (i < count && PyUnicode_CompareWithASCIIString(key, names[i]) != 0) i++;
        if (i == count) {
            PyErr_Format(PyExc_TypeError, "'%U' is an invalid keyword argument for %s()", key, fname);
            return -1;
        }
        if (out[i] != NULL) {
            PyErr_Format(PyExc_TypeError, "argument for %s() given by name ('%s') and position (%d)",
                         fname, names[i], i + 1);
            return -1;
        }
        out[i] = args[nargs + k];
    }
    for (int i = 0; i < required; i++) {
        if (out[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s' (pos %d)", fname,
                         names[i], i + 1);
            return -1;
        }
    }
    return 0;
}

/* threading.TIMEOUT_MAX: the largest timeout _thread accepts. */
static double timeout_max(void) {
    double max = floor((double)PY_TIMEOUT_MAX * 1e-6);
    return max < 9223372036.0 ? max : 9223372036.0;
}

/* A timeout as _PyTime_FromSecondsObject reads it: a float (not NaN) or an
 * integer (anything with __index__). */
static int seconds_from_object(PyObject *obj, double *out) {
    if (PyFloat_Check(obj)) {
        *out = PyFloat_AS_DOUBLE(obj);
        if (isnan(*out)) {
            PyErr_SetString(PyExc_ValueError, "Invalid value NaN (not a number)");
            return -1;
        }
        return 0;
    }
    PyObject *index = PyNumber_Index(obj); /* TypeError for a str, a Decimal... */
    if (index == NULL) return -1;
    *out = PyLong_AsDouble(index);
    Py_DECREF(index);
    if (*out == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_OverflowError, "timeout value is too large");
        return -1;
    }
    return 0;
}

int dtpy_parse_acquire(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, double *timeout) {
    static const char *const names[] = {"blocking", "timeout"};
    *timeout = -1.0;
    if (nargs == 0 && kwnames == NULL) return 0; /* the common call: acquire() */
    PyObject *o[2];
    if (dtpy_parse("acquire", args, nargs, kwnames, names, 2, 0, o) < 0) return -1;
    int blocking = 1;
    if (o[0] != NULL && (blocking = PyObject_IsTrue(o[0])) < 0) return -1;
    if (o[1] != NULL && seconds_from_object(o[1], timeout) < 0) return -1;
    if (!blocking && *timeout != -1.0) {
        PyErr_SetString(PyExc_ValueError, "can't specify a timeout for a non-blocking call");
        return -1;
    }
    if (*timeout < 0 && *timeout != -1.0) {
        PyErr_SetString(PyExc_ValueError, "timeout value must be positive");
        return -1;
    }
    if (!blocking) {
        *timeout = 0.0;
    } else if (*timeout > timeout_max()) {
        PyErr_SetString(PyExc_OverflowError, "timeout value is too large");
        return -1;
    }
    return 0;
}

int dtpy_parse_wait_timeout(PyObject *obj, double *timeout) {
    if (obj == NULL || obj == Py_None) {
        *timeout = -1.0;
        return 0;
    }
    double t = PyFloat_AsDouble(obj);
    if (t == -1.0 && PyErr_Occurred()) return -1;
    /* threading.Condition.wait: a timeout that is not > 0 means "don't block". */
    if (!(t > 0)) t = 0.0;
    else if (isinf(t)) t = -1.0;
    *timeout = t;
    return 0;
}

int dtpy_add_type(PyObject *module, PyTypeObject *type, const char *name) {
    if (PyType_Ready(type) < 0) return -1;
    Py_INCREF(type);
    if (PyModule_AddObject(module, name, (PyObject *)type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}
