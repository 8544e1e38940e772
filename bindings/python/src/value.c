/*
 * value.c: dup_threading.Value, duplicity's thread-safe container of one
 * reference, over dt_value with hooks that do the reference counting.
 *
 * The library calls below that take the Value's lock internally (get, set)
 * are made with the GIL held, so they must never block. Two cases:
 *  - busy == 0 (see ValueObject.busy): nobody holds the Value or waits for
 *    it, so the plain call cannot block. The common, fast case: one call.
 *  - otherwise we first take the Value's (reentrant) lock ourselves with
 *    dtpy_acquire: a try with the GIL, else a blocking interruptible wait
 *    without it; the library call is then nested inside our hold.
 * Either way the hooks run with the GIL held, as they must.
 */
#include "dtpy.h"

#include "structmember.h"

/* Hooks: the library calls them from inside dt_value_* calls, which this file
 * only makes with the GIL held. */
static void hook_retain(void *ctx, void *ref) { Py_INCREF((PyObject *)ref); }
static void hook_release(void *ctx, void *ref) { Py_DECREF((PyObject *)ref); }
static const dt_value_hooks value_hooks = {hook_retain, hook_release, NULL};

static int value_try(void *h) { return dt_value_try_acquire(h); }
static int value_timed(void *h, double t, dt_interrupt_fn fn, void *ctx) {
    return dt_value_acquire_timed(h, t, fn, ctx);
}

int dtpy_value_acquire(ValueObject *self, double timeout) {
    return dtpy_acquire(self->handle, value_try, value_timed, timeout, &self->busy);
}

/* Releases one level of the Value's lock. `busy` counts the levels that are
 * really held, so it is decremented only when the library released one: a
 * refused release (not ours; or, inside a transform on this Value, the level
 * the transform holds, which the library refuses with DT_ENOTOWNER) leaves
 * the lock and the count as they were. 0, or -1 with an exception set. */
int dtpy_value_release(ValueObject *self) {
    int rc = dt_value_release(self->handle);
    if (rc == DT_OK) {
        self->busy--;
        return 0;
    }
    if (rc == DT_ENOTOWNER || rc == DT_ENOTLOCKED)
        dtpy_raise(rc, "cannot release un-acquired lock");
    else
        dtpy_raise(rc, NULL);
    return -1;
}

/* Releases the level this file took around a nested library call (the hold
 * is ours, so this fails only if the library is broken: report it rather
 * than go on with the lock held). */
static int value_unlock(ValueObject *self) { return dtpy_value_release(self); }

/* Stores `obj`. timeout -1: wait for the Value; 0: only if that needs no
 * waiting (for GC). Returns 1 stored, 0 busy, -1 error. */
static int value_store(ValueObject *self, PyObject *obj, double timeout) {
    int held = self->busy != 0;
    if (held) {
        int r = dtpy_value_acquire(self, timeout);
        if (r <= 0) return r;
    }
    /* Our own reference to the old value (the shadow is what is stored: we
     * hold the GIL, and the Value is free or ours), so that the library's
     * release of it is not the last one: a __del__ (arbitrary Python) then
     * runs below, after the Value's lock is released. */
    PyObject *old = Py_NewRef(self->shadow);
    int rc = dt_value_set(self->handle, obj); /* retains obj, releases old */
    if (rc == DT_OK) self->shadow = obj;      /* before the GIL can go */
    if (held && value_unlock(self) < 0) {
        Py_DECREF(old);
        return -1;
    }
    Py_DECREF(old);
    if (rc != DT_OK) return dtpy_raise(rc, NULL), -1;
    return 1;
}

/* ---- Construction and GC -------------------------------------------------- */

static PyObject *value_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    ValueObject *self = (ValueObject *)dtpy_alloc(type);
    if (self == NULL) return NULL;
    int rc = dt_value_new(Py_None, &value_hooks, &self->handle); /* retains None */
    if (rc != DT_OK) {
        Py_DECREF(self);
        return dtpy_raise(rc, NULL);
    }
    self->shadow = Py_None;
    return (PyObject *)self;
}

