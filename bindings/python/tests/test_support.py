"""The module surface: duplicity's names and signatures, and the threading
support queries."""

import _thread
import inspect
import threading

import pytest

import dup_threading
from dup_threading import NotSupported, require_threading, thread_module, threading_module, threading_supported

# Public names of duplicity.dup_threading (reference documentation), with
# their parameters.
DUPLICITY_FUNCTIONS = {
    "with_lock": ["lock", "fn"],
    "interruptably_wait": ["cv", "waitFor"],
    "async_split": ["fn"],
    "require_threading": ["reason"],
    "threading_supported": [],
    "thread_module": [],
    "threading_module": [],
}


@pytest.mark.parametrize("name,params", DUPLICITY_FUNCTIONS.items())
def test_duplicity_functions_exist_with_the_same_parameters(name, params):
    fn = getattr(dup_threading, name)
    assert list(inspect.signature(fn).parameters) == params


def test_value_methods_match_duplicity():
    for method in ("get", "set", "transform", "acquire", "release"):
        assert callable(getattr(dup_threading.Value, method))
    assert dup_threading.Value().get() is None


def test_keyword_calls_work_as_on_the_python_original():
    assert dup_threading.with_lock(lock=threading.Lock(), fn=lambda: 1) == 1
    waiter, caller = dup_threading.async_split(fn=lambda: 2)
    caller()
    assert waiter() == 2
    cv = threading.Condition()
    with cv:
        dup_threading.interruptably_wait(cv=cv, waitFor=lambda: True)
    require_threading(reason="uploads")


def test_require_threading_passes_here():
    assert threading_supported() is True
    assert require_threading() is None
    assert require_threading("asynchronous upload") is None
    assert require_threading(reason=None) is None
    assert require_threading(object()) is None  # any reason, formatted with str()


def test_not_supported_is_an_exception():
    assert issubclass(NotSupported, Exception)
    assert NotSupported.__module__ == "dup_threading"
    with pytest.raises(NotSupported):
        raise NotSupported("threading was required because [x], but thread support is not available")


def test_module_accessors():
    assert thread_module() is _thread
    assert threading_module() is threading


def test_all_is_importable_and_versions():
    for name in dup_threading.__all__:
        assert hasattr(dup_threading, name), name
    assert dup_threading.LIBRARY_VERSION.count(".") == 2
    assert dup_threading.__version__


def test_native_types_are_in_the_package_namespace():
    for name in ("Lock", "RLock", "Condition", "Value", "AsyncWaiter", "AsyncCaller"):
        assert getattr(dup_threading, name).__module__ == "dup_threading"


def test_import_from_any_directory_without_environment(tmp_path):
    from conftest import run_python

    env = {"PATH": "/usr/bin:/bin"}  # no LD_LIBRARY_PATH, no PYTHONPATH
    result = run_python(
        "import dup_threading; print(dup_threading.Value(5).get())", cwd=tmp_path, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "5"
