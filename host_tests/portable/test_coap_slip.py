# SLIP framing (RFC 1055, lib/coap/coap_slip.py): known-answer frames with
# escapes, split feeds, oversize and bad-escape drops, resync on END, noise.
import coap_slip as S
from hgtest import h

# (datagram hex, frame hex): END, the datagram escaped, END.
VECTORS = (
    ("", "c0c0"),
    ("00", "c000c0"),
    ("c0", "c0dbdcc0"),
    ("db", "c0dbddc0"),
    ("dbdc", "c0dbdddcc0"),
    ("c0db", "c0dbdcdbddc0"),
    ("dbc0", "c0dbdddbdcc0"),
    ("dcdd", "c0dcddc0"),
    ("c0c0c0", "c0dbdcdbdcdbdcc0"),
    ("4401a5b2c0dbff", "c04401a5b2dbdcdbddffc0"),
    # a CoAP GET /hi (CON, MID 0x1234, token 0xc0db): escapes in the token
    ("42011234c0dbb26869", "c042011234dbdcdbddb26869c0"),
)


def _pieces(datagram):
    out = []
    S.write_frame(lambda b: out.append(bytes(b)), datagram)
    return b"".join(out)


def test_encode_vectors():
    for dg, frame in VECTORS:
        assert S.encode(h(dg)) == h(frame), dg
        assert _pieces(h(dg)) == h(frame), dg
        assert _pieces(bytearray(h(dg))) == h(frame), dg
        assert _pieces(memoryview(h(dg))) == h(frame), dg
        assert S.encoded_size(h(dg)) == len(h(frame)), dg


def test_decode_vectors():
    for dg, frame in VECTORS:
        d = S.Decoder()
        got = d.feed(h(frame))
        if dg:
            assert got == [h(dg)], dg
        else:
            assert got == [], "empty frames are skipped"
        assert d.dropped == 0
        assert d.pending() == 0


def test_all_byte_values_round_trip():
    data = bytes(range(256)) * 3
    d = S.Decoder(1024)
    assert d.feed(S.encode(data)) == [data]
    assert d.feed(memoryview(S.encode(data))) == [data]
    assert d.frames == 2


def test_split_feeds_every_position():
    dgs = [h("c0db00"), h("dbdcdd"), bytes(range(0xB8, 0xE0))]
    stream = b"".join(S.encode(x) for x in dgs)
    for cut in range(len(stream) + 1):
        d = S.Decoder()
        got = d.feed(stream[:cut]) + d.feed(stream[cut:])
        assert got == dgs, cut
    d = S.Decoder()
    got = []
    for i in range(len(stream)):
        got += d.feed(stream[i : i + 1])
    assert got == dgs


def test_several_frames_in_one_feed_and_shared_end():
    # a single END between frames (RFC 1055's minimal form) also works
    d = S.Decoder()
    assert d.feed(h("c00102c00304c0c0c005c0")) == [h("0102"), h("0304"), h("05")]


def test_no_end_no_frame():
    d = S.Decoder()
    assert d.feed(h("c00102")) == []
    assert d.pending() == 2
    assert d.feed(h("03c0")) == [h("010203")]


def test_oversize_dropped_and_counted():
    d = S.Decoder(4)
    assert d.feed(S.encode(b"1234")) == [b"1234"]  # exactly max_frame fits
    assert d.feed(S.encode(b"12345")) == []
    assert d.oversize == 1
    # an escape that would land beyond the bound counts too
    assert d.feed(S.encode(b"1234\xc0")) == []
    assert d.oversize == 2
    # in step again right after
    assert d.feed(S.encode(b"ok")) == [b"ok"]
    # oversize split across feeds, then a frame in the same feed as its END
    assert d.feed(b"\xc0" + b"x" * 100) == []
    assert d.feed(b"y" * 100 + b"\xc0ab\xc0") == [b"ab"]
    assert d.oversize == 3
    assert d.dropped == 3
    assert d.bad_escape == 0


