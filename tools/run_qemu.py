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

TEST_SCRIPT = """
import gc, micropython
gc.collect()
print("heap free at start:", gc.mem_free())
import mp_runner
failed = mp_runner.run("qemu-an386")
gc.collect()
print("heap free at end:", gc.mem_free())
"""


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
        text = TEST_SCRIPT
    elif args.script:
        with open(args.script) as f:
            text = f.read()
    else:
        ap.print_usage(sys.stderr)
        return 2
    rc, out = run_script(args.elf, text, args.timeout)
    # qemu reports its SIGTERM on exit; that line is noise.
    out = "\n".join(l for l in out.splitlines() if "terminating on signal" not in l)
    print(out)
    if args.tests:
        m = re.search(r"^qemu-an386: (\d+) passed, (\d+) failed", out, re.M)
        if not m:
            print("run_qemu: no test summary from the image", file=sys.stderr)
            return 1
        if int(m.group(2)):
            return 1
    return 1 if rc else 0


if __name__ == "__main__":
    sys.exit(main())
