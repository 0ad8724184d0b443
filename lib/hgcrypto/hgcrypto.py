# hgcrypto: the crypto seam of hourglass.
#
# One module, the same Python on CPython, the MicroPython unix port and the
# Cortex-M4 image. Only the AES block primitive (class AES) differs per
# runtime: MicroPython uses cryptolib.aes(key, 1) (ECB), CPython uses the
# `cryptography` package (AES/ECB). HMAC, HKDF, CTR, CCM, key wrap and the
# constant-time compare are implemented here, identically for both.
#
# API (names are a contract for COSE, OSCORE, SUIT):
#   BACKEND                      "cryptolib" or "cryptography"
#   CryptoError(ValueError)      bad parameters
#   AuthenticationError          tag / integrity failure ("authentication failed")
#   sha256(data=b""), sha256_digest(data)
#   hmac_sha256(key, data), HMACSHA256(key).update(d).digest()
#   hkdf_sha256(ikm, salt, info, length), hkdf_extract(salt, ikm),
#   hkdf_expand(prk, info, length)
#   AES(key).encrypt_block(b16) / .decrypt_block(b16); AES_KEY_LENGTHS
#   aes_ctr(key, counter_block16, data), AESCTR(key, counter_block16).update(d)
#   aes_ccm_encrypt(key, nonce, pt, aad=b"", tag_len=8) -> ct || tag
#   aes_ccm_decrypt(key, nonce, ct_and_tag, aad=b"", tag_len=8) -> pt
#   aes_key_wrap(kek, key_data), aes_key_unwrap(kek, wrapped)   (RFC 3394)
#   ct_equal(a, b), random_bytes(n)
# Wherever a key is taken, an AES instance may be passed instead to reuse
# its key schedule (e.g. one AES object per OSCORE security context).
#
# XOR over buffers is done with int.from_bytes(...) ^ int.from_bytes(...)
# which runs in C on both runtimes (about 8x faster than a byte loop under
# MicroPython for 256-byte chunks). This needs arbitrary-precision ints:
# every image must be built with MICROPY_LONGINT_IMPL_MPZ.
import hashlib

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


try:
    import cryptolib as _cl
except ImportError:
    try:
        import ucryptolib as _cl
    except ImportError:
        _cl = None

# Optional C helpers (firmware/cmodules/hgcore): built into our images, or a
# natmod on stock firmware. The pure-Python paths below give the same results.
try:
    from _hgcore import ct_equal as _c_ct_equal
    from _hgcore import xor_into as _c_xor_into
except ImportError:
    _c_ct_equal = None
    _c_xor_into = None

if _cl is not None:
    BACKEND = "cryptolib"
else:
    from cryptography.hazmat.primitives.ciphers import Cipher as _Cipher
    from cryptography.hazmat.primitives.ciphers import algorithms as _algorithms
    from cryptography.hazmat.primitives.ciphers import modes as _modes

    BACKEND = "cryptography"

_BLOCK = const(16)
_BATCH = const(32)  # CTR keystream blocks generated per AES call (512 bytes)
_HASH_LEN = const(32)
_HMAC_BLOCK = const(64)
_MASK128 = (1 << 128) - 1
_IPAD = int.from_bytes(b"\x36" * 64, "big")
_OPAD = int.from_bytes(b"\x5c" * 64, "big")
_KW_IV = 0xA6A6A6A6A6A6A6A6
_CCM_TAG_LENS = (4, 6, 8, 10, 12, 14, 16)


class CryptoError(ValueError):
    pass


class AuthenticationError(CryptoError):
    pass


def _auth_failed():
    return AuthenticationError("authentication failed")


# ---------------------------------------------------------------- hashing

def sha256(data=b""):
    """A hashlib SHA-256 object (update(), digest()). On MicroPython digest()
    finalises it: a second digest() or a later update() raises, and there is
    no copy(). Keep the digest if you need it twice."""
    return hashlib.sha256(data)


def sha256_digest(data):
    return hashlib.sha256(data).digest()


def _xor_int_bytes(data, pad_int, n):
    return (int.from_bytes(data, "big") ^ pad_int).to_bytes(n, "big")


def _hmac_pads(key):
    if len(key) > _HMAC_BLOCK:
        key = hashlib.sha256(key).digest()
    k0 = bytes(key) + bytes(_HMAC_BLOCK - len(key))
    return _xor_int_bytes(k0, _IPAD, _HMAC_BLOCK), _xor_int_bytes(k0, _OPAD, _HMAC_BLOCK)


