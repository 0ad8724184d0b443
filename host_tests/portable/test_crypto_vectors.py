# Known-answer and negative tests for lib/hgcrypto. Portable: runs under
# pytest (CPython, cryptography backend) and under MicroPython via
# mp_runner.py (cryptolib backend). Vectors: host_tests/vectors/crypto/.
import hgcrypto
from hgtest import h, hx, raises, skip, vectors

CryptoError = hgcrypto.CryptoError
AuthenticationError = hgcrypto.AuthenticationError


def _v(name):
    return vectors("crypto/" + name)["vectors"]


def _flip(data, i, bit=1):
    b = bytearray(data)
    b[i] ^= bit
    return bytes(b)


def _chunks(data, sizes):
    # Yield pieces of data cycling through `sizes` (a generator, so long
    # inputs cut in 1-byte pieces stay cheap on small heaps).
    pos = 0
    k = 0
    while pos < len(data):
        n = sizes[k % len(sizes)]
        yield data[pos : pos + n]
        pos += n
        k += 1


def _stream(s, data, sizes):
    # Feed data to s.update() in pieces; return the concatenated output.
    out = bytearray()
    for piece in _chunks(data, sizes):
        out.extend(s.update(piece))
    return bytes(out)


def _skip_192(what):
    skip(what + ": 192-bit AES keys are not supported by this " + hgcrypto.BACKEND + " build")


# ---------------------------------------------------------------- general


def test_backend_and_errors():
    assert hgcrypto.BACKEND in ("cryptolib", "cryptography")
    assert issubclass(CryptoError, ValueError)
    assert issubclass(AuthenticationError, CryptoError)
    assert 16 in hgcrypto.AES_KEY_LENGTHS and 32 in hgcrypto.AES_KEY_LENGTHS


# ---------------------------------------------------------------- SHA-256


def test_sha256_vectors():
    for v in _v("sha256.json"):
        msg = h(v["msg"])
        assert hx(hgcrypto.sha256_digest(msg)) == v["digest"], v["name"]
        assert hx(hgcrypto.sha256(msg).digest()) == v["digest"], v["name"]
        assert hx(hgcrypto.sha256(data=msg).digest()) == v["digest"], v["name"]
        s = hgcrypto.sha256()
        for piece in _chunks(msg, [1, 5, 17]):
            s.update(piece)
        assert hx(s.digest()) == v["digest"], v["name"]


# ---------------------------------------------------------------- HMAC


def test_hmac_sha256_vectors():
    for v in _v("hmac_sha256.json"):
        key = h(v["key"])
        data = h(v["data"])
        n = v["trunc"]
        assert hx(hgcrypto.hmac_sha256(key, data)[:n]) == v["mac"], v["name"]
        m = hgcrypto.HMACSHA256(key)
        for piece in _chunks(data, [3, 64, 1]):
            m.update(piece)
        assert hx(m.digest()[:n]) == v["mac"], v["name"]


def test_hmac_incremental_digest_repeatable():
    m = hgcrypto.HMACSHA256(b"Jefe")
    m.update(b"what do ya want ")
    m.update(b"for nothing?")
    d = m.digest()
    assert d == m.digest()
    assert hx(d) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    raises(CryptoError, m.update, b"more")


def test_hmac_key_exactly_block_size():
    # 64-byte key is used as-is, 65-byte key is hashed first.
    k64 = bytes(range(64))
    k65 = bytes(range(65))
    assert hgcrypto.hmac_sha256(k64, b"x") != hgcrypto.hmac_sha256(k64[:63], b"x")
    assert hgcrypto.hmac_sha256(k65, b"x") == hgcrypto.hmac_sha256(hgcrypto.sha256_digest(k65), b"x")


# ---------------------------------------------------------------- HKDF


def test_hkdf_sha256_vectors():
    for v in _v("hkdf_sha256.json"):
        ikm = h(v["ikm"])
        salt = h(v["salt"])
        info = h(v["info"])
        n = v["length"]
        prk = hgcrypto.hkdf_extract(salt, ikm)
        assert hx(prk) == v["prk"], v["name"]
        assert hx(hgcrypto.hkdf_expand(prk, info, n)) == v["okm"], v["name"]
        assert hx(hgcrypto.hkdf_sha256(ikm, salt, info, n)) == v["okm"], v["name"]
        if not salt:
            assert hx(hgcrypto.hkdf_sha256(ikm, None, info, n)) == v["okm"], v["name"]


