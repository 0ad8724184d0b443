# SUIT encrypted payloads (lib/suit/suit_crypt.py): A256KW + A256CTR
# decryption while streaming into a Writer. The vector hg_create_enc.suit
# (ciphertext under "#app") and hg_enc.json (its KEK, kid, CEK, IV) were made
# by `hourglass suit create` and are cross-checked with `cryptography` in
# host_tests/test_suit_create.py. Portable: CPython, MicroPython, qemu.
import gc

import cbor
import hgcrypto

import suit_crypt as sc
import suit_envelope as se
from hgtest import h, raises, read_binary, vectors


class _Platform:
    def __init__(self, kek, kid):
        self._kek = kek
        self._kid = kid
        self.asked = []

    def kek(self, kid, alg):
        self.asked.append((kid, alg))
        if kid == self._kid and alg == -5:
            return self._kek
        return None


class _Writer:
    """Collects what reaches storage; refuses bytes past `limit`."""

    def __init__(self, limit=1 << 20):
        self.buf = bytearray()
        self.size = 0
        self.limit = limit
        self.biggest = 0
        self._h = hgcrypto.sha256()
        self.finished = False
        self.discarded = False

    def write(self, b):
        if self.size + len(b) > self.limit:
            raise se.SuitError(se.SUIT_ERR_NO_MEM, "image too large")
        if len(b) > self.biggest:
            self.biggest = len(b)
        self.buf.extend(b)
        self._h.update(b)
        self.size += len(b)

    def digest(self):
        return self._h.digest()

    def finish(self):
        self.finished = True

    def discard(self):
        self.discarded = True


def _vec():
    gc.collect()
    v = vectors("suit/hg_enc.json")
    return h(v["kek"]), v["kid"].encode(), h(v["cek"]), h(v["iv"]), h(v["encryption_info"])


def _ciphertext():
    env = se.decode_envelope(read_binary("suit/hg_create_enc.suit"))
    ct = bytes(env.payloads["#app"])
    env = None
    gc.collect()
    return ct


def _info(prot=b"", unprot=None, ct=None, recipients=None, tag=96):
    # an encryption-info bstr like the vector's, with parts replaced
    kek, kid, cek, iv, info = _vec()
    wrapped = sc.parse_encryption_info(info)[2]
    if unprot is None:
        unprot = {1: -65532, 5: iv}
    if recipients is None:
        recipients = [[b"", {1: -5, 4: kid}, wrapped]]
    return cbor.dumps(cbor.Tag(tag, [prot, unprot, ct, recipients]))


def test_parse_vector():
    kek, kid, cek, iv, info = _vec()
    got_iv, got_kid, wrapped = sc.parse_encryption_info(info)
    assert got_iv == iv and got_kid == kid and len(wrapped) == 40
    assert hgcrypto.aes_key_unwrap(kek, wrapped) == cek
    # the same info rebuilt field by field parses the same
    assert sc.parse_encryption_info(_info()) == (iv, kid, wrapped)


def test_decrypt_odd_chunkings():
    kek, kid, cek, iv, info = _vec()
    ct = _ciphertext()
    plain = read_binary("suit/hg_enc_plain.bin")
    assert len(ct) == len(plain) == 1029 and ct != plain
    want = hgcrypto.sha256_digest(plain)
    for step in (1, 15, 16, 17, 1000, 1029, 4096):
        gc.collect()
        inner = _Writer()
        p = _Platform(kek, kid)
        w = sc.decrypting_writer(info, p, inner)
        assert p.asked == [(kid, -5)]
        mv = memoryview(ct)
        for off in range(0, len(ct), step):
            w.write(mv[off : off + step])
            assert w.size == inner.size == min(off + step, len(ct))
        assert bytes(inner.buf) == plain, step
        assert w.digest() == want  # over the plaintext
        w.finish()
        assert inner.finished
        # never more than one bounded chunk of plaintext per inner write
        assert inner.biggest <= 256, inner.biggest


def test_writer_contract_delegates():
    kek, kid, cek, iv, info = _vec()
    inner = _Writer(limit=100)
    w = sc.decrypting_writer(info, _Platform(kek, kid), inner)
    w.write(b"\x00" * 100)
    e = raises(se.SuitError, w.write, b"\x00")
    assert e.code == se.SUIT_ERR_NO_MEM and inner.size == 100
    w.discard()
    assert inner.discarded
    # the keystream continues across writes exactly like one big write
    a = _Writer()
    b = _Writer()
    wa = sc.decrypting_writer(info, _Platform(kek, kid), a)
    wb = sc.decrypting_writer(info, _Platform(kek, kid), b)
    wa.write(b"\x00" * 300)
    wb.write(b"\x00" * 7)
    wb.write(b"\x00" * 293)
    assert a.buf == b.buf == bytearray(hgcrypto.aes_ctr(cek, iv, b"\x00" * 300))


def test_wrong_kek_and_kid():
    kek, kid, cek, iv, info = _vec()
    bad = bytearray(kek)
    bad[0] ^= 1
    inner = _Writer()
    e = raises(se.SuitError, sc.decrypting_writer, info, _Platform(bytes(bad), kid), inner)
    assert e.code == se.SUIT_ERR_AUTHENTICATION
    assert inner.size == 0
    # the platform holds no key for this kid
    e = raises(se.SuitError, sc.decrypting_writer, info, _Platform(kek, b"other-kid"), inner)
    assert e.code == se.SUIT_ERR_UNSUPPORTED
    # a KEK of the wrong size is the platform's error, refused as well
    e = raises(se.SuitError, sc.decrypting_writer, info, _Platform(kek[:16], kid), inner)
    assert e.code == se.SUIT_ERR_UNSUPPORTED
    # a tampered wrapped CEK fails RFC 3394's integrity check
    wrapped = bytearray(sc.parse_encryption_info(info)[2])
    wrapped[20] ^= 0x80
    bad_info = _info(recipients=[[b"", {1: -5, 4: kid}, bytes(wrapped)]])
    e = raises(se.SuitError, sc.decrypting_writer, bad_info, _Platform(kek, kid), inner)
    assert e.code == se.SUIT_ERR_AUTHENTICATION
    assert inner.size == 0


