# CoAP client core (lib/coap/coap_client.py): URIs, block-wise corner
# cases, Observe ordering, NON requests, timeouts and caps.
import coap_msg as m
from coap_client import Client, parse_uri
from coap_ep import Endpoint
from coap_server import M_GET, M_POST, Server
from coaptest import Check
from hgtest import raises
from test_coap_endpoint import Net, seq_rand


def test_parse_uri():
    assert parse_uri("coap://host/a/b?x=1&y") == ("host", 5683, ["a", "b"], ["x=1", "y"])
    assert parse_uri("coap://127.0.0.1:5799/.well-known/core?rt=x") == \
        ("127.0.0.1", 5799, [".well-known", "core"], ["rt=x"])
    assert parse_uri("coap://[::1]:61616/") == ("::1", 61616, [], [])
    assert parse_uri("coap://[::1]") == ("::1", 5683, [], [])
    assert parse_uri("coap://h?q") == ("h", 5683, [], ["q"])
    assert parse_uri("coap://h/a%2Fb/%7e") == ("h", 5683, ["a/b", "~"], [])
    assert parse_uri("coap://h/a//b") == ("h", 5683, ["a", "", "b"], [])
    for bad in ("http://h/", "coap://", "coap:///x", "coap://[::1/"):
        raises(m.CoAPError, parse_uri, bad)


def test_methods_and_fetch():
    srv = Server()
    got = []

    def any_method(req):
        got.append((req.code, bytes(req.payload)))
        return m.response(m.CONTENT if req.code in (m.GET, m.FETCH) else m.CHANGED, b"r")

    srv.add("x", any_method, methods=0xFE)
    net = Net(srv)
    for code in (m.GET, m.POST, m.PUT, m.DELETE, m.FETCH):
        ex = net.request(code, "x", payload=b"q" if code != m.GET else b"", cf=m.CF_CBOR)
        assert ex.done and ex.error is None
    assert [c for c, _ in got] == [m.GET, m.POST, m.PUT, m.DELETE, m.FETCH]
    assert got[4] == (m.FETCH, b"q")


def test_fetch_block2_repeats_body():
    srv = Server()
    bodies = []

    def f(req):
        bodies.append(bytes(req.payload))
        return m.response(m.CONTENT, bytes(range(256)) * 8)

    srv.add("f", f, methods=M_GET | 32)
    net = Net(srv)
    ex = net.request(m.FETCH, "f", payload=b"query")
    assert ex.done and len(ex.response.payload) == 2048
    assert bodies == [b"query", b"query"]


def test_non_requests():
    srv = Server()
    srv.add("x", lambda req: m.response(m.CONTENT, b"n"))
    net = Net(srv)
    ex = net.request(m.GET, "x", con=False)
    assert ex.done and ex.response.payload == b"n"
    assert net.sent_to("S")[0].mtype == m.NON and net.sent_to("C")[0].mtype == m.NON
    # a lost NON request times out (no retransmission at the message layer)
    net.drop = lambda to, msg: to == "S"
    ex = net.request(m.GET, "x", con=False, timeout_ms=5000)
    net.advance(6000)
    assert ex.done and ex.error == "timeout"


def test_etag_change_restarts_once_then_fails():
    srv = Server()
    state = {"v": 0, "bump": 0}

    def changing(req):
        b2 = req.block2()
        if b2 is not None and b2[0] == 1 and state["bump"]:
            state["v"] += 1
            state["bump"] -= 1
        return m.response(m.CONTENT, bytes([state["v"]]) * 2500).add(m.ETAG, bytes([state["v"]]))

    srv.add("c", changing)
    net = Net(srv)
    state["bump"] = 1
    ex = net.request(m.GET, "c")
    assert ex.done and ex.error is None and ex.response.payload == b"\x01" * 2500
    state["bump"] = 5
    ex = net.request(m.GET, "c")
    assert ex.done and ex.error == "representation changed during transfer"


def test_max_body_and_sink():
    srv = Server()
    srv.add("b", lambda req: m.response(m.CONTENT, b"z" * 5000))
    net = Net(srv, max_body=3000)
    ex = net.request(m.GET, "b")
    assert ex.done and ex.error == "body too large"

    class S:
        n = 0

        def write(self, c):
            S.n += len(c)

    ex = net.request(m.GET, "b", sink=S(), max_body=10000)
    assert ex.done and ex.error is None and S.n == 5000 and ex.response.payload == b""


