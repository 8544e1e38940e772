/*
 * async_split.c: async_split(fn) -> (waiter, caller), over dt_async_split.
 *
 * The caller runs fn on its own thread, with the GIL. The outcome lives in
 * the library, shared by the two halves:
 *   success: the result object (a reference the split owns; free_result
 *            drops it when the last half goes),
 *   failure: a (exception, traceback) tuple as the dt_error payload
 *            (free_data drops it), so every waiter() re-raises the very same
 *            exception object with the traceback it had in fn.
 * A BaseException that is not an Exception (KeyboardInterrupt, SystemExit)
 * is published to the waiters the same way, so they do not hang, and then
 * propagates out of caller() instead of being reported as (False, waiter).
 * A caller discarded without being called makes its waiters raise
 * RuntimeError (the library reports DT_EABANDONED) instead of hanging.
 */
#include "dtpy.h"

#include <math.h>

typedef struct {
    PyObject_HEAD
    dt_waiter *handle;
    /* The caller half is freed: our handle is the outcome's only owner, so
     * the garbage collector may see (and break) cycles through it. */
    int caller_gone;
    PyObject *weakrefs;
} WaiterObject;

typedef struct {
    PyObject_HEAD
    dt_caller *handle;
    PyObject *fn;         /* NULL once run (or when discarded) */
    WaiterObject *waiter; /* returned by caller(), as duplicity does */
    PyObject *base_exc;   /* a non-Exception fn raised, for caller() to re-raise */
    int started;
} CallerObject;

/* free_result / free_data: the library drops the outcome when the last
 * handle is freed. This extension frees handles only with the GIL held, but
 * take it anyway (a no-op when held) so that no future path can DECREF
 * without it. */
static void decref_gil_safe(void *obj) {
    PyGILState_STATE state = PyGILState_Ensure();
    Py_DECREF((PyObject *)obj);
    PyGILState_Release(state);
}

/* dt_async_fn: runs on the thread that called caller(), which holds the GIL. */
static int async_body(void *ctx, void **result, dt_error *error) {
    CallerObject *self = ctx;
    PyObject *r = NULL;
    if (self->fn != NULL)
        r = PyObject_CallNoArgs(self->fn);
    else /* cleared by the garbage collector: cannot be reached, but be safe */
        PyErr_SetString(PyExc_RuntimeError, "the async_split function was cleared");
    if (r != NULL) {
        *result = r; /* the split owns this reference */
        return 0;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL) PyException_SetTraceback(value, tb);
    if (!PyErr_GivenExceptionMatches(value, PyExc_Exception)) self->base_exc = Py_NewRef(value);
    error->code = 1;
    error->data = PyTuple_Pack(2, value, tb != NULL ? tb : Py_None);
    if (error->data != NULL)
        error->free_data = decref_gil_safe;
    else
        PyErr_Clear(); /* out of memory: the waiters will say the exception was lost */
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return 1;
}

/* ======================================================================= */
/* The waiter                                                               */
/* ======================================================================= */

static PyObject *raise_failure(const dt_error *error) {
    PyObject *payload = error->data;
    if (payload == NULL)
        return PyErr_Format(PyExc_RuntimeError, "the async_split function failed; its exception was lost");
    PyObject *exc = PyTuple_GET_ITEM(payload, 0), *tb = PyTuple_GET_ITEM(payload, 1);
    /* Restart from fn's traceback each time; raising adds our frames. */
    PyErr_Restore(Py_NewRef(Py_TYPE(exc)), Py_NewRef(exc), tb == Py_None ? NULL : Py_NewRef(tb));
    return NULL;
}

