/*
 * condition.c: dup_threading.Condition, a drop-in for threading.Condition.
 *
 * Two modes, chosen once by the lock given to the constructor:
 *  - native: the lock is this module's Lock or RLock (or None: a new RLock).
 *    The condition is a dt_cond bound to the lock's handle; waits release
 *    the GIL, wake at once on notify (no polling) and end on Ctrl-C.
 *  - delegated: any other lock (threading.Lock, threading.RLock, a user's
 *    class). Every method forwards to a private threading.Condition(lock),
 *    which already knows how to wait with a foreign lock (its
 *    _release_save / _acquire_restore or release / acquire) and is already
 *    interruptible by Ctrl-C on POSIX. This is the simplest design that is
 *    correct for every lock threading.Condition accepts.
 */
#include "dtpy.h"

#include "structmember.h"

/* ---- Native mode: the lock --------------------------------------------- */

int dtpy_cond_acquire(ConditionObject *self, double timeout) {
    if (Py_IS_TYPE(self->lock, DtPy_LockType)) return dtpy_lock_acquire((LockObject *)self->lock, timeout);
    return dtpy_rlock_acquire((RLockObject *)self->lock, timeout);
}

int dtpy_cond_release(ConditionObject *self) {
    if (Py_IS_TYPE(self->lock, DtPy_LockType)) return dtpy_lock_release((LockObject *)self->lock);
    return dtpy_rlock_release((RLockObject *)self->lock);
}

/* ---- Native mode: waiting ---------------------------------------------- */

typedef struct {
    dtpy_blocking b; /* first: dtpy_interrupt gets a pointer to it */
    PyObject *predicate;
    PyObject *last;  /* new reference: the predicate's latest result */
    int skip_next;   /* the caller already saw the predicate false */
} wait_for_ctx;

/* dt_predicate_fn: called by the library with the condition's lock held and
 * without the GIL. Taking the GIL here cannot deadlock: a thread that holds
 * the GIL never blocks on this lock (it releases the GIL first). */
static int wait_for_predicate(void *p) {
    wait_for_ctx *c = p;
    if (c->skip_next) {
        /* The library checks before its first wait. Our caller just evaluated
         * the predicate, falsy, with the lock held all along, so nothing that
         * the lock protects can have changed: skip a second call. */
        c->skip_next = 0;
        return 0;
    }
    PyEval_RestoreThread(c->b.ts);
    int truth = -1;
    PyObject *r = PyObject_CallNoArgs(c->predicate);
    if (r != NULL) {
        truth = PyObject_IsTrue(r);
        PyObject *previous = c->last;
        c->last = r;
        Py_DECREF(previous); /* may run a __del__: we hold the GIL */
    }
    c->b.ts = PyEval_SaveThread();
    return truth; /* > 0 satisfied, 0 wait, -1 abort (exception set) */
}

PyObject *dtpy_cond_wait_for(ConditionObject *self, PyObject *predicate, PyObject *initial, double timeout) {
    /* No signal check here: the caller made it before evaluating the
     * predicate. A handler run now, after that evaluation, could change what
     * the predicate reads and notify before we wait (a lost wake-up). One that
     * became pending since is run by the library's wait, which consults
     * dtpy_interrupt shortly after parking and ends the wait if the handler
     * notified. */
    wait_for_ctx c = {.predicate = predicate, .last = Py_NewRef(initial), .skip_next = 1};
    DTPY_RELEASE_GIL(&c.b);
    int rc = dt_interruptible_wait(self->handle, wait_for_predicate, &c, dtpy_interrupt, &c.b,
                                   timeout < 0 ? DT_WAIT_FOREVER : timeout);
    DTPY_TAKE_GIL(&c.b);
    if (rc == DT_OK || rc == DT_ETIMEDOUT) return c.last;
    Py_DECREF(c.last);
    if (rc < 0) return NULL; /* the predicate raised */
    return dtpy_raise(rc, rc == DT_ENOTOWNER ? "cannot wait on un-acquired lock" : NULL);
}

/* ---- Construction -------------------------------------------------------- */

