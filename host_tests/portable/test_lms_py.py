# LMS / HSS: the pure-Python backend lms_py (always) and the lms facade
# (whatever backend this runtime picks: _lms on our firmware, lms_host or
# lms_py on CPython). Portable: pytest, MicroPython unix, qemu image.
# Vectors: RFC 8554 App. F, RFC 9858 (draft-11) test cases, ACVP and Botan
# KATs, read-only from host_tests/vectors/lms/ (shared with the C tests).
import gc
import sys
from binascii import unhexlify

import hgtest
from hgtest import h, raises

import lms
import lms_py

QEMU = sys.platform == "qemu"
# hash calls we allow per case on the qemu image (time, not heap)
_QEMU_BUDGET = 300000
# signature bytes a case may hold on the qemu heap (~45 KB, the hex text
# and the bytes both live there): W1 and W2/n32 signatures are skipped
_QEMU_SIG = 4000


def _case(name):
    return hgtest.vectors("lms/cases/" + name + ".json")


def _pms(c):
    # (pub, msg, sig) of a case; unhexlify straight from the JSON strings
    # (hgtest.h would first copy a 7.7 KB hex string on a 45 KB heap)
    return unhexlify(c["public_key"]), unhexlify(c["message"]), unhexlify(c["signature"])


def _tree_cost(lms_type, ots_type):
    # SHA-256 calls to build a whole tree: 2^h leaves of p chains of 2^w
    w, p = lms_py.OTS_PARAMS[ots_type][3], lms_py.OTS_PARAMS[ots_type][4]
    return (1 << lms_py.LMS_PARAMS[lms_type][3]) * p * (1 << w)


def _affordable(lms_type, ots_type, what):
    if QEMU and _tree_cost(lms_type, ots_type) > _QEMU_BUDGET:
        hgtest.skip(what + ": tree too big for the qemu image")


def _too_big(name, lms_type, ots_type):
    # True (and a visible SKIP line) when a case does not fit the qemu image
    if not QEMU:
        return False
    if _tree_cost(lms_type, ots_type) > _QEMU_BUDGET:
        print("SKIP case " + name + ": tree too big for the qemu image")
        return True
    if lms_py.lms_sig_len(lms_type, ots_type) > _QEMU_SIG:
        print("SKIP case " + name + ": signature too big for the qemu heap")
        return True
    return False


def _u32(x):
    return x.to_bytes(4, "big")


def _patch(b, off, data):
    out = bytearray(b)
    out[off : off + len(data)] = data
    return bytes(out)


def _flip(b, off):
    out = bytearray(b)
    out[off] ^= 1
    return bytes(out)


# ---------------------------------------------------------------- table


def test_parameter_table():
    assert lms_py.OTS_PARAMS[lms_py.LMOTS_SHA256_N32_W4][2:] == (32, 4, 67, 4)
    assert lms_py.OTS_PARAMS[lms_py.LMOTS_SHA256_N24_W8][2:] == (24, 8, 26, 0)
    assert lms_py.LMS_PARAMS[lms_py.LMS_SHA256_M24_H25][2:] == (24, 25)
    assert lms_py.param_name(6) == "LMS_SHA256_M32_H10"
    assert lms_py.param_name(3, True) == "LMOTS_SHA256_N32_W4"
    assert lms_py.param_name(99) == "unknown(99)"
    # one table: the facade re-exports lms_py's objects
    assert lms.LMS_PARAMS is lms_py.LMS_PARAMS and lms.OTS_PARAMS is lms_py.OTS_PARAMS
    # RFC 8554 TC1 sizes: H5/W8, n = m = 32
    assert lms_py.ots_sig_len(4) == 4 + 32 * 35
    assert lms_py.lms_sig_len(5, 4) == 1292
    assert lms_py.lms_pub_len(5) == 56
    # p = u + v from RFC 8554 App. B for every SHA-256 row
    for code, row in lms_py.OTS_PARAMS.items():
        n, w, p, ls = row[2], row[3], row[4], row[5]
        u = (8 * n + w - 1) // w
        mx = ((1 << w) - 1) * u
        bits = 0
        while mx >> bits:
            bits += 1
        v = (bits + w - 1) // w
        assert p == u + v, code
        assert ls == 16 - v * w, code
    assert lms_py.supported(5, 4) and lms_py.supported(10, 8)
    assert not lms_py.supported(20, 16)  # SHAKE256/192
    assert not lms_py.supported(5, 8)  # m = 32 with n = 24
    assert not lms_py.supported(99, 4)


