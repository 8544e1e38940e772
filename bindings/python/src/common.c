/*
 * common.c: status -> exception mapping, the GIL-releasing acquire, and
 * argument parsing shared by the types.
 */
#include "dtpy.h"

#include <limits.h>
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
    Py_ssize_t nkw = kwnames == NULL ? 0 : DTPY_TUPLE_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = DTPY_TUPLE_ITEM(kwnames, k);
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

/* acquire(blocking=True, timeout=-1) exactly as _thread's lock_acquire_parse_args
 * parses it, version by version: the same argument parser and format (so
 * every TypeError is the interpreter's own), _PyTime_FromSecondsObject's
 * conversion to nanoseconds, and the same checks in the same order. What
 * differs between versions, by the running interpreter's version (see
 * DTPY_PYTHON_VERSION): */
#define ACQUIRE_FORMAT                                                                             \
    (DTPY_PYTHON_VERSION >= 0x030C0000 ? "|pO:acquire"  /* blocking: any object's truth */         \
                                       : "|iO:acquire") /* blocking: an int (__index__) */
#define INT_TIMEOUT_OVERFLOW                                                                       \
    (DTPY_PYTHON_VERSION >= 0x030D0000 ? "timestamp too large to convert to C PyTime_t"            \
                                       : "timestamp too large to convert to C _PyTime_t")
#define NEGATIVE_TIMEOUT                                                                           \
    (DTPY_PYTHON_VERSION >= 0x030D0000 ? "timeout value must be a non-negative number"             \
                                       : "timeout value must be positive")
#define FLOAT_TIMEOUT_OVERFLOW                                                                     \
    (DTPY_PYTHON_VERSION >= 0x030B0000 ? "timestamp out of range for platform time_t" : INT_TIMEOUT_OVERFLOW)
/* _thread's largest timeout in microseconds. The limited API does not have
 * it (3.13 made it a variable outside the limited API): LLONG_MAX / 1000 is
 * its value with POSIX threads in every version from 3.10 to 3.13. */
#ifdef Py_LIMITED_API
#define DTPY_TIMEOUT_MAX (LLONG_MAX / 1000)
#else
#define DTPY_TIMEOUT_MAX PY_TIMEOUT_MAX
#endif

#define NS_PER_SEC 1000000000LL

/* A timeout in seconds to nanoseconds as _PyTime_FromSecondsObject does with
 * _PyTime_ROUND_TIMEOUT (away from zero): a float (not NaN) or an integer
 * (anything with __index__). */
static int timeout_ns_from_object(PyObject *obj, long long *ns) {
    if (PyFloat_Check(obj)) {
        double d = PyFloat_AsDouble(obj);
        if (isnan(d)) {
            PyErr_SetString(PyExc_ValueError, "Invalid value NaN (not a number)");
            return -1;
        }
        volatile double x = d * 1e9; /* volatile: round exactly as CPython does */
        x = x >= 0.0 ? ceil(x) : floor(x);
        if (!((double)LLONG_MIN <= x && x < -(double)LLONG_MIN)) {
            PyErr_SetString(PyExc_OverflowError, FLOAT_TIMEOUT_OVERFLOW);
            return -1;
        }
        *ns = (long long)x;
        return 0;
    }
    long long sec = PyLong_AsLongLong(obj); /* TypeError for a str, a Decimal... */
    if (sec == -1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_OverflowError, INT_TIMEOUT_OVERFLOW);
        }
        return -1;
    }
    if (sec < LLONG_MIN / NS_PER_SEC || sec > LLONG_MAX / NS_PER_SEC) {
        PyErr_SetString(PyExc_OverflowError, INT_TIMEOUT_OVERFLOW);
        return -1;
    }
    *ns = sec * NS_PER_SEC;
    return 0;
}

