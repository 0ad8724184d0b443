# Benchmark of lib/cbor on a ~1 KiB SUIT-manifest-like structure.
# Runs under CPython and MicroPython; prints one JSON line on stdout.
#
#   python bench_cbor.py [--budget SECONDS] [--lib DIR]
#
# Under MicroPython it also reports heap use of one decode:
#   heap_alloc_per_decode: gc.mem_alloc() delta across one loads() with the
#       GC disabled (everything allocated, garbage included);
#   decoded_live_bytes: the decoded object's size, estimated as the heap
#       retained by it: gc.mem_alloc() after gc.collect() with the result
#       alive, minus the same before decoding (GC-block granular, exact for
#       MicroPython's own layout).
import gc
import sys

try:
    import json
except ImportError:
    json = None

_MP = sys.implementation.name == "micropython"


def _here():
    f = __file__
    i = f.rfind("/")
    return f[:i] if i >= 0 else "."


def _args():
    budget = 1.0
    lib = _here() + "/../../lib/cbor"
    a = sys.argv[1:]
    i = 0
    while i < len(a):
        if a[i] == "--budget":
            budget = float(a[i + 1])
            i += 1
        elif a[i] == "--lib":
            lib = a[i + 1]
            i += 1
        elif a[i] in ("-h", "--help"):
            print("usage: bench_cbor.py [--budget SECONDS] [--lib DIR]")
            sys.exit(0)
        i += 1
    return budget, lib


def _digest(seed):
    return bytes([(seed * 31 + i * 7) & 0xFF for i in range(32)])


def build_manifest(Tag):
    """Deterministic SUIT-like envelope (RFC 9124 shapes, int keys)."""
    params_app = {
        1: bytes(range(16)),  # vendor-id
        2: bytes(range(16, 32)),  # class-id
        3: [-16, _digest(1)],  # image digest [alg, bstr]
        14: 34768,  # image size
        21: "coaps://updates.example.com/fw/app-v2.3.1.bin",  # uri
    }
    params_cfg = {
        3: [-16, _digest(2)],
        14: 1024,
        21: "coaps://updates.example.com/fw/cfg-v2.3.1.cbor",
    }
    common = {
        2: [[b"flash", b"app"], [b"flash", b"cfg"], [b"ram", b"boot"]],  # components
        4: [12, 0, 20, params_app, 1, 15, 2, 15, 12, 1, 20, params_cfg, 1, 15, 2, 15],
    }
    manifest = {
        1: 1,  # version
        2: 20240607,  # sequence number
        3: common,
        7: [12, 0, 3, 15, 12, 1, 3, 15],  # validate
        8: [12, 0, 20, {21: "coaps://updates.example.com/fw/app-v2.3.1.bin"}, 21, 2],  # load
        9: [12, 0, 21, 15, 12, 1, 21, 15, 23, 2],  # install
        17: [12, 0, 21, {}, 18, 15],  # fetch
        15: "coaps://updates.example.com/manifests/hg-1/2.3.1.suit",  # reference uri
        10: [  # dependency resolution: two dependencies with digests and uris
            12, 2, 20, {3: [-16, _digest(4)], 21: "coaps://updates.example.com/dep/radio-1.4.0.suit"}, 18, 15,
            12, 3, 20, {3: [-16, _digest(5)], 21: "coaps://updates.example.com/dep/crypto-0.9.2.suit"}, 18, 15,
        ],
        13: {  # text, per component index
            0: {1: "Hourglass Devices", 2: "HG-1 sensor node", 3: "application image", 4: "2.3.1"},
            1: {1: "Hourglass Devices", 3: "configuration block", 4: "2.3.1"},
        },
        -1: [True, False, None, 0.25, -40, 1700000000],  # vendor extension
        -2: [[-16, _digest(6)], [-16, _digest(7)]],  # vendor: payload digests
        -3: "HG-1 field update 2.3.1: radio stack refresh, crypto fixes, config schema v4",
    }
    auth = [
        [-16, _digest(3)],  # digest of the manifest
        Tag(18, [  # COSE_Sign1
            b"\xa1\x01\x26",  # protected {1: -7}
            {4: b"key-2024"},  # unprotected kid
            None,  # detached payload
            bytes([(i * 13 + 5) & 0xFF for i in range(64)]),  # signature
        ]),
    ]
    return Tag(107, {2: auth, 3: manifest, 1: 1.5})


