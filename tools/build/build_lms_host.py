#!/usr/bin/env python3
"""Build the LMS/HSS C core as a host shared library for CPython (ctypes).

    python3 tools/build/build_lms_host.py [--sanitize] [--cc CC] [--force]

Compiles firmware/cmodules/lms/core/*.c with -DLMS_ENABLE_SIGN
-DLMS_COUNT_COMPRESSIONS into build/host/liblms.so, or with --sanitize
(-fsanitize=address,undefined) into build/host/liblms_asan.so; loading the
latter into CPython needs LD_PRELOAD=$(cc -print-file-name=libasan.so).
On x86-64 both builds add -DLMS_SHA256_X86_SHANI: SHA-256 compressions use
the SHA extensions when CPUID reports them (the portable code otherwise).
tools/hourglass/lms_host.py calls build() on first use when the library is
missing or older than the sources.
"""
import argparse
import glob
import os
import platform
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORE = os.path.join(ROOT, "firmware", "cmodules", "lms", "core")
OUT_DIR = os.path.join(ROOT, "build", "host")


class BuildError(Exception):
    pass


def lib_path(sanitize=False):
    return os.path.join(OUT_DIR, "liblms_asan.so" if sanitize else "liblms.so")


def sources():
    return sorted(glob.glob(os.path.join(CORE, "*.c")))


def is_stale(path):
    if not os.path.exists(path):
        return True
    t = os.path.getmtime(path)
    deps = sources() + glob.glob(os.path.join(CORE, "*.h")) + [os.path.abspath(__file__)]
    return any(os.path.getmtime(d) > t for d in deps)


def find_cc(cc=None):
    for cand in ([cc] if cc else []) + [os.environ.get("CC"), "cc", "gcc", "clang"]:
        if cand and shutil.which(cand):
            return cand
    raise BuildError("no C compiler found (install build-essential, or set CC)")


def build(sanitize=False, cc=None, force=False, quiet=True):
    """Build the library if needed; return its path. Raises BuildError."""
    out = lib_path(sanitize)
    if not force and not is_stale(out):
        return out
    cc = find_cc(cc)
    os.makedirs(OUT_DIR, exist_ok=True)
    flags = ["-std=c99", "-shared", "-fPIC", "-Wall", "-Wextra", "-DLMS_ENABLE_SIGN",
             "-DLMS_COUNT_COMPRESSIONS", "-I" + CORE]
    if platform.machine().lower() in ("x86_64", "amd64"):
        flags += ["-DLMS_SHA256_X86_SHANI"]     # run-time CPUID check, see lms_sha256.h
    if sanitize:
        flags += ["-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    else:
        flags += ["-O2"]
    tmp = out + ".tmp%d" % os.getpid()
    cmd = [cc] + flags + sources() + ["-o", tmp]
    if not quiet:
        print(" ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError("building %s failed:\n%s" % (out, r.stderr))
    os.replace(tmp, out)    # atomic: parallel test workers never see half a file
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sanitize", action="store_true", help="ASan+UBSan build -> liblms_asan.so")
    ap.add_argument("--cc", help="C compiler (default: $CC, cc, gcc, clang)")
    ap.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = ap.parse_args(argv)
    try:
        path = build(args.sanitize, args.cc, args.force, quiet=False)
    except BuildError as e:
        print("build_lms_host:", e, file=sys.stderr)
        return 1
    print("build_lms_host:", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
