#!/usr/bin/env python3
"""Prepare the portable tests for the qemu image, which has no filesystem:
write a manifest that freezes the board's packages, the portable tests and
every vector file (JSON as a str constant TEXT, binary as bytes DATA) as a
module named by hgtest.frozen_vector_module()."""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests", "portable"))
import hgtest  # noqa: E402  (same naming rule as the runtime side)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, help="output folder for generated modules + manifest")
    ap.add_argument("--board-manifest", required=True, help="the board manifest to include")
    args = ap.parse_args(argv)

    portable = os.path.join(ROOT, "host_tests", "portable")
    vectors = os.path.join(ROOT, "host_tests", "vectors")
    gen = os.path.join(args.out, "gen")
    os.makedirs(gen, exist_ok=True)
    for stale in os.listdir(gen):
        os.remove(os.path.join(gen, stale))

    tests = sorted(n[:-3] for n in os.listdir(portable) if n.startswith("test_") and n.endswith(".py"))
    with open(os.path.join(gen, "_hg_testlist.py"), "w") as f:
        f.write("MODULES = %r\n" % (tuple(tests),))

    count = 0
    for dirpath, _dirs, files in os.walk(vectors):
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, vectors).replace(os.sep, "/")
            with open(path, "rb") as f:
                data = f.read()
            mod = hgtest.frozen_vector_module(rel)
            with open(os.path.join(gen, mod + ".py"), "w") as f:
                if rel.endswith(".json"):
                    f.write("TEXT = %r\n" % data.decode("utf-8"))
                else:
                    f.write("DATA = %r\n" % data)
            count += 1

    with open(os.path.join(args.out, "manifest.py"), "w") as f:
        f.write("include(%r)\n" % os.path.abspath(args.board_manifest))
        f.write("freeze(%r)\n" % portable)
        f.write("freeze(%r)\n" % gen)
    print("freeze_tests: %d test modules, %d vector files -> %s" % (len(tests), count, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