def test_bad_escape_dropped_and_resync():
    d = S.Decoder()
    # ESC followed by a plain byte: the frame is dropped at END
    assert d.feed(h("c00102db4103c0")) == []
    assert d.bad_escape == 1
    # ESC END aborts the frame in progress
    assert d.feed(h("c00102dbc0")) == []
    assert d.bad_escape == 2
    assert d.feed(h("0708c0")) == [h("0708")]
    assert d.dropped == 2


def test_garbage_before_first_end():
    # a REPL banner before the first frame comes out as one bogus datagram;
    # reset() drops it while it is still partial
    d = S.Decoder()
    assert d.feed(b"raw REPL; CTRL-B to exit\r\n>OK" + S.encode(b"\x40\x01")) == [
        b"raw REPL; CTRL-B to exit\r\n>OK",
        b"\x40\x01",
    ]
    d = S.Decoder()
    assert d.feed(b"MPY: soft reboot\r\n") == []
    d.reset()
    assert d.pending() == 0
    assert d.feed(S.encode(b"\x40\x01")) == [b"\x40\x01"]


def test_noise_never_breaks_the_decoder():
    # pseudo-random line noise (a fixed LCG), then a clean frame: the clean
    # frame always comes out intact and nothing beyond max_frame is returned
    d = S.Decoder(16)
    x = 12345
    noise = bytearray(3000)
    specials = (0xC0, 0xDB, 0xDC, 0xDD)
    for i in range(len(noise)):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        r = (x >> 16) & 0xFF
        noise[i] = specials[r & 3] if r < 96 else r
    got = d.feed(noise)
    for g in got:
        assert 0 < len(g) <= 16
    # the clean frame's leading END may first complete a partial noise frame
    tail = d.feed(S.encode(b"\x50\x01\xc0\xdb"))
    assert tail[-1] == b"\x50\x01\xc0\xdb"
    assert len(tail) <= 2
    assert d.frames == len(got) + len(tail)
    assert d.pending() == 0


def test_bad_max_frame():
    try:
        S.Decoder(0)
    except ValueError:
        return
    raise AssertionError("Decoder(0) accepted")


def _reference(stream, cap):
    """Byte-at-a-time model of the decoder: (frames, oversize, bad_escape)."""
    frames, over, bad = [], 0, 0
    cur, esc, drop, big = bytearray(), False, False, False
    for c in stream:
        if c == 0xC0:
            if big:
                over += 1
            elif drop or esc:
                bad += 1
            elif cur:
                frames.append(bytes(cur))
            cur, esc, drop, big = bytearray(), False, False, False
            continue
        if drop or big:
            continue
        if esc:
            esc = False
            if c == 0xDC:
                c = 0xC0
            elif c == 0xDD:
                c = 0xDB
            else:
                drop = True
                continue
        elif c == 0xDB:
            esc = True
            continue
        if len(cur) >= cap:
            big = True
            continue
        cur.append(c)
    return frames, over, bad


def test_matches_bytewise_model():
    x = 99
    for trial in range(60):
        cap = 1 + trial % 9
        data = bytearray(80)
        for i in range(len(data)):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            r = (x >> 16) & 0xFF
            data[i] = (0xC0, 0xDB, 0xDC, 0xDD)[r & 3] if r < 100 else r
        want = _reference(data, cap)
        for step in (1, 3, 7, 80):
            d = S.Decoder(cap)
            got = []
            for i in range(0, len(data), step):
                chunk = data[i : i + step]
                got += d.feed(chunk if step != 3 else memoryview(chunk))
            assert (got, d.oversize, d.bad_escape) == want, (trial, step)
        # feed(buf, end): only the first `end` bytes count
        d = S.Decoder(cap)
        padded = data + b"\xc0\x41\xc0"
        assert d.feed(padded, len(data)) == want[0]
