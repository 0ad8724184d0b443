# API behaviour of lib/cbor: encoder choices, decoder options and limits.
# Runs under pytest and MicroPython (mp_runner).
import cbor
from cbor import (
    CBORDecodeError,
    CBOREncodeError,
    CBORError,
    Simple,
    Tag,
    UNDEFINED,
    decode_from,
    dumps,
    loads,
)
from hgtest import h, hx, raises, skip

_DOUBLE = (1.0 + 2.0**-40) != 1.0


def test_error_hierarchy():
    assert issubclass(CBORError, ValueError)
    assert issubclass(CBORDecodeError, CBORError)
    assert issubclass(CBOREncodeError, CBORError)
    e = raises(ValueError, loads, b"\x18")
    assert isinstance(e, CBORDecodeError)


def test_int_boundaries():
    cases = [
        (0, "00"), (23, "17"), (24, "1818"), (255, "18ff"), (256, "190100"),
        (65535, "19ffff"), (65536, "1a00010000"), (-1, "20"), (-24, "37"),
        (-25, "3818"), (-256, "38ff"), (-257, "390100"), (-65537, "3a00010000"),
    ]
    for v, hexs in cases:
        assert hx(dumps(v)) == hexs, v
        assert loads(h(hexs), strict=True) == v
    try:
        big = [
            (2**32 - 1, "1affffffff"), (2**32, "1b0000000100000000"),
            (2**64 - 1, "1bffffffffffffffff"), (2**64, "c249010000000000000000"),
            (-(2**32) - 1, "3b0000000100000000"), (-(2**64), "3bffffffffffffffff"),
            (-(2**64) - 1, "c349010000000000000000"),
            (2**100, "c24d10000000000000000000000000"),
            (-(2**100), "c34d0f" + "ff" * 12),
        ]
    except OverflowError:
        skip("port without big ints")
    for v, hexs in big:
        assert hx(dumps(v)) == hexs, v
        assert loads(h(hexs), strict=True) == v


def test_bignum_decoding_non_strict():
    assert loads(h("c240")) == 0
    assert loads(h("c34100")) == -1
    assert loads(h("c2420001")) == 1
    assert loads(h("c25f4101ff")) == 1
    assert loads(h("c2420102"), zero_copy=True) == 258
    t = loads(h("c1c249010000000000000000"))
    assert t.tag == 1 and t.value == 2**64


def test_simple_undefined_tag():
    assert dumps(UNDEFINED) == b"\xf7" and loads(b"\xf7") is UNDEFINED
    assert repr(UNDEFINED) == "UNDEFINED"
    assert dumps(Simple(0)) == b"\xe0" and dumps(Simple(19)) == b"\xf3"
    assert dumps(Simple(32)) == b"\xf8\x20" and dumps(Simple(255)) == b"\xf8\xff"
    for bad in (20, 23, 24, 31, 256, -1, "x"):
        raises(CBOREncodeError, dumps, Simple(bad))
    assert Simple(5) == Simple(5) and Simple(5) != Simple(6) and Simple(5) != 5
    assert loads(h("a1f000")) == {Simple(16): 0}  # Simple is hashable
    assert repr(Simple(7)) == "Simple(7)"
    t = Tag(32, "http://x")
    assert t == Tag(32, "http://x") and t != Tag(33, "http://x") and t != Tag(32, "y")
    assert repr(Tag(1, 2)) == "Tag(1, 2)"
    assert dumps(Tag(1, 2)) == b"\xc1\x02"
    assert dumps(Tag(24, Tag(0xFFFF, []))) == h("d818d9ffff80")
    assert loads(h("d818d9ffff80")) == Tag(24, Tag(65535, []))
    raises(CBOREncodeError, dumps, Tag(-1, 0))
    raises(CBOREncodeError, dumps, Tag("1", 0))
    assert dumps([True, False, None]) == h("83f5f4f6")


def test_strings_and_bytes():
    assert dumps("") == b"\x60" and dumps(b"") == b"\x40"
    assert dumps(bytearray(b"ab")) == b"\x42ab"
    assert dumps(memoryview(b"xab")[1:]) == b"\x42ab"
    s = "a" * 24
    assert dumps(s) == b"\x78\x18" + s.encode()
    assert dumps(b"z" * 256) == b"\x59\x01\x00" + b"z" * 256
    u = "\u00fc\u6c34" + h("f0908591").decode()
    assert dumps(u) == b"\x69" + u.encode() and loads(dumps(u)) == u
    # boundary code points that are valid UTF-8
    for hexs in ("63ed9fbf", "63ee8080", "63efbfbf", "64f48fbfbf", "62c280", "63e0a080", "64f0908080"):
        assert loads(h(hexs), strict=True).encode() == h(hexs)[1:]


