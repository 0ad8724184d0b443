#!/usr/bin/env python3
"""The 64 KiB end-to-end figure (issue #9) on the qemu mps2-an386 test image.

    .venv/bin/python tools/bench/bench_e2e.py [--elf build/qemu_an386_test/firmware.elf]

1. Boots the image (the portable tests frozen in: make qemu-test) and runs
   the one test module host_tests/portable/test_e2e_64k.py through
   mp_runner, as run_qemu.py --tests does for every module: SUIT update and
   trial boot, an OSCORE GET, an EAT, in one boot. Its lines
   "e2e-64k: ..." give the heap high-water mark (sampled, see the module's
   top), or where it ran out of heap.
2. Boots it again and imports the device's lib modules one by one (the
   order of their dependencies), printing what each costs on the heap:
   where the memory goes.
Prints both as tables and records them (results.record, section "e2e").
Exit status 0 when the figures were read (also when the run does not fit:
that is a figure), 1 when the image did not answer as expected.
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from results import record  # noqa: E402

RUNTIME = "qemu mps2-an386"
SECTION = "e2e"

# The same wrapper run_qemu.py uses for one frozen test module.
RUN_MODULE = """
import gc
gc.collect()
_free = gc.mem_free()
import mp_runner
mp_runner.run("qemu-an386", only=["test_e2e_64k"])
gc.collect()
print("heap test_e2e_64k: %d bytes free at start, %d at end" % (_free, gc.mem_free()))
"""

# The device's packages (firmware/manifest.py), dependencies first, so each
# line is what that module adds.
DEVICE_MODULES = ("cbor", "hgcrypto", "cose", "hgstore", "lms", "lms_state", "suit_envelope",
                  "suit_platform", "suit_processor", "suit_slots", "suit_boot", "coap_msg",
                  "coap_ep", "coap_server", "oscore", "oscore_server", "eat")
IMPORTS = """
import gc
gc.collect()
f0 = gc.mem_free()
print("e2e-imports: heap %%d free %%d" %% (f0 + gc.mem_alloc(), f0))
prev = f0
for name in %r:
    __import__(name)
    gc.collect()
    f = gc.mem_free()
    print("e2e-imports: %%s %%d" %% (name, prev - f))
    prev = f
""" % (DEVICE_MODULES,)

R_IMPORTS = re.compile(r"^e2e-64k: imports: (\d+) bytes .*free (\d+) of (\d+)\)", re.M)
R_STEP = re.compile(r"^e2e-64k: (\w+): free low-water (\d+) bytes \(storage (\d+) bytes\)", re.M)
R_HIGH = re.compile(r"^e2e-64k: heap high-water (\d+) bytes used of (\d+) \(free low-water (\d+)", re.M)
R_NOFIT = re.compile(r"^e2e-64k: does not fit: MemoryError in step (\w+) \((.*?)\);.*free low-water (\d+)",
                     re.M)
R_SUMMARY = re.compile(r"^qemu-an386: (\d+) passed, (\d+) failed, (\d+) skipped", re.M)


def run_on_qemu(elf, script, timeout):
    """(exit status, output) of run_qemu.py running `script` on `elf`."""
    path = os.path.join(ROOT, "build", "bench", "e2e_script.py")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(script)
    try:
        p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_qemu.py"), "--elf", elf,
                            "--timeout", str(timeout), path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=timeout + 30)
        return p.returncode, p.stdout
    finally:
        os.unlink(path)


def parse_run(out):
    """The figures of the test module's output (dict), or None."""
    m = R_SUMMARY.search(out)
    if not m:
        return None
    res = {"passed": int(m.group(1)), "failed": int(m.group(2)), "skipped": int(m.group(3)),
           "steps": [(s, int(k), int(n)) for s, k, n in R_STEP.findall(out)]}
    m = R_IMPORTS.search(out)
    if m:
        res["imports"], res["after_imports"], res["heap"] = (int(x) for x in m.groups())
    m = R_HIGH.search(out)
    if m:
        res["used"], res["heap"], res["low"] = (int(x) for x in m.groups())
    m = R_NOFIT.search(out)
    if m:
        res["nofit_step"], res["nofit_error"], res["low"] = m.group(1), m.group(2), int(m.group(3))
    return res


