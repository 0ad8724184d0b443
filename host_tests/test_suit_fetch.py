"""suit_fetch.CoapFetcher (CPython, pytest): a 256 KiB image fetched
block-wise into a SlotPlatform Writer on MemoryStorage from an aiocoap
server (in a thread of this process), from our demo server
(firmware/coap_demo.py under the PyPI micropython) and from our CoAP server
core in a thread (a representation that changes mid-transfer); the Writer's
limit, 4.04, an unreachable server and unsupported URIs. Every server is
ended here and every wait has a timeout."""
import hashlib
import os
import subprocess
import threading
import time

import pytest

from hgstore import MemoryStorage
from procs import ImageServer, coap_ready, free_udp_port, stop_process

import suit_envelope as se
from suit_fetch import CoapFetcher
from suit_slots import SlotPlatform

pytest.importorskip("aiocoap")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "firmware", "coap_demo.py")
PYPI_MP = os.path.join(ROOT, ".venv", "bin", "micropython")
SIZE = 256 * 1024
FW = [b"fw"]


def pattern(n, salt=0):
    # coap_demo's Pattern: byte i is (i * 7 + (i >> 8) + salt) & 255
    return bytes(((i * 7) + (i >> 8) + salt) & 255 for i in range(n))


IMAGE = pattern(SIZE, 3)


def platform():
    st = MemoryStorage()
    pf = SlotPlatform(st, [(FW, "fw", 512 * 1024)])
    return st, pf


class Env:
    sequence_number = 1
    digest = [se.ALG_SHA256, b"\x00" * 32]


# ------------------------------------------------------------------ aiocoap server
@pytest.fixture(scope="module")
def aio_port():
    """Port of an aiocoap server running in a background thread."""
    srv = ImageServer({"fw/image.bin": IMAGE, "small": b"tiny image"})
    yield srv.port
    srv.close()


def test_fetch_256k_from_aiocoap(aio_port):
    st, pf = platform()
    seen = []
    f = CoapFetcher(timeout_ms=60000, progress=lambda done, total: seen.append(done))
    pf.fetcher = f
    pf.begin_update(Env())
    w = pf.open_writer(FW, SIZE)
    t0 = time.monotonic()
    pf.fetch("coap://127.0.0.1:%d/fw/image.bin" % aio_port, w)
    assert time.monotonic() - t0 < 60
    assert w.size == SIZE
    w.finish()
    assert w.digest() == hashlib.sha256(IMAGE).digest()
    assert pf.digest(FW) == (hashlib.sha256(IMAGE).digest(), SIZE)
    assert bytes(st.read(SlotPlatform.record("fw", 0))) == IMAGE
    assert f.last_code == 0x45
    # progress after every 1 KiB block, increasing, ending at the size
    assert len(seen) >= SIZE // 1024 - 1 and seen == sorted(seen) and seen[-1] == SIZE


def test_fetch_single_datagram_body(aio_port):
    st, pf = platform()
    pf.begin_update(Env())
    w = pf.open_writer(FW, 100)
    CoapFetcher(timeout_ms=10000).fetch("coap://127.0.0.1:%d/small" % aio_port, w)
    w.finish()
    assert bytes(st.read(SlotPlatform.record("fw", 0))) == b"tiny image"


def test_fetch_over_limit_commits_nothing(aio_port):
    st, pf = platform()
    pf.begin_update(Env())
    w = pf.open_writer(FW, 100000)
    writes = st.writes
    with pytest.raises(se.SuitError) as e:
        CoapFetcher(timeout_ms=30000).fetch("coap://127.0.0.1:%d/fw/image.bin" % aio_port, w)
    assert e.value.code == se.SUIT_ERR_NO_MEM
    assert w.size <= 100000
    with pytest.raises(se.SuitError):
        w.finish()
    pf.abort_update()
    assert st.writes == writes and st.read(SlotPlatform.record("fw", 0)) is None


def test_fetch_404_from_aiocoap(aio_port):
    _, pf = platform()
    pf.begin_update(Env())
    w = pf.open_writer(FW, SIZE)
    f = CoapFetcher(timeout_ms=10000)
    with pytest.raises(se.SuitError) as e:
        f.fetch("coap://127.0.0.1:%d/fw/missing.bin" % aio_port, w)
    assert e.value.code == se.SUIT_ERR_FETCH and "4.04" in str(e.value)
    assert w.size == 0


def test_fetch_unreachable_times_out():
    port = free_udp_port()  # nothing listens there
    _, pf = platform()
    pf.begin_update(Env())
    w = pf.open_writer(FW, SIZE)
    t0 = time.monotonic()
    with pytest.raises(se.SuitError) as e:
        CoapFetcher(timeout_ms=1500).fetch("coap://127.0.0.1:%d/fw" % port, w)
    dt = time.monotonic() - t0
    assert e.value.code == se.SUIT_ERR_FETCH
    assert 1.4 <= dt < 4.0, dt


def test_fetch_bad_uris():
    _, pf = platform()
    pf.begin_update(Env())
    w = pf.open_writer(FW, 10)
    f = CoapFetcher(timeout_ms=1000)
    for uri in ("https://example.com/fw", "coaps://127.0.0.1/fw", "#app", "", None):
        with pytest.raises(se.SuitError) as e:
            f.fetch(uri, w)
        assert e.value.code == se.SUIT_ERR_UNSUPPORTED, uri
    for uri in ("coap:///fw", "coap://127.0.0.1:notaport/fw", "coap://no-such-host.invalid/fw"):
        with pytest.raises(se.SuitError) as e:
            f.fetch(uri, w)
        assert e.value.code == se.SUIT_ERR_FETCH, uri


