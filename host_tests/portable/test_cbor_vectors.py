# RFC 8949 Appendix A, the negative table and cbor/test-vectors fail.json,
# run under pytest and MicroPython (mp_runner).
import struct

import cbor
from cbor import CBORDecodeError, Simple, Tag, UNDEFINED, dumps, loads
from hgtest import h, hx, raises, skip, vectors

# False on ports whose float is single precision (e.g. the qemu Cortex-M4F image).
_DOUBLE = (1.0 + 2.0**-40) != 1.0


def _expected(v):
    """Vector JSON value (see _format in rfc8949_appendix_a.json) to Python."""
    if isinstance(v, list):
        return [_expected(x) for x in v]
    if isinstance(v, dict):
        if "$int" in v:
            return int(v["$int"])
        if "$float" in v:
            return float(v["$float"])
        if "$f64" in v:
            return struct.unpack(">d", h(v["$f64"]))[0]
        if "$bytes" in v:
            return h(v["$bytes"])
        if "$utf8" in v:
            return h(v["$utf8"]).decode("utf-8")
        if "$undef" in v:
            return UNDEFINED
        if "$simple" in v:
            return Simple(v["$simple"])
        if "$tag" in v:
            return Tag(v["$tag"], _expected(v["v"]))
        if "$map" in v:
            d = {}
            for k, x in v["$map"]:
                d[_expected(k)] = _expected(x)
            return d
        d = {}
        for k in v:
            d[k] = _expected(v[k])
        return d
    return v


def _float_bits(x):
    return struct.pack(">d", x)


def same(a, b):
    """Structural equality that also tells NaN, -0.0, bool/int and bytes types apart."""
    if type(a) is memoryview:
        a = bytes(a)
    if type(a) is not type(b):
        return False
    if type(a) is float:
        if a != a:
            return b != b
        return a == b and _float_bits(a)[0] & 0x80 == _float_bits(b)[0] & 0x80
    if type(a) is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        if len(a) != len(b):
            return False
        for k in a:
            if k not in b or not same(a[k], b[k]):
                return False
        return True
    if type(a) is Tag:
        return a.tag == b.tag and same(a.value, b.value)
    return a == b


def _appendix(double_only):
    out = []
    for e in vectors("cbor/rfc8949_appendix_a.json")["vectors"]:
        if bool(e.get("dbl")) != double_only:
            continue
        try:
            v = _expected(e["v"])
        except (OverflowError, ValueError):  # ports without big ints
            continue
        out.append((e["hex"], v, e["rt"]))
    return out


def _check_decode(cases):
    for hexs, v, rt in cases:
        data = h(hexs)
        got = loads(data)
        assert same(got, v), hexs
        # same result from bytearray / memoryview input and zero-copy mode
        assert same(loads(bytearray(data)), v), hexs
        assert same(loads(memoryview(data)), v), hexs
        assert same(loads(data, zero_copy=True), v), hexs  # same() maps memoryview -> bytes


def _check_encode(cases):
    n = 0
    for hexs, v, rt in cases:
        if rt:
            assert hx(dumps(v)) == hexs, hexs
            assert same(loads(h(hexs), strict=True), v), hexs
            n += 1
        else:
            raises(CBORDecodeError, loads, h(hexs), strict=True)
    return n


def test_appendix_a_source():
    doc = vectors("cbor/rfc8949_appendix_a.json")
    assert "RFC 8949" in doc["_source"]
    assert len(doc["vectors"]) == 81


def test_appendix_a_decode():
    cases = _appendix(False)
    assert len(cases) >= 70
    _check_decode(cases)


def test_appendix_a_encode_and_strict():
    assert _check_encode(_appendix(False)) >= 50


def test_appendix_a_double_only():
    if not _DOUBLE:
        skip("needs double-precision floats")
    cases = _appendix(True)
    assert len(cases) == 7
    _check_decode(cases)
    _check_encode(cases)


def test_appendix_a_structural():
    # Diagnostic-only examples, checked by structure.
    assert loads(h("f7")) is UNDEFINED
    s = loads(h("f0"))
    assert type(s) is Simple and s.value == 16
    assert loads(h("f8ff")).value == 255
    t = loads(h("c074323031332d30332d32315432303a30343a30305a"))
    assert type(t) is Tag and t.tag == 0 and t.value == "2013-03-21T20:04:00Z"
    t = loads(h("d818456449455446"))
    assert t.tag == 24 and t.value == b"dIETF" and loads(t.value) == "IETF"
    assert loads(h("a201020304")) == {1: 2, 3: 4}
    assert loads(h("5f42010243030405ff")) == b"\x01\x02\x03\x04\x05"
    nan = loads(h("fb7ff8000000000000"))
    assert nan != nan


def test_truncated_prefixes():
    # CBOR items are prefix-free: every proper prefix of a valid item is truncated.
    n = 0
    for hexs, v, rt in _appendix(False) + _appendix(True):
        data = h(hexs)
        for i in range(len(data)):
            e = raises(CBORDecodeError, loads, data[:i])
            assert str(e) == "truncated", (hexs, i)
            n += 1
    assert n > 150


def _row(row):
    """'hex|err|why[|flags]' -> (data, err, strict_only, loads kwargs)."""
    f = row.split("|")
    strict_only = False
    opts = {}
    if len(f) > 3:
        for flag in f[3].split():
            if flag == "strict":
                strict_only = True
            else:
                k, v = flag.split("=")
                opts[k] = int(v)
    return h(f[0]), f[1], strict_only, opts


def test_invalid_table():
    doc = vectors("cbor/invalid.json")
    assert doc["_source"]
    n = 0
    for row in doc["invalid"]:
        data, err, strict_only, opts = _row(row)
        e = raises(CBORDecodeError, loads, data, strict=True, **opts)
        if strict_only:
            assert str(e) == err, (row, str(e))
            loads(data, **opts)  # accepted without strict
        else:
            e = raises(CBORDecodeError, loads, data, **opts)
            assert str(e) == err, (row, str(e))
            raises(CBORDecodeError, loads, data, zero_copy=True, **opts)
        n += 1
    assert n > 140


def test_fail_json():
    text = vectors("cbor/fail_json.json")["hex"]
    n = i = 0
    while i < len(text):
        j = text.find(" ", i)
        if j < 0:
            j = len(text)
        data = h(text[i:j])
        raises(CBORDecodeError, loads, data)
        raises(CBORDecodeError, loads, data, strict=True)
        n += 1
        i = j + 1
    assert n == 568


def test_reserved_additional_info_every_major_type():
    for mt in range(8):
        for ai in (28, 29, 30):
            e = raises(CBORDecodeError, loads, bytes([mt << 5 | ai]) + b"\x00" * 8)
            assert str(e) == "reserved additional info"


def test_every_single_byte():
    ok = 0
    for b in range(256):
        try:
            loads(bytes([b]))
            ok += 1
        except CBORDecodeError:
            pass
    # 0x00-0x17, 0x20-0x37, 0x40, 0x60, 0x80, 0xa0, 0xe0-0xf7
    assert ok == 24 + 24 + 4 + 24
