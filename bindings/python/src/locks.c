/*
 * locks.c: dup_threading.Lock (over dt_lock) and dup_threading.RLock (over
 * dt_rlock), with the behaviour, messages and private hooks of
 * threading.Lock / threading.RLock, so threading.Condition accepts them.
 */
#include "dtpy.h"

#include "pythread.h"
#include "structmember.h"

/* Adapters with the exact types dtpy_acquire calls through. */
static int lock_try(void *h) { return dt_lock_try_acquire(h); }
static int lock_timed(void *h, double t, dt_interrupt_fn fn, void *ctx) {
    return dt_lock_acquire_timed(h, t, fn, ctx);
}
static int rlock_try(void *h) { return dt_rlock_try_acquire(h); }
static int rlock_timed(void *h, double t, dt_interrupt_fn fn, void *ctx) {
    return dt_rlock_acquire_timed(h, t, fn, ctx);
}

/* ======================================================================= */
/* Lock                                                                     */
/* ======================================================================= */

int dtpy_lock_acquire(LockObject *self, double timeout) {
    return dtpy_acquire(self->handle, lock_try, lock_timed, timeout, NULL);
}

int dtpy_lock_release(LockObject *self) {
    /* Any thread may release a threading.Lock: use the hand-off release. */
    int rc = dt_lock_release_any_thread(self->handle);
    if (rc == DT_OK) return 0;
    dtpy_raise(rc, rc == DT_ENOTLOCKED ? "release unlocked lock" : NULL);
    return -1;
}

static PyObject *lock_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if ((DTPY_TUPLE_SIZE(args) != 0 || (kwargs != NULL && DTPY_DICT_SIZE(kwargs) != 0))) {
        PyErr_SetString(PyExc_TypeError, "Lock() takes no arguments");
        return NULL;
    }
    LockObject *self = (LockObject *)dtpy_alloc(type);
    if (self == NULL) return NULL;
    int rc = dt_lock_new(&self->handle);
    if (rc != DT_OK) {
        Py_DECREF(self);
        return dtpy_raise(rc, NULL);
    }
    return (PyObject *)self;
}

static void lock_dealloc(LockObject *self) {
    if (self->weakrefs != NULL) PyObject_ClearWeakRefs((PyObject *)self);
    if (self->handle != NULL) {
        /* Dropping a held threading.Lock is legal: unlock it so it can be freed. */
        if (dt_lock_free(self->handle) == DT_EBUSY) {
            dt_lock_release_any_thread(self->handle);
            dt_lock_free(self->handle);
        }
    }
    dtpy_free((PyObject *)self);
}

static PyObject *lock_acquire(LockObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    double timeout;
    if (dtpy_parse_acquire(args, nargs, kwnames, &timeout) < 0) return NULL;
    int r = dtpy_lock_acquire(self, timeout);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

static PyObject *lock_enter(LockObject *self, PyObject *unused) {
    return dtpy_lock_acquire(self, -1) < 0 ? NULL : Py_NewRef(Py_True);
}

static PyObject *lock_release(LockObject *self, PyObject *unused) {
    return dtpy_lock_release(self) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *lock_exit(LockObject *self, PyObject *const *args, Py_ssize_t nargs) {
    return dtpy_lock_release(self) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *lock_locked(LockObject *self, PyObject *unused) {
    int locked = 0;
    int rc = dt_lock_locked(self->handle, &locked);
    return rc != DT_OK ? dtpy_raise(rc, NULL) : PyBool_FromLong(locked);
}

static PyObject *lock_at_fork_reinit(LockObject *self, PyObject *unused) {
    int rc = dt_lock_reinit_after_fork(self->handle);
    return rc != DT_OK ? dtpy_raise(rc, NULL) : Py_NewRef(Py_None);
}

static PyObject *lock_repr(LockObject *self) {
    int locked = 0;
    dt_lock_locked(self->handle, &locked);
    PyObject *name = dtpy_type_name((PyObject *)self);
    if (name == NULL) return NULL;
    PyObject *r = PyUnicode_FromFormat("<%s %U object at %p>", locked ? "locked" : "unlocked", name, self);
    Py_DECREF(name);
    return r;
}

static PyMethodDef lock_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))lock_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire(blocking=True, timeout=-1) -> bool\n\nAs threading.Lock.acquire; a blocking wait "
     "releases the GIL and is interrupted by Ctrl-C."},
    {"release", (PyCFunction)lock_release, METH_NOARGS,
     "Release the lock; any thread may. RuntimeError if it is not locked."},
    {"locked", (PyCFunction)lock_locked, METH_NOARGS, "Whether some thread holds the lock."},
    {"__enter__", (PyCFunction)lock_enter, METH_NOARGS, "Acquire the lock."},
    {"__exit__", (PyCFunction)(void (*)(void))lock_exit, METH_FASTCALL, "Release the lock."},
    {"_at_fork_reinit", (PyCFunction)lock_at_fork_reinit, METH_NOARGS,
     "Reset to unlocked (only in a child right after fork)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef lock_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(LockObject, weakrefs), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot lock_slots[] = {
    {Py_tp_dealloc, lock_dealloc},
    {Py_tp_repr, lock_repr},
    {Py_tp_doc, "Lock()\n--\n\nA non-reentrant lock backed by libdupthreading, a drop-in for "
                "threading.Lock.\nThread-safe; any thread may release it."},
    {Py_tp_methods, lock_methods},
    {Py_tp_members, lock_members},
    {Py_tp_new, lock_new},
    {0, NULL},
};

