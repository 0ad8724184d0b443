# COSE (RFC 9052 structures, RFC 9053 algorithms) for hourglass.
#
# Single-signer / single-recipient messages only:
#   COSE_Sign1 (tag 18), COSE_Mac0 (tag 17), COSE_Encrypt0 (tag 16).
# Algorithms: HMAC 256/64 (4), HMAC 256/256 (5), AES-CCM-16-64-128 (10),
# HSS-LMS (-46, verify/sign hooks plugged in by the LMS module), plus the
# A256KW (-5) key wrap and A256CTR (-65532, RFC 9459) helpers used by SUIT.
#
# Errors: every problem raises COSEError (a ValueError). A failed MAC, tag,
# signature or key-unwrap check raises COSEVerifyError("verification
# failed"), a COSEError, and never returns partial results.
#
# Runs unchanged on CPython and MicroPython; needs the cbor and hgcrypto
# modules (lib/cbor, lib/hgcrypto).
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import cbor
import hgcrypto

# RFC 9053 section 5.1 HKDF-SHA256: one implementation, in hgcrypto.
hkdf_sha256 = hgcrypto.hkdf_sha256

# CBOR tags (RFC 9052 section 2, RFC 8392 section 6)
_TAG_ENCRYPT0 = const(16)
_TAG_MAC0 = const(17)
_TAG_SIGN1 = const(18)
_TAG_CWT = const(61)

# Header parameter labels (RFC 9052 section 3.1)
_H_ALG = const(1)
_H_CRIT = const(2)
_H_CONTENT_TYPE = const(3)
_H_KID = const(4)
_H_IV = const(5)
_H_PARTIAL_IV = const(6)

# Algorithms (IANA "COSE Algorithms")
_ALG_A256KW = const(-5)
_ALG_HMAC_256_64 = const(4)
_ALG_HMAC_256_256 = const(5)
_ALG_AES_CCM_16_64_128 = const(10)
_ALG_HSS_LMS = const(-46)
_ALG_A256CTR = const(-65532)

# COSE_Key labels and key types (RFC 9052 section 7, RFC 9053, RFC 9708)
_KEY_KTY = const(1)
_KEY_KID = const(2)
_KEY_ALG = const(3)
_KEY_OPS = const(4)
_KEY_BASE_IV = const(5)
_KTY_EC2 = const(2)
_KTY_SYMMETRIC = const(4)
_KTY_HSS_LMS = const(5)

# key_ops values (RFC 9052 Table 5)
_OP_SIGN = const(1)
_OP_VERIFY = const(2)
_OP_ENCRYPT = const(3)
_OP_DECRYPT = const(4)
_OP_WRAP_KEY = const(5)
_OP_UNWRAP_KEY = const(6)
_OP_MAC_CREATE = const(9)
_OP_MAC_VERIFY = const(10)

# Algorithm kinds in the registry
_KIND_MAC = const(1)
_KIND_AEAD = const(2)
_KIND_SIGNATURE = const(3)
_KIND_KEY_WRAP = const(4)
_KIND_CIPHER = const(5)

_ARRAY_LEN = {_TAG_ENCRYPT0: 3, _TAG_MAC0: 4, _TAG_SIGN1: 4}
# Labels this library processes itself; others listed in crit are rejected
# unless the caller names them in `understood`.
_UNDERSTOOD = const((_H_ALG, _H_CONTENT_TYPE, _H_KID, _H_IV, _H_PARTIAL_IV))


class COSEError(ValueError):
    pass


class COSEVerifyError(COSEError):
    # Always raised as _failed(): one generic message, nothing else leaked.
    pass


def _failed():
    return COSEVerifyError("verification failed")


# ---------------------------------------------------------------- helpers


def _is_bytes(x):
    return isinstance(x, (bytes, bytearray))


def _is_buffer(x):
    return isinstance(x, (bytes, bytearray, memoryview))


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _is_label(x):
    return _is_int(x) or isinstance(x, str)


def _bytes_arg(x, what):
    if type(x) is bytes:
        return x
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x)
    raise COSEError(what + " must be bytes")


def _buffer_arg(x, what):
    # a payload joined onto a structure prefix: any buffer, not copied first
    # (a zero-copy decode's memoryview would otherwise be copied twice)
    if isinstance(x, (bytes, bytearray, memoryview)):
        return x
    raise COSEError(what + " must be bytes")