def test_progress_events():
    srv = Server(block_szx=4)  # 256-byte blocks: small enough for the 64 KiB image
    srv.add("up", lambda req: m.response(m.CHANGED), methods=M_POST,
            sink=lambda req, n: _Null(), max_body=10000)
    down = b"d" * 700
    srv.add("down", lambda req: m.response(m.CONTENT, down))
    net = Net(srv, szx=4)
    events = []
    cb = lambda ex, kind: events.append((kind, ex.sent, ex.received, ex.total))
    net.request(m.POST, "up", payload=b"u" * 700, callback=cb)
    assert [e for e in events if e[0] == "progress"] == [("progress", 256, 0, 700),
                                                          ("progress", 512, 0, 700),
                                                          ("progress", 700, 0, 700)]
    assert events[-1][0] == "done" and events[-1][1] == 700
    events[:] = []
    net.request(m.GET, "down", callback=cb)
    assert [e[2] for e in events if e[0] == "progress"] == [256, 512, 700]
    assert events[0][3] == 700  # Size2 known from the first block


class _Null:
    def write(self, c):
        pass

    def abort(self):
        pass


def test_exchange_cap():
    net = Net(None, max_exchanges=2)
    net.client.request("S", m.GET, "a")
    net.client.request("S", m.GET, "b")
    raises(m.CoAPLimitError, net.client.request, "S", m.GET, "c")


def test_cancel_pending_request():
    net = Net(Server())
    net.drop = lambda to, msg: True
    ex = net.request(m.GET, "x")
    queued = net.client.request("S", m.GET, "y", now=net.now)  # waits for NSTART
    net.client.cancel(queued, net.now)
    assert queued.done and queued.error == "cancelled"
    net.client.cancel(ex, net.now)
    assert ex.done and net.cep.outstanding() == 0 and net.cep.next_timeout_ms(0) is None


def test_observe_ordering_rules():
    cl = Client(Endpoint(rand=seq_rand()))

    class Ex:
        _seq = None
        _seq_t = 0

    ex = Ex()
    assert cl._fresh(ex, 5, 0)
    ex._seq = 5
    assert cl._fresh(ex, 6, 0) and not cl._fresh(ex, 5, 0) and not cl._fresh(ex, 4, 0)
    ex._seq = 0xFFFFF0
    assert cl._fresh(ex, 3, 0)  # wrapped around 2^24
    ex._seq = 3
    assert not cl._fresh(ex, 0xFFFFF0, 0)
    assert cl._fresh(ex, 1, 128001)  # older number but more than 128 s later


def test_stale_notification_ignored():
    srv = Server()
    srv.add("o", lambda req: m.response(m.CONTENT, b"v"), observable=True)
    net = Net(srv)
    ex = net.request(m.GET, "o", observe=True)
    tok = net.sent_to("C")[0].token
    seq = net.sent_to("C")[0].opt_uint(m.OBSERVE)
    old = m.Message(m.NON, m.CONTENT, 999, tok, None, b"old")
    old.add(m.OBSERVE, seq - 1 if seq else 0xFFFFFF)
    out = net.cep.receive(old.encode(), "S", net.now)
    assert list(out) == []  # accepted as ours (no RST) but not delivered
    assert len(ex.notifications) == 1
    new = m.Message(m.NON, m.CONTENT, 1000, tok, None, b"new")
    new.add(m.OBSERVE, seq + 1)
    net.cep.receive(new.encode(), "S", net.now)
    assert ex.notifications[-1].payload == b"new"
    # from another peer the same token is not ours
    new.add(m.OBSERVE, seq + 2)
    assert net.cep.receive(new.encode(), "T", net.now)[0][0][0] & 0x30 == 0x30


def test_notification_buffer_bounded():
    srv = Server()
    srv.add("o", lambda req: m.response(m.CONTENT, b"v"), observable=True)
    net = Net(srv, max_notifications=2)
    ex = net.request(m.GET, "o", observe=True)
    for i in range(5):
        srv.notify("o", net.now)
        net.flush()
    assert len(ex.notifications) == 2


def test_size2_wrong_in_either_direction():
    srv = Server(block_szx=4)
    state = {"size2": 100}
    body = bytes(range(256)) * 3

    def lying(req):
        r = m.response(m.CONTENT, body)
        return r

    srv.add("b", lying)
    orig = srv._block2

    def patched(resp, b2):  # the server announces a wrong Size2
        out = orig(resp, b2)
        if out.opt(m.SIZE2) is not None:
            out.set(m.SIZE2, state["size2"])
        return out

    srv._block2 = patched
    net = Net(srv, szx=4)
    for wrong in (100, 5000):
        state["size2"] = wrong
        ex = net.request(m.GET, "b")
        assert ex.done and ex.error is None and bytes(ex.response.payload) == body, wrong