# ---------------------------------------------------------------- RFC vectors


def _check_valid(c, chunk=37):
    pub, msg, sig = _pms(c)
    c.clear()
    gc.collect()
    assert lms_py.verify(pub, msg, sig) == lms_py.OK
    v = lms_py.Verifier(pub, sig)
    for i in range(0, len(msg), chunk):
        v.update(msg[i : i + chunk])
    assert v.final() == lms_py.OK
    assert lms_py.verify(pub, msg + b"!", sig) == lms_py.ERR_INVALID
    # facade, whatever the backend
    assert lms.verify(pub, msg, sig) is True
    assert lms.check(pub, msg, sig) == lms.OK
    assert lms.verify(pub, msg[:-1], sig) is False
    fv = lms.Verifier(pub, sig)
    fv.update(msg[:10])
    fv.update(msg[10:])
    assert fv.final() is True and fv.code == lms.OK
    return pub, msg, sig


def test_rfc8554_tc1_h5w8_over_h5w8():
    c = _case("rfc8554_tc1")
    pub, msg, sig = _check_valid(c)
    assert lms.parse_hss_pub(pub)[:3] == (2, lms.LMS_SHA256_M32_H5, lms.LMOTS_SHA256_N32_W8)
    assert lms.describe_sig(sig) == [(5, 4, 5), (5, 4, 10)]


def test_rfc8554_tc2_h10w4_over_h5w8():
    c = _case("rfc8554_tc2")
    pub, msg, sig = _check_valid(c, 64)
    assert lms.describe_sig(sig) == [(6, 3, 3), (5, 4, 4)]


def test_rfc9858_sha256_192():
    c = _case("rfc9858_tc1")
    pub, msg, sig = _check_valid(c)
    assert lms.parse_hss_pub(pub)[:3] == (1, lms.LMS_SHA256_M24_H5, lms.LMOTS_SHA256_N24_W8)
    assert len(sig) == 4 + lms_py.lms_sig_len(10, 8) == 784


def test_rfc9858_shake_is_unsupported():
    for name in ("rfc9858_tc2", "rfc9858_tc3"):
        c = _case(name)
        pub, msg, sig = _pms(c)
        assert lms_py.verify(pub, msg, sig) == lms_py.ERR_UNSUPPORTED, name
        assert lms.check(pub, msg, sig) == lms.ERR_UNSUPPORTED, name
        assert lms.verify(pub, msg, sig) is False
        v = lms.Verifier(pub, sig)
        v.update(msg)
        assert v.final() is False and v.code == lms.ERR_UNSUPPORTED
        # still parses for inspection
        assert lms.parse_hss_pub(pub)[0] == 1
        assert len(lms.describe_sig(sig)) == 1


def test_acvp_bare_lms_as_hss_l1():
    # ACVP sigVer: bare LMS keys/signatures become HSS L=1 with the prefixes
    n = 0
    for i in range(1, 9):
        gc.collect()
        if QEMU and i < 5:  # tgId 1: LMS_SHA256_M24_H5/W1, 4956-byte signatures
            print("SKIP case acvp_sigver_tc%d: signature too big for the qemu heap" % i)
            continue
        c = _case("acvp_sigver_tc" + str(i))
        pub = lms.hss_pub_from_lms(unhexlify(c["public_key"]))
        sig = lms.hss_sig_from_lms(unhexlify(c["signature"]))
        msg = unhexlify(c["message"])
        ok = c["expect"] == "valid"
        name = c["name"]
        c = None
        assert (lms_py.verify(pub, msg, sig) == 0) == ok, name
        assert lms.verify(pub, msg, sig) == ok, name
        n += 1
    assert n == (4 if QEMU else 8)


