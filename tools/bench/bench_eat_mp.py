# The MicroPython side of tools/bench/bench_eat.py (the unix port; also runs
# on CPython). Prints one JSON line.
#
#   micropython bench_eat_mp.py PATHS STATE N
#
# PATHS: colon-separated folders put in FRONT of sys.path (lib/ compiled to
# .mpy, or the lib/<pkg> folders). STATE: a hgstore.FileStorage path holding
# a provisioned identity (and HSS key), made by bench_eat.py on the host.
# Loads the identity and signer, builds the Attester with CLAIMS below
# (bench_eat.py uses the same ones for the sizes), then times N tokens:
# median / mean / max ms per Attester.attest(nonce) and the token size.
import gc
import sys

for _p in reversed(sys.argv[1].split(":")):
    sys.path.insert(0, _p)

import time  # noqa: E402

import eat  # noqa: E402
import hgstore  # noqa: E402

try:
    _ticks, _diff = time.ticks_us, time.ticks_diff
except AttributeError:  # CPython
    def _ticks():
        return int(time.perf_counter() * 1e6)

    def _diff(a, b):
        return a - b

# one installed application, as SlotPlatform.installed() reports it
COMPONENTS = [{"cid": [b"\x00"], "name": "app", "slot": 0, "digest": b"\x11" * 32, "size": 262144,
               "sequence": 1, "manifest_digest": b"\x22" * 32}]
CLAIMS = {"measure": lambda: COMPONENTS, "bootcount": 3, "uptime": 1234, "dbgstat": 2,
          "swname": "hourglass", "swversion": ["0.1.0", 16384]}


def main():
    st = hgstore.FileStorage(sys.argv[2])
    n = int(sys.argv[3])
    ident = eat.load_identity(st)
    att = eat.Attester(ident, eat.load_signer(st, ident), **CLAIMS)
    nonce = bytearray(32)
    tok = att.attest(bytes(nonce))  # warm-up (and, LMS: the first reservation)
    ts = []
    for i in range(n):
        nonce[0] = i & 255
        nonce[1] = i >> 8
        tok = None
        gc.collect()
        t0 = _ticks()
        tok = att.attest(bytes(nonce))
        ts.append(_diff(_ticks(), t0) / 1000.0)
    mean = sum(ts) / len(ts)
    ts.sort()
    print('{"alg": %d, "median_ms": %.3f, "mean_ms": %.3f, "max_ms": %.3f, "n": %d, "size": %d}' % (
        ident["alg"], ts[len(ts) // 2], mean, ts[-1], n, len(tok)))
    return 0


sys.exit(main())
