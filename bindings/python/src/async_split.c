/*
 * async_split.c: async_split(fn) -> (waiter, caller).
 *
 * The one-shot state lives here, in the two Python objects, and the library
 * provides the blocking wait: a dt_cond and dt_interruptible_wait (wakes at
 * once on notify, ends on Ctrl-C, honours timeouts). We do not use the
 * library's dt_async_split: it costs about six Swift heap allocations per
 * split (plus a box here for the result), while most splits are run and
 * waited on without anybody ever blocking. So a split is two Python objects
 * and a tuple, and the dt_cond is created only by the first waiter that
 * actually has to block.
 *
 * The waiter holds the state and the outcome:
 *   state    PENDING -> RUNNING -> RETURNED | RAISED, or PENDING -> ABANDONED
 *            (the caller was discarded unrun: its dealloc publishes this, so
 *            waiters raise RuntimeError instead of hanging). Written only with
 *            the GIL held, with __atomic stores; read with the GIL, except by
 *            the predicate of a blocked waiter (no GIL), an __atomic load.
 *   outcome  fn's result (RETURNED), or its exception and traceback (RAISED),
 *            so that every waiter() re-raises the very same exception object
 *            from the traceback it had in fn. Owned by the waiter, which shows
 *            it to the garbage collector (cycles through it are collected).
 *   cond     NULL until a waiter must block.
 * The caller holds fn and the waiter (caller() returns it, as duplicity's
 * does); the waiter does not refer to the caller, so dropping an unrun caller
 * reaches its dealloc.
 *
 * caller() claims PENDING -> RUNNING with the GIL (a second call raises
 * RuntimeError without running fn), runs fn with the GIL, stores the outcome
 * and publishes it: the state store, then, if the dt_cond exists, a wake-up
 * of its waiters (see publish). A BaseException that is not an Exception
 * (KeyboardInterrupt, SystemExit) is published the same way, then propagates
 * out of caller() instead of being reported as (False, waiter).
 *
 * The GIL and the condition's lock. No thread that holds the condition's
 * lock ever waits for the GIL, so the two cannot deadlock:
 *   - a blocking waiter releases the GIL before it takes the lock, and
 *     releases the lock (when dt_interruptible_wait returns) before it takes
 *     the GIL back. While it holds the lock it only reads the state
 *     atomically (the predicate); the library calls the interrupt callback,
 *     which may take the GIL, without the lock held;
 *   - the publisher takes and at once releases the lock with the GIL held,
 *     an exception to dtpy.h's GIL rule: it can wait there only for a
 *     GIL-less waiter's short critical section, never for Python code.
 * No wake-up is lost: the cond pointer is created and read with the GIL, and
 * the publisher stores the state and reads the pointer under one hold of the
 * GIL, so a waiter that creates the cond too late for that read sees the
 * state stored; a waiter that parks on an existing cond is woken as publish
 * explains.
 */
#include "dtpy.h"

#include <pthread.h>

#include <math.h>

#include "structmember.h"

enum { PENDING, RUNNING, RETURNED, RAISED, ABANDONED, CLEARED };
/* state >= DONE: the outcome is known (CLEARED: dropped by the collector). */
#define DONE RETURNED

/* The two are called with vectorcall, or in the limited API (which has it
 * from 3.12 only) through tp_call. */
typedef struct {
    PyObject_HEAD
#ifndef Py_LIMITED_API
    vectorcallfunc vectorcall;
#endif
    int state;
    PyObject *result;    /* RETURNED */
    PyObject *exc, *tb;  /* RAISED; tb may be NULL */
    dt_cond *cond;       /* created by the first waiter that must block */
    unsigned long cond_fork_generation; /* fork_generation when cond was last usable */
    PyObject *weakrefs;
} WaiterObject;

typedef struct {
    PyObject_HEAD
#ifndef Py_LIMITED_API
    vectorcallfunc vectorcall;
#endif
    PyObject *fn;         /* NULL once run (or cleared by the collector) */
    WaiterObject *waiter; /* returned by caller(), as duplicity does */
} CallerObject;

static inline int load_state(WaiterObject *w) { return __atomic_load_n(&w->state, __ATOMIC_ACQUIRE); }
static inline void store_state(WaiterObject *w, int s) { __atomic_store_n(&w->state, s, __ATOMIC_RELEASE); }