def test_observe_registered_under_echo_retry_token():
    # RFC 9175: the first registration gets 4.01 + Echo, the retry (a fresh
    # token) is the one the server files; notifications on it are ours
    srv = Server()
    state = {"n": 0}
    srv.add("o", lambda req: m.response(m.CONTENT, ("v%d" % state["n"]).encode()),
            observable=True, fresh=True)
    net = Net(srv)
    ex = net.request(m.GET, "o", observe=True)
    regs = net.sent_to("S")
    assert [r.code for r in net.sent_to("C")] == [m.UNAUTHORIZED, m.CONTENT]
    assert len(regs) == 2 and regs[1].opt(m.ECHO) is not None and regs[0].token != regs[1].token
    assert ex.observing and ex.token == bytes(regs[1].token) and srv.observers("o") == 1
    assert list(net.client._tokens) == [ex.token]  # the challenged token is forgotten
    for i in range(1, 3):
        state["n"] = i
        assert srv.notify("o", net.now) == 1
        net.flush()
    assert [bytes(x.payload) for x in ex.notifications] == [b"v0", b"v1", b"v2"]
    assert all(x.mtype != m.RST for x in net.sent_to("S")) and srv.observers("o") == 1
    # the deregistration is checked for freshness too: after the Echo value
    # expired (10 s) it is challenged and sent again, on the same token
    net.now += 11000
    n = len(net.log)
    net.client.cancel(ex, net.now)
    net.flush()
    deregs = [x for d, x in net.log[n:] if d == "S"]
    assert [x.code for d, x in net.log[n:] if d == "C"] == [m.UNAUTHORIZED, m.CONTENT]
    assert [x.token for x in deregs] == [regs[1].token] * 2
    assert [x.opt_uint(m.OBSERVE) for x in deregs] == [1, 1]
    assert deregs[0].opt(m.ECHO) == regs[1].opt(m.ECHO) != deregs[1].opt(m.ECHO)
    assert ex.done and ex.error is None and srv.observers("o") == 0 and not net.client._tokens


def _changing_server(state, body_len=2500):
    srv = Server(block_szx=4)
    state["reqs"] = []

    def changing(req):
        b2 = req.block2()
        num = 0 if b2 is None else b2[0]
        state["reqs"].append(num)
        if num == 1 and state["bump"]:
            state["v"] += 1
            state["bump"] -= 1
        v = bytes([state["v"]])
        return m.response(m.CONTENT, v * body_len).add(m.ETAG, v)

    srv.add("c", changing)
    return srv


def test_etag_change_with_sink_ends_without_restart():
    # a sink cannot be rewound: a changed representation ends the exchange
    # instead of feeding the sink from block 0 again
    state = {"v": 0, "bump": 1}
    net = Net(_changing_server(state), szx=4)
    chk = Check(b"\x00" * 2500)
    ex = net.request(m.GET, "c", sink=chk)
    assert ex.done and ex.error == "representation changed during transfer"
    assert chk.n == 256 and chk.ok  # block 0 only: nothing of the new representation
    assert state["reqs"] == [0, 1]  # no restart at block 0
    # without a sink the body is in memory and the restart stays
    state["bump"] = 1
    state["v"] = 0
    ex = net.request(m.GET, "c")
    assert ex.done and ex.error is None and ex.response.payload == b"\x01" * 2500
    assert state["reqs"] == [0, 1, 0, 1, 0] + list(range(1, 10))


def test_echo_in_the_middle_of_block2_asks_for_that_block_again():
    # a 4.01 + Echo on a Block2 continuation (server rebooted mid-download):
    # the same block again with the Echo, not the whole body from block 0
    srv = Server(block_szx=4)
    body = bytes(range(256)) * 3
    seen = []

    def h(req):
        b2 = req.block2()
        num = 0 if b2 is None else b2[0]
        echo = req.opt(m.ECHO)
        seen.append((num, None if echo is None else bytes(echo)))
        if num == 1 and echo is None:
            return m.response(m.UNAUTHORIZED).add(m.ECHO, b"\xe1\xe2")
        return m.response(m.CONTENT, body)

    srv.add("b", h)
    net = Net(srv, szx=4)
    chk = Check(body)
    ex = net.request(m.GET, "b", sink=chk)
    assert ex.done and ex.error is None, ex.error
    assert chk.n == len(body) and chk.ok
    assert seen == [(0, None), (1, None), (1, b"\xe1\xe2"), (2, b"\xe1\xe2")]
