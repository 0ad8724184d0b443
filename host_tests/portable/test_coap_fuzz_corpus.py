# Replays host_tests/vectors/coap/fuzz_corpus.json (written by
# `python host_tests/test_coap_fuzz.py --write-corpus`) through the codec
# and a server endpoint: decode raises nothing but CoAPError, the endpoint
# never raises, every reaction follows RFC 7252 sections 4.2/4.3/5.4.1
# (check_datagram), and the caps hold. test_coap_fuzz.py (hypothesis)
# drives the same checker with generated input.
import coap_msg as m
from coap_ep import Endpoint
from coap_server import M_GET, M_POST, M_PUT, Server
from hgtest import h, vectors

PEER = "fuzz-peer"


class _Sink:
    def __init__(self, size1):
        self.n = 0

    def write(self, chunk):
        self.n += len(chunk)

    def abort(self):
        self.n = -1


def make_server():
    """A server with one resource of each kind, small caps, fixed rand."""
    srv = Server(max_observers=2, max_block1=2, max_echo=2, block_szx=4)
    srv.add("hello", lambda req: m.response(m.CONTENT, b"hi", m.CF_TEXT), rt="t")
    srv.add("big", lambda req: m.response(m.CONTENT, b"B" * 700).add(m.ETAG, b"\x01"))
    srv.add("store", lambda req: m.response(m.CHANGED, b"%d" % req.sink.n),
            methods=M_GET | M_PUT | M_POST, sink=lambda req, n: _Sink(n), max_body=2048)
    srv.add("obs", lambda req: m.response(m.CONTENT, b"o"), observable=True)
    srv.add("fresh", lambda req: m.response(m.CHANGED), methods=M_POST, fresh=True)

    def boom(req):
        raise RuntimeError("handler bug")

    srv.add("boom", boom, methods=0xFE)
    n = [0]

    def rand(k):
        n[0] += 1
        return bytes([(n[0] * 31 + i) & 255 for i in range(k)])

    ep = Endpoint(server=srv, rand=rand, dedup_cap=8, dedup_bytes=256, max_con=4)
    return ep, srv


def check_caps(ep, srv):
    assert len(srv._obs) <= 2
    assert len(srv._b1) <= 2
    assert len(srv._echo) <= 2
    assert len(ep._dd) <= 8
    assert ep._dd_bytes <= 256 + 1300  # the newest response is always kept
    assert len(ep._tx) <= 4


def check_datagram(ep, srv, data, now=0, sent=None):
    """Feed one datagram; assert the reaction RFC 7252 prescribes. `sent`
    (a dict MID -> answer) lets a duplicate MID get the earlier answer."""
    out = list(ep.receive(data, PEER, now))
    for d, p in out:
        assert p == PEER
        m.decode(d)  # whatever we send is well-formed
    check_caps(ep, srv)
    if len(data) < 4 or data[0] >> 6 != 1:
        assert out == [], "ignored: no header / unknown version"
        return out
    mtype = (data[0] >> 4) & 3
    code = data[1]
    mid = (data[2] << 8) | data[3]
    rst = [(m.empty(m.RST, mid), PEER)]
    try:
        msg = m.decode(data)
        err = None
    except m.CoAPLimitError:
        err = "limit"
    except m.CoAPError:
        err = "format"
    cls = code >> 5
    if mtype == m.ACK or mtype == m.RST:
        assert out == [], "ACK/RST: nothing is pending, so nothing is sent"
        return out
    if code == 0:
        assert out == (rst if mtype == m.CON else []), "empty: RST for CON (ping)"
        return out
    if cls in (1, 3, 6, 7) or err == "format":
        assert out == (rst if mtype == m.CON else []), "format error: reject CON, drop NON"
        return out
    if err == "limit":
        if code < 32:
            assert len(out) == 1
            r = m.decode(out[0][0])
            assert r.code == m.BAD_REQUEST
            assert (r.mtype, r.mid) == ((m.ACK, mid) if mtype == m.CON else (m.NON, r.mid))
        else:
            assert out == (rst if mtype == m.CON else [])
        return out
    if code >= 32:
        assert out == rst, "a response nobody asked for is rejected"
        return out
    # a well-formed request
    if mtype == m.CON:
        assert len(out) == 1, out
        r = m.decode(out[0][0])
        assert r.mtype == m.ACK and r.mid == mid
        if r.code and r.token != msg.token:  # a duplicate MID: the remembered answer
            assert sent is not None and sent.get(mid) == bytes(out[0][0])
        assert r.code == 0 or r.code >> 5 in (2, 4, 5)
        if sent is not None:
            sent[mid] = bytes(out[0][0])
    else:
        assert len(out) <= 1
        if out:
            r = m.decode(out[0][0])
            assert r.mtype == m.NON and r.token == msg.token and r.code >> 5 in (2, 4, 5)
    return out


def test_fuzz_corpus_replay():
    doc = vectors("coap/fuzz_corpus.json")
    assert doc["_source"]
    chunks = doc["inputs"]  # chunks of space-separated hex datagrams
    doc = None
    ep, srv = make_server()
    ok = bad = count = 0
    now = 0
    sent = {}
    for chunk in chunks:
        for hexs in chunk.split(" "):
            count += 1
            data = h(hexs)
            try:
                m.decode(data)
                ok += 1
            except m.CoAPError:
                bad += 1
            check_datagram(ep, srv, data, now, sent)
            now += 997
            ep.poll(now)
            check_caps(ep, srv)
    assert count >= 100 and ok and bad


def test_server_survives_handler_bug_in_corpus_style():
    ep, srv = make_server()
    msg = m.Message(m.CON, m.PUT, 7, b"\x01")
    msg.set_path("boom")
    out = check_datagram(ep, srv, msg.encode())
    assert m.decode(out[0][0]).code == m.INTERNAL_SERVER_ERROR
    assert srv.errors == 1
