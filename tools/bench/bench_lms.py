#!/usr/bin/env python3
"""LMS/HSS C core figures: compressions per verify, speed against pyhsslms,
instruction counts against bare SHA-256 compressions (valgrind/callgrind),
the Cortex-M4 size and worst stack of the verify path, the cost per
compression against OpenSSL, verify under MicroPython, the stateful signer
(speed, RAM, flash writes) and the C core's heap use.

    .venv/bin/python tools/bench/bench_lms.py [--quick] [--repeat N] [--skip-callgrind]
        [--skip-m4] [--skip-openssl] [--skip-mp] [--skip-sign] [--skip-malloc]
        [--micropython EXE] [--unix-micropython EXE]

Sections (each skipped with a note when its tool is missing):
  1. compressions  exact SHA-256 compressions of one verify (the counter in
                   build/host/liblms.so) for RFC 8554 TC1 and for L=1 keys
                   LMS_SHA256_M32_H10 with LMOTS_SHA256_N32_W8 and _W4 (our
                   signer; fixed message, plus min/mean/max over 32 messages),
                   and an HSS L=2 key, H10/W4 over H10/W4 (the device's)
  2. speed         one verify, C core (ctypes) vs pyhsslms, same inputs, same run
  3. callgrind     instructions of a C driver verifying once vs the same
                   number of single-block lms_sha256_compress() calls (gcc -O2);
                   the ratio is the overhead of everything that is not a
                   compression (target <= 1.10)
  4. cortex-m4     arm-none-eabi-gcc -Os -mcpu=cortex-m4 -mthumb, verify only:
                   linked text of the verify API incl. SHA-256 (--gc-sections),
                   and the worst stack path from -fstack-usage/-fcallgraph-info
  5. per compr.    wall time of the C core per SHA-256 compression inside a
                   verify (section-2 time / section-1 count) beside OpenSSL's
                   cost per block on this CPU, measured in the same run with
                   CPython's hashlib (OpenSSL): one 1 MiB hash / 16385 blocks;
                   ratio C/OpenSSL
  6. micropython   verify under MicroPython: lms_py (pure Python) and the C
                   core _lms (x64 natmod under --micropython, built in under
                   --unix-micropython) on the section-0 keys (+ HSS L=2),
                   run by tools/bench/bench_lms_mp.py; ratio vs _lms in the
                   same binary
  7. signing       lms_state (HSS L=2 H10/W4 over H10/W4, FileStorage in a temp
                   dir): key generation, signatures/s over 1000 signatures, the
                   measured bottom-tree rollover, storage writes per 1000
                   signatures (counting wrapper), under CPython (lms_host) and
                   --unix-micropython (_lms); MicroPython heap: signer's steady
                   heap, bytes allocated by one signature, smallest -X heapsize;
                   and a rollover + key generation with the trees built in
                   Python (lms_py.walk_tree), as on a board whose heap cannot
                   hold the 64 KiB node array
  8. C heap        the C core's heap use: grep for allocator calls in core/,
                   nm -u on its object files (fresh and as built)
--quick: repeat 2 and fewer OpenSSL rounds; section 7 without the smallest-heap
search and the Python-tree rollover.
"""
import argparse
import glob
import json
import os
import platform
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
HERE = os.path.dirname(os.path.abspath(__file__))
LIBS = [os.path.join(ROOT, "lib", d) for d in ("lms", "cbor", "hgcrypto", "hgstore")]
MP_PYPI = os.path.join(ROOT, ".venv", "bin", "micropython")
MP_UNIX = os.path.join(ROOT, "build", "unix", "micropython")
NATMOD_X64 = os.path.join(ROOT, "build", "natmod", "x64")
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, HERE)
from results import record  # noqa: E402  (rows for make bench / BENCHMARKS.md)

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


def _hss2_keys(L, msg):
    """HSS L=2, LMS_SHA256_M32_H10/LMOTS_SHA256_N32_W4 at both levels (the
    device's parameters): (hss_pub, msg, hss_sig, None)."""
    lt, ot, m = 6, 3, 32
    top = (bytes(range(100, 116)), bytes(range(140, 172)))
    low = (bytes(range(200, 216)), bytes(range(1, 33)))
    t0 = time.perf_counter()
    nt = L.lms_tree(lt, ot, top[0], top[1])
    nl = L.lms_tree(lt, ot, low[0], low[1])
    dt = time.perf_counter() - t0
    child = u32(lt) + u32(ot) + low[0] + nl[m:2 * m]
    pub = u32(2) + u32(lt) + u32(ot) + top[0] + nt[m:2 * m]
    sig = (u32(1) + L.lms_sign(lt, ot, top[0], top[1], 3, child, nt) + child
           + L.lms_sign(lt, ot, low[0], low[1], 7, msg, nl))
    print("  HSS L=2 H10/W4 over H10/W4: two trees built in %.2f s" % dt)
    return pub, msg, sig, None


