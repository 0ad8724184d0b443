# CoAP endpoint (lib/coap/coap_ep.py) with a fake clock and an in-memory
# network: retransmission timing per RFC 7252 4.8 defaults, deduplication,
# piggybacked/separate responses, RST handling, ping, token matching,
# NSTART=1, rejection rules of sections 4.2/4.3. The Net harness is shared
# by test_coap_server and test_coap_client.
import coap_msg as m
from coap_ep import EXCHANGE_LIFETIME, Endpoint, tadd, tdiff
from coap_server import SEPARATE, Server
from coap_client import Client
from coaptest import MemoryLink, seq_rand
from hgtest import h


def fixed_rand(value=0):
    """rand() returning `value` bytes (0 gives ACK timeouts of exactly 2 s)."""

    def r(n):
        return bytes([value] * n)

    return r


class _Len:
    """Stands in for a logged payload: only its length is kept (64 KiB RAM)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


class _Log:
    """Delivered datagrams as (to, Message) pairs, stored compactly (the
    header and options as one bytes object, the payload as its length) and
    decoded when read, so a long exchange does not fragment a 64 KiB heap."""

    def __init__(self):
        self._items = []

    def append(self, dst, data, msg):
        if msg is None:
            self._items.append((dst, None, 0))
            return
        n = len(msg.payload)
        self._items.append((dst, bytes(data[: len(data) - n - 1] if n else data), n))

    def _get(self, item):
        dst, hdr, n = item
        if hdr is None:
            return dst, None
        msg = m.decode(hdr)
        msg.payload = _Len(n)
        return dst, msg

    def __len__(self):
        return len(self._items)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._get(x) for x in self._items[i]]
        return self._get(self._items[i])

    def __iter__(self):
        for x in self._items:
            yield self._get(x)


class Net(MemoryLink):
    """A client endpoint "C" and a server endpoint "S" joined by a lossy
    in-memory link, with one fake clock."""

    def __init__(self, server=None, rand=None, now=0, **client_kw):
        self.now = now
        self.srv = server
        self.sep = Endpoint(server=server, rand=rand or seq_rand(7))
        self.cep = Endpoint(rand=rand or seq_rand(3))
        self.client = Client(self.cep, **client_kw)
        self.log = _Log()  # (to, decoded message) of every delivered datagram
        self.drop = None  # fn(to, msg) -> True drops the datagram

    def tamper(self, dst, data):
        # MemoryLink's hook, called for every datagram before delivery
        try:
            msg = m.decode(data, True)
        except m.CoAPError:
            msg = None
        if self.drop is not None and self.drop(dst, msg):
            return None
        self.log.append(dst, data, msg)
        return data

    def advance(self, ms):
        """Move the clock forward, running both endpoints' timers in order."""
        end = self.now + ms
        while True:
            nexts = [t for t in (self.cep.next_timeout_ms(self.now),
                                 self.sep.next_timeout_ms(self.now)) if t is not None]
            if not nexts:
                break
            step = max(min(nexts), 1)
            if self.now + step > end:
                break
            self.now += step
            self._deliver(self.cep.poll(self.now), "S")
            self._deliver(self.sep.poll(self.now), "C")
        self.now = end
        self._deliver(self.cep.poll(self.now), "S")
        self._deliver(self.sep.poll(self.now), "C")

    def sent_to(self, dst):
        return [msg for d, msg in self.log if d == dst]

    def count_to(self, dst):
        return len([1 for x in self.log._items if x[0] == dst])


def _srv_ep(handlers=None, rand=None, **kw):
    srv = Server(**kw)
    for path, fn in (handlers or {}).items():
        srv.add(path, fn)
    return srv, Endpoint(server=srv, rand=rand or seq_rand(5))


def _hello(req):
    return m.response(m.CONTENT, b"hi", m.CF_TEXT)


def _get(mid=0x1234, token=b"\x01\x02", path="hello", mtype=m.CON, code=m.GET):
    msg = m.Message(mtype, code, mid, token)
    msg.set_path(path)
    return msg.encode()


# ------------------------------------------------------------------ basics
def test_ping_answered_with_rst():
    _, ep = _srv_ep()
    assert list(ep.receive(h("40001234"), "p", 0)) == [(h("70001234"), "p")]