/* ======================================================================= */
/* Publishing and waiting                                                   */
/* ======================================================================= */

/* Bumped in a fork child. A waiter's condition lock may have been held by a
 * thread that does not exist in the child; the first use there resets it
 * (only the forking thread survives, so nothing else can be using it). */
static unsigned long fork_generation;

static void after_fork_in_child(void) { fork_generation++; }

int dtpy_async_split_init(void) { return pthread_atfork(NULL, NULL, after_fork_in_child) == 0 ? 0 : -1; }

/* With the GIL: the waiter's condition, reset first if we are in a fork
 * child and it has not been used here yet. NULL if no waiter ever blocked. */
static dt_cond *usable_cond(WaiterObject *w) {
    if (w->cond != NULL && w->cond_fork_generation != fork_generation) {
        (void)dt_cond_reinit_after_fork(w->cond);
        w->cond_fork_generation = fork_generation;
    }
    return w->cond;
}

/* With the GIL: sets the final state (the outcome fields are already
 * stored) and wakes the waiters that blocked, if any ever did.
 *
 * The wake-up is dt_cond_interrupt, which needs no lock, rather than
 * dt_cond_notify_all, which must be called with the lock held: a waiter woken
 * while we still hold the lock must park again on the lock, one more context
 * switch per hand-off (about 10% of a hand-off to a worker thread). The empty
 * acquire/release before it is what makes it lose no wake-up: a waiter reads
 * the state and the condition's wake-up sequence under the lock. If it did so
 * before our acquire, the interrupt moves that sequence and the waiter wakes;
 * if after our release, it sees the state we stored. The interrupt makes each
 * waiter consult interrupt_unless_known, which finds the outcome known and
 * asks the wait to stop (without the GIL); wait_for_outcome then takes
 * DT_EINTERRUPTED with the outcome known as success. (An interrupt whose
 * callback says go on does not end a wait, as dt_cond_interrupt documents:
 * the callback must stop it. The calls cannot fail: the condition has its
 * own lock.) */
static void publish(WaiterObject *w, int state) {
    store_state(w, state);
    dt_cond *cond = usable_cond(w);
    if (cond != NULL && dt_cond_acquire(cond) == DT_OK) {
        (void)dt_cond_release(cond);
        (void)dt_cond_interrupt(cond);
    }
}

/* A waiter blocked in dt_interruptible_wait, without the GIL. */
typedef struct {
    dtpy_blocking b; /* for dtpy_interrupt */
    WaiterObject *self;
} blocked_waiter;

/* dt_predicate_fn: runs without the GIL, with the condition's lock. */
static int outcome_known(void *ctx) { return load_state(((blocked_waiter *)ctx)->self) >= DONE; }

/* dt_interrupt_fn: runs without the GIL or the lock. With the outcome known
 * (publish's wake-up) it stops the wait at once, without the GIL; anything
 * else (a signal, the library's scheduled checks) gets dtpy_interrupt, which
 * takes the GIL to run signal handlers (Ctrl-C). */
static int interrupt_unless_known(void *ctx) {
    blocked_waiter *bw = ctx;
    return load_state(bw->self) >= DONE ? 1 : dtpy_interrupt(&bw->b);
}

/* With the GIL, the outcome not known yet, timeout != 0 (-1: forever).
 * Blocks without the GIL until the outcome is published. Returns 0 then, or
 * -1 with TimeoutError, KeyboardInterrupt (Ctrl-C) or another exception. */
