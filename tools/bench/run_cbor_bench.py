#!/usr/bin/env python3
"""Run tools/bench/bench_cbor.py under CPython and MicroPython; print a Markdown table.

Each runtime prints one JSON line; this driver collects them. cbor2 (C
extension) is measured inside the CPython run on the same structure, and
every row's ratio is against those cbor2 figures.
"""

import argparse
import json
import os
import subprocess
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_HERE))
_LIB = os.path.join(_ROOT, "lib", "cbor")
if _LIB not in sys.path:
    sys.path.insert(0, _LIB)  # so `import cbor` works from any cwd
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
from results import record  # noqa: E402

_BENCH = os.path.join(_HERE, "bench_cbor.py")
_DEFAULT_MP = os.path.join(_ROOT, ".venv", "bin", "micropython")


def run_one(exe, budget, timeout):
    cmd = [exe, _BENCH, "--budget", str(budget), "--lib", _LIB]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (exe, p.returncode, p.stderr.strip()[-500:]))
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError("%s printed no JSON line: %r" % (exe, p.stdout[-500:]))
    res = json.loads(lines[-1])
    res["exe"] = exe
    return res


def _fmt(x):
    if x is None:
        return "-"
    if isinstance(x, float):
        return "{:,.0f}".format(x) if x >= 100 else "{:.2f}".format(x)
    return str(x)


def _ratio(a, b):
    if a is None or not b:
        return None
    return a / b


def table(results):
    base = next((r for r in results if "cbor2_enc_ops" in r), {})
    c2e = base.get("cbor2_enc_ops")
    c2d = base.get("cbor2_dec_ops")
    rows = [
        "| runtime | binary | msg bytes | encode ops/s | decode ops/s | decode strict ops/s "
        "| cbor2 encode ops/s | cbor2 decode ops/s | encode ours/cbor2 | decode ours/cbor2 "
        "| heap alloc / decode (B) | decoded object (B) | alloc / object |",
        "|" + "---|" * 13,
    ]
    for r in results:
        alloc = r.get("heap_alloc_per_decode")
        live = r.get("decoded_live_bytes")
        rows.append(
            "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                r["runtime"],
                os.path.relpath(r["exe"], _ROOT) if os.path.isabs(r["exe"]) else r["exe"],
                r.get("size"),
                _fmt(r.get("enc_ops")),
                _fmt(r.get("dec_ops")),
                _fmt(r.get("dec_strict_ops")),
                _fmt(r.get("cbor2_enc_ops")),
                _fmt(r.get("cbor2_dec_ops")),
                _fmt(_ratio(r.get("enc_ops"), c2e)),
                _fmt(_ratio(r.get("dec_ops"), c2d)),
                _fmt(alloc),
                _fmt(live),
                _fmt(_ratio(alloc, live)),
            )
        )
    notes = [
        "",
        "cbor2 columns: cbor2 %s (C extension, canonical=True for encode) measured in the CPython run; "
        "ratios in every row are against those figures." % _cbor2_version(),
        "Heap: gc.mem_alloc() delta over one loads() with the GC disabled; decoded object size = heap "
        "retained by the result (gc.mem_alloc() after gc.collect() with the result alive, minus before). "
        "zero_copy=True: %s."
        % ", ".join(
            "%s alloc %s B / object %s B"
            % (r["runtime"], r.get("heap_alloc_per_decode_zero_copy"), r.get("decoded_live_bytes_zero_copy"))
            for r in results
            if "heap_alloc_per_decode_zero_copy" in r
        ),
    ]
    return "\n".join(rows + notes)


def record_rows(results):
    """The table's figures as result rows (tools/bench/results.py)."""
    base = next((r for r in results if "cbor2_enc_ops" in r), {})
    anchors = (("enc_ops", "encode", "cbor2_enc_ops"), ("dec_ops", "decode", "cbor2_dec_ops"),
               ("dec_strict_ops", "decode strict", "cbor2_dec_ops"),
               ("dec_zero_copy_ops", "decode zero-copy", "cbor2_dec_ops"))
    anchor_name = "cbor2 %s (C extension, CPython)" % _cbor2_version()
    for r in results:
        where = r["runtime"]
        if os.path.isabs(r.get("exe", "")):
            where += " (%s)" % os.path.relpath(r["exe"], _ROOT)
        for key, what, akey in anchors:
            if r.get(key) is None:
                continue
            record("cbor", "%s, %d-byte SUIT-like manifest" % (what, r["size"]), r[key], "ops/s",
                   anchor_name, base.get(akey), note="ratio > 1: faster than cbor2", runtime=where)
        for suffix, label in (("", ""), ("_zero_copy", " (zero_copy=True)")):
            alloc = r.get("heap_alloc_per_decode" + suffix)
            live = r.get("decoded_live_bytes" + suffix)
            if alloc is None:
                continue
            record("heap", "CBOR decode of the %d-byte manifest%s: bytes allocated" % (r["size"], label),
                   alloc, "B", "heap kept by the decoded object", live,
                   note="gc.mem_alloc() delta, GC disabled", runtime=where)


def _cbor2_version():
    try:
        from importlib.metadata import version

        return version("cbor2")
    except Exception:
        return "?"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=1.0, help="wall-time seconds per measurement (default 1.0)")
    ap.add_argument("--python", default=sys.executable, help="CPython interpreter (default: this one)")
    ap.add_argument(
        "--micropython",
        action="append",
        default=[],
        metavar="PATH",
        help="extra MicroPython binary to run (repeatable), e.g. build/unix/micropython; "
        ".venv/bin/micropython is always run when present",
    )
    ap.add_argument("--no-default-micropython", action="store_true", help="skip .venv/bin/micropython")
    ap.add_argument("--json", action="store_true", help="also print the raw JSON results")
    ap.add_argument("--timeout", type=float, default=300, help="per-run timeout in seconds")
    args = ap.parse_args(argv)

    exes = [args.python]
    if not args.no_default_micropython and os.path.exists(_DEFAULT_MP):
        exes.append(_DEFAULT_MP)
    exes += [os.path.abspath(p) for p in args.micropython]
    results = []
    for exe in exes:
        results.append(run_one(exe, args.budget, args.timeout))
    if args.json:
        for r in results:
            print(json.dumps(r))
    print(table(results))
    record_rows(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
