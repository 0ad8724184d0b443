# CoAP server core (lib/coap/coap_server.py): response codes, discovery,
# Block2/Block1 (RFC 7959 incl. 4.08, 4.13, Size1/Size2, atomic uploads),
# Echo/Request-Tag (RFC 9175), Observe (RFC 7641) and the caps - sans-I/O
# with a fake clock, so it runs on every runtime (qemu gets 4 KiB bodies).
import sys

import coap_msg as m
from coap_ep import Endpoint
from coap_server import M_GET, M_POST, M_PUT, Server
from coap_link import parse_links
from test_coap_endpoint import Net, seq_rand

BIG = 4096 if sys.platform == "qemu" else 65536


def _pattern(n, salt=0):
    out = bytearray(n)
    for i in range(n):
        out[i] = (i * 7 + (i >> 8) + salt) & 255
    return bytes(out)


class Sink:
    instances = []

    def __init__(self, size1=None):
        self.chunks = 0
        self.size = 0
        self.buf = bytearray(size1 or 0)  # preallocated: no fragmentation on 64 KiB RAM
        self.aborted = False
        self.size1 = size1
        Sink.instances.append(self)
        if len(Sink.instances) > 4:  # keep the last few only (RAM on the 64 KiB image)
            Sink.instances.pop(0)

    def write(self, chunk):
        self.chunks += 1
        end = self.size + len(chunk)
        if end <= len(self.buf):
            self.buf[self.size : end] = chunk
        else:
            self.buf.extend(chunk)
        self.size = end

    def abort(self):
        self.aborted = True


class Store:
    def __init__(self, srv, path="store", max_body=BIG, **kw):
        self.value = b""
        self.commits = 0
        srv.add(path, self.handler, methods=M_GET | M_PUT | M_POST, sink=self.sink,
                max_body=max_body, **kw)

    def sink(self, req, size1):
        return Sink(size1)

    def handler(self, req):
        if req.code == m.GET:
            return m.response(m.CONTENT, self.value)
        sink = req.sink  # commit only here: atomic
        self.value = sink.buf if sink.size == len(sink.buf) else sink.buf[: sink.size]
        self.commits += 1
        return m.response(m.CHANGED, b"%d" % len(self.value))


def _one(ep, msg, peer="p", now=0):
    out = ep.receive(msg.encode(), peer, now)
    assert len(out) == 1, out
    return m.decode(out[0][0])


_MID = [1000]


def _req(code=m.GET, path="r", mid=None, token=b"\x01", opts=(), payload=b"", mtype=m.CON):
    if mid is None:
        _MID[0] += 1
        mid = _MID[0]
    msg = m.Message(mtype, code, mid, token)
    msg.set_path(path)
    for n, v in opts:
        msg.add(n, v)
    msg.payload = payload
    return msg


def _server(**kw):
    srv = Server(**kw)
    ep = Endpoint(server=srv, rand=seq_rand(11))
    return srv, ep


# ------------------------------------------------------------------ codes
def test_404_405():
    srv, ep = _server()
    srv.add("r", lambda req: m.response(m.CONTENT, b"x"))
    assert _one(ep, _req(path="nope")).code == m.NOT_FOUND
    assert _one(ep, _req(path="r/x")).code == m.NOT_FOUND
    assert _one(ep, _req(code=m.DELETE)).code == m.METHOD_NOT_ALLOWED
    assert _one(ep, _req(code=9)).code == m.METHOD_NOT_ALLOWED  # unknown method code
    assert _one(ep, _req()).code == m.CONTENT


def test_nested_paths_and_root():
    srv, ep = _server()
    srv.add("a/b/c", lambda req: m.response(m.CONTENT, b"abc"))
    srv.add("", lambda req: m.response(m.CONTENT, b"root"))
    assert _one(ep, _req(path="a/b/c")).payload == b"abc"
    assert _one(ep, _req(path="")).payload == b"root"


def test_unknown_critical_option_4_02():
    srv, ep = _server()
    srv.add("r", lambda req: m.response(m.CONTENT, b"x"))
    for num in (9, 13, 19, 21, 31, 2049):
        r = _one(ep, _req(opts=((num, b"\x01"),)))
        assert r.code == m.BAD_OPTION, num
    # unknown elective options are ignored
    for num in (2, 10, 258, 2048, 65000):
        assert _one(ep, _req(opts=((num, b"\x01"),))).code == m.CONTENT, num
    # conditional options are critical: 4.02 unless the resource handles them
    assert _one(ep, _req(opts=((m.IF_NONE_MATCH, b""),))).code == m.BAD_OPTION
    # an over-long Uri-Path segment is an unacceptable critical option
    assert _one(ep, _req(path="x" * 300)).code == m.BAD_OPTION


