#!/usr/bin/env python3
"""EAT benchmark (issue #7): token size per signing mode, time to produce a
token, storage writes per 1000 tokens, leaf budget of the default key.

The device identities are made by eat.provision (lib/eat, run here on
CPython: the same code as on the device) with its defaults: mode "lms" an
HSS key of lms_state's default parameters (2 levels of H10/W4), generated
on the device; mode "mac" HMAC 256/64 (alg 4) or 256/256 (alg 5) with a
32-byte key. Every token carries the same claims (bench_eat_mp.py CLAIMS:
a 32-byte nonce, the UEID, the profile, one measured component with its
CoSWID and manifest reference, bootcount, uptime, dbgstat, swname,
swversion).

1. Token size in bytes per mode (CWT tag 61 around COSE_Sign1 / COSE_Mac0).
2. Time to produce a token (Attester.attest) on the MicroPython unix port:
   the key is provisioned on the host into a FileStorage folder, which the
   device script (tools/bench/bench_eat_mp.py, lib/ compiled to .mpy in
   front of sys.path) loads; median of --tokens tokens. On the qemu image
   (64 KiB RAM): the MAC modes (and HSS-LMS with a small 1-level H5 key,
   since the default key's node caches, 2 x 64 KiB, do not fit its RAM),
   when eat is frozen in the image or its .mpy fits in RAM beside the rest.
3. Storage writes per 1000 tokens (hgstore.CountingStorage): from a freshly
   loaded key, and averaged over --long tokens (crossing lower-tree
   boundaries: a new H10 tree every 1024 signatures).
4. Leaf budget of the default device key: the product of 2^h over its
   levels (and lms_state's remaining() right after provisioning).

Every figure is printed (Markdown tables) and recorded (tools/bench/results.py).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(ROOT, ".venv", "bin")
PROBE = os.path.join(HERE, "bench_eat_mp.py")
sys.path.insert(0, HERE)
from results import machine, record  # noqa: E402

PKGS = ("cbor", "cose", "hgcrypto", "hgstore", "lms", "eat")
for _p in PKGS:
    sys.path.append(os.path.join(ROOT, "lib", _p))
sys.path.insert(0, os.path.join(ROOT, "tools"))  # hourglass.lms_host: the C LMS on CPython

import eat  # noqa: E402
import hgstore  # noqa: E402
import lms  # noqa: E402
import lms_state  # noqa: E402

MODES = (("HSS-LMS (alg -46)", "lms", None), ("HMAC 256/64 (alg 4)", "mac", eat.ALG_HMAC_256_64),
         ("HMAC 256/256 (alg 5)", "mac", eat.ALG_HMAC_256_256))

QEMU_EAT = r'''
import hgstore
st = hgstore.MemoryStorage(data=dict((k[2:], bytes(_D.pop(k))) for k in list(_D) if k.startswith("r:")))
ident = eat.load_identity(st)
COMPONENTS = [{"cid": [b"\x00"], "name": "app", "slot": 0, "digest": b"\x11" * 32, "size": 262144,
               "sequence": 1, "manifest_digest": b"\x22" * 32}]
att = eat.Attester(ident, eat.load_signer(st, ident), measure=lambda: COMPONENTS, bootcount=3,
                   uptime=1234, dbgstat=2, swname="hourglass", swversion=["0.1.0", 16384])
nonce = bytearray(32)
tok = att.attest(bytes(nonce))
ts = []
for i in range(%(n)d):
    nonce[0] = i
    tok = None
    gc.collect()
    t0 = time.ticks_us()
    tok = att.attest(bytes(nonce))
    ts.append(time.ticks_diff(time.ticks_us(), t0))
ts.sort()
gc.collect()
print('{"median_ms": %%.3f, "max_ms": %%.3f, "n": %%d, "size": %%d, "free": %%d}' %% (
    ts[len(ts) // 2] / 1000, ts[-1] / 1000, len(ts), len(tok), gc.mem_free()))
'''


def rand_from(seed):
    """Deterministic rand(n) (the figures do not depend on the key bytes)."""
    import hashlib

    state = [0]

    def rand(n):
        out = b""
        while len(out) < n:
            state[0] += 1
            out += hashlib.sha256(seed + state[0].to_bytes(4, "big")).digest()
        return out[:n]

    return rand


def claims():
    """The Attester keywords bench_eat_mp.py uses (read from it, one source)."""
    src = open(PROBE).read()
    start = src.index("COMPONENTS = ")
    end = src.index("\n\n", src.index("CLAIMS = "))
    scope = {}
    exec(src[start:end], scope)
    return scope["CLAIMS"]


def provision(st, mode, alg, lms_params=None):
    kw = {"mode": mode, "rand": rand_from(b"bench-eat-" + mode.encode())}
    if alg is not None:
        kw["mac_alg"] = alg
    if lms_params is not None:
        kw["lms_params"] = lms_params
    return eat.provision(st, **kw)


def compile_lib(mpy_cross, out):
    for pkg in PKGS:
        d = os.path.join(ROOT, "lib", pkg)
        for name in sorted(os.listdir(d)):
            if not name.endswith(".py") or name == "manifest.py":
                continue
            r = subprocess.run([mpy_cross, "-O1", "-o", os.path.join(out, name[:-3] + ".mpy"), "-s",
                                name, os.path.join(d, name)], capture_output=True, text=True)
            if r.returncode:
                raise RuntimeError("mpy-cross %s: %s" % (name, r.stderr))


def records(st):
    """{name: bytes} of a MemoryStorage."""
    return {k: bytes(v) for k, v in st.durable.items()}


def qemu_tokens(elf, recs, mpy_path, n):
    """Tokens on the qemu image: (result dict or None, note)."""
    import bench_suit as bs

    ok, text = bs.qemu_session(elf, [bs.QEMU_SETUP, "try:\n import eat\n print('FROZEN')\n"
                                                    "except ImportError:\n print('NOT-FROZEN')\n"])
    if not ok:
        return None, "qemu did not answer: " + text.strip()[-200:]
    frozen = "NOT-FROZEN" not in text
    chunks = [bs.QEMU_SETUP, "import hgcrypto, cbor, cose, lms, hgstore\ngc.collect()"]
    for k in sorted(recs):
        chunks += bs.qemu_data_chunks("r:" + k, recs[k])
    if frozen:
        chunks.append("import eat")
    else:
        with open(mpy_path, "rb") as f:
            chunks += bs.qemu_data_chunks("eat.mpy", f.read())
        chunks.append(bs.QEMU_IMPORT % {"mods": ["eat.mpy"], "imports": "import eat"})
    chunks.append(QEMU_EAT % {"n": n})
    ok, text = bs.qemu_session(elf, chunks)
    lines = [l for l in text.splitlines() if l.startswith("{")]
    where = "eat frozen" if frozen else "eat .mpy loaded into RAM (not frozen in this image)"
    if ok and lines:
        return json.loads(lines[-1]), where
    return None, "%s: %s" % (where, text.strip().replace("\r", "").replace("\n", " ")[-240:])


def writes_per_tokens(n, skip=0):
    """(writes, bytes written) by n tokens of a fresh default LMS device,
    after `skip` tokens not counted."""
    st = hgstore.MemoryStorage()
    provision(st, "lms", None)
    cst = hgstore.CountingStorage(st)
    ident = eat.load_identity(cst)
    att = eat.Attester(ident, eat.load_signer(cst, ident), **claims())
    nonce = bytearray(32)
    for i in range(skip):
        att.attest(bytes(nonce))
    cst.reset()
    for i in range(n):
        nonce[0] = i & 255
        att.attest(bytes(nonce))
    return cst.writes, cst.write_bytes, dict(cst.per_name)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--micropython", default=os.path.join(ROOT, "build", "unix", "micropython"))
    ap.add_argument("--pypi-micropython", default=os.path.join(VENV, "micropython"))
    ap.add_argument("--qemu-elf", default=os.path.join(ROOT, "build", "qemu_an386", "firmware.elf"),
                    help="the 64 KiB Cortex-M4 image ('' skips it)")
    ap.add_argument("--mpy-cross", default=os.path.join(VENV, "mpy-cross"))
    ap.add_argument("--tokens", type=int, default=50, help="tokens per timing run (default 50)")
    ap.add_argument("--long", type=int, default=3072,
                    help="tokens for the long-run storage-write average (default 3072)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--json", action="store_true", help="also print the raw results as JSON")
    args = ap.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="bench_eat_")
    out = {"machine": machine(), "lms_backend_host": lms.BACKEND}
    try:
        print("## EAT benchmark\n")
        print("Machine: %s. Claims: 32-byte nonce, UEID, profile, one measured component, bootcount, "
              "uptime, dbgstat, swname, swversion.\n" % machine())
        # ---------------------------------------------- 1. sizes (host, same lib code)
        sizes = {}
        nonce = bytes(32)
        for label, mode, alg in MODES:
            st = hgstore.MemoryStorage()
            provision(st, mode, alg)
            ident = eat.load_identity(st)
            att = eat.Attester(ident, eat.load_signer(st, ident), **claims())
            tok = att.attest(nonce)
            eat.verify(bytes(tok), provision_key(st, mode, alg, ident), nonce)
            sizes[label] = len(tok)
        out["sizes"] = sizes

        # ---------------------------------------------- 4. leaf budget
        st = hgstore.MemoryStorage()
        provision(st, "lms", None)
        signer = lms_state.load(st)
        info = signer.info()
        hs = [lms.LMS_PARAMS[p[0]][3] for p in info["params"]]
        budget = 1
        for h in hs:
            budget *= 1 << h
        out["budget"] = {"params": [(lms.param_name(p[0]), lms.param_name(p[1], ots=True)) for p in info["params"]],
                         "budget": budget, "remaining": signer.remaining()}

        # ---------------------------------------------- 3. storage writes
        w1000, b1000, per1000 = writes_per_tokens(1000)
        wl, bl, _ = writes_per_tokens(args.long)
        mac_writes = None
        st = hgstore.MemoryStorage()
        provision(st, "mac", eat.ALG_HMAC_256_256)
        cst = hgstore.CountingStorage(st)
        ident = eat.load_identity(cst)
        att = eat.Attester(ident, eat.load_signer(cst, ident), **claims())
        cst.reset()
        for i in range(1000):
            att.attest(bytes(32))
        mac_writes = cst.writes
        out["writes"] = {"lms_1000": w1000, "lms_1000_bytes": b1000, "per_name": per1000,
                         "lms_long": wl, "lms_long_bytes": bl, "mac_1000": mac_writes}

        # ---------------------------------------------- 2. time per token
        mpy = os.path.join(tmp, "mpy")
        os.mkdir(mpy)
        compile_lib(args.mpy_cross, mpy)
        mps = [(label, path) for label, path in (
            ("build/unix/micropython", args.micropython),
            ("PyPI micropython (.venv)", args.pypi_micropython)) if path and os.path.exists(path)]
        times = []
        for label, mode, alg in MODES:
            for rlabel, mp in mps:
                d = os.path.join(tmp, "dev-%s-%s-%d" % (mode, alg, len(times)))
                os.mkdir(d)
                provision(hgstore.FileStorage(os.path.join(d, "eat")), mode, alg)
                p = subprocess.run([mp, PROBE, mpy, os.path.join(d, "eat"), str(args.tokens)],
                                   capture_output=True, text=True, timeout=300)
                lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
                if p.returncode or not lines:
                    raise RuntimeError("%s %s: %s" % (rlabel, label, (p.stdout + p.stderr)[-400:]))
                r = json.loads(lines[-1])
                times.append((label, rlabel, _rel(mp), r, "default key" if mode == "lms" else ""))
        qemu_notes = []
        if args.qemu_elf and os.path.exists(args.qemu_elf):
            qmodes = [(l, m, a, None, "") for l, m, a in MODES if m == "mac"]
            qmodes.append(("HSS-LMS (alg -46)", "lms", None,
                           [(lms.LMS_SHA256_M32_H5, lms.LMOTS_SHA256_N32_W4)],
                           "1-level H5/W4 key (default key's node caches do not fit 64 KiB)"))
            for label, mode, alg, params, what in qmodes:
                st = hgstore.MemoryStorage()
                provision(st, mode, alg, params)
                r, where = qemu_tokens(args.qemu_elf, records(st), os.path.join(mpy, "eat.mpy"),
                                       min(args.tokens, 20))
                if r is None:
                    qemu_notes.append((label, where))
                    continue
                times.append((label, "qemu mps2-an386 (Cortex-M4, 64 KiB)", "qemu mps2-an386", r,
                              "; ".join(x for x in (what, where) if x)))
        else:
            qemu_notes.append(("every mode", "no qemu image (%s)" % (args.qemu_elf or "skipped")))
        out["times"] = times

        # ---------------------------------------------- print + record
        print("### 1. Token size\n")
        print("| signing mode | bytes |")
        print("|---|---:|")
        for label, _, _ in MODES:
            print("| %s | %d |" % (label, sizes[label]))
            record("eat", "token size, %s" % label, sizes[label], "B",
                   note="CWT 61 + COSE; claims: 32-byte nonce, UEID, profile, 1 component, bootcount, "
                        "uptime, dbgstat, swname, swversion; LMS: default key (2 levels H10/W4)")
        print()
        print("### 2. Time to produce a token (Attester.attest, median of %d)\n" % args.tokens)
        print("| signing mode | runtime | ms median | ms mean | ms max | token B | note |")
        print("|---|---|---:|---:|---:|---:|---|")
        for label, rlabel, runtime, r, note in times:
            print("| %s | %s | %.2f | %s | %.2f | %d | %s |" % (
                label, rlabel, r["median_ms"], "%.2f" % r["mean_ms"] if "mean_ms" in r else "-",
                r["max_ms"], r["size"], note))
            record("eat", "time per token, %s" % label, r["median_ms"], "ms", runtime=runtime,
                   note="median of %d; max %.2f ms%s%s" % (
                       r["n"], r["max_ms"], "; " + note if note else "",
                       "; emulated: not a real Cortex-M4's time" if runtime.startswith("qemu") else ""))
        for label, why in qemu_notes:
            print("\nqemu, not measured: %s: %s" % (label, why))
            record("eat", "time per token, %s (not measured)" % label, None, "ms",
                   runtime="qemu mps2-an386", note=why)
        print()
        print("### 3. Storage writes (hgstore.CountingStorage)\n")
        print("| what | writes | bytes written |")
        print("|---|---:|---:|")
        print("| HSS-LMS, first 1000 tokens after loading the key (%s) | %d | %d |" % (
            ", ".join("%s: %d" % (k, v[0]) for k, v in sorted(per1000.items())), w1000, b1000))
        print("| HSS-LMS, per 1000 tokens averaged over %d (new lower trees included) | %.1f | %.0f |" % (
            args.long, wl * 1000.0 / args.long, bl * 1000.0 / args.long))
        print("| HMAC 256/256 (and 256/64), 1000 tokens | %d | 0 |" % mac_writes)
        record("eat", "storage writes per 1000 tokens, HSS-LMS", w1000, "writes",
               note="first 1000 tokens of a loaded default key (leaf reservations of %d); %d bytes" % (
                   lms_state.DEFAULT_CHUNK, b1000))
        record("eat", "storage writes per 1000 tokens, HSS-LMS, long run", wl * 1000.0 / args.long,
               "writes", note="average over %d tokens, new 1024-leaf lower trees included; %.0f bytes "
                              "per 1000" % (args.long, bl * 1000.0 / args.long))
        record("eat", "storage writes per 1000 tokens, HMAC", mac_writes, "writes")
        print()
        b = out["budget"]
        print("### 4. Leaf budget of the default device key\n")
        print("%s: %s signatures (product of 2^h over the levels); remaining() after provisioning: %d\n"
              % (" over ".join("%s/%s" % p for p in b["params"]), b["budget"], b["remaining"]))
        record("eat", "leaf budget of the default device key", b["budget"], "signatures",
               note="%s; remaining() after provisioning %d" % (
                   " over ".join("%s/%s" % p for p in b["params"]), b["remaining"]))
        if args.json:
            print(json.dumps(out, indent=1, default=str))
    finally:
        if args.keep:
            print("kept %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


def provision_key(st, mode, alg, ident):
    """The verification key for a device provisioned in st (sanity check of
    every size figure: the token must verify)."""
    if mode == "mac":
        return eat.mac_cose_key(ident["mac_key"], alg, ident["ueid"])
    return lms.encode_cose_key(lms_state.load(st).public_key, kid=ident["ueid"])


def _rel(p):
    return os.path.relpath(p, ROOT) if os.path.isabs(p) and p.startswith(ROOT) else p


if __name__ == "__main__":
    sys.exit(main())
