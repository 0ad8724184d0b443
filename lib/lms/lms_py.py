# lms_py: pure-Python LMS / HSS (RFC 8554) for hourglass, with the
# SHA-256/192 parameter sets of RFC 9858 (n = m = 24: SHA-256 truncated to
# 24 bytes). The SHAKE256 sets of RFC 9858 are recognised (parsed, named)
# and answered with ERR_UNSUPPORTED.
#
# The fallback backend of the `lms` facade, with the same API as the C
# module `_lms` and its host twin `hourglass.lms_host`:
#   verify(pub, msg, sig) -> 0 | ERR_INVALID | ERR_MALFORMED | ERR_UNSUPPORTED
#   verify_lms(pub, msg, sig) -> the same, for bare LMS (no HSS words)
#   Verifier(pub, sig): update(data), final() -> the same codes
#   lms_pub_len(lms_type), lms_sig_len(lms_type, ots_type) -> int (0: unsupported)
#   HAS_SIGN = True
#   lms_keygen(lms_type, ots_type, I, seed) -> LMS public key
#   lms_sign(lms_type, ots_type, I, seed, q, msg, nodes=None) -> LMS signature
#   lms_tree(lms_type, ots_type, I, seed) -> all tree nodes (host sizes only)
# (`_lms` also counts SHA-256 compressions; lms_py does not.)
# It also owns the one parameter table (LMS_PARAMS, OTS_PARAMS) and the
# strict parsers the facade, the signer and the CLI share.
#
# Result codes (the same rules as the C core, firmware/cmodules/lms/core/lms.h):
#   ERR_MALFORMED    a public key or signature that cannot be parsed: wrong
#                    length, trailing bytes, L outside 1..8, Nspk != L-1, a
#                    typecode in a signature different from the key's,
#                    q >= 2^h;
#   ERR_UNSUPPORTED  a key (the public key or a signed child key) names a
#                    parameter set not computed here: SHAKE256, an unknown
#                    typecode, or an LMS/LM-OTS pair with m != n;
#   ERR_INVALID      well formed, but a hash check failed.
# The whole structure is checked before anything is hashed, and only a
# complete successful check returns OK (fail closed).
#
# Key generation follows RFC 8554 Appendix A:
#   x_q[i] = H(I || u32str(q) || u16str(i) || u8str(0xff) || SEED)
# and the randomizer C of an LM-OTS signature is derived the same way with
# i = 0xfffd (as cisco/hash-sigs and Botan do), so signing is deterministic:
# the same (SEED, I, q, message) always gives the same signature.
#
# Speed: every cost is one SHA-256 call per chain step. Each hash input is
# one bytearray I || u32str(q) || u16str(i) || u8str(j) || tmp (55 bytes for
# n = 32: a single compression block) built once per chain; only i, j and
# tmp are patched in place.
import hashlib

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_sha256 = hashlib.sha256

_OK = const(0)
_ERR_INVALID = const(-1)
_ERR_MALFORMED = const(-2)
_ERR_UNSUPPORTED = const(-3)
HAS_SIGN = True

_HASH_SHA256 = const(0)  # SHA-256 (m = 32) and SHA-256/192 (m = 24)
_HASH_SHAKE256 = const(1)  # RFC 9858 SHAKE256 sets: parsed, never computed

# LMS typecodes (RFC 8554 Table 2, RFC 9858)
_LMS_SHA256_M32_H5 = const(5)
_LMS_SHA256_M32_H10 = const(6)
_LMS_SHA256_M32_H15 = const(7)
_LMS_SHA256_M32_H20 = const(8)
_LMS_SHA256_M32_H25 = const(9)
_LMS_SHA256_M24_H5 = const(10)
_LMS_SHA256_M24_H10 = const(11)
_LMS_SHA256_M24_H15 = const(12)
_LMS_SHA256_M24_H20 = const(13)
_LMS_SHA256_M24_H25 = const(14)