if _MP:
    import time

    def _now():
        return time.ticks_us()

    def _elapsed(t0):
        return time.ticks_diff(time.ticks_us(), t0) / 1e6

else:
    import time

    def _now():
        return time.perf_counter()

    def _elapsed(t0):
        return time.perf_counter() - t0


def rate(fn, arg, budget):
    """Calls per second of fn(arg) over about `budget` seconds of wall time."""
    fn(arg)
    n = 0
    batch = 1
    t0 = _now()
    while True:
        for _ in range(batch):
            fn(arg)
        n += batch
        dt = _elapsed(t0)
        if dt >= budget:
            return n / dt
        if dt < budget / 20:
            batch *= 2


def heap_per_decode(loads, enc):
    gc.collect()
    base = gc.mem_alloc()
    obj = loads(enc)
    gc.collect()
    live = gc.mem_alloc() - base
    obj = None
    gc.collect()
    gc.disable()
    try:
        a0 = gc.mem_alloc()
        obj = loads(enc)
        a1 = gc.mem_alloc()
    finally:
        gc.enable()
    obj = None
    return a1 - a0, live


def _to_cbor2(x, cbor2, Tag):
    if type(x) is Tag:
        return cbor2.CBORTag(x.tag, _to_cbor2(x.value, cbor2, Tag))
    if type(x) is list:
        return [_to_cbor2(v, cbor2, Tag) for v in x]
    if type(x) is dict:
        return {k: _to_cbor2(v, cbor2, Tag) for k, v in x.items()}
    return x


def main():
    budget, lib = _args()
    sys.path.insert(0, lib)
    import cbor

    obj = build_manifest(cbor.Tag)
    enc = cbor.dumps(obj)
    if cbor.loads(enc, strict=True) != obj:
        raise SystemExit("round trip failed")
    res = {}
    if _MP:
        res["runtime"] = "micropython %d.%d.%d" % sys.implementation.version[:3]
        res["exe"] = getattr(sys, "executable", "")
    else:
        res["runtime"] = "cpython %d.%d.%d" % tuple(sys.version_info[:3])
        res["exe"] = sys.executable
    res["size"] = len(enc)
    res["budget_s"] = budget
    res["enc_ops"] = round(rate(cbor.dumps, obj, budget), 1)
    res["dec_ops"] = round(rate(cbor.loads, enc, budget), 1)
    res["dec_strict_ops"] = round(rate(lambda b: cbor.loads(b, strict=True), enc, budget), 1)
    res["dec_zero_copy_ops"] = round(rate(lambda b: cbor.loads(b, zero_copy=True), enc, budget), 1)
    if _MP:
        alloc, live = heap_per_decode(cbor.loads, enc)
        res["heap_alloc_per_decode"] = alloc
        res["decoded_live_bytes"] = live
        alloc, live = heap_per_decode(lambda b: cbor.loads(b, zero_copy=True), enc)
        res["heap_alloc_per_decode_zero_copy"] = alloc
        res["decoded_live_bytes_zero_copy"] = live
    else:
        try:
            import cbor2
        except ImportError:
            cbor2 = None
        if cbor2 is not None:
            obj2 = _to_cbor2(obj, cbor2, cbor.Tag)
            res["cbor2_enc_ops"] = round(rate(lambda o: cbor2.dumps(o, canonical=True), obj2, budget), 1)
            res["cbor2_dec_ops"] = round(rate(cbor2.loads, enc, budget), 1)
            res["same_bytes_as_cbor2_canonical"] = cbor2.dumps(obj2, canonical=True) == enc
    if json is not None:
        print(json.dumps(res))
    else:
        print(repr(res))


main()
