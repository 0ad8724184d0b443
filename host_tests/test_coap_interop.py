"""CoAP interop (CPython, pytest): our demo server (firmware/coap_demo.py)
under the PyPI micropython and under build/unix/micropython (skipped,
visibly, when not built), driven by aiocoap's client API and by libcoap's
coap-client-notls; and our client (lib/coap over coap_udp) against an
aiocoap server running in-process. Every peer process is started and ended
here, and every wait has a timeout."""
import asyncio
import hashlib
import os
import shutil
import socket
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "firmware", "coap_demo.py")
PYPI_MP = os.path.join(ROOT, ".venv", "bin", "micropython")
UNIX_MP = os.path.join(ROOT, "build", "unix", "micropython")
COAP_CLIENT = shutil.which("coap-client-notls")
SIZE = 65536
TIMEOUT = 60

aiocoap = pytest.importorskip("aiocoap")
from aiocoap import resource as aio_resource  # noqa: E402

from coap_msg import CHANGED, CONTENT, GET, POST, PUT  # noqa: E402
from coap_client import Client  # noqa: E402
from coap_ep import Endpoint  # noqa: E402
from coap_udp import AsyncClient, UDPTransport  # noqa: E402
from procs import coap_ready, free_udp_port, stop_process


def pattern(n, salt=0):
    return bytes(((i * 7) + (i >> 8) + salt) & 255 for i in range(n))


def _runtimes():
    return [pytest.param(PYPI_MP, id="pypi-micropython"),
            pytest.param(UNIX_MP, id="build-unix-micropython")]