# LM-OTS typecodes (RFC 8554 Table 1, RFC 9858)
_LMOTS_SHA256_N32_W1 = const(1)
_LMOTS_SHA256_N32_W2 = const(2)
_LMOTS_SHA256_N32_W4 = const(3)
_LMOTS_SHA256_N32_W8 = const(4)
_LMOTS_SHA256_N24_W1 = const(5)
_LMOTS_SHA256_N24_W2 = const(6)
_LMOTS_SHA256_N24_W4 = const(7)
_LMOTS_SHA256_N24_W8 = const(8)

# The parameter table (the only one in the project's Python):
#   LMS_PARAMS[typecode] = (name, hash, m, h)
#   OTS_PARAMS[typecode] = (name, hash, n, w, p, ls)
# Sizes (ots_sig_len, lms_sig_len, lms_pub_len below): LM-OTS signature
# 4 + n(p+1); LMS signature 4 + (4 + n(p+1)) + 4 + h*m; LMS public key 24 + m.
LMS_PARAMS = {
    5: ("LMS_SHA256_M32_H5", 0, 32, 5),
    6: ("LMS_SHA256_M32_H10", 0, 32, 10),
    7: ("LMS_SHA256_M32_H15", 0, 32, 15),
    8: ("LMS_SHA256_M32_H20", 0, 32, 20),
    9: ("LMS_SHA256_M32_H25", 0, 32, 25),
    10: ("LMS_SHA256_M24_H5", 0, 24, 5),
    11: ("LMS_SHA256_M24_H10", 0, 24, 10),
    12: ("LMS_SHA256_M24_H15", 0, 24, 15),
    13: ("LMS_SHA256_M24_H20", 0, 24, 20),
    14: ("LMS_SHA256_M24_H25", 0, 24, 25),
    15: ("LMS_SHAKE_M32_H5", 1, 32, 5),
    16: ("LMS_SHAKE_M32_H10", 1, 32, 10),
    17: ("LMS_SHAKE_M32_H15", 1, 32, 15),
    18: ("LMS_SHAKE_M32_H20", 1, 32, 20),
    19: ("LMS_SHAKE_M32_H25", 1, 32, 25),
    20: ("LMS_SHAKE_M24_H5", 1, 24, 5),
    21: ("LMS_SHAKE_M24_H10", 1, 24, 10),
    22: ("LMS_SHAKE_M24_H15", 1, 24, 15),
    23: ("LMS_SHAKE_M24_H20", 1, 24, 20),
    24: ("LMS_SHAKE_M24_H25", 1, 24, 25),
}

OTS_PARAMS = {
    1: ("LMOTS_SHA256_N32_W1", 0, 32, 1, 265, 7),
    2: ("LMOTS_SHA256_N32_W2", 0, 32, 2, 133, 6),
    3: ("LMOTS_SHA256_N32_W4", 0, 32, 4, 67, 4),
    4: ("LMOTS_SHA256_N32_W8", 0, 32, 8, 34, 0),
    5: ("LMOTS_SHA256_N24_W1", 0, 24, 1, 200, 8),
    6: ("LMOTS_SHA256_N24_W2", 0, 24, 2, 101, 6),
    7: ("LMOTS_SHA256_N24_W4", 0, 24, 4, 51, 4),
    8: ("LMOTS_SHA256_N24_W8", 0, 24, 8, 26, 0),
    9: ("LMOTS_SHAKE_N32_W1", 1, 32, 1, 265, 7),
    10: ("LMOTS_SHAKE_N32_W2", 1, 32, 2, 133, 6),
    11: ("LMOTS_SHAKE_N32_W4", 1, 32, 4, 67, 4),
    12: ("LMOTS_SHAKE_N32_W8", 1, 32, 8, 34, 0),
    13: ("LMOTS_SHAKE_N24_W1", 1, 24, 1, 200, 8),
    14: ("LMOTS_SHAKE_N24_W2", 1, 24, 2, 101, 6),
    15: ("LMOTS_SHAKE_N24_W4", 1, 24, 4, 51, 4),
    16: ("LMOTS_SHAKE_N24_W8", 1, 24, 8, 26, 0),
}

_MAX_LEVELS = const(8)
_I_LEN = const(16)

