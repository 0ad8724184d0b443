# OSCORE Outer Block2 (RFC 8613 4.1.3.4.2 with RFC 7959): OSCOREServer sends
# a protected response that does not fit one datagram (or outer_szx) as
# blocks of the OSCORE message, OSCOREClient reassembles them before
# verification. Piggybacked, separate and notification responses, the
# block size from outer_szx, from ep.mtu and from the request, block
# requests the way aiocoap sends them (same OSCORE option, no payload),
# 4.08 when nothing is kept, expiry, the caps, a tampered block, cancel.
# It runs on the 64 KiB qemu image too: bodies of 3 KiB at most, generated
# block by block (Pattern) and checked as they arrive (Check), inner blocks
# of 512 bytes for the 3 KiB transfer, a lean Net of its own.
import coap_msg as m
import oscore
from coap_client import Client
from coap_ep import Endpoint
from coaptest import Check, MemoryLink, seq_rand
from coap_server import SEPARATE, Server
from oscore_client import OSCOREClient
from oscore_server import OSCOREServer

MS = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff"
_SIZE = 3072


class Pattern:
    """A generated body (byte i: (i + salt) * 7 + ((i + salt) >> 8)): the
    Server reads it block by block and Check compares against it, so no
    test holds a 3 KiB buffer (64 KiB image)."""

    def __init__(self, n, salt=0):
        self.n = n
        self.salt = salt

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        i += self.salt
        return (i * 7 + (i >> 8)) & 255

    def read_block(self, off, n):
        out = bytearray(n)
        for i in range(n):
            out[i] = self[off + i]
        return out


def _same(got, ref):
    if len(got) != len(ref):
        return False
    for i in range(len(ref)):
        if got[i] != ref[i]:
            return False
    return True


class Net(MemoryLink):
    """Client endpoint "C" (OSCOREClient) and server endpoint "S"
    (OSCOREServer with **kw), in memory, one clock; smaller than
    test_oscore_server's (buffers of `mtu` bytes, 600-byte duplicate
    caches): the 64 KiB image runs this module too."""

    def __init__(self, mtu=512, szx=6, **kw):
        self.srv = Server(rand=seq_rand(9), well_known=False, block_szx=szx)
        self.sctx = oscore.SecurityContext(MS, b"\xd0", b"\xc1")
        self.osrv = OSCOREServer(self.srv, oscore.Contexts([self.sctx]), **kw)
        self.pending = []
        self.osrv.add("later", self._later)
        self.osrv.add("small", lambda req: m.response(m.CONTENT, b"small"))
        self.sep = Endpoint(server=self.osrv, rand=seq_rand(7), dedup_bytes=600, mtu=mtu)
        self.cep = Endpoint(rand=seq_rand(3), dedup_bytes=600, mtu=mtu)
        self.oc = OSCOREClient(self.cep)
        self.oc.add_peer("S", oscore.SecurityContext(MS, b"\xc1", b"\xd0"))
        self.client = Client(self.oc, max_notifications=1)

    def _later(self, req):
        self.pending.append(req)
        return SEPARATE


class Wire:
    """Summaries of the datagrams (no payloads kept: 64 KiB RAM)."""

    def __init__(self, net):
        self.items = []
        net.tamper = self.see

    def see(self, dst, data):
        x = m.decode(data, True)
        ov = x.opt(m.OSCORE)
        self.items.append((dst, x.code, None if ov is None else bytes(ov), x.block2(),
                           len(x.payload), len(data), x.opt_uint(m.SIZE2), x.opt(m.OBSERVE) is not None))
        return data

    def to(self, dst):
        return [i for i in self.items if i[0] == dst]


def _add_big(net, size=_SIZE):
    body = Pattern(size)
    net.osrv.add("big3k", lambda req: m.response(m.CONTENT, body))
    return body