static PyObject *cond_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"lock", NULL};
    PyObject *lock = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:Condition", kwlist, &lock)) return NULL;
    ConditionObject *self = (ConditionObject *)dtpy_alloc(type);
    if (self == NULL) return NULL;
    self->lock = lock == Py_None ? PyObject_CallNoArgs((PyObject *)DtPy_RLockType) : Py_NewRef(lock);
    if (self->lock == NULL) goto fail;
    void *handle = NULL;
    if (Py_IS_TYPE(self->lock, DtPy_LockType)) handle = ((LockObject *)self->lock)->handle;
    if (Py_IS_TYPE(self->lock, DtPy_RLockType)) handle = ((RLockObject *)self->lock)->handle;
    if (handle != NULL) {
        int rc = dt_cond_new(handle, &self->handle);
        if (rc != DT_OK) {
            dtpy_raise(rc, NULL);
            goto fail;
        }
    } else {
        PyObject *threading = PyImport_ImportModule("threading");
        if (threading == NULL) goto fail;
        self->delegate = PyObject_CallMethod(threading, "Condition", "O", self->lock);
        Py_DECREF(threading);
        if (self->delegate == NULL) goto fail;
    }
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}

static int cond_traverse(ConditionObject *self, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->lock);
    Py_VISIT(self->delegate);
    return 0;
}

static int cond_clear(ConditionObject *self) {
    Py_CLEAR(self->delegate);
    /* The native lock stays: the dt_cond is bound to its handle. It holds no
     * references, so it cannot be part of a cycle. */
    if (self->handle == NULL) Py_CLEAR(self->lock);
    return 0;
}

static void cond_dealloc(ConditionObject *self) {
    PyObject_GC_UnTrack(self);
    if (self->weakrefs != NULL) PyObject_ClearWeakRefs((PyObject *)self);
    /* Nobody can wait on it: a waiter holds a reference. (After fork() the
     * library may still count a vanished waiter and refuse: then it leaks.) */
    if (self->handle != NULL) dt_cond_free(self->handle);
    Py_CLEAR(self->delegate);
    Py_CLEAR(self->lock);
    dtpy_free((PyObject *)self);
}

/* ---- Delegated mode: forward to threading.Condition ---------------------- */

static PyObject *forward(ConditionObject *self, const char *name, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames) {
#ifdef Py_LIMITED_API
    /* No PyObject_VectorcallMethod: the bound method, called with the same arguments. */
    PyObject *method = PyObject_GetAttrString(self->delegate, name);
    if (method == NULL) return NULL;
    PyObject *result = dtpy_vectorcall(method, args, nargs, kwnames);
    Py_DECREF(method);
    return result;
#else
    Py_ssize_t total = 1 + nargs + (kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames));
    PyObject *small[8], **stack = small;
    if (total > 8 && (stack = PyMem_Malloc(total * sizeof(PyObject *))) == NULL) return PyErr_NoMemory();
    stack[0] = self->delegate;
    for (Py_ssize_t i = 1; i < total; i++) stack[i] = args[i - 1];
    PyObject *result = NULL, *method = PyUnicode_FromString(name);
    if (method != NULL) result = PyObject_VectorcallMethod(method, stack, 1 + nargs, kwnames);
    Py_XDECREF(method);
    if (stack != small) PyMem_Free(stack);
    return result;
#endif
}

#define FORWARD_IF_DELEGATED(name)                                                                 \
    if (self->handle == NULL) {                                                                    \
        if (self->delegate == NULL) return PyErr_Format(PyExc_RuntimeError, "condition was cleared"); \
        return forward(self, name, args, nargs, kwnames);                                          \
    }

/* ---- Methods ------------------------------------------------------------- */