def _head(major, n):
    # CBOR initial byte(s) for major type `major` with argument n (shortest form).
    mt = major << 5
    if n < 24:
        return bytes((mt | n,))
    if n < 0x100:
        return bytes((mt | 24, n))
    if n < 0x10000:
        return bytes((mt | 25, n >> 8, n & 0xFF))
    if n < 0x100000000:
        return bytes((mt | 26,)) + n.to_bytes(4, "big")
    return bytes((mt | 27,)) + n.to_bytes(8, "big")


def _bstr(b):
    return _head(2, len(b)) + b


def _loads(data, zero_copy=False):
    try:
        return cbor.loads(data, zero_copy=zero_copy)
    except MemoryError:
        raise
    except (ValueError, TypeError, IndexError, KeyError, RuntimeError, OverflowError):
        # CBORDecodeError is a ValueError; the others would be cbor bugs,
        # still reported as malformed input.
        raise COSEError("malformed CBOR")


def _dumps(obj):
    try:
        return cbor.dumps(obj)
    except MemoryError:
        raise
    except (ValueError, TypeError, OverflowError):
        raise COSEError("cannot encode")


# ------------------------------------------------------- to-be-MACed/signed
# Fixed-shape CBOR arrays of RFC 9052 sections 4.4, 5.3 and 6.3. The payload
# is kept separate so MACs can stream it without a copy.


def _structure_prefix(context, protected, external_aad, payload_len):
    # context: pre-encoded tstr. Returns everything before the payload bytes.
    protected = _bytes_arg(protected, "protected")
    external_aad = _bytes_arg(external_aad, "external_aad")
    out = (b"\x84" if payload_len is not None else b"\x83") + context
    out += _bstr(protected) + _bstr(external_aad)
    if payload_len is not None:
        out += _head(2, payload_len)
    return out


_CTX_SIGNATURE1 = const(b"\x6aSignature1")
_CTX_MAC0 = const(b"\x64MAC0")
_CTX_ENCRYPT0 = const(b"\x68Encrypt0")


def sig_structure(protected, external_aad, payload):
    """Sig_structure ["Signature1", protected, external_aad, payload] (RFC 9052 4.4)."""
    payload = _buffer_arg(payload, "payload")
    return _structure_prefix(_CTX_SIGNATURE1, protected, external_aad, len(payload)) + payload


def mac_structure(protected, external_aad, payload):
    """MAC_structure ["MAC0", protected, external_aad, payload] (RFC 9052 6.3)."""
    payload = _buffer_arg(payload, "payload")
    return _structure_prefix(_CTX_MAC0, protected, external_aad, len(payload)) + payload


def enc_structure(protected, external_aad):
    """Enc_structure ["Encrypt0", protected, external_aad] (RFC 9052 5.3), the AEAD AAD."""
    return _structure_prefix(_CTX_ENCRYPT0, protected, external_aad, None)


# --------------------------------------------------------------- algorithms


class _SymAlg:
    """A registry entry with a key of its own: MAC (mac), AEAD (encrypt,
    decrypt), key wrap (wrap, unwrap) or cipher (crypt), as `kind` says.
    One class for the four kinds (each class costs heap on a small board);
    get_alg(alg_id, kind) checks the kind before any of these is called."""

    iv_len = 16  # the cipher's (AES-CTR, RFC 9459: the initial counter block)

    def __init__(self, kind, alg_id, key_len, tag_len=0, nonce_len=0):
        self.kind = kind
        self.id = alg_id
        self.key_len = key_len  # 0: any non-empty key (HMAC)
        self.tag_len = tag_len
        self.nonce_len = nonce_len

    def _key(self, key):
        if len(key) != self.key_len:
            raise COSEError("bad key length")

    # MAC
    def mac(self, key, chunks):
        if not key:
            raise COSEError("bad key length")
        h = hgcrypto.HMACSHA256(key)
        for c in chunks:
            h.update(c)
        return h.digest()[: self.tag_len]

    # AEAD
    def _check(self, key, nonce):
        self._key(key)
        if len(nonce) != self.nonce_len:
            raise COSEError("bad IV length")

    def encrypt(self, key, nonce, plaintext, aad):
        """Ciphertext || tag."""
        self._check(key, nonce)
        try:
            return hgcrypto.aes_ccm_encrypt(key, nonce, plaintext, aad, self.tag_len)
        except hgcrypto.CryptoError:
            raise COSEError("cannot encrypt")  # e.g. too long for the length field

    def decrypt(self, key, nonce, ciphertext, aad):
        self._check(key, nonce)
        if len(ciphertext) < self.tag_len:
            raise _failed()
        try:
            return hgcrypto.aes_ccm_decrypt(key, nonce, ciphertext, aad, self.tag_len)
        except hgcrypto.CryptoError:
            raise _failed()

    # key wrap
    def wrap(self, kek, cek):
        self._key(kek)
        if len(cek) < 16 or len(cek) % 8:
            raise COSEError("bad key length")
        return hgcrypto.aes_key_wrap(kek, cek)

    def unwrap(self, kek, wrapped):
        self._key(kek)
        if len(wrapped) < 24 or len(wrapped) % 8:
            raise _failed()
        try:
            return hgcrypto.aes_key_unwrap(kek, wrapped)
        except hgcrypto.CryptoError:
            raise _failed()

    # cipher (AES-CTR: unauthenticated; encryption and decryption are the
    # same operation)
    def crypt(self, key, iv, data):
        self._key(key)
        if len(iv) != self.iv_len:
            raise COSEError("bad IV length")
        return hgcrypto.aes_ctr(key, iv, data)