def test_outer_block2_piggybacked_3k():
    # inner blocks of 512 bytes (each protected block needs a few buffers of
    # that size at once: 64 KiB image), outer blocks of 256
    net = Net(szx=5, outer_szx=4)
    body = _add_big(net)
    w = Wire(net)
    chk = Check(body)
    ex = net.request(m.GET, "big3k", sink=chk)
    assert ex.done and ex.error is None, (ex.error, net.srv.last_error)
    assert ex.response.code == m.CONTENT and chk.n == _SIZE and chk.ok
    assert ex.response.oscore is not None  # every block was verified
    # inner block-wise (512-byte blocks of the body) as before, and each of
    # those protected messages in outer blocks of at most 256 bytes
    to_c = w.to("C")
    assert all(i[2] is not None for i in w.items)  # every datagram is OSCORE
    assert all(i[4] <= 256 for i in to_c)
    firsts = [i for i in to_c if i[3] is not None and i[3][0] == 0]
    assert len(firsts) == 6 and all(i[3][1] and i[6] > 512 for i in firsts)  # Size2: the whole
    assert len(to_c) == 6 * 3
    # block requests: the full request's OSCORE option again, Outer Block2,
    # no payload; full requests: no Outer Block2
    full = None
    for i in w.to("S"):
        if i[3] is None:
            full = i
            assert i[4] > 0 and i[1] == m.POST
        else:
            assert i[2] == full[2] and i[4] == 0 and i[3][0] > 0 and i[1] == m.POST
    assert len([i for i in w.to("S") if i[3] is None]) == 6  # one per inner block
    # the server's responses reused the request nonces; nothing stays kept
    assert net.sctx.ssn == 0 and net.osrv.kept() == 0 and net.oc.reassembling() == 0
    assert net.sctx.window.top == 5  # block requests never reached the replay window


def test_outer_block2_from_mtu():
    # no outer_szx: only what does not fit ep.mtu is split, in the largest
    # blocks that do fit
    net = Net(mtu=400)
    chk = Check(_add_big(net, 1500))
    w = Wire(net)
    ex = net.request(m.GET, "big3k", sink=chk)  # 1500 bytes: inner blocks of 1024 + 476
    assert ex.error is None and chk.n == 1500 and chk.ok
    to_c = w.to("C")
    assert max(i[5] for i in to_c) <= 400
    szx = [i[3][2] for i in to_c if i[3] is not None]
    assert len(szx) == 7 and szx == [4] * 7  # 256-byte blocks: 5 + 2
    assert net.request(m.GET, "small").response.payload == b"small"
    assert w.items[-1][3] is None  # a small response goes whole


def _protected(net, path, mid, token, b2=None, ssn=700):
    """A protected GET from a context of the client's keys (as aiocoap
    would send it), optionally with an Outer Block2 size request."""
    cctx = oscore.SecurityContext(MS, b"\xc1", b"\xd0", ssn=ssn)
    req = m.Message(m.CON, m.GET, mid, token).set_path(path)
    outer, b = oscore.protect_request(cctx, req)
    if b2 is not None:
        outer.add(m.BLOCK2, m.block_encode(b2[0], 0, b2[1]))
    return outer, b


def _block_req(outer, mid, token, num, szx):
    # RFC 7959 3.3 / aiocoap: the request again, Block2, no payload
    r = m.Message(m.CON, outer.code, mid, token, [(n, v) for n, v in outer.opts if n != m.BLOCK2])
    r.add(m.BLOCK2, m.block_encode(num, 0, szx))
    return r.encode()


def _ask(net, data, peer="C", now=0):
    out = net.sep.receive(data, peer, now)
    assert len(out) == 1, out
    return m.decode(out[0][0])


