"""CPython-only property tests for lib/cbor (hypothesis, cbor2 as oracle).

Regenerate the saved fuzz corpus replayed by the portable test:
    .venv/bin/python host_tests/test_cbor_props.py --write-corpus
"""

import json
import math
import os
import struct
import sys
import time
import tracemalloc

_HERE = os.path.dirname(os.path.abspath(__file__))
if __name__ == "__main__":  # conftest.py does this under pytest
    sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "lib", "cbor"))

import cbor  # noqa: E402
from cbor import CBORDecodeError, CBOREncodeError, Simple, Tag, UNDEFINED, decode_from, dumps, loads  # noqa: E402

try:
    import cbor2
    from hypothesis import HealthCheck, assume, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - only with --write-corpus outside the venv
    raise

from fuzzing import examples  # noqa: E402

CORPUS = os.path.join(_HERE, "vectors", "cbor", "fuzz_corpus.json")
LIM = {"max_depth": 64, "max_items": 10**6}  # hypothesis values may nest deeper than 16
FUZZ = settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------ strategies

# Tag numbers cbor2 leaves as CBORTag (it interprets 0-5, 21-37, 256+ ranges...).
_TAGS = st.sampled_from([6, 7, 16, 17, 18, 19, 20, 24, 64, 1000]) | st.integers(0x10000, 2**64 - 1)
_SIMPLE = st.sampled_from(list(range(20)) + list(range(32, 256))).map(Simple)
_KEYS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)
_SCALARS = st.one_of(
    st.integers(-(2**64) - 10, 2**64 + 10),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(),
    st.floats(width=16),
    st.floats(width=32),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.just(UNDEFINED),
    _SIMPLE,
)


def _extend(children):
    return st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(_KEYS, children, max_size=6),
        st.builds(Tag, _TAGS, children),
    )


VALUES = st.recursive(_SCALARS, _extend, max_leaves=30)


def same(a, b):
    """Equality that tells NaN, -0.0, bool/int, bytes/memoryview apart."""
    if isinstance(a, memoryview):
        a = bytes(a)
    if type(a) is not type(b):
        return False
    if type(a) is float:
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if type(a) is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return len(a) == len(b) and all(k in b and same(a[k], b[k]) for k in a)
    if type(a) is Tag:
        return a.tag == b.tag and same(a.value, b.value)
    return a == b


def to_cbor2(x):
    if type(x) is Tag:
        return cbor2.CBORTag(x.tag, to_cbor2(x.value))
    if type(x) is Simple:
        return cbor2.CBORSimpleValue(x.value)
    if x is UNDEFINED:
        return cbor2.undefined
    if type(x) is list:
        return [to_cbor2(v) for v in x]
    if type(x) is dict:
        return {k: to_cbor2(v) for k, v in x.items()}
    return x


def from_cbor2(x):
    if isinstance(x, cbor2.CBORTag):
        return Tag(x.tag, from_cbor2(x.value))
    if isinstance(x, cbor2.CBORSimpleValue):
        return Simple(x.value)
    if x is cbor2.undefined:
        return UNDEFINED
    if type(x) is list or type(x) is tuple:  # cbor2 makes arrays inside tags tuples
        return [from_cbor2(v) for v in x]
    if isinstance(x, (dict, cbor2.frozendict)):  # cbor2 makes maps inside tags frozendicts
        return {from_cbor2(k): from_cbor2(v) for k, v in x.items()}
    return x


def _bytewise_equals_length_first(x):
    """True when every map in x has the same key order under RFC 8949
    bytewise sorting and RFC 7049 length-first sorting (cbor2 canonical)."""
    if type(x) is list:
        return all(_bytewise_equals_length_first(v) for v in x)
    if type(x) is Tag:
        return _bytewise_equals_length_first(x.value)
    if type(x) is dict:
        ks = [cbor2.dumps(k, canonical=True) for k in x]
        if sorted(ks) != sorted(ks, key=lambda b: (len(b), b)):
            return False
        return all(_bytewise_equals_length_first(v) for v in x.values())
    return True


# ------------------------------------------------------------------ round trips


@FUZZ
@given(VALUES)
def test_roundtrip(x):
    enc = dumps(x)
    assert same(loads(enc, **LIM), x)
    assert same(loads(enc, strict=True, **LIM), x)
    assert same(loads(enc, zero_copy=True, **LIM), x)
    assert same(loads(bytearray(enc), **LIM), x)
    assert dumps(loads(enc, **LIM)) == enc  # canonical form is a fixed point