def parse_imports(out):
    """(heap, free at start, [(module, bytes)]) or None."""
    heap = free = None
    mods = []
    for line in out.splitlines():
        if not line.startswith("e2e-imports: "):
            continue
        parts = line.split()
        if parts[1] == "heap":
            heap, free = int(parts[2]), int(parts[4])
        else:
            mods.append((parts[1], int(parts[2])))
    if heap is None or len(mods) != len(DEVICE_MODULES):
        return None
    return heap, free, mods


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--elf", default=os.path.join(ROOT, "build", "qemu_an386_test", "firmware.elf"),
                    help="the qemu image with the portable tests frozen in (make qemu-test)")
    ap.add_argument("--timeout", type=int, default=600)
    args = ap.parse_args(argv)
    if not os.path.exists(args.elf):
        print("bench_e2e: %s not built (make qemu-test)" % os.path.relpath(args.elf, ROOT))
        record(SECTION, "end-to-end run in one boot", None, "", runtime=RUNTIME,
               note="not measured: %s not built (make qemu-test)" % os.path.relpath(args.elf, ROOT))
        return 1

    rc, out = run_on_qemu(args.elf, RUN_MODULE, args.timeout)
    print(out.rstrip())
    res = parse_run(out)
    if res is None or "imports" not in res:
        print("bench_e2e: no e2e-64k figures from the image (exit %d)" % rc)
        return 1
    if res["failed"]:
        print("bench_e2e: the end-to-end test FAILED on the image (see above)")
    heap = res["heap"]
    fits = res["passed"] == 1 and "used" in res
    print()
    print("== 64 KiB end-to-end on %s (heap %d bytes)" % (RUNTIME, heap))
    print("  %-34s %10s %12s" % ("", "bytes", "storage (B)"))
    print("  %-34s %10d" % ("imports (lib + test module)", res["imports"]))
    print("  %-34s %10d" % ("free after the imports", res["after_imports"]))
    for step, low, stored in res["steps"]:
        print("  %-34s %10d %12d" % ("free low-water after " + step, low, stored))
    if fits:
        print("  %-34s %10d   (of %d; free low-water %d)" % ("heap high-water (used)", res["used"], heap,
                                                            res["low"]))
        note = "sampled: gc.collect()+gc.mem_free() at storage calls, datagrams and step ends"
    else:
        why = ("MemoryError in step %s (%s)" % (res["nofit_step"], res["nofit_error"])
               if "nofit_step" in res else "the test did not pass")
        print("  DOES NOT FIT: %s; free low-water before it %s" % (why, res.get("low")))
        note = "does not fit: " + why
    record(SECTION, "end-to-end run in one boot (1 = completes)", 1 if fits else 0, "", goal="value >= 1",
           runtime=RUNTIME, note=note)
    record(SECTION, "heap", heap, "B", runtime=RUNTIME, note="gc.mem_free() + gc.mem_alloc()")
    record(SECTION, "imports (lib modules + test module)", res["imports"], "B", anchor_name="heap",
           anchor_value=heap, runtime=RUNTIME)
    for step, low, stored in res["steps"]:
        record(SECTION, "free low-water, step " + step, low, "B", runtime=RUNTIME,
               note="storage records (flash on a device, not heap): %d B" % stored)
    if fits:
        record(SECTION, "heap high-water (used)", res["used"], "B", anchor_name="heap", anchor_value=heap,
               goal="ratio < 1", runtime=RUNTIME, note=note)

    rc2, out2 = run_on_qemu(args.elf, IMPORTS, args.timeout)
    imp = parse_imports(out2)
    if imp is None:
        print(out2.rstrip())
        print("bench_e2e: no import figures from the image (exit %d)" % rc2)
        return 1
    heap2, free2, mods = imp
    total = sum(n for _, n in mods)
    print()
    print("== heap taken by importing the device's modules (frozen, one boot; %d free at start)" % free2)
    for name, n in mods:
        print("  %-16s %6d" % (name, n))
        record(SECTION, "import " + name, n, "B", runtime=RUNTIME)
    print("  %-16s %6d  (%.0f%% of the %d-byte heap)" % ("total", total, 100.0 * total / heap2, heap2))
    record(SECTION, "import all device modules", total, "B", anchor_name="heap", anchor_value=heap2,
           runtime=RUNTIME)
    return 1 if res["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
