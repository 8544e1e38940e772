#!/usr/bin/env python3
"""The dup_threading benchmark suite: one command for C, Swift and Python.

    python3 benchmarks/run.py [--quick] [--out DIR] [--rounds N] [--skip SUITE,...]
                              [--update-docs]

It builds what it needs (the library as it ships, with CMake and Embedded
Swift; the Swift benchmark with SwiftPM; the C benchmark with gcc; a venv
with the Python extension and duplicity 2.2.4), runs every benchmark with
its contenders interleaved, and writes
DIR/results.json (every raw figure) and DIR/results.md (the tables and the
machine). DIR defaults to bench-results/ at the repository root.

--quick is the seconds-long smoke mode used in CI: few short rounds, no
timing verdicts to rely on. Either way the exit status does not depend on
whether targets are met (report only); it is 1 only if a benchmark could not
be built or crashed. A Python extension that does not install makes the
Python part skip, with the reason in the report.

--update-docs copies the report to docs/benchmarks.md (full runs only).
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
DUPLICITY_VERSION = "2.2.4"

# ---- what is compared, and the targets ------------------------------------------------
#
# A ratio is baseline time / our time: higher is better, 1.0 is a tie.
# kind "ratio": met when ratio >= min_ratio.
# kind "median_max": met when the median of the rounds is <= max_value (the worst is shown).
# kind "median_below": met when the median is < max_value.
# diagnostic: shown with its verdict in brackets, not counted.

TARGETS = [
    # Python: dup_threading vs duplicity's module and the stdlib.
    dict(suite="python", bench="value_get", ours="dup_threading", base="duplicity", kind="ratio", min_ratio=8.0,
         what="Value.get, single thread", target=">= 8x duplicity"),
    dict(suite="python", bench="value_set", ours="dup_threading", base="duplicity", kind="ratio", min_ratio=8.0,
         what="Value.set, single thread", target=">= 8x duplicity"),
    dict(suite="python", bench="value_transform", ours="dup_threading", base="pure_python_rlock", kind="ratio",
         min_ratio=3.0, what="Value.transform(lambda x: x + 1)", target=">= 3x pure-Python RLock"),
    dict(suite="python", bench="with_lock", ours="dup_threading", base="duplicity", kind="ratio", min_ratio=2.0,
         what="with_lock(Lock(), fn)", target=">= 2x duplicity + threading.Lock"),
    dict(suite="python", bench="async_split_same_thread", ours="dup_threading", base="duplicity", kind="ratio",
         min_ratio=5.0, what="async_split round trip, one thread", target=">= 5x duplicity"),
    # Cross-thread latency is judged with the threads pinned, once to one CPU
    # and once to two: unpinned, the scheduler's placement decides between
    # those two regimes sample by sample, and the median of such a mixture
    # says more about the placement lottery than about the code (shown anyway).
    dict(suite="python", bench="async_split_handoff_same_cpu", ours="dup_threading", base="threading.Event",
         kind="ratio", min_ratio=1.0, what="async_split hand-off to a running thread, both threads on one CPU",
         target=">= 1.0x threading.Event"),
    dict(suite="python", bench="async_split_handoff_two_cpus", ours="dup_threading", base="threading.Event",
         kind="ratio", min_ratio=1.0, what="  same, threads on two CPUs", target=">= 1.0x threading.Event"),
    dict(suite="python", bench="async_split_handoff", ours="dup_threading", base="threading.Event", kind="ratio",
         min_ratio=1.0, diagnostic=True, what="  same, placement left to the scheduler",
         target=">= 1.0x threading.Event"),
    dict(suite="python", bench="contended_transform_4t", ours="dup_threading", base="pure_python_rlock",
         kind="ratio", min_ratio=1.0, what="4 threads contending on transform (throughput)",
         target=">= 1.0x pure-Python RLock"),
    dict(suite="python", bench="lock_acquire_release", ours="dup_threading.Lock", base="threading.Lock",
         kind="ratio", min_ratio=0.83, what="Lock acquire+release", target=">= 0.83x threading.Lock"),
    dict(suite="python", bench="rlock_acquire_release", ours="dup_threading.RLock", base="threading.RLock",
         kind="ratio", min_ratio=0.83, what="RLock acquire+release", target=">= 0.83x threading.RLock"),
    # C: the dt_ API vs hand-written pthread code.
    dict(suite="c", bench="value_get", ours="dt", base="pthread_mutex", kind="ratio", min_ratio=1 / 1.5,
         what="dt_value_get, uncontended", target="within 1.5x of mutex+load+unlock"),
    dict(suite="c", bench="value_set", ours="dt", base="pthread_mutex", kind="ratio", min_ratio=1 / 1.5,
         what="dt_value_set, uncontended", target="within 1.5x of mutex+store+unlock"),
    dict(suite="c", bench="transform", ours="dt", base="pthread_mutex", kind="ratio", min_ratio=0.5,
         what="dt_value_transform via callback", target="within 2x of mutex+call+unlock"),
    # Contention needs the two threads running at once: one per CPU. On one
    # CPU they take turns by time slice and each runs uncontended.
    dict(suite="c", bench="contended_transform_2t_two_cpus", ours="dt", base="pthread_mutex", kind="ratio",
         min_ratio=1.0, what="2 threads contending on transform (throughput), one per CPU",
         target=">= 1.0x pthread_mutex",
         why_missed=lambda stats: (
             "it is near parity, and the run-to-run spread decides the verdict (0.89x to 1.83x seen on this "
             "machine with the current code). The baseline's mutex and value happen to share one cache line "
             "(they sit next to each other in the C benchmark's .bss), as dt_value's lock words and stored value "
             "do by design, so under true contention both move one cache line per operation with the same "
             "compare-exchange / exchange / futex algorithm. Uncontended, dt_value_transform is "
             f"{ratio_text(stats, 'c', 'transform', 'dt', 'pthread_mutex')} of pthread in this run; the two bare "
             "locks under the same contention measure "
             f"{ratio_text(stats, 'c', 'contended_lock_2t_two_cpus', 'dt_lock', 'pthread_mutex')}. Spinning "
             "before parking (20 or 100 PAUSE iterations) measured slower.")),
    dict(suite="c", bench="contended_transform_2t", ours="dt", base="pthread_mutex", kind="ratio",
         min_ratio=1.0, diagnostic=True, what="  same, placement left to the scheduler",
         target=">= 1.0x pthread_mutex"),
    dict(suite="c", bench="contended_transform_2t_same_cpu", ours="dt", base="pthread_mutex", kind="ratio",
         min_ratio=1.0, diagnostic=True, what="  same, both on one CPU (taking turns: no contention)",
         target=">= 1.0x pthread_mutex"),
    dict(suite="c", bench="async_split_handoff_same_cpu", ours="dt", base="pthread_cond", kind="ratio",
         min_ratio=1 / 1.5, what="async_split hand-off to a running thread, both threads on one CPU",
         target="within 1.5x of pthread_cond"),
    dict(suite="c", bench="async_split_handoff_two_cpus", ours="dt", base="pthread_cond", kind="ratio",
         min_ratio=1 / 1.5, what="  same, threads on two CPUs", target="within 1.5x of pthread_cond"),
    dict(suite="c", bench="async_split_handoff", ours="dt", base="pthread_cond", kind="ratio", min_ratio=1 / 1.5,
         diagnostic=True, what="  same, placement left to the scheduler", target="within 1.5x of pthread_cond"),
    dict(suite="c", bench="cond_pingpong_same_cpu", ours="dt_cond", base="pthread_cond", kind="ratio",
         min_ratio=1 / 1.5, what="condition notify-to-wake (ping-pong round trip), both threads on one CPU",
         target="within 1.5x of pthread_cond"),
    dict(suite="c", bench="cond_pingpong_two_cpus", ours="dt_cond", base="pthread_cond", kind="ratio",
         min_ratio=1 / 1.5, what="  same, threads on two CPUs", target="within 1.5x of pthread_cond"),
    dict(suite="c", bench="cond_pingpong", ours="dt_cond", base="pthread_cond", kind="ratio", min_ratio=1 / 1.5,
         diagnostic=True, what="  same, placement left to the scheduler", target="within 1.5x of pthread_cond"),
    dict(suite="c", bench="idle_wait_csw", ours="dt_interruptible_wait", kind="median_max", max_value=1.0,
         unit="csw/s", what="idle dt_interruptible_wait (2 s): waiter's voluntary context switches",
         target="<= 1 per second (median of rounds)"),
    dict(suite="c", bench="signal_latency", ours="dt_cond_wait", kind="median_below", max_value=1e6, unit="ns",
         what="pthread_kill(SIGUSR1) to DT_EINTERRUPTED from dt_cond_wait", target="median < 1 ms"),
    # Swift: DupThreading vs Synchronization.Mutex.
    dict(suite="swift", bench="value_get", ours="DupThreading.Value", base="Mutex.withLock", kind="ratio",
         min_ratio=1 / 1.5, what="Value.get", target="within 1.5x of Mutex.withLock"),
    dict(suite="swift", bench="value_set", ours="DupThreading.Value", base="Mutex.withLock", kind="ratio",
         min_ratio=1 / 1.5, what="Value.set", target="within 1.5x of Mutex.withLock"),
    dict(suite="swift", bench="transform", ours="DupThreading.Value", base="Mutex.withLock", kind="ratio",
         min_ratio=1 / 1.5, what="Value.transform", target="within 1.5x of Mutex.withLock"),
]

# For the table of all measurements: the contender each other one is compared
# with (ratio = its median / the other's median), where that makes sense.
BASELINES = {
    ("python", "value_get"): "duplicity",
    ("python", "value_set"): "duplicity",
    ("python", "value_transform"): "pure_python_rlock",
    ("python", "with_lock"): "duplicity",
    ("python", "async_split_same_thread"): "duplicity",
    ("python", "async_split_handoff"): "threading.Event",
    ("python", "async_split_handoff_same_cpu"): "threading.Event",
    ("python", "async_split_handoff_two_cpus"): "threading.Event",
    ("python", "contended_transform_4t"): "pure_python_rlock",
    ("python", "lock_acquire_release"): "threading.Lock",
    ("python", "rlock_acquire_release"): "threading.RLock",
    ("python", "lock_with_statement"): "threading.Lock",
    ("python", "idle_wait_csw"): "duplicity",
    ("c", "value_get"): "pthread_mutex",
    ("c", "value_set"): "pthread_mutex",
    ("c", "transform"): "pthread_mutex",
    ("c", "value_get_hooked"): "pthread_mutex",
    ("c", "python_get_path"): "pthread_recursive_trylock+lock+load+unlock+unlock",
    ("c", "python_set_path"): "pthread_recursive_equivalent",
    ("c", "contended_transform_2t"): "pthread_mutex",
    ("c", "contended_lock_2t"): "pthread_mutex",
    ("c", "contended_transform_2t_same_cpu"): "pthread_mutex",
    ("c", "contended_lock_2t_same_cpu"): "pthread_mutex",
    ("c", "contended_transform_2t_two_cpus"): "pthread_mutex",
    ("c", "contended_lock_2t_two_cpus"): "pthread_mutex",
    ("c", "lock_acquire_release"): "pthread_mutex",
    ("c", "rlock_acquire_release"): "pthread_mutex_recursive",
    ("c", "with_lock"): "pthread_mutex",
    ("c", "cond_pingpong"): "pthread_cond",
    ("c", "cond_pingpong_same_cpu"): "pthread_cond",
    ("c", "cond_pingpong_two_cpus"): "pthread_cond",
    ("c", "async_split_handoff"): "pthread_cond",
    ("c", "async_split_handoff_same_cpu"): "pthread_cond",
    ("c", "async_split_handoff_two_cpus"): "pthread_cond",
    ("c", "signal_latency"): "sigsuspend_floor",
    ("swift", "value_get"): "Mutex.withLock",
    ("swift", "value_set"): "Mutex.withLock",
    ("swift", "transform"): "Mutex.withLock",
    ("swift", "lock_acquire_release"): "Mutex.withLock",
}

LOWER_IS_BETTER_UNITS = {"ns/op", "ns", "csw/s"}


# ---- small helpers ------------------------------------------------------------------------


def log(msg):
    print(f"[run.py {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_cmd(cmd, cwd=ROOT, timeout=None, env=None, capture=True):
    """Runs a command; returns (returncode, combined output). Never raises for
    a failing command or a timeout."""
    try:
        p = subprocess.run(
            cmd, cwd=cwd, timeout=timeout, env=env, text=True,
            stdout=subprocess.PIPE if capture else None, stderr=subprocess.STDOUT if capture else None,
        )
        return p.returncode, p.stdout or ""
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return 124, out + f"\n(timed out after {timeout} s)"
    except OSError as e:
        return 127, str(e)


def tail(text, lines=15):
    return "\n".join(text.strip().splitlines()[-lines:])


def first_line(cmd):
    rc, out = run_cmd(cmd, timeout=60)
    return out.strip().splitlines()[0] if rc == 0 and out.strip() else "unknown"


def quartiles(values):
    v = sorted(values)
    if len(v) == 1:
        return v[0], v[0], v[0]
    q = statistics.quantiles(v, n=4, method="inclusive")
    return q[0], q[1], q[2]


def fmt_num(x, unit=None):
    if x is None:
        return "-"
    if unit in ("ns/op", "ns"):
        if x >= 1e6:
            return f"{x / 1e6:.2f} ms"
        if x >= 1e4:
            return f"{x / 1e3:.1f} µs"
        return f"{x:.1f} ns"
    if unit == "csw/s":
        return f"{x:.2f}/s"
    return f"{x:.3g}"


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}x"


def fmt_pct(x):
    return "-" if x is None else f"{100 * x:.0f}%"


# ---- the machine ----------------------------------------------------------------------


def machine_info(venv_python=None):
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    rc, commit = run_cmd(["git", "rev-parse", "--short", "HEAD"], timeout=30)
    rc2, dirty = run_cmd(["git", "status", "--porcelain", "--", "Sources", "include", "Package.swift",
                          "bindings/python", "benchmarks"], timeout=30)
    info = {
        "cpu_model": cpu,
        "cores_online": os.cpu_count(),
        "cores_usable": usable,
        "kernel": platform.release(),
        "os": platform.platform(),
        "python_runner": platform.python_version(),
        "python_venv": None,
        "swift": first_line(["swift", "--version"]),
        "gcc": first_line(["gcc", "--version"]),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "loadavg_start": os.getloadavg(),
        "git_commit": commit.strip() if rc == 0 else "unknown",
        "git_dirty_paths": [line[3:] for line in dirty.splitlines()] if rc2 == 0 else [],
    }
    if venv_python:
        info["python_venv"] = first_line([str(venv_python), "-c", "import platform; print(platform.python_version())"])
    return info


# ---- building -------------------------------------------------------------------------


def swift_build(product, problems):
    log(f"swift build -c release --product {product}")
    t0 = time.time()
    rc, out = run_cmd(["swift", "build", "-c", "release", "--product", product], timeout=1800)
    if rc != 0:
        problems.append(f"swift build --product {product} failed (exit {rc}):\n{tail(out)}")
        log(f"  FAILED:\n{tail(out)}")
        return False
    log(f"  done in {time.time() - t0:.1f} s")
    return True


def bin_path():
    rc, out = run_cmd(["swift", "build", "-c", "release", "--show-bin-path"], timeout=300)
    if rc == 0 and out.strip():
        return Path(out.strip().splitlines()[-1])
    return ROOT / ".build" / "release"


def cmake_library(out_dir, problems, notes):
    """The library as it ships: CMake's Embedded Swift build (DT_LIBRARY=embedded),
    in out_dir/c-lib. Returns the directory that holds it, or None."""
    build = out_dir / "c-lib"
    cmake = shutil.which("cmake") or "cmake"
    log(f"cmake: libdupthreading (Embedded Swift) in {build}")
    t0 = time.time()
    for cmd in ([cmake, "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", "-DDT_LIBRARY=embedded",
                 "-DBUILD_TESTING=OFF", "-DDT_BUILD_EXAMPLES=OFF"],
                [cmake, "--build", str(build)]):
        rc, out = run_cmd(cmd, timeout=1800)
        if rc != 0:
            problems.append(f"{' '.join(cmd[:2])} failed (exit {rc}):\n{tail(out)}")
            log(f"  FAILED:\n{tail(out)}")
            return None
    libdir = build / "lib"
    size = (libdir / "libdupthreading.so.1").stat().st_size
    log(f"  done in {time.time() - t0:.1f} s ({size} bytes)")
    notes.append(f"C suite: libdupthreading.so as shipped (CMake, Embedded Swift), {size} bytes.")
    return libdir


def build_c(libdir, out_dir, problems):
    exe = out_dir / "bin" / "bench_c"
    exe.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["gcc", "-O2", "-std=c11", "-Wall", "-Wextra", "-pthread", f"-I{ROOT / 'include'}",
           str(BENCH / "c" / "bench.c"), f"-L{libdir}", "-ldupthreading", f"-Wl,-rpath,{libdir}", "-o", str(exe)]
    log(" ".join(cmd))
    rc, out = run_cmd(cmd, timeout=300)
    if rc != 0:
        problems.append(f"gcc failed (exit {rc}):\n{tail(out)}")
        log(f"  FAILED:\n{tail(out)}")
        return None
    if out.strip():
        log(tail(out))
    return exe


# ---- the venv ---------------------------------------------------------------------------


def tree_fingerprint(paths, skip_dirs=("build", "dist", "__pycache__", ".pytest_cache")):
    """A hash of the files under `paths`: when it changes, the extension is
    rebuilt (it bundles its own build of the library from Sources/)."""
    h = hashlib.sha256()
    for base in paths:
        base = ROOT / base
        if base.is_file():
            files = [base]
        elif base.is_dir():
            files = []
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs and not d.endswith(".egg-info"))
                files += [Path(dirpath) / f for f in sorted(filenames)]
        else:
            continue
        for f in files:
            h.update(str(f.relative_to(ROOT)).encode())
            try:
                h.update(f.read_bytes())
            except OSError:
                pass
    return h.hexdigest()


def ensure_venv(out_dir, quick, notes):
    """Creates or reuses out_dir/venv. Returns its python, or None."""
    venv = out_dir / "venv"
    py = venv / "bin" / "python"
    if py.exists():
        rc, _ = run_cmd([str(py), "-c", "import sys"], timeout=60)
        if rc == 0:
            return py
        log("the venv is broken: recreating it")
        shutil.rmtree(venv, ignore_errors=True)
    log(f"creating venv {venv}")
    rc, out = run_cmd([sys.executable, "-m", "venv", str(venv)], timeout=300)
    if rc != 0:
        notes.append(f"could not create a venv: {tail(out)}")
        return None
    return py


def duplicity_importable(py):
    rc, out = run_cmd([str(py), "-c", "import importlib.metadata as m, duplicity.dup_threading; "
                       "print(m.version('duplicity'))"], timeout=120)
    return rc == 0 and out.strip().splitlines()[-1:] == [DUPLICITY_VERSION]


def apt_install_if_missing(packages):
    """apt-get installs the Debian packages that are not installed yet.
    Returns a description of what was done."""
    missing = []
    for p in packages:
        rc, _ = run_cmd(["dpkg", "-s", p], timeout=60)
        if rc != 0:
            missing.append(p)
    if not missing:
        return "system packages already present: " + ", ".join(packages)
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "cannot apt-get install " + ", ".join(missing) + " (no apt-get, or not root)"
    log("apt-get update && apt-get install -y " + " ".join(missing))
    run_cmd(["apt-get", "update"], timeout=600)
    rc, out = run_cmd(["apt-get", "install", "-y", "--no-install-recommends", *missing], timeout=900,
                      env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return ("apt-get installed " if rc == 0 else "apt-get install failed for ") + ", ".join(missing)


def unpack_duplicity(out_dir):
    """pip download duplicity==2.2.4 --no-deps, unpacked: the directory that
    holds the duplicity/ package, or None."""
    dist = out_dir / "duplicity-dist"
    src = out_dir / "duplicity-src"
    dist.mkdir(parents=True, exist_ok=True)
    rc, out = run_cmd([sys.executable, "-m", "pip", "download", f"duplicity=={DUPLICITY_VERSION}", "--no-deps",
                       "-d", str(dist)], timeout=600)
    files = sorted(dist.glob(f"duplicity-{DUPLICITY_VERSION}*"))
    if not files:
        log(f"pip download failed:\n{tail(out)}")
        return None
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    archive = files[0]
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                if name.startswith("duplicity/") and name.endswith(".py"):
                    z.extract(name, src)
        return src
    with tarfile.open(archive) as t:
        members = [m for m in t.getmembers() if "/duplicity/" in m.name and m.name.endswith(".py")]
        t.extractall(src, members=members)  # noqa: S202 - our own download from PyPI
    for init in src.rglob("duplicity/__init__.py"):
        return init.parent.parent
    return None


def ensure_duplicity(py, out_dir, quick, notes, from_archive=False):
    """Makes duplicity 2.2.4's dup_threading available. Returns (method,
    path for --duplicity-path or None), or (None, None)."""
    if from_archive:
        src = unpack_duplicity(out_dir)
        if src is None:
            return None, None
        return (f"pip download duplicity=={DUPLICITY_VERSION} --no-deps; duplicity/dup_threading.py loaded from "
                f"the archive with importlib (forced by --duplicity-from-archive)"), src
    marker = py.parent.parent / ".bench-duplicity"
    if duplicity_importable(py):
        method = marker.read_text().strip() if marker.exists() else f"pip install duplicity=={DUPLICITY_VERSION}"
        if not (method.startswith("pip install --no-deps") and not quick):
            return method + " (reused venv)", None
    pip = [str(py), "-m", "pip", "install", "--disable-pip-version-check"]
    if quick:
        # The smoke mode keeps to seconds: duplicity's ~100 dependencies
        # (cloud back-ends) are not needed by dup_threading.py.
        log(f"pip install --no-deps duplicity=={DUPLICITY_VERSION} (quick mode)")
        rc, out = run_cmd(pip + ["--no-deps", f"duplicity=={DUPLICITY_VERSION}"], timeout=600)
        if rc == 0 and duplicity_importable(py):
            method = (f"pip install --no-deps duplicity=={DUPLICITY_VERSION} (quick mode; its dependencies "
                      f"are not needed by dup_threading.py)")
            marker.write_text(method)
            return method, None
    else:
        log(f"pip install duplicity=={DUPLICITY_VERSION} (with its dependencies; about a minute the first time)")
        rc, out = run_cmd(pip + [f"duplicity=={DUPLICITY_VERSION}"], timeout=1200)
        if rc != 0 and "rsync" in out.lower():
            notes.append(apt_install_if_missing(["librsync-dev", "python3-dev"]))
            rc, out = run_cmd(pip + [f"duplicity=={DUPLICITY_VERSION}"], timeout=1200)
        if rc == 0 and duplicity_importable(py):
            method = f"pip install duplicity=={DUPLICITY_VERSION}"
            marker.write_text(method)
            return method, None
    log(f"pip install of duplicity failed:\n{tail(out)}\nfalling back to pip download --no-deps")
    src = unpack_duplicity(out_dir)
    if src is None:
        return None, None
    return (f"pip download duplicity=={DUPLICITY_VERSION} --no-deps; duplicity/dup_threading.py loaded from the "
            f"archive with importlib"), src


def ensure_extension(py, out_dir, notes):
    """Installs (or reuses) the dup_threading extension, built from the
    repository root (pyproject.toml). Returns None on success, else the reason
    it is not available."""
    if not (ROOT / "pyproject.toml").exists():
        return "the repository has no pyproject.toml: the Python package cannot be built"
    fp = tree_fingerprint(["pyproject.toml", "CMakeLists.txt", "bindings/python", "Sources", "include",
                           "Package.swift"])
    marker = py.parent.parent / ".bench-extension"
    if marker.exists() and marker.read_text().strip() == fp:
        rc, _ = run_cmd([str(py), "-c", "import dup_threading"], timeout=120, cwd=out_dir)
        if rc == 0:
            log("dup_threading extension: up to date in the venv")
            return None
    log("pip install . (builds the extension and its own copy of the library)")
    t0 = time.time()
    rc, out = run_cmd([str(py), "-m", "pip", "install", "--disable-pip-version-check", "--force-reinstall",
                       "--no-deps", str(ROOT)], timeout=1800)
    if rc != 0:
        return f"pip install . failed (exit {rc}):\n{tail(out, 25)}"
    rc, out = run_cmd([str(py), "-c", "import dup_threading; print(dup_threading.__file__)"], timeout=120,
                      cwd=out_dir)
    if rc != 0:
        return f"dup_threading installed but does not import:\n{tail(out)}"
    marker.write_text(fp)
    log(f"  done in {time.time() - t0:.1f} s")
    return None


# ---- running --------------------------------------------------------------------------


def run_suite(name, cmd, out_dir, timeout, problems, cwd=ROOT, env=None):
    """Runs one benchmark program; returns the parsed JSON lines."""
    raw = out_dir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    log(f"running the {name} benchmark: {' '.join(str(c) for c in cmd)}")
    t0 = time.time()
    with open(raw / f"{name}.jsonl", "w") as so, open(raw / f"{name}.log", "w") as se:
        try:
            p = subprocess.run([str(c) for c in cmd], cwd=cwd, stdout=so, stderr=se, timeout=timeout, env=env)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc = 124
    records = []
    for line in (raw / f"{name}.jsonl").read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            problems.append(f"{name}: unparsable output line: {line[:200]}")
    if rc != 0:
        problems.append(f"the {name} benchmark exited with status {rc}; see {raw / (name + '.log')}:\n"
                        f"{tail((raw / f'{name}.log').read_text())}")
    log(f"  {name}: {sum('bench' in r for r in records)} samples in {time.time() - t0:.1f} s")
    return records


# ---- analysis ---------------------------------------------------------------------------


def summarize(records):
    """{(suite, bench, contender): stats}"""
    groups = {}
    for r in records:
        if "bench" not in r:
            continue
        key = (r["suite"], r["bench"], r["contender"])
        g = groups.setdefault(key, {"values": [], "unit": r.get("unit"), "rounds": {}})
        g["values"].append(r["value"])
        g["rounds"][r.get("round")] = r["value"]
    stats = {}
    for key, g in groups.items():
        v = g["values"]
        q1, med, q3 = quartiles(v)
        stats[key] = {
            "unit": g["unit"],
            "samples": len(v),
            "median": med,
            "p25": q1,
            "p75": q3,
            "min": min(v),
            "max": max(v),
            "noise": (q3 - q1) / med if med else None,
            "rounds": g["rounds"],
        }
    return stats


def ratio_of(stats, suite, bench, ours, base):
    o, b = stats.get((suite, bench, ours)), stats.get((suite, bench, base))
    if not o or not b or not o["median"]:
        return None, None
    ratio = b["median"] / o["median"]
    paired = [b["rounds"][r] / o["rounds"][r] for r in o["rounds"] if r in b["rounds"] and o["rounds"][r]]
    return ratio, (statistics.median(paired) if paired else None)


def ratio_text(stats, suite, bench, ours, base):
    """A measured ratio of this run as text, for the reasons given for a miss."""
    ratio, _ = ratio_of(stats, suite, bench, ours, base)
    return fmt_ratio(ratio) if ratio is not None else "not measured"


def evaluate_targets(stats, skipped_suites):
    rows = []
    for t in TARGETS:
        row = dict(t)
        suite = t["suite"]
        if suite in skipped_suites:
            row.update(status="skipped", reason=skipped_suites[suite])
            rows.append(row)
            continue
        o = stats.get((suite, t["bench"], t["ours"]))
        if o is None:
            row.update(status="not measured")
            rows.append(row)
            continue
        row["ours_median"], row["ours_noise"], row["unit"] = o["median"], o["noise"], o["unit"]
        if t["kind"] == "ratio":
            b = stats.get((suite, t["bench"], t["base"]))
            if b is None:
                row.update(status="not measured")
                rows.append(row)
                continue
            ratio, paired = ratio_of(stats, suite, t["bench"], t["ours"], t["base"])
            row.update(base_median=b["median"], base_noise=b["noise"], ratio=ratio, paired_ratio=paired,
                       met=ratio >= t["min_ratio"] - 1e-9)
        elif t["kind"] == "median_max":
            row.update(figure=o["median"], worst=o["max"], met=o["median"] <= t["max_value"])
        elif t["kind"] == "median_below":
            row.update(figure=o["median"], met=o["median"] < t["max_value"])
        row["status"] = "met" if row["met"] else "MISSED"
        if "why_missed" in row:  # the reason, worded with this run's figures, only when missed
            row["why_missed"] = row["why_missed"](stats) if row["status"] == "MISSED" else None
        rows.append(row)
    return rows


# ---- the report -------------------------------------------------------------------------


def render_markdown(machine, config, target_rows, stats, checks, notes, problems, skipped_suites, records):
    L = []
    L.append("# dup_threading benchmark results")
    L.append("")
    L.append(f"Command: `{config['command']}`" + (" (quick smoke mode: few short rounds; timings are indicative "
                                                    "only)" if config["quick"] else ""))
    L.append("")
    L.append("| Machine | |")
    L.append("|---|---|")
    L.append(f"| CPU | {machine['cpu_model']} |")
    L.append(f"| Cores | {machine['cores_online']} online, {machine['cores_usable']} usable by this process |")
    L.append(f"| Kernel | {machine['kernel']} |")
    L.append(f"| Python | {machine.get('python_venv') or machine['python_runner']} (runner {machine['python_runner']}) |")
    L.append(f"| Swift | {machine['swift']} |")
    L.append(f"| C compiler | {machine['gcc']} |")
    L.append(f"| Date | {machine['date_utc']} |")
    la0, la1 = machine["loadavg_start"], machine.get("loadavg_end")
    L.append(f"| Load average (1, 5, 15 min) | start {' '.join(f'{x:.2f}' for x in la0)}"
             + (f"; end {' '.join(f'{x:.2f}' for x in la1)}" if la1 else "") + " |")
    dirty = machine.get("git_dirty_paths") or []
    L.append(f"| Source | commit {machine['git_commit']}" + (f", with uncommitted changes in: {', '.join(dirty)}" if dirty else "") + " |")
    L.append(f"| duplicity baseline | {config.get('duplicity_method') or 'not available'} |")
    L.append(f"| Rounds × sample | {config['rounds_desc']} |")
    L.append("")
    L.append("Ratio = baseline median / our median (higher is better; 1.00x is a tie); the verdict uses it. "
             "Paired ratio = median over rounds of baseline / ours within the same round (less sensitive to "
             "drift). Noise = (p75 − p25) / median of a contender's samples. Every contender of a benchmark "
             "runs interleaved with the others (A B, B A, ...), one sample each per round; benchmarks across "
             "threads run twice as many rounds.")
    L.append("")
    L.append("## Targets")
    L.append("")
    L.append("| Suite | What | Target | Ours (median) | Baseline (median) | Ratio | Paired ratio | Noise ours / base | Verdict |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    met = missed = 0
    for r in target_rows:
        suite = r["suite"].capitalize() if r["suite"] != "c" else "C"
        diag = r.get("diagnostic")
        if r["status"] in ("skipped", "not measured"):
            L.append(f"| {suite} | {r['what']} | {r['target']} | - | - | - | - | - | {r['status']} |")
            continue
        unit = r.get("unit")
        if r["kind"] == "ratio":
            base_name = r["base"]
            ours = f"{fmt_num(r['ours_median'], unit)}"
            base = f"{fmt_num(r['base_median'], unit)} ({base_name})"
            ratio = fmt_ratio(r["ratio"])
            paired = fmt_ratio(r.get("paired_ratio"))
            noise = f"{fmt_pct(r['ours_noise'])} / {fmt_pct(r['base_noise'])}"
        else:
            ours = fmt_num(r["ours_median"], unit)
            if r["kind"] == "median_max":
                ours = f"median {fmt_num(r['figure'], unit)}, worst {fmt_num(r['worst'], unit)}"
            base, ratio, paired, noise = "-", "-", "-", f"{fmt_pct(r['ours_noise'])} / -"
        verdict = r["status"]
        if diag:
            verdict = f"({verdict}; diagnostic)"
        elif r["status"] == "met":
            met += 1
        else:
            missed += 1
        L.append(f"| {suite} | {r['what']} | {r['target']} | {ours} | {base} | {ratio} | {paired} | {noise} | {verdict} |")
    L.append("")
    L.append(f"**{met} targets met, {missed} missed**" + (
        f", {sum(r['status'] in ('skipped', 'not measured') for r in target_rows if not r.get('diagnostic'))} not measured"
        if any(r["status"] in ("skipped", "not measured") for r in target_rows) else "") + ".")
    L.append("")
    missed_with_reason = [r for r in target_rows if r["status"] == "MISSED" and r.get("why_missed")]
    if missed_with_reason:
        L.append("## Why a target is missed")
        L.append("")
        for r in missed_with_reason:
            L.append(f"- **{r['suite'].capitalize()}, {r['what'].strip()}**: {r['why_missed']}")
        L.append("")
    if skipped_suites:
        L.append("## Skipped")
        L.append("")
        for s, why in skipped_suites.items():
            L.append(f"- **{s}**: {why}")
        L.append("")
    L.append("## Checks")
    L.append("")
    for c in checks:
        L.append(f"- {c['suite']}: `{c['check']}`: {'ok' if c['ok'] else 'FAILED'}" + (f" — {c['detail']}" if c.get("detail") else ""))
    L.append("")
    L.append("## All measurements")
    L.append("")
    L.append("| Suite | Benchmark | Contender | Median | p25 | p75 | Noise | Samples | Ratio vs baseline |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for (suite, bench, contender), s in stats.items():
        base = BASELINES.get((suite, bench))
        if base and base != contender:
            ratio, _ = ratio_of(stats, suite, bench, contender, base)
            rtxt = f"{fmt_ratio(ratio)} vs {base}" if ratio is not None else "-"
        elif base == contender:
            rtxt = "(baseline)"
        else:
            rtxt = "-"
        u = s["unit"]
        L.append(f"| {suite} | {bench} | {contender} | {fmt_num(s['median'], u)} | {fmt_num(s['p25'], u)} | "
                 f"{fmt_num(s['p75'], u)} | {fmt_pct(s['noise'])} | {s['samples']} | {rtxt} |")
    L.append("")
    extra = [r for r in records if r.get("bench") == "idle_wait_csw"]
    if extra:
        L.append("Idle waits (raw): " + "; ".join(
            f"{r['suite']} {r['contender']} round {r['round']}: {r['nvcsw']} voluntary / {r['nivcsw']} involuntary "
            f"switches in {r['seconds']:.2f} s"
            + (f" (interrupt callback consulted {r['hook_calls']} times)" if "hook_calls" in r else "")
            for r in extra) + ".")
        L.append("")
    if notes or problems:
        L.append("## Notes")
        L.append("")
        for n in notes:
            L.append(f"- {n}")
        for p in problems:
            L.append(f"- PROBLEM: {p}".replace("\n", "\n  "))
        L.append("")
    return "\n".join(L)


DOC_PREAMBLE = """# Benchmarks