static int value_init(ValueObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"value", NULL};
    PyObject *value = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:Value", kwlist, &value)) return -1;
    return value_store(self, value, -1) < 0 ? -1 : 0;
}

static int value_traverse(ValueObject *self, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(self)); /* a heap type (a subclass's: subtype_traverse leaves it to us) */
    Py_VISIT(self->shadow);  /* the one reference the Value holds */
    return 0;
}

static int value_clear(ValueObject *self) {
    /* Break a cycle through the stored object, without ever blocking in GC:
     * if another thread holds the Value, leave it for a later collection. */
    if (self->handle != NULL && value_store(self, Py_None, 0) < 0) PyErr_Clear();
    return 0;
}

static void value_dealloc(ValueObject *self) {
    PyObject_GC_UnTrack(self);
    if (self->weakrefs != NULL) PyObject_ClearWeakRefs((PyObject *)self);
    if (self->handle != NULL && dt_value_free(self->handle) == DT_EBUSY) {
        /* Dropped while held (acquire() without release()). Drop the levels
         * this thread holds; if another thread holds it, leak the handle
         * rather than free memory that thread may still touch. */
        while (dt_value_release(self->handle) == DT_OK) {
        }
        dt_value_free(self->handle); /* releases the stored object: hook -> Py_DECREF */
    }
    dtpy_free((PyObject *)self); /* and drops the type (a subclass's too: its base is a heap type) */
}

/* ---- Methods ------------------------------------------------------------- */

static PyObject *value_get(ValueObject *self, PyObject *unused) {
    void *out = NULL;
    if (self->busy == 0) {
        /* Free: the library's own locking cannot block. A new reference. */
        int rc = dt_value_get(self->handle, &out);
        return rc == DT_OK ? (PyObject *)out : dtpy_raise(rc, NULL);
    }
    /* Someone (maybe this thread) holds it: wait our turn, then read nested. */
    if (dtpy_value_acquire(self, -1) < 0) return NULL;
    int rc = dt_value_get(self->handle, &out); /* nested in our hold */
    if (value_unlock(self) < 0) {
        if (rc == DT_OK) Py_DECREF((PyObject *)out);
        return NULL;
    }
    return rc == DT_OK ? (PyObject *)out : dtpy_raise(rc, NULL);
}

static PyObject *value_set(ValueObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    PyObject *obj;
    if (nargs == 1 && kwnames == NULL) {
        obj = args[0];
    } else {
        static const char *const names[] = {"value"};
        if (dtpy_parse("set", args, nargs, kwnames, names, 1, 1, &obj) < 0) return NULL;
    }
    return value_store(self, obj, -1) < 0 ? NULL : Py_NewRef(Py_None);
}

typedef struct {
    ValueObject *self;
    PyObject *fn;
    PyObject *current; /* our reference to the value fn was given */
    PyObject *result;  /* our reference to what fn returned */
} transform_ctx;

/* dt_transform_fn: the library calls it with the Value locked; we hold the
 * GIL (the call is nested in our hold, see value_transform). */
static int transform_body(void *ctx, void *current, void **new_value) {
    transform_ctx *c = ctx;
    /* `current` is borrowed, and fn may set() this Value (the lock is
     * reentrant), which would release the library's reference: hold our own. */
    c->current = Py_NewRef((PyObject *)current);
    c->result = dtpy_call_one(c->fn, c->current);
    if (c->result == NULL) return -1; /* Value unchanged; fn's exception stays set */
    *new_value = c->result;           /* the library retains it for the Value */
    /* The library stores it next, running no Python code in between; but it
     * then releases what it replaced (maybe a value fn set(), with a __del__
     * and so maybe a GC pass): the shadow must already name the new value. */
    c->self->shadow = c->result;
    return 0;
}

