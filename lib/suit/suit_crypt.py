# SUIT encrypted payloads, device side (draft-ietf-suit-firmware-encryption,
# MTI profile suit-sha256-hsslms-a256kw-a256ctr; RFC 9459 AES-CTR).
#
# suit-parameter-encryption-info (19) is a bstr holding exactly
#   96([ protected:   h'' (or a map holding only alg A256CTR),
#        unprotected: {1: -65532 (A256CTR), 5: IV (16 bytes)},
#        ciphertext:  nil (detached: the fetched/integrated payload is it),
#        recipients:  [[ h'' (or {1: -5}), {1: -5 (A256KW), 4: kid}, CEK wrapped (40 bytes) ]] ])
# Anything else is refused: another algorithm, embedded ciphertext, more
# than one recipient, nested recipients or unknown header labels give
# SUIT_ERR_UNSUPPORTED; a malformed structure SUIT_ERR_INVALID_MANIFEST.
#
# decrypting_writer() unwraps the CEK with platform.kek(kid, -5) BEFORE it
# returns, so nothing is written under a key that failed RFC 3394's
# integrity check. Errors: no KEK for the kid -> SUIT_ERR_UNSUPPORTED (the
# device is not a recipient of this payload: a provisioning matter); a KEK
# whose unwrap fails -> SUIT_ERR_AUTHENTICATION (wrong key or tampered
# wrapped CEK). CTR carries no integrity of its own: the processor's
# image-match over the plaintext (the writer's digest) is what authenticates
# the decrypted image.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import cbor
import hgcrypto

from suit_envelope import SuitError
from suit_envelope import SUIT_ERR_AUTHENTICATION, SUIT_ERR_INVALID_MANIFEST, SUIT_ERR_UNSUPPORTED
from suit_processor import write_chunks  # the processor imports us only when it runs

TAG_ENCRYPT = const(96)
TAG_ENCRYPT0 = const(16)
ALG_A256KW = const(-5)
ALG_A256CTR = const(-65532)
_H_ALG = const(1)
_H_KID = const(4)
_H_IV = const(5)
_IV_LEN = const(16)
_CEK_LEN = const(32)
_WRAPPED_LEN = const(40)  # RFC 3394: a 32-byte key plus the 8-byte check
_MAX_KID = const(64)
_MAX_INFO = const(512)  # one recipient needs ~100 bytes
_CHUNK = const(256)  # plaintext handed to the inner writer per call


def _invalid(msg):
    return SuitError(SUIT_ERR_INVALID_MANIFEST, msg)


def _unsupported(msg):
    return SuitError(SUIT_ERR_UNSUPPORTED, msg)


def _is_bytes(x):
    return isinstance(x, (bytes, bytearray, memoryview))


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _headers(prot, unprot, alg, allowed):
    # The algorithm (exactly `alg`, in either bucket but not both) and the
    # unprotected map checked against `allowed` labels. Returns unprot.
    if not _is_bytes(prot) or not isinstance(unprot, dict):
        raise _invalid("bad COSE headers")
    have = None
    if len(prot):
        try:
            pm = cbor.loads(bytes(prot), strict=True, max_depth=2, max_items=16)
        except ValueError:
            raise _invalid("bad protected header")
        if not isinstance(pm, dict):
            raise _invalid("bad protected header")
        for k in pm:
            if k != _H_ALG:
                raise _unsupported("protected header")
        have = pm.get(_H_ALG)
    for k in unprot:
        if not _is_int(k):
            raise _invalid("bad header label")
        if k not in allowed:
            raise _unsupported("header label")
    if _H_ALG in unprot:
        if have is not None:
            raise _invalid("alg in both buckets")
        have = unprot[_H_ALG]
    if have is None:
        raise _invalid("no alg")
    if not _is_int(have) or have != alg:
        raise _unsupported("encryption algorithm")
    return unprot


