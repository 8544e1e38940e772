#!/usr/bin/env python3
"""Checks what scripts/release.sh wrote to dist/, file by file, and prints the sizes.

    python3 scripts/check_dist.py dist --version 1.0.0 [--sizes FILE]

- the sdist: one top directory; the build files, the Swift package, the header,
  the Python package, LICENSE; no build products; PKG-INFO names the version
  and the licence;
- each wheel: a manylinux tag; the package, the extension of its CPython
  version and libdupthreading.so.1 beside it, and no other shared library; the
  extension needs libdupthreading.so.1 and finds it through RUNPATH $ORIGIN;
  the library (built with Embedded Swift) needs libc alone and imports only
  glibc's symbols: no Swift runtime, no C++ runtime; it is under 200 KB;
- the C tarball: one top directory with lib/ (the library and its two soname
  links), include/, the pkg-config file (relocatable, ${pcfiledir}), the CMake
  package, README.md and LICENSE; no absolute path of the build machine in it.

Exits 1 with every problem found. Needs readelf and nm (binutils).
"""

import argparse
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the shipped libdupthreading needs at run time (the embedded build).
LIBRARY_NEEDS = ["libc.so.6"]
LIBRARY_MAX_BYTES = 200 * 1024
SONAME = "libdupthreading.so.1"

problems = []


def problem(where, text):
    problems.append(f"{where}: {text}")


def dynamic(data):
    """(NEEDED list, SONAME, RUNPATH or RPATH) of an ELF file's bytes, through readelf."""
    with tempfile.NamedTemporaryFile(suffix=".so") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["readelf", "-d", f.name], check=True, capture_output=True, text=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    soname = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", out)
    path = re.search(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[([^\]]*)\]", out)
    return needed, soname and soname.group(1), path and path.group(1)


def undefined_symbols(data):
    """The undefined (U) dynamic symbols of an ELF file's bytes, through nm."""
    with tempfile.NamedTemporaryFile(suffix=".so") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(["nm", "-D", "--undefined-only", f.name], check=True, capture_output=True,
                             text=True).stdout
    return [m.group(1) for m in re.finditer(r"^\s*U (\S+)$", out, re.M)]


def check_library(where, data):
    needed, soname, _ = dynamic(data)
    if soname != SONAME:
        problem(where, f"soname {soname!r}, expected {SONAME}")
    if sorted(needed) != LIBRARY_NEEDS:
        problem(where, f"needs {needed}, expected {LIBRARY_NEEDS} alone (the Embedded Swift build)")
    for sym in undefined_symbols(data):
        if not re.search(r"@GLIBC_[0-9.]+$", sym):
            problem(where, f"imports {sym}, which is not a glibc symbol")
    if len(data) >= LIBRARY_MAX_BYTES:
        problem(where, f"{len(data)} bytes, not below {LIBRARY_MAX_BYTES}")


def check_sdist(path, version):
    top = f"dup_threading-{version}"
    with tarfile.open(path) as tar:
        names = tar.getnames()
        members = {n[len(top) + 1:] for n in names if n.startswith(top + "/")}
        pkg_info = tar.extractfile(f"{top}/PKG-INFO").read().decode() if f"{top}/PKG-INFO" in names else ""
    if any(not (n == top or n.startswith(top + "/")) for n in names):
        problem(path.name, f"not everything is under {top}/")
    required = ["PKG-INFO", "pyproject.toml", "CMakeLists.txt", "Package.swift", "LICENSE", "README.md",
                "include/dup_threading.h", "Sources/CDupThreading/exports.map",
                "Sources/CDupThreadingAPI/module.modulemap", "cmake/dupthreading.pc.in", "cmake/EmbeddedLibrary.cmake",
                "cmake/DupThreadingConfig.cmake.in", "bindings/python/CMakeLists.txt",
                "bindings/python/src/dtpy.h", "bindings/python/src/module.c",
                "bindings/python/dup_threading/__init__.py", "bindings/python/dup_threading/py.typed"]
    for r in required:
        if r not in members:
            problem(path.name, f"does not carry {r}")
    if not any(m.startswith("Sources/DupThreading/") and m.endswith(".swift") for m in members):
        problem(path.name, "carries no Swift source of the core")
    for m in members:
        parts = m.split("/")
        if m.endswith((".so", ".o", ".pyc", ".whl")) or any(
            p.startswith((".build", "build", ".venv", "dist")) or p in ("__pycache__", ".git") for p in parts[:-1]
        ):
            problem(path.name, f"carries a build product or a local file: {m}")
    for field in (f"Version: {version}", "License-Expression: Apache-2.0", "License-File: LICENSE",
                  "Requires-Python: >=3.10"):
        if field not in pkg_info.splitlines():
            problem(path.name, f"PKG-INFO lacks '{field}'")
    return len(members)


