"""CPython-only property tests for lib/coap (hypothesis, aiocoap as oracle):
decode raises nothing but the CoAPError family; encode/decode round-trips;
our decoder agrees with aiocoap's on what both accept; the server endpoint
fed random and mutated datagrams never raises and answers RST / 4.00 /
4.02 / drop per RFC 7252 sections 4.2, 4.3 and 5.4.1; the caps hold.

Regenerate the saved corpus replayed by the portable test:
    .venv/bin/python host_tests/test_coap_fuzz.py --write-corpus
"""
import json
import os
import random
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if __name__ == "__main__":  # conftest.py does this under pytest
    sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "lib", "coap"))
    sys.path.insert(0, os.path.join(_HERE, "portable"))
    sys.path.insert(0, _HERE)

import coap_msg as m  # noqa: E402
from coap_client import Client  # noqa: E402
from coap_ep import Endpoint  # noqa: E402
from test_coap_fuzz_corpus import check_caps, check_datagram, make_server  # noqa: E402

from fuzzing import examples  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

CORPUS = os.path.join(_HERE, "vectors", "coap", "fuzz_corpus.json")
FUZZ = settings(max_examples=examples(400), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------ strategies
_NUMS = st.sampled_from([1, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 15, 17, 19, 20, 21, 23, 27, 28, 35,
                         39, 60, 252, 258, 292, 2, 10, 13, 29, 65000]) | st.integers(0, 2000)
_PATHS = st.sampled_from(["hello", "big", "store", "obs", "fresh", "boom", ".well-known/core",
                          "nope", "a/b/c", ""])
_VALUE = st.binary(max_size=20) | st.sampled_from([b"", b"\x00", b"\x06", b"\x0e", b"\x1e",
                                                    b"\x16", b"\x07", b"\xff\xff\xff"])
_OPTS = st.lists(st.tuples(_NUMS, _VALUE), max_size=6)


@st.composite
def messages(draw):
    mtype = draw(st.integers(0, 3))
    code = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 9, 0x20, 0x45, 0x44, 0x5F, 0x84, 0xA0,
                                 0xE0]) | st.integers(0, 255))
    token = draw(st.binary(max_size=8))
    msg = m.Message(mtype, code, draw(st.integers(0, 0xFFFF)), token)
    msg.set_path(draw(_PATHS))
    for n, v in draw(_OPTS):
        msg.add(n, v)
    msg.payload = draw(st.binary(max_size=40) | st.sampled_from([b"", b"x" * 256, b"y" * 64]))
    return msg


@st.composite
def mutated(draw):
    data = bytearray(draw(messages()).encode())
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.integers(0, 3))
        if op == 0 and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == 1 and data:
            del data[draw(st.integers(0, len(data) - 1)):]
        elif op == 2:
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif op == 3 and len(data) > 4:
            i = draw(st.integers(4, len(data) - 1))
            data[i] = draw(st.sampled_from([0xFF, 0xF0, 0x0F, 0xDD, 0xEE, 0xD0, 0x0D, 0xE1]))
    return bytes(data)


DATAGRAMS = st.binary(max_size=80) | mutated() | messages().map(lambda x: x.encode())


# ------------------------------------------------------------------ codec
@FUZZ
@given(DATAGRAMS)
def test_decode_raises_only_coap_errors(data):
    for zc in (False, True):
        try:
            msg = m.decode(data, zc)
        except m.CoAPError as e:
            assert isinstance(e, ValueError)
            continue
        assert len(msg.opts) <= m.MAX_OPTIONS
        assert len(msg.token) <= 8
        # what decodes re-encodes to the same bytes (the codec is canonical
        # except for extended forms used where a shorter one would do)
        again = m.decode(msg.encode())
        assert again.opts == msg.opts and bytes(again.payload) == bytes(msg.payload)


def _norm(opts):
    """Options compared the way aiocoap keeps them: values of options it
    treats as uint by number (it drops leading zero bytes on re-encoding)."""
    from aiocoap.numbers.optionnumbers import OptionNumber
    from aiocoap.optiontypes import UintOption

    out = []
    for n, v in opts:
        fmt = OptionNumber(n).format
        info = m.option_info(n)
        uint = issubclass(fmt, UintOption) or (
            info is not None and info[1] == 2 and fmt.__name__ != "OpaqueOption")
        out.append((n, m.uint_decode(v) if uint and len(v) <= 8 else bytes(v)))
    return out


def _aio_decode(data):
    import aiocoap
    from hypothesis import assume

    try:
        return aiocoap.Message.decode(data)
    except UnicodeDecodeError:
        assume(False)  # aiocoap refuses non-UTF-8 string options; we keep the bytes


@FUZZ
@given(messages())
def test_roundtrip_and_aiocoap_oracle(msg):
    data = msg.encode()
    try:
        ours = m.decode(data)
    except m.CoAPLimitError:
        return
    except m.CoAPFormatError:
        assert msg.code == 0 and (msg.token or msg.opts or msg.payload)
        return
    assert ours.opts == msg.opts and ours.payload == msg.payload and ours.token == msg.token
    theirs = _aio_decode(data)
    assert theirs.mid == ours.mid and theirs.token == ours.token
    assert bytes(theirs.payload) == bytes(ours.payload)
    assert _norm([(int(o.number), o.encode()) for o in theirs.opt.option_list()]) == \
        _norm(ours.opts)


@FUZZ
@given(st.binary(max_size=60))
def test_agrees_with_aiocoap_on_accepted_input(data):
    try:
        ours = m.decode(data)
    except m.CoAPError:
        return
    theirs = _aio_decode(data)  # what we accept, aiocoap accepts too
    assert _norm([(int(o.number), o.encode()) for o in theirs.opt.option_list()]) == \
        _norm(ours.opts)
    assert bytes(theirs.payload) == bytes(ours.payload)


