#!/usr/bin/env python3
"""OSCORE benchmark: server CPU per request, heap per request, storage writes.

1. Server CPU per OSCORE request: one CPython load generator (the device's
   own oscore core as the client: protect, send, wait, verify; sequential)
   sends GET /hello to each server on loopback; the figure is the server
   process's utime+stime (/proc, 10 ms ticks) during the load divided by the
   requests. Servers: lib/oscore/oscore_demo.py on build/unix/micropython and
   on the PyPI micropython (.venv), and a minimal aiocoap OSCORE server
   (CPython, OscoreSiteWrapper) with the same context. A plain-CoAP GET
   /public on our server gives the OSCORE overhead. Goal: ours <= 1/3 of
   aiocoap's.
2. Heap bytes allocated per protected request under MicroPython: the
   sans-I/O server (Endpoint + OSCOREServer + Server) is fed protected GET
   datagrams with gc disabled, gc.mem_alloc() read around each; the part
   spent inside hgcrypto.aes_ccm_encrypt/decrypt is measured separately.
   --qemu-elf runs the same probe on the 64 KiB Cortex-M4 image (it must
   have coap and oscore frozen in). Goal: <= 2 KB.
3. Storage writes per 1000 requests (the Appendix B.1.1 reservations), in
   process: a server answering 1000 requests after a restart, a client
   sending 1000, a server sending 1000 notifications.

Prints a Markdown table."""
import sys

# ---------------------------------------------------------------- heap probe (MicroPython)
# micropython bench_oscore.py --heap-probe LIBROOT   (LIBROOT "-": modules are frozen)
PROBE = r"""
import gc
import coap_msg as m
import oscore
from coap_ep import Endpoint
from coap_server import Server
from oscore_server import OSCOREServer

MS = b"0123456789abcdef"
cl = oscore.SecurityContext(MS, b"\xc1", b"\xd1")
sv = oscore.SecurityContext(MS, b"\xd1", b"\xc1")
srv = Server()
osrv = OSCOREServer(srv, oscore.Contexts([sv]))
osrv.add("hello", lambda req: m.response(m.CONTENT, b"Hello, OSCORE!", m.CF_TEXT))
ep = Endpoint(server=osrv, rand=lambda n: bytes(n), dedup_bytes=1024)
ccm = [0]
_enc = oscore.hgcrypto.aes_ccm_encrypt
_dec = oscore.hgcrypto.aes_ccm_decrypt


class _Spy:
    # counts the bytes allocated inside the AEAD (gc is disabled meanwhile)
    def aes_ccm_encrypt(self, *a):
        x = gc.mem_alloc()
        r = _enc(*a)
        ccm[0] += gc.mem_alloc() - x
        return r

    def aes_ccm_decrypt(self, *a):
        x = gc.mem_alloc()
        r = _dec(*a)
        ccm[0] += gc.mem_alloc() - x
        return r

    CryptoError = oscore.hgcrypto.CryptoError
    ct_equal = staticmethod(oscore.hgcrypto.ct_equal)


def req(i):
    msg = m.Message(m.CON, m.GET, i + 1, bytes((i & 255, 1, 2, 3)), None).set_path("hello")
    return oscore.protect_request(cl, msg)[0].encode()


for i in range(4):  # warm up (lazy tables, first-call allocations)
    ep.receive(req(i), 1, 0)
oscore.hgcrypto = _Spy()
tot = []
inner = []
for i in range(4, 20):
    d = req(i)
    ccm[0] = 0
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    out = ep.receive(d, 1, 0)
    b = gc.mem_alloc()
    gc.enable()
    assert len(out) == 1
    out = None
    tot.append(b - a)
    inner.append(ccm[0])
tot.sort()
inner.sort()
print('{"heap_per_request": %d, "heap_in_ccm": %d, "heap_max": %d}' % (tot[len(tot) // 2], inner[len(inner) // 2], tot[-1]))
"""

