#!/usr/bin/env python3
"""Generate the LMS/HSS negative vector table from valid vectors.

    python3 tools/build/make_lms_negatives.py [--check]

Reads the valid base cases host_tests/vectors/lms/cases/<base>.json and
writes
  host_tests/vectors/lms/negative.json            every row (host tests, C test)
  host_tests/vectors/lms/negative/index.json      the list of those chunks
  host_tests/vectors/lms/negative/<base>_<k>.json the same rows in chunks of 64
                                                  per base, without name/why
                                                  (small files for the portable
                                                  tests on the 45 KB-heap image)
--check compares instead of writing (exit 1 if the files are stale).

A row is a mutation of a base case, not a copy of its bytes:
  [name, base, target, op, at, value, expect, why]
  target  "pub" | "sig" | "msg"
  op      "truncate": keep target[:at]
          "append":   target + unhexlify(value)
          "xor":      target[at] ^= value            (value: int 1..255)
          "set32":    target[at:at+4] = u32(value)   (value: int)
  expect  "malformed" | "unsupported" | "invalid": the exact code the C core
          returns (ERR_MALFORMED, ERR_UNSUPPORTED, ERR_INVALID; see lms.h for
          what each covers: the structure is checked in full before any hash).

Coverage per base: truncation at every field boundary of the public key and
of the signature (every u32, C, each y[i], each path node, each signed child
key field) and one byte short; trailing bytes (pyhsslms accepts those: we
must not); L out of range and L / Nspk mismatches; unknown, SHAKE and
mismatched typecodes (LMS vs LM-OTS vs public key); q >= 2^h; flipped bits in
C, y, path, I, T of every level and in the message.
"""
import argparse
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VEC = os.path.join(ROOT, "host_tests", "vectors", "lms")
CHUNK = 64  # rows per split file: a few KB of JSON, parsed on a ~45 KB heap
BASES = ("rfc8554_tc1", "rfc9858_tc1", "rfc8554_tc2", "acvp_sigver_tc5")

# LM-OTS typecode -> (n, p); LMS typecode -> (m, h)  (RFC 8554, RFC 9858)
OTS = {1: (32, 265), 2: (32, 133), 3: (32, 67), 4: (32, 34),
       5: (24, 200), 6: (24, 101), 7: (24, 51), 8: (24, 26)}
LMS = {t: (32, 5 * (t - 4)) for t in range(5, 10)}
LMS.update({t: (24, 5 * (t - 9)) for t in range(10, 15)})


def u32(b, off):
    return struct.unpack(">I", b[off:off + 4])[0]


class Layout:
    """Field offsets of a valid (pub, sig) pair."""

    def __init__(self, kind, pub, sig):
        self.kind = kind
        self.pub_fields = []        # (label, offset)
        self.sig_fields = []
        self.levels = []            # per level: dict of offsets and params
        off = 0
        if kind == "hss":
            self.pub_fields.append(("L", 0))
            off = 4
        self._pub(self.pub_fields, pub, off, "pub")
        key = (u32(pub, off), u32(pub, off + 4))
        self.pub_key_off = off
        off = 0
        nlev = 1
        if kind == "hss":
            nlev = u32(pub, 0)
            self.sig_fields.append(("Nspk", 0))
            off = 4
        for lev in range(nlev):
            lt, ot = key
            n, p = OTS[ot]
            m, h = LMS[lt]
            L = {"q": off, "ots_type": off + 4, "C": off + 8, "y": off + 8 + n,
                 "lms_type": off + 8 + n + p * n, "path": off + 12 + n + p * n,
                 "n": n, "p": p, "m": m, "h": h}
            f = self.sig_fields
            f += [("sig%d.q" % lev, L["q"]), ("sig%d.ots_type" % lev, L["ots_type"]),
                  ("sig%d.C" % lev, L["C"])]
            f += [("sig%d.y[%d]" % (lev, i), L["y"] + i * n) for i in range(p)]
            f += [("sig%d.lms_type" % lev, L["lms_type"])]
            f += [("sig%d.path[%d]" % (lev, i), L["path"] + i * m) for i in range(h)]
            off = L["path"] + h * m
            if lev + 1 < nlev:
                L["child"] = off
                self._pub(f, sig, off, "child%d" % (lev + 1))
                key = (u32(sig, off), u32(sig, off + 4))
                off += 24 + LMS[key[0]][0]
            self.levels.append(L)
        assert off == len(sig), (off, len(sig))

    @staticmethod
    def _pub(fields, b, off, tag):
        fields += [(tag + ".lms_type", off), (tag + ".ots_type", off + 4),
                   (tag + ".I", off + 8), (tag + ".T", off + 24)]