@FUZZ
@given(VALUES)
def test_cbor2_reads_ours(x):
    assert same(from_cbor2(cbor2.loads(dumps(x))), x)


@FUZZ
@given(VALUES)
def test_we_read_cbor2(x):
    # cbor2's default (non-canonical: doubles, unsorted keys) and canonical output
    assert same(loads(cbor2.dumps(to_cbor2(x)), **LIM), x)
    assert same(loads(cbor2.dumps(to_cbor2(x), canonical=True), **LIM), x)
    # cbor2's indefinite containers are read in non-strict mode only
    ind = cbor2.dumps(to_cbor2(x), indefinite_containers=True)
    assert same(loads(ind, **LIM), x)


@FUZZ
@given(VALUES)
def test_matches_cbor2_canonical(x):
    # cbor2 6.x has no RFC 8949 deterministic mode: canonical=True sorts map
    # keys length-first (RFC 7049 section 3.9), otherwise it agrees with
    # RFC 8949 4.2.1 (shortest ints/lengths/floats, NaN f97e00, bignums).
    # So compare exactly the values whose maps sort the same either way.
    assume(_bytewise_equals_length_first(x))
    assert dumps(x) == cbor2.dumps(to_cbor2(x), canonical=True)


@FUZZ
@given(st.dictionaries(st.one_of(st.integers(-(2**40), 2**40), st.text(max_size=30), st.binary(max_size=30)), st.integers(), max_size=12))
def test_key_order_is_bytewise(d):
    enc = dumps(d)
    keys = [dumps(k) for k in d]
    # re-derive the order from the encoding itself
    off = 1 if len(d) < 24 else 2
    seen = []
    for _ in d:
        k, off2 = decode_from(enc, off)
        seen.append(enc[off:off2])
        _, off = decode_from(enc, off2)
    assert seen == sorted(keys)
    # and cbor2 agrees after re-sorting its length-first order
    assert same(loads(cbor2.dumps(d, canonical=True)), d)


@FUZZ
@given(st.floats())
def test_float_is_shortest_exact(x):
    enc = dumps(x)
    if math.isnan(x):
        assert enc == b"\xf9\x7e\x00"
        return
    fmt = {3: ">e", 5: ">f", 9: ">d"}[len(enc)]
    assert struct.unpack(fmt, enc[1:])[0] == x
    # nothing shorter holds the value exactly
    for shorter, f in ((3, ">e"), (5, ">f")):
        if shorter < len(enc):
            try:
                y = struct.unpack(f, struct.pack(f, x))[0]
            except OverflowError:
                continue
            assert y != x
    assert enc == cbor2.dumps(x, canonical=True)


@st.composite
def utf8ish(draw):
    # byte strings near the UTF-8 boundaries: lead bytes, continuation bytes, ASCII
    pool = st.sampled_from([0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
                            0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFF])
    return bytes(draw(st.lists(st.one_of(pool, st.integers(0, 255)), max_size=12)))