def test_proxy_options_5_05():
    srv, ep = _server()
    srv.add("r", lambda req: m.response(m.CONTENT, b"x"))
    assert _one(ep, _req(opts=((m.PROXY_URI, "coap://x/"),))).code == m.PROXYING_NOT_SUPPORTED
    assert _one(ep, _req(opts=((m.PROXY_SCHEME, "coap"),))).code == m.PROXYING_NOT_SUPPORTED


def test_handler_exception_5_00_and_server_continues():
    srv, ep = _server()

    def boom(req):
        raise KeyError("bug")

    srv.add("boom", boom)
    srv.add("ok", lambda req: m.response(m.CONTENT, b"fine"))
    srv.add("none", lambda req: None)

    def coded(req):
        raise m.CoAPResponseError(m.FORBIDDEN, "no")

    srv.add("coded", coded)
    assert _one(ep, _req(path="boom")).code == m.INTERNAL_SERVER_ERROR
    assert srv.errors == 1 and isinstance(srv.last_error, KeyError)
    assert _one(ep, _req(path="none")).code == m.INTERNAL_SERVER_ERROR
    r = _one(ep, _req(path="coded"))
    assert r.code == m.FORBIDDEN and r.payload == b"no"
    assert _one(ep, _req(path="ok")).payload == b"fine"


def test_content_format_4_15_and_accept_4_06():
    srv, ep = _server()
    srv.add("j", lambda req: m.response(m.CHANGED), methods=M_POST, ct_in=(m.CF_JSON, m.CF_CBOR))
    srv.add("t", lambda req: m.response(m.CONTENT, b"t", m.CF_TEXT), ct=m.CF_TEXT)
    ok = _one(ep, _req(m.POST, "j", opts=((m.CONTENT_FORMAT, m.CF_CBOR),), payload=b"\xa0"))
    assert ok.code == m.CHANGED
    bad = _one(ep, _req(m.POST, "j", opts=((m.CONTENT_FORMAT, m.CF_TEXT),), payload=b"x"))
    assert bad.code == m.UNSUPPORTED_CONTENT_FORMAT
    assert _one(ep, _req(m.POST, "j", payload=b"x")).code == m.UNSUPPORTED_CONTENT_FORMAT
    assert _one(ep, _req(path="t", opts=((m.ACCEPT, m.CF_TEXT),))).code == m.CONTENT
    assert _one(ep, _req(path="t", opts=((m.ACCEPT, m.CF_JSON),))).code == m.NOT_ACCEPTABLE


def test_conditional_resource_sees_if_match():
    srv, ep = _server()

    def cond(req):
        if req.opt(m.IF_MATCH) not in (None, b"\x01"):
            return m.response(m.PRECONDITION_FAILED)
        return m.response(m.CHANGED)

    srv.add("c", cond, methods=M_PUT, conditional=True)
    assert _one(ep, _req(m.PUT, "c", opts=((m.IF_MATCH, b"\x01"),))).code == m.CHANGED
    assert _one(ep, _req(m.PUT, "c", opts=((m.IF_MATCH, b"\x02"),))).code == m.PRECONDITION_FAILED


# ------------------------------------------------------------------ discovery
def test_well_known_core_and_filter():
    srv, ep = _server()
    srv.add("sensors/temp", lambda req: m.response(m.CONTENT, b"21"), rt="temperature",
            if_="sensor", ct=0, observable=True)
    srv.add("big", lambda req: m.response(m.CONTENT, b""), sz=BIG)
    srv.add("hidden", lambda req: m.response(m.CONTENT, b""), hidden=True)
    r = _one(ep, _req(path=".well-known/core"))
    assert r.code == m.CONTENT and r.opt_uint(m.CONTENT_FORMAT) == m.CF_LINK_FORMAT
    links = parse_links(bytes(r.payload))
    assert [t for t, _ in links] == ["/sensors/temp", "/big"]
    assert ("obs", None) in links[0][1] and ("rt", "temperature") in links[0][1]
    r = _one(ep, _req(path=".well-known/core", opts=((m.URI_QUERY, "rt=temperature"),)))
    assert [t for t, _ in parse_links(bytes(r.payload))] == ["/sensors/temp"]
    r = _one(ep, _req(path=".well-known/core", opts=((m.URI_QUERY, "rt=nothing"),)))
    assert r.code == m.CONTENT and bytes(r.payload) == b""
    assert _one(ep, _req(m.POST, ".well-known/core")).code == m.METHOD_NOT_ALLOWED