class HMACSHA256:
    """Incremental HMAC-SHA256 (RFC 2104). digest() may be called repeatedly;
    update() after digest() raises CryptoError."""

    digest_size = _HASH_LEN
    block_size = _HMAC_BLOCK

    def __init__(self, key, data=None):
        ipad, self._opad = _hmac_pads(key)
        self._inner = hashlib.sha256(ipad)
        self._mac = None
        if data is not None:
            self._inner.update(data)

    def update(self, data):
        if self._mac is not None:
            raise CryptoError("hmac finalised")
        self._inner.update(data)

    def digest(self):
        if self._mac is None:
            outer = hashlib.sha256(self._opad)
            outer.update(self._inner.digest())
            self._mac = outer.digest()
            self._inner = None
        return self._mac


def hmac_sha256(key, data):
    ipad, opad = _hmac_pads(key)
    inner = hashlib.sha256(ipad)
    inner.update(data)
    outer = hashlib.sha256(opad)
    outer.update(inner.digest())
    return outer.digest()


# ---------------------------------------------------------------- HKDF


def hkdf_extract(salt, ikm):
    if not salt:
        salt = bytes(_HASH_LEN)
    return hmac_sha256(salt, ikm)


def hkdf_expand(prk, info, length):
    if length < 0 or length > 255 * _HASH_LEN:
        raise CryptoError("bad hkdf length")
    if info is None:
        info = b""
    ipad, opad = _hmac_pads(prk)
    out = bytearray(length)
    t = b""
    pos = 0
    i = 1
    while pos < length:
        inner = hashlib.sha256(ipad)
        inner.update(t)
        inner.update(info)
        inner.update(bytes((i,)))
        outer = hashlib.sha256(opad)
        outer.update(inner.digest())
        t = outer.digest()
        n = min(_HASH_LEN, length - pos)
        out[pos : pos + n] = t[:n] if n < _HASH_LEN else t
        pos += n
        i += 1
    return bytes(out)


def hkdf_sha256(ikm, salt, info, length):
    if length < 0 or length > 255 * _HASH_LEN:
        raise CryptoError("bad hkdf length")
    return hkdf_expand(hkdf_extract(salt, ikm), info, length)


# ---------------------------------------------------------------- AES block

if BACKEND == "cryptolib":

    def _probe_key_len(n):
        try:
            _cl.aes(bytes(n), 1)
            return True
        except Exception:
            return False

    def _make_enc(key):
        return _cl.aes(key, 1).encrypt

    def _make_dec(key):
        # A cryptolib object is one-direction only: use a separate one.
        return _cl.aes(key, 1).decrypt

else:

    def _probe_key_len(n):
        return True

    def _make_enc(key):
        return _Cipher(_algorithms.AES(key), _modes.ECB()).encryptor().update

    def _make_dec(key):
        return _Cipher(_algorithms.AES(key), _modes.ECB()).decryptor().update


# Key lengths (bytes) the AES backend accepts here; 24 may be missing on
# cryptolib builds (axTLS-based ones support only 128- and 256-bit keys).
AES_KEY_LENGTHS = tuple(n for n in (16, 24, 32) if n != 24 or _probe_key_len(24))


class AES:
    """The AES block primitive (the one backend-specific piece)."""

    def __init__(self, key):
        n = len(key)
        if n != 16 and n != 24 and n != 32:
            raise CryptoError("bad key length")
        if n not in AES_KEY_LENGTHS:
            raise CryptoError("unsupported key length")
        self._key = bytes(key)
        self.key_size = n
        # _enc/_dec take any multiple of 16 bytes (ECB) and return bytes.
        self._enc = _make_enc(self._key)
        self._dec = None

    def encrypt_block(self, block):
        if len(block) != _BLOCK:
            raise CryptoError("bad block length")
        return self._enc(block)

    def decrypt_block(self, block):
        if len(block) != _BLOCK:
            raise CryptoError("bad block length")
        return self._decrypt_fn()(block)

    def _decrypt_fn(self):
        if self._dec is None:
            self._dec = _make_dec(self._key)
        return self._dec


def _as_aes(key):
    return key if isinstance(key, AES) else AES(key)


# ---------------------------------------------------------------- CTR

# Concatenated counter blocks c, c+1, ..., c+k-1 (128 bits each, no wrap)
# equal c * R_k + S_k with R_k = sum 2^(128 j) and S_k = sum i 2^(128 (k-1-i)),
# so a whole batch of counter blocks is one multiply-add in C.
_ctr_consts = None


def _counter_blocks(c, k):
    global _ctr_consts
    if _ctr_consts is None:
        r = 0
        s = 0
        for i in range(_BATCH):
            r = (r << 128) | 1
            s = (s << 128) | i
        _ctr_consts = (r, s)
    left = (1 << 128) - c
    if k > left:  # the 128-bit counter wraps inside this batch
        return _counter_blocks(c, left) + _counter_blocks(0, k - left)
    r, s = _ctr_consts
    sh = 128 * (_BATCH - k)
    return (c * (r >> sh) + (s >> sh)).to_bytes(16 * k, "big")