/* The acquire checks on the parsed arguments, in _thread's order. */
static int check_acquire(int blocking, long long ns, double *timeout) {
    const long long unset = -NS_PER_SEC; /* the default, timeout=-1 */
    if (!blocking && ns != unset) {
        PyErr_SetString(PyExc_ValueError, "can't specify a timeout for a non-blocking call");
        return -1;
    }
    if (ns < 0 && ns != unset) {
        PyErr_SetString(PyExc_ValueError, NEGATIVE_TIMEOUT);
        return -1;
    }
    if (!blocking) {
        *timeout = 0.0;
        return 0;
    }
    if (ns == unset) {
        *timeout = -1.0;
        return 0;
    }
    long long us = ns / 1000 + (ns % 1000 != 0); /* _PyTime_AsMicroseconds, rounding up */
    int too_large = DTPY_PYTHON_VERSION >= 0x030B0000 ? us > DTPY_TIMEOUT_MAX : us >= DTPY_TIMEOUT_MAX;
    if (too_large) {
        PyErr_SetString(PyExc_OverflowError, "timeout value is too large");
        return -1;
    }
    *timeout = (double)ns / 1e9;
    return 0;
}

int dtpy_parse_acquire(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, double *timeout) {
    *timeout = -1.0;
    if (nargs == 0 && kwnames == NULL) return 0; /* the common call: acquire() */
    if (nargs == 1 && kwnames == NULL && PyBool_Check(args[0])) {
        /* acquire(False), as threading.Condition's _is_owned() makes for a
         * Lock: valid in every version, so no parsing to do. */
        *timeout = args[0] == Py_True ? -1.0 : 0.0;
        return 0;
    }
    /* _thread's acquire is METH_VARARGS | METH_KEYWORDS: give its parser the
     * same tuple and dict, so that its errors are word for word the same. */
    static char *kwlist[] = {"blocking", "timeout", NULL};
    PyObject *tuple = PyTuple_New(nargs), *dict = NULL, *timeout_obj = NULL;
    int blocking = 1, rc = -1;
    if (tuple == NULL) return -1;
    for (Py_ssize_t i = 0; i < nargs; i++) DTPY_TUPLE_SET(tuple, i, Py_NewRef(args[i]));
    if (kwnames != NULL && DTPY_TUPLE_SIZE(kwnames) > 0) {
        if ((dict = PyDict_New()) == NULL) goto done;
        for (Py_ssize_t k = 0; k < DTPY_TUPLE_SIZE(kwnames); k++)
            if (PyDict_SetItem(dict, DTPY_TUPLE_ITEM(kwnames, k), args[nargs + k]) < 0) goto done;
    }
    if (!PyArg_ParseTupleAndKeywords(tuple, dict, ACQUIRE_FORMAT, kwlist, &blocking, &timeout_obj)) goto done;
    long long ns = -NS_PER_SEC; /* the default, timeout=-1 */
    if (timeout_obj != NULL && timeout_ns_from_object(timeout_obj, &ns) < 0) goto done;
    rc = check_acquire(blocking, ns, timeout);
done:
    Py_DECREF(tuple); /* timeout_obj was borrowed from these two */
    Py_XDECREF(dict);
    return rc;
}

int dtpy_parse_wait_timeout(PyObject *obj, double *timeout) {
    if (obj == NULL || obj == Py_None) {
        *timeout = -1.0;
        return 0;
    }
    /* threading.Condition.wait: `if timeout > 0: waiter.acquire(True, timeout)
     * else: waiter.acquire(False)`. So any object that compares with 0 is
     * accepted, and a positive one must then pass acquire's rules (an
     * infinite or huge timeout is an OverflowError there too). */
    int positive;
    if (PyFloat_CheckExact(obj)) {
        positive = PyFloat_AsDouble(obj) > 0; /* NaN: not positive; an exact float: cannot fail */
    } else {
        PyObject *zero = PyLong_FromLong(0);
        if (zero == NULL) return -1;
        positive = PyObject_RichCompareBool(obj, zero, Py_GT);
        Py_DECREF(zero);
        if (positive < 0) return -1;
    }
    if (!positive) {
        *timeout = 0.0;
        return 0;
    }
    long long ns;
    if (timeout_ns_from_object(obj, &ns) < 0) return -1;
    return check_acquire(1, ns, timeout);
}

/* ---- Types and calls ----------------------------------------------------- */