def test_containers_and_sorting():
    assert dumps((1, [2, (3,)])) == h("820182028103")
    # RFC 8949 4.2.1: bytewise order of the encoded keys (not length-first)
    d = {"aa": 1, "b": 2, 100: 3, -1: 4}
    assert hx(dumps(d)) == "a4186403200461620262616101"
    # (bytes and str keys kept in separate dicts: MicroPython warns when it
    # compares the two while probing a dict)
    d = {b"\x01": 0, 10: 0, -100: 0, False: 0, None: 0, 1.5: 0}
    assert hx(dumps(d)) == "a60a00386300410100f400f600f93e0000"
    assert loads(dumps(d), strict=True) == d
    d = {"a": 0, 10: 0, -100: 0, True: 0}
    assert hx(dumps(d)) == "a40a00386300616100f500"
    assert loads(dumps(d), strict=True) == d
    assert dumps({(1, 2): 3}) == h("a182010203")
    raises(CBORDecodeError, loads, h("a182010203"))  # array key: unhashable here
    assert dumps({}) == b"\xa0" and dumps([]) == b"\x80"
    assert dumps([[]] * 3) == h("83808080")


def test_unsupported_and_cycles():
    for bad in (object(), {1, 2}, len, Exception()):
        raises(CBOREncodeError, dumps, bad)
    raises(CBOREncodeError, dumps, [object()])
    raises(CBOREncodeError, dumps, {object(): 1})
    loop = []
    loop.append(loop)
    e = raises(CBOREncodeError, dumps, loop)
    assert str(e) == "too deep"
    deep = 0
    for _ in range(64):
        deep = [deep]
    dumps(deep)
    raises(CBOREncodeError, dumps, [deep])


def test_floats_shortest():
    cases = [
        (0.0, "f90000"), (-0.0, "f98000"), (1.0, "f93c00"), (0.5, "f93800"),
        (65504.0, "f97bff"), (65520.0, "fa477ff000"), (-2.0, "f9c000"),
        (2.0**-14, "f90400"), (2.0**-24, "f90001"), (3 * 2.0**-24, "f90003"),
        (1023 * 2.0**-24, "f903ff"), (2.0**-25, "fa33000000"), (2.0**-126, "fa00800000"),
        (1.5 * 2.0**-24, "fa33c00000"), (100000.0, "fa47c35000"), (16777216.0, "fa4b800000"),
        (float("inf"), "f97c00"), (float("-inf"), "f9fc00"), (float("nan"), "f97e00"),
        (-float("nan"), "f97e00"), (1 + 2.0**-10, "f93c01"), (1 + 2.0**-11, "fa3f801000"),
    ]
    for v, hexs in cases:
        assert hx(dumps(v)) == hexs, (v, hexs)
        got = loads(h(hexs), strict=True)
        assert got == v or (v != v and got != got), hexs


def test_floats_double_only():
    if not _DOUBLE:
        skip("needs double-precision floats")
    cases = [
        (0.1, "fb3fb999999999999a"), (2.0**-149, "fa00000001"), (2.0**-150, "fb3690000000000000"),
        (1 + 2.0**-24, "fb3ff0000010000000"), (2.0**128, "fb47f0000000000000"),
        # Parsed at run time: as literals these overflow a single-precision
        # build's compiler to inf, which its frozen-code generator cannot emit.
        (float("5e-324"), "fb0000000000000001"), (float("1.7976931348623157e308"), "fb7fefffffffffffff"),
    ]
    for v, hexs in cases:
        assert hx(dumps(v)) == hexs, (v, hexs)
        assert loads(h(hexs), strict=True) == v


def test_half_floats_all_patterns():
    # Every half-precision value decodes by hand and re-encodes to itself
    # (its own shortest form); NaNs all encode as f97e00.
    step = 1 if _DOUBLE else 7
    for bits in range(0, 0x10000, step):
        data = bytes((0xF9, bits >> 8, bits & 0xFF))
        v = loads(data)
        if v != v:
            assert bits & 0x7C00 == 0x7C00 and bits & 0x3FF
            assert dumps(v) == b"\xf9\x7e\x00"
        else:
            assert dumps(v) == data, hx(data)