static PyObject *waiter_call(WaiterObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"timeout", NULL};
    PyObject *timeout_obj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:waiter", kwlist, &timeout_obj)) return NULL;
    double timeout = -1.0;
    if (timeout_obj != Py_None) {
        timeout = PyFloat_AsDouble(timeout_obj);
        if (timeout == -1.0 && PyErr_Occurred()) return NULL;
        if (isnan(timeout) || timeout < 0)
            return PyErr_Format(PyExc_ValueError, "timeout must be a non-negative number or None");
        if (isinf(timeout)) timeout = -1.0;
    }
    if (self->handle == NULL) return PyErr_Format(PyExc_RuntimeError, "the waiter was cleared");
    void *result = NULL;
    dt_error error = {0, NULL, NULL};
    /* Fast path, with the GIL: a zero-timeout poll never parks. */
    int rc = dt_waiter_wait(self->handle, 0.0, NULL, NULL, &result, &error);
    if (rc == DT_ETIMEDOUT && timeout != 0) {
        if (PyErr_CheckSignals() < 0) return NULL;
        dtpy_blocking b;
        DTPY_RELEASE_GIL(&b);
        rc = dt_waiter_wait(self->handle, timeout < 0 ? DT_WAIT_FOREVER : timeout, dtpy_interrupt, &b,
                            &result, &error);
        DTPY_TAKE_GIL(&b);
    }
    switch (rc) {
    case DT_OK: return Py_NewRef(result != NULL ? (PyObject *)result : Py_None);
    case DT_EFAILED: return raise_failure(&error);
    case DT_ETIMEDOUT: return dtpy_raise(rc, "the async_split function has not finished yet");
    case DT_EABANDONED: return dtpy_raise(rc, "the async_split caller was discarded without being called");
    default: return dtpy_raise(rc, NULL); /* DT_EINTERRUPTED keeps KeyboardInterrupt */
    }
}

static PyObject *waiter_done(WaiterObject *self, PyObject *unused) {
    int done = 0;
    if (self->handle == NULL) Py_RETURN_TRUE;
    int rc = dt_waiter_done(self->handle, &done);
    return rc != DT_OK ? dtpy_raise(rc, NULL) : PyBool_FromLong(done);
}

static int waiter_traverse(WaiterObject *self, visitproc visit, void *arg) {
    int done = 0;
    if (self->handle != NULL && self->caller_gone && dt_waiter_done(self->handle, &done) == DT_OK && done) {
        void *result = NULL;
        dt_error error = {0, NULL, NULL};
        int rc = dt_waiter_wait(self->handle, 0.0, NULL, NULL, &result, &error); /* done: no wait */
        if (rc == DT_OK && result != NULL) Py_VISIT((PyObject *)result);
        if (rc == DT_EFAILED && error.data != NULL) Py_VISIT((PyObject *)error.data);
    }
    return 0;
}

static int waiter_clear(WaiterObject *self) {
    if (self->handle != NULL && self->caller_gone) {
        dt_waiter *handle = self->handle;
        self->handle = NULL;
        dt_waiter_free(handle); /* drops the outcome (free_result / free_data) */
    }
    return 0;
}