# ------------------------------------------------------------------ our servers
def test_fetch_256k_from_our_demo_server():
    """coap_demo.py (our server core) under the PyPI micropython."""
    if not os.path.exists(PYPI_MP):
        pytest.skip("no .venv/bin/micropython")
    port = free_udp_port()
    proc = subprocess.Popen([PYPI_MP, DEMO, "--port", str(port), "--size", str(SIZE), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert coap_ready(port), "demo server did not start"
        st, pf = platform()
        pf.begin_update(Env())
        w = pf.open_writer(FW, SIZE)
        CoapFetcher(timeout_ms=60000).fetch("coap://127.0.0.1:%d/big" % port, w)
        w.finish()
        want = pattern(SIZE, 0)
        assert pf.digest(FW) == (hashlib.sha256(want).digest(), SIZE)
        # 4.04 from our server too
        w = pf.open_writer(FW, SIZE)
        with pytest.raises(se.SuitError) as e:
            CoapFetcher(timeout_ms=10000).fetch("coap://127.0.0.1:%d/nothing" % port, w)
        assert e.value.code == se.SUIT_ERR_FETCH
    finally:
        stop_process(proc)


def test_representation_change_mid_transfer_fails():
    """Our server core (CPython, in a thread) whose ETag changes after a few
    blocks: with a sink the client ends the exchange (it never restarts at
    block 0 into the Writer), and the fetch fails."""
    from coap_ep import Endpoint
    from coap_msg import CONTENT, ETAG, response
    from coap_server import Server
    from coap_udp import UDPTransport

    calls = [0]

    def handler(req):
        calls[0] += 1
        r = response(CONTENT, IMAGE[:65536])
        r.add(ETAG, b"\x01" if calls[0] < 5 else b"\x02")
        return r

    srv = Server()
    srv.add("fw", handler)
    t = UDPTransport(Endpoint(server=srv), "127.0.0.1", 0)
    port = t.address()[1]
    th = threading.Thread(target=t.serve, kwargs={"on_tick": lambda now: None, "tick_ms": 50},
                          daemon=True)
    th.start()
    try:
        st, pf = platform()
        pf.begin_update(Env())
        w = pf.open_writer(FW, SIZE)
        with pytest.raises(se.SuitError) as e:
            CoapFetcher(timeout_ms=20000).fetch("coap://127.0.0.1:%d/fw" % port, w)
        assert e.value.code == se.SUIT_ERR_FETCH and "changed" in str(e.value)
        assert w.size == 4 * 1024  # the four blocks before the change, no repeat
    finally:
        t._stop = True
        th.join(5)
        t.close()


def test_sink_refuses_a_block_that_does_not_continue_the_writer():
    """The _Sink guard: should the client ever hand over a body from
    anywhere but where the Writer stands (a restart, a repeated block), the
    fetch fails and the Writer gets nothing more."""
    from suit_fetch import _Sink

    class Ex:
        received = 0

    got = []

    class W:
        def write(self, chunk):
            got.append(bytes(chunk))

    sink = _Sink(W())
    sink.ex = Ex()
    sink.write(b"abcd")  # the client counts a block after handing it over
    Ex.received = 4
    sink.write(b"efgh")
    Ex.received = 8
    assert got == [b"abcd", b"efgh"] and sink.error is None
    Ex.received = 0  # a restart at block 0
    sink.write(b"abcd")
    assert got == [b"abcd", b"efgh"] and sink.n == 8
    assert sink.error.code == se.SUIT_ERR_FETCH and "changed" in str(sink.error)
    Ex.received = 8
    sink.write(b"ijkl")  # failed for good
    assert got == [b"abcd", b"efgh"]


MP_FETCH = r'''
import sys
for p in ("cbor", "cose", "hgcrypto", "hgstore", "suit", "coap"):
    sys.path.append(%(lib)r + "/" + p)
import binascii
from hgstore import MemoryStorage
from suit_slots import SlotPlatform
from suit_fetch import CoapFetcher
import suit_envelope as se
pf = SlotPlatform(MemoryStorage(), [([b"fw"], "fw", 300000)])
pf.begin_update(None)
w = pf.open_writer([b"fw"], 262144)
CoapFetcher(timeout_ms=60000).fetch("coap://127.0.0.1:%%d/fw/image.bin" %% int(sys.argv[1]), w)
w.finish()
print(w.size, binascii.hexlify(w.digest()).decode())
try:
    CoapFetcher(timeout_ms=1000).fetch("coap://127.0.0.1:%%d/nope" %% int(sys.argv[1]), w)
except se.SuitError as e:
    print(e.code)
'''


def test_fetcher_under_micropython(aio_port, tmp_path):
    """The same fetcher on the MicroPython unix port (select.poll, bytes
    addresses), against the aiocoap server."""
    if not os.path.exists(PYPI_MP):
        pytest.skip("no .venv/bin/micropython")
    script = tmp_path / "fetch.py"
    script.write_text(MP_FETCH % {"lib": os.path.join(ROOT, "lib")})
    p = subprocess.run([PYPI_MP, str(script), str(aio_port)], capture_output=True, timeout=90)
    assert p.returncode == 0, p.stderr.decode()[-800:]
    lines = p.stdout.decode().split("\n")
    assert lines[0] == "%d %s" % (SIZE, hashlib.sha256(IMAGE).hexdigest())
    assert lines[1] == str(se.SUIT_ERR_FETCH)