def test_decode_from_sequence():
    seq = h("01 8202 03 f6 a0".replace(" ", ""))
    out = []
    off = 0
    while off < len(seq):
        v, off = decode_from(seq, off)
        out.append(v)
    assert out == [1, [2, 3], None, {}] and off == len(seq)
    assert decode_from(seq, 1) == ([2, 3], 4)
    raises(CBORDecodeError, decode_from, seq, len(seq))
    raises(CBORDecodeError, decode_from, seq, len(seq) + 1)
    raises(CBORDecodeError, decode_from, seq, -1)
    e = raises(CBORDecodeError, loads, seq)
    assert str(e) == "trailing bytes"
    raises(TypeError, loads, "text")


def test_zero_copy():
    buf = bytearray(h("83436162634178a141764177"))
    v = loads(buf, zero_copy=True)
    assert type(v[0]) is memoryview and bytes(v[0]) == b"abc"
    key = list(v[2].keys())[0]
    assert type(key) is bytes and key == b"v"
    assert type(v[2][b"v"]) is memoryview
    buf[2] = ord("X")  # a view, not a copy
    assert bytes(v[0]) == b"Xbc" and v[1] == b"x"
    w = loads(bytes(buf))
    assert type(w[0]) is bytes and type(w[2][b"v"]) is bytes
    w = loads(buf)
    assert type(w[0]) is bytes  # never bytearray
    w = loads(memoryview(buf))
    assert type(w[0]) is bytes
    # indefinite strings are joined (a copy) even in zero-copy mode
    assert loads(h("5f41614162ff"), zero_copy=True) == b"ab"


def test_strict_round_trips():
    vals = [
        0, -1, 2**40, "x", b"y", [1, [2, [3]]], {1: {2: {3: []}}}, Tag(1, 1.5),
        {"a": b"\x00" * 32, -5: [True, None, UNDEFINED, Simple(200)]}, 1.5, -0.0,
    ]
    for v in vals:
        assert loads(dumps(v), strict=True) == v


def test_depth_limit():
    ok = h("81" * 16 + "00")
    assert loads(ok) is not None
    assert str(raises(CBORDecodeError, loads, b"\x81" + ok)) == "too deep"
    assert loads(h("c0" * 16 + "00")).tag == 0
    raises(CBORDecodeError, loads, h("c0" * 17 + "00"))
    assert loads(b"\x80", max_depth=1) == [] and loads(b"\x00", max_depth=0) == 0
    raises(CBORDecodeError, loads, b"\x80", max_depth=0)
    raises(CBORDecodeError, loads, b"\xa0", max_depth=0)
    # deeper than any recursion limit: error, quickly, no RecursionError
    deep = b"\x81" * 2000 + b"\x00"
    assert str(raises(CBORDecodeError, loads, deep)) == "too deep"
    assert str(raises(CBORDecodeError, loads, b"\x9f" * 2000)) == "too deep"
    # iterative decoder: a larger cap works without recursion
    v = loads(b"\x81" * 100 + b"\x00", max_depth=100)
    for _ in range(100):
        v = v[0]
    assert v == 0


def test_item_limit():
    # counts every data item: top level, elements, map keys and values, tag contents
    assert loads(h("8401020304"), max_items=5) == [1, 2, 3, 4]
    raises(CBORDecodeError, loads, h("8401020304"), max_items=4)
    assert loads(h("a2010203 04".replace(" ", "")), max_items=5) == {1: 2, 3: 4}
    raises(CBORDecodeError, loads, h("a201020304"), max_items=4)
    assert loads(h("9f0102ff"), max_items=3) == [1, 2]
    raises(CBORDecodeError, loads, h("9f0102ff"), max_items=2)
    assert loads(h("c101"), max_items=2).value == 1
    raises(CBORDecodeError, loads, h("c101"), max_items=1)
    raises(CBORDecodeError, loads, b"\x00", max_items=0)
    # default cap 4096: checked on the header, before the list is allocated
    big = bytearray(4099)  # 4096 elements + the array = 4097 items
    big[0:3] = b"\x99\x10\x00"
    assert str(raises(CBORDecodeError, loads, big)) == "too many items"
    big[0:3] = b"\xb9\x08\x00"  # 2048 pairs
    assert str(raises(CBORDecodeError, loads, big)) == "too many items"
    big = None
    ind = b"\x9f" + b"\x00" * 1000 + b"\xff"  # (_ 1000 elements)
    assert len(loads(ind, max_items=1001)) == 1000
    raises(CBORDecodeError, loads, ind, max_items=1000)
    dfn = b"\x99\x03\xe8" + ind[1:-1]
    assert len(loads(dfn, max_items=1001)) == 1000
    raises(CBORDecodeError, loads, dfn, max_items=1000)