static PyObject *value_transform(ValueObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    transform_ctx c = {self, NULL, NULL, NULL};
    if (nargs == 1 && kwnames == NULL) {
        c.fn = args[0];
    } else {
        static const char *const names[] = {"fn"};
        if (dtpy_parse("transform", args, nargs, kwnames, names, 1, 1, &c.fn) < 0) return NULL;
    }
    int rc;
    if (self->busy == 0) {
        /* Free: the library's internal acquire cannot block, and holds the
         * Value while fn runs. Count that hold, so that other threads (fn may
         * let the GIL go) see the Value busy and wait for it properly. */
        self->busy++;
        rc = dt_value_transform(self->handle, transform_body, &c, NULL);
        self->busy--;
    } else {
        /* Our own hold first: the library's internal acquire must find the
         * Value already ours rather than block with the GIL. */
        if (dtpy_value_acquire(self, -1) < 0) return NULL;
        rc = dt_value_transform(self->handle, transform_body, &c, NULL);
        if (value_unlock(self) < 0) {
            /* (This error, not fn's, is what the caller must hear of.) */
            Py_XDECREF(c.current);
            Py_XDECREF(c.result);
            return NULL;
        }
    }
    Py_XDECREF(c.current); /* a replaced value's __del__ runs after the release */
    if (rc == DT_OK) return c.result;
    Py_XDECREF(c.result);
    /* rc < 0: fn's very exception, traceback and all; the value is unchanged. */
    return rc < 0 ? NULL : dtpy_raise(rc, NULL);
}

static PyObject *value_acquire(ValueObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    double timeout;
    if (dtpy_parse_acquire(args, nargs, kwnames, &timeout) < 0) return NULL;
    int r = dtpy_value_acquire(self, timeout);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

static PyObject *value_enter(ValueObject *self, PyObject *unused) {
    return dtpy_value_acquire(self, -1) < 0 ? NULL : Py_NewRef(Py_True);
}

static PyObject *value_release(ValueObject *self, PyObject *unused) {
    return dtpy_value_release(self) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *value_exit(ValueObject *self, PyObject *const *args, Py_ssize_t nargs) {
    return dtpy_value_release(self) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyMethodDef value_methods[] = {
    {"get", (PyCFunction)value_get, METH_NOARGS, "get()\n\nReturn the value protected by this Value."},
    {"set", (PyCFunction)(void (*)(void))value_set, METH_FASTCALL | METH_KEYWORDS,
     "set(value)\n\nReplace the value protected by this Value."},
    {"transform", (PyCFunction)(void (*)(void))value_transform, METH_FASTCALL | METH_KEYWORDS,
     "transform(fn)\n\nCall fn(current) with exclusive access and store and return its result.\n"
     "If fn raises, the value is unchanged and the exception propagates."},
    {"acquire", (PyCFunction)(void (*)(void))value_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire(blocking=True, timeout=-1) -> bool\n\nAcquire exclusive access (reentrant)."},
    {"release", (PyCFunction)value_release, METH_NOARGS, "Release exclusive access (one level)."},
    {"__enter__", (PyCFunction)value_enter, METH_NOARGS, "Acquire exclusive access."},
    {"__exit__", (PyCFunction)(void (*)(void))value_exit, METH_FASTCALL, "Release exclusive access."},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS, "Value[T], for type hints."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef value_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(ValueObject, weakrefs), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot value_slots[] = {
    {Py_tp_dealloc, value_dealloc},
    {Py_tp_doc, "Value(value=None)\n--\n\nA thread-safe container of a reference to an object (but not "
                "the object itself).\nget(), set() and transform() are atomic; acquire()/release() (or "
                "`with value:`)\ngive exclusive access for compound operations. The lock is reentrant."},
    {Py_tp_traverse, value_traverse},
    {Py_tp_clear, value_clear},
    {Py_tp_methods, value_methods},
    {Py_tp_members, value_members},
    {Py_tp_init, value_init},
    {Py_tp_new, value_new},
    {0, NULL},
};

PyType_Spec DtPy_ValueSpec = {
    .name = "dup_threading.Value",
    .basicsize = sizeof(ValueObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = value_slots,
};