How fast dup_threading is, against what, and the latest full results.

## How to run

    python3 benchmarks/run.py            # full run, a few minutes
    python3 benchmarks/run.py --quick    # smoke mode for CI, seconds; no verdict to rely on

Results go to `bench-results/` (`--out DIR` to change): `results.json` has every raw
sample, `results.md` the tables below. `--update-docs` (full runs only) rewrites this
page from `results.md`. The exit status never depends on whether targets are met.

## What is measured

* **C** (`benchmarks/c/bench.c`): the `dt_` API of the library as it ships (CMake's Embedded
  Swift build) against hand-written pthread code doing the
  same job (mutex + load/store/callback + unlock, pthread_cond hand-offs). Per-op loops are
  timed with `clock_gettime(CLOCK_MONOTONIC)`; every result and status is folded into a
  volatile sink. The process is made multi-threaded first (glibc takes non-atomic shortcuts
  in a process that never had a second thread). Everything across two threads runs in
  three placements: both threads pinned to one CPU, one thread pinned to each of two
  CPUs, and unpinned. Targets are judged pinned, in both placements (for contention,
  only one thread per CPU: on one CPU the two threads take turns by time slice and each
  runs uncontended). Unpinned, the scheduler picks one of those two regimes sample by
  sample (on this 2-CPU virtual machine a two-CPU ping-pong costs about four times a
  one-CPU one), so the median of the mixture mostly measures where the threads happened
  to land; those rows are shown, marked diagnostic. The idle-wait figure is
  the waiter thread's voluntary context switches (`getrusage(RUSAGE_THREAD)`) over a 2 s
  `dt_interruptible_wait` with an interrupt callback that ends by its timeout: the switch
  that ends the wait is counted, so one safety-interval wake-up a second gives exactly
  1.00/s; three rounds, judged by their median (a stray switch in one round shows as
  the worst). Signal latency is `pthread_kill(SIGUSR1)` (a handler
  without `SA_RESTART`, as CPython installs them) to `dt_cond_wait` returning
  `DT_EINTERRUPTED`, sent once the waiter is asleep in the kernel; `sigsuspend` is the floor.