def bench_compressions(L, inputs):
    """Prints section 1; returns {tag: compressions of the fixed-message verify}."""
    section("1. SHA-256 compressions per verify (exact, counted in the C core)")
    out = {}
    for tag, (pub, msg, sig, sign) in inputs.items():
        L.compressions(True)
        assert L.verify(pub, msg, sig) == 0
        n = out[tag] = L.compressions(True)
        line = "  %-28s %6d compressions" % (tag, n)
        note = "exact count, fixed message"
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
            note += "; 32 messages: min %d, mean %.0f, max %d" % (
                min(counts), sum(counts) / len(counts), max(counts))
        print(line)
        record("lms", "%s: SHA-256 compressions per verify" % tag, n, "compressions", note=note)
    print("  each chain step is exactly one compression: see expected_compressions() in"
          " host_tests/test_lms_native.py, asserted equal for every vector")
    return out


def _best(fn, n):
    b = 1e9
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        b = min(b, time.perf_counter() - t0)
    return b


def _pyhsslms_name():
    try:
        from importlib.metadata import version

        return "pyhsslms " + version("pyhsslms")
    except Exception:
        return "pyhsslms"


def bench_speed(L, inputs, repeat, counts=None):
    """Prints section 2; returns {tag: best C verify time in s} (measured even
    without pyhsslms: section 5 needs it)."""
    section("2. verify time: C core (ctypes) vs pyhsslms, same inputs, same run")
    try:
        import pyhsslms
    except ImportError:
        pyhsslms = None
        print("  pyhsslms not installed: C core times only")
    out = {}
    for tag, (pub, msg, sig, _sign) in inputs.items():
        tc = out[tag] = _best(lambda: L.verify(pub, msg, sig), repeat * 5)
        if pyhsslms is None:
            print("  %-28s C %8.3f ms" % (tag, tc * 1e3))
            record("lms", "%s verify" % tag, tc * 1e3, "ms", note="C core via ctypes; pyhsslms missing")
            continue
        pk = pyhsslms.HssPublicKey.deserialize(pub)
        assert pk.verify(msg, sig)
        tp = _best(lambda: pk.verify(msg, sig), repeat)
        print("  %-28s C %8.3f ms   pyhsslms %8.3f ms   pyhsslms/C = %5.1fx" % (
            tag, tc * 1e3, tp * 1e3, tp / tc))
        record("lms", "%s verify" % tag, tc * 1e3, "ms", _pyhsslms_name(), tp * 1e3,
               note="C core via ctypes, best of %d; ratio < 1: faster" % (repeat * 5))
        n = (counts or {}).get(tag)
        if n:
            record("lms", "%s verify" % tag, tc * 1e9 / n, "ns/compression", _pyhsslms_name(),
                   tp * 1e9 / n, note="verify time / the %d compressions of section 1" % n)
    return out


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
        record("lms", "%s verify" % tag, ir_v, "Ir", "the same number of bare compressions", ir_c,
               goal="ratio <= 1.10", runtime="valgrind callgrind, gcc -O2",
               note="%d compressions, %.0f Ir each" % (n, ir_c / n))


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
    m4 = "arm-none-eabi-gcc -Os -mcpu=cortex-m4 -mthumb"
    record("sizes", "LMS C core, verify path linked (lms.o + lms_sha256.o, --gc-sections)", ours,
           "B text+rodata", runtime=m4,
           note="lms.o %d + lms_sha256.o %d; libc memcpy/memset %d more; build/bench_lms/m4"
           % (per_obj.get("lms.o", 0), per_obj.get("lms_sha256.o", 0), libc))
    (worst, path), _size = _stack_worst(glob.glob(os.path.join(d, "*.ci")),
                                        ["lms_hss_verify", "lms_verify", "lms_hss_verify_init",
                                         "lms_hss_verify_final"])
    print("  worst stack (static frames along the deepest call path, libc calls not counted):"
          " %d bytes" % worst)
    print("    " + " -> ".join("%s(%d)" % (p, _size.get(p, 0)) for p in path))
    record("sizes", "LMS C core, verify worst stack (static frames)", worst, "B", runtime=m4,
           note=" -> ".join(path))
    print("  (lms_hss_verify includes its %d-byte context; streaming callers hold it themselves)"
          % _ctx_size_m4())


def _ctx_size_m4():
    # sizeof(lms_hss_verify_ctx_t) on a 32-bit target: sha256 ctx 104 + ptr 4 + I 16 + T 32 + 3 x 4
    return 104 + 4 + 16 + 32 + 12