@pytest.fixture(scope="module", params=_runtimes())
def demo(request):
    """(port, runtime) of a running demo server; ended after the module."""
    exe = request.param
    if not os.path.exists(exe):
        pytest.skip("%s not built (make unix)" % os.path.relpath(exe, ROOT))
    port = free_udp_port()
    proc = subprocess.Popen([exe, DEMO, "--port", str(port), "--interval", "200", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        if not coap_ready(port):
            proc.kill()
            out, err = proc.communicate(timeout=5)
            pytest.fail("demo server did not start: %s" % err.decode(errors="replace")[-500:])
        yield port, exe
    finally:
        stop_process(proc)


def run(coro, timeout=TIMEOUT):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def _aio_ctx():
    return await aiocoap.Context.create_client_context()


async def _aio_request(port, code, path, payload=b"", **kw):
    ctx = await _aio_ctx()
    try:
        msg = aiocoap.Message(code=code, uri="coap://127.0.0.1:%d/%s" % (port, path),
                              payload=payload, **kw)
        return await ctx.request(msg).response
    finally:
        await ctx.shutdown()


# ------------------------------------------------------------------ aiocoap client -> our server
def test_aiocoap_get_hello(demo):
    port, _ = demo
    r = run(_aio_request(port, aiocoap.GET, "hello"))
    assert r.code == aiocoap.CONTENT and r.payload == b"Hello, hourglass!"
    assert r.opt.content_format == 0


def test_aiocoap_put_post_small(demo):
    port, _ = demo
    for code in (aiocoap.PUT, aiocoap.POST):
        body = b"small body %d" % code
        r = run(_aio_request(port, code, "store", body))
        assert r.code == aiocoap.CHANGED
        assert r.payload.decode() == hashlib.sha256(body).hexdigest()
    r = run(_aio_request(port, aiocoap.GET, "store"))
    assert r.payload == body


def test_aiocoap_block1_upload_then_block2_download(demo):
    port, _ = demo
    body = os.urandom(SIZE)
    r = run(_aio_request(port, aiocoap.PUT, "store", body))
    assert r.code == aiocoap.CHANGED, r
    assert r.payload.decode() == hashlib.sha256(body).hexdigest()
    r = run(_aio_request(port, aiocoap.GET, "store"))
    assert r.code == aiocoap.CONTENT and len(r.payload) == SIZE
    assert hashlib.sha256(r.payload).digest() == hashlib.sha256(body).digest()


def test_aiocoap_block2_big_with_etag(demo):
    port, _ = demo
    r = run(_aio_request(port, aiocoap.GET, "big"))
    assert r.code == aiocoap.CONTENT and r.payload == pattern(SIZE)
    assert r.opt.etag is not None


def test_aiocoap_block2_small_blocks(demo):
    port, _ = demo
    from aiocoap.optiontypes import BlockOption

    r = run(_aio_request(port, aiocoap.GET, "big", block2=BlockOption.BlockwiseTuple(0, 0, 2)))
    assert r.payload == pattern(SIZE)


def test_aiocoap_observe_counter(demo):
    port, _ = demo

    async def go():
        ctx = await _aio_ctx()
        try:
            req = aiocoap.Message(code=aiocoap.GET, observe=0,
                                  uri="coap://127.0.0.1:%d/counter" % port)
            pr = ctx.request(req)
            first = await pr.response
            seen = [int(first.payload)]
            async for note in pr.observation:
                seen.append(int(note.payload))
                if len(seen) >= 4:
                    pr.observation.cancel()
                    break
            return first, seen
        finally:
            await ctx.shutdown()

    first, seen = run(go(), 30)
    assert first.opt.observe is not None
    assert len(seen) >= 4 and seen == sorted(seen) and seen[-1] > seen[0]


def test_aiocoap_observe_with_block2(demo):
    port, _ = demo

    async def go():
        ctx = await _aio_ctx()
        try:
            req = aiocoap.Message(code=aiocoap.GET, observe=0,
                                  uri="coap://127.0.0.1:%d/obs-big" % port)
            pr = ctx.request(req)
            bodies = [(await pr.response).payload]
            async for note in pr.observation:
                bodies.append(note.payload)
                if len(bodies) >= 3:
                    pr.observation.cancel()
                    break
            return bodies
        finally:
            await ctx.shutdown()

    bodies = run(go(), 30)
    assert len(bodies) >= 3
    for b in bodies:
        assert len(b) == 1500 and b.startswith(b"counter=") and b.endswith(b"x" * 100)
    counters = [int(b.split(b"\n")[0][8:]) for b in bodies]
    assert counters == sorted(counters) and counters[-1] > counters[0]


def test_aiocoap_discovery_filtered(demo):
    port, _ = demo
    from coap_link import parse_links

    r = run(_aio_request(port, aiocoap.GET, ".well-known/core"))
    assert r.opt.content_format == 40
    targets = [t for t, _ in parse_links(r.payload)]
    for t in ("/hello", "/store", "/big", "/counter", "/obs-big", "/fresh"):
        assert t in targets
    r = run(_aio_request(port, aiocoap.GET, ".well-known/core?rt=hourglass.big"))
    assert sorted(t for t, _ in parse_links(r.payload)) == ["/big", "/obs-big"]
    r = run(_aio_request(port, aiocoap.GET, ".well-known/core?rt=hourglass.h*"))
    assert [t for t, _ in parse_links(r.payload)] == ["/hello"]


def test_aiocoap_echo_freshness(demo):
    port, _ = demo

    async def go():
        ctx = await _aio_ctx()  # one context: the Echo value is bound to the client address
        try:
            uri = "coap://127.0.0.1:%d/fresh" % port
            req = aiocoap.Message(code=aiocoap.POST, uri=uri, payload=b"x")
            r = await ctx.request(req).response
            if r.code == aiocoap.CHANGED:
                return r, r  # the client answered the Echo challenge itself
            r2 = await ctx.request(aiocoap.Message(code=aiocoap.POST, uri=uri, payload=b"x",
                                                   echo=r.opt.echo)).response
            return r, r2
        finally:
            await ctx.shutdown()

    r, r2 = run(go())
    assert r.code == aiocoap.CHANGED or (r.code == aiocoap.UNAUTHORIZED and r.opt.echo)
    assert r2.code == aiocoap.CHANGED and r2.payload == b"fresh"


def test_aiocoap_errors(demo):
    port, _ = demo
    assert run(_aio_request(port, aiocoap.GET, "nope")).code == aiocoap.NOT_FOUND
    assert run(_aio_request(port, aiocoap.DELETE, "hello")).code == aiocoap.METHOD_NOT_ALLOWED


# ------------------------------------------------------------------ coap-client-notls -> ours
def _coap_client(*args, timeout=30):
    if COAP_CLIENT is None:
        pytest.skip("coap-client-notls not installed (Debian libcoap3-bin)")
    p = subprocess.run([COAP_CLIENT] + list(args), capture_output=True, timeout=timeout)
    return p


def test_libcoap_get_and_discovery(demo):
    port, _ = demo
    p = _coap_client("coap://127.0.0.1:%d/hello" % port)
    assert p.returncode == 0 and p.stdout.strip() == b"Hello, hourglass!"
    p = _coap_client("coap://127.0.0.1:%d/.well-known/core?rt=hourglass.counter" % port)
    assert b"</counter>" in p.stdout and b"</obs-big>" in p.stdout and b"</hello>" not in p.stdout


def test_libcoap_block1_upload_and_block2_download(demo, tmp_path):
    port, _ = demo
    body = os.urandom(SIZE)
    src = tmp_path / "up.bin"
    src.write_bytes(body)
    p = _coap_client("-m", "put", "-b", "1024", "-f", str(src), "coap://127.0.0.1:%d/store" % port)
    assert p.returncode == 0
    assert p.stdout.strip().decode() == hashlib.sha256(body).hexdigest()
    dst = tmp_path / "down.bin"
    p = _coap_client("-o", str(dst), "coap://127.0.0.1:%d/store" % port)
    assert p.returncode == 0 and dst.read_bytes() == body
    p = _coap_client("-m", "post", "-b", "64", "-f", str(src), "coap://127.0.0.1:%d/store" % port,
                     timeout=60)
    assert p.stdout.strip().decode() == hashlib.sha256(body).hexdigest()


def test_libcoap_block2_big(demo, tmp_path):
    port, _ = demo
    dst = tmp_path / "big.bin"
    p = _coap_client("-b", "256", "-o", str(dst), "coap://127.0.0.1:%d/big" % port)
    assert p.returncode == 0 and dst.read_bytes() == pattern(SIZE)


def test_libcoap_observe(demo):
    port, _ = demo
    p = _coap_client("-s", "2", "coap://127.0.0.1:%d/counter" % port, timeout=20)
    # coap-client prints each notification's payload back to back
    values = [int(x) for x in p.stdout.decode().replace("\n", " ").split() if x.isdigit()]
    assert len(p.stdout) >= 3 and (len(values) >= 3 or len(p.stdout.strip()) >= 3)


def test_libcoap_observe_block2(demo):
    port, _ = demo
    p = _coap_client("-s", "2", "-B", "3", "coap://127.0.0.1:%d/obs-big" % port, timeout=20)
    chunks = p.stdout.split(b"counter=")[1:]
    # every notification arrives whole (its Block2 body reassembled), except
    # that the last one may be cut off when -s ends the subscription while
    # its blocks are still being fetched
    assert sum(len(c) >= 1490 for c in chunks) >= 3, [len(c) for c in chunks]
    assert all(len(c) >= 1490 for c in chunks[:-1]), [len(c) for c in chunks]


# ------------------------------------------------------------------ our client -> aiocoap server
class _Hello(aio_resource.Resource):
    async def render_get(self, request):
        return aiocoap.Message(payload=b"hello from aiocoap", content_format=0)


class _Big(aio_resource.Resource):
    async def render_get(self, request):
        return aiocoap.Message(payload=pattern(SIZE, 5), etag=b"\x05")


class _Store(aio_resource.Resource):
    def __init__(self):
        super().__init__()
        self.value = b""

    async def render_get(self, request):
        return aiocoap.Message(payload=self.value)

    async def render_put(self, request):
        self.value = request.payload
        return aiocoap.Message(code=aiocoap.CHANGED,
                               payload=hashlib.sha256(request.payload).hexdigest().encode())

    async def render_post(self, request):
        return await self.render_put(request)

    async def render_delete(self, request):
        self.value = b""
        return aiocoap.Message(code=aiocoap.DELETED)

    async def render_fetch(self, request):
        return aiocoap.Message(payload=request.payload[::-1])


class _Clock(aio_resource.ObservableResource):
    def __init__(self):
        super().__init__()
        self.n = 0
        self.handle = None

    def tick(self):
        self.n += 1
        self.updated_state()
        self.handle = asyncio.get_running_loop().call_later(0.1, self.tick)

    async def render_get(self, request):
        return aiocoap.Message(payload=str(self.n).encode())


class _ObsBig(_Clock):
    async def render_get(self, request):
        return aiocoap.Message(payload=(b"n=%d;" % self.n) + pattern(3000),
                               etag=bytes([self.n & 255]))


async def _with_aiocoap_server(test):
    port = free_udp_port()
    site = aio_resource.Site()
    site.add_resource(["hello"], _Hello())
    site.add_resource(["big"], _Big())
    store = _Store()
    site.add_resource(["store"], store)
    clock = _Clock()
    site.add_resource(["clock"], clock)
    obsbig = _ObsBig()
    site.add_resource(["obs-big"], obsbig)
    server = await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", port))
    clock.tick()
    obsbig.tick()
    ep = Endpoint()
    client = Client(ep)
    t = UDPTransport(ep, "127.0.0.1", 0)
    t.start()
    try:
        return await test(AsyncClient(t, client), port, store)
    finally:
        t.close()
        clock.handle.cancel()
        obsbig.handle.cancel()
        await server.shutdown()


def test_our_client_get_block2_block1_against_aiocoap():
    async def test(ac, port, store):
        ex = await ac.request(GET, "127.0.0.1", port, "hello")
        assert ex.error is None and ex.response.payload == b"hello from aiocoap"
        ex = await ac.request(GET, "127.0.0.1", port, "big")
        assert ex.error is None and bytes(ex.response.payload) == pattern(SIZE, 5)
        body = os.urandom(SIZE)
        ex = await ac.request(PUT, "127.0.0.1", port, "store", payload=body)
        assert ex.error is None and ex.response.code == CHANGED
        assert bytes(ex.response.payload).decode() == hashlib.sha256(body).hexdigest()
        assert store.value == body
        ex = await ac.request(POST, "127.0.0.1", port, "store", payload=b"p")
        assert ex.response.code == CHANGED and store.value == b"p"
        ex = await ac.request(4, "127.0.0.1", port, "store")  # DELETE
        assert ex.response.code == 0x42 and store.value == b""
        ex = await ac.request(5, "127.0.0.1", port, "store", payload=b"abc")  # FETCH
        assert ex.response.code == CONTENT and ex.response.payload == b"cba"
        ex = await ac.request(GET, "127.0.0.1", port, "missing")
        assert ex.response.code == 0x84
        return True

    assert run(_with_aiocoap_server(test))


def test_our_client_observe_against_aiocoap():
    async def test(ac, port, store):
        got = []
        ex = await ac.observe("127.0.0.1", port, "clock", count=4,
                              on_notify=lambda e, m: got.append(int(bytes(m.payload))))
        assert ex.error is None and len(got) >= 4 and got == sorted(got)
        big = []
        ex = await ac.observe("127.0.0.1", port, "obs-big", count=3,
                              on_notify=lambda e, m: big.append(bytes(m.payload)))
        assert len(big) >= 3
        for b in big:
            assert b.split(b";", 1)[1] == pattern(3000)
        return True

    assert run(_with_aiocoap_server(test))


def test_our_client_against_our_server_over_udp(demo):
    """Our client (CPython) and our server (MicroPython) over real UDP."""
    port, _ = demo

    async def go():
        ep = Endpoint()
        client = Client(ep)
        t = UDPTransport(ep, "127.0.0.1", 0)
        t.start()
        try:
            ac = AsyncClient(t, client)
            body = os.urandom(20000)
            ex = await ac.request(PUT, "127.0.0.1", port, "store", payload=body)
            assert ex.response.payload.decode() == hashlib.sha256(body).hexdigest()
            ex = await ac.request(GET, "127.0.0.1", port, "store")
            assert bytes(ex.response.payload) == body
            ex = await ac.request(POST, "127.0.0.1", port, "fresh", payload=b"x")
            assert ex.response.code == CHANGED  # Echo challenge answered by our client
            notes = []
            ex = await ac.observe("127.0.0.1", port, "obs-big", count=3,
                                  on_notify=lambda e, m: notes.append(bytes(m.payload)))
            assert len(notes) >= 3 and all(len(n) == 1500 for n in notes)
            return True
        finally:
            t.close()

    assert run(go())


def test_ipv6_loopback():
    """The demo bound to '::' answers over IPv6 (our client and libcoap's)."""
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::1", 0))
        port = s.getsockname()[1]
        s.close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    proc = subprocess.Popen([PYPI_MP, DEMO, "--host", "::", "--port", str(port), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        async def go():
            ep = Endpoint()
            client = Client(ep)
            t = UDPTransport(ep, "::", 0)
            t.start()
            try:
                ac = AsyncClient(t, client)
                for _ in range(100):  # wait for the server to come up
                    ex = await ac.request(GET, "::1", port, "hello", timeout_ms=300, con=False)
                    if ex.error is None:
                        return ex
                return ex
            finally:
                t.close()

        ex = run(go())
        assert ex.error is None and ex.response.payload == b"Hello, hourglass!"
        if COAP_CLIENT is not None:
            p = _coap_client("coap://[::1]:%d/hello" % port)
            assert p.stdout.strip() == b"Hello, hourglass!"
    finally:
        stop_process(proc)


MP_CLIENT = r'''
import sys
sys.path.append(%(lib)r)
import asyncio
from coap_ep import Endpoint
from coap_client import Client
from coap_udp import UDPTransport, AsyncClient

async def main(port):
    ep = Endpoint()
    t = UDPTransport(ep, "0.0.0.0", 0)
    t.start()
    ac = AsyncClient(t, Client(ep))
    ex = await ac.request(1, "127.0.0.1", port, "hello")
    print("hello", ex.error, bytes(ex.response.payload).decode())
    ex = await ac.request(1, "127.0.0.1", port, "big")
    print("big", ex.error, len(ex.response.payload))
    ex = await ac.request(3, "127.0.0.1", port, "store", payload=b"z" * 5000)
    print("store", ex.error, bytes(ex.response.payload).decode())
    got = []
    ex = await ac.observe("127.0.0.1", port, "counter", count=3,
                          on_notify=lambda e, m: got.append(int(bytes(m.payload))))
    print("observe", ex.error, len(got), got == sorted(got))
    t.close()

asyncio.run(main(int(sys.argv[1])))
'''


def test_micropython_client_against_demo(demo, tmp_path):
    """Our client running under MicroPython (coap_udp's asyncio reader)."""
    port, exe = demo
    script = tmp_path / "client.py"
    script.write_text(MP_CLIENT % {"lib": os.path.join(ROOT, "lib", "coap")})
    p = subprocess.run([exe, str(script), str(port)], capture_output=True, timeout=60)
    lines = p.stdout.decode().splitlines()
    assert p.returncode == 0, p.stderr.decode()[-800:]
    assert lines[0] == "hello None Hello, hourglass!"
    assert lines[1] == "big None 65536"
    assert lines[2] == "store None " + hashlib.sha256(b"z" * 5000).hexdigest()
    assert lines[3] == "observe None 3 True"