static int wait_for_outcome(WaiterObject *self, double timeout) {
    if (self->cond == NULL) {
        dt_cond *cond = NULL;
        int rc = dt_cond_new(NULL, &cond); /* its own lock: never shared */
        if (rc != DT_OK) return dtpy_raise(rc, NULL), -1;
        self->cond = cond;
        self->cond_fork_generation = fork_generation;
    }
    /* A signal that arrived just before we park would otherwise wait for the
     * library's first scheduled check: handle it now (cheap). Its
     * handler may have run the caller, hence the second look. */
    if (PyErr_CheckSignals() < 0) return -1;
    if (load_state(self) >= DONE) return 0;
    /* Whoever calls waiter() should own a reference for the call; the wait
     * may be long and the dt_cond (freed by our dealloc) must outlive it. */
    Py_INCREF(self);
    dt_cond *cond = usable_cond(self);
    blocked_waiter bw = {.self = self};
    DTPY_RELEASE_GIL(&bw.b);
    int rc = dt_cond_acquire(cond); /* held only briefly, by threads that never wait for the GIL */
    if (rc == DT_OK) {
        rc = dt_interruptible_wait(cond, outcome_known, &bw, interrupt_unless_known, &bw,
                                   timeout < 0 ? DT_WAIT_FOREVER : timeout);
        int released = dt_cond_release(cond); /* before taking the GIL back */
        if (rc == DT_OK) rc = released;
    }
    DTPY_TAKE_GIL(&bw.b);
    /* Stopped by interrupt_unless_known because the outcome is known: done. */
    if (rc == DT_EINTERRUPTED && !PyErr_Occurred() && load_state(self) >= DONE) rc = DT_OK;
    Py_DECREF(self);
    switch (rc) {
    case DT_OK: return 0;
    case DT_ETIMEDOUT: return dtpy_raise(rc, "the async_split function has not finished yet"), -1;
    default: return dtpy_raise(rc, NULL), -1; /* DT_EINTERRUPTED keeps KeyboardInterrupt */
    }
}

/* ======================================================================= */
/* The waiter                                                               */
/* ======================================================================= */

/* With the GIL, the outcome known: fn's result, or its exception raised again. */
static PyObject *outcome(WaiterObject *self) {
    switch (self->state) {
    case RETURNED: return Py_NewRef(self->result);
    case RAISED:
        /* Restart from fn's traceback each time; raising adds our frames. */
        PyErr_Restore(Py_NewRef(Py_TYPE(self->exc)), Py_NewRef(self->exc), Py_XNewRef(self->tb));
        return NULL;
    case ABANDONED:
        return dtpy_raise(DT_EABANDONED, "the async_split caller was discarded without being called");
    default: return PyErr_Format(PyExc_RuntimeError, "the waiter was cleared");
    }
}

/* waiter(timeout=None): a None or absent timeout waits forever; 0 polls. */
static int parse_timeout(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, double *timeout) {
    static const char *const names[] = {"timeout"};
    PyObject *obj;
    if (dtpy_parse("waiter", args, nargs, kwnames, names, 1, 0, &obj) < 0) return -1;
    *timeout = -1.0;
    if (obj == NULL || obj == Py_None) return 0;
    double t = PyFloat_AsDouble(obj);
    if (t == -1.0 && PyErr_Occurred()) return -1;
    if (isnan(t) || t < 0) {
        PyErr_SetString(PyExc_ValueError, "timeout must be a non-negative number or None");
        return -1;
    }
    *timeout = isinf(t) ? -1.0 : t;
    return 0;
}

static PyObject *waiter_call_impl(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    WaiterObject *self = (WaiterObject *)op;
    double timeout = -1.0;
    if ((nargs != 0 || kwnames != NULL) && parse_timeout(args, nargs, kwnames, &timeout) < 0) return NULL;
    if (self->state < DONE) {
        if (timeout == 0) return dtpy_raise(DT_ETIMEDOUT, "the async_split function has not finished yet");
        if (wait_for_outcome(self, timeout) < 0) return NULL;
    }
    return outcome(self);
}

#ifdef Py_LIMITED_API
static PyObject *waiter_call(PyObject *op, PyObject *args, PyObject *kwargs) {
    return dtpy_call_fastcall(waiter_call_impl, op, args, kwargs);
}
#else
static PyObject *waiter_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    return waiter_call_impl(op, args, PyVectorcall_NARGS(nargsf), kwnames);
}
#endif

static PyObject *waiter_done(WaiterObject *self, PyObject *unused) { return PyBool_FromLong(self->state >= DONE); }

static int waiter_traverse(WaiterObject *self, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->result);
    Py_VISIT(self->exc);
    Py_VISIT(self->tb);
    return 0;
}

static int waiter_clear(WaiterObject *self) {
    /* Only an unreachable waiter is cleared, so nobody is running its caller
     * or waiting on it. A pending one holds no outcome (nothing to clear). */
    if (self->state >= DONE) store_state(self, CLEARED);
    Py_CLEAR(self->result);
    Py_CLEAR(self->exc);
    Py_CLEAR(self->tb);
    return 0;
}