# ---------------------------------------------------------------- negatives

# (what, mutate(pub, msg, sig) -> (pub, msg, sig), lms_py code)
# on rfc9858_tc1: L=1, LMS_SHA256_M24_H5 / LMOTS_SHA256_N24_W8, q = 5;
# sig = Nspk | q @4 | otstype @8 | C @12 | y[26] @36 | lmstype @660 | path @664
_M, _I = lms_py.ERR_MALFORMED, lms_py.ERR_INVALID
_U = lms_py.ERR_UNSUPPORTED
NEGATIVE_L1 = (
    ("trailing byte", lambda p, m, s: (p, m, s + b"\x00"), _M),
    ("truncated", lambda p, m, s: (p, m, s[:-1]), _M),
    ("empty signature", lambda p, m, s: (p, m, b""), _M),
    ("only Nspk", lambda p, m, s: (p, m, s[:4]), _M),
    ("Nspk 1 for L=1", lambda p, m, s: (p, m, _patch(s, 0, _u32(1))), _M),
    ("q = 2^h", lambda p, m, s: (p, m, _patch(s, 4, _u32(32))), _M),
    ("q = 2^32-1", lambda p, m, s: (p, m, _patch(s, 4, _u32(0xFFFFFFFF))), _M),
    ("LM-OTS typecode of another SHA set", lambda p, m, s: (p, m, _patch(s, 8, _u32(7))), _M),
    ("LM-OTS typecode SHAKE", lambda p, m, s: (p, m, _patch(s, 8, _u32(16))), _M),
    ("LM-OTS typecode unknown", lambda p, m, s: (p, m, _patch(s, 8, _u32(0x99))), _M),
    ("LMS typecode mismatch", lambda p, m, s: (p, m, _patch(s, 660, _u32(11))), _M),
    ("other leaf q", lambda p, m, s: (p, m, _patch(s, 4, _u32(31))), _I),
    ("flip in C", lambda p, m, s: (p, m, _flip(s, 12)), _I),
    ("flip in y[0]", lambda p, m, s: (p, m, _flip(s, 36)), _I),
    ("flip in y[25]", lambda p, m, s: (p, m, _flip(s, 659)), _I),
    ("flip in path", lambda p, m, s: (p, m, _flip(s, 783)), _I),
    ("other message", lambda p, m, s: (p, m + b"x", s), _I),
    ("empty message", lambda p, m, s: (p, b"", s), _I),
    ("flip in root", lambda p, m, s: (_flip(p, 40), m, s), _I),
    ("flip in I", lambda p, m, s: (_flip(p, 12), m, s), _I),
    ("pub L = 0", lambda p, m, s: (_patch(p, 0, _u32(0)), m, s), _M),
    ("pub L = 9", lambda p, m, s: (_patch(p, 0, _u32(9)), m, s), _M),
    ("pub L = 2", lambda p, m, s: (_patch(p, 0, _u32(2)), m, s), _M),
    ("pub truncated", lambda p, m, s: (p[:-1], m, s), _M),
    ("pub trailing byte", lambda p, m, s: (p + b"\x00", m, s), _M),
    ("pub empty", lambda p, m, s: (b"", m, s), _M),
    ("pub LMS typecode unknown", lambda p, m, s: (_patch(p, 4, _u32(0x99)), m, s), _U),
    ("pub LM-OTS typecode unknown", lambda p, m, s: (_patch(p, 8, _u32(0)), m, s), _U),
    ("pub SHAKE", lambda p, m, s: (_patch(p, 4, _u32(20)), m, s), _U),
    ("pub m = 24 with n = 32", lambda p, m, s: (_patch(p, 8, _u32(4)), m, s), _U),
)