_D_PBLC = const(b"\x80\x80")
_D_MESG = const(b"\x81\x81")
_D_LEAF = const(b"\x82\x82")
_D_INTR = const(b"\x83\x83")
_C_INDEX = const(b"\xff\xfd\xff")  # u16str(0xfffd) || u8str(0xff): the randomizer C


class LMSError(ValueError):
    pass


class LMSFormatError(LMSError):
    # the input cannot be parsed (maps to ERR_MALFORMED)
    pass


class LMSUnsupportedError(LMSError):
    # a known parameter set this implementation does not compute
    pass


# ---------------------------------------------------------------- table


# Encoded sizes; 0 for a set this code does not compute (as the C core).


def ots_sig_len(ots_type):
    r = OTS_PARAMS.get(ots_type)
    if r is None or r[1] != _HASH_SHA256:
        return 0
    return 4 + r[2] * (r[4] + 1)


def lms_sig_len(lms_type, ots_type):
    if not supported(lms_type, ots_type):
        return 0
    r = LMS_PARAMS[lms_type]
    return 8 + ots_sig_len(ots_type) + r[3] * r[2]


def lms_pub_len(lms_type):
    r = LMS_PARAMS.get(lms_type)
    if r is None or r[1] != _HASH_SHA256:
        return 0
    return 24 + r[2]


def param_name(typecode, ots=False):
    """Name of an LMS (or, with ots=True, LM-OTS) typecode; "unknown(N)" else."""
    row = (OTS_PARAMS if ots else LMS_PARAMS).get(typecode)
    if row is None:
        return "unknown(" + str(typecode) + ")"
    return row[0]


def supported(lms_type, ots_type):
    """True when this code computes the pair: both SHA-256 family, m == n."""
    lr = LMS_PARAMS.get(lms_type)
    orow = OTS_PARAMS.get(ots_type)
    return (
        lr is not None
        and orow is not None
        and lr[1] == _HASH_SHA256
        and orow[1] == _HASH_SHA256
        and lr[2] == orow[2]
    )


def _rows(lms_type, ots_type):
    # Rows for a signing/keygen request; LMSError for anything unusable.
    lr = LMS_PARAMS.get(lms_type)
    orow = OTS_PARAMS.get(ots_type)
    if lr is None or orow is None:
        raise LMSError("unknown parameter set")
    if not supported(lms_type, ots_type):
        raise LMSUnsupportedError("unsupported parameter set")
    return lr, orow


# ---------------------------------------------------------------- parsing


def _u32(b, off):
    return int.from_bytes(b[off : off + 4], "big")


def _u32str(x):
    return x.to_bytes(4, "big")


def parse_hss_pub(pub):
    """(levels, lms_type, ots_type, I, root) of an HSS public key.
    LMSFormatError if malformed, LMSUnsupportedError for an unknown
    typecode. Known SHAKE sets parse: check supported() before computing."""
    try:
        pub = memoryview(pub)
    except TypeError:
        raise LMSFormatError("public key type")
    n = len(pub)
    if n < 12:
        raise LMSFormatError("public key length")
    levels = _u32(pub, 0)
    if levels < 1 or levels > _MAX_LEVELS:
        raise LMSFormatError("levels")
    lt = _u32(pub, 4)
    ot = _u32(pub, 8)
    lr = LMS_PARAMS.get(lt)
    if lr is None or OTS_PARAMS.get(ot) is None:
        raise LMSUnsupportedError("unsupported parameter set")
    if n != 28 + lr[2]:
        raise LMSFormatError("public key length")
    return levels, lt, ot, bytes(pub[12:28]), bytes(pub[28:n])