# ------------------------------------------------------------------ Block2
class _Gen:
    def __init__(self, n):
        self.n = n
        self.reads = []

    def __len__(self):
        return self.n

    def read_block(self, off, n):
        self.reads.append((off, n))
        return _pattern(off + n)[off:]


def test_block2_download_with_etag_and_size2():
    srv = Server()
    body = _pattern(BIG)
    srv.add("big", lambda req: m.response(m.CONTENT, body, m.CF_OCTET_STREAM).add(m.ETAG, b"\x07"))
    net = Net(srv)
    ex = net.request(m.GET, "big")
    assert ex.done and ex.error is None, ex.error
    assert ex.response.payload == body
    resps = net.sent_to("C")
    assert len(resps) == BIG // 1024
    first = resps[0]
    assert first.block2() == (0, 1, 6) and first.opt_uint(m.SIZE2) == BIG
    assert all(r.opt(m.ETAG) == b"\x07" for r in resps)
    assert resps[-1].block2() == (BIG // 1024 - 1, 0, 6)
    assert resps[1].opt(m.SIZE2) is None
    reqs = net.sent_to("S")
    assert reqs[1].block2() == (1, 0, 6) and len({r.token for r in reqs}) == len(reqs)


def test_block2_generated_body_and_small_szx():
    srv = Server()
    gen = _Gen(1000)
    srv.add("g", lambda req: m.response(m.CONTENT, gen))
    net = Net(srv, szx=2)  # the client asks for 64-byte blocks
    ex = net.request(m.GET, "g", opts=((m.BLOCK2, 2),))
    assert ex.done and ex.response.payload == _pattern(1000)
    assert len(net.sent_to("C")) == 16 and gen.reads[0] == (0, 64)


def test_block2_server_limits_block_size():
    srv = Server(block_szx=4)  # 256-byte blocks at most
    srv.add("b", lambda req: m.response(m.CONTENT, _pattern(1000)))
    _, ep = None, Endpoint(server=srv, rand=seq_rand())
    r = _one(ep, _req(path="b", opts=((m.BLOCK2, m.uint_decode(m.block_encode(1, 0, 6))),)))
    # block 1 of 1024 bytes = bytes 1024.. : beyond 1000 -> out of range
    assert r.code == m.BAD_OPTION
    r = _one(ep, _req(path="b", opts=((m.BLOCK2, m.uint_decode(m.block_encode(0, 0, 6))),)))
    assert r.block2() == (0, 1, 4) and len(r.payload) == 256
    r = _one(ep, _req(path="b", opts=((m.BLOCK2, m.uint_decode(m.block_encode(3, 0, 4))),)))
    assert r.block2() == (3, 0, 4) and r.payload == _pattern(1000)[768:]


def test_block2_bad_requests():
    srv, ep = _server()
    srv.add("b", lambda req: m.response(m.CONTENT, _pattern(3000)))
    assert _one(ep, _req(path="b", opts=((m.BLOCK2, 0x07),))).code == m.BAD_REQUEST  # SZX 7
    assert _one(ep, _req(path="b", opts=((m.BLOCK2, b"\x01\x02\x03\x04"),))).code == m.BAD_OPTION
    assert _one(ep, _req(path="b", opts=((m.BLOCK2, (3 << 4) | 6),))).code == m.BAD_OPTION
    r = _one(ep, _req(path="b", opts=((m.BLOCK2, (2 << 4) | 6),)))
    assert r.block2() == (2, 0, 6) and len(r.payload) == 3000 - 2048


def test_small_body_with_block2_request():
    srv, ep = _server()
    srv.add("s", lambda req: m.response(m.CONTENT, b"tiny"))
    r = _one(ep, _req(path="s", opts=((m.BLOCK2, 6),)))
    assert r.block2() == (0, 0, 6) and r.payload == b"tiny" and r.opt_uint(m.SIZE2) == 4


# ------------------------------------------------------------------ Block1
def test_block1_upload_streams_and_commits_atomically():
    srv = Server()
    store = Store(srv)
    net = Net(srv)
    body = _pattern(BIG, 3)
    Sink.instances = []
    seen = []

    def watch(to, msg):
        if to == "C" and msg.code == m.CONTINUE:
            seen.append(store.commits)
        return False

    net.drop = watch
    ex = net.request(m.PUT, "store", payload=body)
    assert ex.done and ex.error is None, ex.error
    assert ex.response.code == m.CHANGED and ex.response.block1() == (BIG // 1024 - 1, 0, 6)
    assert store.value == body and store.commits == 1
    assert seen == [0] * (BIG // 1024 - 1)  # nothing committed before the last block
    sink = Sink.instances[-1]
    assert sink.chunks == BIG // 1024 and sink.size1 == BIG and not sink.aborted
    reqs = net.sent_to("S")
    assert reqs[0].opt_uint(m.SIZE1) == BIG and reqs[0].block1() == (0, 1, 6)
    assert all(r.code == m.CONTINUE and r.block1()[1] == 1 for r in net.sent_to("C")[:-1])


def test_block1_server_asks_smaller_blocks():
    srv = Server(block_szx=4)
    store = Store(srv)
    net = Net(srv)
    body = _pattern(1600)
    ex = net.request(m.POST, "store", payload=body)
    assert ex.done and ex.error is None and store.value == body
    reqs = net.sent_to("S")
    assert reqs[0].block1() == (0, 1, 6) and len(reqs[0].payload) == 1024
    assert net.sent_to("C")[0].block1() == (0, 1, 4)  # 2.31 with the smaller SZX
    assert reqs[1].block1() == (4, 1, 4)  # continues at byte 1024 in 256-byte blocks
    assert len(reqs) == 1 + (1600 - 1024 + 255) // 256


def test_block1_out_of_order_4_08():
    srv, ep = _server()
    store = Store(srv)
    blk = _pattern(1024)
    b = lambda num, more: ((m.BLOCK1, m.uint_decode(m.block_encode(num, more, 6))),)
    Sink.instances = []
    assert _one(ep, _req(m.PUT, "store", 1, opts=b(0, 1), payload=blk)).code == m.CONTINUE
    r = _one(ep, _req(m.PUT, "store", 2, opts=b(2, 1), payload=blk))  # block 1 missing
    assert r.code == m.REQUEST_ENTITY_INCOMPLETE
    assert Sink.instances[-1].aborted and store.commits == 0
    # a continuation without a start
    assert _one(ep, _req(m.PUT, "store", 3, opts=b(1, 0), payload=b"x")).code == \
        m.REQUEST_ENTITY_INCOMPLETE


def test_block1_retry_of_same_block_not_written_twice():
    srv, ep = _server()
    store = Store(srv)
    blk = _pattern(1024)
    b = lambda num, more: ((m.BLOCK1, m.uint_decode(m.block_encode(num, more, 6))),)
    Sink.instances = []
    _one(ep, _req(m.PUT, "store", 1, opts=b(0, 1), payload=blk))
    _one(ep, _req(m.PUT, "store", 2, opts=b(1, 1), payload=blk))
    r = _one(ep, _req(m.PUT, "store", 3, opts=b(1, 1), payload=blk))  # new MID, same block
    assert r.code == m.CONTINUE and r.block1() == (1, 1, 6)
    r = _one(ep, _req(m.PUT, "store", 4, opts=b(2, 0), payload=b"end"))
    assert r.code == m.CHANGED and store.value == blk + blk + b"end"
    # and the same MID again is a duplicate: the remembered answer, no new commit
    r = _one(ep, _req(m.PUT, "store", 4, opts=b(2, 0), payload=b"end"))
    assert r.code == m.CHANGED and store.commits == 1


def test_block1_size_mismatch_and_szx7():
    srv, ep = _server()
    Store(srv)
    b = lambda num, more, szx=6: ((m.BLOCK1, m.uint_decode(m.block_encode(num, more, szx))),)
    assert _one(ep, _req(m.PUT, "store", 1, opts=b(0, 1), payload=b"short")).code == m.BAD_REQUEST
    assert _one(ep, _req(m.PUT, "store", 2, opts=b(0, 0, 7), payload=b"x")).code == m.BAD_REQUEST
    assert _one(ep, _req(m.PUT, "store", 3, opts=b(0, 0, 0), payload=b"y" * 17)).code == \
        m.BAD_REQUEST


def test_block1_4_13_size1_announced_and_actual():
    srv, ep = _server()
    Store(srv, max_body=2048)
    blk = _pattern(1024)
    b = lambda num, more: ((m.BLOCK1, m.uint_decode(m.block_encode(num, more, 6))),)
    r = _one(ep, _req(m.PUT, "store", 1, opts=b(0, 1) + ((m.SIZE1, 5000),), payload=blk))
    assert r.code == m.REQUEST_ENTITY_TOO_LARGE and r.opt_uint(m.SIZE1) == 2048
    Sink.instances = []
    _one(ep, _req(m.PUT, "store", 2, opts=b(0, 1), payload=blk))
    _one(ep, _req(m.PUT, "store", 3, opts=b(1, 1), payload=blk))
    r = _one(ep, _req(m.PUT, "store", 4, opts=b(2, 0), payload=b"more"))
    assert r.code == m.REQUEST_ENTITY_TOO_LARGE and r.opt_uint(m.SIZE1) == 2048
    assert Sink.instances[-1].aborted
    # without Block1: a too large body is refused the same way
    r = _one(ep, _req(m.PUT, "store", 5, payload=b"z" * 2049))
    assert r.code == m.REQUEST_ENTITY_TOO_LARGE


def test_block1_through_client_reports_4_13():
    srv = Server()
    Store(srv, max_body=1500)
    net = Net(srv)
    ex = net.request(m.PUT, "store", payload=_pattern(4000))
    assert ex.done and ex.response.code == m.REQUEST_ENTITY_TOO_LARGE
    assert ex.response.opt_uint(m.SIZE1) == 1500


def test_block1_to_resource_without_sink():
    srv, ep = _server()
    srv.add("s", lambda req: m.response(m.CHANGED, bytes(req.payload)), methods=M_PUT)
    b = lambda num, more: ((m.BLOCK1, m.uint_decode(m.block_encode(num, more, 6))),)
    r = _one(ep, _req(m.PUT, "s", 1, opts=b(0, 0), payload=b"fits"))
    assert r.code == m.CHANGED and r.payload == b"fits" and r.block1() == (0, 0, 6)
    r = _one(ep, _req(m.PUT, "s", 2, opts=b(0, 1), payload=_pattern(1024)))
    assert r.code == m.REQUEST_ENTITY_TOO_LARGE and r.opt_uint(m.SIZE1) == 1024


def test_block1_request_tag_keeps_uploads_apart():
    srv, ep = _server()
    store = Store(srv)
    b = lambda num, more, tag: ((m.BLOCK1, m.uint_decode(m.block_encode(num, more, 4))),
                                (m.REQUEST_TAG, tag))
    A = _pattern(256, 1)
    B = _pattern(256, 2)
    assert _one(ep, _req(m.PUT, "store", 1, opts=b(0, 1, b"A"), payload=A)).code == m.CONTINUE
    assert _one(ep, _req(m.PUT, "store", 2, opts=b(0, 1, b"B"), payload=B)).code == m.CONTINUE
    assert _one(ep, _req(m.PUT, "store", 3, opts=b(1, 0, b"A"), payload=b"a")).code == m.CHANGED
    assert store.value == A + b"a"
    assert _one(ep, _req(m.PUT, "store", 4, opts=b(1, 0, b"B"), payload=b"b")).code == m.CHANGED
    assert store.value == B + b"b"
    # without a tag the second block 0 would have replaced the first upload
    assert _one(ep, _req(m.PUT, "store", 5, opts=b(0, 1, b"A")[:1], payload=A)).code == m.CONTINUE
    assert _one(ep, _req(m.PUT, "store", 6, opts=b(0, 1, b"A")[:1], payload=B)).code == m.CONTINUE
    r = _one(ep, _req(m.PUT, "store", 7, opts=b(1, 0, b"A")[:1], payload=b"c"))
    assert r.code == m.CHANGED
    assert store.value == B + b"c"


def test_block1_cap_and_timeout_abort():
    srv, ep = _server(max_block1=2, block1_timeout_ms=5000)
    Store(srv)
    b = lambda num, more, tag: ((m.BLOCK1, m.uint_decode(m.block_encode(num, more, 4))),
                                (m.REQUEST_TAG, tag))
    Sink.instances = []
    for i, tag in enumerate((b"1", b"2", b"3")):
        _one(ep, _req(m.PUT, "store", 10 + i, opts=b(0, 1, tag), payload=_pattern(256)), now=i)
    assert len(srv._b1) == 2 and Sink.instances[0].aborted  # oldest evicted
    assert _one(ep, _req(m.PUT, "store", 20, opts=b(1, 0, b"1"), payload=b"x")).code == \
        m.REQUEST_ENTITY_INCOMPLETE
    assert ep.next_timeout_ms(10) is not None
    ep.poll(6000)
    assert len(srv._b1) == 0 and all(s.aborted for s in Sink.instances)
    assert ep.next_timeout_ms(6000) is None


def test_block1_handler_failure_aborts_sink():
    srv, ep = _server()

    def bad(req):
        raise ValueError("nope")

    srv.add("b", bad, methods=M_PUT, sink=lambda req, n: Sink(n), max_body=4096)
    Sink.instances = []
    r = _one(ep, _req(m.PUT, "b", payload=b"data"))
    assert r.code == m.INTERNAL_SERVER_ERROR and Sink.instances[-1].aborted


# ------------------------------------------------------------------ Echo
def test_echo_freshness():
    srv = Server(echo_window_ms=10000)
    srv.add("f", lambda req: m.response(m.CHANGED, b"ok"), methods=M_POST, fresh=True)
    ep = Endpoint(server=srv, rand=seq_rand(2))
    r = _one(ep, _req(m.POST, "f", 1))
    assert r.code == m.UNAUTHORIZED
    echo = r.opt(m.ECHO)
    assert echo is not None and 1 <= len(echo) <= 40
    assert _one(ep, _req(m.POST, "f", 2, opts=((m.ECHO, echo),)), now=100).code == m.CHANGED
    # from another client, or too late, the value is not fresh
    assert _one(ep, _req(m.POST, "f", 3, opts=((m.ECHO, echo),)), "q", 200).code == m.UNAUTHORIZED
    assert _one(ep, _req(m.POST, "f", 4, opts=((m.ECHO, echo),)), now=20000).code == m.UNAUTHORIZED
    assert _one(ep, _req(m.POST, "f", 5, opts=((m.ECHO, b"forged"),))).code == m.UNAUTHORIZED
    assert len(srv._echo) <= 4


def test_echo_client_retries():
    srv = Server()
    srv.add("f", lambda req: m.response(m.CHANGED, b"ok"), methods=M_POST, fresh=True)
    net = Net(srv)
    ex = net.request(m.POST, "f", payload=b"p")
    assert ex.done and ex.response.code == m.CHANGED
    reqs = net.sent_to("S")
    assert len(reqs) == 2 and reqs[0].opt(m.ECHO) is None and reqs[1].opt(m.ECHO) is not None


# ------------------------------------------------------------------ Observe
class Counter:
    def __init__(self, srv, path="counter", **kw):
        self.value = 0
        self.srv = srv
        srv.add(path, self.handler, methods=M_GET | M_PUT, observable=True, **kw)

    def handler(self, req):
        if req.code == m.PUT:
            self.value = int(bytes(req.payload))
            return m.response(m.CHANGED)
        return m.response(m.CONTENT, b"%d" % self.value, m.CF_TEXT)


def test_observe_register_notify_sequence():
    srv = Server()
    c = Counter(srv)
    net = Net(srv)
    ex = net.request(m.GET, "counter", observe=True)
    assert ex.observing and not ex.done
    assert srv.observers("counter") == 1
    seqs = [net.sent_to("C")[0].opt_uint(m.OBSERVE)]
    for i in range(3):
        c.value += 1
        net.now += 1000
        assert srv.notify("counter", net.now) == 1
        net.flush()
    notes = net.sent_to("C")
    seqs += [n.opt_uint(m.OBSERVE) for n in notes[1:]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert [n.mtype for n in notes[1:]] == [m.NON] * 3
    assert [bytes(n.payload) for n in ex.notifications[-3:]] == [b"1", b"2", b"3"]
    assert all(n.token == notes[0].token for n in notes)


def test_observe_not_observable_or_error_not_registered():
    srv = Server()
    srv.add("plain", lambda req: m.response(m.CONTENT, b"p"))
    srv.add("err", lambda req: m.response(m.NOT_FOUND), observable=True)
    net = Net(srv)
    ex = net.request(m.GET, "plain", observe=True)
    assert ex.done and not ex.observing and srv.observers() == 0
    assert net.sent_to("C")[0].opt(m.OBSERVE) is None
    ex = net.request(m.GET, "err", observe=True)
    assert ex.done and srv.observers() == 0


def test_observe_deregister_with_observe_1():
    srv = Server()
    Counter(srv)
    net = Net(srv)
    ex = net.request(m.GET, "counter", observe=True)
    assert srv.observers() == 1
    net.client.cancel(ex, net.now)
    net.flush()
    assert srv.observers() == 0 and ex.done
    dereg = net.sent_to("S")[-1]
    assert dereg.opt_uint(m.OBSERVE) == 1 and dereg.token == net.sent_to("S")[0].token


def test_observe_deregister_by_rst_to_non_notification():
    srv = Server()
    c = Counter(srv)
    net = Net(srv)
    ex = net.request(m.GET, "counter", observe=True)
    net.client.cancel(ex, net.now, proactive=False)  # forget it: the next one gets RST
    srv.notify("counter", net.now)
    net.flush()
    assert net.sent_to("S")[-1].mtype == m.RST
    assert srv.observers() == 0


def test_cancel_observation():
    srv = Server(con_interval_ms=0)  # every notification confirmable
    c = Counter(srv)
    net = Net(srv)
    ex = net.request(m.GET, "counter", observe=True)
    other = net.request(m.GET, "counter", observe=True)
    assert srv.observers("counter") == 2
    tok = net.sent_to("C")[0].token
    assert not srv.cancel_observation("someone else", tok)
    assert not srv.cancel_observation("C", b"\xff" + bytes(tok))
    # a CON notification in flight stops being retransmitted as well
    net.drop = lambda to, msg: to == "C"
    c.value = 1
    assert srv.notify("counter", net.now) == 2
    net.flush()
    assert net.sep.outstanding() == 2
    assert srv.cancel_observation("C", memoryview(bytes(tok)))  # any bytes-like token
    assert srv.observers("counter") == 1 and net.sep.outstanding() == 1
    assert not srv.cancel_observation("C", tok)  # once
    net.drop = None
    n = net.count_to("C")
    net.advance(100000)
    # only the remaining observer's notification was retransmitted (and acked)
    assert [x.token for x in net.sent_to("C")[n:]] == [other.token]
    assert srv.usage() == (1, 0, 0)
    assert srv.notify("counter", net.now) == 1


def test_observe_con_every_24h_and_rst_on_con():
    srv = Server()
    c = Counter(srv)
    net = Net(srv)
    ex = net.request(m.GET, "counter", observe=True)
    net.now += 3600000
    srv.notify("counter", net.now)
    net.flush()
    assert net.sent_to("C")[-1].mtype == m.NON
    net.now += 86400000  # more than 24 h since the last confirmation
    srv.notify("counter", net.now)
    net.flush()
    assert net.sent_to("C")[-1].mtype == m.CON
    assert net.sent_to("S")[-1].mtype == m.ACK  # the client confirms interest
    srv.notify("counter", net.now + 1)
    net.flush()
    assert net.sent_to("C")[-1].mtype == m.NON  # the ACK reset the 24 h clock
    # an RST to a CON notification ends the observation
    net.client.cancel(ex, net.now, proactive=False)
    net.now += 86400001
    srv.notify("counter", net.now)
    net.flush()
    assert net.sent_to("C")[-1].mtype == m.CON and net.sent_to("S")[-1].mtype == m.RST
    assert srv.observers() == 0


def test_observe_unacknowledged_con_removes_observer():
    srv = Server(con_interval_ms=0)  # every notification confirmable
    c = Counter(srv)
    net = Net(srv)
    net.request(m.GET, "counter", observe=True)
    net.drop = lambda to, msg: to == "C"  # the client went away
    srv.notify("counter", net.now)
    net.flush()
    assert srv.observers() == 1
    net.advance(100000)
    assert srv.observers() == 0


def test_observe_newer_notification_replaces_inflight_con():
    srv = Server(con_interval_ms=0)
    c = Counter(srv)
    net = Net(srv)
    ex = net.request(m.GET, "counter", observe=True)
    net.drop = lambda to, msg: to == "C"
    c.value = 1
    srv.notify("counter", net.now)
    net.flush()
    c.value = 2
    srv.notify("counter", net.now + 10)
    assert net.sep.drain() == ()  # nothing new on the wire yet
    assert net.sep.outstanding() == 1
    net.drop = None
    net.advance(4000)  # the retransmission carries the newer state
    assert bytes(ex.notifications[-1].payload) == b"2"
    assert net.sep.outstanding() == 0


def test_observe_error_notification_ends():
    srv = Server()
    state = {"ok": True}
    srv.add("o", lambda req: m.response(m.CONTENT if state["ok"] else m.NOT_FOUND, b"x"),
            observable=True)
    net = Net(srv)
    ex = net.request(m.GET, "o", observe=True)
    state["ok"] = False
    srv.notify("o", net.now)
    net.flush()
    assert srv.observers() == 0 and ex.done and ex.response.code == m.NOT_FOUND


def test_observe_cap():
    srv = Server(max_observers=2)
    Counter(srv)
    net = Net(srv)
    a = net.request(m.GET, "counter", observe=True)
    b = net.request(m.GET, "counter", observe=True)
    assert srv.observers() == 2  # one client, two tokens: both kept
    other = Endpoint(rand=seq_rand(99))
    req = _req(path="counter", opts=((m.OBSERVE, 0),), token=b"\x77")
    r = m.decode(net.sep.receive(req.encode(), "X", net.now)[0][0])
    assert r.code == m.CONTENT and r.opt(m.OBSERVE) is None  # declined, still answered
    assert srv.observers() == 2


def test_observe_reregistration_same_token():
    srv = Server()
    Counter(srv)
    _, ep = None, Endpoint(server=srv, rand=seq_rand())
    req = _req(path="counter", opts=((m.OBSERVE, 0),), token=b"\x55")
    s1 = m.decode(ep.receive(req.encode(), "p", 0)[0][0]).opt_uint(m.OBSERVE)
    req.mid = 2
    s2 = m.decode(ep.receive(req.encode(), "p", 10)[0][0]).opt_uint(m.OBSERVE)
    assert srv.observers() == 1 and s2 > s1


def test_observe_with_block2():
    srv = Server(block_szx=4)  # 256-byte blocks keep this small for the 64 KiB image
    state = {"n": 0}
    pat = _pattern(700)
    bodies = [b"0:" + pat, b"1:" + pat]  # three blocks each

    def big(req):
        return m.response(m.CONTENT, bodies[state["n"]]).add(m.ETAG, bytes([state["n"]]))

    srv.add("ob", big, observable=True)
    net = Net(srv, szx=4)
    ex = net.request(m.GET, "ob", observe=True)
    assert ex.observing
    assert ex.notifications[-1].payload == bodies[0]
    reg_token = net.sent_to("S")[0].token
    state["n"] = 1
    n_before = len(net.log)
    srv.notify("ob", net.now)
    net.flush()
    note = net.log[n_before][1]
    assert note.block2() == (0, 1, 4) and note.opt(m.OBSERVE) is not None
    assert note.opt(m.ETAG) == b"\x01" and len(note.payload) == 256
    fetches = [msg for d, msg in net.log[n_before:] if d == "S" and msg.code == m.GET]
    assert [f.block2()[0] for f in fetches] == [1, 2]
    assert all(f.token != reg_token and f.opt(m.OBSERVE) is None for f in fetches)
    assert ex.notifications[-1].payload == bodies[1]
    assert ex.observing and srv.observers() == 1


def test_oversized_handler_response_becomes_5_00():
    srv = Server()
    many = m.response(m.CONTENT, b"p" * 1000)
    for i in range(40):
        many.add(m.LOCATION_PATH, "x" * 20)  # ~900 bytes of options + a 1000-byte body
    srv.add("huge", lambda req: many)
    ep = Endpoint(server=srv, rand=seq_rand(), mtu=1280)
    r = _one(ep, _req(path="huge"))
    assert r.code == m.INTERNAL_SERVER_ERROR and r.mtype == m.ACK


def test_notifications_fall_back_to_non_when_con_cap_reached():
    srv = Server(con_interval_ms=0)
    Counter(srv)
    ep = Endpoint(server=srv, rand=seq_rand(), max_con=1)
    for tok in (b"\x01", b"\x02"):
        ep.receive(_req(path="counter", token=tok, opts=((m.OBSERVE, 0),)).encode(), "p", 0)
    srv.notify("counter", 10)
    types = sorted(m.decode(d).mtype for d, _ in ep.drain())
    assert types == [m.CON, m.NON] and ep.outstanding() == 1


def test_client_con_cap_ends_exchange_not_receive():
    net = Net(Server())
    net.cep._max_con = 1
    a = net.client.request("S", m.GET, "x", now=0)
    b = net.client.request("T", m.GET, "x", now=0)
    assert not a.done and b.done and b.error == "too many CON messages in flight"