/* The types live for the life of the process (the module cannot be
 * reloaded): *type keeps the reference PyType_FromSpec returned. */
int dtpy_add_type(PyObject *module, PyType_Spec *spec, PyTypeObject **type, const char *name) {
    if (*type == NULL && (*type = (PyTypeObject *)PyType_FromSpec(spec)) == NULL) return -1;
    Py_INCREF(*type);
    if (PyModule_AddObject(module, name, (PyObject *)*type) < 0) {
        Py_DECREF(*type);
        return -1;
    }
    return 0;
}

PyObject *dtpy_type_name(PyObject *self) {
#ifdef Py_LIMITED_API
    PyTypeObject *type = Py_TYPE(self);
    static PyType_Spec *const specs[] = {&DtPy_LockSpec,  &DtPy_RLockSpec,  &DtPy_ConditionSpec,
                                         &DtPy_ValueSpec, &DtPy_WaiterSpec, &DtPy_CallerSpec};
    PyTypeObject *const types[] = {DtPy_LockType,  DtPy_RLockType,  DtPy_ConditionType,
                                   DtPy_ValueType, DtPy_WaiterType, DtPy_CallerType};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (type == types[i]) return PyUnicode_FromString(specs[i]->name);
    return PyObject_GetAttrString((PyObject *)type, "__name__");
#else
    return PyUnicode_FromString(Py_TYPE(self)->tp_name);
#endif
}

PyObject *dtpy_vectorcall(PyObject *callable, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
#ifdef Py_LIMITED_API
    PyObject *tuple = PyTuple_New(nargs), *dict = NULL, *result = NULL;
    if (tuple == NULL) return NULL;
    for (Py_ssize_t i = 0; i < nargs; i++) DTPY_TUPLE_SET(tuple, i, Py_NewRef(args[i]));
    Py_ssize_t nkw = kwnames == NULL ? 0 : DTPY_TUPLE_SIZE(kwnames);
    if (nkw > 0) {
        if ((dict = PyDict_New()) == NULL) goto done;
        for (Py_ssize_t k = 0; k < nkw; k++)
            if (PyDict_SetItem(dict, DTPY_TUPLE_ITEM(kwnames, k), args[nargs + k]) < 0) goto done;
    }
    result = PyObject_Call(callable, tuple, dict);
done:
    Py_DECREF(tuple);
    Py_XDECREF(dict);
    return result;
#else
    return PyObject_Vectorcall(callable, args, (size_t)nargs, kwnames);
#endif
}

PyObject *dtpy_call_fastcall(dtpy_fastcall_fn fn, PyObject *self, PyObject *args, PyObject *kwargs) {
    Py_ssize_t nargs = DTPY_TUPLE_SIZE(args);
    Py_ssize_t nkw = kwargs == NULL ? 0 : DTPY_DICT_SIZE(kwargs);
    if (nargs == 0 && nkw == 0) return fn(self, NULL, 0, NULL); /* the common call */
    PyObject *small[8], **stack = small, *kwnames = NULL, *result = NULL;
    Py_ssize_t held = 0; /* keyword values we hold a reference to */
    if (nargs + nkw > 8 && (stack = PyMem_Malloc((nargs + nkw) * sizeof(PyObject *))) == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < nargs; i++) stack[i] = DTPY_TUPLE_ITEM(args, i); /* borrowed: args is immutable */
    if (nkw > 0) {
        if ((kwnames = PyTuple_New(nkw)) == NULL) goto done;
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        /* The values are held, not borrowed: code the call runs (a __float__,
         * say) could remove them from a dict a C caller passed in. */
        while (held < nkw && PyDict_Next(kwargs, &pos, &key, &value)) {
            DTPY_TUPLE_SET(kwnames, held, Py_NewRef(key));
            stack[nargs + held++] = Py_NewRef(value);
        }
    }
    result = fn(self, stack, nargs, kwnames);
done:
    for (Py_ssize_t k = 0; k < held; k++) Py_DECREF(stack[nargs + k]);
    Py_XDECREF(kwnames);
    if (stack != small) PyMem_Free(stack);
    return result;
}