if len(sys.argv) > 2 and sys.argv[1] == "--heap-probe":
    if sys.argv[2] != "-":
        for _p in ("coap", "hgcrypto", "cbor", "oscore"):
            sys.path.append(sys.argv[2] + "/" + _p)
    exec(PROBE)
    sys.exit(0)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB = os.path.join(ROOT, "lib")
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results import record  # noqa: E402  (rows for make bench / BENCHMARKS.md)
for _p in ("coap", "hgcrypto", "cbor", "oscore", "hgstore"):
    sys.path.append(os.path.join(LIB, _p))

import coap_msg  # noqa: E402
import oscore  # noqa: E402
from hgstore import CountingStorage  # noqa: E402
from hourglass import oscore_cmd  # noqa: E402

AIOCOAP_SERVER = r"""
import asyncio, json, sys
import aiocoap, aiocoap.resource as resource
from aiocoap.credentials import CredentialsMap
from aiocoap.oscore_sitewrapper import OscoreSiteWrapper

class Hello(resource.Resource):
    async def render_get(self, request):
        return aiocoap.Message(payload=b"Hello, OSCORE!", content_format=0)

async def main():
    root = resource.Site()
    root.add_resource(["hello"], Hello())
    creds = CredentialsMap()
    creds.load_from_dict(json.load(open(sys.argv[1])))
    await aiocoap.Context.create_server_context(OscoreSiteWrapper(root, creds),
                                                bind=("127.0.0.1", int(sys.argv[2])),
                                                server_credentials=creds)
    print("serving", flush=True)
    await asyncio.get_running_loop().create_future()

asyncio.run(main())
"""


