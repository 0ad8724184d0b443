# OSCORE interop with aiocoap (CPython), the device on the MicroPython unix
# port (lib/oscore/oscore_demo.py):
#   aiocoap client -> our server: GET, POST, plain CoAP to a protected
#     resource, Observe, a 64 KiB Block1 upload, Block2, 100 concurrent
#     requests delivered out of order, kill -9 of the device mid-session and
#     a restart after which the same aiocoap client context keeps working
#     (Echo recovery, Appendix B.1.2) - with every datagram captured by a
#     UDP relay and no AEAD (key, nonce) pair used for two different
#     ciphertexts;
#   our client (unix port) -> aiocoap's OSCORE server: GET, POST, Observe,
#     a Block1 upload;
#   Outer Block2 (RFC 8613 4.1.3.4.2): a device started with --outer-szx 5
#     sends its protected responses in 512-byte blocks of the OSCORE
#     message; aiocoap's client (which does block-wise on both layers: its
#     OSCORE transport hands the protected request to a BlockwiseRequest)
#     and our client (unix port) both GET a 4 KiB resource through it.
# Credentials on both sides come from one provisioning file through
# `hourglass oscore` (tools/hourglass/oscore_cmd.py).
import asyncio
import hashlib
import json
import os
import random
import subprocess
import sys
import textwrap
import time

import pytest

import coap_msg
import oscore
from hourglass import oscore_cmd
from procs import free_udp_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "lib", "oscore", "oscore_demo.py")

try:
    import aiocoap
    import aiocoap.defaults

    _MISSING = aiocoap.defaults.oscore_missing_modules()
except ImportError:
    aiocoap = None
    _MISSING = ["aiocoap"]

pytestmark = pytest.mark.skipif(bool(_MISSING), reason="aiocoap OSCORE support needs: %s" % _MISSING)


def _micropython():
    for p in (os.environ.get("HG_MICROPYTHON"), os.path.join(ROOT, "build", "unix", "micropython"),
              os.path.join(ROOT, ".venv", "bin", "micropython")):
        if p and os.path.exists(p):
            return p
    pytest.skip("no MicroPython unix binary")