def parse_hss_sig(sig, levels=None, lms_type=None, ots_type=None):
    """Strict structural parse of an HSS signature.

    With levels/lms_type/ots_type (from the public key) the signature must
    match them; without, its own typecodes decide the lengths. Returns one
    tuple per level, top first:
      (lms_type, ots_type, q, sig_off, sig_end, pub_off, pub_end)
    where sig[sig_off:sig_end] is that level's LMS signature and
    sig[pub_off:pub_end] the LMS public key it signs (-1, -1 at the bottom
    level, which signs the message). LMSFormatError when malformed,
    LMSUnsupportedError when a typecode (of a signed child key, or of this
    signature when nothing is expected) is not one this code computes.
    """
    try:
        sig = memoryview(sig)
    except TypeError:
        raise LMSFormatError("signature type")
    n = len(sig)
    if n < 4:
        raise LMSFormatError("length")
    nspk = _u32(sig, 0)
    if nspk >= _MAX_LEVELS or (levels is not None and nspk != levels - 1):
        raise LMSFormatError("levels")
    lt = lms_type
    ot = ots_type
    off = 4
    out = []
    for i in range(nspk + 1):
        s_off = off
        if off + 8 > n:
            raise LMSFormatError("length")
        q = _u32(sig, off)
        sot = _u32(sig, off + 4)
        if ot is not None and sot != ot:
            raise LMSFormatError("typecode mismatch")
        orow = OTS_PARAMS.get(sot)
        if orow is None:
            raise LMSUnsupportedError("unsupported parameter set")
        off += 8 + orow[2] * (orow[4] + 1)
        if off + 4 > n:
            raise LMSFormatError("length")
        slt = _u32(sig, off)
        if lt is not None and slt != lt:
            raise LMSFormatError("typecode mismatch")
        lr = LMS_PARAMS.get(slt)
        if lr is None:
            raise LMSUnsupportedError("unsupported parameter set")
        off += 4 + lr[3] * lr[2]
        if off > n:
            raise LMSFormatError("length")
        if q >> lr[3]:
            raise LMSFormatError("leaf index")
        s_end = off
        if i < nspk:
            p_off = off
            if off + 24 > n:
                raise LMSFormatError("length")
            lt = _u32(sig, off)
            ot = _u32(sig, off + 4)
            clr = LMS_PARAMS.get(lt)
            if not supported(lt, ot):  # as the C core: a child key's set first
                raise LMSUnsupportedError("unsupported parameter set")
            off += 24 + clr[2]
            if off > n:
                raise LMSFormatError("length")
            out.append((slt, sot, q, s_off, s_end, p_off, off))
        else:
            out.append((slt, sot, q, s_off, s_end, -1, -1))
    if off != n:
        raise LMSFormatError("trailing bytes")
    return out


def _prepare(pub, sig):
    # Full structural check of (pub, sig): (pub view, sig view, levels).
    # LMSUnsupportedError / LMSFormatError otherwise.
    levels, lt, ot, _, _ = parse_hss_pub(pub)
    if not supported(lt, ot):
        raise LMSUnsupportedError("unsupported parameter set")
    pv = memoryview(pub)
    sv = memoryview(sig)
    lv = parse_hss_sig(sv, levels, lt, ot)
    for e in lv:
        if not supported(e[0], e[1]):
            raise LMSUnsupportedError("unsupported parameter set")
    return pv, sv, lv


def explain(pub, sig):
    """Why (pub, sig) cannot be verified: (code, reason) with code OK when
    the structure is fine (the signature may still be invalid)."""
    try:
        _prepare(pub, sig)
    except LMSUnsupportedError as e:
        return _ERR_UNSUPPORTED, str(e)
    except LMSFormatError as e:
        return _ERR_MALFORMED, str(e)
    return _OK, ""


# ---------------------------------------------------------------- hashing core


def _digits(Q, n, w, ls, p):
    # coef(Q || Cksm(Q), i, w) for i < p (RFC 8554 sections 3.1.3, 4.4).
    mask = (1 << w) - 1
    out = bytearray(p)
    k = 0
    total = 0
    if w == 8:
        for b in Q:
            out[k] = b
            k += 1
            total += 255 - b
    else:
        for b in Q:
            sh = 8 - w
            while sh >= 0:
                d = (b >> sh) & mask
                out[k] = d
                k += 1
                total += mask - d
                sh -= w
    ck = (total << ls) & 0xFFFF
    cb = bytes((ck >> 8, ck & 255))
    i = 0
    while k < p:
        byte = cb[(i * w) >> 3]
        sh = 8 - w - ((i * w) & 7)
        out[k] = (byte >> sh) & mask
        k += 1
        i += 1
    return out