def test_empty_with_content_is_rejected():
    _, ep = _srv_ep()
    assert list(ep.receive(h("41001234aa"), "p", 0)) == [(h("70001234"), "p")]  # CON: RST
    assert list(ep.receive(h("40001234ff"), "p", 0)) == [(h("70001234"), "p")]
    assert list(ep.receive(h("51001234aa"), "p", 0)) == []  # NON: silently dropped
    assert list(ep.receive(h("50001234"), "p", 0)) == []  # NON empty: ignored
    assert list(ep.receive(h("60001234"), "p", 0)) == []  # stray ACK
    assert list(ep.receive(h("70001234"), "p", 0)) == []  # stray RST


def test_unknown_version_and_short_ignored():
    _, ep = _srv_ep({"hello": _hello})
    assert list(ep.receive(h("80011234"), "p", 0)) == []
    assert list(ep.receive(h("c0011234"), "p", 0)) == []
    assert list(ep.receive(h("400112"), "p", 0)) == []
    assert list(ep.receive(b"", "p", 0)) == []


def test_piggybacked_response():
    _, ep = _srv_ep({"hello": _hello})
    out = ep.receive(_get(), "p", 0)
    assert len(out) == 1 and out[0][1] == "p"
    r = m.decode(out[0][0])
    assert (r.mtype, r.code, r.mid, r.token) == (m.ACK, m.CONTENT, 0x1234, b"\x01\x02")
    assert r.payload == b"hi" and r.opt_uint(m.CONTENT_FORMAT) == 0


def test_non_request_gets_non_response():
    _, ep = _srv_ep({"hello": _hello})
    r = m.decode(ep.receive(_get(mtype=m.NON), "p", 0)[0][0])
    assert r.mtype == m.NON and r.mid != 0x1234 and r.token == b"\x01\x02"
    r2 = m.decode(ep.receive(_get(mid=9, mtype=m.NON), "p", 0)[0][0])
    assert r2.mid == (r.mid + 1) & 0xFFFF  # message IDs are allocated in sequence


def test_format_errors_rst_for_con_only():
    _, ep = _srv_ep({"hello": _hello})
    bad = h("42011234aabbf0")  # reserved option delta 15
    assert list(ep.receive(bad, "p", 0)) == [(h("70001234"), "p")]
    assert list(ep.receive(h("52011234aabbf0"), "p", 0)) == []  # NON: ignored
    assert list(ep.receive(h("62451234aabbf0"), "p", 0)) == []  # ACK: ignored
    assert list(ep.receive(h("49011234"), "p", 0)) == [(h("70001234"), "p")]  # TKL 9
    # payload marker without payload
    assert list(ep.receive(h("40011234ff"), "p", 0)) == [(h("70001234"), "p")]


def test_reserved_code_classes_rejected():
    _, ep = _srv_ep({"hello": _hello})
    for code in (0x20, 0x60, 0xC0, 0xE1):
        assert list(ep.receive(bytes([0x40, code, 0, 7]), "p", 0)) == [(h("70000007"), "p")]


def test_request_in_ack_or_rst_ignored():
    srv, ep = _srv_ep({"hello": _hello})
    assert list(ep.receive(_get(mtype=m.ACK), "p", 0)) == []
    assert list(ep.receive(_get(mtype=m.RST), "p", 0)) == []


def test_cap_exceeded_gives_4_00():
    _, ep = _srv_ep({"hello": _hello})
    msg = m.Message(m.CON, m.GET, 0x55, b"\x09")
    for i in range(m.MAX_OPTIONS + 1):
        msg.add(m.URI_QUERY, "q")
    r = m.decode(ep.receive(msg.encode(), "p", 0)[0][0])
    assert (r.mtype, r.code, r.mid, r.token) == (m.ACK, m.BAD_REQUEST, 0x55, b"\x09")
    msg.mtype = m.NON
    r = m.decode(ep.receive(msg.encode(), "p", 0)[0][0])
    assert r.mtype == m.NON and r.code == m.BAD_REQUEST and r.token == b"\x09"


def test_no_server_rejects_requests():
    ep = Endpoint(rand=seq_rand())
    assert list(ep.receive(_get(), "p", 0)) == [(h("70001234"), "p")]


# ------------------------------------------------------------------ retransmission
class _Owner:
    def __init__(self):
        self.events = []

    def _tx_acked(self, tag, msg, now):
        self.events.append(("ack", tag, msg, now))

    def _tx_reset(self, tag, now):
        self.events.append(("rst", tag, now))

    def _tx_failed(self, tag, now):
        self.events.append(("fail", tag, now))