def parse_encryption_info(data):
    """(iv, kid, wrapped_cek) from a SUIT encryption-info bstr; kid is None
    when the recipient names none. SuitError for any other format."""
    if not _is_bytes(data):
        raise _invalid("encryption info not bstr")
    if len(data) > _MAX_INFO:
        raise _unsupported("encryption info too large")
    try:
        obj = cbor.loads(data, strict=True, zero_copy=True, max_depth=6, max_items=32)
    except ValueError:
        raise _invalid("bad encryption info")
    if not isinstance(obj, cbor.Tag):
        raise _invalid("encryption info not tagged")
    if obj.tag == TAG_ENCRYPT0:
        raise _unsupported("COSE_Encrypt0")
    if obj.tag != TAG_ENCRYPT:
        raise _invalid("encryption info tag")
    m = obj.value
    if not isinstance(m, list) or len(m) != 4:
        raise _invalid("bad COSE_Encrypt")
    unprot = _headers(m[0], m[1], ALG_A256CTR, (_H_ALG, _H_IV))
    iv = unprot.get(_H_IV)
    if not _is_bytes(iv) or len(iv) != _IV_LEN:
        raise _invalid("bad IV")
    if m[2] is not None:
        raise _unsupported("embedded ciphertext")
    recips = m[3]
    if not isinstance(recips, list) or not recips:
        raise _invalid("bad recipients")
    if len(recips) != 1:
        raise _unsupported("several recipients")
    r = recips[0]
    if not isinstance(r, list) or len(r) < 3:
        raise _invalid("bad recipient")
    if len(r) != 3:
        raise _unsupported("nested recipients")
    runprot = _headers(r[0], r[1], ALG_A256KW, (_H_ALG, _H_KID))
    kid = runprot.get(_H_KID)
    if kid is not None and (not _is_bytes(kid) or len(kid) > _MAX_KID):
        raise _invalid("bad kid")
    wrapped = r[2]
    if not _is_bytes(wrapped) or len(wrapped) != _WRAPPED_LEN:
        raise _invalid("bad wrapped key")
    return bytes(iv), (bytes(kid) if kid is not None else None), bytes(wrapped)


def unwrap_cek(enc_info, platform):
    """(cek, iv) for encryption-info bytes, with the KEK from platform.kek()."""
    iv, kid, wrapped = parse_encryption_info(enc_info)
    kek = platform.kek(kid, ALG_A256KW)
    if kek is None:
        raise _unsupported("no key-encryption key")
    if not _is_bytes(kek) or len(kek) != _CEK_LEN:
        raise _unsupported("bad key-encryption key")
    try:
        cek = hgcrypto.aes_key_unwrap(bytes(kek), wrapped)
    except hgcrypto.CryptoError:
        raise SuitError(SUIT_ERR_AUTHENTICATION, "key unwrap failed")
    if len(cek) != _CEK_LEN:
        raise SuitError(SUIT_ERR_AUTHENTICATION, "key unwrap failed")
    return cek, iv


class DecryptingWriter:
    """A Writer (suit_platform) that AES-256-CTR-decrypts every write()
    into `inner`; size/digest()/finish()/discard() are the inner writer's,
    so the digest is over the plaintext. Input is cut into _CHUNK-byte
    pieces: per call at most that much plaintext exists at once."""

    def __init__(self, cek, iv, inner):
        self._ctr = hgcrypto.AESCTR(cek, iv)
        self._inner = inner
        self._piece = self._decrypt  # bound once, not per write()

    @property
    def size(self):
        return self._inner.size

    def write(self, buf):
        write_chunks(self._piece, buf, _CHUNK)

    def _decrypt(self, piece):
        self._inner.write(self._ctr.update(piece))

    def digest(self):
        return self._inner.digest()

    def finish(self):
        return self._inner.finish()

    def discard(self):
        return self._inner.discard()


def decrypting_writer(enc_info, platform, writer):
    """Wrap `writer` so that ciphertext written to it lands as plaintext.
    The CEK is unwrapped here: SuitError before any byte is written."""
    cek, iv = unwrap_cek(enc_info, platform)
    return DecryptingWriter(cek, iv, writer)
