"""The LMS/HSS C core under CPython through hourglass.lms_host (ctypes):
every vector, the negative table, keygen/sign known answers, exact
compression counts, hypothesis fuzzing against a structural reference
model, and cross-verification with pyhsslms in both directions.
Vectors: host_tests/vectors/lms/ (see tools/build/make_lms_negatives.py)."""
import hashlib
import importlib.util
import json
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from fuzzing import examples
from hypothesis import strategies as st

try:
    from hourglass import lms_host as L
except ImportError as e:  # no C compiler: say so, do not pass silently
    pytest.skip("lms_host unavailable: %s" % e, allow_module_level=True)

import pyhsslms

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VEC = os.path.join(ROOT, "host_tests", "vectors", "lms")
OK, INVALID, MALFORMED, UNSUPPORTED = 0, L.ERR_INVALID, L.ERR_MALFORMED, L.ERR_UNSUPPORTED
CODES = {"valid": OK, "invalid": INVALID, "malformed": MALFORMED, "unsupported": UNSUPPORTED}


def load(rel):
    with open(os.path.join(VEC, rel)) as f:
        return json.load(f)


INDEX = load("index.json")["cases"]
CASES = {e["name"]: load(e["file"][len("lms/"):]) for e in INDEX}
NEG = load("negative.json")
u32 = struct.Struct(">I").pack


def _case_bytes(c):
    return bytes.fromhex(c["public_key"]), bytes.fromhex(c["message"]), bytes.fromhex(c["signature"])


def _verify(kind, pub, msg, sig):
    return L.verify(pub, msg, sig) if kind == "hss" else L.verify_lms(pub, msg, sig)


# ---------------------------------------------------------------- reference model
# Parameter tables (RFC 8554 Tables 1-2, RFC 9858 sec. 4) and the structural
# rules of lms.h, written independently of the C code.
OTS = {1: (32, 1, 265), 2: (32, 2, 133), 3: (32, 4, 67), 4: (32, 8, 34),
       5: (24, 1, 200), 6: (24, 2, 101), 7: (24, 4, 51), 8: (24, 8, 26)}
LMS = {t: (32, 5 * (t - 4)) for t in range(5, 10)}
LMS.update({t: (24, 5 * (t - 9)) for t in range(10, 15)})


def _get32(b, off):
    return struct.unpack(">I", b[off:off + 4])[0]


def _parse_pub(b, off):
    """-> (error or None, key, end)."""
    if len(b) - off < 8:
        return MALFORMED, None, 0
    lt, ot = _get32(b, off), _get32(b, off + 4)
    if lt not in LMS or ot not in OTS:
        return UNSUPPORTED, None, 0
    m = LMS[lt][0]
    if len(b) - off < 24 + m:
        return MALFORMED, None, 0
    return None, (lt, ot), off + 24 + m


def _parse_sig(b, off, key):
    lt, ot = key
    n, _w, p = OTS[ot]
    m, h = LMS[lt]
    ots_len = 4 + n * (p + 1)
    if len(b) - off < 8 or _get32(b, off + 4) != ot:
        return MALFORMED, 0
    if len(b) - off < 4 + ots_len + 4 or _get32(b, off + 4 + ots_len) != lt:
        return MALFORMED, 0
    total = 4 + ots_len + 4 + m * h
    if len(b) - off < total or _get32(b, off) >= (1 << h):
        return MALFORMED, 0
    return None, off + total


def ref_structure(kind, pub, sig):
    """MALFORMED / UNSUPPORTED, or None when the structure is valid."""
    levels, off = 1, 0
    if kind == "hss":
        if len(pub) < 4:
            return MALFORMED
        levels = _get32(pub, 0)
        if not 1 <= levels <= 8:
            return MALFORMED
        off = 4
    err, key, end = _parse_pub(pub, off)
    if err:
        return err
    if end != len(pub):
        return MALFORMED
    off = 0
    if kind == "hss":
        if len(sig) < 4 or _get32(sig, 0) != levels - 1:
            return MALFORMED
        off = 4
    for lev in range(levels):
        err, off = _parse_sig(sig, off, key)
        if err:
            return err
        if lev + 1 < levels:
            err, key, off = _parse_pub(sig, off)
            if err:
                return err
    return None if off == len(sig) else MALFORMED