* **Swift** (`benchmarks/swift/`): `DupThreading.Value` against `Synchronization.Mutex`
  (`withLock` doing the same work) and a small pthread_mutex wrapper class; results go
  through an `@inline(never)` black hole, objects through an opaque identity function.
* **Python** (`benchmarks/python/bench_py.py`, run in `bench-results/venv`): the
  `dup_threading` extension against duplicity 2.2.4's own `duplicity.dup_threading`
  (the last release that ships it) and the standard library. Loops of `perf_counter_ns`,
  the statement repeated 10 times per iteration (as timeit does); nothing subtracted.
  duplicity's `Value.transform` raises AttributeError (checked in every run), so
  transform is compared with a correct pure-Python transform under `threading.RLock`.
  The hand-off benchmark gives work to a worker thread that is already blocked waiting
  for it (a `threading.Event` mailbox in every variant) and gets the result back through
  `async_split`'s waiter, or through a second `threading.Event`. `call_floor` shows what
  any call costs (a no-op C method; the transform's lambda alone).
* For diagnosis, the C rows `python_get_path` and `python_set_path` time the sequence of
  library calls the Python binding makes for `Value.get` and for `Value.set` /
  `Value.transform` when it goes through the library (try-acquire, nested get / set with
  reference-counting hooks, release), against the same work on a recursive pthread mutex;
  `contended_lock_2t*` separates the lock from the transform under contention;
  `value_get_hooked`, `with_lock`, `abi_call` and the lock rows are informational.

Ratio = baseline time / our time: higher is better. Noise = (p75 − p25) / median of a
contender's samples: on a shared 2-core machine, treat a ratio whose noise is large as
indicative only.

## Latest full run

"""


# ---- main ---------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="seconds-long smoke mode (CI); no timing verdicts")
    ap.add_argument("--out", default=str(ROOT / "bench-results"), help="output directory (default bench-results/)")
    ap.add_argument("--rounds", type=int, help="rounds per benchmark (default 21, quick 3)")
    ap.add_argument("--skip", default="", help="suites to skip: c,swift,python")
    ap.add_argument("--update-docs", action="store_true", help="write docs/benchmarks.md from this (full) run")
    ap.add_argument("--duplicity-from-archive", action="store_true",
                    help="skip pip install of duplicity: load dup_threading.py from the downloaded archive "
                         "(the fallback, forced)")
    args = ap.parse_args()

    started = time.time()
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    rounds = args.rounds or (3 if args.quick else 21)
    sample_ms = 4.0 if args.quick else 20.0
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    command = " ".join(["python3 benchmarks/run.py"] + sys.argv[1:])
    problems, notes, records = [], [], []
    skipped_suites = {s: "skipped on the command line (--skip)" for s in skip}
    config = {"command": command, "quick": args.quick, "rounds": rounds, "sample_ms": sample_ms,
              "rounds_desc": f"{rounds} rounds, samples of about {sample_ms:g} ms (latency benchmarks: one "
                             f"sample per trial; idle waits: {'1 × 1 s' if args.quick else 'C 3 × 2 s, Python 2 × 2 s'})"}
    # --quick first: the programs let a later --rounds / --sample-ms override it.
    common = (["--quick"] if args.quick else []) + ["--rounds", str(rounds), "--sample-ms", str(sample_ms)]

    # 1. Build.
    libdir = cmake_library(out_dir, problems, notes) if "c" not in skip else None
    c_exe = build_c(libdir, out_dir, problems) if libdir else None
    swift_ok = "swift" not in skip and swift_build("dup-threading-bench", problems)

    # 2. The venv: the extension and duplicity.
    py = dup_path = None
    if "python" not in skip:
        py = ensure_venv(out_dir, args.quick, notes)
        if py is None:
            skipped_suites["python"] = "could not create the venv: " + "; ".join(notes)
        else:
            why = ensure_extension(py, out_dir, notes)
            if why:
                skipped_suites["python"] = "the dup_threading extension is not installable: " + why
                log("SKIPPING the Python benchmark: " + why)
            method, dup_path = ensure_duplicity(py, out_dir, args.quick, notes, args.duplicity_from_archive)
            config["duplicity_method"] = method
            if method:
                log("duplicity baseline: " + method)
            elif "python" not in skipped_suites:
                skipped_suites["python"] = "duplicity 2.2.4 could be neither installed nor downloaded"

    machine = machine_info(py)

    # 3. Run, one suite after the other (never two at once on 2 cores). A
    # suite that hangs is killed: a few times its normal length.
    suite_timeout = 300 if args.quick else 900
    if c_exe:
        records += run_suite("c", [c_exe] + common, out_dir, suite_timeout, problems)
    elif "c" not in skip:
        skipped_suites["c"] = "not built (see Notes)"
    if swift_ok:
        records += run_suite("swift", [bin_path() / "dup-threading-bench"] + common, out_dir, suite_timeout, problems)
    elif "swift" not in skip:
        skipped_suites["swift"] = "not built (see Notes)"
    if py and "python" not in skipped_suites:
        cmd = [py, BENCH / "python" / "bench_py.py"] + common
        if dup_path:
            cmd += ["--duplicity-path", dup_path]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        records += run_suite("python", cmd, out_dir, suite_timeout, problems, cwd=out_dir, env=env)

    machine["loadavg_end"] = os.getloadavg()

    # 4. Analyse and report.
    stats = summarize(records)
    target_rows = evaluate_targets(stats, skipped_suites)
    checks = [r for r in records if "check" in r]
    for c in checks:
        if not c["ok"] and c["check"] != "duplicity_transform_raises":
            problems.append(f"check failed: {c['suite']} {c['check']}: {c.get('detail')}")
    md = render_markdown(machine, config, target_rows, stats, checks, notes, problems, skipped_suites, records)
    elapsed = time.time() - started
    results = {
        "machine": machine,
        "config": config,
        "elapsed_seconds": elapsed,
        "skipped_suites": skipped_suites,
        "notes": notes,
        "problems": problems,
        "targets": target_rows,
        "summary": [{"suite": k[0], "bench": k[1], "contender": k[2], **{kk: vv for kk, vv in v.items() if kk != "rounds"}}
                    for k, v in stats.items()],
        "checks": checks,
        "meta": [r for r in records if "meta" in r],
        "raw": [r for r in records if "bench" in r],
    }
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    (out_dir / "results.md").write_text(md + "\n")

    print()
    print(md)
    print()
    log(f"wrote {out_dir / 'results.json'} and {out_dir / 'results.md'} in {elapsed:.0f} s")
    if args.update_docs:
        if args.quick:
            log("--update-docs ignored: docs/benchmarks.md only takes full runs")
        else:
            body = md.split("\n", 1)[1].lstrip("\n")  # drop the results.md title
            (ROOT / "docs").mkdir(exist_ok=True)
            (ROOT / "docs" / "benchmarks.md").write_text(DOC_PREAMBLE + body + "\n")
            log("wrote docs/benchmarks.md")
    hard = [p for p in problems if not p.startswith("check failed")]
    return 1 if hard else 0


if __name__ == "__main__":
    sys.exit(main())