def rows_for(base, case):
    pub = bytes.fromhex(case["public_key"])
    sig = bytes.fromhex(case["signature"])
    msg = bytes.fromhex(case["message"])
    kind = case["kind"]
    lay = Layout(kind, pub, sig)
    rows = []

    def add(target, op, at, value, expect, why):
        rows.append([None, base, target, op, at, value, expect, why])

    # Truncation at every field boundary, and one byte short.
    for label, off in lay.pub_fields:
        add("pub", "truncate", off, None, "malformed", "pub cut before " + label)
    add("pub", "truncate", len(pub) - 1, None, "malformed", "pub one byte short")
    for label, off in lay.sig_fields:
        add("sig", "truncate", off, None, "malformed", "sig cut before " + label)
    add("sig", "truncate", len(sig) - 1, None, "malformed", "sig one byte short")
    # Trailing bytes.
    add("pub", "append", 0, "00", "malformed", "pub + 1 trailing byte")
    add("sig", "append", 0, "00", "malformed", "sig + 1 trailing byte")
    add("sig", "append", 0, "00" * 32, "malformed", "sig + 32 trailing bytes")

    ko = lay.pub_key_off
    lt, ot = u32(pub, ko), u32(pub, ko + 4)
    m, h = LMS[lt]
    n, p = OTS[ot]
    nlev = len(lay.levels)
    # L / Nspk.
    if kind == "hss":
        add("pub", "set32", 0, 0, "malformed", "L = 0")
        add("pub", "set32", 0, 9, "malformed", "L = 9 (> 8)")
        add("pub", "set32", 0, 0xFFFFFFFF, "malformed", "L = 2^32-1")
        add("pub", "set32", 0, nlev + 1, "malformed", "L in pub = Nspk + 2")
        if nlev > 1:
            add("pub", "set32", 0, nlev - 1, "malformed", "L in pub = Nspk")
        add("sig", "set32", 0, nlev, "malformed", "Nspk = L")
        add("sig", "set32", 0, 0xFFFFFFFF, "malformed", "Nspk = 2^32-1")
        if nlev > 1:
            add("sig", "set32", 0, nlev - 2, "malformed", "Nspk = L - 2")
    # Public-key typecodes.
    other_lms_same_m = [t for t in LMS if LMS[t][0] == m and t != lt][0]
    other_lms_other_m = [t for t in LMS if LMS[t][0] != m][0]
    other_ots = [t for t in OTS if t != ot][0]
    for v, e, why in ((0, "unsupported", "reserved 0"), (15 if m == 32 else 20, "unsupported", "SHAKE256"),
                      (25, "unsupported", "unassigned 25"), (0xFFFFFFFF, "unsupported", "2^32-1"),
                      (ot, "unsupported" if ot not in LMS else "malformed", "the LM-OTS typecode"),
                      (other_lms_same_m, "malformed", "other LMS set, same m (sig type mismatch)"),
                      (other_lms_other_m, "malformed", "other LMS set, other m (pub length)")):
        add("pub", "set32", ko, v, e, "pub LMS typecode = " + why)
    for v, e, why in ((0, "unsupported", "reserved 0"), (9 if n == 32 else 13, "unsupported", "SHAKE256"),
                      (17, "unsupported", "unassigned 17"), (lt, "unsupported" if lt not in OTS else "malformed", "the LMS typecode"),
                      (other_ots, "malformed", "other LM-OTS set (sig type mismatch)")):
        add("pub", "set32", ko + 4, v, e, "pub LM-OTS typecode = " + why)
    # Per level: signature typecodes, q, flipped bits.
    for lev, L in enumerate(lay.levels):
        tag = "sig%d" % lev
        lt_l = u32(sig, L["lms_type"])
        ot_l = u32(sig, L["ots_type"])
        add("sig", "set32", L["ots_type"], [t for t in OTS if t != ot_l][0], "malformed",
            tag + " LM-OTS typecode != key's")
        add("sig", "set32", L["ots_type"], lt_l, "malformed", tag + " LM-OTS typecode = the LMS typecode")
        add("sig", "set32", L["ots_type"], 9, "malformed", tag + " LM-OTS typecode = SHAKE256 (!= key's)")
        add("sig", "set32", L["lms_type"], [t for t in LMS if t != lt_l][0], "malformed",
            tag + " LMS typecode != key's")
        add("sig", "set32", L["lms_type"], ot_l, "malformed", tag + " LMS typecode = the LM-OTS typecode")
        q = u32(sig, L["q"])
        add("sig", "set32", L["q"], 1 << L["h"], "malformed", tag + " q = 2^h")
        add("sig", "set32", L["q"], 0xFFFFFFFF, "malformed", tag + " q = 2^32-1")
        add("sig", "set32", L["q"], q ^ 1, "invalid", tag + " q changed, still < 2^h")
        add("sig", "xor", L["C"], 0x01, "invalid", tag + " C bit flipped")
        add("sig", "xor", L["C"] + L["n"] - 1, 0x80, "invalid", tag + " C last bit flipped")
        add("sig", "xor", L["y"], 0x01, "invalid", tag + " y[0] bit flipped")
        add("sig", "xor", L["y"] + L["p"] * L["n"] - 1, 0x80, "invalid", tag + " y[p-1] bit flipped")
        add("sig", "xor", L["path"], 0x01, "invalid", tag + " path[0] bit flipped")
        add("sig", "xor", L["path"] + L["h"] * L["m"] - 1, 0x80, "invalid", tag + " path[h-1] bit flipped")
        if "child" in L:
            c = L["child"]
            ctag = "child%d" % (lev + 1)
            clt, cot = u32(sig, c), u32(sig, c + 4)
            cm = LMS[clt][0]
            add("sig", "set32", c, 0, "unsupported", ctag + " LMS typecode = 0")
            add("sig", "set32", c, 15 if cm == 32 else 20, "unsupported", ctag + " LMS typecode = SHAKE256")
            add("sig", "set32", c, [t for t in LMS if LMS[t][0] == cm and t != clt][0], "malformed",
                ctag + " LMS typecode = other set (next sig mismatch)")
            add("sig", "set32", c + 4, 0, "unsupported", ctag + " LM-OTS typecode = 0")
            add("sig", "set32", c + 4, 9, "unsupported", ctag + " LM-OTS typecode = SHAKE256")
            add("sig", "set32", c + 4, [t for t in OTS if t != cot][0], "malformed",
                ctag + " LM-OTS typecode = other set (next sig mismatch)")
            add("sig", "xor", c + 8, 0x01, "invalid", ctag + " I bit flipped")
            add("sig", "xor", c + 24, 0x01, "invalid", ctag + " T bit flipped")
            add("sig", "xor", c + 24 + cm - 1, 0x80, "invalid", ctag + " T last bit flipped")
    add("pub", "xor", ko + 8, 0x01, "invalid", "pub I bit flipped")
    add("pub", "xor", ko + 24, 0x01, "invalid", "pub T (root) bit flipped")
    add("pub", "xor", len(pub) - 1, 0x80, "invalid", "pub T last bit flipped")
    if msg:
        add("msg", "xor", 0, 0x01, "invalid", "message bit flipped")
        add("msg", "xor", len(msg) - 1, 0x80, "invalid", "message last bit flipped")
        add("msg", "truncate", len(msg) - 1, None, "invalid", "message one byte short")
    add("msg", "append", 0, "00", "invalid", "message + 1 byte")
    for i, r in enumerate(rows):
        r[0] = "%s_neg%03d" % (base, i)
    return rows