# ---------------------------------------------------------------- shared helpers


def machine():
    """One line: CPU model, architecture, CPUs, SHA extensions."""
    cpu, sha = platform.processor() or "?", False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu in ("?", "", platform.machine()):
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    sha = "sha_ni" in line.split()
    except OSError:
        pass
    return "%s, %s, %d CPUs%s" % (cpu, platform.machine(), os.cpu_count() or 0,
                                  ", SHA-NI" if sha else "")


def cpython():
    return "CPython %s (%s)" % (platform.python_version(), os.path.relpath(sys.executable, ROOT))


def _rel(p):
    if not os.path.isabs(p):
        return p
    r = os.path.relpath(p, ROOT)
    return p if r.startswith("..") else r


def _mp_desc(rt, exe):
    return "MicroPython %s (%s)" % (rt.get("version", "?"), _rel(exe))


def _run_json(cmd, env=None, timeout=300):
    """Run a bench_lms_mp.py command; its JSON lines, or raise RuntimeError."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=e, cwd=ROOT)
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["exit %d" % p.returncode]
        raise RuntimeError(tail[0])
    return [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]


# ---------------------------------------------------------------- 5


def bench_openssl(L, counts, ctimes, quick):
    section("5. wall time per SHA-256 compression: C core inside a verify vs OpenSSL, same CPU")
    import hashlib
    import ssl

    print("  machine: %s; runtime: %s" % (machine(), cpython()))
    if not counts or not ctimes:
        print("  skipped: needs the section 1 counts and section 2 times")
        return
    if not hashlib.sha256.__name__.startswith("openssl"):
        print("  skipped: this CPython's hashlib.sha256 is not OpenSSL's (%s)" % hashlib.sha256.__name__)
        return
    # The anchor: OpenSSL's block function in its own loop - hashlib.sha256
    # over 1 MiB is 16385 compressions in one call, so the per-call cost
    # vanishes. Not used: single-block calls (sha256(55 B) in a loop) cost
    # ~270 ns of CPython call/object overhead around a ~30 ns compression,
    # and the difference t(119 B) - t(55 B) came out between -3 and 24 ns
    # here (noise, and the CPU overlapping the compression with interpreter
    # work): no usable per-block figure.
    sha = hashlib.sha256
    big = bytes(1 << 20)
    nbest = 3 if quick else 10
    per_block = _best(lambda: sha(big).digest(), nbest) / ((1 << 20) // 64 + 1)
    print("  OpenSSL: %s through CPython's hashlib.sha256; method: one 1 MiB hash (16385 blocks),"
          " best of %d" % (ssl.OPENSSL_VERSION, nbest))
    print("    -> %.1f ns per 64-byte block   [anchor]  (single-block hashlib calls not used: ~0.3 us"
          " of call overhead each swamps the compression)" % (per_block * 1e9))
    try:
        shani = bool(L._lib.lms_sha256_shani_available())
        impl = "SHA-NI compress (CPUID)" if shani else "portable C compress (no SHA-NI on this CPU)"
    except AttributeError:
        impl = "portable C compress (built without -DLMS_SHA256_X86_SHANI)"
    # The verify time includes one ctypes call; the same wrapper and call on
    # an empty key returns ERR_MALFORMED at once: that is the call overhead.
    t_call = _best(lambda: L.verify(b"", b"", b""), 2000)
    print("  C core: %s, %s (-O2, tools/build/build_lms_host.py); ctypes verify call on empty input %.2f us (included below;"
          " 'net' subtracts it)" % (_rel(getattr(L._lib, "_name", "liblms.so")), impl, t_call * 1e6))
    print("  %-28s %9s %7s %10s %10s %12s %10s" % ("", "verify", "compr.", "ns/compr", "net",
                                                  "C/OpenSSL", "net"))
    for tag, n in counts.items():
        tc = ctimes.get(tag)
        if tc is None:
            continue
        c = tc / n
        net = max(tc - t_call, 0.0) / n
        print("  %-28s %6.3f ms %7d %10.1f %10.1f %11.2fx %9.2fx" % (
            tag, tc * 1e3, n, c * 1e9, net * 1e9, c / per_block, net / per_block))
        record("lms", "%s verify" % tag, c * 1e9, "ns/compression", "OpenSSL SHA-256 block (bound)",
               per_block * 1e9, note="net of the ctypes call: %.1f ns (%.2fx); %s" % (
                   net * 1e9, net / per_block, impl))


# ---------------------------------------------------------------- 6


MP_VERIFY_TAGS = ("H10/W8 (L=1, M32/N32)", "H10/W4 (L=1, M32/N32)", "HSS L=2 H10/W4 over H10/W4")


def bench_mp_verify(inputs, counts, args):
    section("6. verify under MicroPython: pure-Python lms_py vs the C core _lms, same binary")
    print("  machine: %s; keys/signatures from section 0 (made on the host), passed as hex;" % machine())
    print("  tools/bench/bench_lms_mp.py times each with time.ticks_us, best of %d (lms_py) / %d (_lms)"
          % (args.repeat, 20 * args.repeat))
    runs = []
    if not os.path.exists(args.micropython):
        print("  skipped %s: not found" % _rel(args.micropython))
    else:
        env = {}
        note = "natmod %s" % _rel(os.path.join(NATMOD_X64, "_lms.mpy"))
        if os.path.exists(os.path.join(NATMOD_X64, "_lms.mpy")):
            env["MICROPYPATH"] = NATMOD_X64 + ":.frozen"
        else:
            print("  %s missing (tools/build/natmod.sh x64): lms_py only under %s"
                  % (note, _rel(args.micropython)))
        runs.append((args.micropython, env))
    if not os.path.exists(args.unix_micropython):
        print("  skipped %s: not found (make unix)" % _rel(args.unix_micropython))
    else:
        runs.append((args.unix_micropython, {}))
    if not runs:
        return
    newest = max(os.path.getmtime(f) for f in glob.glob(os.path.join(CORE, "*.[ch]")) +
                 [os.path.join(os.path.dirname(CORE), "modlms.c")])
    for f in (os.path.join(NATMOD_X64, "_lms.mpy"), args.unix_micropython):
        if os.path.exists(f) and os.path.getmtime(f) < newest:
            print("  note: %s is older than the C sources (rebuild: make unix / tools/build/natmod.sh x64)"
                  % _rel(f))
    fd, cases = tempfile.mkstemp(prefix="bench_lms_", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        for tag in MP_VERIFY_TAGS:
            if tag in inputs:
                pub, msg, sig, _ = inputs[tag]
                f.write("%s\t%s\t%s\t%s\n" % (tag, pub.hex(), msg.hex(), sig.hex()))
    rows = []
    try:
        for exe, env in runs:
            try:
                res = _run_json([exe, os.path.join(HERE, "bench_lms_mp.py"), "verify", cases,
                                 ":".join(LIBS), str(args.repeat)], env)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                print("  skipped %s: %s" % (_rel(exe), e))
                continue
            rt = next((r["runtime"] for r in res if "runtime" in r), {})
            desc = _mp_desc(rt, exe)
            for r in res:
                if "note" in r:
                    print("  %s: %s" % (desc, r["note"]))
            anchor = {r["tag"]: r.get("us") for r in res if r.get("backend") == "_lms"}
            for r in res:
                if "tag" not in r:
                    continue
                f = r.get("file", "")
                if r["backend"] == "_lms":
                    be = "_lms (%s)" % ("x64 natmod" if f.endswith(".mpy") else "built in")
                else:
                    frozen = f.startswith(".frozen") or "/" not in f
                    be = "lms_py (%s)" % ("frozen" if frozen else "source")
                rows.append((desc, be, r["tag"], r.get("us"), anchor.get(r["tag"]), r.get("error")))
    finally:
        os.unlink(cases)
    w = max(len(r[0]) for r in rows) if rows else 10
    print("  %-*s  %-18s %-27s %10s %10s %14s" % (w, "runtime", "backend", "key", "ms/verify",
                                                  "vs _lms", "ns/compression"))
    for desc, be, tag, us, base, err in rows:
        if err:
            print("  %-*s  %-18s %-27s %s" % (w, desc, be, tag, err))
            continue
        ratio = ("%9.2fx" % (us / base)) if base else "       n/a"
        n = counts.get(tag)
        own = be.startswith("_lms")  # the anchor itself: no ratio
        record("lms", "%s verify, %s" % (tag, be), us / 1e3, "ms",
               "_lms in the same binary" if base and not own else None,
               base / 1e3 if base and not own else None, runtime=desc,
               note=("%.0f ns/compression" % (us * 1e3 / n)) if n else None)
        print("  %-*s  %-18s %-27s %10.3f %s %14s" % (w, desc, be, tag, us / 1e3, ratio,
                                                     ("%.0f" % (us * 1e3 / n)) if n else "-"))
    print("  ns/compression: verify time / the section-1 count of the same verify; vs _lms: the"
          " C core in the same binary is the anchor")
    print("  C core in MicroPython: portable SHA-256 (no SHA-NI: -DLMS_SHA256_X86_SHANI is only in"
          " the host library of sections 2/5)")


# ---------------------------------------------------------------- 7


def _io_line(io):
    return ("state file %d x (%d B), node cache %d x (%d B); %d B written in all" % (
        io["state_writes"], io["state_bytes"], io["blob_writes"], io["blob_bytes"],
        io["state_bytes"] + io["blob_bytes"]))


def _min_heap(exe, snap, code, tmp, lo=2, hi=1024):
    """Smallest -X heapsize (KiB) at which `code` prints ok, on a fresh copy
    of the key files each time; None if even hi KiB fails."""
    def ok(kib):
        d = tempfile.mkdtemp(dir=tmp)
        for fn in glob.glob(snap + "*"):
            shutil.copy(fn, os.path.join(d, os.path.basename(fn)))
        src = code.replace("KEY", repr(os.path.join(d, os.path.basename(snap))))
        p = subprocess.run([exe, "-X", "heapsize=%dk" % kib, "-c", src], capture_output=True,
                           text=True, timeout=60)
        shutil.rmtree(d, ignore_errors=True)
        return p.returncode == 0 and "ok" in p.stdout

    if not ok(hi):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def bench_sign(args):
    n = 1000  # < 1024: all in the first bottom tree; the rollover is measured after it
    section("7. signing with the device-held key: lms_state HSS L=2 H10/W4 over H10/W4 (default params)")
    print("  machine: %s; FileStorage in a temp dir (%s); self-check verify on, chunk 64"
          % (machine(), _fs_type(tempfile.gettempdir())))
    sys.path[:0] = [HERE] + [d for d in LIBS if d not in sys.path]
    import bench_lms_mp
    import lms

    tmp = tempfile.mkdtemp(prefix="bench_lms_sign_")
    results, notes = [], []
    try:
        if lms.BACKEND != "lms_host":
            notes.append("  CPython: skipped, the lms facade picked %s, not lms_host" % lms.BACKEND)
        else:
            r = bench_lms_mp.bench_sign(os.path.join(tmp, "cpy_key"), n, 10)
            results.append((cpython() + ", lms facade backend lms_host (liblms.so)", r))
        exe = args.unix_micropython
        if not os.path.exists(exe):
            notes.append("  MicroPython: skipped, %s not found (make unix)" % _rel(exe))
        else:
            snap = os.path.join(tmp, "snap_key")
            try:
                res = _run_json([exe, os.path.join(HERE, "bench_lms_mp.py"), "sign",
                                 os.path.join(tmp, "mp_key"), ":".join(LIBS), str(n), "10", snap]
                                + ([] if args.quick else ["pytree"]))
                r = res[-1]
                results.append((_mp_desc(r["runtime"], exe) + ", lms facade backend " + r["backend"], r))
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                notes.append("  MicroPython: skipped, lms_state failed under %s: %s" % (_rel(exe), e))
                snap = None
        anchor = results[0][1] if results and results[0][1]["runtime"]["name"] == "cpython" else None
        for desc, r in results:
            _print_sign(desc, r, anchor if r is not anchor else None)
        for note in notes:
            print(note)
        mp = [r for _d, r in results if r["runtime"]["name"] == "micropython"]
        if mp:
            _print_mp_heap(mp[0], exe, snap if not args.quick else None, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fs_type(path):
    try:
        return subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True,
                              check=True).stdout.strip() + " filesystem, fsync per write"
    except (OSError, subprocess.CalledProcessError):
        return "fsync per write"


def _print_sign(desc, r, anchor):
    def vs(key):
        if not anchor:
            return "   [anchor]"
        return "   (%.1fx the CPython time)" % (r[key] / anchor[key])

    mean = r["sign_total_us"] / r["n"]
    an = "CPython (lms_host)" if anchor else None
    record("lms", "HSS L=2 H10/W4 key generation", r["keygen_us"] / 1e6, "s", an,
           anchor["keygen_us"] / 1e6 if anchor else None, runtime=desc)
    record("lms", "HSS L=2 H10/W4 signature, steady state", 1e6 / mean, "signatures/s", an,
           1e6 / (anchor["sign_total_us"] / anchor["n"]) if anchor else None, runtime=desc,
           note="mean of %d signatures; ratio > 1: faster" % r["n"])
    record("lms", "HSS L=2 H10/W4 bottom-tree rollover", r["rollover_us"] / 1e3, "ms", an,
           anchor["rollover_us"] / 1e3 if anchor else None, runtime=desc,
           note="%.0f x a steady signature" % (r["rollover_us"] / mean))
    io = r["sign_io"]
    record("lms", "storage writes per %d signatures" % r["n"], io["state_writes"] + io["blob_writes"],
           "writes", runtime=desc, note="%d B written" % (io["state_bytes"] + io["blob_bytes"]))
    print("  -- %s" % desc)
    if r.get("error"):
        print("    ERROR: %s" % r["error"])
    print("    key generation: %.3f s (2 trees of 1024 leaves + node caches + 1 LMS signature; %s)%s"
          % (r["keygen_us"] / 1e6, _tree_path(r["keygen_c_compressions"], 2), vs("keygen_us")))
    print("    steady state: %d signatures in %.3f s = %.0f signatures/s, mean %.3f ms%s"
          % (r["n"], r["sign_total_us"] / 1e6, 1e6 / mean, mean / 1e3,
             "   [anchor]" if not anchor else "   (%.1fx the CPython time)"
             % (mean / (anchor["sign_total_us"] / anchor["n"]))))
    wn = r["sign_writing_n"]
    plain = (r["sign_total_us"] - r["sign_writing_us"]) / max(r["n"] - wn, 1)
    print("      best %.3f ms, worst %.3f ms; the %d signatures that reserved a chunk (state write +"
          " fsync) %.3f ms mean, the others %.3f ms; %d-byte signatures"
          % (r["sign_best_us"] / 1e3, r["sign_worst_us"] / 1e3, wn,
             r["sign_writing_us"] / max(wn, 1) / 1e3, plain / 1e3, r["sig_len"]))
    print("    bottom-tree rollover (measured: signature %d, the first of tree 2, gc.collect() before):"
          " %.1f ms = %.0f x a steady signature; %s%s"
          % ((1 << r["h"]) + 1, r["rollover_us"] / 1e3, r["rollover_us"] / mean,
             _tree_path(r["rollover_c_compressions"], 1), vs("rollover_us")))
    print("      the next signature: %.3f ms; rollover signature verifies: %s"
          % (r["after_rollover_us"] / 1e3, r["rollover_ok"]))
    if "rollover_py_us" in r:
        print("    with every tree built by lms_py.walk_tree (O(h) RAM: a board whose heap cannot hold"
              " the 64 KiB node array):")
        print("      rollover (tree 3) %.1f ms%s, verifies: %s; key generation %.3f s%s"
              % (r["rollover_py_us"] / 1e3, "" if not anchor else " (%.1fx the CPython rollover)"
                 % (r["rollover_py_us"] / anchor["rollover_us"]), r["rollover_py_ok"],
                 r["keygen_py_us"] / 1e6, "" if not anchor else " (%.1fx the CPython keygen)"
                 % (r["keygen_py_us"] / anchor["keygen_us"])))
    print("    storage writes per %d signatures (counted): %s" % (r["n"], _io_line(r["sign_io"])))
    print("      each write = 1 file written to .tmp + fsync + 1 rename; reads: %d read_parts calls"
          " (%d B)" % (r["sign_io"]["reads"], r["sign_io"]["read_bytes"]))
    print("    a rollover adds: %s" % _io_line(r["rollover_io"]))
    print("    key generation wrote: %s" % _io_line(r["keygen_io"]))


def _tree_path(c_compressions, trees):
    # ~1.1M compressions per H10/W4 tree: counted by the C backend when it built it
    if c_compressions > 500000 * trees:
        return "trees in C (lms_tree), %d compressions counted" % c_compressions
    return "trees in Python (lms_py.walk_tree)"


def _print_mp_heap(r, exe, snap, tmp):
    print("  -- MicroPython heap (%s, 64-bit unix port: object headers/pointers are twice a"
          " Cortex-M4's, byte buffers the same)" % _rel(exe))
    if "signer_heap_bytes" not in r:
        print("    skipped: no gc.mem_alloc in this build")
        return
    print("    signer in steady state: %d B after gc.collect() (%d B right after load());"
          " plus the caller's %d-byte signature buffer"
          % (r["signer_heap_bytes"], r["signer_heap_loaded_bytes"], r["sig_len"]))
    where = _rel(exe) + " (64-bit)"
    record("heap", "LMS signer (HSS L=2 H10/W4) held in steady state", r["signer_heap_bytes"], "B",
           runtime=where, note="after gc.collect(); %d B right after load()" % r["signer_heap_loaded_bytes"])
    record("heap", "LMS sign_into(): bytes allocated per signature", r["sign_alloc_bytes"], "B",
           runtime=where, note="GC disabled around it: an upper bound on its peak")
    print("    one steady sign_into() allocates %d B in all (GC disabled around it; short-lived,"
          " mostly SHA-256 digests and slices: an upper bound on its peak)" % r["sign_alloc_bytes"])
    if snap is None:
        print("    smallest heap: skipped (--quick)")
        return
    pre = "import sys\nsys.path.extend(%r)\n" % LIBS
    codes = (
        ("empty program", pre + "print('ok')"),
        ("import lms_state", pre + "import lms_state\nprint('ok')"),
        ("+ load()", pre + "import lms_state as S\nimport hgstore\ns=S.load(hgstore.FileStorage(KEY))\nprint('ok')"),
        ("+ one sign_into()", pre + "import lms_state as S\nimport hgstore\ns=S.load(hgstore.FileStorage(KEY))\n"
         "b=bytearray(s.sig_len())\ns.sign_into(b'm',b)\nprint('ok')"),
    )
    got = []
    for label, code in codes:
        kib = _min_heap(exe, snap, code, tmp)
        got.append("%s %s" % (label, ("%d KiB" % kib) if kib else "> 1 MiB"))
    for (label, _c), g in zip(codes, got):
        kib = g.rsplit(" ", 2)
        if kib[-1] == "KiB":
            record("heap", "LMS signer: smallest -X heapsize for '%s'" % label, int(kib[-2]), "KiB",
                   runtime=where)
    print("    smallest -X heapsize that runs (1 KiB steps, frozen modules, fresh key copy each try):")
    print("      " + "; ".join(got))
    print("      (the first sign after load() reserves a chunk: it encodes and writes the state,"
          " as every 64th signature does)")


# ---------------------------------------------------------------- 8


_ALLOC_SYMS = {"malloc", "calloc", "realloc", "reallocarray", "free", "aligned_alloc", "memalign",
               "posix_memalign", "valloc", "pvalloc", "strdup", "strndup", "alloca", "sbrk",
               "_sbrk", "_malloc_r", "_calloc_r", "_realloc_r", "_free_r", "m_malloc", "m_malloc0",
               "m_realloc", "m_free", "gc_alloc", "gc_realloc", "gc_free"}


def _undefined(nm, path, dynamic=False):
    cmd = [nm, "-u"] + (["-D"] if dynamic else []) + [path]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == "U":
            syms.add(parts[-1].split("@")[0])
    return syms


def bench_malloc():
    section("8. heap use of the C core (firmware/cmodules/lms/core)")
    srcs = sorted(glob.glob(os.path.join(CORE, "*.[ch]")))
    call = re.compile(r"\b(malloc|calloc|realloc|free|alloca|aligned_alloc|posix_memalign)\s*\(")
    calls, mentions = [], []
    for fn in srcs:
        with open(fn) as f:
            for i, line in enumerate(f, 1):
                code = line.split("//", 1)[0]
                if call.search(code):
                    calls.append("%s:%d: %s" % (os.path.basename(fn), i, line.strip()))
                elif "malloc" in line:
                    mentions.append("%s:%d: %s" % (os.path.basename(fn), i, line.strip()[:90]))
    print("  grep -n malloc core/*.[ch] (plus calloc/realloc/free/alloca calls outside comments):")
    for m in mentions + calls:
        print("    " + m)
    print("    -> %d allocator call(s) in code" % len(calls))
    nm = shutil.which("nm")
    if not nm:
        print("  nm: skipped (binutils not installed)")
        return
    objs = []
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    d = os.path.join(OUT, "heap")
    os.makedirs(d, exist_ok=True)
    if cc:
        flags = ["-std=c99", "-O2", "-DLMS_ENABLE_SIGN", "-DLMS_COUNT_COMPRESSIONS", "-I" + CORE]
        if platform.machine() in ("x86_64", "AMD64"):
            flags.append("-DLMS_SHA256_X86_SHANI")
        subprocess.run([cc] + flags + ["-c", os.path.join(CORE, "lms.c"),
                                       os.path.join(CORE, "lms_sha256.c")], cwd=d, check=True)
        objs += [(nm, os.path.join(d, o), "fresh, host cc -O2, sign+verify")
                 for o in ("lms.o", "lms_sha256.o")]
    agcc, anm = shutil.which("arm-none-eabi-gcc"), shutil.which("arm-none-eabi-nm")
    if agcc and anm:
        ad = os.path.join(d, "m4")
        os.makedirs(ad, exist_ok=True)
        subprocess.run([agcc, "-std=c99", "-Os", "-mcpu=cortex-m4", "-mthumb", "-DLMS_ENABLE_SIGN",
                        "-I" + CORE, "-c", os.path.join(CORE, "lms.c"),
                        os.path.join(CORE, "lms_sha256.c")], cwd=ad, check=True)
        objs += [(anm, os.path.join(ad, o), "fresh, cortex-m4 -Os, sign+verify")
                 for o in ("lms.o", "lms_sha256.o")]
    for o in sorted(glob.glob(os.path.join(ROOT, "build", "*", "lms", "core", "*.o")) +
                    glob.glob(os.path.join(ROOT, "build", "natmod", "obj-*-lms", "core", "*.o"))):
        tool = anm if ("arm" in o or "qemu" in o) and anm else nm
        objs.append((tool, o, "as built"))
    shlib = os.path.join(ROOT, "build", "host", "liblms.so")
    rows, bad = [], 0
    for tool, o, what in objs:
        try:
            u = _undefined(tool, o)
        except (subprocess.CalledProcessError, OSError) as e:
            rows.append("    %-52s nm failed: %s" % (_rel(o), e))
            continue
        hit = sorted(u & _ALLOC_SYMS)
        bad += len(hit)
        rows.append("    %-52s %-34s U: %s -> allocator: %s" % (
            _rel(o), "(" + what + ")", " ".join(sorted(u)) or "-", " ".join(hit) or "none"))
    if os.path.exists(shlib):
        u = _undefined(nm, shlib, dynamic=True)
        hit = sorted(u & _ALLOC_SYMS)
        bad += len(hit)
        rows.append("    %-52s %-34s U: %s -> allocator: %s" % (
            _rel(shlib), "(nm -D, host library)", " ".join(sorted(u)), " ".join(hit) or "none"))
    print("  nm -u (undefined symbols) on the core's object files:")
    for r in rows:
        print(r)
    record("lms", "C core allocator calls and symbols", len(calls) + bad, "count", goal="value == 0",
           note="grep of core/*.[ch] and nm -u on %d object files" % len(objs))
    if not calls and not bad:
        print("  -> C core heap use: 0 bytes (no allocator call, no allocator symbol; all buffers are"
              " the caller's or on the stack, see section 4 for the stack)")
    else:
        print("  -> allocator use FOUND: see above")
    print("  (the MicroPython binding modlms.c allocates only its Python results - bytes, the"
          " Verifier object - on the GC heap)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()),
                                 epilog=__doc__[__doc__.index("Sections"):],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="fewer repetitions (repeat 2); section 7 without the smallest-heap search"
                         " and the Python-tree rollover")
    ap.add_argument("--skip-callgrind", action="store_true", help="skip section 3")
    ap.add_argument("--skip-m4", action="store_true", help="skip section 4")
    ap.add_argument("--skip-openssl", action="store_true", help="skip section 5")
    ap.add_argument("--skip-mp", action="store_true", help="skip section 6")
    ap.add_argument("--skip-sign", action="store_true", help="skip section 7")
    ap.add_argument("--skip-malloc", action="store_true", help="skip section 8")
    ap.add_argument("--repeat", type=int, default=None,
                    help="timing repetitions (best of; default 5, 2 with --quick)")
    ap.add_argument("--micropython", default=MP_PYPI, metavar="EXE",
                    help="PyPI MicroPython for section 6, with the x64 natmod from build/natmod/x64"
                         " (default: %(default)s)")
    ap.add_argument("--unix-micropython", default=MP_UNIX, metavar="EXE",
                    help="our unix build with _lms built in, sections 6 and 7 (default: %(default)s)")
    args = ap.parse_args(argv)
    if args.repeat is None:
        args.repeat = 2 if args.quick else 5

    from hourglass import lms_host as L

    with open(os.path.join(ROOT, "host_tests", "vectors", "lms", "cases", "rfc8554_tc1.json")) as f:
        c = json.load(f)
    inputs = {"RFC 8554 TC1 (L=2 H5/W8)": (bytes.fromhex(c["public_key"]), bytes.fromhex(c["message"]),
                                           bytes.fromhex(c["signature"]), None)}
    section("0. keys (our signer, lms_tree + lms_sign with nodes)")
    msg = b"hourglass firmware manifest digest 0123456789abcdef"
    for tag, lt, ot in (("H10/W8 (L=1, M32/N32)", 6, 4), ("H10/W4 (L=1, M32/N32)", 6, 3)):
        pub, sign = _keys(L, lt, ot, tag)
        inputs[tag] = (pub, msg, sign(msg, 5), sign)
    inputs["HSS L=2 H10/W4 over H10/W4"] = _hss2_keys(L, msg)
    counts = bench_compressions(L, inputs)
    ctimes = bench_speed(L, inputs, args.repeat, counts)
    if not args.skip_callgrind:
        bench_callgrind(inputs)
    if not args.skip_m4:
        bench_m4()
    if not args.skip_openssl:
        bench_openssl(L, counts, ctimes, args.quick)
    if not args.skip_mp:
        bench_mp_verify(inputs, counts, args)
    if not args.skip_sign:
        bench_sign(args)
    if not args.skip_malloc:
        bench_malloc()
    return 0


if __name__ == "__main__":
    sys.exit(main())