def test_outer_block2_requested_size_and_block_requests():
    net = Net(mtu=1024)  # no outer_szx, the response fits: only the request asks for blocks
    body = _add_big(net, 900)
    outer, b = _protected(net, "big3k", 1, b"\x51", b2=(0, 3))  # 128-byte blocks
    r0 = _ask(net, outer.encode())
    assert r0.block2() == (0, 1, 3) and len(r0.payload) == 128 and r0.opt(m.OSCORE) == b""
    size = r0.opt_uint(m.SIZE2)
    assert size > 900 and net.osrv.kept() == 1
    window = (net.sctx.window.top, bytes(net.sctx.window._ring))
    # nothing kept for another client (or another request): 4.08, unprotected
    r = _ask(net, _block_req(outer, 2, b"\x52", 1, 3), peer="X")
    assert r.code == m.REQUEST_ENTITY_INCOMPLETE and r.opt(m.OSCORE) is None
    other, _ = _protected(net, "big3k", 3, b"\x53", ssn=900)
    r = _ask(net, _block_req(other, 3, b"\x53", 1, 3))
    assert r.code == m.REQUEST_ENTITY_INCOMPLETE
    # the rest, block by block, with new tokens; block 1 asked twice
    buf = bytearray(size)
    buf[:128] = r0.payload
    got = 128
    mid = 10
    for num in (1, 1, 2, 3, 4, 5, 6, 7, 8):
        mid += 1
        r = _ask(net, _block_req(outer, mid, bytes((mid,)), num, 3))
        assert r.code == m.CHANGED and r.block2()[0] == num, (num, r)
        assert r.opt(m.SIZE2) is None and r.opt(m.OSCORE) == b""
        if got == num * 128:
            buf[got : got + len(r.payload)] = r.payload
            got += len(r.payload)
        if not r.block2()[1]:
            break
    assert got == size and net.osrv.kept() == 0  # forgotten after the last block
    assert (net.sctx.window.top, bytes(net.sctx.window._ring)) == window
    whole = m.Message(m.ACK, r0.code, 1, b"\x51",
                      [(n, v) for n, v in r0.opts if n != m.BLOCK2 and n != m.SIZE2], buf)
    plain = oscore.unprotect_response(b, whole)
    assert plain.code == m.CONTENT and _same(plain.payload, body)
    r = _ask(net, _block_req(outer, 40, b"\x54", 2, 3))
    assert r.code == m.REQUEST_ENTITY_INCOMPLETE


def test_outer_block2_bigger_block_request_and_expiry():
    net = Net(outer_szx=3, outer_lifetime_ms=5000, max_outer=1)
    _add_big(net, 600)
    outer, b = _protected(net, "big3k", 1, b"\x61")
    r0 = _ask(net, outer.encode())
    assert r0.block2() == (0, 1, 3)
    # asked for in 256-byte blocks: the server keeps its own 128 (RFC 7959 2.4)
    r = _ask(net, _block_req(outer, 2, b"\x62", 1, 4))
    assert r.block2() == (2, 1, 3)
    r = _ask(net, _block_req(outer, 3, b"\x63", 300, 3))
    assert r.code == m.BAD_OPTION  # past the end
    assert net.sep.next_timeout_ms(100) == 4900
    net.sep.poll(5000)
    assert net.osrv.kept() == 0 and net.sep.next_timeout_ms(5000) is None
    assert _ask(net, _block_req(outer, 4, b"\x64", 3, 3), now=5000).code == m.REQUEST_ENTITY_INCOMPLETE
    # max_outer=1: a second fragmented response pushes out the first
    o1, _ = _protected(net, "big3k", 5, b"\x65", ssn=800)
    o2, _ = _protected(net, "big3k", 6, b"\x66", ssn=801)
    _ask(net, o1.encode(), now=5000)
    _ask(net, o2.encode(), now=5000)
    assert net.osrv.kept() == 1
    assert _ask(net, _block_req(o1, 7, b"\x67", 1, 3), now=5000).code == m.REQUEST_ENTITY_INCOMPLETE
    assert _ask(net, _block_req(o2, 8, b"\x68", 1, 3), now=5000).block2()[0] == 1


class _Obs:
    def __init__(self, net):
        self.n = 0
        net.osrv.add("obsbig", self.handler, observable=True)

    def handler(self, req):
        return m.response(m.CONTENT, Pattern(600, self.n))