def _base_l1():
    c = _case("rfc9858_tc1")
    return _pms(c)


def test_negative_table_lms_py_codes():
    base = _base_l1()
    for what, mutate, code in NEGATIVE_L1:
        p, m, s = mutate(*base)
        got = lms_py.verify(p, m, s)
        assert got == code, what + ": " + str(got)
        if code != lms_py.ERR_INVALID:
            assert lms_py.explain(p, s)[0] == code, what


def test_negative_table_facade_never_valid():
    base = _base_l1()
    for what, mutate, code in NEGATIVE_L1:
        p, m, s = mutate(*base)
        assert lms.verify(p, m, s) is False, what
        assert lms.check(p, m, s) != lms.OK, what
        v = lms.Verifier(p, s)
        v.update(m)
        assert v.final() is False, what


def test_negative_hss_child_key():
    c = _case("rfc8554_tc1")
    pub, msg, sig = _pms(c)
    c = None
    child = 4 + lms_py.lms_sig_len(5, 4)  # offset of the signed child key
    bottom = child + 56
    # (what, offset, bytes to write there or None to flip a bit, code);
    # one mutated copy at a time (2.6 KB each on a small heap)
    cases = (
        ("child key flipped root", child + 30, None, _I),
        ("child key flipped I", child + 10, None, _I),
        ("child LMS type unknown", child, _u32(0x77), _U),
        ("child LMS type SHAKE", child, _u32(15), _U),
        ("child LMS type H10", child, _u32(6), _M),
        ("bottom LM-OTS type vs child key", bottom + 4, _u32(3), _M),
        ("Nspk 0 for L=2", 0, _u32(0), _M),
        ("Nspk 2 for L=2", 0, _u32(2), _M),
        ("bottom q flipped", bottom, _u32(11), _I),
        ("top q = 2^h", 4, _u32(32), _M),
    )
    for what, off, data, code in cases:
        s = _flip(sig, off) if data is None else _patch(sig, off, data)
        assert lms_py.verify(pub, msg, s) == code, what
        assert lms.verify(pub, msg, s) is False, what
        s = None
        gc.collect()
    s = sig + b"\x00"
    assert lms_py.verify(pub, msg, s) == _M
    assert lms.verify(pub, msg, s) is False


def test_facade_never_raises_on_junk():
    pub, msg, sig = _base_l1()
    for args in (
        (None, msg, sig),
        (pub, msg, None),
        ("text", msg, sig),
        (pub, msg, 12345),
        (pub, None, sig),
        (b"", b"", b""),
        (pub, msg, bytes(4000)),
        (bytes(60), msg, sig),
    ):
        assert lms.verify(*args) is False
        assert lms.check(*args) != lms.OK
        v = lms.Verifier(args[0], args[2])
        assert v.final() is False
    # the same objects as memoryview/bytearray are fine
    assert lms.verify(memoryview(pub), bytearray(msg), memoryview(sig)) is True
    assert lms_py.verify(bytearray(pub), memoryview(msg), bytearray(sig)) == 0


def test_verifier_misuse():
    pub, msg, sig = _base_l1()
    v = lms_py.Verifier(pub, sig)
    v.update(msg)
    assert v.final() == 0
    raises(lms_py.LMSError, v.final)
    raises(lms_py.LMSError, v.update, b"x")
    fv = lms.Verifier(pub, sig)
    fv.update(msg)
    assert fv.final() is True
    raises(lms.LMSError, fv.final)
    # a failing verifier swallows data and fails
    bad = lms_py.Verifier(pub, sig + b"\x00")
    bad.update(msg)
    assert bad.final() == lms_py.ERR_MALFORMED


class _OOMBackend:
    # a backend that runs out of heap: in verify(), in Verifier() or in
    # final() (where = "verify" / "init" / "final")
    ERR_MALFORMED = lms_py.ERR_MALFORMED
    ERR_UNSUPPORTED = lms_py.ERR_UNSUPPORTED

    def __init__(self, where):
        self.where = where

    def verify(self, pub, msg, sig):
        raise MemoryError()

    def Verifier(self, pub, sig):
        if self.where == "init":
            raise MemoryError()
        return self

    def update(self, data):
        pass

    def final(self):
        raise MemoryError()