class SignatureAlg:
    kind = _KIND_SIGNATURE

    def __init__(self, alg_id, verify_fn=None, sign_fn=None):
        self.id = alg_id
        self.verify_fn = verify_fn  # verify_fn(pub, to_be_signed, sig) -> True
        self.sign_fn = sign_fn  # sign_fn(priv, to_be_signed) -> sig bytes

    def sign(self, key, tbs):
        if self.sign_fn is None:
            raise COSEError("algorithm not available")
        return _bytes_arg(self.sign_fn(key, tbs), "signature")

    def verify(self, pub, tbs, sig):
        if self.verify_fn is None:
            raise COSEError("algorithm not available")
        try:
            ok = self.verify_fn(pub, tbs, sig)
        except COSEError:
            raise
        except (ValueError, TypeError, IndexError, KeyError):
            ok = False
        if ok is not True:
            raise _failed()


ALGORITHMS = {
    _ALG_HMAC_256_64: _SymAlg(_KIND_MAC, _ALG_HMAC_256_64, 0, 8),
    _ALG_HMAC_256_256: _SymAlg(_KIND_MAC, _ALG_HMAC_256_256, 0, 32),
    _ALG_AES_CCM_16_64_128: _SymAlg(_KIND_AEAD, _ALG_AES_CCM_16_64_128, 16, 8, 13),
    # No implementation until the LMS module calls register_signature_alg().
    _ALG_HSS_LMS: SignatureAlg(_ALG_HSS_LMS),
    _ALG_A256KW: _SymAlg(_KIND_KEY_WRAP, _ALG_A256KW, 32),
    _ALG_A256CTR: _SymAlg(_KIND_CIPHER, _ALG_A256CTR, 32),
}


def get_alg(alg_id, kind=None):
    """Registry entry for alg_id (optionally of the given KIND_*), else COSEError."""
    if not _is_int(alg_id):
        raise COSEError("unknown algorithm")
    a = ALGORITHMS.get(alg_id)
    if a is None:
        raise COSEError("unknown algorithm")
    if kind is not None and a.kind != kind:
        raise COSEError("wrong algorithm type")
    return a


def register_signature_alg(alg_id, verify_fn, sign_fn=None):
    """Plug in a signature algorithm: verify_fn(pub, tbs, sig) must return True
    for a valid signature; sign_fn(priv, tbs) -> signature. verify_fn=None
    (and sign_fn=None) makes the algorithm unavailable again."""
    if not _is_int(alg_id):
        raise COSEError("unknown algorithm")
    a = ALGORITHMS.get(alg_id)
    if a is not None and a.kind != _KIND_SIGNATURE:
        raise COSEError("wrong algorithm type")
    ALGORITHMS[alg_id] = SignatureAlg(alg_id, verify_fn, sign_fn)


def key_wrap(kek, cek, alg=_ALG_A256KW):
    """AES key wrap (RFC 3394) of cek under kek (bytes or a Symmetric COSEKey)."""
    a = get_alg(alg, _KIND_KEY_WRAP)
    kek = _key_material(kek, alg, _OP_WRAP_KEY, _KTY_SYMMETRIC, "k")
    return a.wrap(_bytes_arg(kek, "key"), _bytes_arg(cek, "key"))