def _ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def _wait_line(proc, word, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if word in line:
            return
    raise RuntimeError("server did not start")


class LoadClient:
    """Sequential OSCORE GETs with the device's core as the client."""

    def __init__(self, ctx, port):
        self.ctx = ctx
        self.addr = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(5)
        self.mid = 1

    def get(self, path, protect=True):
        echo = None
        for _ in range(3):
            self.mid = (self.mid + 1) & 0xFFFF
            msg = coap_msg.Message(coap_msg.CON, coap_msg.GET, self.mid, self.mid.to_bytes(2, "big"))
            msg.set_path(path)
            if echo is not None:
                msg.add(coap_msg.ECHO, echo)
            if protect:
                out, b = oscore.protect_request(self.ctx, msg)
            else:
                out = msg
            self.sock.sendto(out.encode(), self.addr)
            while True:
                data = self.sock.recv(2048)
                resp = coap_msg.decode(data)
                if resp.mid == self.mid:
                    break
            if not protect:
                return resp
            plain = oscore.unprotect_response(b, resp)
            if plain.code == coap_msg.UNAUTHORIZED and plain.opt(coap_msg.ECHO) is not None:
                echo = plain.opt(coap_msg.ECHO)
                continue
            return plain
        raise RuntimeError("no answer")

    def close(self):
        self.sock.close()


def _client_ctx(params):
    s = oscore._params_static(params)
    # the peer's side: sender = peer_id, recipient = device_id
    return oscore.SecurityContext(s[2], s[5], s[4], s[3], s[6], s[1], s[7])


def measure_cpu(label, proc, client, n, path="hello", protect=True):
    for _ in range(50):  # warm up (and Echo recovery)
        r = client.get(path, protect)
        if r.code != coap_msg.CONTENT:
            raise RuntimeError("%s: %s" % (label, coap_msg.code_str(r.code)))
    t0 = _ticks(proc.pid)
    w0 = time.perf_counter()
    for _ in range(n):
        client.get(path, protect)
    wall = time.perf_counter() - w0
    dt = _ticks(proc.pid) - t0
    tick = os.sysconf("SC_CLK_TCK")
    return dt / tick / n * 1e6, wall / n * 1e6


def cpu_figures(n, micropythons):
    rows = []
    tmp = tempfile.mkdtemp(prefix="bench-oscore-")
    params = oscore_cmd.new_context(name="dev", device_id=b"\xd1", peer_id=b"\xc1")
    prov = os.path.join(tmp, "dev.json")
    oscore_cmd._write(prov, params, private=True)
    demo = os.path.join(LIB, "oscore", "oscore_demo.py")
    for label, mp in micropythons:
        port = _free_port()
        state = os.path.join(tmp, "state-" + os.path.basename(mp))
        p = subprocess.Popen([mp, demo, "server", "--state", state, "--provision", prov, "--host",
                              "127.0.0.1", "--port", str(port), "--interval", "3600000"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            _wait_line(p, "serving")
            cl = LoadClient(_client_ctx(params), port)
            cpu, wall = measure_cpu(label, p, cl, n)
            rows.append((label + " (OSCORE GET)", cpu, wall))
            cpu2, wall2 = measure_cpu(label, p, cl, n, "public", False)
            rows.append((label + " (plain GET /public)", cpu2, wall2))
            cl.close()
        finally:
            p.kill()
            p.wait()
    # aiocoap's OSCORE server with the same context (server role credentials)
    creds = oscore_cmd.to_aiocoap(params, os.path.join(tmp, "aio"), "server")
    script = os.path.join(tmp, "aiocoap_server.py")
    with open(script, "w") as f:
        f.write(AIOCOAP_SERVER)
    port = _free_port()
    p = subprocess.Popen([sys.executable, script, creds, str(port)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        _wait_line(p, "serving")
        # aiocoap's side of this context is its own: its settings use
        # sender = peer_id, so our load client is the device's side here
        s = oscore._params_static(params)
        ctx = oscore.SecurityContext(s[2], s[4], s[5], s[3], s[6], s[1], s[7])
        cl = LoadClient(ctx, port)
        cpu, wall = measure_cpu("aiocoap", p, cl, n)
        rows.append(("aiocoap 0.4.17 OSCORE server (CPython)", cpu, wall))
        cl.close()
    finally:
        p.kill()
        p.wait()
    return rows


def heap_figures(micropythons, qemu_elf):
    rows = []
    for label, mp in micropythons:
        p = subprocess.run([mp, os.path.abspath(__file__), "--heap-probe", LIB], capture_output=True,
                           text=True, timeout=120)
        line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr
        rows.append((label, json.loads(line)))
    if qemu_elf:
        script = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
        script.write(PROBE)
        script.close()
        p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_qemu.py"), "--elf", qemu_elf,
                            script.name], capture_output=True, text=True, timeout=300)
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        if lines:
            rows.append(("qemu mps2-an386 (Cortex-M4, 64 KiB)", json.loads(lines[-1])))
        else:
            rows.append(("qemu mps2-an386 (Cortex-M4, 64 KiB)", {"error": (p.stdout + p.stderr)[-300:]}))
    return rows


def storage_figures(n=1000):
    dev = {"master_secret": "00" * 16, "device_id": "d1", "peer_id": "c1"}
    host = {"master_secret": "00" * 16, "device_id": "c1", "peer_id": "d1"}
    out = []
    # server after a restart: n requests, one Echo recovery
    st = CountingStorage()
    oscore.provision(st, "dev", dev)
    cst = CountingStorage()
    oscore.provision(cst, "host", host)
    st.reset()
    cst.reset()
    server = oscore.load(st, "dev")
    client = oscore.load(cst, "host")
    echo = None
    done = 0
    while done < n:
        msg = coap_msg.Message(coap_msg.CON, coap_msg.GET, 1, b"t").set_path("x")
        if echo is not None:
            msg.add(coap_msg.ECHO, echo)
            echo = None
        req, cb = oscore.protect_request(client, msg)
        plain, sb = oscore.unprotect_request([server], req)
        if sb.echo_needed:
            echo = oscore.unprotect_response(cb, oscore.protect_response(sb, oscore.echo_challenge(sb))).opt(coap_msg.ECHO)
            continue
        oscore.unprotect_response(cb, oscore.protect_response(sb, coap_msg.response(coap_msg.CONTENT, b"ok")))
        done += 1
    out.append(("server: %d requests after a restart (Echo recovery included)" % n, st.writes))
    out.append(("client: its first %d requests after a restart" % n, cst.writes))
    # steady state: the next n client requests
    cst.reset()
    for _ in range(n):
        oscore.protect_request(client, coap_msg.Message(coap_msg.CON, coap_msg.GET, 1, b"t").set_path("x"))
    out.append(("client: the next %d requests (reservations of %d)" % (n, oscore.MAX_CHUNK), cst.writes))
    # notifications: n of them on one observation
    st.reset()
    msg = coap_msg.Message(coap_msg.CON, coap_msg.GET, 1, b"o").set_path("x").add(coap_msg.OBSERVE, 0)
    req, cb = oscore.protect_request(client, msg)
    plain, sb = oscore.unprotect_request([server], req)
    for i in range(n):
        note = coap_msg.response(coap_msg.CONTENT, b"n").add(coap_msg.OBSERVE, i + 2)
        oscore.unprotect_response(cb, oscore.protect_response(sb, note))
    out.append(("server: %d notifications" % n, st.writes))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=5000, help="requests per server (default 5000)")
    ap.add_argument("--qemu-elf", default=None, help="also probe the heap on this qemu image")
    ap.add_argument("--skip-cpu", action="store_true")
    args = ap.parse_args(argv)
    mps = []
    for label, path in (("build/unix/micropython (1.25 + C modules)", os.path.join(ROOT, "build", "unix", "micropython")),
                        ("PyPI micropython 1.29 (pure Python)", os.path.join(ROOT, ".venv", "bin", "micropython"))):
        if os.path.exists(path):
            mps.append((label, path))
    print("## OSCORE benchmark\n")
    if not args.skip_cpu:
        rows = cpu_figures(args.requests, mps)
        aio_row = [r for r in rows if r[0].startswith("aiocoap")][0]
        aio, aio_label = aio_row[1], aio_row[0]
        print("Server CPU per request (utime+stime, %d sequential GETs on loopback):\n" % args.requests)
        print("| server | CPU us/request | wall us/request | vs aiocoap |")
        print("|---|---:|---:|---:|")
        for label, cpu, wall in rows:
            print("| %s | %.1f | %.1f | %.2f |" % (label, cpu, wall, cpu / aio if aio else 0))
            if label.startswith("aiocoap"):
                continue  # the anchor of the other rows
            oscore_row = "(OSCORE GET)" in label
            record("oscore", label, cpu, "us CPU/request",
                   aio_label if oscore_row else None, aio if oscore_row else None,
                   goal="ratio <= 1/3" if oscore_row else None,
                   note="%d sequential GETs, loopback; wall %.1f us/request%s" % (
                       args.requests, wall, "" if oscore_row else "; plain CoAP: the OSCORE overhead"))
        print()
    print("Heap allocated per protected GET (server side: verify, dispatch, protect, encode):\n")
    print("| runtime | bytes/request (median) | of which in AES-CCM | max |")
    print("|---|---:|---:|---:|")
    for label, h in heap_figures(mps, args.qemu_elf):
        if "error" in h:
            print("| %s | error: %s | | |" % (label, h["error"].replace("\n", " ")))
        else:
            print("| %s | %d | %d | %d |" % (label, h["heap_per_request"], h["heap_in_ccm"], h["heap_max"]))
            record("heap", "OSCORE protected GET through the server core", h["heap_per_request"], "B",
                   goal="value <= 2048", runtime=label,
                   note="median; %d B in AES-CCM, max %d B" % (h["heap_in_ccm"], h["heap_max"]))
    print()
    print("Storage writes (sequence number reservations, Appendix B.1.1):\n")
    print("| what | writes |")
    print("|---|---:|")
    for label, w in storage_figures():
        print("| %s | %d |" % (label, w))
        record("oscore", "storage writes, " + label, w, "writes",
               note="sequence number reservations (RFC 8613 Appendix B.1.1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