def test_out_of_memory_is_raised_not_a_verdict():
    # OOM while verifying is neither "invalid" nor "malformed": it must not
    # read as a bad signature (SUIT authentication) or a bad key file
    # (lms_state.load). Still fail-closed: the caller gets no True.
    pub, msg, sig = _base_l1()
    saved = lms._b
    try:
        lms._b = _OOMBackend("init")
        raises(MemoryError, lms.check, pub, msg, sig)
        raises(MemoryError, lms.verify, pub, msg, sig)
        raises(MemoryError, lms.Verifier, pub, sig)
        lms._b = _OOMBackend("final")
        v = lms.Verifier(pub, sig)
        v.update(msg)
        raises(MemoryError, v.final)
        assert v.code == lms.ERR_INVALID
        raises(lms.LMSError, v.final)  # finalised, never valid afterwards
    finally:
        lms._b = saved
    assert lms.verify(pub, msg, sig) is True


def test_parse_helpers():
    pub, msg, sig = _base_l1()
    levels, lt, ot, I, root = lms.parse_hss_pub(pub)
    assert (levels, lt, ot) == (1, 10, 8)
    assert I == pub[12:28] and root == pub[28:]
    raises(lms.LMSFormatError, lms.parse_hss_pub, pub[:-1])
    raises(lms.LMSUnsupportedError, lms.parse_hss_pub, _patch(pub, 4, _u32(0x99)))
    assert lms.describe_sig(sig) == [(10, 8, 5)]
    e = raises(lms.LMSFormatError, lms.describe_sig, sig + b"\x00")
    assert str(e) == "trailing bytes"
    e = raises(lms.LMSFormatError, lms.describe_sig, sig[:100])
    assert str(e) == "length"
    assert issubclass(lms.LMSFormatError, ValueError)


# ---------------------------------------------------------------- keygen / sign


def test_keygen_kats():
    n = 0
    for c in hgtest.vectors("lms/keygen.json")["cases"]:
        lt, ot = c["lms_type"], c["ots_type"]
        if _too_big(c["name"], lt, ot):
            continue
        pub = lms_py.lms_keygen(lt, ot, h(c["I"]), h(c["seed"]))
        assert pub == h(c["public_key"]), c["name"]
        n += 1
    if n == 0:
        hgtest.skip("every keygen case is too big here")


def _sign_kat(c, fn):
    import hashlib

    lt, ot = c["lms_type"], c["ots_type"]
    I, seed, msg = h(c["I"]), h(c["seed"]), h(c["message"])
    sig = fn(lt, ot, I, seed, c["q"], msg)
    if "signature" in c:
        assert sig == h(c["signature"]), c["name"]
    else:
        assert hashlib.sha256(sig).digest() == h(c["sha256_of_signature"]), c["name"]
    pub = lms.hss_pub_from_lms(h(c["public_key"]))
    assert lms_py.verify(pub, msg, lms.hss_sig_from_lms(sig)) == 0


def test_sign_kats_lms_py():
    n = 0
    for c in hgtest.vectors("lms/sign.json")["cases"]:
        if _too_big(c["name"], c["lms_type"], c["ots_type"]):
            continue
        _sign_kat(c, lms_py.lms_sign)
        gc.collect()
        n += 1
    if n == 0:
        hgtest.skip("every sign case is too big here")


def test_sign_kats_facade():
    if QEMU:
        hgtest.skip("facade signing KATs: host and unix only")
    for c in hgtest.vectors("lms/sign.json")["cases"]:
        _sign_kat(c, lms.lms_sign)