# ------------------------------------------------------------------ server
@FUZZ
@given(st.lists(DATAGRAMS, min_size=1, max_size=12), st.integers(0, 1 << 29))
def test_server_never_raises_and_answers_per_rfc(datagrams, start):
    ep, srv = make_server()
    now = start
    sent = {}
    for data in datagrams:
        check_datagram(ep, srv, data, now, sent)
        now += 1500
        ep.poll(now)
        check_caps(ep, srv)


@FUZZ
@given(st.lists(messages(), min_size=1, max_size=20))
def test_server_caps_hold_under_valid_requests(msgs):
    ep, srv = make_server()
    now = 0
    sent = {}
    for i, msg in enumerate(msgs):
        if msg.code >= 32 or msg.code == 0:
            msg.code = 1 + i % 3
        msg.mtype = i & 1
        if i % 4 == 0:
            msg.add(m.OBSERVE, 0)
        if i % 5 == 1:
            msg.set(m.BLOCK1, (i << 4) | 8 | 2)
            msg.payload = b"z" * 64
        check_datagram(ep, srv, msg.encode(), now, sent)
        srv.notify("obs", now)
        ep.drain()
        now += 100
        ep.poll(now)
        check_caps(ep, srv)


@FUZZ
@given(st.lists(DATAGRAMS, max_size=10))
def test_client_endpoint_never_raises(datagrams):
    ep = Endpoint(rand=lambda n: bytes(n))
    cl = Client(ep, max_exchanges=2)
    ex = cl.request("S", 1, "x", now=0)
    ep.drain()
    for data in datagrams:
        for d, p in ep.receive(data, "S", 10):
            assert p == "S"
            m.decode(d)
    ep.poll(10 ** 6)
    assert ex.done or ex._waiting or ex.observing or not ex.done


# ------------------------------------------------------------------ corpus
def write_corpus(path=CORPUS, budget=8000):
    """A deterministic corpus: the short codec vectors, targeted edge cases
    and seeded mutations, under `budget` bytes of JSON. "inputs" is a list
    of chunks (<= 1 KiB), each a space-separated list of hex datagrams, so
    the 64 KiB qemu image never holds one big string or hundreds of small
    ones."""
    rnd = random.Random(7252)
    with open(os.path.join(_HERE, "vectors", "coap", "codec.json")) as f:
        codec = json.load(f)
    inputs = [v["hex"] for v in codec["invalid"] if len(v["hex"]) <= 96]
    inputs += [v["hex"] for v in codec["valid"] if len(v["hex"]) <= 96]
    seeds = []
    for path_, code, opts, payload in (
        ("hello", 1, [], b""), ("store", 3, [(27, 0x0A), (60, 32)], b"q" * 16),
        ("store", 3, [(27, 0x1A)], b"q" * 16), ("store", 2, [(27, 0x02)], b"end"),
        ("obs", 1, [(6, 0)], b""), ("obs", 1, [(6, 1)], b""), ("big", 1, [(23, 0x14)], b""),
        ("big", 1, [(23, 0x07)], b""), ("fresh", 2, [], b"p"), ("fresh", 2, [(252, b"x")], b""),
        ("hello", 1, [(9, b"")], b""), ("hello", 1, [(35, "coap://x")], b""),
        (".well-known/core", 1, [(15, "rt=t")], b""), ("boom", 1, [], b""),
        ("store", 3, [(292, b"\x01"), (27, 0x0A)], b"r" * 16), ("nope", 4, [], b""),
    ):
        msg = m.Message(rnd.choice([0, 1]), code, rnd.randrange(65536),
                        bytes([rnd.randrange(256)]))
        msg.set_path(path_)
        for n, v in opts:
            msg.add(n, v)
        msg.payload = payload
        seeds.append(msg.encode())
    inputs += [x.hex() for x in seeds]
    inputs += ["40001234", "50001234", "60001234", "70001234", "7001", "41"]
    src = ("python host_tests/test_coap_fuzz.py --write-corpus (seeded: short codec vectors, "
           "edge cases, mutations of server requests); each entry of inputs is a "
           "space-separated chunk of hex datagrams")

    def doc_for(items):
        chunks, cur = [], ""
        for x in items:
            if cur and len(cur) + 1 + len(x) > 1024:
                chunks.append(cur)
                cur = ""
            cur = x if not cur else cur + " " + x
        if cur:
            chunks.append(cur)
        return {"_source": src, "inputs": chunks}

    while True:
        s = bytearray(rnd.choice(seeds))
        for _ in range(rnd.randint(1, 3)):
            if len(s) < 2:
                break
            op = rnd.randrange(3)
            if op == 0:
                s[rnd.randrange(len(s))] ^= 1 << rnd.randrange(8)
            elif op == 1:
                del s[rnd.randrange(1, len(s)):]
            else:
                s[rnd.randrange(len(s)):rnd.randrange(len(s)) + 1] = bytes([rnd.choice(
                    [0xFF, 0xF0, 0xDD, 0xEE, 0x0F, 0x00])])
        cand = bytes(s)[:40].hex()
        if len(json.dumps(doc_for(inputs + [cand]))) > budget:
            break
        inputs.append(cand)
    with open(path, "w") as f:
        json.dump(doc_for(inputs), f, indent=0)
        f.write("\n")
    return len(inputs)


def test_corpus_is_current_size():
    assert os.path.getsize(CORPUS) < 10240


if __name__ == "__main__":
    if "--write-corpus" in sys.argv:
        print("wrote %d inputs to %s" % (write_corpus(), CORPUS))
