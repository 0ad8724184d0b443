#!/usr/bin/env python3
"""LMS/HSS C core figures: compressions per verify, speed against pyhsslms,
instruction counts against bare SHA-256 compressions (valgrind/callgrind),
and the Cortex-M4 size and worst stack of the verify path.

    .venv/bin/python tools/bench/bench_lms.py [--skip-callgrind] [--skip-m4] [--repeat N]

Sections (each skipped with a note when its tool is missing):
  1. compressions  exact SHA-256 compressions of one verify (the counter in
                   build/host/liblms.so) for RFC 8554 TC1 and for L=1 keys
                   LMS_SHA256_M32_H10 with LMOTS_SHA256_N32_W8 and _W4 (our
                   signer; fixed message, plus min/mean/max over 32 messages)
  2. speed         one verify, C core (ctypes) vs pyhsslms, same inputs, same run
  3. callgrind     instructions of a C driver verifying once vs the same
                   number of single-block lms_sha256_compress() calls (gcc -O2);
                   the ratio is the overhead of everything that is not a
                   compression (target <= 1.10)
  4. cortex-m4     arm-none-eabi-gcc -Os -mcpu=cortex-m4 -mthumb, verify only:
                   linked text of the verify API incl. SHA-256 (--gc-sections),
                   and the worst stack path from -fstack-usage/-fcallgraph-info
"""
import argparse
import glob
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORE = os.path.join(ROOT, "firmware", "cmodules", "lms", "core")
OUT = os.path.join(ROOT, "build", "bench_lms")
sys.path.insert(0, os.path.join(ROOT, "tools"))