def _ctr_xor_into(enc, ctr, mv, out, off):
    """XOR the whole blocks of memoryview mv with the keystream starting at
    counter ctr; write to out[off:]. Returns the next counter value."""
    n = len(mv)
    pos = 0
    while pos < n:
        k = min(_BATCH, (n - pos) >> 4)
        m = k << 4
        ks = enc(_counter_blocks(ctr, k))
        if _c_xor_into is not None:
            _c_xor_into(memoryview(out)[off + pos : off + pos + m], mv[pos : pos + m], ks)
        else:
            out[off + pos : off + pos + m] = (int.from_bytes(mv[pos : pos + m], "big") ^ int.from_bytes(ks, "big")).to_bytes(m, "big")
        ctr = (ctr + k) & _MASK128
        pos += m
    return ctr


class AESCTR:
    """Streaming AES-CTR with a full 128-bit big-endian counter (mod 2^128).
    update() keeps the keystream position across calls of any size.
    `key` may also be an AES instance."""

    def __init__(self, key, counter_block):
        if len(counter_block) != _BLOCK:
            raise CryptoError("bad counter block length")
        self._enc = _as_aes(key)._enc
        self._ctr = int.from_bytes(counter_block, "big")
        self._ks = b""  # unused keystream of the last partial block
        self._kpos = 0

    def update(self, data):
        mv = memoryview(data)
        n = len(mv)
        out = bytearray(n)
        pos = 0
        left = len(self._ks) - self._kpos
        if left and n:
            m = min(left, n)
            kp = self._kpos
            out[0:m] = (int.from_bytes(mv[0:m], "big") ^ int.from_bytes(self._ks[kp : kp + m], "big")).to_bytes(m, "big")
            self._kpos = kp + m
            pos = m
        full = (n - pos) & ~15
        if full:
            self._ctr = _ctr_xor_into(self._enc, self._ctr, mv[pos : pos + full], out, pos)
            pos += full
        if pos < n:
            m = n - pos
            self._ks = self._enc(self._ctr.to_bytes(16, "big"))
            self._ctr = (self._ctr + 1) & _MASK128
            out[pos:n] = (int.from_bytes(mv[pos:n], "big") ^ int.from_bytes(self._ks[0:m], "big")).to_bytes(m, "big")
            self._kpos = m
        return bytes(out)


def aes_ctr(key, counter_block, data):
    return AESCTR(key, counter_block).update(data)


# ---------------------------------------------------------------- CCM


class _CBCMAC:
    # CBC-MAC state for CCM: whole blocks are chained straight from the
    # input, partial ones gathered in a 16-byte buffer.
    def __init__(self, enc, b0):
        self._enc = enc
        self._x = int.from_bytes(enc(b0), "big")
        self._buf = bytearray(16)
        self._n = 0

    def update(self, data):
        mv = memoryview(data)
        n = len(mv)
        i = 0
        buf = self._buf
        if self._n:
            i = min(16 - self._n, n)
            buf[self._n : self._n + i] = mv[0:i]
            self._n += i
            if self._n < 16:
                return
            self._x = int.from_bytes(self._enc((self._x ^ int.from_bytes(buf, "big")).to_bytes(16, "big")), "big")
            self._n = 0
        end = i + ((n - i) & ~15)
        enc = self._enc
        x = self._x
        while i < end:
            x = int.from_bytes(enc((x ^ int.from_bytes(mv[i : i + 16], "big")).to_bytes(16, "big")), "big")
            i += 16
        self._x = x
        if i < n:
            buf[0 : n - i] = mv[i:n]
            self._n = n - i

    def pad(self):
        if self._n:
            self.update(bytes(16 - self._n))

    def value(self):
        return self._x.to_bytes(16, "big")


def _ccm_check(nonce, tag_len):
    nl = len(nonce)
    if nl < 7 or nl > 13:
        raise CryptoError("bad nonce length")
    if tag_len not in _CCM_TAG_LENS:
        raise CryptoError("bad tag length")


def _ccm_setup(key, nonce, aad, tag_len, msg_len):
    nl = len(nonce)
    q = 15 - nl  # L, octets of the length field
    if q < 8 and msg_len >> (8 * q):
        raise CryptoError("message too long")
    aes = _as_aes(key)
    if aad is None:
        aad = b""
    la = len(aad)
    b0 = bytearray(16)
    b0[0] = (64 if la else 0) | (((tag_len - 2) >> 1) << 3) | (q - 1)
    b0[1 : 1 + nl] = nonce
    b0[1 + nl : 16] = msg_len.to_bytes(q, "big")
    mac = _CBCMAC(aes._enc, b0)
    if la:
        if la < 0xFF00:
            mac.update(la.to_bytes(2, "big"))
        elif la <= 0xFFFFFFFF:
            mac.update(b"\xff\xfe" + la.to_bytes(4, "big"))
        else:
            mac.update(b"\xff\xff" + la.to_bytes(8, "big"))
        mac.update(aad)
        mac.pad()
    a0 = bytearray(16)
    a0[0] = q - 1
    a0[1 : 1 + nl] = nonce
    return aes, mac, int.from_bytes(a0, "big")