def test_iv_length():
    kek, kid, cek, iv, info = _vec()
    for bad in (iv[:15], iv + b"\x00", b"", 5):
        e = raises(se.SuitError, sc.parse_encryption_info, _info(unprot={1: -65532, 5: bad}))
        assert e.code == se.SUIT_ERR_INVALID_MANIFEST
    e = raises(se.SuitError, sc.parse_encryption_info, _info(unprot={1: -65532}))
    assert e.code == se.SUIT_ERR_INVALID_MANIFEST


def test_wrong_algorithms():
    kek, kid, cek, iv, info = _vec()
    wrapped = sc.parse_encryption_info(info)[2]
    # content: A128CTR (-65534), A256GCM (3); recipient: A128KW (-3), direct (-6)
    for unprot in ({1: -65534, 5: iv}, {1: 3, 5: iv}):
        e = raises(se.SuitError, sc.parse_encryption_info, _info(unprot=unprot))
        assert e.code == se.SUIT_ERR_UNSUPPORTED
    for alg in (-3, -6):
        bad = _info(recipients=[[b"", {1: alg, 4: kid}, wrapped]])
        e = raises(se.SuitError, sc.parse_encryption_info, bad)
        assert e.code == se.SUIT_ERR_UNSUPPORTED
    # COSE_Encrypt0 is not this profile
    e = raises(se.SuitError, sc.parse_encryption_info, _info(tag=16))
    assert e.code == se.SUIT_ERR_UNSUPPORTED


def test_protected_alg_accepted_once():
    kek, kid, cek, iv, info = _vec()
    wrapped = sc.parse_encryption_info(info)[2]
    ok = _info(prot=cbor.dumps({1: -65532}), unprot={5: iv},
               recipients=[[cbor.dumps({1: -5}), {4: kid}, wrapped]])
    assert sc.parse_encryption_info(ok) == (iv, kid, wrapped)
    e = raises(se.SuitError, sc.parse_encryption_info, _info(prot=cbor.dumps({1: -65532})))
    assert e.code == se.SUIT_ERR_INVALID_MANIFEST  # alg in both buckets
    bad = _info(prot=cbor.dumps({1: -65532, 4: b"x"}), unprot={5: iv})
    e = raises(se.SuitError, sc.parse_encryption_info, bad)
    assert e.code == se.SUIT_ERR_UNSUPPORTED  # more than alg protected
    # a recipient without kid asks the platform for kid None
    noid = _info(recipients=[[b"", {1: -5}, wrapped]])
    assert sc.parse_encryption_info(noid)[1] is None
    inner = _Writer()
    sc.decrypting_writer(noid, _Platform(kek, None), inner).write(b"\x00" * 16)
    assert bytes(inner.buf) == hgcrypto.aes_ctr(cek, iv, b"\x00" * 16)


def test_structure_errors():
    kek, kid, cek, iv, info = _vec()
    wrapped = sc.parse_encryption_info(info)[2]
    r = [b"", {1: -5, 4: kid}, wrapped]
    unsupported = [
        _info(ct=b"\x00" * 16),  # embedded ciphertext
        _info(recipients=[r, r]),  # several recipients
        _info(recipients=[r + [[]]]),  # nested recipients
        _info(unprot={1: -65532, 5: iv, 33: b"x"}),  # unknown header
        _info(recipients=[[b"", {1: -5, 4: kid, 7: b"x"}, wrapped]]),
        b"\x40" * 600,  # over the size cap
    ]
    for data in unsupported:
        e = raises(se.SuitError, sc.parse_encryption_info, data)
        assert e.code == se.SUIT_ERR_UNSUPPORTED, data
    invalid = [
        b"",
        b"\xff",
        cbor.dumps([b"", {}, None, []]),  # untagged
        cbor.dumps(cbor.Tag(97, [b"", {1: -65532, 5: iv}, None, [r]])),
        _info(recipients=[]),
        _info(recipients=[[b"", {1: -5, 4: kid}]]),
        _info(recipients=[[b"", {1: -5, 4: kid}, wrapped[:32]]]),
        _info(recipients=[[b"", {1: -5, 4: 7}, wrapped]]),
        _info(recipients=[[b"", {1: -5, 4: b"k" * 65}, wrapped]]),
        _info(recipients=[[b"\xff", {4: kid}, wrapped]]),
        _info(recipients=[[b"", {4: kid}, wrapped]]),  # no alg
        _info(unprot=[]),
        cbor.dumps(cbor.Tag(96, [b"", {1: -65532, 5: iv}, None])),
        info + b"\x00",  # trailing byte
        "text",
        None,
    ]
    for data in invalid:
        e = raises(se.SuitError, sc.parse_encryption_info, data)
        assert e.code == se.SUIT_ERR_INVALID_MANIFEST, data
    for n in range(len(info)):
        raises(se.SuitError, sc.parse_encryption_info, info[:n])
