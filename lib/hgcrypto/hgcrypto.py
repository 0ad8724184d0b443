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
# CTR and CCM run in small per-call scratch buffers (AES encrypts into them,
# _hgcore.xor_into XORs into them) so that a call allocates little more than
# its result: ~0.7 KB for an OSCORE-sized message on the Cortex-M4. Without
# _hgcore, XOR falls back to int.from_bytes(...) ^ int.from_bytes(...), which
# runs in C on both runtimes (about 8x faster than a byte loop under
# MicroPython for 256-byte chunks) but allocates. This needs arbitrary-
# precision ints: every image must be built with MICROPY_LONGINT_IMPL_MPZ.
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
_BATCH = const(8)  # CTR/CCM blocks per AES call (128-byte scratch buffers)
_HASH_LEN = const(32)
_HMAC_BLOCK = const(64)
# The HMAC pads, 64 bytes of 0x36 / 0x5c as one int each (literals: ROM when
# frozen, where int.from_bytes at import would put two long ints on the heap)
_IPAD = const(0x36363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636363636)
_OPAD = const(0x5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c)
_KW_IV = const(0xA6A6A6A6A6A6A6A6)
_CCM_TAG_LENS = const((4, 6, 8, 10, 12, 14, 16))


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

    def _make_enc_into(enc):
        # cryptolib's encrypt(src, dst) writes into dst and allocates nothing.
        return enc

else:

    def _probe_key_len(n):
        return True

    def _make_enc(key):
        return _Cipher(_algorithms.AES(key), _modes.ECB()).encryptor().update

    def _make_dec(key):
        return _Cipher(_algorithms.AES(key), _modes.ECB()).decryptor().update

    def _make_enc_into(enc):
        # update_into() wants 15 spare bytes of output; CPython heap use is
        # not the constraint, so copy instead.
        def enc_into(src, dst):
            dst[0 : len(src)] = enc(src)

        return enc_into


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
        # _enc/_dec take any multiple of 16 bytes (ECB) and return bytes;
        # _enc_into(src, dst) writes E(src) into the first len(src) bytes of
        # the writable buffer dst (which must not be src).
        self._enc = _make_enc(self._key)
        self._enc_into = _make_enc_into(self._enc)
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


# ---------------------------------------------------------------- buffers
#
# CTR and CCM work in a few per-call scratch buffers: counter blocks and
# keystream are made _BATCH blocks per AES call with _enc_into, XORed with
# _hgcore.xor_into when present. With _hgcore nothing is allocated per block;
# per _BATCH-block chunk a memoryview or two (plus the slice objects that
# MicroPython 1.25 puts on the heap for every x[a:b]).