def check_wheel(path, version):
    # cp3XY-cp3XY: for one CPython version; cp310-abi3: for 3.10 and later.
    m = re.fullmatch(rf"dup_threading-{re.escape(version)}-cp(\d+)-(cp\d+|abi3)-(.+)\.whl", path.name)
    if not m or m.group(2) not in (f"cp{m.group(1)}", "abi3"):
        problem(path.name, "is not named dup_threading-V-cpXY-cpXY-PLATFORM.whl or dup_threading-V-cpXY-abi3-PLATFORM.whl")
        return {}
    py, plat = m.group(1), m.group(3)
    native = r"_native\.abi3\.so" if m.group(2) == "abi3" else rf"_native\.cpython-{py}-[^/]+\.so"
    # One tag, or several joined by dots: auditwheel names manylinux_2_17 with
    # its legacy alias too (manylinux2014_x86_64.manylinux_2_17_x86_64).
    tags = plat.split(".")
    if not all(re.fullmatch(r"manylinux(_\d+_\d+|1|2010|2014)_[a-z0-9_]+", t) for t in tags) or not any(
            re.fullmatch(r"manylinux_\d+_\d+_[a-z0-9_]+", t) for t in tags):
        problem(path.name, f"platform tag {plat} is not a manylinux tag")
    sizes = {}
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        files = [n for n in names if not n.endswith("/")]
        natives = [n for n in files if re.fullmatch(rf"dup_threading/{native}", n)]
        shared = [n for n in files if re.search(r"\.so(\.\d+)*$", n)]
        for r in ["dup_threading/__init__.py", "dup_threading/__init__.pyi", "dup_threading/py.typed",
                  f"dup_threading/{SONAME}", f"dup_threading-{version}.dist-info/licenses/LICENSE"]:
            if r not in files:
                problem(path.name, f"does not carry {r}")
        if len(natives) != 1:
            problem(path.name, f"should carry one extension for CPython {py}, carries {natives}")
        extra = sorted(set(shared) - set(natives) - {f"dup_threading/{SONAME}"})
        if extra:
            problem(path.name, f"carries other shared libraries: {extra}")
        metadata = z.read(f"dup_threading-{version}.dist-info/METADATA").decode()
        for field in (f"Version: {version}", "License-Expression: Apache-2.0"):
            if field not in metadata.splitlines():
                problem(path.name, f"METADATA lacks '{field}'")
        if natives:
            needed, _, runpath = dynamic(z.read(natives[0]))
            if SONAME not in needed:
                problem(path.name, f"the extension does not need {SONAME} (needs {needed})")
            if runpath != "$ORIGIN":
                problem(path.name, f"the extension's RUNPATH is {runpath!r}, expected $ORIGIN")
            sizes["extension"] = z.getinfo(natives[0]).file_size
        if f"dup_threading/{SONAME}" in files:
            check_library(f"{path.name}: {SONAME}", z.read(f"dup_threading/{SONAME}"))
            sizes["library"] = z.getinfo(f"dup_threading/{SONAME}").file_size
        sizes["unpacked"] = sum(z.getinfo(n).file_size for n in files)
    return sizes


