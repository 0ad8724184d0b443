# CoAP codec (lib/coap/coap_msg.py): vectors encoded by aiocoap, negatives
# per RFC 7252 section 3, caps, option registry, Block helpers.
import coap_msg as m
from hgtest import h, hx, raises, vectors


def _check_valid(v, zero_copy):
    msg = m.decode(h(v["hex"]), zero_copy)
    assert msg.mtype == v["type"], v["desc"]
    assert msg.code == v["code"], v["desc"]
    assert msg.mid == v["mid"], v["desc"]
    assert hx(msg.token) == v["token"], v["desc"]
    assert [[n, hx(val)] for n, val in msg.opts] == v["options"], v["desc"]
    assert hx(msg.payload) == v["payload"], v["desc"]
    # re-encoding gives the same bytes (aiocoap encodes minimally too)
    assert hx(msg.encode()) == v["hex"], v["desc"]
    buf = bytearray(len(v["hex"]) // 2 + 3)
    end = msg.encode_into(buf, 3)
    assert hx(buf[3:end]) == v["hex"], v["desc"]
    assert msg.encoded_size() == len(v["hex"]) // 2
    if zero_copy:
        # a memoryview datagram is read in place: the same message, with
        # token and option values as bytes of their own
        mv = memoryview(bytearray(h(v["hex"])))
        msg2 = m.decode(mv, True)
        assert (msg2.mtype, msg2.code, msg2.mid) == (msg.mtype, msg.code, msg.mid), v["desc"]
        assert type(msg2.token) is bytes and msg2.token == msg.token, v["desc"]
        assert msg2.opts == msg.opts, v["desc"]
        for _n, val in msg2.opts:
            assert type(val) is bytes, v["desc"]
        assert bytes(msg2.payload) == bytes(msg.payload), v["desc"]
        assert msg2.encode() == msg.encode(), v["desc"]


def test_valid_vectors():
    doc = vectors("coap/codec.json")
    assert len(doc["valid"]) >= 15
    for v in doc["valid"]:
        _check_valid(v, False)
        _check_valid(v, True)


def test_invalid_vectors():
    doc = vectors("coap/codec.json")
    classes = {"CoAPFormatError": m.CoAPFormatError, "CoAPLimitError": m.CoAPLimitError}
    for v in doc["invalid"]:
        data = h(v["hex"])
        e = raises(classes[v["error"]], m.decode, data)
        assert isinstance(e, m.CoAPError)
        assert isinstance(e, ValueError)
        raises(classes[v["error"]], m.decode, data, True)
        raises(classes[v["error"]], m.decode, bytearray(data))
        raises(classes[v["error"]], m.decode, memoryview(bytearray(data)), True)


def test_error_header_context():
    # an error after the token carries (type, code, mid, token) for the reply
    e = raises(m.CoAPFormatError, m.decode, h("42010102aabbf0"))
    assert e.hdr == (m.CON, m.GET, 0x0102, h("aabb"))
    e = raises(m.CoAPFormatError, m.decode, h("40"))
    assert e.hdr is None
    e = raises(m.CoAPFormatError, m.decode, h("5901abcd"))
    assert e.hdr[0] == m.NON and e.hdr[2] == 0xABCD


def test_memoryview_zero_copy_reads_in_place():
    req = m.Message(m.CON, m.POST, 0x1234, b"\x01\x02\x03\x04", None, bytes(1200))
    req.set_path("suit/manifest")
    req.add(m.CONTENT_FORMAT, m.uint_encode(60))
    buf = bytearray(req.encode())
    mv = memoryview(buf)
    msg = m.decode(mv, True)
    assert msg.token == b"\x01\x02\x03\x04" and msg.path() == "suit/manifest"
    # the payload is a view of the caller's buffer; token and options are not
    buf[-1] = 7
    buf[4] = 0xEE
    buf[len(buf) - 1201 - 1] ^= 0xFF  # the Content-Format value byte
    assert msg.payload[-1] == 7 and len(msg.payload) == 1200
    assert msg.token == b"\x01\x02\x03\x04" and msg.opt_uint(m.CONTENT_FORMAT) == 60
    buf[4] = 0x01
    buf[len(buf) - 1201 - 1] ^= 0xFF
    try:
        import gc

        alloc = gc.mem_alloc
    except (ImportError, AttributeError):
        return  # CPython: the heap figure below is MicroPython's
    m.decode(mv, True)
    gc.collect()
    gc.disable()
    try:
        a = alloc()
        msg = m.decode(mv, True)
        used = alloc() - a
    finally:
        gc.enable()
    # a copy of the 1.2 KB datagram used to come with every decode
    assert used < len(buf), used


def test_build_and_roundtrip():
    msg = m.Message(m.CON, m.PUT, 0xBEEF, b"\x01\x02")
    msg.set_path("/a/bc/")
    msg.add(m.CONTENT_FORMAT, m.CF_CBOR)
    msg.add(m.URI_QUERY, "x=1")
    msg.add(m.ETAG, b"\x09")
    msg.add(m.BLOCK1, m.uint_decode(m.block_encode(2, 1, 6)))
    msg.add(m.REQUEST_TAG, b"\x07")
    msg.add(m.ECHO, b"\x55" * 5)
    msg.add(m.SIZE1, 70000)
    msg.payload = b"body"
    nums = [n for n, _ in msg.opts]
    assert nums == sorted(nums)
    back = m.decode(msg.encode())
    assert back.path() == "a/bc"
    assert back.query() == ["x=1"]
    assert back.opt_uint(m.CONTENT_FORMAT) == 60
    assert back.block1() == (2, 1, 6)
    assert back.opt(m.ECHO) == b"\x55" * 5
    assert back.opt(m.REQUEST_TAG) == b"\x07"
    assert back.opt_uint(m.SIZE1) == 70000
    assert back.payload == b"body"
    assert back.opt(m.OBSERVE) is None
    assert back.opt_uint(m.OBSERVE, 7) == 7
    back.set(m.URI_QUERY, "y=2")
    assert back.query() == ["y=2"]
    back.remove(m.URI_PATH)
    assert back.path() == ""


def test_repeatable_order_kept():
    msg = m.Message()
    for seg in ("z", "a", "m"):
        msg.add(m.URI_PATH, seg)
    msg.add(m.URI_HOST, "h")
    assert m.decode(msg.encode()).path() == "z/a/m"
    # an unsorted opts list is stably sorted on encode
    msg2 = m.Message(m.CON, m.GET, 1, b"", [(11, b"p"), (3, b"h"), (11, b"q")])
    assert m.decode(msg2.encode()).path() == "p/q"


def test_uint_and_block():
    assert m.uint_encode(0) == b""
    assert m.uint_encode(1) == b"\x01"
    assert m.uint_encode(256) == b"\x01\x00"
    assert m.uint_encode(0x123456) == b"\x12\x34\x56"
    assert m.uint_encode(2**32 - 1) == b"\xff\xff\xff\xff"
    raises(m.CoAPBadOption, m.uint_encode, -1)
    assert m.uint_decode(b"\x00\x00\x05") == 5  # leading zeros are legal
    assert m.block_decode(b"") == (0, 0, 0)
    assert m.block_decode(m.block_encode(0, 1, 6)) == (0, 1, 6)
    assert m.block_decode(m.block_encode(0xFFFFF, 0, 2)) == (0xFFFFF, 0, 2)
    assert len(m.block_encode(0xFFFFF, 0, 2)) == 3
    raises(m.CoAPBadOption, m.block_decode, b"\x01\x02\x03\x04")
    assert m.szx_size(0) == 16 and m.szx_size(6) == 1024


def test_option_registry():
    assert m.is_critical(m.URI_PATH) and m.is_unsafe(m.URI_PATH)
    assert not m.is_critical(m.CONTENT_FORMAT)
    assert m.is_critical(m.ACCEPT) and not m.is_unsafe(m.ACCEPT)
    assert m.is_no_cache_key(m.SIZE1) and not m.is_no_cache_key(m.ETAG)
    assert m.is_no_cache_key(m.ECHO) and not m.is_critical(m.ECHO)
    assert not m.is_critical(m.REQUEST_TAG) and not m.is_no_cache_key(m.REQUEST_TAG)
    assert m.option_info(m.ETAG)[1:] == (1, 1, 8, 1)  # opaque
    assert m.option_info(m.OBSERVE)[1] == 2  # uint
    assert m.option_info(2) is None and m.option_info(9999) is None
    assert m.option_name(m.BLOCK2) == "Block2"
    assert m.option_name(1234) == "Unknown-1234"
    assert m.option_number("uri-path") == 11
    assert m.option_valid(m.ETAG, b"\x01") and not m.option_valid(m.ETAG, b"")
    assert not m.option_valid(m.ETAG, b"123456789")
    assert not m.option_valid(m.ECHO, b"x" * 41)
    assert not m.option_valid(13, b"")


def test_content_formats_and_codes():
    assert m.content_format_name(60) == "application/cbor"
    assert m.content_format_name(40) == "application/link-format"
    assert m.content_format_name(12345) is None
    assert m.content_format_number("application/json") == 50
    assert m.content_format_number("text/plain") == 0
    assert m.code_str(m.CONTENT) == "2.05" and m.code_str(m.CONTINUE) == "2.31"
    assert m.code_str(m.REQUEST_ENTITY_INCOMPLETE) == "4.08"
    assert m.is_request(m.FETCH) and not m.is_request(m.EMPTY)
    assert m.is_response(m.PROXYING_NOT_SUPPORTED) and not m.is_response(m.GET)


def test_extended_forms_boundaries():
    # option deltas/lengths at 12/13/268/269 boundaries round-trip
    for num in (12, 13, 268, 269, 270, 1000, 65000):
        for ln in (0, 12, 13, 268, 269, 300):
            msg = m.Message(m.NON, m.CONTENT, 5, b"")
            msg.opts.append((num, b"\x41" * ln))
            back = m.decode(msg.encode())
            assert back.opts == [(num, b"\x41" * ln)], (num, ln)


def test_caps_exact():
    msg = m.Message()
    for i in range(8):
        msg.add(m.URI_PATH, "s")
    assert len(m.decode(msg.encode()).opts) == 8  # 8 segments is fine
    msg = m.Message()
    for i in range(16):
        msg.add(m.URI_QUERY, "q")
    assert len(m.decode(msg.encode()).opts) == 16
    msg.add(m.URI_QUERY, "q")
    raises(m.CoAPLimitError, m.decode, msg.encode())


def test_empty_helpers():
    assert m.empty(m.RST, 0x1234) == h("70001234")
    assert m.empty(m.ACK, 1) == h("60000001")
    r = m.response(m.CONTENT, b"x", m.CF_TEXT)
    assert r.code == m.CONTENT and r.opt(m.CONTENT_FORMAT) == b""
    assert "2.05" in repr(r)


def test_token_too_long_on_encode():
    msg = m.Message(m.CON, m.GET, 1, b"123456789")
    raises(m.CoAPFormatError, msg.encode)
