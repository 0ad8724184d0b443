# The MicroPython side of tools/bench/bench_suit.py (the unix port; also
# runs on CPython). Prints one JSON line; exit status 0 only on success, so
# the bench can search for the smallest -X heapsize an update needs.
#
#   micropython bench_suit_mp.py MODE PATHS STATE PUB ENVELOPE_OR_URI [EXTRA]
#
# PATHS: colon-separated folders put in FRONT of sys.path (a folder of
# .mpy compiled from lib/, or the lib/<pkg> source folders), so the current
# lib/ code is measured even when an older copy is frozen into the binary.
# MODE:
#   idle    the device at rest: every module the update uses imported, the
#           SlotPlatform on FileStorage(STATE/suit) built, the trust anchor
#           read; prints gc.mem_alloc() after gc.collect()
#   update  idle, then read ENVELOPE (one buffer of its size),
#           authenticate(detach=True) it (HSS-LMS, PUB = raw HSS public
#           key), let the envelope bytes go, and process_update (payload
#           fetched by CoapFetcher into the staging slot); gc.collect() +
#           gc.mem_alloc() after every fetched block gives the live heap at
#           block boundaries. EXTRA, comma-separated: "nosample" skips the
#           sampling (the heap-limited runs); "keep" keeps the envelope
#           bytes through the update (no detach), as a caller that holds on
#           to them would
#   fetch   CoapFetcher.fetch(URI) into a Writer that only counts: the
#           transfer alone
#   auth    authenticate ENVELOPE EXTRA times (default 20): median ms
#   auth1   idle, then read ENVELOPE and authenticate it once: with the
#           -X heapsize search, the high-water mark of authenticate() alone
#           (the per-phase breakdown of bench_suit.py figure 1)
# A MemoryError prints its traceback on stderr (where the heap ran out).
#
# The imports are collected one by one (gc.collect() after each): loading
# .mpy files from disk leaves garbage between each module's long-lived
# objects, and without a collection in between those objects end up spread
# over the whole heap, a fragmentation of the idle device that the search
# would charge to the update. A firmware has these modules frozen, their
# code not on the heap at all.
import gc
import sys

MODE = sys.argv[1]
for _p in reversed(sys.argv[2].split(":")):
    sys.path.insert(0, _p)

import time  # noqa: E402

import hgstore  # noqa: E402
gc.collect()
import lms  # noqa: E402
gc.collect()
import suit_envelope as se  # noqa: E402
gc.collect()
import suit_processor  # noqa: E402
gc.collect()
from suit_fetch import CoapFetcher  # noqa: E402
gc.collect()
from suit_slots import SlotPlatform  # noqa: E402
gc.collect()

# what authenticate() and CoapFetcher.fetch() import lazily: part of the
# resting device
import cose  # noqa: E402,F401
gc.collect()
import coap_client  # noqa: E402,F401
gc.collect()
import coap_ep  # noqa: E402,F401
gc.collect()
import coap_msg  # noqa: E402,F401
gc.collect()
import coap_udp  # noqa: E402,F401
gc.collect()
import select  # noqa: E402,F401

try:
    _ticks, _diff = time.ticks_us, time.ticks_diff
except AttributeError:  # CPython
    def _ticks():
        return int(time.perf_counter() * 1e6)

    def _diff(a, b):
        return a - b

try:
    _alloc = gc.mem_alloc
except AttributeError:  # CPython has no heap figure
    def _alloc():
        return -1

COMPONENTS = [([b"\x00"], "app", 1 << 20)]
# vendor "arm.com", class "suit" (docs/suit-spec.md), as tools/soak/suit_device.py
IDENTITY = {
    "vendor_id": b"\xfa\x6b\x4a\x53\xd5\xad\x5f\xdf\xbe\x9d\xe6\x63\xe4\xd4\x1f\xfe",
    "class_id": b"\x14\x92\xaf\x14\x25\x69\x5e\x48\xbf\x42\x9b\x2d\x51\xf2\xab\x45",
}