def _times(ep, owner, start=0, horizon=200000):
    """Run poll() at every deadline; return the send times after the first."""
    now = start
    sends = []
    while not owner.events and now - start < horizon:
        t = ep.next_timeout_ms(now)
        if t is None:
            break
        now += t
        out = ep.poll(now)
        if out:
            sends.append(now - start)
    return sends, now - start


def test_retransmission_timing_minimum():
    ep = Endpoint(rand=fixed_rand(0))
    own = _Owner()
    msg = m.Message(m.CON, m.GET, 0, b"\x01")
    mid = ep.send_con(msg, "p", 0, own, "x")
    first = ep.drain()
    assert len(first) == 1 and m.decode(first[0][0]).mid == mid
    assert ep.next_timeout_ms(0) == 2000
    sends, end = _times(ep, own)
    # ACK_TIMEOUT 2 s doubled each time, MAX_RETRANSMIT 4, then give up
    assert sends == [2000, 6000, 14000, 30000]
    assert end == 62000 and own.events == [("fail", "x", 62000)]
    assert ep.outstanding() == 0 and ep.next_timeout_ms(end) is None


def test_retransmission_timing_maximum():
    # rand 0x03e8 -> initial timeout 2000 + 1000 = ACK_TIMEOUT * ACK_RANDOM_FACTOR
    r = [0x03, 0xE8]
    ep = Endpoint(rand=lambda n: bytes(r[:n]) if n <= 2 else bytes(n))
    own = _Owner()
    ep.send_con(m.Message(m.CON, m.GET, 0, b"\x01"), "p", 0, own, None)
    ep.drain()
    sends, end = _times(ep, own)
    assert sends == [3000, 9000, 21000, 45000]
    assert end == 93000  # MAX_TRANSMIT_WAIT


def test_retransmission_identical_bytes_and_random_range():
    for seed in range(1, 30):
        ep = Endpoint(rand=seq_rand(seed))
        own = _Owner()
        ep.send_con(m.Message(m.CON, m.GET, 0, b"\x01"), "p", 0, own, None)
        first = ep.drain()[0][0]
        t = ep.next_timeout_ms(0)
        assert 2000 <= t <= 3000
        out = ep.poll(t)
        assert list(out) == [(first, "p")]


def test_retransmission_across_tick_wrap():
    start = (1 << 30) - 1500  # MicroPython ticks_ms() wraps at 2^30
    ep = Endpoint(rand=fixed_rand(0))
    own = _Owner()
    ep.send_con(m.Message(m.CON, m.GET, 0, b"\x01"), "p", start, own, None)
    ep.drain()
    assert ep.next_timeout_ms(start) == 2000
    now = tadd(start, 2000)
    assert now < start and len(ep.poll(now)) == 1
    assert ep.next_timeout_ms(now) == 4000
    assert tdiff(now, start) == 2000 and tdiff(start, now) == -2000


def test_ack_and_rst_stop_retransmission():
    ep = Endpoint(rand=fixed_rand(0))
    own = _Owner()
    mid = ep.send_con(m.Message(m.CON, m.GET, 0, b"\x01"), "p", 0, own, "a")
    ep.drain()
    assert list(ep.receive(m.empty(m.ACK, mid + 1), "p", 10)) == []  # wrong MID
    assert list(ep.receive(m.empty(m.ACK, mid), "q", 10)) == []  # wrong peer
    assert own.events == []
    ep.receive(m.empty(m.ACK, mid), "p", 20)
    assert own.events == [("ack", "a", None, 20)]
    assert ep.next_timeout_ms(20) is None and ep.poll(5000) == ()
    mid = ep.send_con(m.Message(m.CON, m.GET, 0, b"\x01"), "p", 0, own, "b")
    ep.drain()
    ep.receive(m.empty(m.RST, mid), "p", 30)
    assert own.events[-1] == ("rst", "b", 30)


def test_max_outstanding_con_cap():
    ep = Endpoint(rand=fixed_rand(0), max_con=2)
    own = _Owner()
    ep.send_con(m.Message(), "p", 0, own, None)
    ep.send_con(m.Message(), "p", 0, own, None)
    try:
        ep.send_con(m.Message(), "p", 0, own, None)
    except m.CoAPLimitError:
        pass
    else:
        raise AssertionError("cap not enforced")


