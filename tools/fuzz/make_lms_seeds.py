#!/usr/bin/env python3
"""Seed inputs for the LMS C fuzz target from host_tests/vectors/lms.

    make_lms_seeds.py --out DIR [--select NAME ...]

Writes one file per verify vector (cases/*.json of kind lms or hss, and the
rows of negative.json applied to their bases) in fuzz_lms.c's input format:
mode(1) chunk(1) pub_len(2) msg_len(2) pub msg sig. The file name ends in
the expected result: -ok (0), -invalid (-1), -malformed (-2),
-unsupported (-3), or -fail (any error: the vector only says "invalid").
--select keeps only the named vectors (case names or negative row names).
"""
import argparse
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VEC = os.path.join(ROOT, "host_tests", "vectors", "lms")
SUFFIX = {"valid": "ok", "invalid": "invalid", "malformed": "malformed", "unsupported": "unsupported",
          "fail": "fail"}


def encode(kind, pub, msg, sig, chunk=63):
    if len(pub) > 0xFFFF or len(msg) > 0xFFFF:
        raise ValueError("pub/msg over 65535 bytes")
    mode = 1 if kind == "hss" else 0
    return struct.pack(">BBHH", mode, chunk, len(pub), len(msg)) + pub + msg + sig


def _load(rel):
    with open(os.path.join(VEC, rel)) as f:
        return json.load(f)


def vectors():
    """(name, kind, expect, pub, msg, sig) for every verify vector."""
    for e in _load("index.json")["cases"]:
        if e["kind"] not in ("lms", "hss"):
            continue  # botan_hss_sig: a private key, not a verify vector
        c = _load(e["file"][len("lms/"):])
        # a case marked invalid may fail structurally or cryptographically
        expect = c["expect"] if c["expect"] != "invalid" else "fail"
        yield (c["name"], c["kind"], expect, bytes.fromhex(c["public_key"]),
               bytes.fromhex(c["message"]), bytes.fromhex(c["signature"]))
    yield from negative_vectors()


def negative_vectors():
    """The rows of negative.json applied to their bases, as vectors() gives
    them (also flattened for the C test by tools/build/test_lms_c.sh)."""
    neg = _load("negative.json")
    bases = {b: _load(p[len("lms/"):]) for b, p in neg["bases"].items()}
    for name, base, target, op, at, value, expect, _why in neg["rows"]:
        b = bases[base]
        f = {"pub": bytearray.fromhex(b["public_key"]), "msg": bytearray.fromhex(b["message"]),
             "sig": bytearray.fromhex(b["signature"])}
        t = f[target]
        if op == "truncate":
            del t[at:]
        elif op == "append":
            t += bytes.fromhex(value)
        elif op == "xor":
            t[at] ^= value
        elif op == "set32":
            t[at:at + 4] = struct.pack(">I", value)
        else:
            raise SystemExit("unknown op " + op)
        yield name, b["kind"], expect, bytes(f["pub"]), bytes(f["msg"]), bytes(f["sig"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--select", action="append", default=[], metavar="NAME")
    ap.add_argument("--prefix", default="seed-")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    n = 0
    for name, kind, expect, pub, msg, sig in vectors():
        if args.select and name not in args.select:
            continue
        fn = os.path.join(args.out, "%s%s-%s" % (args.prefix, name, SUFFIX[expect]))
        with open(fn, "wb") as f:
            f.write(encode(kind, pub, msg, sig))
        n += 1
    print("make_lms_seeds: %d seed(s) -> %s" % (n, args.out))
    return 0 if n else 1


if __name__ == "__main__":
    sys.exit(main())