def ms(t0, t1):
    return _diff(t1, t0) / 1000.0


class CountWriter:
    """A Writer that keeps nothing: the fetch figure is the transfer alone."""

    size = 0

    def write(self, buf):
        self.size += len(buf)


def read_exact(path):
    """The file in one buffer of its exact size, as the device gets an
    envelope (a CoAP body announced by Size1 lands in one buffer). A bare
    f.read() grows its buffer step by step on MicroPython and leaves a trail
    of freed pieces that would be counted as the update's heap."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        n = f.tell()
        f.seek(0)
        buf = bytearray(n)
        if f.readinto(buf) != n:
            raise OSError("short read")
    return buf


def main():
    state, pub_path, arg = sys.argv[3], sys.argv[4], sys.argv[5]
    extra = sys.argv[6] if len(sys.argv) > 6 else ""
    flags = extra.split(",")
    with open(pub_path, "rb") as f:
        pub = f.read()
    lms.register_cose()
    samples = [0, 0]  # [max live heap, samples]
    sample = MODE == "update" and "nosample" not in flags

    def progress(done, total):
        if sample:
            gc.collect()
            a = _alloc()
            if a > samples[0]:
                samples[0] = a
            samples[1] += 1

    fetcher = CoapFetcher(timeout_ms=60000, progress=progress)
    pf = SlotPlatform(hgstore.FileStorage(state + "/suit"), COMPONENTS, IDENTITY, fetcher=fetcher)
    gc.collect()
    idle = _alloc()
    if MODE == "idle":
        print('{"idle": %d}' % idle)
        return 0
    if MODE == "fetch":
        w = CountWriter()
        t0 = _ticks()
        fetcher.fetch(arg, w)
        t1 = _ticks()
        print('{"fetch_ms": %.3f, "bytes": %d}' % (ms(t0, t1), w.size))
        return 0
    data = read_exact(arg)
    verify = [se.sign1_verifier(pub, -46)]
    if MODE == "auth1":
        env = se.authenticate(data, verify)
        gc.collect()
        print('{"idle": %d, "held": %d, "seq": %d}' % (idle, _alloc(), env.sequence_number))
        return 0
    if MODE == "auth":
        n = int(extra or "20")
        env = se.authenticate(data, verify)  # warm-up
        ts = []
        for _ in range(n):
            env = None
            gc.collect()
            t0 = _ticks()
            env = se.authenticate(data, verify)
            t1 = _ticks()
            ts.append(ms(t0, t1))
        ts.sort()
        print('{"auth_ms": %.3f, "auth_min_ms": %.3f, "auth_max_ms": %.3f, "n": %d, "envelope": %d}'
              % (ts[len(ts) // 2], ts[0], ts[-1], n, len(data)))
        return 0
    keep = "keep" in flags
    t0 = _ticks()
    if keep:
        env = se.authenticate(data, verify)
    else:
        env = se.authenticate(data, verify, detach=True)
    t1 = _ticks()
    auth_ms = ms(t0, t1)
    if not keep:
        data = None  # the Envelope no longer refers to it (detach)
    gc.collect()
    held = _alloc()  # the authenticated Envelope (and the envelope bytes with "keep")
    t1 = _ticks()
    suit_processor.process_update(env, pf)
    t2 = _ticks()
    gc.collect()
    print('{"idle": %d, "held": %d, "auth_ms": %.3f, "update_ms": %.3f, "sampled_max": %d, '
          '"samples": %d, "after": %d, "seq": %d, "lms": "%s"}' % (
              idle, held, auth_ms, ms(t1, t2), samples[0], samples[1], _alloc(), pf.stored_sequence(),
              lms.BACKEND))
    return 0


try:
    rc = main()
except MemoryError as e:
    if hasattr(sys, "print_exception"):
        sys.print_exception(e, sys.stderr)
    print('{"error": "MemoryError"}')
    rc = 3
except se.SuitError as e:
    print('{"error": "SuitError %d %s"}' % (e.code, e))
    rc = 4
sys.exit(rc)