def _coef(S, i, w):
    return (S[i * w // 8] >> (8 - w - (i * w) % 8)) & ((1 << w) - 1)


def expected_compressions(kind, pub, msg, sig):
    """SHA-256 compressions a verify should cost: per level the message hash,
    ONE per Winternitz chain step, the K hash, one for the leaf and two per
    interior node (22 + 2m bytes)."""
    def blocks(nbytes):
        return (nbytes + 9 + 63) // 64

    levels = _get32(pub, 0) if kind == "hss" else 1
    off = 4 if kind == "hss" else 0
    key_enc = pub[off:]
    off = 4 if kind == "hss" else 0
    total = 0
    for lev in range(levels):
        lt, ot = _get32(key_enc, 0), _get32(key_enc, 4)
        n, w, p = OTS[ot]
        m, h = LMS[lt]
        I = key_enc[8:24]
        s = sig[off:]
        sl = 4 + 4 + n * (p + 1) + 4 + m * h
        if lev + 1 < levels:
            child = sig[off + sl: off + sl + 24 + LMS[_get32(sig, off + sl)][0]]
            m_l = child
        else:
            m_l = msg
        C = s[8:8 + n]
        Q = hashlib.sha256(I + s[0:4] + b"\x81\x81" + C + m_l).digest()[:n]
        ck = sum((1 << w) - 1 - _coef(Q, i, w) for i in range(8 * n // w))
        ls = 16 - ((p - 8 * n // w) * w)
        Q += struct.pack(">H", (ck << ls) & 0xFFFF)
        steps = sum((1 << w) - 1 - _coef(Q, i, w) for i in range(p))
        total += blocks(22 + n + len(m_l)) + steps + blocks(22 + p * n) + 1 + h * blocks(22 + 2 * m)
        off += sl
        if lev + 1 < levels:
            key_enc = child
            off += len(child)
    return total


# ---------------------------------------------------------------- vectors


@pytest.mark.parametrize("name", sorted(n for n in CASES if not n.startswith("botan_hss_sig")))
def test_vector(name):
    c = CASES[name]
    pub, msg, sig = _case_bytes(c)
    got = _verify(c["kind"], pub, msg, sig)
    if c["expect"] == "invalid":  # external negatives (ACVP): any failure
        assert got in (INVALID, MALFORMED, UNSUPPORTED)
        assert got == (ref_structure(c["kind"], pub, sig) or INVALID)
    else:
        assert got == CODES[c["expect"]]
    if c["expect"] != "valid":
        return
    assert ref_structure(c["kind"], pub, sig) is None
    if c["kind"] == "hss":
        for chunk in (1, 5, 64, 4096):
            v = L.Verifier(pub, sig)
            for i in range(0, len(msg), chunk):
                v.update(msg[i:i + chunk])
            assert v.final() == OK
    assert _verify(c["kind"], pub, msg + b"!", sig) == INVALID
    # Exactly one compression per chain step, no hidden padding work.
    L.compressions(True)
    _verify(c["kind"], pub, msg, sig)
    assert L.compressions(True) == expected_compressions(c["kind"], pub, msg, sig)


def test_tc1_compressions_figure():
    pub, msg, sig = _case_bytes(CASES["rfc8554_tc1"])
    assert expected_compressions("hss", pub, msg, sig) == 8479  # also asserted by the portable test


@pytest.mark.parametrize("row", NEG["rows"], ids=[r[0] for r in NEG["rows"]])
def test_negative(row):
    name, base, target, op, at, value, expect, why = row
    c = CASES[base]
    f = dict(zip(("pub", "msg", "sig"), (bytearray(b) for b in _case_bytes(c))))
    t = f[target]
    if op == "truncate":
        del t[at:]
    elif op == "append":
        t += bytes.fromhex(value)
    elif op == "xor":
        t[at] ^= value
    else:
        t[at:at + 4] = u32(value)
    pub, msg, sig = bytes(f["pub"]), bytes(f["msg"]), bytes(f["sig"])
    assert _verify(c["kind"], pub, msg, sig) == CODES[expect], why
    assert (ref_structure(c["kind"], pub, sig) or INVALID) == CODES[expect], why
    if c["kind"] == "hss":
        v = L.Verifier(pub, sig)
        v.update(msg)
        assert v.final() == CODES[expect], why


def test_negative_table_up_to_date():
    path = os.path.join(ROOT, "tools", "build", "make_lms_negatives.py")
    spec = importlib.util.spec_from_file_location("make_lms_negatives", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--check"]) == 0, "run tools/build/make_lms_negatives.py"
    chunks = load("negative/index.json")["chunks"]
    rows = []
    for ch in chunks:
        d = load(ch[len("lms/"):])
        base = d["base"].split("/")[-1][:-5]
        rows += [[base, d["first"] + i] + r for i, r in enumerate(d["rows"])]
    want = []
    for r in NEG["rows"]:
        want.append([r[1], int(r[0].rsplit("neg", 1)[1])] + r[2:7])
    assert sorted(map(json.dumps, rows)) == sorted(map(json.dumps, want))


@pytest.mark.parametrize("c", load("keygen.json")["cases"], ids=lambda c: c["name"])
def test_keygen_vector(c):
    I, seed = bytes.fromhex(c["I"]), bytes.fromhex(c["seed"])
    assert L.lms_keygen(c["lms_type"], c["ots_type"], I, seed).hex() == c["public_key"]
    tree = L.lms_tree(c["lms_type"], c["ots_type"], I, seed)
    m = L.lms_pub_len(c["lms_type"]) - 24
    assert tree[m:2 * m].hex() == c["public_key"][48:]


@pytest.mark.parametrize("c", load("sign.json")["cases"], ids=lambda c: c["name"])
def test_sign_vector(c):
    I, seed, msg = bytes.fromhex(c["I"]), bytes.fromhex(c["seed"]), bytes.fromhex(c["message"])
    sig = L.lms_sign(c["lms_type"], c["ots_type"], I, seed, c["q"], msg)
    if "signature" in c:
        assert sig.hex() == c["signature"]
    else:
        assert hashlib.sha256(sig).hexdigest() == c["sha256_of_signature"]
    nodes = L.lms_tree(c["lms_type"], c["ots_type"], I, seed)
    assert L.lms_sign(c["lms_type"], c["ots_type"], I, seed, c["q"], msg, nodes) == sig
    assert L.verify_lms(bytes.fromhex(c["public_key"]), msg, sig) == OK


def _botan_child(I, q, seed):
    # cisco/hash-sigs SECRET_METHOD 2 as used by Botan: RFC 8554 App. A PRF
    # with i = 0xfffe (child SEED) and 0xffff (child I).
    b = I + u32(q) + b"\xff\xfe\xff" + seed
    cseed = hashlib.sha256(b).digest()
    cI = hashlib.sha256(I + u32(q) + b"\xff\xff\xff" + seed).digest()[:16]
    return cseed, cI


@pytest.mark.parametrize("name", ["botan_hss_sig_1", "botan_hss_sig_2"])
def test_botan_hss_sign_kat(name):
    """Derive every level from Botan's raw private key, re-sign with our
    primitives, assemble the HSS signature in Python and compare bytes."""
    c = CASES[name]
    sk = bytes.fromhex(c["private_key_botan_format"])
    msg, want = bytes.fromhex(c["message"]), bytes.fromhex(c["signature"])
    levels = _get32(sk, 0)
    types = [(_get32(sk, 12 + 8 * i), _get32(sk, 16 + 8 * i)) for i in range(levels)]
    seed, I = sk[12 + 8 * levels:44 + 8 * levels], sk[44 + 8 * levels:60 + 8 * levels]
    pub = u32(levels) + L.lms_keygen(types[0][0], types[0][1], I, seed)
    assert L.verify(pub, msg, want) == OK
    out, off = u32(levels - 1), 4
    for lev, (lt, ot) in enumerate(types):
        q = _get32(want, off)
        if lev + 1 < levels:
            cseed, cI = _botan_child(I, q, seed)
            child = L.lms_keygen(types[lev + 1][0], types[lev + 1][1], cI, cseed)
            part = L.lms_sign(lt, ot, I, seed, q, child) + child
            seed, I = cseed, cI
        else:
            part = L.lms_sign(lt, ot, I, seed, q, msg)
        out += part
        off += len(part)
    assert out == want


# ---------------------------------------------------------------- API


def test_api_errors():
    I, seed = bytes(16), bytes(32)
    with pytest.raises(ValueError):
        L.lms_keygen(15, 4, I, seed)            # SHAKE256
    with pytest.raises(ValueError):
        L.lms_keygen(5, 4, I[:15], seed)
    with pytest.raises(ValueError):
        L.lms_keygen(5, 4, I, seed[:15])        # SEED < 16 bytes
    with pytest.raises(ValueError):
        L.lms_sign(5, 4, I, seed, 32, b"")      # q = 2^h
    with pytest.raises(ValueError):
        L.lms_sign(5, 4, I, seed, -1, b"")
    with pytest.raises(ValueError):
        L.lms_sign(5, 4, I, seed, 0, b"", nodes=bytes(100))
    with pytest.raises(TypeError):
        L.verify("pub", b"", b"")
    assert L.HAS_SIGN is True
    assert L.lms_sig_len(5, 4) == 1292 and L.lms_pub_len(10) == 48 and L.lms_sig_len(20, 4) == 0
    pub, msg, sig = _case_bytes(CASES["rfc9858_tc1"])
    v = L.Verifier(memoryview(pub), bytearray(sig))
    v.update(memoryview(msg))
    assert v.final() == OK
    with pytest.raises(ValueError):
        v.final()
    with pytest.raises(ValueError):
        v.update(b"")


# ---------------------------------------------------------------- pyhsslms interop

PARAMS = [(5, 1), (5, 2), (5, 3), (5, 4), (10, 5), (10, 6), (10, 7), (10, 8)]


def _our_hss(levels, params, msg, q0=3):
    """HSS key + signature from our primitives: pub, sig."""
    keys = []
    for lev, (lt, ot) in enumerate(params[:levels]):
        I = hashlib.sha256(b"I%d" % lev).digest()[:16]
        seed = hashlib.sha256(b"seed%d" % lev).digest()[:OTS[ot][0]]
        keys.append((lt, ot, I, seed, L.lms_keygen(lt, ot, I, seed)))
    sig = u32(levels - 1)
    for lev, (lt, ot, I, seed, _pub) in enumerate(keys):
        q = (q0 + 5 * lev) % 32
        if lev + 1 < levels:
            sig += L.lms_sign(lt, ot, I, seed, q, keys[lev + 1][4]) + keys[lev + 1][4]
        else:
            sig += L.lms_sign(lt, ot, I, seed, q, msg)
    return u32(levels) + keys[0][4], sig


@pytest.mark.parametrize("lt,ot", PARAMS)
def test_ours_verified_by_pyhsslms(lt, ot):
    msg = b"cross-check %d/%d" % (lt, ot)
    pub, sig = _our_hss(1, [(lt, ot)], msg)
    pk = pyhsslms.HssPublicKey.deserialize(pub)
    assert pk.verify(msg, sig)
    assert not pk.verify(msg + b"x", sig)
    assert pyhsslms.LmsPublicKey.deserialize(pub[4:]).verify(msg, sig[4:])
    assert L.verify(pub, msg, sig) == OK


def test_ours_hss_l3_verified_by_pyhsslms():
    msg = b"three levels, mixed parameter sets"
    pub, sig = _our_hss(3, [(5, 3), (10, 8), (5, 2)], msg)
    assert pyhsslms.HssPublicKey.deserialize(pub).verify(msg, sig)
    assert L.verify(pub, msg, sig) == OK


@pytest.mark.parametrize("lt,ot,levels", [(pyhsslms.lms_sha256_m32_h5, pyhsslms.lmots_sha256_n32_w4, 2),
                                          (pyhsslms.lms_sha256_m24_h5, pyhsslms.lmots_sha256_n24_w2, 3),
                                          (pyhsslms.lms_sha256_m32_h5, pyhsslms.lmots_sha256_n32_w8, 1)])
def test_pyhsslms_verified_by_us(lt, ot, levels):
    sk = pyhsslms.HssPrivateKey(levels=levels, lms_type=lt, lmots_type=ot)
    pub = sk.publicKey().serialize()
    for i in range(3):
        msg = b"pyhsslms message %d" % i
        sig = sk.sign(msg)
        assert L.verify(pub, msg, sig) == OK
        assert L.verify(pub, msg[:-1], sig) == INVALID
        # pyhsslms accepts trailing bytes after the signature; we must not.
        assert L.verify(pub, msg, sig + b"\x00") == MALFORMED
        bad = bytearray(sig)
        bad[len(bad) // 2] ^= 1
        assert L.verify(pub, msg, bytes(bad)) in (INVALID, MALFORMED)


# ---------------------------------------------------------------- fuzzing

FUZZ_BASES = [("rfc9858_tc1", _case_bytes(CASES["rfc9858_tc1"])),
              ("rfc8554_tc1", _case_bytes(CASES["rfc8554_tc1"])),
              ("acvp_sigver_tc5", _case_bytes(CASES["acvp_sigver_tc5"]))]
INTERESTING32 = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15, 20, 24, 25, 31, 32, 1024,
                 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


@st.composite
def mutation(draw):
    bi = draw(st.integers(0, len(FUZZ_BASES) - 1))
    name, (pub, msg, sig) = FUZZ_BASES[bi]
    kind = CASES[name]["kind"]
    f = {"pub": bytearray(pub), "msg": bytearray(msg), "sig": bytearray(sig)}
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(["pub", "sig", "sig", "sig", "msg"]))
        t = f[target]
        op = draw(st.sampled_from(["truncate", "append", "xor", "set32", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(t) - 1)))
        if op == "truncate":
            del t[at:]
        elif op == "append":
            t += draw(st.binary(min_size=1, max_size=40))
        elif op == "xor" and t:
            t[at] ^= draw(st.integers(1, 255))
        elif op == "set32":
            t[at:at + 4] = u32(draw(st.sampled_from(INTERESTING32) | st.integers(0, 0xFFFFFFFF)))
        elif op == "insert":
            t[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del t[at:at + draw(st.integers(1, 64))]
    return kind, (pub, msg, sig), (bytes(f["pub"]), bytes(f["msg"]), bytes(f["sig"]))


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutation())
def test_fuzz_mutated(m):
    kind, orig, (pub, msg, sig) = m
    got = _verify(kind, pub, msg, sig)
    if (pub, msg, sig) == orig:
        assert got == OK
        return
    assert got == (ref_structure(kind, pub, sig) or INVALID)
    if kind == "hss":
        v = L.Verifier(pub, sig)
        v.update(msg)
        assert v.final() == got


@st.composite
def random_encoding(draw):
    levels = draw(st.sampled_from([0, 1, 2, 3, 8, 9]))
    lt = draw(st.sampled_from([0, 5, 6, 10, 14, 15, 24, 0xFFFFFFFF]))
    ot = draw(st.sampled_from([0, 1, 4, 5, 8, 9, 16]))
    m = LMS.get(lt, (32, 5))[0]
    pub = u32(levels) + u32(lt) + u32(ot) + draw(st.binary(min_size=16 + m - 1, max_size=16 + m + 1))
    sig = u32(draw(st.sampled_from([0, 1, levels - 1 if levels else 0, 7]))) + draw(st.binary(max_size=3000))
    return pub, sig


@settings(max_examples=examples(200), deadline=None)
@given(random_encoding(), st.binary(max_size=64))
def test_fuzz_random(enc, msg):
    pub, sig = enc
    got = L.verify(pub, msg, sig)
    assert got != OK
    assert got == (ref_structure("hss", pub, sig) or INVALID)