def key_unwrap(kek, wrapped, alg=_ALG_A256KW):
    """Inverse of key_wrap; integrity failure raises COSEVerifyError."""
    a = get_alg(alg, _KIND_KEY_WRAP)
    kek = _key_material(kek, alg, _OP_UNWRAP_KEY, _KTY_SYMMETRIC, "k")
    return a.unwrap(_bytes_arg(kek, "key"), _bytes_arg(wrapped, "ciphertext"))


def ctr_crypt(key, iv, data, alg=_ALG_A256CTR):
    """AES-CTR encrypt == decrypt of data with a 16-byte IV (RFC 9459). No integrity."""
    return get_alg(alg, _KIND_CIPHER).crypt(
        _bytes_arg(key, "key"), _bytes_arg(iv, "IV"), _bytes_arg(data, "data")
    )


# ------------------------------------------------------------------ headers


def _check_headers(prot, unprot, understood):
    # Validates the two header buckets (RFC 9052 section 3). `understood` is
    # None when encoding (crit labels need not be understood by us then).
    if not isinstance(prot, dict) or not isinstance(unprot, dict):
        raise COSEError("header not a map")
    for bucket in (prot, unprot):
        for label in bucket:
            if not _is_label(label):
                raise COSEError("bad header label")
            if bucket is unprot and label in prot:
                raise COSEError("duplicate header label")
            v = bucket[label]
            if label == _H_ALG:
                if not _is_label(v):
                    raise COSEError("bad alg")
            elif label == _H_CRIT:
                if bucket is unprot:
                    raise COSEError("crit not protected")
                if not isinstance(v, list) or not v:
                    raise COSEError("bad crit")
            elif label == _H_CONTENT_TYPE:
                if not (isinstance(v, str) or (_is_int(v) and v >= 0)):
                    raise COSEError("bad content type")
            elif label in (_H_KID, _H_IV, _H_PARTIAL_IV):
                if not _is_bytes(v):
                    raise COSEError("bad header value")
    if (_H_IV in prot or _H_IV in unprot) and (_H_PARTIAL_IV in prot or _H_PARTIAL_IV in unprot):
        raise COSEError("IV and Partial IV both present")
    crit = prot.get(_H_CRIT)
    if crit is not None:
        for label in crit:
            if not _is_label(label):
                raise COSEError("bad crit")
            if label not in prot:
                raise COSEError("crit label not in protected")
            if understood is not None and label not in _UNDERSTOOD and label not in understood:
                raise COSEError("unknown critical header")


def encode_protected(headers):
    """bstr contents for a protected bucket: h'' when empty (RFC 9052 section 3)."""
    if not headers:
        return b""
    if not isinstance(headers, dict):
        raise COSEError("header not a map")
    return _dumps(headers)


def _decode_protected(pb):
    # Returns (map, bytes used in the *_structure). An encoded empty map
    # (h'a0') is accepted and treated as h'' (cose-wg mac-pass-01, sign-pass-01).
    if not _is_bytes(pb):
        raise COSEError("protected header not bstr")
    if not pb:
        return {}, b""
    m = _loads(pb)
    if not isinstance(m, dict):
        raise COSEError("protected header not a map")
    if not m:
        return {}, b""
    return m, bytes(pb)


def _find(prot, unprot, label):
    v = prot.get(label)
    if v is None:
        v = unprot.get(label)
    return v


# ----------------------------------------------------------------- messages


class COSEMessage:
    """A decoded COSE_Sign1 / COSE_Mac0 / COSE_Encrypt0.

    type: TAG_SIGN1, TAG_MAC0 or TAG_ENCRYPT0.
    protected: dict; protected_bytes: the bstr used in the *_structure
    (b"" for an empty bucket); unprotected: dict.
    content: third array element (payload / ciphertext; None if detached).
    tag_or_signature: fourth element (Sign1/Mac0), None for Encrypt0.
    alg: algorithm id from the protected bucket, else the unprotected one.
    payload: None until sign1_verify/mac0_verify/encrypt0_decrypt succeed;
    then the verified payload or the plaintext.
    """

    def __init__(self, cose_type, prot, prot_bytes, unprot, content, tag_or_sig):
        self.type = cose_type
        self.protected = prot
        self.protected_bytes = prot_bytes
        self.unprotected = unprot
        self.content = content
        self.tag_or_signature = tag_or_sig
        self.alg = _find(prot, unprot, _H_ALG)
        self.payload = None

    def header(self, label, default=None):
        """Header value from the protected bucket, else the unprotected one."""
        v = _find(self.protected, self.unprotected, label)
        return default if v is None else v