def _tc2_key():
    # RFC 8554 App. F TC2 private key: per-level SEED and I (keygen.json)
    lv = {}
    for c in hgtest.vectors("lms/keygen.json")["cases"]:
        if c["name"].startswith("rfc8554_tc2_level"):
            lv[c["name"][-1]] = c
    return lv["1"], lv["2"]


def test_hss_sign_reproduces_rfc8554_tc2():
    _affordable(6, 3, "TC2 (H10/W4 top tree)")
    top, bottom = _tc2_key()
    c = _case("rfc8554_tc2")
    params = [(top["lms_type"], top["ots_type"]), (bottom["lms_type"], bottom["ots_type"])]
    seeds = [h(top["seed"]), h(bottom["seed"])]
    ids = [h(top["I"]), h(bottom["I"])]
    assert lms.hss_keygen(params, seeds, ids) == h(c["public_key"])
    sig = lms.hss_sign(params, seeds, ids, [3, 4], h(c["message"]))
    assert sig == h(c["signature"])


def test_tree_nodes_and_auth_path():
    I, seed = bytes(range(16)), bytes(range(32, 64))
    lt, ot = lms.LMS_SHA256_M32_H5, lms.LMOTS_SHA256_N32_W4
    nodes = lms_py.lms_tree(lt, ot, I, seed)
    assert len(nodes) == 64 * 32 and nodes[:32] == bytes(32)
    pub = lms_py.lms_keygen(lt, ot, I, seed)
    assert pub[24:] == nodes[32:64]
    for q in (0, 1, 17, 31):
        a = lms_py.auth_path(lt, ot, I, seed, q)
        assert a == lms_py.auth_path(lt, ot, I, seed, q, nodes)
        assert a[:32] == nodes[(32 + q ^ 1) * 32 : (32 + q ^ 1) * 32 + 32]
        s1 = lms_py.lms_sign(lt, ot, I, seed, q, b"m")
        assert s1 == lms_py.lms_sign(lt, ot, I, seed, q, b"m", nodes)
    raises(lms_py.LMSError, lms_py.lms_sign, lt, ot, I, seed, 32, b"m")
    raises(lms_py.LMSError, lms_py.lms_sign, lt, ot, I[:15], seed, 0, b"m")
    raises(lms_py.LMSError, lms_py.lms_sign, lt, 8, I, seed, 0, b"m")  # n 24 vs m 32
    raises(lms_py.LMSError, lms_py.lms_keygen, 20, 16, I, seed[:24])  # SHAKE
    raises(lms_py.LMSError, lms_py.auth_path, lt, ot, I, seed, 0, nodes[:-1])
    # backend tree (C or Python) uses the same layout
    if not QEMU:
        assert lms.lms_tree(lt, ot, I, seed) == nodes


def test_sign_verify_every_w_both_n():
    I, seed32 = bytes(range(100, 116)), bytes(range(32))
    seed24 = seed32[:24]
    cases = (
        (lms.LMS_SHA256_M32_H5, lms.LMOTS_SHA256_N32_W1, seed32),
        (lms.LMS_SHA256_M32_H5, lms.LMOTS_SHA256_N32_W2, seed32),
        (lms.LMS_SHA256_M32_H5, lms.LMOTS_SHA256_N32_W4, seed32),
        (lms.LMS_SHA256_M24_H5, lms.LMOTS_SHA256_N24_W1, seed24),
        (lms.LMS_SHA256_M24_H5, lms.LMOTS_SHA256_N24_W2, seed24),
        (lms.LMS_SHA256_M24_H5, lms.LMOTS_SHA256_N24_W4, seed24),
        (lms.LMS_SHA256_M24_H5, lms.LMOTS_SHA256_N24_W8, seed24),
    )
    for lt, ot, seed in cases:
        if _too_big(lms_py.param_name(lt) + "/" + lms_py.param_name(ot, True), lt, ot):
            continue
        gc.collect()
        nodes = lms_py.lms_tree(lt, ot, I, seed)
        pub = lms.hss_pub_from_lms(lms_py.lms_keygen(lt, ot, I, seed))
        for q in (0, 31):
            s = lms.hss_sig_from_lms(lms_py.lms_sign(lt, ot, I, seed, q, b"msg", nodes))
            assert len(s) == 4 + lms_py.lms_sig_len(lt, ot)
            assert lms_py.verify(pub, b"msg", s) == 0, (lt, ot, q)
            assert lms.verify(pub, b"msg", s) is True, (lt, ot, q)
            assert lms_py.verify(pub, b"msh", s) == lms_py.ERR_INVALID


