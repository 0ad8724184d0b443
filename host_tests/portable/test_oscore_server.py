# OSCORE over the CoAP stack: OSCOREServer (between coap_ep and coap_server)
# and OSCOREClient (between coap_client and coap_ep), joined in memory:
# protected resources, plain requests to them (4.01), errors, Observe,
# inner block-wise both ways, separate responses, Echo recovery after a
# restart (Appendix B.1.2), Outer Block1 reassembly, replays on the wire,
# retransmissions answered from the endpoint's duplicate cache, the binding
# cap ending observations. Outer Block2: test_oscore_blockwise.
import coap_msg as m
import oscore
from coap_client import Client
from coap_ep import Endpoint
from coap_server import M_POST, M_PUT, SEPARATE, Server
from coaptest import Check, DictStorage, MemoryLink, seq_rand
from hgtest import raises
from oscore_client import OSCOREClient
from oscore_server import OSCOREServer

MS = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff"
DEV = {"master_secret": "00112233445566778899aabbccddeeff", "device_id": "d0", "peer_id": "c1"}


_BIG = bytes(range(250)) * 6


class Net(MemoryLink):
    """Client endpoint "C" (with OSCOREClient) and server endpoint "S" (with
    OSCOREServer), in memory, one clock. wire: every datagram delivered."""

    def __init__(self, server_ctx=None, client_ctx=None, storage=None, **osrv_kw):
        self.store = {}
        srv = self.srv = Server(rand=seq_rand(9))
        if server_ctx is None:
            server_ctx = oscore.SecurityContext(MS, b"\xd0", b"\xc1")
        self.sctx = server_ctx
        osrv = self.osrv = OSCOREServer(srv, oscore.Contexts([server_ctx]), **osrv_kw)
        osrv.add("secret", lambda req: m.response(m.CONTENT, b"s3cret:" + (b"y" if req.oscore else b"n"), m.CF_TEXT))
        osrv.add("echo", lambda req: m.response(m.CHANGED, bytes(req.payload)), methods=M_POST)
        osrv.add("obs", self._obs, observable=True)
        osrv.add("big", lambda req: m.response(m.CONTENT, _BIG))
        osrv.add("upload", self._upload, methods=M_PUT | M_POST, sink=self._sink, max_body=8192)
        osrv.add("later", self._later)
        srv.add("public", lambda req: m.response(m.CONTENT, b"pub"))
        self.counter = 0
        self.pending = []
        # small duplicate caches: both ends share one 64 KiB heap on qemu
        self.sep = Endpoint(server=osrv, rand=seq_rand(7), dedup_bytes=1200)
        self.cep = Endpoint(rand=seq_rand(3), dedup_bytes=1200)
        self.oc = OSCOREClient(self.cep)
        if client_ctx is None:
            client_ctx = oscore.SecurityContext(MS, b"\xc1", b"\xd0")
        self.cctx = client_ctx
        if client_ctx is not False:
            self.oc.add_peer("S", client_ctx)
        self.client = Client(self.oc)
        self.wire = []
        self.record = True  # keep every datagram in self.wire

    def seen(self, dst, data):
        if self.record:
            self.wire.append((dst, bytes(data)))

    def _obs(self, req):
        return m.response(m.CONTENT, ("n%d" % self.counter).encode())

    def _sink(self, req, size):
        return Check(_BIG)

    def _upload(self, req):
        sink = req.sink
        self.store["up"] = (sink.n, sink.ok)
        return m.response(m.CHANGED, str(sink.n).encode())

    def _later(self, req):
        self.pending.append(req)
        return SEPARATE

    def to(self, dst):
        return [m.decode(d) for t, d in self.wire if t == dst]


