"""Build dup_threading, the CPython extension over libdupthreading.

`build_ext` first builds the Swift library with SwiftPM, from the repository
root (the directory with Package.swift, normally two levels above this file),
into build/swift/ here. It copies the library, under its soname, next to the
extension module and links the extension against it with an `$ORIGIN` rpath,
so that `import dup_threading` works from anywhere with no environment
variables. Metadata lives in pyproject.toml.

Environment (all optional): DUP_THREADING_ROOT, the repository root when this
directory is not inside it; SWIFT, the swift executable.
"""

import os
import shutil
import struct
import subprocess
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
PRODUCT = "dupthreading"
SOURCES = ["module.c", "common.c", "locks.c", "condition.c", "value.c", "waits.c", "async_split.c"]


def fail(message):
    raise SystemExit("error: dup_threading: " + message)


def find_repo_root():
    """The repository root: DUP_THREADING_ROOT, else the nearest ancestor of
    this directory that has Package.swift and include/dup_threading.h."""
    candidates = [Path(os.environ["DUP_THREADING_ROOT"])] if os.environ.get("DUP_THREADING_ROOT") else []
    candidates += list(HERE.parents)
    for path in candidates:
        if (path / "Package.swift").is_file() and (path / "include" / "dup_threading.h").is_file():
            return path.resolve()
    fail(
        f"cannot find the dup_threading repository (Package.swift and include/dup_threading.h) above "
        f"{HERE}. Build from a checkout of the repository (pip install ./bindings/python), or set "
        f"DUP_THREADING_ROOT to it."
    )


def elf_soname(path):
    """DT_SONAME of a 64-bit little-endian ELF shared library, or None."""
    data = Path(path).read_bytes()
    if data[:6] != b"\x7fELF\x02\x01":
        return None
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    # Each section: (type, file offset, size, link).
    sections = [struct.unpack_from("<4xI16xQQI", data, shoff + i * shentsize) for i in range(shnum)]
    for kind, offset, size, link in sections:
        if kind != 6:  # SHT_DYNAMIC; its link is the string table
            continue
        strtab = sections[link][1]
        for pos in range(offset, offset + size, 16):
            tag, value = struct.unpack_from("<qQ", data, pos)
            if tag == 0:
                break
            if tag == 14:  # DT_SONAME
                start = strtab + value
                return data[start : data.index(b"\0", start)].decode()
    return None


class build_ext_with_swift(build_ext):
    """build_ext that builds and bundles libdupthreading first."""

    def run(self):
        root = find_repo_root()
        library = self.build_swift_library(root)
        out_dir = Path(self.get_ext_fullpath("dup_threading._native")).parent
        out_dir.mkdir(parents=True, exist_ok=True)
        # The name the dynamic loader will look for: the soname, recorded as
        # DT_NEEDED when we link against the copy of that name.
        bundled = elf_soname(library) or library.name
        shutil.copyfile(library, out_dir / bundled)
        for ext in self.extensions:
            ext.include_dirs.append(str(root / "include"))
            ext.library_dirs.append(str(out_dir))
            ext.extra_link_args += ["-l:" + bundled, "-Wl,-rpath,$ORIGIN"]
        super().run()

    def build_swift_library(self, root):
        swift = os.environ.get("SWIFT") or shutil.which("swift")
        if not swift:
            fail(
                "the Swift toolchain (`swift`) is not on PATH. It is needed to build libdupthreading: "
                "install Swift 6 or later (https://www.swift.org/install/), or set SWIFT to the executable."
            )
        scratch = HERE / "build" / "swift"
        command = [swift, "build", "-c", "release", "--product", PRODUCT, "--scratch-path", str(scratch)]
        print("dup_threading: building libdupthreading:", " ".join(command), flush=True)
        try:
            subprocess.run(command, cwd=root, check=True)
            bin_path = subprocess.run(
                command + ["--show-bin-path"], cwd=root, check=True, capture_output=True, text=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError) as error:
            fail(f"`swift build` failed in {root}: {error}")
        library = Path(bin_path) / f"lib{PRODUCT}.so"
        if not library.is_file():
            fail(f"`swift build` succeeded but {library} does not exist")
        return library


setup(
    ext_modules=[
        Extension(
            "dup_threading._native",
            sources=[f"src/{name}" for name in SOURCES],
            depends=["src/dtpy.h"],
            extra_compile_args=["-std=c11", "-O2", "-Wall", "-Wno-unused-parameter"],
        )
    ],
    cmdclass={"build_ext": build_ext_with_swift},
)