def test_hss_three_levels_and_checks():
    _affordable(5, 3, "3-level HSS")
    params = [(5, 3), (10, 7), (5, 3)]
    sig_len = sum(lms_py.lms_sig_len(lt, ot) for lt, ot in params)
    if QEMU and sig_len > _QEMU_SIG:
        # Seen failing as one 6185-byte allocation once other modules had
        # fragmented the 48 KiB heap; the 2-level cases above cover qemu.
        hgtest.skip("3-level HSS signature (%d B) exceeds the qemu heap budget" % sig_len)
    seeds = [bytes(32), bytes(range(24)), bytes(range(1, 33))]
    ids = [b"A" * 16, b"B" * 16, b"C" * 16]
    pub = lms.hss_keygen(params, seeds, ids)
    sig = lms.hss_sign(params, seeds, ids, [1, 2, 3], b"three")
    assert lms.parse_hss_pub(pub)[0] == 3
    assert lms.describe_sig(sig) == [(5, 3, 1), (10, 7, 2), (5, 3, 3)]
    assert lms_py.verify(pub, b"three", sig) == 0
    assert lms.verify(pub, b"three", sig) is True
    assert lms.verify(pub, b"thre", sig) is False
    raises(lms.LMSError, lms.hss_sign, params, seeds, ids, [1, 2], b"x")
    raises(lms.LMSError, lms.hss_keygen, [], [], [])


def test_backend_name():
    assert lms.BACKEND in ("_lms", "lms_host", "lms_py")
    assert "lms_py" in lms.available_backends()
    raises(lms.LMSError, lms.use_backend, "nope")
    old = lms.use_backend("lms_py")
    try:
        assert lms.BACKEND == "lms_py"
        c = _case("rfc9858_tc1")
        assert lms.verify(h(c["public_key"]), h(c["message"]), h(c["signature"]))
    finally:
        lms.use_backend(old)
    assert lms.BACKEND == old


def test_cose_sign1_hss_lms_through_register_cose():
    # cose's HSS-LMS hook wired to this facade (cose-wg hsssig-sig-01, the
    # trimmed copy in vectors/cose/), then restored for the other tests
    try:
        import cose
    except ImportError:
        hgtest.skip("cose not available")
    v = hgtest.vectors("cose/hsssig.json")
    pub = h(v["pub"])
    data = h(v["cbor"]) if "cbor" in v else hgtest.read_binary(v["cbor_file"])
    old = cose.ALGORITHMS[cose.ALG_HSS_LMS]
    try:
        lms.register_cose()
        msg = cose.sign1_verify(pub, data, expected_alg=cose.ALG_HSS_LMS)
        assert msg.payload == h(v["payload"])
        key = cose.decode_key(lms.encode_cose_key(pub, h(v["kid"])))
        assert cose.sign1_verify(key, data).payload == h(v["payload"])
        assert lms.pub_from_cose_key(lms.encode_cose_key(pub)) == pub
        raises(cose.COSEVerifyError, cose.sign1_verify, pub, data, b"aad")
        raises(cose.COSEVerifyError, cose.sign1_verify, pub[:-1], data)
        # out of heap in the hook: MemoryError, not "signature invalid"
        saved = lms._b
        lms._b = _OOMBackend("init")
        try:
            raises(MemoryError, cose.sign1_verify, pub, data)
        finally:
            lms._b = saved
    finally:
        cose.ALGORITHMS[cose.ALG_HSS_LMS] = old