def test_get_protected_and_wire_format():
    net = Net()
    ex = net.request(m.GET, "secret")
    assert ex.done and ex.error is None, ex.error
    r = ex.response
    assert r.code == m.CONTENT and bytes(r.payload) == b"s3cret:y" and r.oscore is not None
    assert r.opt_uint(m.CONTENT_FORMAT) == m.CF_TEXT
    req = net.to("S")[0]
    resp = net.to("C")[0]
    assert req.code == m.POST and req.opt(m.OSCORE) is not None and req.opt(m.URI_PATH) is None
    assert resp.code == m.CHANGED and resp.opt(m.OSCORE) == b"" and resp.opt(m.CONTENT_FORMAT) is None
    assert b"s3cret" not in net.wire[0][1] + net.wire[1][1]
    assert net.sctx.ssn == 0  # the response reused the request nonce
    # unprotected resources stay reachable with and without OSCORE
    assert net.request(m.GET, "public").response.payload == b"pub"


def test_plain_request_to_protected_resource():
    net = Net(client_ctx=False)
    ex = net.request(m.GET, "secret")
    assert ex.response.code == m.UNAUTHORIZED and not ex.response.payload
    assert net.request(m.GET, "public").response.payload == b"pub"
    # discovery marks protected resources with "osc"
    wk = bytes(net.request(m.GET, ".well-known/core").response.payload)
    assert b"</secret>;osc" in wk and b"</public>" in wk


def test_unknown_context_error_is_unprotected():
    other = oscore.SecurityContext(MS, b"\xc2", b"\xd0")
    net = Net(client_ctx=other)
    ex = net.request(m.POST, "echo", payload=b"x")
    r = ex.response
    assert r.code == m.UNAUTHORIZED and bytes(r.payload) == b"Security context not found"
    assert getattr(r, "oscore", None) is None  # not authenticated
    assert net.osrv.stats[1] == 1


def test_post_and_replay_on_the_wire():
    net = Net()
    ex = net.request(m.POST, "echo", payload=b"hello")
    assert ex.response.code == m.CHANGED and bytes(ex.response.payload) == b"hello"
    first = net.wire[0][1]
    # the same datagram again (same MID): the endpoint's duplicate detection
    # answers with the same protected response, nothing is processed twice
    back = net.sep.receive(first, "C", net.now)
    assert len(back) == 1 and bytes(back[0][0]) == net.wire[1][1]
    # replayed with a new MID: the replay window rejects it, unprotected
    replay = bytearray(first)
    replay[3] ^= 0x55
    back = net.sep.receive(bytes(replay), "C", net.now)
    r = m.decode(back[0][0])
    assert r.code == m.UNAUTHORIZED and r.payload == b"Replay detected" and r.opt(m.OSCORE) is None


def test_observe_notifications_protected():
    net = Net()
    ex = net.request(m.GET, "obs", observe=True)
    assert ex.observing and ex.response.payload == b"n0"
    assert net.osrv.bindings() == 1
    for i in range(1, 4):
        net.counter = i
        assert net.srv.notify("obs", net.now) == 1
        net.flush()
    got = [bytes(n.payload) for n in ex.notifications]
    assert got[-1] == b"n3", got
    notes = [x for x in net.to("C") if x.opt(m.OBSERVE) is not None]
    pivs = []
    for n in notes:
        piv = oscore.decode_option(n.opt(m.OSCORE))[0]
        assert n.code == m.CONTENT and n.opt_uint(m.OBSERVE) == int.from_bytes(piv, "big")
        pivs.append(int.from_bytes(piv, "big"))
    assert pivs == sorted(pivs) and len(set(pivs)) == len(pivs) == 4
    net.client.cancel(ex, net.now)
    net.flush()
    assert net.srv.observers("obs") == 0 and net.osrv.bindings() == 0


def test_block2_inner():
    net = Net()
    net.tamper = _no_block_outside
    net.record = False  # 64 KiB image: keep only what the test needs
    chk = Check(_BIG)
    ex = net.request(m.GET, "big", sink=chk)
    assert ex.error is None and ex.response.code == m.CONTENT, (ex.error, ex.response, net.srv.last_error)
    assert chk.n == 1500 and chk.ok and ex.response.oscore is not None
    assert net.oc.stats[0] == 2 and _SEEN[0] >= 4