PyType_Spec DtPy_LockSpec = {
    .name = "dup_threading.Lock",
    .basicsize = sizeof(LockObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = lock_slots,
};

/* ======================================================================= */
/* RLock                                                                    */
/* ======================================================================= */

int dtpy_rlock_acquire(RLockObject *self, double timeout) {
    return dtpy_acquire(self->handle, rlock_try, rlock_timed, timeout, NULL);
}

int dtpy_rlock_release(RLockObject *self) {
    int rc = dt_rlock_release(self->handle);
    if (rc == DT_OK) return 0;
    if (rc == DT_ENOTOWNER || rc == DT_ENOTLOCKED)
        dtpy_raise(rc, "cannot release un-acquired lock");
    else
        dtpy_raise(rc, NULL);
    return -1;
}

static PyObject *rlock_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    /* As threading.RLock() from 3.13 on (a subclass may take arguments). */
    if (DTPY_PYTHON_VERSION >= 0x030D0000 && type == DtPy_RLockType &&
        (DTPY_TUPLE_SIZE(args) != 0 || (kwargs != NULL && DTPY_DICT_SIZE(kwargs) != 0)) &&
        PyErr_WarnEx(PyExc_DeprecationWarning,
                     "Passing arguments to RLock is deprecated and will be removed in 3.15", 1) < 0)
        return NULL;
    RLockObject *self = (RLockObject *)dtpy_alloc(type);
    if (self == NULL) return NULL;
    int rc = dt_rlock_new(&self->handle);
    if (rc != DT_OK) {
        Py_DECREF(self);
        return dtpy_raise(rc, NULL);
    }
    return (PyObject *)self;
}

static void rlock_dealloc(RLockObject *self) {
    if (self->weakrefs != NULL) PyObject_ClearWeakRefs((PyObject *)self);
    if (self->handle != NULL && dt_rlock_free(self->handle) == DT_EBUSY) {
        /* Still held. If by this thread (the usual case), drop its levels;
         * if by another thread, that thread can no longer reach the lock:
         * leak the small handle rather than free memory it may touch. */
        long count;
        if (dt_rlock_release_save(self->handle, &count) == DT_OK) dt_rlock_free(self->handle);
    }
    dtpy_free((PyObject *)self);
}

