#!/usr/bin/env python3
"""Run a script (or the frozen portable tests) on the mps2-an386 image under
qemu-system-arm, through MicroPython's pyboard.py raw REPL over the emulated
UART. Exit status: 0 ok, 1 the script raised or a test failed, 2 usage."""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# One boot per test module: each starts from the same clean 64 KiB RAM, as a
# device does after reset, so one module's leftovers cannot fail the next.
TEST_SCRIPT = """
import gc
gc.collect()
_free = gc.mem_free()
import mp_runner
mp_runner.run("qemu-an386", only=[%r])
gc.collect()
print("heap %s: %%d bytes free at start, %%d at end" %% (_free, gc.mem_free()))
"""
SUMMARY = re.compile(r"^qemu-an386: (\d+) passed, (\d+) failed, (\d+) skipped", re.M)


def frozen_test_modules():
    path = os.path.join(ROOT, "build", "qemu_test_frozen", "gen", "_hg_testlist.py")
    scope = {}
    with open(path) as f:
        exec(f.read(), scope)
    return scope["MODULES"]


def run_tests(elf, timeout):
    totals = [0, 0, 0]
    for name in frozen_test_modules():
        rc, out = run_script(elf, TEST_SCRIPT % (name, name), timeout)
        out = "\n".join(l for l in out.splitlines() if "terminating on signal" not in l)
        m = SUMMARY.search(out)
        for line in out.splitlines():
            if not SUMMARY.match(line):
                print(line)
        if not m:
            print("FAIL %s: no test summary from the image (exit %d)" % (name, rc))
            totals[1] += 1
            continue
        for i in range(3):
            totals[i] += int(m.group(i + 1))
    print("qemu-an386: %d passed, %d failed, %d skipped" % tuple(totals))
    return 1 if totals[1] else 0


def mpy_dir():
    d = os.environ.get("MPY_DIR")
    if not d:
        with open(os.path.join(ROOT, "build", "micropython.path")) as f:
            d = f.read().strip()
    return d


def qemu_command(elf):
    return ("exec:qemu-system-arm -machine mps2-an386 -nographic -monitor null "
            "-semihosting -serial stdio -kernel " + elf)


def run_script(elf, script_text, timeout):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script_text)
        path = f.name
    try:
        cmd = [sys.executable, os.path.join(mpy_dir(), "tools", "pyboard.py"),
               "-d", qemu_command(elf), path]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, text=True, errors="replace")
        return proc.returncode, proc.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout or ""
        if isinstance(out, bytes):
            out = out.decode("utf-8", "replace")
        return 1, out + "\nrun_qemu: timed out after %d s\n" % timeout
    finally:
        os.unlink(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--elf", default=os.path.join(ROOT, "build", "qemu_an386", "firmware.elf"))
    ap.add_argument("--tests", action="store_true", help="run the frozen portable tests")
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("script", nargs="?", help="a script to run (instead of --tests)")
    args = ap.parse_args(argv)
    if not os.path.exists(args.elf):
        print("run_qemu: %s not found (make qemu / make qemu-test)" % args.elf, file=sys.stderr)
        return 2
    if args.tests:
        return run_tests(args.elf, args.timeout)
    if args.script:
        with open(args.script) as f:
            text = f.read()
    else:
        ap.print_usage(sys.stderr)
        return 2
    rc, out = run_script(args.elf, text, args.timeout)
    # qemu reports its SIGTERM on exit; that line is noise.
    out = "\n".join(l for l in out.splitlines() if "terminating on signal" not in l)
    print(out)
    return 1 if rc else 0


if __name__ == "__main__":
    sys.exit(main())