def build():
    out = {}
    for base in BASES:
        with open(os.path.join(VEC, "cases", base + ".json")) as f:
            case = json.load(f)
        assert case["expect"] == "valid"
        out[base] = (case, rows_for(base, case))
    return out


def dump(obj):
    # One row per line: diff-friendly and still compact.
    lines = ["{"]
    keys = list(obj)
    for k in keys:
        if k != "rows":
            lines.append(" %s: %s," % (json.dumps(k), json.dumps(obj[k])))
    lines.append(' "rows": [')
    rows = obj["rows"]
    for i, r in enumerate(rows):
        lines.append("  " + json.dumps(r) + ("," if i + 1 < len(rows) else ""))
    lines.append(" ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="fail if the files on disk are stale")
    args = ap.parse_args(argv)
    built = build()
    doc = ("row = [name, base, target, op, at, value, expect, why]; see "
           "tools/build/make_lms_negatives.py for the ops and expected codes")
    files = {}
    allrows = []
    for base, (case, rows) in built.items():
        allrows += rows
        for k in range(0, len(rows), CHUNK):
            part = rows[k:k + CHUNK]
            files["negative/%s_%d.json" % (base, k // CHUNK)] = dump({
                "_source": "generated by tools/build/make_lms_negatives.py from cases/%s.json; "
                           "rows %s .. %s of negative.json" % (base, part[0][0], part[-1][0]),
                "doc": "row = [target, op, at, value, expect] (negative.json without name/base/why)",
                "base": "lms/cases/%s.json" % base, "first": k,
                "rows": [r[2:7] for r in part]})
    files["negative/index.json"] = json.dumps({
        "_source": "generated by tools/build/make_lms_negatives.py: the chunk files of negative.json",
        "chunks": sorted("lms/" + k for k in files)}, indent=1) + "\n"
    files["negative.json"] = dump({
        "_source": "generated by tools/build/make_lms_negatives.py from the valid cases " + ", ".join(BASES),
        "doc": doc, "bases": {b: "lms/cases/%s.json" % b for b in BASES},
        "split": sorted("lms/" + k for k in files if k != "negative/index.json"), "rows": allrows})
    stale = 0
    if not args.check:
        old = os.path.join(VEC, "negative")
        for name in os.listdir(old) if os.path.isdir(old) else ():
            if "negative/" + name not in files:
                os.remove(os.path.join(old, name))
    for rel, text in files.items():
        path = os.path.join(VEC, rel)
        if args.check:
            try:
                with open(path) as f:
                    ok = f.read() == text
            except OSError:
                ok = False
            if not ok:
                print("stale:", path)
                stale += 1
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
    if not args.check:
        print("make_lms_negatives: %d rows from %d bases -> %s" % (len(allrows), len(built), VEC))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