def _chain_buf(I, qb, n):
    # I || u32str(q) || u16str(i) || u8str(j) || tmp
    buf = bytearray(23 + n)
    buf[0:16] = I
    buf[16:20] = qb
    return buf


def _run_chain(buf, start, stop, n):
    # tmp = H(I || q || i || j || tmp) for j in [start, stop); tmp in buf[23:]
    if n == 32:
        for j in range(start, stop):
            buf[22] = j
            buf[23:55] = _sha256(buf).digest()
    else:
        for j in range(start, stop):
            buf[22] = j
            buf[23:] = _sha256(buf).digest()[:n]


def _ots_candidate(orow, I, qb, Q, sig, y_off):
    # Algorithm 4b: the LM-OTS public key hash Kc from a signature.
    n = orow[2]
    w = orow[3]
    p = orow[4]
    digits = _digits(Q, n, w, orow[5], p)
    top = (1 << w) - 1
    buf = _chain_buf(I, qb, n)
    kh = _sha256(bytes(buf[0:20]) + _D_PBLC)
    tail = memoryview(buf)[23:]
    for i in range(p):
        buf[20] = i >> 8
        buf[21] = i & 255
        o = y_off + i * n
        buf[23:] = sig[o : o + n]
        _run_chain(buf, digits[i], top, n)
        kh.update(tail)
    return kh.digest()[:n]


def _root_from_path(lr, I, q, K, sig, path_off):
    # Algorithm 6a step 2-4: climb from the leaf to the root.
    m = lr[2]
    h = lr[3]
    r = (1 << h) + q
    tmp = _sha256(bytes(I) + _u32str(r) + _D_LEAF + K).digest()[:m]
    buf = bytearray(22 + 2 * m)
    buf[0:16] = I
    buf[20:22] = _D_INTR
    for i in range(h):
        o = path_off + i * m
        buf[16:20] = _u32str(r >> 1)
        if r & 1:
            buf[22 : 22 + m] = sig[o : o + m]
            buf[22 + m :] = tmp
        else:
            buf[22 : 22 + m] = tmp
            buf[22 + m :] = sig[o : o + m]
        tmp = _sha256(buf).digest()[:m]
        r >>= 1
    return tmp


def _level_ok(key, key_off, sig, e, Q):
    # One LMS verification: key[key_off:] = lms_type||ots_type||I||T, e the
    # parsed level, Q the LM-OTS message hash already computed.
    lt, ot, q = e[0], e[1], e[2]
    lr = LMS_PARAMS[lt]
    orow = OTS_PARAMS[ot]
    n = orow[2]
    m = lr[2]
    I = bytes(key[key_off + 8 : key_off + 24])
    T = bytes(key[key_off + 24 : key_off + 24 + m])
    s = e[3]
    K = _ots_candidate(orow, I, _u32str(q), Q, sig, s + 8 + n)
    path_off = s + 8 + n * (orow[4] + 1) + 4
    return _root_from_path(lr, I, q, K, sig, path_off) == T


def _msg_hasher(key, key_off, sig, e):
    # H(I || u32str(q) || u16str(D_MESG) || C || ...) ready for the message.
    n = OTS_PARAMS[e[1]][2]
    s = e[3]
    h = _sha256(bytes(key[key_off + 8 : key_off + 24]) + _u32str(e[2]) + _D_MESG)
    h.update(sig[s + 8 : s + 8 + n])
    return h, n