def _ccm_ctr(aes, a0, mv, out):
    # Message keystream starts at counter A_1; the counter field is L octets
    # but a message of < 2^(8L) octets never carries out of it.
    n = len(mv)
    full = n & ~15
    ctr = a0 + 1
    if full:
        ctr = _ctr_xor_into(aes._enc, ctr, mv[0:full], out, 0)
    if full < n:
        m = n - full
        ks = aes._enc(ctr.to_bytes(16, "big"))
        out[full:n] = (int.from_bytes(mv[full:n], "big") ^ int.from_bytes(ks[0:m], "big")).to_bytes(m, "big")


def _ccm_tag(aes, mac, a0, tag_len):
    s0 = aes._enc(a0.to_bytes(16, "big"))
    t = int.from_bytes(mac.value(), "big") ^ int.from_bytes(s0, "big")
    return t.to_bytes(16, "big")[0:tag_len]


def aes_ccm_encrypt(key, nonce, plaintext, aad=b"", tag_len=8):
    _ccm_check(nonce, tag_len)
    n = len(plaintext)
    aes, mac, a0 = _ccm_setup(key, nonce, aad, tag_len, n)
    mac.update(plaintext)
    mac.pad()
    out = bytearray(n + tag_len)
    _ccm_ctr(aes, a0, memoryview(plaintext), out)
    out[n:] = _ccm_tag(aes, mac, a0, tag_len)
    return bytes(out)


def aes_ccm_decrypt(key, nonce, ciphertext_and_tag, aad=b"", tag_len=8):
    _ccm_check(nonce, tag_len)
    total = len(ciphertext_and_tag)
    if total < tag_len:
        raise _auth_failed()
    n = total - tag_len
    aes, mac, a0 = _ccm_setup(key, nonce, aad, tag_len, n)
    mv = memoryview(ciphertext_and_tag)
    out = bytearray(n)
    _ccm_ctr(aes, a0, mv[0:n], out)
    mac.update(out)
    mac.pad()
    if not ct_equal(_ccm_tag(aes, mac, a0, tag_len), mv[n:total]):
        for i in range(n):
            out[i] = 0
        raise _auth_failed()
    return bytes(out)


# ---------------------------------------------------------------- key wrap


def aes_key_wrap(kek, key_data):
    n8 = len(key_data)
    if n8 < 16 or n8 & 7:
        raise CryptoError("bad key data length")
    enc = _as_aes(kek)._enc
    n = n8 >> 3
    r = [bytes(key_data[8 * i : 8 * i + 8]) for i in range(n)]
    a = _KW_IV
    t = 1
    for _ in range(6):
        for i in range(n):
            b = enc(a.to_bytes(8, "big") + r[i])
            a = int.from_bytes(b[0:8], "big") ^ t
            r[i] = b[8:16]
            t += 1
    return a.to_bytes(8, "big") + b"".join(r)


def aes_key_unwrap(kek, wrapped):
    total = len(wrapped)
    if total < 24 or total & 7:
        raise CryptoError("bad wrapped key length")
    dec = _as_aes(kek)._decrypt_fn()
    n = (total >> 3) - 1
    a = int.from_bytes(wrapped[0:8], "big")
    r = [bytes(wrapped[8 * i + 8 : 8 * i + 16]) for i in range(n)]
    t = 6 * n
    for _ in range(6):
        for i in range(n - 1, -1, -1):
            b = dec((a ^ t).to_bytes(8, "big") + r[i])
            a = int.from_bytes(b[0:8], "big")
            r[i] = b[8:16]
            t -= 1
    if not ct_equal(a.to_bytes(8, "big"), _KW_IV.to_bytes(8, "big")):
        raise _auth_failed()
    return b"".join(r)


# ---------------------------------------------------------------- misc


def ct_equal(a, b):
    """Constant-time equality of two byte strings. The running time depends
    only on len(a), never on the contents; different lengths give False."""
    if _c_ct_equal is not None:
        return _c_ct_equal(a, b)
    la = len(a)
    r = la ^ len(b)
    if r:
        b = a
    for i in range(la):
        r |= a[i] ^ b[i]
    return r == 0


def random_bytes(n):
    if n < 0:
        raise CryptoError("bad length")
    try:
        import os

        urandom = os.urandom
    except (ImportError, AttributeError):
        raise CryptoError("no randomness source")
    return bytes(urandom(n))