static void waiter_dealloc(WaiterObject *self) {
    PyObject_GC_UnTrack(self);
    if (self->weakrefs != NULL) PyObject_ClearWeakRefs((PyObject *)self);
    Py_XDECREF(self->result);
    Py_XDECREF(self->exc);
    Py_XDECREF(self->tb);
    /* Nobody waits on it: a blocked waiter() holds a reference to self. */
    if (self->cond != NULL) (void)dt_cond_free(self->cond);
    dtpy_free((PyObject *)self);
}

static PyObject *waiter_repr(WaiterObject *self) {
    PyObject *name = dtpy_type_name((PyObject *)self);
    if (name == NULL) return NULL;
    PyObject *r = PyUnicode_FromFormat("<%U object (%s) at %p>", name, self->state >= DONE ? "done" : "pending",
                                       self);
    Py_DECREF(name);
    return r;
}

static PyMethodDef waiter_methods[] = {
    {"done", (PyCFunction)waiter_done, METH_NOARGS, "Whether the outcome is known (never blocks)."},
    {NULL, NULL, 0, NULL},
};

#ifdef Py_LIMITED_API
#define DTPY_VECTORCALL_FLAG 0
#else
#define DTPY_VECTORCALL_FLAG Py_TPFLAGS_HAVE_VECTORCALL
#endif

static PyMemberDef waiter_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(WaiterObject, weakrefs), READONLY, NULL},
#ifndef Py_LIMITED_API
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(WaiterObject, vectorcall), READONLY, NULL},
#endif
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot waiter_slots[] = {
    {Py_tp_dealloc, waiter_dealloc},
    {Py_tp_repr, waiter_repr},
#ifdef Py_LIMITED_API
    {Py_tp_call, waiter_call},
#else
    {Py_tp_call, PyVectorcall_Call},
#endif
    {Py_tp_doc, "waiter(timeout=None)\n\nThe front half of async_split(fn): wait for fn to have run, "
                "then return its result or\nre-raise its exception (with fn's traceback). Any thread, any "
                "number of times.\nThe wait releases the GIL and ends on Ctrl-C; TimeoutError if a "
                "timeout passes first."},
    {Py_tp_traverse, waiter_traverse},
    {Py_tp_clear, waiter_clear},
    {Py_tp_methods, waiter_methods},
    {Py_tp_members, waiter_members},
    {0, NULL},
};

PyType_Spec DtPy_WaiterSpec = {
    .name = "dup_threading.AsyncWaiter",
    .basicsize = sizeof(WaiterObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | DTPY_VECTORCALL_FLAG | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = waiter_slots,
};

/* ======================================================================= */
/* The caller                                                               */
/* ======================================================================= */

static PyObject *pair(PyObject *first, WaiterObject *waiter) {
    PyObject *t = PyTuple_New(2);
    if (t == NULL) return NULL;
    DTPY_TUPLE_SET(t, 0, Py_NewRef(first));
    DTPY_TUPLE_SET(t, 1, Py_NewRef((PyObject *)waiter));
    return t;
}

/* The call protocol guarantees that whoever calls us owns a reference to
 * self, which owns the waiter: both outlive fn, whatever fn drops. */
static PyObject *caller_call_impl(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    CallerObject *self = (CallerObject *)op;
    if (nargs != 0 || (kwnames != NULL && DTPY_TUPLE_SIZE(kwnames) != 0))
        return PyErr_Format(PyExc_TypeError, "caller() takes no arguments");
    WaiterObject *w = self->waiter;
    if (w->state != PENDING)
        return dtpy_raise(DT_EALREADY, "the async_split caller was already called; fn runs only once");
    store_state(w, RUNNING); /* with the GIL, before fn runs: a second caller() fails at once */
    PyObject *fn = self->fn;   /* our reference, released after the run */
    self->fn = NULL;
    PyObject *r;
    if (fn != NULL) {
        r = PyObject_CallNoArgs(fn);
    } else { /* cleared by the garbage collector: cannot be reached, but be safe */
        PyErr_SetString(PyExc_RuntimeError, "the async_split function was cleared");
        r = NULL;
    }
    if (r != NULL) {
        w->result = r; /* the waiter owns this reference */
        publish(w, RETURNED);
        Py_XDECREF(fn);
        return pair(Py_True, w);
    }
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (tb != NULL) PyException_SetTraceback(exc, tb);
    Py_XDECREF(type);
    w->exc = exc; /* the waiter owns these references */
    w->tb = tb;
    publish(w, RAISED);
    Py_XDECREF(fn); /* may run Python code: not while an exception is set */
    if (!PyErr_GivenExceptionMatches(exc, PyExc_Exception)) {
        /* KeyboardInterrupt, SystemExit...: published, and propagates. */
        PyErr_Restore(Py_NewRef(Py_TYPE(exc)), Py_NewRef(exc), Py_XNewRef(tb));
        return NULL;
    }
    return pair(Py_False, w);
}

#ifdef Py_LIMITED_API
static PyObject *caller_call(PyObject *op, PyObject *args, PyObject *kwargs) {
    return dtpy_call_fastcall(caller_call_impl, op, args, kwargs);
}
#else
static PyObject *caller_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    return caller_call_impl(op, args, PyVectorcall_NARGS(nargsf), kwnames);
}
#endif