# cbor.loads' default max_depth: _owned never goes deeper than the decoder did
_OWN_DEPTH = const(16)


def _owned(v, depth):
    # v with every memoryview inside replaced by bytes (zero-copy decode)
    if isinstance(v, memoryview):
        return bytes(v)
    if isinstance(v, (list, dict, cbor.Tag)):
        if depth <= 0:
            raise COSEError("header too deep")
        depth -= 1
        if isinstance(v, list):
            return [_owned(x, depth) for x in v]
        if isinstance(v, dict):
            return dict((k, _owned(v[k], depth)) for k in v)
        return cbor.Tag(v.tag, _owned(v.value, depth))
    return v


def decode(data, cose_type=None, cwt=False, understood=(), zero_copy=False):
    """Decode a COSE_Sign1/Mac0/Encrypt0 without verifying it.

    Tagged input must carry a COSE tag (16, 17, 18) equal to cose_type when
    cose_type is given; untagged input needs cose_type. With cwt=True an
    outer CWT tag 61 around the tagged message is accepted. `understood`
    lists extra crit labels the caller processes itself.

    zero_copy=True: .content and .tag_or_signature are memoryviews into
    data (which must then stay unchanged while the message is in use), so a
    large signature is not copied; header values are still owned bytes.
    """
    if isinstance(data, memoryview) and not zero_copy:
        data = bytes(data)
    if not _is_buffer(data):
        raise COSEError("message must be bytes")
    obj = _loads(data, zero_copy)
    if cwt and isinstance(obj, cbor.Tag) and obj.tag == _TAG_CWT:
        obj = obj.value
        if not isinstance(obj, cbor.Tag):
            raise COSEError("CWT needs a tagged COSE message")
    if isinstance(obj, cbor.Tag):
        t = obj.tag
        if t not in _ARRAY_LEN or (cose_type is not None and t != cose_type):
            raise COSEError("wrong tag")
        obj = obj.value
    elif cose_type in _ARRAY_LEN:
        t = cose_type
    else:
        raise COSEError("untagged message needs a type")
    if not isinstance(obj, list) or len(obj) != _ARRAY_LEN[t]:
        raise COSEError("wrong array length")
    pb = obj[0]
    unprot = obj[1]
    if zero_copy:
        # headers are small and callers expect bytes there
        if isinstance(pb, memoryview):
            pb = bytes(pb)
        unprot = _owned(unprot, _OWN_DEPTH)
    prot, prot_bytes = _decode_protected(pb)
    _check_headers(prot, unprot, understood)
    is_bstr = _is_buffer if zero_copy else _is_bytes
    content = obj[2]
    if content is not None and not is_bstr(content):
        raise COSEError("payload not bstr")
    if t == _TAG_ENCRYPT0:
        if content is None:
            raise COSEError("detached ciphertext unsupported")
        last = None
    else:
        last = obj[3]
        if not is_bstr(last):
            raise COSEError("tag or signature not bstr")
    return COSEMessage(t, prot, prot_bytes, unprot, content, last)


def cwt_wrap(message):
    """Prefix a tagged COSE message with the CWT tag 61 (RFC 8392 section 6)."""
    message = _bytes_arg(message, "message")
    if not message or message[0] not in (0xD0, 0xD1, 0xD2):
        raise COSEError("CWT needs a tagged COSE message")
    return b"\xd8\x3d" + message


def _copy_map(m):
    if m is None:
        return {}
    if not isinstance(m, dict):
        raise COSEError("header not a map")
    return dict(m)


def _prepare(alg, kind, protected, unprotected):
    # Headers for a new message: alg goes to the protected bucket unless the
    # caller already placed it (in either bucket; it must then match).
    a = get_alg(alg, kind)
    prot = _copy_map(protected)
    unprot = _copy_map(unprotected)
    have = _find(prot, unprot, _H_ALG)
    if have is None:
        prot[_H_ALG] = alg
    elif have != alg:
        raise COSEError("alg mismatch")
    _check_headers(prot, unprot, None)
    return a, prot, encode_protected(prot), unprot


def _encode_msg(cose_type, items, tagged):
    if tagged:
        return _dumps(cbor.Tag(cose_type, items))
    return _dumps(items)


def _payload_of(msg, detached_payload):
    if msg.content is None:
        if detached_payload is None:
            raise COSEError("detached payload missing")
        return _bytes_arg(detached_payload, "payload")
    if detached_payload is not None:
        raise COSEError("payload not detached")
    return msg.content