def _py_xor_into(dst, a, b):
    # dst = a XOR b (equal lengths; dst may be a): the fallback for
    # _hgcore.xor_into, one big-int XOR in C.
    n = len(dst)
    dst[0:n] = (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(n, "big")


def _xor_fn():
    # Looked up per call so that the fallback can be forced in tests.
    return _c_xor_into if _c_xor_into is not None else _py_xor_into


def _ctr_add(buf, off, v):
    # buf[off:off+16] += v, as a 128-bit big-endian counter (mod 2^128).
    i = off + 15
    while v and i >= off:
        v += buf[i]
        buf[i] = v & 0xFF
        v >>= 8
        i -= 1


def _ctr_slots(first, k, start):
    # k counter blocks first+start, first+start+1, ... (mod 2^128).
    c = bytearray(k << 4)
    for j in range(k):
        o = j << 4
        c[o : o + 16] = first
        _ctr_add(c, o, start + j)
    return c


def _ks_batch(enc, c, ks, b, k, more):
    # Keystream for the first b of the k counter slots in c into ks; if more
    # follows, step every slot on by k.
    if b == k:
        enc(c, ks)
    else:
        enc(memoryview(c)[0 : b << 4], ks)
    if more:
        for o in range(15, k << 4, 16):
            v = c[o] + k
            if v < 256:
                c[o] = v  # the usual case: no carry out of the last octet
            else:
                _ctr_add(c, o - 15, k)


# ---------------------------------------------------------------- CTR


def _ctr_blocks(enc, xo, ctr, src, out, pos, n):
    """out[pos:pos+n] = src[pos:pos+n] XOR keystream from counter block ctr
    (a bytearray, advanced past the n // 16 blocks used); n is a multiple
    of 16, src a memoryview, out a bytearray."""
    nb = n >> 4
    k = nb if nb < _BATCH else _BATCH
    cap = k << 4
    c = _ctr_slots(ctr, k, 0)
    ks = bytearray(cap)
    ov = memoryview(out)
    end = pos + n
    while pos < end:
        m = end - pos
        if m > cap:
            m = cap
        _ks_batch(enc, c, ks, m >> 4, k, pos + m < end)
        xo(ov[pos : pos + m], src[pos : pos + m], ks if m == cap else memoryview(ks)[0:m])
        pos += m
    _ctr_add(ctr, 0, nb)


class AESCTR:
    """Streaming AES-CTR with a full 128-bit big-endian counter (mod 2^128).
    update() keeps the keystream position across calls of any size.
    `key` may also be an AES instance."""

    def __init__(self, key, counter_block):
        if len(counter_block) != _BLOCK:
            raise CryptoError("bad counter block length")
        self._enc_into = _as_aes(key)._enc_into
        self._ctr = bytearray(counter_block)  # the next counter block
        self._ks = bytearray(_BLOCK)  # keystream of the last partial block
        self._kpos = _BLOCK  # bytes of _ks used

    def update(self, data):
        mv = memoryview(data)
        n = len(mv)
        out = bytearray(n)
        ks = self._ks
        kp = self._kpos
        pos = _BLOCK - kp
        if pos > n:
            pos = n
        for i in range(pos):
            out[i] = mv[i] ^ ks[kp + i]
        self._kpos = kp + pos
        full = (n - pos) & ~15
        if full:
            _ctr_blocks(self._enc_into, _xor_fn(), self._ctr, mv, out, pos, full)
            pos += full
        if pos < n:
            self._enc_into(self._ctr, ks)
            _ctr_add(self._ctr, 0, 1)
            m = n - pos
            for i in range(m):
                out[pos + i] = mv[pos + i] ^ ks[i]
            self._kpos = m
        return bytes(out)


def aes_ctr(key, counter_block, data):
    return AESCTR(key, counter_block).update(data)


# ---------------------------------------------------------------- CCM


def _cbc_mac(enc, xo, x, t, rv, b):
    # CBC-MAC state x absorbs the blocks rv[0:b] (16-byte views); t is scratch.
    for j in range(b):
        xo(t, x, rv[j])
        enc(t, x)


def _mac_padded(enc, xo, x, t, r, rv, data, n, fill):
    # CBC-MAC over r[0:fill] || data[0:n], zero-padded to a whole block,
    # staged through r (len(r) bytes, views rv).
    cap = len(r)
    i = 0
    while i < n:
        m = cap - fill
        if m > n - i:
            m = n - i
        if m == n:
            r[fill : fill + m] = data  # all of it: no slice object
        else:
            r[fill : fill + m] = data[i : i + m]
        fill += m
        i += m
        if fill == cap:
            _cbc_mac(enc, xo, x, t, rv, cap >> 4)
            fill = 0
    if fill:
        b = (fill + 15) >> 4
        for j in range(fill, b << 4):
            r[j] = 0
        _cbc_mac(enc, xo, x, t, rv, b)


def _ccm_check(nonce, tag_len):
    nl = len(nonce)
    if nl < 7 or nl > 13:
        raise CryptoError("bad nonce length")
    if tag_len not in _CCM_TAG_LENS:
        raise CryptoError("bad tag length")


def _ccm(key, nonce, aad, tag_len, src, n, decrypt):
    """CCM over the first n bytes of src. Encrypt: returns ct || tag in a
    bytearray. Decrypt (src is ct || tag): checks the tag in constant time
    before anything is returned, then returns the plaintext in a bytearray."""
    nl = len(nonce)
    q = 15 - nl  # L, octets of the length field
    if q < 8 and n >> (8 * q):
        raise CryptoError("message too long")
    aes = _as_aes(key)
    enc = aes._enc_into
    xo = _xor_fn()
    if aad is None:
        aad = b""
    la = len(aad)
    if not la:
        hl = 0
    elif la < 0xFF00:
        hl = 2
    elif la <= 0xFFFFFFFF:
        hl = 6
    else:
        hl = 10
    # k blocks of scratch: enough for the message or the AAD, at most _BATCH.
    k = (n + 15) >> 4
    j = (hl + la + 15) >> 4
    if j > k:
        k = j
    if k > _BATCH:
        k = _BATCH
    elif k < 1:
        k = 1
    cap = k << 4
    x = bytearray(_BLOCK)  # CBC-MAC state
    t = bytearray(_BLOCK)
    r = bytearray(cap)  # staging for MAC input and message chunks
    rm = memoryview(r)
    rv = [None] * k
    for j in range(k):
        rv[j] = rm[j << 4 : (j << 4) + 16]
    # B0: flags, nonce, message length.
    t[0] = (64 if la else 0) | (((tag_len - 2) >> 1) << 3) | (q - 1)
    for j in range(nl):  # (a slice assignment puts a slice object on the heap)
        t[1 + j] = nonce[j]
    v = n
    j = 15
    while v:
        t[j] = v & 0xFF
        v >>= 8
        j -= 1
    enc(t, x)
    if la:
        # AAD length encoding (RFC 3610 2.2), then the AAD, zero-padded.
        if hl == 2:
            r[0] = la >> 8
            r[1] = la & 0xFF
        else:
            r[0] = 0xFF
            r[1] = 0xFE if hl == 6 else 0xFF
            v = la
            for j in range(hl - 1, 1, -1):
                r[j] = v & 0xFF
                v >>= 8
        # a view only when the AAD is sliced (longer than the scratch)
        _mac_padded(enc, xo, x, t, r, rv, aad if hl + la <= cap else memoryview(aad), la, hl)
    if decrypt or n > cap:
        src = memoryview(src)  # sliced below
    # A_0: flags, nonce, counter 0. Slots in c hold A_1 ... A_k; a message
    # of < 2^(8L) octets never carries out of the L-octet counter field.
    a0 = bytearray(_BLOCK)
    a0[0] = q - 1
    for j in range(nl):
        a0[1 + j] = nonce[j]
    c = _ctr_slots(a0, k, 1)
    ks = bytearray(cap)
    out = bytearray(n if decrypt else n + tag_len)
    i = 0
    while i < n:
        m = n - i
        if m > cap:
            m = cap
        b = (m + 15) >> 4
        _ks_batch(enc, c, ks, b, k, i + m < n)
        pv = src if m == len(src) else src[i : i + m]
        if m == cap:
            rr = r
            kk = ks
        else:
            rr = rm[0:m]
            kk = memoryview(ks)[0:m]
        if decrypt:
            xo(rr, pv, kk)  # plaintext chunk, then MAC it
            for j in range(m, b << 4):
                r[j] = 0
            _cbc_mac(enc, xo, x, t, rv, b)
        else:
            r[0:m] = pv  # MAC the plaintext chunk, then encrypt it
            for j in range(m, b << 4):
                r[j] = 0
            _cbc_mac(enc, xo, x, t, rv, b)
            xo(rr, rr, kk)
        out[i : i + m] = rr
        i += m
    # Encrypted tag block: CBC-MAC XOR S_0 = E(A_0).
    enc(a0, t)
    xo(t, t, x)
    if decrypt:
        # x (free now) := received tag, padded with the bytes of t past
        # tag_len, so that one 16-byte compare checks exactly the tag.
        for j in range(_BLOCK):
            x[j] = src[n + j] if j < tag_len else t[j]
        if not ct_equal(t, x):
            for i in range(n):
                out[i] = 0
            for i in range(cap):
                r[i] = 0
            raise _auth_failed()
    else:
        for j in range(tag_len):
            out[n + j] = t[j]
    return out


def aes_ccm_encrypt(key, nonce, plaintext, aad=b"", tag_len=8):
    _ccm_check(nonce, tag_len)
    return bytes(_ccm(key, nonce, aad, tag_len, plaintext, len(plaintext), False))


def aes_ccm_decrypt(key, nonce, ciphertext_and_tag, aad=b"", tag_len=8):
    _ccm_check(nonce, tag_len)
    total = len(ciphertext_and_tag)
    if total < tag_len:
        raise _auth_failed()
    return bytes(_ccm(key, nonce, aad, tag_len, ciphertext_and_tag, total - tag_len, True))


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