u32 = struct.Struct(">I").pack

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lms.h"
static size_t unhex(const char *h, uint8_t **out) {
    size_t n = strlen(h) / 2;
    *out = malloc(n + 1);
    for (size_t i = 0; i < n; i++) { unsigned v; sscanf(h + 2 * i, "%2x", &v); (*out)[i] = (uint8_t)v; }
    return n;
}
__attribute__((noinline)) int run_verify(const uint8_t *p, size_t pl, const uint8_t *m, size_t ml,
    const uint8_t *s, size_t sl) {
    return lms_hss_verify(p, pl, m, ml, s, sl);
}
__attribute__((noinline)) uint32_t run_compress(uint32_t n, const uint8_t *blk) {
    uint32_t st[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (uint32_t i = 0; i < n; i++) lms_sha256_compress(st, blk);
    return st[0];
}
int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "compress")) {
        uint8_t blk[64];
        for (int i = 0; i < 64; i++) blk[i] = (uint8_t)i;
        printf("%u\n", run_compress((uint32_t)atol(argv[2]), blk));
        return 0;
    }
    uint8_t *p, *m, *s;
    size_t pl = unhex(argv[2], &p), ml = unhex(argv[3], &m), sl = unhex(argv[4], &s);
    lms_sha256_compressions = 0;
    int r = run_verify(p, pl, m, ml, s, sl);
    printf("%d %u\n", r, lms_sha256_compressions);
    return r != 0;
}
"""

M4_ENTRY = r"""
#include "lms.h"
volatile int sink;
void entry(const uint8_t *p, size_t pl, const uint8_t *m, size_t ml, const uint8_t *s, size_t sl) {
    lms_hss_verify_ctx_t ctx;
    sink = lms_hss_verify(p, pl, m, ml, s, sl);
    sink += lms_verify(p, pl, m, ml, s, sl);
    sink += lms_hss_verify_init(&ctx, p, pl, s, sl);
    lms_hss_verify_update(&ctx, m, ml);
    sink += lms_hss_verify_final(&ctx);
}
"""


def section(title):
    print()
    print("== " + title)


def _keys(L, lt, ot, tag):
    """An L=1 HSS key of our signer: (hss_pub, sign(msg, q) -> hss_sig)."""
    I = bytes(range(16))
    seed = bytes(range(32, 64))
    t0 = time.perf_counter()
    nodes = L.lms_tree(lt, ot, I, seed)
    dt = time.perf_counter() - t0
    m = L.lms_pub_len(lt) - 24
    pub = u32(1) + u32(lt) + u32(ot) + I + nodes[m:2 * m]
    print("  %s: tree of 2^h leaves built in %.2f s" % (tag, dt))

    def sign(msg, q):
        return u32(0) + L.lms_sign(lt, ot, I, seed, q, msg, nodes)

    return pub, sign


def bench_compressions(L, inputs):
    section("1. SHA-256 compressions per verify (exact, counted in the C core)")
    for tag, (pub, msg, sig, sign) in inputs.items():
        L.compressions(True)
        assert L.verify(pub, msg, sig) == 0
        n = L.compressions(True)
        line = "  %-28s %6d compressions" % (tag, n)
        if sign is not None:
            counts = []
            for i in range(32):
                mi = b"message %d" % i
                si = sign(mi, i)
                L.compressions(True)
                assert L.verify(pub, mi, si) == 0
                counts.append(L.compressions(True))
            line += "   (32 messages: min %d, mean %.0f, max %d)" % (
                min(counts), sum(counts) / len(counts), max(counts))
        print(line)
    print("  each chain step is exactly one compression: see expected_compressions() in"
          " host_tests/test_lms_native.py, asserted equal for every vector")


def bench_speed(L, inputs, repeat):
    section("2. verify time: C core (ctypes) vs pyhsslms, same inputs, same run")
    try:
        import pyhsslms
    except ImportError:
        print("  skipped: pyhsslms not installed")
        return
    for tag, (pub, msg, sig, _sign) in inputs.items():
        pk = pyhsslms.HssPublicKey.deserialize(pub)
        assert pk.verify(msg, sig)

        def best(fn, n):
            b = 1e9
            for _ in range(n):
                t0 = time.perf_counter()
                fn()
                b = min(b, time.perf_counter() - t0)
            return b

        tc = best(lambda: L.verify(pub, msg, sig), repeat * 5)
        tp = best(lambda: pk.verify(msg, sig), repeat)
        print("  %-28s C %8.3f ms   pyhsslms %8.3f ms   pyhsslms/C = %5.1fx" % (
            tag, tc * 1e3, tp * 1e3, tp / tc))


def _callgrind_ir(cmd, fn, workdir):
    out = os.path.join(workdir, "cg.out")
    subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                    "--toggle-collect=" + fn] + cmd, check=True, capture_output=True)
    with open(out) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise RuntimeError("no totals in callgrind output")


def bench_callgrind(inputs):
    section("3. instructions (valgrind callgrind): one verify vs N bare compressions")
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not shutil.which("valgrind") or not cc:
        print("  skipped: needs valgrind and a C compiler")
        return
    os.makedirs(OUT, exist_ok=True)
    drv = os.path.join(OUT, "lms_driver.c")
    with open(drv, "w") as f:
        f.write(DRIVER)
    exe = os.path.join(OUT, "lms_driver")
    # Portable SHA-256 on purpose: no -DLMS_SHA256_X86_SHANI (which the host
    # library uses), so Ir counts compare like with like under valgrind.
    subprocess.run([cc, "-std=c99", "-O2", "-DLMS_COUNT_COMPRESSIONS", "-I" + CORE, drv,
                    os.path.join(CORE, "lms.c"), os.path.join(CORE, "lms_sha256.c"), "-o", exe],
                   check=True)
    print("  driver: %s (gcc -O2); Ir counted inside run_verify / run_compress only" % exe)
    for tag, (pub, msg, sig, _sign) in inputs.items():
        r = subprocess.run([exe, "verify", pub.hex(), msg.hex(), sig.hex()], capture_output=True,
                           text=True, check=True)
        n = int(r.stdout.split()[1])
        ir_v = _callgrind_ir([exe, "verify", pub.hex(), msg.hex() or "", sig.hex()], "run_verify", OUT)
        ir_c = _callgrind_ir([exe, "compress", str(n)], "run_compress", OUT)
        print("  %-28s verify %10d Ir   %5d compressions %10d Ir   ratio %.3f   (%.0f Ir/compression)" % (
            tag, ir_v, n, ir_c, ir_v / ir_c, ir_c / n))


def _stack_worst(ci_files, roots):
    """Worst stack over the call graph from -fcallgraph-info=su (.ci files)."""
    size, edges = {}, {}
    node_re = re.compile(r'node: \{ title: "([^"]+)" label: "[^"]*?\\n[^"]*?\\n(\d+) bytes')
    edge_re = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
    for fn in ci_files:
        with open(fn) as f:
            for line in f:
                m = node_re.search(line)
                if m:
                    size[m.group(1).split(":")[-1]] = int(m.group(2))
                m = edge_re.search(line)
                if m:
                    a, b = m.group(1).split(":")[-1], m.group(2).split(":")[-1]
                    edges.setdefault(a, set()).add(b)
    memo = {}

    def worst(fn, seen=()):
        if fn in memo:
            return memo[fn]
        if fn in seen:
            raise RuntimeError("recursion at " + fn)
        best, path = 0, []
        for callee in edges.get(fn, ()):
            s, p = worst(callee, seen + (fn,))
            if s > best:
                best, path = s, p
        memo[fn] = (size.get(fn, 0) + best, [fn] + path)
        return memo[fn]

    return max(worst(r) for r in roots), size


def bench_m4():
    section("4. Cortex-M4 (arm-none-eabi-gcc -Os -mcpu=cortex-m4 -mthumb), verify only")
    gcc = shutil.which("arm-none-eabi-gcc")
    if not gcc:
        print("  skipped: arm-none-eabi-gcc not installed")
        return
    d = os.path.join(OUT, "m4")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    entry = os.path.join(d, "entry.c")
    with open(entry, "w") as f:
        f.write(M4_ENTRY)
    flags = ["-std=c99", "-Os", "-mcpu=cortex-m4", "-mthumb", "-ffunction-sections",
             "-fdata-sections", "-fstack-usage", "-fcallgraph-info=su", "-I" + CORE]
    srcs = [os.path.join(CORE, "lms.c"), os.path.join(CORE, "lms_sha256.c"), entry]
    subprocess.run([gcc] + flags + ["-c"] + srcs, cwd=d, check=True)
    elf = os.path.join(d, "verify.elf")
    mapf = os.path.join(d, "verify.map")
    subprocess.run([gcc, "-mcpu=cortex-m4", "-mthumb", "--specs=nano.specs", "-nostartfiles",
                    "-Wl,--gc-sections", "-Wl,-e,entry", "-Wl,-Map=" + mapf, "-o", elf,
                    "lms.o", "lms_sha256.o", "entry.o"], cwd=d, check=True)
    per_obj = {}
    cur = None
    with open(mapf) as f:
        in_text = False
        for line in f:
            if line.startswith(".text") or line.startswith(".rodata"):
                in_text = True
            elif re.match(r"^\.\w", line):
                in_text = False
            if not in_text:
                continue
            m = re.match(r"^ (\.(?:text|rodata)[^\s]*)\s*$", line)
            if m:
                cur = m.group(1)
                continue
            m = re.match(r"^ (\.(?:text|rodata)\S*)?\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)", line)
            if m:
                obj = os.path.basename(m.group(3))
                per_obj[obj] = per_obj.get(obj, 0) + int(m.group(2), 16)
    ours = sum(v for k, v in per_obj.items() if k in ("lms.o", "lms_sha256.o"))
    libc = sum(v for k, v in per_obj.items() if k not in ("lms.o", "lms_sha256.o", "entry.o"))
    print("  verify path text+rodata: %d bytes (lms.o %d + lms_sha256.o %d, SHA-256 included); "
          "libc memcpy/memset %d more" % (ours, per_obj.get("lms.o", 0), per_obj.get("lms_sha256.o", 0), libc))
    (worst, path), _size = _stack_worst(glob.glob(os.path.join(d, "*.ci")),
                                        ["lms_hss_verify", "lms_verify", "lms_hss_verify_init",
                                         "lms_hss_verify_final"])
    print("  worst stack (static frames along the deepest call path, libc calls not counted):"
          " %d bytes" % worst)
    print("    " + " -> ".join("%s(%d)" % (p, _size.get(p, 0)) for p in path))
    print("  (lms_hss_verify includes its %d-byte context; streaming callers hold it themselves)"
          % _ctx_size_m4())


def _ctx_size_m4():
    # sizeof(lms_hss_verify_ctx_t) on a 32-bit target: sha256 ctx 104 + ptr 4 + I 16 + T 32 + 3 x 4
    return 104 + 4 + 16 + 32 + 12


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog=__doc__[__doc__.index("Sections"):],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-callgrind", action="store_true", help="skip section 3")
    ap.add_argument("--skip-m4", action="store_true", help="skip section 4")
    ap.add_argument("--repeat", type=int, default=5, help="timing repetitions (best of)")
    args = ap.parse_args(argv)

    from hourglass import lms_host as L
    import json

    with open(os.path.join(ROOT, "host_tests", "vectors", "lms", "cases", "rfc8554_tc1.json")) as f:
        c = json.load(f)
    inputs = {"RFC 8554 TC1 (L=2 H5/W8)": (bytes.fromhex(c["public_key"]), bytes.fromhex(c["message"]),
                                           bytes.fromhex(c["signature"]), None)}
    section("0. keys (our signer, lms_tree + lms_sign with nodes)")
    msg = b"hourglass firmware manifest digest 0123456789abcdef"
    for tag, lt, ot in (("H10/W8 (L=1, M32/N32)", 6, 4), ("H10/W4 (L=1, M32/N32)", 6, 3)):
        pub, sign = _keys(L, lt, ot, tag)
        inputs[tag] = (pub, msg, sign(msg, 5), sign)
    bench_compressions(L, inputs)
    bench_speed(L, inputs, args.repeat)
    if not args.skip_callgrind:
        bench_callgrind(inputs)
    if not args.skip_m4:
        bench_m4()
    return 0


if __name__ == "__main__":
    sys.exit(main())