def _resolve_alg(msg, kind, expected_alg):
    if msg.alg is None:
        raise COSEError("missing alg")
    if expected_alg is not None and msg.alg != expected_alg:
        raise COSEError("unexpected algorithm")
    return get_alg(msg.alg, kind)


def _as_message(data, cose_type):
    if isinstance(data, COSEMessage):
        if data.type != cose_type:
            raise COSEError("wrong message type")
        return data
    return decode(data, cose_type)


def _key_material(key, alg, op, kty, field):
    # Raw key from bytes or a COSEKey (kty, alg and key_ops restrictions
    # honoured). field=None hands the checked COSEKey itself to the caller.
    if isinstance(key, COSEKey):
        if kty is not None and key.kty != kty:
            raise COSEError("wrong key type")
        if key.alg is not None and key.alg != alg:
            raise COSEError("key algorithm mismatch")
        if key.key_ops is not None and op not in key.key_ops:
            raise COSEError("key operation not permitted")
        if field is not None:
            key = getattr(key, field)
    if key is None:
        raise COSEError("missing key")
    return key


# --- Mac0


def mac0_create(
    key,
    payload,
    alg=_ALG_HMAC_256_64,
    protected=None,
    unprotected=None,
    external_aad=b"",
    tagged=True,
    detached=False,
):
    """COSE_Mac0 bytes. detached=True sends nil in place of the payload."""
    payload = _bytes_arg(payload, "payload")
    a, prot, pb, unprot = _prepare(alg, _KIND_MAC, protected, unprotected)
    tag = mac0_tag(key, pb, payload, alg, external_aad)
    return _encode_msg(_TAG_MAC0, [pb, unprot, None if detached else payload, tag], tagged)


def mac0_tag(key, protected_bytes, payload, alg, external_aad=b""):
    """The tag of a COSE_Mac0 with these encoded protected headers (which
    must name alg), for a caller that lays the message out itself."""
    a = get_alg(alg, _KIND_MAC)
    key = _bytes_arg(_key_material(key, alg, _OP_MAC_CREATE, _KTY_SYMMETRIC, "k"), "key")
    pre = _structure_prefix(_CTX_MAC0, protected_bytes, external_aad, len(payload))
    return a.mac(key, (pre, payload))


def mac0_verify(key, data, external_aad=b"", detached_payload=None, expected_alg=None):
    """Verify a COSE_Mac0 (bytes, tagged or untagged, or a decoded COSEMessage).

    Returns the COSEMessage with .payload set; COSEVerifyError on a bad tag.
    """
    msg = _as_message(data, _TAG_MAC0)
    a = _resolve_alg(msg, _KIND_MAC, expected_alg)
    key = _bytes_arg(_key_material(key, a.id, _OP_MAC_VERIFY, _KTY_SYMMETRIC, "k"), "key")
    payload = _payload_of(msg, detached_payload)
    pre = _structure_prefix(_CTX_MAC0, msg.protected_bytes, external_aad, len(payload))
    tag = a.mac(key, (pre, payload))
    got = msg.tag_or_signature
    if len(got) != len(tag) or not hgcrypto.ct_equal(tag, got):
        raise _failed()
    msg.payload = payload
    return msg


# --- Sign1


def sign1_create(
    key,
    payload,
    alg,
    protected=None,
    unprotected=None,
    external_aad=b"",
    tagged=True,
    detached=False,
):
    """COSE_Sign1 bytes, signed by the registered sign hook of alg with key
    (in whatever form that hook takes)."""
    payload = _bytes_arg(payload, "payload")
    a, prot, pb, unprot = _prepare(alg, _KIND_SIGNATURE, protected, unprotected)
    sig = a.sign(key, sig_structure(pb, external_aad, payload))
    return _encode_msg(_TAG_SIGN1, [pb, unprot, None if detached else payload, sig], tagged)


def sign1_verify(pub, data, external_aad=b"", detached_payload=None, expected_alg=None):
    """Verify a COSE_Sign1 with the registered verify hook of its alg.

    pub: public key in the form the hook expects (HSS-LMS: the raw HSS public
    key bytes) or a COSEKey (HSS-LMS: its pub field). Returns the COSEMessage
    with .payload set; COSEVerifyError on a bad signature.
    """
    msg = _as_message(data, _TAG_SIGN1)
    a = _resolve_alg(msg, _KIND_SIGNATURE, expected_alg)
    if isinstance(pub, COSEKey):
        field = "pub" if pub.kty == _KTY_HSS_LMS else None
        pub = _key_material(pub, a.id, _OP_VERIFY, None, field)
    payload = _payload_of(msg, detached_payload)
    a.verify(pub, sig_structure(msg.protected_bytes, external_aad, payload), msg.tag_or_signature)
    msg.payload = payload
    return msg


