/*
 * module.c: the dup_threading._native module: threading support queries and
 * the table of functions and types.
 */
#include "dtpy.h"

#include <string.h>

PyObject *DtPy_NotSupported;
PyObject *DtPy_str_acquire;
PyObject *DtPy_str_release;
PyObject *DtPy_str_wait;
PyTypeObject *DtPy_LockType;
PyTypeObject *DtPy_RLockType;
PyTypeObject *DtPy_ConditionType;
PyTypeObject *DtPy_ValueType;
PyTypeObject *DtPy_WaiterType;
PyTypeObject *DtPy_CallerType;
#ifdef Py_LIMITED_API
unsigned long dtpy_python_version;

/* sys.hexversion into dtpy_python_version. 0 or -1. */
static int read_python_version(void) {
    PyObject *hexversion = PySys_GetObject("hexversion"); /* borrowed */
    if (hexversion == NULL) {
        PyErr_SetString(PyExc_ImportError, "dup_threading: sys.hexversion is missing");
        return -1;
    }
    unsigned long v = PyLong_AsUnsignedLong(hexversion);
    if (v == (unsigned long)-1 && PyErr_Occurred()) return -1;
    dtpy_python_version = v;
    return 0;
}
#endif

static PyObject *threading_supported(PyObject *module, PyObject *unused) {
    return PyBool_FromLong(dt_threading_supported());
}

static PyObject *require_threading(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                                   PyObject *kwnames) {
    static const char *const names[] = {"reason"};
    PyObject *reason_obj;
    if (dtpy_parse("require_threading", args, nargs, kwnames, names, 1, 0, &reason_obj) < 0) return NULL;
    PyObject *reason_str = NULL;
    const char *reason = NULL; /* NULL: the library says "(no reason given)" */
    if (reason_obj != NULL && reason_obj != Py_None) {
        if ((reason_str = PyObject_Str(reason_obj)) == NULL) return NULL;
        if ((reason = PyUnicode_AsUTF8AndSize(reason_str, NULL)) == NULL) goto fail; /* limited API: 3.10 */
    }
    size_t size = 256 + (reason != NULL ? strlen(reason) : 0);
    char *message = PyMem_Malloc(size);
    if (message == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    int rc = dt_require_threading(reason, message, size);
    if (rc == DT_ENOTSUP)
        PyErr_SetString(DtPy_NotSupported, message);
    else if (rc != DT_OK)
        dtpy_raise(rc, NULL);
    PyMem_Free(message);
    Py_XDECREF(reason_str);
    return rc == DT_OK ? Py_NewRef(Py_None) : NULL;
fail:
    Py_XDECREF(reason_str);
    return NULL;
}

#define FASTKW(fn) (PyCFunction)(void (*)(void))(fn), METH_FASTCALL | METH_KEYWORDS

static PyMethodDef module_functions[] = {
    {"with_lock", FASTKW(dtpy_with_lock),
     "with_lock(lock, fn)\n--\n\nCall fn() with lock acquired and release it when fn returns or raises.\n"
     "Returns fn's result or raises its exception. lock is anything with acquire() and release()."},
    {"interruptably_wait", FASTKW(dtpy_interruptably_wait),
     "interruptably_wait(cv, waitFor)\n--\n\nWait on the condition cv (held by the caller) until "
     "waitFor() is true.\nWakes at once on notify (no polling) and raises KeyboardInterrupt on Ctrl-C, "
     "with cv held again."},
    {"async_split", FASTKW(dtpy_async_split),
     "async_split(fn)\n--\n\nSplit calling fn into (waiter, caller): run caller() on a worker thread, "
     "call waiter() anywhere\nto get fn's result or its exception."},
    {"require_threading", FASTKW(require_threading),
     "require_threading(reason=None)\n--\n\nRaise NotSupported, naming reason, if threads are not "
     "supported here."},
    {"threading_supported", (PyCFunction)threading_supported, METH_NOARGS,
     "threading_supported()\n--\n\nWhether threads are supported on this system."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "dup_threading._native",
    .m_doc = "The native core of dup_threading: libdupthreading with the GIL, reference counts and "
             "exceptions added.",
    .m_size = -1,
    .m_methods = module_functions,
};

PyMODINIT_FUNC PyInit__native(void) {
    if (dt_version() / 10000 != DT_VERSION_MAJOR) {
        PyErr_Format(PyExc_ImportError, "dup_threading was built for libdupthreading %s but loaded %s",
                     DT_VERSION_STRING, dt_version_string());
        return NULL;
    }
#ifdef Py_LIMITED_API
    if (read_python_version() < 0) return NULL;
#endif
    PyObject *m = PyModule_Create(&native_module);
    if (m == NULL) return NULL;
    if ((DtPy_str_acquire = PyUnicode_InternFromString("acquire")) == NULL) goto fail;
    if ((DtPy_str_release = PyUnicode_InternFromString("release")) == NULL) goto fail;
    if ((DtPy_str_wait = PyUnicode_InternFromString("wait")) == NULL) goto fail;
    DtPy_NotSupported = PyErr_NewExceptionWithDoc(
        "dup_threading.NotSupported", "Raised by require_threading() when threads are not supported.",
        PyExc_Exception, NULL);
    if (DtPy_NotSupported == NULL) goto fail;
    Py_INCREF(DtPy_NotSupported);
    if (PyModule_AddObject(m, "NotSupported", DtPy_NotSupported) < 0) {
        Py_DECREF(DtPy_NotSupported);
        goto fail;
    }
    if (dtpy_add_type(m, &DtPy_LockSpec, &DtPy_LockType, "Lock") < 0 ||
        dtpy_add_type(m, &DtPy_RLockSpec, &DtPy_RLockType, "RLock") < 0 ||
        dtpy_add_type(m, &DtPy_ConditionSpec, &DtPy_ConditionType, "Condition") < 0 ||
        dtpy_add_type(m, &DtPy_ValueSpec, &DtPy_ValueType, "Value") < 0 ||
        dtpy_add_type(m, &DtPy_WaiterSpec, &DtPy_WaiterType, "AsyncWaiter") < 0 ||
        dtpy_add_type(m, &DtPy_CallerSpec, &DtPy_CallerType, "AsyncCaller") < 0)
        goto fail;
    if (PyModule_AddStringConstant(m, "LIBRARY_VERSION", dt_version_string()) < 0) goto fail;
    if (dtpy_async_split_init() < 0) {
        PyErr_SetString(PyExc_ImportError, "dup_threading: could not register its fork handler");
        goto fail;
    }
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