class Verifier:
    """Streaming HSS verification: Verifier(pub, sig), update(data)...,
    final() -> OK or a negative ERR_* code. Structure is checked here;
    nothing but update() data is needed afterwards."""

    def __init__(self, pub, sig):
        self._h = None
        self._rc = _ERR_MALFORMED
        try:
            pv, sv, lv = _prepare(pub, sig)
        except LMSUnsupportedError:
            self._rc = _ERR_UNSUPPORTED
            return
        except (ValueError, TypeError):
            return
        self._pub = pv
        self._sig = sv
        self._lv = lv
        if len(lv) == 1:
            key, koff = pv, 4
        else:
            key, koff = sv, lv[-2][5]
        self._h, self._n = _msg_hasher(key, koff, sv, lv[-1])
        self._rc = _OK

    def update(self, data):
        if self._rc != _OK:
            if self._rc is None:
                raise LMSError("verifier finalised")
            return
        self._h.update(data)

    def final(self):
        rc = self._rc
        if rc is None:
            raise LMSError("verifier finalised")
        self._rc = None
        if rc != _OK:
            return rc
        Q = self._h.digest()[: self._n]
        self._h = None
        pv = self._pub
        sv = self._sig
        lv = self._lv
        last = len(lv) - 1
        rc = _ERR_INVALID
        for i in range(last, -1, -1):
            e = lv[i]
            if i == 0:
                key, koff = pv, 4
            else:
                key, koff = sv, lv[i - 1][5]
            if i != last:
                h, n = _msg_hasher(key, koff, sv, e)
                h.update(sv[e[5] : e[6]])
                Q = h.digest()[:n]
            if not _level_ok(key, koff, sv, e, Q):
                break
        else:
            rc = _OK
        self._pub = self._sig = self._lv = None
        return rc


def verify(pub, msg, sig):
    v = Verifier(pub, sig)
    if v._rc == _OK:
        v.update(msg)
    return v.final()


def verify_lms(pub, msg, sig):
    """Bare LMS key and signature (no L / Nspk words; SP 800-208 / ACVP)."""
    try:
        return verify(b"\x00\x00\x00\x01" + bytes(pub), msg, b"\x00\x00\x00\x00" + bytes(sig))
    except TypeError:
        return _ERR_MALFORMED


# ---------------------------------------------------------------- signing


def _check_key(lms_type, ots_type, I, seed):
    lr, orow = _rows(lms_type, ots_type)
    if len(I) != _I_LEN:
        raise LMSError("bad I length")
    # SEED is normally n bytes; 16..32 accepted like the C core.
    if len(seed) < 16 or len(seed) > 32:
        raise LMSError("bad seed length")
    return lr, orow


def _ots_pub(orow, I, q, seed):
    # K = H(I || u32str(q) || u16str(D_PBLC) || y[0] || ... || y[p-1]),
    # y[i] the end of chain i started at x_q[i] (RFC 8554 4.3, App. A).
    n = orow[2]
    top = (1 << orow[3]) - 1
    qb = _u32str(q)
    buf = _chain_buf(I, qb, n)
    kh = _sha256(bytes(buf[0:20]) + _D_PBLC)
    tail = memoryview(buf)[23:]
    for i in range(orow[4]):
        buf[20] = i >> 8
        buf[21] = i & 255
        buf[22] = 0xFF
        buf[23:] = seed
        buf[23:] = _sha256(buf).digest()[:n]
        _run_chain(buf, 0, top, n)
        kh.update(tail)
    return kh.digest()[:n]


def ots_sign(ots_type, I, q, seed, msg):
    """LM-OTS signature of msg with the leaf-q key of (I, SEED); deterministic C."""
    orow = OTS_PARAMS.get(ots_type)
    if orow is None or orow[1] != _HASH_SHA256:
        raise LMSUnsupportedError("unsupported parameter set")
    out = bytearray(4 + orow[2] * (orow[4] + 1))
    ots_sign_into(out, 0, ots_type, I, q, seed, msg)
    return bytes(out)