def test_outer_block2_notifications():
    net = Net(outer_szx=4)
    obs = _Obs(net)
    w = Wire(net)
    ex = net.request(m.GET, "obsbig", observe=True)
    assert ex.observing and _same(ex.notifications[-1].payload, Pattern(600)), (ex.error, ex.response)
    for i in (1, 2):
        obs.n = i
        assert net.srv.notify("obsbig", net.now) == 1
        net.flush()
        assert _same(ex.notifications[-1].payload, Pattern(600, i))
    notes = [i for i in w.to("C") if i[7]]
    assert len(notes) == 3 and all(i[3] == (0, 1, 4) for i in notes)  # Observe on block 0 only
    assert all(i[4] <= 256 for i in w.to("C"))
    assert net.osrv.kept() == 0 and net.oc.reassembling() == 0
    # a block request lost: notify() has no clock, so the kept notification
    # is timed from the next poll; the client's retransmission gets the block
    net.tamper = lambda dst, data: None if dst == "S" and m.decode(data, True).opt(m.BLOCK2) else data
    obs.n = 3
    net.srv.notify("obsbig", net.now)
    net.flush()
    assert net.osrv.kept() == 1 and net.oc.reassembling() == 1
    assert net.sep.next_timeout_ms(net.now) == 0
    net.sep.poll(net.now)
    assert net.sep.next_timeout_ms(net.now) == 60000
    net.tamper = None
    net.now += 3000  # past the client's ACK timeout
    net._deliver(net.cep.poll(net.now), "S")
    assert _same(ex.notifications[-1].payload, Pattern(600, 3))
    assert net.osrv.kept() == 0 and net.oc.reassembling() == 0
    net.client.cancel(ex, net.now)
    net.flush()
    assert net.srv.observers() == 0 and net.osrv.bindings() == 0


def test_outer_block2_separate_response():
    net = Net(outer_szx=4)
    w = Wire(net)
    ex = net.request(m.GET, "later")
    assert not ex.done and len(net.pending) == 1
    net.srv.respond(net.pending[0], m.response(m.CONTENT, Pattern(700)), net.now)
    net.flush()
    assert ex.done and ex.error is None and _same(ex.response.payload, Pattern(700))
    assert ex.response.oscore is not None
    blocks = [i for i in w.to("C") if i[3] is not None]
    assert len(blocks) == 3 and blocks[0][3] == (0, 1, 4)
    assert net.osrv.kept() == 0 and net.oc.reassembling() == 0


def test_outer_block2_client_gets_the_servers_4_08():
    net = Net(outer_szx=4)
    _add_big(net, 700)

    def forget(dst, data):
        x = m.decode(data, True)
        if dst == "S" and x.opt(m.BLOCK2) is not None:
            net.osrv.poll(net.now + 100000)  # the kept response expires
        return data

    net.tamper = forget
    ex = net.request(m.GET, "big3k")
    assert ex.done and ex.response.code == m.REQUEST_ENTITY_INCOMPLETE
    assert getattr(ex.response, "oscore", None) is None  # not authenticated
    assert net.oc.reassembling() == 0 and net.oc.bindings() == 0 and net.oc.stats[2] == 1


def test_outer_block2_client_caps():
    net = Net(outer_szx=4)
    _add_big(net)
    net.oc._max_unfrag = 512  # Size2 announces more: refused at block 0
    ex = net.request(m.GET, "big3k")
    assert ex.done and ex.error is not None and ex.response is None
    assert net.oc.reassembling() == 0 and net.oc.stats[2] == 1


def test_outer_block2_tampered_block():
    # the reassembled message fails verification: dropped, the request times out
    net = Net(outer_szx=4)
    _add_big(net)
    seen = [0]

    def flip(dst, data):
        x = m.decode(data, True)
        if dst == "C" and x.block2() is not None and x.block2()[0] == 2:
            seen[0] += 1
            if seen[0] == 1:
                b = bytearray(data)
                b[-3] ^= 0x40
                return bytes(b)
        return data

    net.tamper = flip
    ex = net.request(m.GET, "big3k", timeout_ms=5000)
    assert not ex.done and net.oc.stats[2] == 1 and net.oc.reassembling() == 0
    net.tamper = None
    net.now += 6000
    net._deliver(net.cep.poll(net.now), "S")
    assert ex.done and ex.error == "timeout"


def test_outer_block2_client_abandons_on_cancel():
    net = Net(outer_szx=4)
    _add_big(net, 700)
    held = []

    def hold(dst, data):
        x = m.decode(data, True)
        if dst == "S" and x.opt(m.BLOCK2) is not None:
            held.append(data)
            return None  # the block request is lost
        return data

    net.tamper = hold
    ex = net.request(m.GET, "big3k")
    assert not ex.done and net.oc.reassembling() == 1 and net.cep.outstanding() == 1
    net.client.cancel(ex, net.now)
    assert ex.done and net.oc.reassembling() == 0 and net.cep.outstanding() == 0