@settings(max_examples=examples(2000), deadline=None)
@given(st.one_of(utf8ish(), st.text(max_size=8).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_utf8_validator_matches_cpython(b):
    # the hand-written validator used on MicroPython (whose decoder is lax)
    try:
        b.decode("utf-8")
        ok = True
    except UnicodeDecodeError:
        ok = False
    try:
        cbor._check_utf8(b, 0, len(b))
        mine = True
    except CBORDecodeError:
        mine = False
    assert mine == ok, b


def test_half_float_by_hand_matches_struct():
    for bits in range(0x10000):
        ref = struct.unpack(">e", bits.to_bytes(2, "big"))[0]
        got = cbor._half(bits)
        assert same(got, ref) or (math.isnan(ref) and math.isnan(got)), hex(bits)


# ------------------------------------------------------------------ fuzzing


def _decode_all_ways(data):
    """Decode in every mode; only a value or CBORDecodeError may come out."""
    out = []
    for kw in ({}, {"strict": True}, {"zero_copy": True}, {"max_depth": 3, "max_items": 8}):
        try:
            v = loads(data, **kw)
        except CBORDecodeError as e:
            out.append(("err", str(e)))
            continue
        out.append(("ok", type(v).__name__))
        enc = dumps(v)  # whatever decodes re-encodes ...
        assert dumps(loads(enc, **LIM)) == enc  # ... to a fixed point
    return out


@FUZZ
@given(st.binary(max_size=64))
def test_fuzz_arbitrary_bytes(data):
    _decode_all_ways(data)


@st.composite
def mutated(draw):
    enc = bytearray(dumps(draw(VALUES)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        i = draw(st.integers(0, max(len(enc) - 1, 0)))
        if op == "flip" and enc:
            enc[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and enc:
            enc[i] = draw(st.sampled_from([0x00, 0x18, 0x1B, 0x1F, 0x5F, 0x7F, 0x9F, 0xBF, 0xF8, 0xFF, 0xFB]))
        elif op == "insert":
            enc[i:i] = draw(st.binary(min_size=1, max_size=3))
        elif op == "delete" and enc:
            del enc[i]
        elif op == "truncate":
            del enc[i:]
    return bytes(enc)


@FUZZ
@given(mutated())
def test_fuzz_mutated_encodings(data):
    _decode_all_ways(data)


def test_fuzz_corpus_file_is_fresh_enough():
    with open(CORPUS) as f:
        doc = json.load(f)
    assert doc["_source"] and 50 <= len(doc["inputs"]) <= 400
    assert os.path.getsize(CORPUS) < 20 * 1024


# ------------------------------------------------------------------ limits


def test_huge_bstr_header_fails_fast():
    data = b"\x5b" + (2**32).to_bytes(8, "big") + b"\x00" * 1000
    tracemalloc.start()
    t0 = time.perf_counter()
    for _ in range(100):
        try:
            loads(data)
            raise AssertionError("decoded")
        except CBORDecodeError as e:
            assert str(e) == "truncated"
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert dt < 0.5 and peak < 64 * 1024
    for head in (b"\x5a\xff\xff\xff\xff", b"\x9b" + b"\x10" + b"\x00" * 7, b"\xbb" + b"\xff" * 8):
        with_pad = head + b"\x00" * 64
        try:
            loads(with_pad)
            raise AssertionError("decoded")
        except CBORDecodeError:
            pass


def test_deep_nesting_10000():
    for data in (b"\x81" * 10000 + b"\x00", b"\x9f" * 10000, b"\xa1\x00" * 10000 + b"\x00", b"\xc6" * 10000 + b"\x00"):
        try:
            loads(data)
            raise AssertionError("decoded")
        except CBORDecodeError as e:
            assert str(e) == "too deep"
    # no recursion inside the decoder: 10000 levels decode when allowed
    v = loads(b"\x81" * 10000 + b"\x00", max_depth=10000, max_items=10001)
    for _ in range(10000):
        v = v[0]
    assert v == 0
    deep = 0
    for _ in range(10000):
        deep = [deep]
    try:
        dumps(deep)
        raise AssertionError("encoded")
    except CBOREncodeError as e:
        assert str(e) == "too deep"


def test_encode_errors_cpython():
    for bad in (1j, {1, 2}, frozenset(), object(), "\ud800", {"\udfff": 1}, Tag(2**64, 0)):
        try:
            dumps(bad)
            raise AssertionError("encoded %r" % (bad,))
        except CBOREncodeError:
            pass


def test_int_and_str_subclasses():
    import enum

    class Color(enum.IntEnum):
        RED = 1

    class S(str):
        pass

    assert dumps([Color.RED, S("ab"), (1,)]) == dumps([1, "ab", [1]])


# ------------------------------------------------------------------ corpus writer


def write_corpus(path=CORPUS, limit=300):
    """Collect hypothesis-generated inputs (arbitrary and mutated), keep a
    diverse subset (by outcome of each decode mode, shortest first)."""
    found = []

    @settings(max_examples=3000, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.binary(max_size=40), mutated()))
    def collect(data):
        if len(data) <= 48:
            found.append(data)

    collect()
    groups = {}
    for data in sorted(set(found), key=lambda d: (len(d), d)):
        key = tuple(_decode_all_ways(data))
        groups.setdefault(key, []).append(data)
    picked = []
    rnd = 0
    while len(picked) < limit:  # round robin over outcome classes
        added = False
        for key in sorted(groups, key=repr):
            if rnd < len(groups[key]) and len(picked) < limit:
                picked.append(groups[key][rnd])
                added = True
        if not added:
            break
        rnd += 1
    doc = {
        "_source": "Generated by host_tests/test_cbor_props.py --write-corpus: hypothesis (derandomized) "
        "arbitrary byte strings and mutated valid encodings, one per decode-outcome class in turn.",
        "inputs": sorted(d.hex() for d in picked),
    }
    text = json.dumps(doc, separators=(",", ":")).replace('","', '",\n"')
    with open(path, "w") as f:
        f.write(text + "\n")
    return len(picked), len(text), len(groups)


if __name__ == "__main__":
    if "--write-corpus" in sys.argv:
        print("inputs, bytes, outcome classes:", write_corpus())
    else:
        print(__doc__)