def ots_sign_into(out, off, ots_type, I, q, seed, msg):
    """ots_sign written into out[off:] (no temporary signature buffers: an
    LM-OTS W1 signature is 8.5 KB, a lot on a 45 KB heap)."""
    orow = OTS_PARAMS[ots_type]
    n = orow[2]
    p = orow[4]
    I = bytes(I)
    seed = bytes(seed)
    qb = _u32str(q)
    C = _sha256(I + qb + _C_INDEX + seed).digest()[:n]
    h = _sha256(I + qb + _D_MESG + C)
    h.update(msg)
    digits = _digits(h.digest()[:n], n, orow[3], orow[5], p)
    out[off : off + 4] = _u32str(ots_type)
    out[off + 4 : off + 4 + n] = C
    buf = _chain_buf(I, qb, n)
    for i in range(p):
        buf[20] = i >> 8
        buf[21] = i & 255
        buf[22] = 0xFF
        buf[23:] = seed
        buf[23:] = _sha256(buf).digest()[:n]
        _run_chain(buf, 0, digits[i], n)
        o = off + 4 + n * (i + 1)
        out[o : o + n] = buf[23:]


def leaf_hash(lms_type, ots_type, I, seed, q):
    """T[2^h + q] = H(I || u32str(2^h + q) || u16str(D_LEAF) || K_q)."""
    lr, orow = _check_key(lms_type, ots_type, I, seed)
    return _leaf(lr, orow, bytes(I), bytes(seed), q)


def _leaf(lr, orow, I, seed, q):
    K = _ots_pub(orow, I, q, seed)
    return _sha256(I + _u32str((1 << lr[3]) + q) + _D_LEAF + K).digest()[: lr[2]]


def walk_tree(lms_type, ots_type, I, seed, emit=None, first=0, count=None):
    """Compute an LMS tree bottom-up in post-order with O(h) nodes of RAM.

    emit(k, j, node) is called for every node: k its height above the
    leaves, j its index within that row (heap index r = 2^(h-k) + j).
    first/count restrict the walk to an aligned subtree of `count` leaves
    (a power of two) starting at leaf `first`. Returns the subtree root.
    """
    lr, orow = _check_key(lms_type, ots_type, I, seed)
    I = bytes(I)
    seed = bytes(seed)
    m = lr[2]
    h = lr[3]
    if count is None:
        count = 1 << h
    if count < 1 or count & (count - 1) or first % count or first + count > (1 << h):
        raise LMSError("bad subtree")
    buf = bytearray(22 + 2 * m)
    buf[0:16] = I
    buf[20:22] = _D_INTR
    stack = []  # (height, node), at most h + 1 entries
    for q in range(first, first + count):
        node = _leaf(lr, orow, I, seed, q)
        if emit is not None:
            emit(0, q, node)
        k = 0
        j = q
        while stack and stack[-1][0] == k:
            left = stack.pop()[1]
            k += 1
            j >>= 1
            buf[16:20] = _u32str((1 << (h - k)) + j)
            buf[22 : 22 + m] = left
            buf[22 + m :] = node
            node = _sha256(buf).digest()[:m]
            if emit is not None:
                emit(k, j, node)
        stack.append((k, node))
    return stack[0][1]


def lms_keygen(lms_type, ots_type, I, seed):
    """LMS public key u32str(type) || u32str(otstype) || I || T[1]."""
    root = walk_tree(lms_type, ots_type, I, seed)
    return _u32str(lms_type) + _u32str(ots_type) + bytes(I) + root


def lms_tree(lms_type, ots_type, I, seed):
    """Every node of the tree, heap order: node r (1 <= r < 2^(h+1)) at
    offset r*m, slot 0 zero. 2^(h+1)*m bytes (64 KiB for H10/m32): host use."""
    lr = LMS_PARAMS.get(lms_type)
    if lr is None:
        raise LMSError("unknown parameter set")
    m = lr[2]
    h = lr[3]
    nodes = bytearray((2 << h) * m)

    def put(k, j, node):
        o = ((1 << (h - k)) + j) * m
        nodes[o : o + m] = node

    walk_tree(lms_type, ots_type, I, seed, put)
    return bytes(nodes)


def auth_path(lms_type, ots_type, I, seed, q, nodes=None):
    """The h sibling nodes from leaf q to the root (from `nodes` as returned
    by lms_tree, or recomputed with O(h) RAM)."""
    lr, orow = _check_key(lms_type, ots_type, I, seed)
    out = bytearray(lr[3] * lr[2])
    _path_into(out, 0, lms_type, ots_type, I, seed, q, nodes)
    return bytes(out)