def test_hkdf_lengths():
    prk = bytes(32)
    assert hgcrypto.hkdf_expand(prk, b"", 0) == b""
    e = raises(CryptoError, hgcrypto.hkdf_expand, prk, b"i", 255 * 32 + 1)
    assert not isinstance(e, AuthenticationError)
    raises(CryptoError, hgcrypto.hkdf_sha256, b"ikm", None, b"", 255 * 32 + 1)
    raises(CryptoError, hgcrypto.hkdf_sha256, b"ikm", None, b"", -1)
    # Outputs are prefixes of each other.
    o33 = hgcrypto.hkdf_expand(prk, b"i", 33)
    assert hgcrypto.hkdf_expand(prk, b"i", 65)[:33] == o33
    try:
        full = hgcrypto.hkdf_expand(prk, b"i", 255 * 32)
    except MemoryError:
        skip("HKDF 8160-byte maximum output: not enough heap here")
    assert len(full) == 255 * 32 and full[:33] == o33


# ---------------------------------------------------------------- AES block


def _aes_block_check(v):
    a = hgcrypto.AES(h(v["key"]))
    assert hx(a.encrypt_block(h(v["pt"]))) == v["ct"], v["name"]
    assert hx(a.decrypt_block(h(v["ct"]))) == v["pt"], v["name"]
    # Encrypt still works after the object has decrypted (cryptolib
    # objects are one-direction; AES must hide that).
    assert hx(a.encrypt_block(h(v["pt"]))) == v["ct"], v["name"]
    # A fresh object that decrypts first.
    b = hgcrypto.AES(h(v["key"]))
    assert hx(b.decrypt_block(h(v["ct"]))) == v["pt"], v["name"]


def test_aes_block_fips197_128_256():
    n = 0
    for v in _v("aes_block.json"):
        if len(h(v["key"])) != 24:
            _aes_block_check(v)
            n += 1
    assert n == 2


def test_aes_block_fips197_192():
    for v in _v("aes_block.json"):
        if len(h(v["key"])) == 24:
            if 24 not in hgcrypto.AES_KEY_LENGTHS:
                raises(CryptoError, hgcrypto.AES, h(v["key"]))
                _skip_192("FIPS-197 C.2")
            _aes_block_check(v)


def test_aes_bad_parameters():
    for n in (0, 8, 15, 17, 31, 33, 64):
        e = raises(CryptoError, hgcrypto.AES, bytes(n))
        assert str(e) == "bad key length"
    a = hgcrypto.AES(bytes(16))
    raises(CryptoError, a.encrypt_block, bytes(15))
    raises(CryptoError, a.encrypt_block, bytes(32))
    raises(CryptoError, a.decrypt_block, bytes(17))


# ---------------------------------------------------------------- CTR


def _ref_ctr(key, counter, data):
    # Slow independent reference: one encrypt_block per block, counter
    # incremented by a byte-wise carry over all 16 bytes.
    a = hgcrypto.AES(key)
    c = bytearray(counter)
    out = bytearray(len(data))
    for pos in range(0, len(data), 16):
        ks = a.encrypt_block(bytes(c))
        for j in range(min(16, len(data) - pos)):
            out[pos + j] = data[pos + j] ^ ks[j]
        i = 15
        while i >= 0:
            c[i] = (c[i] + 1) & 0xFF
            if c[i]:
                break
            i -= 1
    return bytes(out)


def _ctr_check(v):
    key = h(v["key"])
    ctr = h(v["counter"])
    pt = h(v["pt"])
    ct = h(v["ct"])
    assert hx(hgcrypto.aes_ctr(key, ctr, pt)) == v["ct"], v["name"]
    assert hgcrypto.aes_ctr(key, ctr, ct) == pt, v["name"]
    s = hgcrypto.AESCTR(key, ctr)
    got = _stream(s, pt, [5, 11, 16, 1, 31])
    assert got == ct, v["name"]


def test_ctr_sp800_38a_128_256():
    n = 0
    for v in _v("aes_ctr.json"):
        if len(h(v["key"])) != 24:
            _ctr_check(v)
            n += 1
    assert n == 2


def test_ctr_sp800_38a_192():
    for v in _v("aes_ctr.json"):
        if len(h(v["key"])) == 24:
            if 24 not in hgcrypto.AES_KEY_LENGTHS:
                raises(CryptoError, hgcrypto.aes_ctr, h(v["key"]), h(v["counter"]), b"x")
                _skip_192("SP 800-38A F.5.3")
            _ctr_check(v)