static PyObject *rlock_acquire(RLockObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    double timeout;
    if (dtpy_parse_acquire(args, nargs, kwnames, &timeout) < 0) return NULL;
    int r = dtpy_rlock_acquire(self, timeout);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

static PyObject *rlock_enter(RLockObject *self, PyObject *unused) {
    return dtpy_rlock_acquire(self, -1) < 0 ? NULL : Py_NewRef(Py_True);
}

static PyObject *rlock_release(RLockObject *self, PyObject *unused) {
    return dtpy_rlock_release(self) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *rlock_exit(RLockObject *self, PyObject *const *args, Py_ssize_t nargs) {
    return dtpy_rlock_release(self) < 0 ? NULL : Py_NewRef(Py_None);
}

static PyObject *rlock_locked(RLockObject *self, PyObject *unused) {
    int locked = 0;
    int rc = dt_rlock_locked(self->handle, &locked);
    return rc != DT_OK ? dtpy_raise(rc, NULL) : PyBool_FromLong(locked);
}

static PyObject *rlock_recursion_count(RLockObject *self, PyObject *unused) {
    long count = 0;
    int rc = dt_rlock_count(self->handle, &count);
    return rc != DT_OK ? dtpy_raise(rc, NULL) : PyLong_FromLong(count);
}

static PyObject *rlock_is_owned(RLockObject *self, PyObject *unused) {
    long count = 0;
    int rc = dt_rlock_count(self->handle, &count);
    return rc != DT_OK ? dtpy_raise(rc, NULL) : PyBool_FromLong(count > 0);
}

/* threading.Condition.wait: drop every level, return (count, owner). */
static PyObject *rlock_release_save(RLockObject *self, PyObject *unused) {
    long count = 0;
    int rc = dt_rlock_release_save(self->handle, &count);
    if (rc == DT_ENOTOWNER || rc == DT_ENOTLOCKED) return dtpy_raise(rc, "cannot release un-acquired lock");
    if (rc != DT_OK) return dtpy_raise(rc, NULL);
    return Py_BuildValue("(lk)", count, PyThread_get_thread_ident());
}

/* threading.Condition.wait: take the lock back at the saved depth. Not
 * interruptible (like CPython's): the condition must hold its lock again.
 * The state is parsed as _thread.RLock parses it (same TypeErrors); the
 * owner is ignored, as the library knows which thread holds the lock. */
static PyObject *rlock_acquire_restore(RLockObject *self, PyObject *args) {
    unsigned long count, owner;
    if (!PyArg_ParseTuple(args, "(kk):_acquire_restore", &count, &owner)) return NULL;
    /* _thread would store any count, even 0 or one that wrapped around,
     * and leave the lock inconsistent: refuse those. */
    if (count < 1 || count > LONG_MAX)
        return dtpy_raise(DT_EINVAL, "_acquire_restore(): the saved count must be between 1 and LONG_MAX");
    long held = 0;
    int rc = dt_rlock_count(self->handle, &held);
    if (rc != DT_OK) return dtpy_raise(rc, NULL);
    if (held > 0) return dtpy_raise(DT_EBUSY, "_acquire_restore(): the lock is already held by this thread");
    /* One level, the usual case: the non-blocking try first, with the GIL. */
    rc = count == 1 ? dt_rlock_try_acquire(self->handle) : DT_EBUSY;
    if (rc == DT_EBUSY) {
        /* Takes the lock and sets its depth in one step, whatever the count;
         * it may block, so never with the GIL. */
        dtpy_blocking b;
        DTPY_RELEASE_GIL(&b);
        rc = dt_rlock_acquire_restore(self->handle, (long)count);
        DTPY_TAKE_GIL(&b);
    }
    return rc != DT_OK ? dtpy_raise(rc, NULL) : Py_NewRef(Py_None);
}

static PyObject *rlock_at_fork_reinit(RLockObject *self, PyObject *unused) {
    int rc = dt_rlock_reinit_after_fork(self->handle);
    return rc != DT_OK ? dtpy_raise(rc, NULL) : Py_NewRef(Py_None);
}

static PyObject *rlock_repr(RLockObject *self) {
    unsigned long owner = 0;
    long count = 0;
    dt_rlock_owner(self->handle, &owner, &count); /* a snapshot; pthread_t == thread ident */
    PyObject *name = dtpy_type_name((PyObject *)self);
    if (name == NULL) return NULL;
    PyObject *r = PyUnicode_FromFormat("<%s %U object owner=%lu count=%ld at %p>", owner ? "locked" : "unlocked",
                                       name, owner, count, self);
    Py_DECREF(name);
    return r;
}

static PyMethodDef rlock_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))rlock_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire(blocking=True, timeout=-1) -> bool\n\nAs threading.RLock.acquire; a blocking wait "
     "releases the GIL and is interrupted by Ctrl-C."},
    {"release", (PyCFunction)rlock_release, METH_NOARGS,
     "Release one level. RuntimeError unless the calling thread holds the lock."},
    {"locked", (PyCFunction)rlock_locked, METH_NOARGS, "Whether some thread holds the lock."},
    {"__enter__", (PyCFunction)rlock_enter, METH_NOARGS, "Acquire the lock."},
    {"__exit__", (PyCFunction)(void (*)(void))rlock_exit, METH_FASTCALL, "Release the lock."},
    {"_is_owned", (PyCFunction)rlock_is_owned, METH_NOARGS, "Whether the calling thread holds it."},
    {"_recursion_count", (PyCFunction)rlock_recursion_count, METH_NOARGS,
     "How many times the calling thread holds it."},
    {"_release_save", (PyCFunction)rlock_release_save, METH_NOARGS, "For threading.Condition."},
    {"_acquire_restore", (PyCFunction)rlock_acquire_restore, METH_VARARGS, "For threading.Condition."},
    {"_at_fork_reinit", (PyCFunction)rlock_at_fork_reinit, METH_NOARGS,
     "Reset to unlocked (only in a child right after fork)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef rlock_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(RLockObject, weakrefs), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot rlock_slots[] = {
    {Py_tp_dealloc, rlock_dealloc},
    {Py_tp_repr, rlock_repr},
    {Py_tp_doc, "RLock()\n--\n\nA reentrant lock backed by libdupthreading, a drop-in for "
                "threading.RLock.\nThread-safe; only the owner may release it."},
    {Py_tp_methods, rlock_methods},
    {Py_tp_members, rlock_members},
    {Py_tp_new, rlock_new},
    {0, NULL},
};

PyType_Spec DtPy_RLockSpec = {
    .name = "dup_threading.RLock",
    .basicsize = sizeof(RLockObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = rlock_slots,
};