# --- Encrypt0


def _nonce(a, prot, unprot, iv, base_iv):
    # IV header, or Partial IV left-padded and XORed into base_iv (the
    # Context IV, same length as the nonce; RFC 9052 section 3.1), or an
    # implicit iv supplied by the caller when neither header is present.
    h_iv = _find(prot, unprot, _H_IV)
    h_piv = _find(prot, unprot, _H_PARTIAL_IV)
    if h_iv is not None:
        nonce = h_iv
    elif h_piv is not None:
        if base_iv is None:
            raise COSEError("Partial IV needs a base IV")
        base_iv = _bytes_arg(base_iv, "base IV")
        n = len(base_iv)
        if n != a.nonce_len or len(h_piv) > n:
            raise COSEError("bad IV length")
        pad = bytes(n - len(h_piv)) + h_piv
        nonce = bytes(base_iv[i] ^ pad[i] for i in range(n))
    elif iv is not None:
        nonce = iv
    else:
        raise COSEError("missing IV")
    nonce = bytes(nonce)
    if iv is not None and _bytes_arg(iv, "IV") != nonce:
        raise COSEError("IV mismatch")
    if len(nonce) != a.nonce_len:
        raise COSEError("bad IV length")
    return nonce


def encrypt0_create(
    key,
    plaintext,
    iv=None,
    alg=_ALG_AES_CCM_16_64_128,
    protected=None,
    unprotected=None,
    external_aad=b"",
    tagged=True,
    base_iv=None,
    send_iv=True,
):
    """COSE_Encrypt0 bytes.

    The nonce comes from, in order: an IV header the caller put in
    protected/unprotected; a Partial IV header XOR base_iv; the iv argument.
    With iv given and no IV/Partial IV header, send_iv=True adds it as the
    unprotected IV header (send_iv=False: the receiver must know it). The
    caller is responsible for never reusing a nonce with the same key.
    """
    key = _bytes_arg(_key_material(key, alg, _OP_ENCRYPT, _KTY_SYMMETRIC, "k"), "key")
    plaintext = _bytes_arg(plaintext, "plaintext")
    unprot = _copy_map(unprotected)
    prot = _copy_map(protected)
    if (
        iv is not None
        and send_iv
        and _find(prot, unprot, _H_IV) is None
        and _find(prot, unprot, _H_PARTIAL_IV) is None
    ):
        unprot[_H_IV] = _bytes_arg(iv, "IV")
    a, prot, pb, unprot = _prepare(alg, _KIND_AEAD, prot, unprot)
    nonce = _nonce(a, prot, unprot, iv, base_iv)
    ct = a.encrypt(key, nonce, plaintext, enc_structure(pb, external_aad))
    return _encode_msg(_TAG_ENCRYPT0, [pb, unprot, ct], tagged)


def encrypt0_decrypt(key, data, external_aad=b"", iv=None, base_iv=None, expected_alg=None):
    """Decrypt a COSE_Encrypt0 (bytes or decoded COSEMessage).

    iv: implicit nonce when the message carries no IV/Partial IV header;
    base_iv: Context IV for a Partial IV (defaults to a COSEKey's Base IV).
    Returns the COSEMessage with .payload = plaintext; COSEVerifyError when
    authentication fails.
    """
    msg = _as_message(data, _TAG_ENCRYPT0)
    a = _resolve_alg(msg, _KIND_AEAD, expected_alg)
    if base_iv is None and isinstance(key, COSEKey):
        base_iv = key.base_iv
    key = _bytes_arg(_key_material(key, a.id, _OP_DECRYPT, _KTY_SYMMETRIC, "k"), "key")
    nonce = _nonce(a, msg.protected, msg.unprotected, iv, base_iv)
    pt = a.decrypt(key, nonce, msg.content, enc_structure(msg.protected_bytes, external_aad))
    msg.payload = pt
    return msg


# ----------------------------------------------------------------- COSE_Key