def test_ctr_streaming_odd_chunks_equal_one_shot():
    key = bytes(range(32))
    ctr = h("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
    data = bytes((i * 7 + 3) & 0xFF for i in range(700))  # > one 512-byte keystream batch
    one = hgcrypto.aes_ctr(key, ctr, data)
    assert one == _ref_ctr(key, ctr, data)
    for sizes in ([1], [3], [7, 13], [15, 16, 17], [31, 1, 64, 5], [513], [520, 0, 1]):
        s = hgcrypto.AESCTR(key, ctr)
        assert _stream(s, data, sizes) == one, sizes
    s = hgcrypto.AESCTR(key, ctr)
    assert s.update(b"") == b""
    assert s.update(bytearray(data[:10])) + s.update(memoryview(data)[10:]) == one


def test_ctr_counter_wraps_and_carries():
    key = bytes(range(16))
    data = bytes(range(80))
    for c in (
        "ffffffffffffffffffffffffffffffff",  # wraps mod 2^128
        "fffffffffffffffffffffffffffffffe",
        "00000000000000fffffffffffffffffe",  # carry out of the low 64 bits
        "000102030405060708090a0bfffffffd",  # carry out of the low 32 bits
    ):
        ctr = h(c)
        assert hgcrypto.aes_ctr(key, ctr, data) == _ref_ctr(key, ctr, data), c
        s = hgcrypto.AESCTR(key, ctr)
        assert _stream(s, data, [9, 23]) == _ref_ctr(key, ctr, data), c
    # The wrap also happens inside one full keystream batch (32 blocks).
    ctr = h("ffffffffffffffffffffffffffffffec")
    big = bytes(40 * 16 + 3)
    assert hgcrypto.aes_ctr(key, ctr, big) == _ref_ctr(key, ctr, big)


def test_ctr_bad_parameters():
    raises(CryptoError, hgcrypto.aes_ctr, bytes(16), bytes(15), b"x")
    raises(CryptoError, hgcrypto.AESCTR, bytes(16), bytes(17))
    raises(CryptoError, hgcrypto.aes_ctr, bytes(20), bytes(16), b"x")


# ---------------------------------------------------------------- CCM


def _ccm_check_all(vs):
    for v in vs:
        key = h(v["key"])
        nonce = h(v["nonce"])
        aad = h(v["aad"])
        pt = h(v["pt"])
        tl = v["tag_len"]
        assert hx(hgcrypto.aes_ccm_encrypt(key, nonce, pt, aad, tl)) == v["ct"], v["name"]
        assert hgcrypto.aes_ccm_decrypt(key, nonce, h(v["ct"]), aad, tl) == pt, v["name"]
        assert hgcrypto.aes_ccm_decrypt(key, nonce, h(v["ct"]), aad=aad, tag_len=tl) == pt, v["name"]


def test_ccm_rfc3610_packet_vectors():
    vs = _v("aes_ccm_rfc3610.json")
    assert len(vs) == 13
    assert len([v for v in vs if v["tag_len"] == 10]) == 6
    _ccm_check_all(vs)


def test_ccm_sp800_38c_and_aes256_vectors():
    vs = _v("aes_ccm_nist.json")
    assert len(vs) == 7
    _ccm_check_all(vs)


def test_ccm_long_aad_0xfffe_encoding():
    v = vectors("crypto/aes_ccm_nist.json")["long_aad"]
    try:
        aad = bytes(range(256)) * v["aad_pattern_repeat"]
        got = hgcrypto.aes_ccm_encrypt(h(v["key"]), h(v["nonce"]), h(v["pt"]), aad, v["tag_len"])
        back = hgcrypto.aes_ccm_decrypt(h(v["key"]), h(v["nonce"]), got, aad, v["tag_len"])
    except MemoryError:
        skip("SP 800-38C C.4 needs a 64 KiB AAD buffer; not enough heap here")
    assert hx(got) == v["ct"], v["name"]
    assert back == h(v["pt"])


def test_ccm_tampering_raises_authentication_error():
    v = _v("aes_ccm_rfc3610.json")[0]  # RFC 3610 #1
    key = h(v["key"])
    nonce = h(v["nonce"])
    aad = h(v["aad"])
    ct = h(v["ct"])
    tl = v["tag_len"]
    cases = []
    for i in (0, len(ct) - tl - 1, len(ct) - tl, len(ct) - 1):  # ciphertext and tag bytes
        cases.append((key, nonce, _flip(ct, i), aad))
    cases.append((key, nonce, ct, _flip(aad, 0)))
    cases.append((key, nonce, ct, aad + b"\x00"))
    cases.append((key, nonce, ct, b""))
    cases.append((key, _flip(nonce, 12), ct, aad))
    cases.append((_flip(key, 5), nonce, ct, aad))
    cases.append((key, nonce, ct[:-1], aad))
    cases.append((key, nonce, ct + b"\x00", aad))
    for k, n, c, a in cases:
        e = raises(AuthenticationError, hgcrypto.aes_ccm_decrypt, k, n, c, a, tl)
        assert str(e) == "authentication failed"
    # Wrong tag length on decrypt is an authentication failure too.
    raises(AuthenticationError, hgcrypto.aes_ccm_decrypt, key, nonce, ct, aad, 10)
    # Shorter than the tag.
    raises(AuthenticationError, hgcrypto.aes_ccm_decrypt, key, nonce, ct[:tl - 1], aad, tl)
    raises(AuthenticationError, hgcrypto.aes_ccm_decrypt, key, nonce, b"", aad, tl)


def test_ccm_bad_parameters_raise_crypto_error():
    key = bytes(16)
    for nl in (0, 6, 14, 16):
        e = raises(CryptoError, hgcrypto.aes_ccm_encrypt, key, bytes(nl), b"p")
        assert not isinstance(e, AuthenticationError)
        assert str(e) == "bad nonce length"
        e = raises(CryptoError, hgcrypto.aes_ccm_decrypt, key, bytes(nl), bytes(16))
        assert not isinstance(e, AuthenticationError)
    for tl in (0, 2, 3, 5, 7, 9, 17, 18):
        e = raises(CryptoError, hgcrypto.aes_ccm_encrypt, key, bytes(13), b"p", b"", tl)
        assert str(e) == "bad tag length"
        e = raises(CryptoError, hgcrypto.aes_ccm_decrypt, key, bytes(13), bytes(32), b"", tl)
        assert not isinstance(e, AuthenticationError)
    for kl in (0, 15, 17, 33):
        raises(CryptoError, hgcrypto.aes_ccm_encrypt, bytes(kl), bytes(13), b"p")


def test_ccm_cose_alg10_roundtrip_all_lengths():
    # COSE alg 10 AES-CCM-16-64-128: 16-byte key, 13-byte nonce, 8-byte tag.
    key = bytes(range(16))
    nonce = bytes(range(100, 113))
    aad = b"\x83hEncrypt0\x40\x40"
    prev = None
    for n in range(0, 50):
        pt = bytes((i * 13) & 0xFF for i in range(n))
        ct = hgcrypto.aes_ccm_encrypt(key, nonce, pt, aad)
        assert len(ct) == n + 8
        assert hgcrypto.aes_ccm_decrypt(key, nonce, ct, aad) == pt
        # CTR keystream is shared: longer messages extend shorter ones.
        if prev is not None:
            assert ct[: n - 1] == prev[: n - 1]
        prev = ct
    # All tag lengths and nonce lengths round-trip, with and without AAD.
    for tl in (4, 6, 8, 10, 12, 14, 16):
        for nl in (7, 8, 10, 12, 13):
            for a in (b"", b"a", bytes(16), bytes(33)):
                pt = bytes(range(nl + tl))
                ct = hgcrypto.aes_ccm_encrypt(key, bytes(range(nl)), pt, a, tl)
                assert hgcrypto.aes_ccm_decrypt(key, bytes(range(nl)), ct, a, tl) == pt


def test_ccm_accepts_bytearray_and_memoryview():
    v = _v("aes_ccm_rfc3610.json")[1]
    key = bytearray(h(v["key"]))
    nonce = memoryview(h(v["nonce"]))
    aad = bytearray(h(v["aad"]))
    pt = memoryview(h(v["pt"]))
    out = hgcrypto.aes_ccm_encrypt(key, nonce, pt, aad, v["tag_len"])
    assert isinstance(out, bytes)
    assert hx(out) == v["ct"]
    back = hgcrypto.aes_ccm_decrypt(key, nonce, bytearray(out), aad, v["tag_len"])
    assert isinstance(back, bytes) and back == bytes(pt)


def test_aes_instance_accepted_as_key():
    v = _v("aes_ccm_rfc3610.json")[0]
    a = hgcrypto.AES(h(v["key"]))
    nonce = h(v["nonce"])
    aad = h(v["aad"])
    pt = h(v["pt"])
    assert hx(hgcrypto.aes_ccm_encrypt(a, nonce, pt, aad, v["tag_len"])) == v["ct"]
    assert hgcrypto.aes_ccm_decrypt(a, nonce, h(v["ct"]), aad, v["tag_len"]) == pt
    ctr = bytes(16)
    assert hgcrypto.aes_ctr(a, ctr, pt) == hgcrypto.aes_ctr(h(v["key"]), ctr, pt)
    assert hgcrypto.AESCTR(a, ctr).update(pt) == hgcrypto.aes_ctr(h(v["key"]), ctr, pt)
    w = _v("aes_keywrap.json")[0]
    kek = hgcrypto.AES(h(w["kek"]))
    assert hx(hgcrypto.aes_key_wrap(kek, h(w["key_data"]))) == w["wrapped"]
    assert hgcrypto.aes_key_unwrap(kek, h(w["wrapped"])) == h(w["key_data"])


# ---------------------------------------------------------------- key wrap


def _kw_check(v):
    kek = h(v["kek"])
    kd = h(v["key_data"])
    assert hx(hgcrypto.aes_key_wrap(kek, kd)) == v["wrapped"], v["name"]
    assert hgcrypto.aes_key_unwrap(kek, h(v["wrapped"])) == kd, v["name"]


def test_keywrap_rfc3394_128_256_kek():
    n = 0
    for v in _v("aes_keywrap.json"):
        if len(h(v["kek"])) != 24:
            _kw_check(v)
            n += 1
    assert n == 4


def test_keywrap_rfc3394_192_kek():
    vs = [v for v in _v("aes_keywrap.json") if len(h(v["kek"])) == 24]
    assert len(vs) == 2
    if 24 not in hgcrypto.AES_KEY_LENGTHS:
        raises(CryptoError, hgcrypto.aes_key_wrap, h(vs[0]["kek"]), h(vs[0]["key_data"]))
        _skip_192("RFC 3394 4.2 and 4.4")
    for v in vs:
        _kw_check(v)


def test_keywrap_tamper_raises_authentication_error():
    v = _v("aes_keywrap.json")[0]
    kek = h(v["kek"])
    wrapped = h(v["wrapped"])
    for i in range(len(wrapped)):
        for bit in (0x01, 0x80):
            e = raises(AuthenticationError, hgcrypto.aes_key_unwrap, kek, _flip(wrapped, i, bit))
            assert str(e) == "authentication failed"
    raises(AuthenticationError, hgcrypto.aes_key_unwrap, _flip(kek, 0), wrapped)


def test_keywrap_bad_lengths():
    kek = bytes(16)
    for n in (0, 8, 12, 17, 23):
        e = raises(CryptoError, hgcrypto.aes_key_wrap, kek, bytes(n))
        assert not isinstance(e, AuthenticationError)
    for n in (0, 8, 16, 25, 31):
        e = raises(CryptoError, hgcrypto.aes_key_unwrap, kek, bytes(n))
        assert not isinstance(e, AuthenticationError)
    raises(CryptoError, hgcrypto.aes_key_wrap, bytes(15), bytes(16))
    # Longer key data (n = 5 semiblocks) round-trips.
    kd = bytes(range(40))
    assert hgcrypto.aes_key_unwrap(bytes(32), hgcrypto.aes_key_wrap(bytes(32), kd)) == kd


# ---------------------------------------------------------------- misc


def test_ct_equal():
    ce = hgcrypto.ct_equal
    assert ce(b"", b"")
    assert ce(b"abc", b"abc")
    assert ce(b"abc", bytearray(b"abc"))
    assert ce(memoryview(b"xabc")[1:], b"abc")
    assert not ce(b"abc", b"abd")
    assert not ce(b"abc", b"bbc")
    assert not ce(b"abc", b"ab")
    assert not ce(b"ab", b"abc")
    assert not ce(b"", b"\x00")
    assert not ce(b"\x00", b"")
    assert not ce(bytes(32), _flip(bytes(32), 31, 0x80))
    assert not ce(bytes(16), bytes(17))


def test_random_bytes():
    import os

    if not hasattr(os, "urandom"):
        # The qemu image has no entropy source: the seam must say so, not
        # return predictable bytes.
        raises(CryptoError, hgcrypto.random_bytes, 16)
        skip("this port has no os.urandom (random_bytes raises CryptoError, as checked)")
    a = hgcrypto.random_bytes(32)
    b = hgcrypto.random_bytes(32)
    assert isinstance(a, bytes) and len(a) == 32
    assert a != b
    assert hgcrypto.random_bytes(0) == b""
    raises(CryptoError, hgcrypto.random_bytes, -1)