static PyObject *cond_acquire(ConditionObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    FORWARD_IF_DELEGATED("acquire");
    double timeout;
    if (dtpy_parse_acquire(args, nargs, kwnames, &timeout) < 0) return NULL;
    int r = dtpy_cond_acquire(self, timeout);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

static PyObject *cond_release(ConditionObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    FORWARD_IF_DELEGATED("release");
    if (nargs != 0 || kwnames != NULL) return PyErr_Format(PyExc_TypeError, "release() takes no arguments");
    return dtpy_cond_release(self) < 0 ? NULL : Py_NewRef(Py_None);
}

/* Delegated __enter__/__exit__ use acquire()/release(), so `with cond:`
 * works even for a lock that only has those two (threading's needs __enter__). */
static PyObject *cond_enter(ConditionObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    nargs = 0;
    kwnames = NULL;
    FORWARD_IF_DELEGATED("acquire");
    return dtpy_cond_acquire(self, -1) < 0 ? NULL : Py_NewRef(Py_True);
}

static PyObject *cond_exit(ConditionObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    nargs = 0;
    kwnames = NULL;
    FORWARD_IF_DELEGATED("release");
    return dtpy_cond_release(self) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *cond_wait(ConditionObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    FORWARD_IF_DELEGATED("wait");
    static const char *const names[] = {"timeout"};
    PyObject *o[1];
    double timeout;
    if (dtpy_parse("wait", args, nargs, kwnames, names, 1, 0, o) < 0) return NULL;
    if (dtpy_parse_wait_timeout(o[0], &timeout) < 0) return NULL;
    if (PyErr_CheckSignals() < 0) return NULL;
    dtpy_blocking b;
    DTPY_RELEASE_GIL(&b);
    int rc = dt_cond_wait(self->handle, timeout < 0 ? DT_WAIT_FOREVER : timeout, dtpy_interrupt, &b);
    DTPY_TAKE_GIL(&b);
    switch (rc) {
    case DT_OK: Py_RETURN_TRUE;
    case DT_ETIMEDOUT: Py_RETURN_FALSE;
    case DT_ENOTOWNER: return dtpy_raise(rc, "cannot wait on un-acquired lock");
    default: return dtpy_raise(rc, NULL); /* DT_EINTERRUPTED keeps KeyboardInterrupt */
    }
}

static PyObject *cond_wait_for(ConditionObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    FORWARD_IF_DELEGATED("wait_for");
    static const char *const names[] = {"predicate", "timeout"};
    PyObject *o[2];
    double timeout;
    if (dtpy_parse("wait_for", args, nargs, kwnames, names, 2, 1, o) < 0) return NULL;
    if (dtpy_parse_wait_timeout(o[1], &timeout) < 0) return NULL;
    /* Pending signal handlers first: one may change what the predicate reads
     * and notify, and must run before the predicate is evaluated. */
    if (PyErr_CheckSignals() < 0) return NULL;
    PyObject *first = PyObject_CallNoArgs(o[0]);
    if (first == NULL) return NULL;
    int truth = PyObject_IsTrue(first);
    if (truth != 0) {
        if (truth < 0) Py_CLEAR(first);
        return first;
    }
    PyObject *result = dtpy_cond_wait_for(self, o[0], first, timeout);
    Py_DECREF(first);
    return result;
}

static PyObject *notify_status(int rc) {
    if (rc == DT_OK) Py_RETURN_NONE;
    return dtpy_raise(rc, rc == DT_ENOTOWNER ? "cannot notify on un-acquired lock" : NULL);
}

static PyObject *cond_notify(ConditionObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    FORWARD_IF_DELEGATED("notify");
    static const char *const names[] = {"n"};
    PyObject *o[1];
    if (dtpy_parse("notify", args, nargs, kwnames, names, 1, 0, o) < 0) return NULL;
    long n = 1;
    if (o[0] != NULL) {
        int overflow = 0;
        PyObject *index = PyNumber_Index(o[0]);
        if (index == NULL) return NULL;
        n = PyLong_AsLongAndOverflow(index, &overflow);
        Py_DECREF(index);
        if (overflow != 0) n = overflow > 0 ? LONG_MAX : LONG_MIN; /* "everyone" / invalid */
        else if (n == -1 && PyErr_Occurred()) return NULL;
    }
    if (n < 0) return dtpy_raise(DT_EINVAL, "notify() count must not be negative");
    return notify_status(dt_cond_notify(self->handle, n));
}

static PyObject *cond_notify_all(ConditionObject *self, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames) {
    FORWARD_IF_DELEGATED("notify_all");
    if (nargs != 0 || kwnames != NULL) return PyErr_Format(PyExc_TypeError, "notify_all() takes no arguments");
    return notify_status(dt_cond_notify_all(self->handle));
}

/* threading.Condition's private hooks, which it takes from its lock when the
 * lock has them, and otherwise makes from release() / acquire(): an RLock's
 * own, or for a Lock "held by someone", release() and acquire(). */
static PyObject *cond_is_owned(ConditionObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    FORWARD_IF_DELEGATED("_is_owned");
    if (nargs != 0 || kwnames != NULL) return PyErr_Format(PyExc_TypeError, "_is_owned() takes no arguments");
    if (Py_IS_TYPE(self->lock, DtPy_RLockType)) return PyObject_CallMethod(self->lock, "_is_owned", NULL);
    int locked = 0;
    int rc = dt_lock_locked(((LockObject *)self->lock)->handle, &locked);
    return rc != DT_OK ? dtpy_raise(rc, NULL) : PyBool_FromLong(locked);
}

static PyObject *cond_release_save(ConditionObject *self, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames) {
    FORWARD_IF_DELEGATED("_release_save");
    if (nargs != 0 || kwnames != NULL) return PyErr_Format(PyExc_TypeError, "_release_save() takes no arguments");
    if (Py_IS_TYPE(self->lock, DtPy_RLockType)) return PyObject_CallMethod(self->lock, "_release_save", NULL);
    return dtpy_cond_release(self) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *cond_acquire_restore(ConditionObject *self, PyObject *const *args, Py_ssize_t nargs,
                                      PyObject *kwnames) {
    FORWARD_IF_DELEGATED("_acquire_restore");
    if (nargs != 1 || kwnames != NULL)
        return PyErr_Format(PyExc_TypeError, "_acquire_restore() takes exactly one argument");
    if (Py_IS_TYPE(self->lock, DtPy_RLockType))
        return PyObject_CallMethod(self->lock, "_acquire_restore", "(O)", args[0]);
    return dtpy_cond_acquire(self, -1) < 0 ? NULL : Py_NewRef(Py_None); /* the state is ignored */
}

static PyObject *cond_at_fork_reinit(ConditionObject *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames) {
    FORWARD_IF_DELEGATED("_at_fork_reinit");
    int rc = dt_cond_reinit_after_fork(self->handle); /* forgets waiters, resets the lock */
    return rc != DT_OK ? dtpy_raise(rc, NULL) : Py_NewRef(Py_None);
}

static PyObject *cond_repr(ConditionObject *self) {
    PyObject *name = dtpy_type_name((PyObject *)self);
    if (name == NULL) return NULL;
    PyObject *r = PyUnicode_FromFormat("<%U(%R)>", name, self->lock ? self->lock : Py_None);
    Py_DECREF(name);
    return r;
}

#define FASTKW(fn) (PyCFunction)(void (*)(void))(fn), METH_FASTCALL | METH_KEYWORDS

static PyMethodDef cond_methods[] = {
    {"acquire", FASTKW(cond_acquire), "acquire(blocking=True, timeout=-1) -> bool: acquire the lock."},
    {"release", FASTKW(cond_release), "Release the lock."},
    {"__enter__", FASTKW(cond_enter), "Acquire the lock."},
    {"__exit__", FASTKW(cond_exit), "Release the lock."},
    {"wait", FASTKW(cond_wait),
     "wait(timeout=None) -> bool\n\nRelease the lock, wait until notified or the timeout passes, "
     "take the lock back. False on timeout. Ctrl-C raises KeyboardInterrupt with the lock held again."},
    {"wait_for", FASTKW(cond_wait_for),
     "wait_for(predicate, timeout=None)\n\nWait until predicate() is true; return its last result."},
    {"notify", FASTKW(cond_notify), "notify(n=1): wake up to n waiters. The lock must be held."},
    {"notify_all", FASTKW(cond_notify_all), "Wake every waiter. The lock must be held."},
    {"notifyAll", FASTKW(cond_notify_all), "Deprecated alias of notify_all()."},
    {"_at_fork_reinit", FASTKW(cond_at_fork_reinit), "Reset the lock (only in a child after fork)."},
    {"_is_owned", FASTKW(cond_is_owned), "As threading.Condition: whether the lock is held (by this "
                                         "thread, for an RLock)."},
    {"_release_save", FASTKW(cond_release_save), "As threading.Condition: release the lock fully."},
    {"_acquire_restore", FASTKW(cond_acquire_restore), "As threading.Condition: undo _release_save()."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef cond_members[] = {
    {"_lock", T_OBJECT, offsetof(ConditionObject, lock), READONLY, "The lock."},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(ConditionObject, weakrefs), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot cond_slots[] = {
    {Py_tp_dealloc, cond_dealloc},
    {Py_tp_repr, cond_repr},
    {Py_tp_doc, "Condition(lock=None)\n--\n\nA condition variable, a drop-in for threading.Condition.\n"
                "With this module's Lock/RLock (default: a new RLock) it is native: waits release the GIL,\n"
                "wake at once on notify and end on Ctrl-C. With any other lock it delegates to a private\n"
                "threading.Condition. Thread-safe."},
    {Py_tp_traverse, cond_traverse},
    {Py_tp_clear, cond_clear},
    {Py_tp_methods, cond_methods},
    {Py_tp_members, cond_members},
    {Py_tp_new, cond_new},
    {0, NULL},
};

PyType_Spec DtPy_ConditionSpec = {
    .name = "dup_threading.Condition",
    .basicsize = sizeof(ConditionObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = cond_slots,
};