def _path_into(out, off, lms_type, ots_type, I, seed, q, nodes):
    lr = LMS_PARAMS[lms_type]
    m = lr[2]
    h = lr[3]
    if q < 0 or q >> h:
        raise LMSError("leaf index")
    if nodes is not None:
        if len(nodes) != (2 << h) * m:
            raise LMSError("bad nodes length")
        r = (1 << h) + q
        for k in range(h):
            o = (r ^ 1) * m
            out[off + k * m : off + k * m + m] = nodes[o : o + m]
            r >>= 1
        return

    def grab(k, j, node):
        if k < h and j == (q >> k) ^ 1:
            out[off + k * m : off + k * m + m] = node

    walk_tree(lms_type, ots_type, I, seed, grab)


def lms_sign(lms_type, ots_type, I, seed, q, msg, nodes=None):
    """LMS signature u32str(q) || LM-OTS sig || u32str(type) || path.

    Stateless: the caller guarantees that leaf q of (I, SEED) never signs
    a second, different message (lms_state does that)."""
    lr, orow = _check_key(lms_type, ots_type, I, seed)
    if q < 0 or q >> lr[3]:
        raise LMSError("leaf index")
    o = 8 + orow[2] * (orow[4] + 1)
    out = bytearray(o + 4 + lr[3] * lr[2])
    out[0:4] = _u32str(q)
    _path_into(out, o + 4, lms_type, ots_type, I, seed, q, nodes)
    ots_sign_into(out, 4, ots_type, I, q, seed, msg)
    out[o : o + 4] = _u32str(lms_type)
    return bytes(out)


# The public constants (module.NAME, `from lms_py import NAME`): a literal table
# (ROM when frozen) read by __getattr__, instead of a slot each in this
# module's globals (heap). Inside the module the private names fold away.
_PUBLIC = const((
    ("OK", _OK), ("ERR_INVALID", _ERR_INVALID), ("ERR_MALFORMED", _ERR_MALFORMED),
    ("ERR_UNSUPPORTED", _ERR_UNSUPPORTED), ("LMS_SHA256_M32_H5", _LMS_SHA256_M32_H5),
    ("LMS_SHA256_M32_H10", _LMS_SHA256_M32_H10), ("LMS_SHA256_M32_H15", _LMS_SHA256_M32_H15),
    ("LMS_SHA256_M32_H20", _LMS_SHA256_M32_H20), ("LMS_SHA256_M32_H25", _LMS_SHA256_M32_H25),
    ("LMS_SHA256_M24_H5", _LMS_SHA256_M24_H5), ("LMS_SHA256_M24_H10", _LMS_SHA256_M24_H10),
    ("LMS_SHA256_M24_H15", _LMS_SHA256_M24_H15), ("LMS_SHA256_M24_H20", _LMS_SHA256_M24_H20),
    ("LMS_SHA256_M24_H25", _LMS_SHA256_M24_H25), ("LMOTS_SHA256_N32_W1", _LMOTS_SHA256_N32_W1),
    ("LMOTS_SHA256_N32_W2", _LMOTS_SHA256_N32_W2), ("LMOTS_SHA256_N32_W4", _LMOTS_SHA256_N32_W4),
    ("LMOTS_SHA256_N32_W8", _LMOTS_SHA256_N32_W8), ("LMOTS_SHA256_N24_W1", _LMOTS_SHA256_N24_W1),
    ("LMOTS_SHA256_N24_W2", _LMOTS_SHA256_N24_W2), ("LMOTS_SHA256_N24_W4", _LMOTS_SHA256_N24_W4),
    ("LMOTS_SHA256_N24_W8", _LMOTS_SHA256_N24_W8), ("MAX_LEVELS", _MAX_LEVELS), ("I_LEN", _I_LEN),
))


def __getattr__(name):
    for k, v in _PUBLIC:
        if k == name:
            return v
    raise AttributeError(name)