class COSEKey:
    """Validated COSE_Key (RFC 9052 section 7) of type Symmetric (k), HSS-LMS
    (pub) or EC2 (crv, x, y, d; decoded structurally only). `params` holds
    the whole decoded map."""

    def __init__(self, params):
        self.params = params
        self.kty = params.get(_KEY_KTY)
        self.kid = params.get(_KEY_KID)
        self.alg = params.get(_KEY_ALG)
        self.key_ops = params.get(_KEY_OPS)
        self.base_iv = params.get(_KEY_BASE_IV)
        self.k = self.pub = self.crv = self.x = self.y = self.d = None


def _opt(params, label, check, what):
    v = params.get(label)
    if v is not None and not check(v):
        raise COSEError("bad key " + what)
    return v


def decode_key(data):
    """COSE_Key from CBOR bytes or an already decoded map -> COSEKey."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = _loads(bytes(data))
    if not isinstance(data, dict):
        raise COSEError("key not a map")
    for label in data:
        if not _is_label(label):
            raise COSEError("bad key label")
    key = COSEKey(data)
    if not _is_label(key.kty):
        raise COSEError("bad key kty")
    _opt(data, _KEY_KID, _is_bytes, "kid")
    _opt(data, _KEY_ALG, _is_label, "alg")
    _opt(data, _KEY_BASE_IV, _is_bytes, "Base IV")
    ops = data.get(_KEY_OPS)
    if ops is not None:
        if not isinstance(ops, list) or not ops:
            raise COSEError("bad key key_ops")
        for op in ops:
            if not _is_label(op):
                raise COSEError("bad key key_ops")
    if key.kty == _KTY_SYMMETRIC:
        key.k = _opt(data, -1, _is_bytes, "k")
        if key.k is None or not key.k:
            raise COSEError("bad key k")
        a = ALGORITHMS.get(key.alg) if _is_int(key.alg) else None
        kl = getattr(a, "key_len", 0)  # 0: none fixed (HMAC, signatures)
        if kl and len(key.k) != kl:
            raise COSEError("bad key length")
    elif key.kty == _KTY_HSS_LMS:
        key.pub = _opt(data, -1, _is_bytes, "pub")
        if key.pub is None:
            raise COSEError("bad key pub")
    elif key.kty == _KTY_EC2:
        key.crv = _opt(data, -1, _is_label, "crv")
        key.x = _opt(data, -2, _is_bytes, "x")
        key.y = _opt(data, -3, lambda v: _is_bytes(v) or isinstance(v, bool), "y")
        key.d = _opt(data, -4, _is_bytes, "d")
        if key.crv is None or (key.x is None and key.d is None):
            raise COSEError("bad key EC2")
    else:
        raise COSEError("unsupported key type")
    return key


# The public constants (module.NAME, `from cose import NAME`): a literal table
# (ROM when frozen) read by __getattr__, instead of a slot each in this
# module's globals (heap). Inside the module the private names fold away.
_PUBLIC = const((
    ("TAG_ENCRYPT0", _TAG_ENCRYPT0), ("TAG_MAC0", _TAG_MAC0), ("TAG_SIGN1", _TAG_SIGN1),
    ("TAG_CWT", _TAG_CWT), ("H_ALG", _H_ALG), ("H_CRIT", _H_CRIT), ("H_KID", _H_KID),
    ("H_IV", _H_IV), ("H_PARTIAL_IV", _H_PARTIAL_IV), ("ALG_A256KW", _ALG_A256KW),
    ("ALG_HMAC_256_64", _ALG_HMAC_256_64), ("ALG_HMAC_256_256", _ALG_HMAC_256_256),
    ("ALG_AES_CCM_16_64_128", _ALG_AES_CCM_16_64_128), ("ALG_HSS_LMS", _ALG_HSS_LMS),
    ("ALG_A256CTR", _ALG_A256CTR), ("KTY_EC2", _KTY_EC2), ("KTY_SYMMETRIC", _KTY_SYMMETRIC),
    ("KTY_HSS_LMS", _KTY_HSS_LMS), ("OP_UNWRAP_KEY", _OP_UNWRAP_KEY), ("KIND_MAC", _KIND_MAC),
    ("KIND_AEAD", _KIND_AEAD), ("KIND_SIGNATURE", _KIND_SIGNATURE),
    ("KIND_KEY_WRAP", _KIND_KEY_WRAP), ("KIND_CIPHER", _KIND_CIPHER),
))


def __getattr__(name):
    for k, v in _PUBLIC:
        if k == name:
            return v
    raise AttributeError(name)