static void waiter_dealloc(WaiterObject *self) {
    PyObject_GC_UnTrack(self);
    if (self->weakrefs != NULL) PyObject_ClearWeakRefs((PyObject *)self);
    if (self->handle != NULL) dt_waiter_free(self->handle);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *waiter_repr(WaiterObject *self) {
    int done = 1;
    if (self->handle != NULL) dt_waiter_done(self->handle, &done);
    return PyUnicode_FromFormat("<%s object (%s) at %p>", Py_TYPE(self)->tp_name, done ? "done" : "pending", self);
}

static PyMethodDef waiter_methods[] = {
    {"done", (PyCFunction)waiter_done, METH_NOARGS, "Whether the outcome is known (never blocks)."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject DtPy_WaiterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dup_threading.AsyncWaiter",
    .tp_basicsize = sizeof(WaiterObject),
    .tp_dealloc = (destructor)waiter_dealloc,
    .tp_repr = (reprfunc)waiter_repr,
    .tp_call = (ternaryfunc)waiter_call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "waiter(timeout=None)\n\nThe front half of async_split(fn): wait for fn to have run, "
              "then return its result or\nre-raise its exception (with fn's traceback). Any thread, any "
              "number of times.\nThe wait releases the GIL and ends on Ctrl-C; TimeoutError if a "
              "timeout passes first.",
    .tp_traverse = (traverseproc)waiter_traverse,
    .tp_clear = (inquiry)waiter_clear,
    .tp_weaklistoffset = offsetof(WaiterObject, weakrefs),
    .tp_methods = waiter_methods,
};

/* ======================================================================= */
/* The caller                                                               */
/* ======================================================================= */

/* After the run: the library no longer needs the caller half. */
static void free_caller_half(CallerObject *self) {
    dt_caller_free(self->handle);
    self->handle = NULL;
    if (self->waiter != NULL) self->waiter->caller_gone = 1;
}

static PyObject *caller_call(CallerObject *self, PyObject *args, PyObject *kwargs) {
    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0))
        return PyErr_Format(PyExc_TypeError, "caller() takes no arguments");
    if (self->started || self->handle == NULL)
        return dtpy_raise(DT_EALREADY, "the async_split caller was already called; fn runs only once");
    self->started = 1; /* set with the GIL before fn runs: a second caller() fails at once */
    int rc = dt_caller_run(self->handle, NULL); /* calls async_body on this thread */
    free_caller_half(self);
    Py_CLEAR(self->fn);
    switch (rc) {
    case DT_OK: return PyTuple_Pack(2, Py_True, (PyObject *)self->waiter);
    case DT_EFAILED:
        if (self->base_exc != NULL) {
            PyObject *exc = self->base_exc;
            self->base_exc = NULL;
            PyErr_Restore(Py_NewRef(Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
            return NULL;
        }
        return PyTuple_Pack(2, Py_False, (PyObject *)self->waiter);
    case DT_EALREADY: return dtpy_raise(rc, "the async_split caller was already called; fn runs only once");
    default: return dtpy_raise(rc, NULL);
    }
}

static int caller_traverse(CallerObject *self, visitproc visit, void *arg) {
    Py_VISIT(self->fn);
    Py_VISIT(self->waiter);
    Py_VISIT(self->base_exc);
    return 0;
}

static int caller_clear(CallerObject *self) {
    Py_CLEAR(self->fn);
    Py_CLEAR(self->base_exc);
    return 0;
}

static void caller_dealloc(CallerObject *self) {
    PyObject_GC_UnTrack(self);
    /* If it never ran, the library drops fn's slot and its waiters get
     * DT_EABANDONED rather than blocking forever. */
    if (self->handle != NULL) free_caller_half(self);
    Py_CLEAR(self->fn);
    Py_CLEAR(self->waiter);
    Py_CLEAR(self->base_exc);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyTypeObject DtPy_CallerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dup_threading.AsyncCaller",
    .tp_basicsize = sizeof(CallerObject),
    .tp_dealloc = (destructor)caller_dealloc,
    .tp_call = (ternaryfunc)caller_call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "caller()\n\nThe back half of async_split(fn): run fn on this thread, once. Returns "
              "(True, waiter), or\n(False, waiter) if fn raised an Exception. A BaseException such as "
              "KeyboardInterrupt\npropagates (and waiters see it too). A second call raises RuntimeError.",
    .tp_traverse = (traverseproc)caller_traverse,
    .tp_clear = (inquiry)caller_clear,
};

/* ======================================================================= */

PyObject *dtpy_async_split(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"fn"};
    PyObject *fn;
    if (dtpy_parse("async_split", args, nargs, kwnames, names, 1, 1, &fn) < 0) return NULL;
    WaiterObject *waiter = (WaiterObject *)DtPy_WaiterType.tp_alloc(&DtPy_WaiterType, 0);
    CallerObject *caller = (CallerObject *)DtPy_CallerType.tp_alloc(&DtPy_CallerType, 0);
    PyObject *pair = NULL;
    if (waiter == NULL || caller == NULL) goto done;
    /* ctx is the caller object: it owns the caller half, the only way to run fn. */
    int rc = dt_async_split(async_body, caller, decref_gil_safe, &waiter->handle, &caller->handle);
    if (rc != DT_OK) {
        dtpy_raise(rc, NULL);
        goto done;
    }
    caller->fn = Py_NewRef(fn);
    caller->waiter = (WaiterObject *)Py_NewRef(waiter);
    pair = PyTuple_Pack(2, (PyObject *)waiter, (PyObject *)caller);
done:
    Py_XDECREF(waiter);
    Py_XDECREF(caller);
    return pair;
}