# ------------------------------------------------------------------ dedup
def _counting_server(**kw):
    calls = []

    def handler(req):
        calls.append(req.code)
        return m.response(m.CHANGED if req.code != m.GET else m.CONTENT, b"n%d" % len(calls))

    srv = Server(**kw)
    srv.add("r", handler, methods=0xFE)
    return srv, calls


def test_duplicate_post_gets_same_response_once():
    srv, calls = _counting_server()
    ep = Endpoint(server=srv, rand=seq_rand())
    post = _get(mid=77, path="r", code=m.POST)
    a = ep.receive(post, "p", 0)
    b = ep.receive(post, "p", 1000)
    assert a == b and len(calls) == 1
    assert list(ep.receive(post, "q", 1000)) != a  # another peer: a new request
    assert len(calls) == 2
    # after EXCHANGE_LIFETIME the MID may be reused
    ep.receive(post, "p", EXCHANGE_LIFETIME + 1)
    assert len(calls) == 3


def test_duplicate_get_is_reprocessed():
    srv, calls = _counting_server()
    ep = Endpoint(server=srv, rand=seq_rand())
    get = _get(mid=78, path="r")
    a = m.decode(ep.receive(get, "p", 0)[0][0])
    b = m.decode(ep.receive(get, "p", 0)[0][0])
    assert a.mid == b.mid == 78 and a.mtype == b.mtype == m.ACK
    assert len(calls) == 2  # idempotent: RFC 7252 4.5 allows processing again


def test_duplicate_non_post_ignored():
    srv, calls = _counting_server()
    ep = Endpoint(server=srv, rand=seq_rand())
    post = _get(mid=79, path="r", code=m.POST, mtype=m.NON)
    first = ep.receive(post, "p", 0)
    assert len(first) == 1
    second = ep.receive(post, "p", 10)
    assert list(second) == [] and len(calls) == 1  # RFC 7252 4.5: silently ignored


def test_dedup_cap_evicts_oldest():
    srv, calls = _counting_server()
    ep = Endpoint(server=srv, rand=seq_rand(), dedup_cap=4)
    for mid in range(5):
        ep.receive(_get(mid=mid, path="r", code=m.POST), "p", 0)
    assert len(calls) == 5
    ep.receive(_get(mid=4, path="r", code=m.POST), "p", 0)
    assert len(calls) == 5  # still remembered
    ep.receive(_get(mid=0, path="r", code=m.POST), "p", 0)
    assert len(calls) == 6  # evicted: processed again
    assert len(ep._dd) <= 4


def test_dedup_byte_budget():
    srv = Server()
    srv.add("r", lambda req: m.response(m.CHANGED, b"x" * 200), methods=0xFE)
    ep = Endpoint(server=srv, rand=seq_rand(), dedup_cap=32, dedup_bytes=600)
    for mid in range(10):
        ep.receive(_get(mid=mid, path="r", code=m.POST), "p", 0)
        assert ep._dd_bytes <= 600
    kept = [k for k, v in ep._dd.items() if v[1] is not None]
    assert 1 <= len(kept) <= 3


def test_separate_response_and_duplicate():
    held = []

    def slow(req):
        held.append(req)
        return SEPARATE

    srv = Server()
    srv.add("slow", slow)
    ep = Endpoint(server=srv, rand=fixed_rand(0))
    req = _get(mid=0x4242, token=b"\x0a", path="slow")
    assert list(ep.receive(req, "p", 0)) == [(h("60004242"), "p")]  # empty ACK
    assert list(ep.receive(req, "p", 100)) == [(h("60004242"), "p")]  # duplicate: ACK again
    assert len(held) == 1
    srv.respond(held[0], m.response(m.CONTENT, b"late"), 500)
    out = ep.drain()
    r = m.decode(out[0][0])
    assert (r.mtype, r.code, r.token, r.payload) == (m.CON, m.CONTENT, b"\x0a", b"late")
    # retransmitted until acknowledged
    assert list(ep.poll(2500)) == list(out)
    ep.receive(m.empty(m.ACK, r.mid), "p", 2600)
    assert ep.next_timeout_ms(2600) is None


def test_separate_response_to_non_is_non():
    held = []
    srv = Server()
    srv.add("slow", lambda req: held.append(req) or SEPARATE)
    ep = Endpoint(server=srv, rand=fixed_rand(0))
    assert list(ep.receive(_get(mid=5, path="slow", mtype=m.NON), "p", 0)) == []
    srv.respond(held[0], m.response(m.CONTENT, b"x"), 10)
    r = m.decode(ep.drain()[0][0])
    assert r.mtype == m.NON and r.token == b"\x01\x02"