def check_c_tarball(path, version):
    top = path.name[: -len(".tar.gz")]
    full = f"libdupthreading.so.{version}"
    major = version.split(".")[0]
    sizes = {}
    with tarfile.open(path) as tar:
        members = {m.name[len(top) + 1:]: m for m in tar.getmembers() if m.name.startswith(top + "/")}
        if len(members) + 1 != len(tar.getmembers()):
            problem(path.name, f"not everything is under {top}/")
        for r in [f"lib/{full}", "include/dup_threading.h", "lib/pkgconfig/dupthreading.pc",
                  "lib/cmake/DupThreading/DupThreadingConfig.cmake",
                  "lib/cmake/DupThreading/DupThreadingConfigVersion.cmake", "README.md", "LICENSE"]:
            if r not in members or not members[r].isfile():
                problem(path.name, f"does not carry the file {r}")
        for link, target in ((f"lib/libdupthreading.so.{major}", full),
                             ("lib/libdupthreading.so", f"libdupthreading.so.{major}")):
            m = members.get(link)
            if m is None or not m.issym() or m.linkname != target:
                problem(path.name, f"{link} should be a symlink to {target}")
        if f"lib/{full}" in members:
            data = tar.extractfile(f"{top}/lib/{full}").read()
            check_library(f"{path.name}: lib/{full}", data)
            sizes["library"] = len(data)
        for name, m in members.items():
            if not m.isfile() or name.endswith(".so." + version):
                continue
            text = tar.extractfile(m).read().decode(errors="replace")
            if str(ROOT) in text or "build-release" in text:
                problem(path.name, f"{name} names a path of the build machine")
            if name.endswith(".pc") and "${pcfiledir}" not in text:
                problem(path.name, f"{name} does not find its prefix from ${{pcfiledir}}")
        sizes["unpacked"] = sum(m.size for m in members.values() if m.isfile())
    return sizes


def mib(n):
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dist", type=Path)
    parser.add_argument("--version", required=True)
    parser.add_argument("--sizes", type=Path, help="also write the size table to this file")
    args = parser.parse_args()
    dist, version = args.dist, args.version

    rows = []
    sdists = sorted(dist.glob(f"dup_threading-{version}.tar.gz"))
    wheels = sorted(dist.glob("*.whl"))
    c_tarballs = sorted(dist.glob(f"libdupthreading-{version}-linux-*.tar.gz"))
    expected = {p.name for p in sdists + wheels + c_tarballs} | {"SHA256SUMS"}
    for p in sorted(dist.iterdir()):
        if p.name not in expected:
            problem(p.name, "is not a release file")
    if len(sdists) != 1:
        problem(str(dist), f"should hold one sdist dup_threading-{version}.tar.gz")
    if not wheels:
        problem(str(dist), "holds no wheel")
    if len(c_tarballs) != 1:
        problem(str(dist), f"should hold one C tarball libdupthreading-{version}-linux-ARCH.tar.gz")
    for p in sdists:
        n = check_sdist(p, version)
        rows.append((p.name, p.stat().st_size, f"{n} files"))
    for p in wheels:
        s = check_wheel(p, version)
        detail = ", ".join(f"{k} {mib(v)}" for k, v in s.items())
        rows.append((p.name, p.stat().st_size, "unpacked: " + detail))
    for p in c_tarballs:
        s = check_c_tarball(p, version)
        detail = ", ".join(f"{k} {mib(v)}" for k, v in s.items())
        rows.append((p.name, p.stat().st_size, "unpacked: " + detail))

    out = io.StringIO()
    width = max(len(r[0]) for r in rows) if rows else 10
    print(f"{'file':<{width}}  {'bytes':>9}  {'size':>9}  contents", file=out)
    for name, size, detail in rows:
        print(f"{name:<{width}}  {size:>9}  {mib(size):>9}  {detail}", file=out)
    table = out.getvalue()
    print(table, end="")
    if args.sizes:
        args.sizes.write_text(table)
    if problems:
        print(f"\n{len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    print(f"all {len(rows)} files checked: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