def test_block1_inner():
    net = Net()
    net.tamper = _no_block_outside
    net.record = False
    ex = net.request(m.PUT, "upload", payload=_BIG)
    assert ex.error is None and ex.response.payload == b"1500", (ex.error, ex.response)
    assert net.store["up"] == (1500, True)
    assert net.oc.stats[0] == 2


_SEEN = [0]


def _no_block_outside(dst, data):
    # every datagram is an OSCORE message; block options only inside
    x = m.decode(data, True)  # zero-copy: no 1 KiB payload copy per datagram
    assert x.opt(m.OSCORE) is not None and x.opt(m.BLOCK1) is None and x.opt(m.BLOCK2) is None
    _SEEN[0] += 1
    return data


def test_separate_response_protected():
    net = Net()
    ex = net.request(m.GET, "later")
    assert not ex.done and len(net.pending) == 1
    net.srv.respond(net.pending[0], m.response(m.CONTENT, b"late"), net.now)
    net.flush()
    assert ex.done and ex.response.payload == b"late" and ex.response.oscore is not None
    assert net.to("C")[-1].opt(m.OSCORE) == b""


def test_echo_recovery_after_restart():
    st = DictStorage()
    oscore.provision(st, "dev", DEV)
    net = Net(server_ctx=oscore.load(st, "dev"))
    ex = net.request(m.POST, "echo", payload=b"after reboot")
    assert ex.error is None and ex.response.code == m.CHANGED, (ex.error, ex.response)
    assert bytes(ex.response.payload) == b"after reboot"
    assert net.osrv.stats[2] == 1  # one 4.01 + Echo challenge, protected
    challenge = net.to("C")[0]
    assert challenge.opt(m.OSCORE) not in (None, b"") and challenge.code == m.CHANGED
    assert net.sctx.window.initialized
    # later requests go straight through
    assert net.request(m.GET, "secret").response.payload == b"s3cret:y"
    assert net.osrv.stats[2] == 1


def test_outer_block1_reassembly():
    net = Net()
    cctx = oscore.SecurityContext(MS, b"\xc1", b"\xd0", ssn=500)
    req = m.Message(m.CON, m.POST, 1, b"\x42", None, b"z" * 100).set_path("echo")
    outer, b = oscore.protect_request(cctx, req)
    ct = bytes(outer.payload)
    assert len(ct) > 64
    blocks = [ct[0:32], ct[32:64], ct[64:]]
    resps = []
    for i, chunk in enumerate(blocks):
        frag = m.Message(m.CON, m.POST, 10 + i, b"\x42", list(outer.opts), chunk)
        frag.add(m.BLOCK1, m.block_encode(i, i < 2, 1))
        out = net.sep.receive(frag.encode(), "C", 0)
        resps.append(m.decode(out[0][0]))
    assert [r.code for r in resps[:2]] == [m.CONTINUE, m.CONTINUE]
    assert resps[0].opt(m.OSCORE) is None
    final = resps[2]
    assert final.block1() == (2, 0, 1)
    plain = oscore.unprotect_response(b, final)
    assert plain.code == m.CHANGED and bytes(plain.payload) == b"z" * 100
    # out of order: 4.08
    frag = m.Message(m.CON, m.POST, 20, b"\x43", list(outer.opts), ct[32:64])
    frag.add(m.BLOCK1, m.block_encode(1, 1, 1))
    assert m.decode(net.sep.receive(frag.encode(), "C", 0)[0][0]).code == m.REQUEST_ENTITY_INCOMPLETE
    # over max_unfragmented: 4.13
    net.osrv._max_unfrag = 40
    frag = m.Message(m.CON, m.POST, 21, b"\x44", list(outer.opts), ct[:32])
    frag.add(m.BLOCK1, m.block_encode(0, 1, 1))
    net.sep.receive(frag.encode(), "C", 0)
    frag = m.Message(m.CON, m.POST, 22, b"\x44", list(outer.opts), ct[32:64])
    frag.add(m.BLOCK1, m.block_encode(1, 1, 1))
    assert m.decode(net.sep.receive(frag.encode(), "C", 0)[0][0]).code == m.REQUEST_ENTITY_TOO_LARGE