static int caller_traverse(CallerObject *self, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->fn);
    Py_VISIT(self->waiter);
    return 0;
}

static int caller_clear(CallerObject *self) {
    /* The waiter stays, for dealloc to abandon it; the waiter's own tp_clear
     * breaks any cycle through it (through its outcome). */
    Py_CLEAR(self->fn);
    return 0;
}

static void caller_dealloc(CallerObject *self) {
    PyObject_GC_UnTrack(self);
    /* Never run: waiters raise RuntimeError rather than block forever. */
    if (self->waiter != NULL && self->waiter->state == PENDING) publish(self->waiter, ABANDONED);
    Py_CLEAR(self->fn);
    Py_CLEAR(self->waiter);
    dtpy_free((PyObject *)self);
}

#ifndef Py_LIMITED_API
static PyMemberDef caller_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(CallerObject, vectorcall), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};
#endif

static PyType_Slot caller_slots[] = {
    {Py_tp_dealloc, caller_dealloc},
#ifdef Py_LIMITED_API
    {Py_tp_call, caller_call},
#else
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_members, caller_members},
#endif
    {Py_tp_doc, "caller()\n\nThe back half of async_split(fn): run fn on this thread, once. Returns "
                "(True, waiter), or\n(False, waiter) if fn raised an Exception. A BaseException such as "
                "KeyboardInterrupt\npropagates (and waiters see it too). A second call raises RuntimeError."},
    {Py_tp_traverse, caller_traverse},
    {Py_tp_clear, caller_clear},
    {0, NULL},
};

PyType_Spec DtPy_CallerSpec = {
    .name = "dup_threading.AsyncCaller",
    .basicsize = sizeof(CallerObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | DTPY_VECTORCALL_FLAG | Py_TPFLAGS_IMMUTABLETYPE |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = caller_slots,
};

/* ======================================================================= */

PyObject *dtpy_async_split(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    PyObject *fn;
    if (nargs == 1 && kwnames == NULL) {
        fn = args[0]; /* the common call: async_split(fn) */
    } else {
        static const char *const names[] = {"fn"};
        if (dtpy_parse("async_split", args, nargs, kwnames, names, 1, 1, &fn) < 0) return NULL;
    }
    WaiterObject *w = PyObject_GC_New(WaiterObject, DtPy_WaiterType);
    if (w == NULL) return NULL;
#ifndef Py_LIMITED_API
    w->vectorcall = waiter_vectorcall;
#endif
    w->state = PENDING;
    w->result = w->exc = w->tb = NULL;
    w->cond = NULL;
    w->cond_fork_generation = 0;
    w->weakrefs = NULL;
    PyObject_GC_Track(w);
    CallerObject *c = PyObject_GC_New(CallerObject, DtPy_CallerType);
    if (c == NULL) {
        Py_DECREF(w);
        return NULL;
    }
#ifndef Py_LIMITED_API
    c->vectorcall = caller_vectorcall;
#endif
    c->fn = Py_NewRef(fn);
    c->waiter = w; /* steals our reference; the tuple gets new ones */
    PyObject_GC_Track(c);
    PyObject *t = PyTuple_New(2);
    if (t == NULL) {
        Py_DECREF(c); /* abandons w, nobody waits on it; frees it */
        return NULL;
    }
    DTPY_TUPLE_SET(t, 0, Py_NewRef((PyObject *)w));
    DTPY_TUPLE_SET(t, 1, (PyObject *)c);
    return t;
}