# ------------------------------------------------------------------ client side via Net
def test_client_piggybacked_and_token():
    srv = Server()
    srv.add("hello", _hello)
    net = Net(srv)
    ex = net.request(m.GET, "hello")
    assert ex.done and ex.error is None and ex.response.payload == b"hi"
    req = net.sent_to("S")[0]
    assert req.mtype == m.CON and len(req.token) == 4
    ex2 = net.request(m.GET, "hello")
    assert net.sent_to("S")[1].token != req.token  # fresh token per request


def test_client_separate_response_acked():
    held = []
    srv = Server()
    srv.add("slow", lambda req: held.append(req) or SEPARATE)
    net = Net(srv)
    ex = net.request(m.GET, "slow")
    assert not ex.done and net.sent_to("C")[0].code == 0  # empty ACK
    net.now += 1000
    srv.respond(held[0], m.response(m.CONTENT, b"sep"), net.now)
    net.flush()
    assert ex.done and ex.response.payload == b"sep"
    last = net.sent_to("S")[-1]
    assert last.mtype == m.ACK and last.code == 0  # the client ACKed the CON response
    # a duplicate of that CON response is ACKed again, not delivered twice
    dup = held[0]
    assert net.sep.outstanding() == 0


def test_response_with_unknown_token_rejected():
    net = Net(Server())
    resp = m.Message(m.CON, m.CONTENT, 0x999, b"\xde\xad")
    assert list(net.cep.receive(resp.encode(), "S", 0)) == [(h("70000999"), "S")]
    resp.mtype = m.NON
    assert list(net.cep.receive(resp.encode(), "S", 0)) == [(h("70000999"), "S")]


def test_piggybacked_token_mismatch_fails_request():
    net = Net(None)
    ex = net.client.request("S", m.GET, "x", now=0)
    req = m.decode(net.cep.drain()[0][0])
    bad = m.Message(m.ACK, m.CONTENT, req.mid, b"\x00\x00\x00\x00")
    net.cep.receive(bad.encode(), "S", 5)
    assert ex.done and ex.error == "token mismatch"


def test_rst_fails_request():
    net = Net(None)  # no server: CON requests are answered with RST
    ex = net.request(m.GET, "x")
    assert ex.done and ex.error == "reset by peer"


def test_request_timeout_without_answer():
    net = Net(Server())
    net.drop = lambda to, msg: to == "S"
    ex = net.request(m.GET, "x")
    net.advance(200000)
    assert ex.done and ex.error == "no acknowledgement"
    assert len(net.log) == 0


def test_lost_ack_retransmitted_request_deduplicated():
    srv, calls = _counting_server()
    net = Net(srv)
    dropped = []

    def drop(to, msg):
        if to == "C" and not dropped:
            dropped.append(msg)
            return True
        return False

    net.drop = drop
    ex = net.request(m.POST, "r", payload=b"x")
    assert not ex.done and len(calls) == 1
    net.advance(3000)
    assert ex.done and ex.response.payload == b"n1" and len(calls) == 1


def test_ping():
    net = Net(Server())
    ex = net.client.ping("S", 0)
    net.flush()
    assert ex.done and ex.error is None
    assert net.log[0][1].code == 0 and net.log[1][1].mtype == m.RST


def test_nstart_one_per_peer():
    held = []
    srv = Server()
    srv.add("slow", lambda req: held.append(req) or SEPARATE)
    srv.add("hello", _hello)
    net = Net(srv)
    net.drop = lambda to, msg: (to == "C" and msg is not None and msg.code == 0
                                and msg.mtype == m.ACK)
    a = net.client.request("S", m.GET, "slow", now=0)
    b = net.client.request("S", m.GET, "hello", now=0)
    out = net.cep.drain()
    assert len(out) == 1  # b waits until a is no longer outstanding
    c = net.client.request("T", m.GET, "hello", now=0)
    assert len(net.cep.drain()) == 1  # another peer is independent
    net.drop = None
    net._deliver(out, "S")  # now the empty ACK reaches the client
    assert not a.done
    net.flush()
    assert b.done and b.response.payload == b"hi"


def test_next_timeout_none_when_idle():
    net = Net(Server())
    assert net.cep.next_timeout_ms(0) is None
    assert net.sep.next_timeout_ms(0) is None