def test_huge_lengths_fail_fast():
    for hexs in ("5b0000000100000000", "5bffffffffffffffff", "7bffffffffffffffff",
                 "9b1000000000000000", "9bffffffffffffffff", "bbffffffffffffffff",
                 "5affffffff", "9affffffff", "baffffffff", "5f5bffffffffffffffff",
                 "7f7bffffffffffffffff"):
        e = raises(CBORDecodeError, loads, h(hexs) + b"\x00" * 16)
        assert str(e) == "truncated", hexs


def test_python_equal_keys_are_duplicates():
    # 1, 1.0 and True are distinct CBOR keys but one Python dict key.
    for hexs in ("a20100f500", "a20100f93c0000", "a2f400f9000000"):
        assert str(raises(CBORDecodeError, loads, h(hexs))) == "duplicate map key"


def test_map_key_types():
    d = loads(h("a8 0000 2000 4100 00 f500 f600 f7 00 f93e00 00 f0 00".replace(" ", "")))
    assert len(d) == 8 and d[0] == 0 and d[-1] == 0 and d[True] == 0 and d[None] == 0
    assert d[Simple(16)] == 0 and d[1.5] == 0 and d[b"\x00"] == 0 and d[UNDEFINED] == 0
    assert loads(h("a2 6100 00 01 00".replace(" ", ""))) == {"\x00": 0, 1: 0}
    for hexs in ("a18000", "a1a000", "a1c10000", "bf80 00ff".replace(" ", "")):
        assert str(raises(CBORDecodeError, loads, h(hexs))) == "unhashable map key"


def test_module_surface():
    names = [n for n in dir(cbor) if not n.startswith("_")]
    for n in ("dumps", "head", "loads", "decode_from", "Tag", "Simple", "UNDEFINED",
              "CBORError", "CBORDecodeError", "CBOREncodeError"):
        assert n in names, n


def test_out_of_memory_propagates():
    # Running out of heap is not malformed input: MemoryError reaches the
    # caller (SUIT maps it to SUIT_ERR_NO_MEM), never a CBORDecodeError.
    def oom(tag, value):
        raise MemoryError()

    saved = cbor.Tag
    cbor.Tag = oom  # the decoder builds each Tag through the module global
    try:
        for e in (raises(Exception, loads, h("c600")),
                  raises(Exception, loads, h("8201c600"), strict=True, zero_copy=True),
                  raises(Exception, decode_from, h("00c600"), 1)):
            assert type(e) is MemoryError, type(e)
    finally:
        cbor.Tag = saved
    assert loads(h("c600")) == Tag(6, 0)


def test_head_is_the_head_dumps_writes():
    for major, n, hexs in ((0, 0, "00"), (0, 23, "17"), (2, 24, "5818"), (2, 255, "58ff"),
                           (2, 256, "590100"), (2, 65535, "59ffff"), (2, 65536, "5a00010000"),
                           (3, 0x3FFFFFFF, "7a3fffffff"), (4, 1, "81"), (6, 61, "d83d"),
                           (7, 20, "f4")):
        assert hx(cbor.head(major, n)) == hexs, (major, n)
        assert type(cbor.head(major, n)) is bytes
    for ln in (0, 23, 24, 255, 256, 1000):
        data = bytes(ln)
        assert cbor.head(2, ln) + data == dumps(data)
    try:
        big = 2**64 - 1
    except OverflowError:  # ports without big ints
        big = None
    if big is not None:
        assert hx(cbor.head(3, 2**32 - 1)) == "7affffffff"
        assert hx(cbor.head(1, 2**32)) == "3b0000000100000000"
        assert hx(cbor.head(0, big)) == "1bffffffffffffffff"
        raises(CBOREncodeError, cbor.head, 0, big + 1)
    for major, n in ((8, 0), (-1, 0), (0, -1)):
        raises(CBOREncodeError, cbor.head, major, n)