class Device:
    """The OSCORE demo server on the unix port, as a subprocess."""

    def __init__(self, tmp, prov, port, extra=()):
        provs = prov if isinstance(prov, (list, tuple)) else [prov]
        self.args = [_micropython(), DEMO, "server", "--state", str(tmp / "state"), "--port",
                     str(port), "--host", "127.0.0.1", "--interval", "200"] + list(extra)
        for p in provs:
            self.args += ["--provision", str(p)]
        self.port = port
        self.log = str(tmp / "device.log")
        self.proc = None

    def start(self):
        self.out = open(self.log, "a")
        self.proc = subprocess.Popen(self.args, stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            with open(self.log) as f:
                if f.read().count("serving") >= self.starts + 1:
                    self.starts += 1
                    return
            time.sleep(0.05)
        raise RuntimeError("device did not start: " + open(self.log).read())

    starts = 0

    def kill9(self):
        self.proc.kill()  # SIGKILL
        self.proc.wait()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


class Relay(asyncio.DatagramProtocol):
    """UDP relay between the aiocoap client and the device: records every
    datagram ("S" to the device, "C" to the client); shuffle=True acknowledges
    CON requests itself, forwards them as NON, delays them a little and
    releases them in random order (in groups of at most `group`)."""

    def __init__(self, device_port, shuffle=False, group=12):
        self.device = ("127.0.0.1", device_port)
        self.log = []
        self.shuffle = shuffle
        self.group = group
        self.pending = []
        self.client = None
        self.reordered = 0

    async def start(self):
        loop = asyncio.get_running_loop()
        relay = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                relay.log.append(("C", data))
                if relay.client is not None:
                    relay.front.sendto(data, relay.client)

        self.front, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self.back, _ = await loop.create_datagram_endpoint(Back, local_addr=("127.0.0.1", 0))
        self.port = self.front.get_extra_info("sockname")[1]

    def datagram_received(self, data, addr):
        self.client = addr
        if not self.shuffle:
            self._to_device(data)
            return
        if data[0] & 0x30 == 0 and 0 < data[1] < 32:
            # aiocoap keeps one CON request in flight per server (NSTART=1):
            # acknowledge it here (a message-layer hop, like an OSCORE-unaware
            # proxy) and pass it on as NON, so the next one can come
            self.front.sendto(bytes((0x60, 0, data[2], data[3])), addr)
            data = bytes((data[0] | 0x10,)) + data[1:]
        self.pending.append(data)
        if len(self.pending) == 1:
            asyncio.get_running_loop().call_later(0.01, self._flush)
        if len(self.pending) >= self.group:
            self._flush()

    def _flush(self):
        batch = self.pending
        self.pending = []
        order = list(range(len(batch)))
        random.shuffle(order)
        self.reordered += sum(1 for i, j in enumerate(order) if i != j)
        for i in order:
            self._to_device(batch[i])

    def _to_device(self, data):
        self.log.append(("S", data))
        self.back.sendto(data, self.device)

    def close(self):
        self.front.close()
        self.back.close()


def _provision(tmp, **kw):
    params = oscore_cmd.new_context(**kw)
    path = tmp / ("%s.json" % params["name"])
    oscore_cmd._write(str(path), params, private=True)
    return params, path


def _nonce_check(log, params):
    """Every OSCORE message on the wire: (direction key, nonce) -> the set of
    ciphertexts. Retransmissions repeat a ciphertext; a nonce reused for
    another ciphertext would be a disaster. Outer Block2 blocks are joined
    into their message first (block requests carry the OSCORE option of
    the request they repeat, and no payload). Returns the number of
    distinct (key, nonce) pairs."""
    dev_id = bytes.fromhex(params["device_id"])
    seen = {}
    req_by_token = {}
    partial = {}
    for to, data in log:
        try:
            msg = coap_msg.decode(data)
        except coap_msg.CoAPError:
            continue
        ov = msg.opt(coap_msg.OSCORE)
        if ov is None:
            continue
        piv, kid, _ = oscore.decode_option(ov)
        if to == "S":
            req_by_token[bytes(msg.token)] = (kid, piv)
        if not msg.payload:
            continue
        if to == "S":
            key = ("client", kid, piv)
        elif piv is not None:
            key = ("server", dev_id, piv)
        else:
            kid_r, piv_r = req_by_token[bytes(msg.token)]
            key = ("server", kid_r, piv_r)  # the request nonce, under the server's key
        b2 = msg.block2() if to == "C" else None
        if b2 is not None:
            num, more, szx = b2
            parts = partial.setdefault(key, {})
            parts[num << (szx + 4)] = bytes(msg.payload)
            if more:
                continue
            ct = b"".join(parts[o] for o in sorted(parts))
            del partial[key]
        else:
            ct = bytes(msg.payload)
        seen.setdefault(key, set()).add(ct)
    for key, cts in seen.items():
        assert len(cts) == 1, "nonce %r used for %d ciphertexts" % (key, len(cts))
    return len(seen)


async def _client_context(creds):
    ctx = await aiocoap.Context.create_client_context()
    with open(creds) as f:
        ctx.client_credentials.load_from_dict(json.load(f))
    return ctx


def _msg(code, uri, payload=b"", observe=None, mtype=None):
    m = aiocoap.Message(code=code, uri=uri, payload=payload)
    if mtype is not None:
        m.mtype = mtype
    if observe is not None:
        m.opt.observe = observe
    return m


@pytest.fixture
def device(tmp_path):
    # replay window 128: aiocoap numbers concurrent requests when they are
    # created, but its tasks hand them to the socket in another order, so 100
    # concurrent requests arrive up to ~100 Partial IVs apart even before the
    # relay shuffles them
    params, prov = _provision(tmp_path, name="dev", device_id=b"\xd1", peer_id=b"\xc1", window=128)
    creds = oscore_cmd.to_aiocoap(params, str(tmp_path / "aio"), "client", "coap://127.0.0.1*")
    dev = Device(tmp_path, prov, free_udp_port())
    dev.start()
    yield dev, params, creds
    dev.stop()


def test_aiocoap_client_to_our_server(device):
    dev, params, creds = device

    async def main():
        relay = Relay(dev.port)
        await relay.start()
        base = "coap://127.0.0.1:%d/" % relay.port
        ctx = await _client_context(creds)
        plain = await aiocoap.Context.create_client_context()
        try:
            r = await ctx.request(_msg(aiocoap.GET, base + "hello")).response
            assert r.code == aiocoap.CONTENT and r.payload == b"Hello, OSCORE!"
            r = await ctx.request(_msg(aiocoap.POST, base + "echo", b"ping")).response
            assert r.code == aiocoap.CHANGED and r.payload == b"ping"
            r = await ctx.request(_msg(aiocoap.GET, base + "whoami")).response
            assert r.payload == b"c1"
            # plain CoAP: the protected resource refuses, /public answers
            r = await plain.request(_msg(aiocoap.GET, base + "hello")).response
            assert r.code == aiocoap.UNAUTHORIZED
            r = await plain.request(_msg(aiocoap.GET, base + "public")).response
            assert r.payload == b"public"
            # Block2 (inner)
            r = await ctx.request(_msg(aiocoap.GET, base + "big")).response
            assert r.payload == bytes(range(256)) * 16
            # a 64 KiB Block1 upload
            body = os.urandom(65536)
            r = await ctx.request(_msg(aiocoap.PUT, base + "upload", body)).response
            assert r.code == aiocoap.CHANGED, r
            assert r.payload.decode() == hashlib.sha256(body).hexdigest()
            # Observe: notifications arrive protected, counter increasing
            req = ctx.request(_msg(aiocoap.GET, base + "counter", observe=0))
            first = await req.response
            values = [int(first.payload)]
            async for n in req.observation:
                values.append(int(n.payload))
                if len(values) >= 4:
                    req.observation.cancel()
                    break
            assert values == sorted(values) and len(set(values)) == 4, values
        finally:
            await ctx.shutdown()
            await plain.shutdown()
            relay.close()
        notes = [coap_msg.decode(d) for t, d in relay.log if t == "C"]
        notes = [n for n in notes if n.opt(coap_msg.OBSERVE) is not None]
        assert len(notes) >= 4
        for n in notes:
            piv = oscore.decode_option(n.opt(coap_msg.OSCORE))[0]
            assert n.code == coap_msg.CONTENT and n.opt_uint(coap_msg.OBSERVE) == int.from_bytes(piv, "big")
        ups = [coap_msg.decode(d) for t, d in relay.log if t == "S"]
        assert all(u.opt(coap_msg.URI_PATH) is None for u in ups if u.opt(coap_msg.OSCORE) is not None)
        assert _nonce_check(relay.log, params) > 140

    asyncio.run(main())


def test_aiocoap_100_concurrent_out_of_order(device):
    dev, params, creds = device

    async def main():
        relay = Relay(dev.port, shuffle=True, group=12)
        await relay.start()
        base = "coap://127.0.0.1:%d/" % relay.port
        ctx = await _client_context(creds)
        try:
            # the first request after the device started goes through Echo
            r = await ctx.request(_msg(aiocoap.GET, base + "hello")).response
            assert r.code == aiocoap.CONTENT
            reqs = [ctx.request(_msg(aiocoap.POST, base + "echo", b"%03d" % i)).response
                    for i in range(100)]
            resps = await asyncio.gather(*reqs)
            for i, r in enumerate(resps):
                assert r.code == aiocoap.CHANGED and r.payload == b"%03d" % i, (i, r, r.payload)
        finally:
            await ctx.shutdown()
            relay.close()
        types = [coap_msg.decode(d).mtype for t, d in relay.log if t == "S"]
        assert relay.reordered >= 20, (relay.reordered, types[:20])  # they really arrived out of order
        _nonce_check(relay.log, params)

    asyncio.run(main())


def test_kill9_restart_echo_recovery(device):
    dev, params, creds = device

    async def main():
        relay = Relay(dev.port)
        await relay.start()
        base = "coap://127.0.0.1:%d/" % relay.port
        ctx = await _client_context(creds)
        try:
            for round_ in range(3):
                for i in range(5):
                    r = await ctx.request(_msg(aiocoap.POST, base + "echo", b"r%d-%d" % (round_, i))).response
                    assert r.code == aiocoap.CHANGED and r.payload == b"r%d-%d" % (round_, i), r
                # notifications spend the device's sequence numbers
                req = ctx.request(_msg(aiocoap.GET, base + "counter", observe=0))
                await req.response
                async for _n in req.observation:
                    break
                # kill -9 mid-session (the observation is still active)
                dev.kill9()
                dev.start()
                # the same client context carries on: the first request
                # meets a protected 4.01 + Echo, aiocoap answers it
                r = await ctx.request(_msg(aiocoap.GET, base + "hello")).response
                assert r.code == aiocoap.CONTENT and r.payload == b"Hello, OSCORE!", r
                req.observation.cancel()
        finally:
            await ctx.shutdown()
            relay.close()
        # three Echo challenges on the wire, each with its own Partial IV
        n = _nonce_check(relay.log, params)
        assert n > 30
        challenges = 0
        for t, d in relay.log:
            m = coap_msg.decode(d)
            if t == "C" and m.opt(coap_msg.OSCORE) and m.opt(coap_msg.OBSERVE) is None:
                if oscore.decode_option(m.opt(coap_msg.OSCORE))[0] is not None:
                    challenges += 1
        assert challenges >= 3

    asyncio.run(main())


def test_outer_block2_aiocoap_and_our_client(tmp_path):
    params, prov = _provision(tmp_path, name="dev", device_id=b"\xd1", peer_id=b"\xc1")
    creds = oscore_cmd.to_aiocoap(params, str(tmp_path / "aio"), "client", "coap://127.0.0.1*")
    # a second context on the device for our client (its own replay window)
    p2, prov2 = _provision(tmp_path, name="dev2", device_id=b"\xd1", peer_id=b"\xc2")
    mine = dict(p2, name="cli", device_id=p2["peer_id"], peer_id=p2["device_id"])
    cprov = tmp_path / "cli.json"
    oscore_cmd._write(str(cprov), mine, private=True)
    dev = Device(tmp_path, [prov, prov2], free_udp_port(), extra=["--outer-szx", "5"])
    dev.start()
    big = bytes(range(256)) * 16

    async def main():
        relay = Relay(dev.port)
        await relay.start()
        base = "coap://127.0.0.1:%d/" % relay.port
        ctx = await _client_context(creds)
        try:
            r = await ctx.request(_msg(aiocoap.GET, base + "big")).response
            assert r.code == aiocoap.CONTENT and r.payload == big, (r, len(r.payload))
            r = await ctx.request(_msg(aiocoap.POST, base + "echo", b"x" * 600)).response
            assert r.code == aiocoap.CHANGED and r.payload == b"x" * 600
            r = await ctx.request(_msg(aiocoap.GET, base + "hello")).response
            assert r.payload == b"Hello, OSCORE!"
        finally:
            await ctx.shutdown()
            relay.close()
        return relay.log

    try:
        log = asyncio.run(asyncio.wait_for(main(), 60))
        msgs = [(t, coap_msg.decode(d)) for t, d in log]
        down = [x for t, x in msgs if t == "C" and x.opt(coap_msg.OSCORE) is not None]
        blocks = [x for x in down if x.block2() is not None]
        # /big: 4 inner blocks of 1024 bytes, each protected message in 3
        # outer blocks of <= 512 bytes; /echo: one message in 2
        assert len(blocks) == 4 * 3 + 2, [x.block2() for x in blocks]
        assert all(len(x.payload) <= 512 for x in down)
        assert all(x.opt_uint(coap_msg.SIZE2) > 512 for x in blocks if x.block2()[0] == 0)
        # aiocoap asked for the later blocks with the OSCORE request again,
        # Outer Block2 and no payload
        ups = [x for t, x in msgs if t == "S" and x.opt(coap_msg.BLOCK2) is not None]
        assert len(ups) == 4 * 2 + 1
        assert all(x.opt(coap_msg.OSCORE) and not x.payload and x.block2()[0] > 0 for x in ups)
        assert _nonce_check(log, params) > 0
        # our client (unix port) through the same device
        cmd = [_micropython(), DEMO, "client", "--state", str(tmp_path / "cli-state"), "--provision",
               str(cprov), "coap://127.0.0.1:%d/big" % dev.port]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and p.stdout.split() == ["2.05", big.hex()], (p.stdout, p.stderr)
    finally:
        dev.stop()


AIOCOAP_SERVER = textwrap.dedent('''
    import asyncio, hashlib, json, sys
    import aiocoap, aiocoap.resource as resource
    from aiocoap.credentials import CredentialsMap
    from aiocoap.oscore_sitewrapper import OscoreSiteWrapper

    class Hello(resource.Resource):
        async def render_get(self, request):
            return aiocoap.Message(payload=b"Hello from aiocoap")

    class Echo(resource.Resource):
        async def render_post(self, request):
            return aiocoap.Message(code=aiocoap.CHANGED, payload=request.payload)

    class Upload(resource.Resource):
        async def render_put(self, request):
            return aiocoap.Message(code=aiocoap.CHANGED,
                                   payload=hashlib.sha256(request.payload).hexdigest().encode())

    class Counter(resource.ObservableResource):
        def __init__(self):
            super().__init__()
            self.n = 0
            asyncio.get_event_loop().call_later(0.2, self.tick)

        def tick(self):
            self.n += 1
            self.updated_state()
            asyncio.get_event_loop().call_later(0.2, self.tick)

        async def render_get(self, request):
            return aiocoap.Message(payload=str(self.n).encode())

    async def main():
        root = resource.Site()
        root.add_resource(["hello"], Hello())
        root.add_resource(["echo"], Echo())
        root.add_resource(["upload"], Upload())
        root.add_resource(["counter"], Counter())
        creds = CredentialsMap()
        creds.load_from_dict(json.load(open(sys.argv[1])))
        site = OscoreSiteWrapper(root, creds)
        await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", int(sys.argv[2])),
                                                    server_credentials=creds)
        print("ready", flush=True)
        await asyncio.get_running_loop().create_future()

    asyncio.run(main())
''')


def test_our_client_to_aiocoap_server(tmp_path):
    params, prov = _provision(tmp_path, name="dev", device_id=b"\x0d", peer_id=b"\x5e",
                              id_context=b"\x37\xcb\xf3\x21")
    creds = oscore_cmd.to_aiocoap(params, str(tmp_path / "aio"), "server")
    script = tmp_path / "aiocoap_server.py"
    script.write_text(AIOCOAP_SERVER)
    port = free_udp_port()
    srv = subprocess.Popen([sys.executable, str(script), creds, str(port)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        assert srv.stdout.readline().strip() == "ready"
        uri = "coap://127.0.0.1:%d/" % port
        state = str(tmp_path / "client-state")

        def client(*args):
            cmd = [_micropython(), DEMO, "client", "--state", state, "--provision", str(prov)] + list(args)
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            return p.returncode, p.stdout.strip().splitlines()

        rc, out = client(uri + "hello")
        assert rc == 0 and out == ["2.05 Hello from aiocoap"], out
        rc, out = client(uri + "echo", "--method", "POST", "--payload", "from the device")
        assert rc == 0 and out == ["2.04 from the device"], out
        rc, out = client(uri + "counter", "--observe", "3")
        assert rc == 0 and len(out) == 3 and all(o.startswith("notify 2.05 ") for o in out), out
        vals = [int(o.split()[-1]) for o in out]
        assert vals == sorted(vals), vals
        rc, out = client(uri + "upload", "--method", "PUT", "--size", "5000")
        body = bytes([(i * 7 + (i >> 8)) & 255 for i in range(5000)])
        assert rc == 0 and out == ["2.04 " + hashlib.sha256(body).hexdigest()], out
        # the device's sequence number reservation survived the four runs
        st_ctx = oscore.read_record(open(os.path.join(state, "oscore.dev"), "rb").read())
        assert st_ctx[1] > 0
    finally:
        srv.kill()
        srv.wait()