def test_tampered_response_dropped_by_client():
    net = Net()

    def flip(dst, data):
        if dst == "C" and len(data) > 12:
            b = bytearray(data)
            b[-1] ^= 1
            return bytes(b)
        return data

    net.tamper = flip
    ex = net.request(m.GET, "secret", timeout_ms=3000)
    assert not ex.done and net.oc.stats[2] == 1
    net.tamper = None
    net.now += 4000
    net._deliver(net.cep.poll(net.now), "S")
    assert ex.done and ex.error is not None and ex.response is None


def test_wrapper_needs_contexts():
    raises(oscore.OSCOREError, oscore.Contexts([oscore.SecurityContext(MS, b"\xd0", b"\xc1")]).add,
           oscore.SecurityContext(b"other", b"\xd1", b"\xc1"))


def _state(net):
    w = net.sctx.window
    return (w.top, bytes(w._ring), w.initialized, net.sctx.ssn, tuple(net.osrv.stats),
            net.osrv.bindings(), net.srv.observers())


def test_retransmitted_observe_registration_answered_from_cache():
    # a protected Observe registration is an Outer FETCH: without the
    # endpoint remembering it, the retransmission (its ACK was lost) would
    # go through the replay window again and get "Replay detected"
    net = Net()
    ex = net.request(m.GET, "obs", observe=True)
    assert ex.observing
    reg, resp = net.wire[0][1], net.wire[1][1]
    assert m.decode(reg).code == m.FETCH and m.decode(reg).mtype == m.CON
    before = _state(net)
    assert before[3] == 1  # the registration's response took a Partial IV
    back = net.sep.receive(reg, "C", net.now + 3000)
    assert len(back) == 1 and bytes(back[0][0]) == resp  # the identical response
    assert _state(net) == before  # window, sequence number, stats, observers
    # the same for a protected GET (Outer POST) and a NON duplicate (ignored)
    ex = net.request(m.GET, "secret")
    req, resp = net.wire[-2][1], net.wire[-1][1]
    before = _state(net)
    back = net.sep.receive(req, "C", net.now + 2000)
    assert [bytes(d) for d, _ in back] == [resp] and _state(net) == before
    ex = net.request(m.GET, "secret", con=False)
    assert ex.done and ex.response.payload == b"s3cret:y"
    req = net.wire[-2][1]
    assert m.decode(req).mtype == m.NON
    before = _state(net)
    assert net.sep.receive(req, "C", net.now + 2000) == () and _state(net) == before


def test_binding_cap_cancels_observation():
    net = Net(max_bindings=2)
    obs = [net.request(m.GET, "obs", observe=True) for _ in range(3)]
    assert all(ex.observing for ex in obs)
    # the third registration pushed out the first binding, and with it the
    # first observation (cancel_observation): nothing goes out unprotected
    assert net.osrv.bindings() == 2 and net.srv.observers("obs") == 2
    net.counter = 7
    n = len(net.wire)
    assert net.srv.notify("obs", net.now) == 2
    net.flush()
    notes = [m.decode(d) for t, d in net.wire[n:] if t == "C"]
    assert len(notes) == 2 and all(x.opt(m.OSCORE) for x in notes)
    assert [bytes(x.token) for x in notes] == [obs[1].token, obs[2].token]
    assert obs[0].notifications[-1].payload == b"n0"
    assert obs[2].notifications[-1].payload == b"n7"
