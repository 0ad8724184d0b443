# COSE API: round trips, Sign1 plumbing, COSE_Key, A256KW / A256CTR helpers,
# CWT wrapping, and replay of the saved fuzz corpus. Portable: pytest +
# MicroPython.
import hgtest
from hgtest import h, raises

import cbor
import cose
import hgcrypto

KEY32 = h("403697de87af64611c1d32a05dab0fe1fcb715a86ab435f1ec99192d79569388")
KEY16 = h("231f4c4d4d3051fdc2ec0a3851d5b383")
TOY_ALG = -65600  # private-use algorithm id for a test-only "signature"


def _toy_sign(key, tbs):
    return hgcrypto.hmac_sha256(key, tbs)


def _toy_verify(key, tbs, sig):
    return hgcrypto.ct_equal(hgcrypto.hmac_sha256(key, tbs), sig)


def test_registry():
    assert cose.get_alg(cose.ALG_HMAC_256_64).tag_len == 8
    assert cose.get_alg(cose.ALG_HMAC_256_256).tag_len == 32
    a = cose.get_alg(cose.ALG_AES_CCM_16_64_128, cose.KIND_AEAD)
    assert (a.key_len, a.nonce_len, a.tag_len) == (16, 13, 8)
    assert cose.get_alg(cose.ALG_HSS_LMS).kind == cose.KIND_SIGNATURE
    assert cose.get_alg(cose.ALG_A256KW).kind == cose.KIND_KEY_WRAP
    assert cose.get_alg(cose.ALG_A256CTR).kind == cose.KIND_CIPHER
    assert cose.ALG_A256CTR == -65532 and cose.ALG_A256KW == -5 and cose.ALG_HSS_LMS == -46
    raises(cose.COSEError, cose.get_alg, cose.ALG_HMAC_256_64, cose.KIND_AEAD)
    raises(cose.COSEError, cose.get_alg, 0xFFFF)  # unassigned id (host tests register ES256 themselves)
    raises(cose.COSEError, cose.register_signature_alg, cose.ALG_HMAC_256_64, _toy_verify)
    assert cose.hkdf_sha256 is hgcrypto.hkdf_sha256


def test_mac0_round_trip_options():
    for alg in (cose.ALG_HMAC_256_64, cose.ALG_HMAC_256_256):
        for tagged in (True, False):
            data = cose.mac0_create(
                KEY32, b"payload", alg=alg, unprotected={cose.H_KID: b"k1"}, external_aad=b"ext", tagged=tagged
            )
            assert (data[0] == 0xD1) == tagged
            if tagged:
                msg = cose.mac0_verify(KEY32, data, b"ext")
            else:
                raises(cose.COSEError, cose.decode, data)
                msg = cose.mac0_verify(KEY32, cose.decode(data, cose.TAG_MAC0), b"ext")
            assert msg.payload == b"payload" and msg.alg == alg
            assert msg.protected == {cose.H_ALG: alg} and msg.header(cose.H_KID) == b"k1"
            raises(cose.COSEVerifyError, cose.mac0_verify, KEY32, data, b"other")
            raises(cose.COSEVerifyError, cose.mac0_verify, KEY16, data, b"ext")
    raises(cose.COSEError, cose.mac0_create, b"", b"payload")  # empty key
    # empty protected bucket is encoded as h''
    data = cose.mac0_create(KEY32, b"", unprotected={cose.H_ALG: cose.ALG_HMAC_256_64})
    assert data[:3] == b"\xd1\x84\x40"
    assert cose.mac0_verify(KEY32, data).payload == b""


def test_decoded_message_is_not_verified():
    data = cose.mac0_create(KEY32, b"payload")
    msg = cose.decode(data)
    assert msg.payload is None and msg.content == b"payload"
    raises(cose.COSEVerifyError, cose.mac0_verify, KEY16, msg)
    assert msg.payload is None
    assert cose.mac0_verify(KEY32, msg) is msg and msg.payload == b"payload"
    raises(cose.COSEError, cose.encrypt0_decrypt, KEY16, msg)  # wrong message type


def test_encrypt0_round_trip_options():
    iv = h("0102030405060708090a0b0c0d")
    for tagged in (True, False):
        data = cose.encrypt0_create(KEY16, b"secret", iv=iv, external_aad=b"x", tagged=tagged)
        msg = cose.encrypt0_decrypt(KEY16, data if tagged else cose.decode(data, cose.TAG_ENCRYPT0), b"x")
        assert msg.payload == b"secret" and msg.unprotected[cose.H_IV] == iv
    # IV in the protected bucket
    data = cose.encrypt0_create(KEY16, b"secret", protected={cose.H_IV: iv})
    assert cose.encrypt0_decrypt(KEY16, data).protected[cose.H_IV] == iv
    # implicit IV (not sent): the receiver supplies it
    data = cose.encrypt0_create(KEY16, b"secret", iv=iv, send_iv=False)
    assert cose.H_IV not in cose.decode(data).unprotected
    raises(cose.COSEError, cose.encrypt0_decrypt, KEY16, data)
    assert cose.encrypt0_decrypt(KEY16, data, iv=iv).payload == b"secret"
    raises(cose.COSEVerifyError, cose.encrypt0_decrypt, KEY16, data, iv=bytes(13))
    # an IV header and a different caller IV disagree
    data = cose.encrypt0_create(KEY16, b"secret", iv=iv)
    raises(cose.COSEError, cose.encrypt0_decrypt, KEY16, data, iv=bytes(13))
    # Partial IV with a Context IV
    base = h("89f52f65a1c5809300000000ff")
    data = cose.encrypt0_create(KEY16, b"s", unprotected={cose.H_PARTIAL_IV: b"\x01\x02"}, base_iv=base)
    assert cose.encrypt0_decrypt(KEY16, data, base_iv=base).payload == b"s"
    raises(cose.COSEError, cose.encrypt0_decrypt, KEY16, data, base_iv=base[:8])
    # ciphertext shorter than the tag
    short = cose.encrypt0_create(KEY16, b"", iv=iv)
    msg = cose.decode(short)
    assert len(msg.content) == 8
    bad = cbor.dumps(cbor.Tag(16, [msg.protected_bytes, msg.unprotected, msg.content[:7]]))
    raises(cose.COSEVerifyError, cose.encrypt0_decrypt, KEY16, bad)


def test_sign1_with_registered_alg():
    cose.register_signature_alg(TOY_ALG, _toy_verify, _toy_sign)
    try:
        data = cose.sign1_create(KEY32, b"manifest", TOY_ALG, unprotected={cose.H_KID: b"a"}, external_aad=b"e")
        msg = cose.decode(data)
        assert msg.type == cose.TAG_SIGN1 and msg.protected == {cose.H_ALG: TOY_ALG}
        assert msg.tag_or_signature == hgcrypto.hmac_sha256(
            KEY32, cose.sig_structure(msg.protected_bytes, b"e", b"manifest")
        )
        assert cose.sign1_verify(KEY32, data, b"e", expected_alg=TOY_ALG).payload == b"manifest"
        raises(cose.COSEVerifyError, cose.sign1_verify, KEY32, data)
        raises(cose.COSEVerifyError, cose.sign1_verify, KEY16, data, b"e")
        raises(cose.COSEError, cose.sign1_verify, KEY32, data, b"e", expected_alg=cose.ALG_HSS_LMS)
        # detached payload (SUIT style), untagged
        det = cose.sign1_create(KEY32, b"digest", TOY_ALG, detached=True, tagged=False)
        assert det[0] == 0x84
        msg = cose.sign1_verify(KEY32, cose.decode(det, cose.TAG_SIGN1), detached_payload=b"digest")
        assert msg.payload == b"digest" and msg.content is None
        raises(cose.COSEError, cose.sign1_verify, KEY32, cose.decode(det, cose.TAG_SIGN1))
        # CWT tag 61 around the tagged Sign1 (EAT)
        cwt = cose.cwt_wrap(data)
        assert cwt[:3] == b"\xd8\x3d\xd2"
        raises(cose.COSEError, cose.decode, cwt)
        msg = cose.decode(cwt, cose.TAG_SIGN1, cwt=True)
        assert cose.sign1_verify(KEY32, msg, b"e").payload == b"manifest"
        raises(cose.COSEError, cose.cwt_wrap, det)
        raises(cose.COSEError, cose.decode, b"\xd8\x3d" + det, cose.TAG_SIGN1, True)

        # a verify hook that raises or returns a non-True value fails closed
        def bad_hook(pub, tbs, sig):
            raise ValueError("broken")

        cose.register_signature_alg(TOY_ALG, bad_hook)
        raises(cose.COSEVerifyError, cose.sign1_verify, KEY32, data, b"e")
        cose.register_signature_alg(TOY_ALG, lambda p, t, s: 1)
        raises(cose.COSEVerifyError, cose.sign1_verify, KEY32, data, b"e")
        raises(cose.COSEError, cose.sign1_create, KEY32, b"x", TOY_ALG)  # no sign hook
    finally:
        cose.ALGORITHMS.pop(TOY_ALG, None)
    raises(cose.COSEError, cose.sign1_verify, KEY32, data, b"e")


def test_structures_encoding():
    assert cose.enc_structure(b"", b"") == h("8368456e637279707430" + "4040")
    assert cose.mac_structure(b"", b"", b"") == h("84644d4143304040" + "40")
    assert cose.sig_structure(b"", b"", b"") == h("846a5369676e61747572653140" + "4040")
    big = bytes(300)
    assert cose.sig_structure(h("a10126"), b"a", big)[-303:] == h("59012c") + big
    assert cose.encode_protected({}) == b"" and cose.encode_protected(None) == b""
    assert cose.encode_protected({1: 5, 4: b"k"}) == h("a201050441" + "6b")


def test_cose_key_symmetric_and_key_ops():
    k = cose.decode_key(cbor.dumps({1: 4, 2: b"our-secret", 3: 5, -1: KEY32, 4: [9, 10]}))
    assert k.kty == cose.KTY_SYMMETRIC and k.k == KEY32 and k.kid == b"our-secret"
    data = cose.mac0_create(k, b"p", alg=cose.ALG_HMAC_256_256)
    assert cose.mac0_verify(k, data).payload == b"p"
    raises(cose.COSEError, cose.mac0_create, k, b"p")  # key restricted to alg 5
    verify_only = cose.decode_key({1: 4, -1: KEY32, 4: [10]})
    raises(cose.COSEError, cose.mac0_create, verify_only, b"p", alg=cose.ALG_HMAC_256_256)
    assert cose.mac0_verify(verify_only, data).payload == b"p"
    ccm = cose.decode_key({1: 4, 3: 10, -1: KEY16})
    enc = cose.encrypt0_create(ccm, b"m", iv=bytes(13))
    assert cose.encrypt0_decrypt(ccm, enc).payload == b"m"
    raises(cose.COSEError, cose.decode_key, {1: 4, 3: 10, -1: KEY32})  # AES-128 key length
    hss = cose.decode_key({1: cose.KTY_HSS_LMS, -1: b"\x00\x00\x00\x01"})
    raises(cose.COSEError, cose.mac0_create, hss, b"p")  # wrong key type


def test_cose_key_ec2_and_hss():
    x, y = bytes(range(32)), bytes(range(32, 64))
    k = cose.decode_key({1: 2, -1: 1, -2: x, -3: y, 3: -7})
    assert (k.kty, k.crv, k.x, k.y, k.d, k.alg) == (2, 1, x, y, None, -7)
    k = cose.decode_key({1: 2, -1: 1, -2: x, -3: True})
    assert k.y is True
    k = cose.decode_key({1: 5, 2: b"ItsBig", -1: b"\x00\x00\x00\x01"})
    assert k.pub == b"\x00\x00\x00\x01" and k.kid == b"ItsBig"
    # the suit examples' key, as the cose-wg JSON would give it (structure only)
    assert cose.decode_key(cbor.dumps({1: 2, -1: 1, -2: x, -3: y})).x == x


def test_cose_key_rejects_bad_fields():
    bad = (
        {},
        {2: b"kid"},
        {1: 4},
        {1: 4, -1: "text"},
        {1: 4, -1: b""},
        {1: 4, -1: KEY16, 2: "kid"},
        {1: 4, -1: KEY16, 3: b"\x05"},
        {1: 4, -1: KEY16, 4: []},
        {1: 4, -1: KEY16, 4: 1},
        {1: 4, -1: KEY16, 4: [b"x"]},
        {1: 4, -1: KEY16, 5: "iv"},
        {1: 4, -1: KEY16, b"x": 1},
        {1: 3, -1: b"n", -2: b"e"},  # RSA: unsupported
        {1: b"\x04", -1: KEY16},
        {1: True, -1: KEY16},
        {1: 5},
        {1: 5, -1: "pub"},
        {1: 2, -2: b"x"},
        {1: 2, -1: 1},
        {1: 2, -1: 1, -2: 5},
        {1: 2, -1: 1, -2: b"x", -3: 5},
        {1: 2, -1: b"c", -2: b"x"},
    )
    for m in bad:
        try:
            cose.decode_key(m)
        except cose.COSEError:
            continue
        raise AssertionError("accepted: " + repr(m))
    for data in (b"", b"\x80", b"\xa1\x01", b"\xa1\x01\x04\x00", b"\xff", "a10104", None, 4):
        raises(cose.COSEError, cose.decode_key, data)


def test_a256kw_rfc3394():
    # RFC 3394 sections 4.3 and 4.6 (256-bit KEK)
    kek = h("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
    for cek, wrapped in (
        (
            h("00112233445566778899aabbccddeeff"),
            h("64e8c3f9ce0f5ba263e9777905818a2a93c8191e7d6e8ae7"),
        ),
        (
            h("00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f"),
            h("28c9f404c4b810f4cbccb35cfb87f8263f5786e2d80ed326cbc7f0e71a99f43bfb988b9b7a02dd21"),
        ),
    ):
        assert cose.key_wrap(kek, cek) == wrapped
        assert cose.key_unwrap(kek, wrapped) == cek
        t = bytearray(wrapped)
        t[-1] ^= 1
        e = raises(cose.COSEVerifyError, cose.key_unwrap, kek, bytes(t))
        assert str(e) == "verification failed"
    raises(cose.COSEVerifyError, cose.key_unwrap, kek, bytes(20))
    raises(cose.COSEError, cose.key_wrap, kek[:16], bytes(16))  # A256KW needs a 256-bit KEK
    raises(cose.COSEError, cose.key_wrap, kek, bytes(12))
    raises(cose.COSEError, cose.key_wrap, kek, bytes(16), cose.ALG_A256CTR)
    # the KEK as a COSE_Key: alg and key_ops restrictions apply
    k = cose.decode_key({1: 4, 3: cose.ALG_A256KW, 4: [cose.OP_UNWRAP_KEY], -1: kek})
    assert cose.key_unwrap(k, wrapped) == cek
    raises(cose.COSEError, cose.key_wrap, k, cek)
    raises(cose.COSEError, cose.decode_key, {1: 4, 3: cose.ALG_A256KW, -1: kek[:16]})


def test_a256ctr_sp800_38a():
    # NIST SP 800-38A F.5.5 CTR-AES256.Encrypt, blocks 1-2
    key = h("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
    iv = h("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
    pt = h("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
    ct = h("601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5")
    assert cose.ctr_crypt(key, iv, pt) == ct
    assert cose.ctr_crypt(key, iv, ct) == pt
    assert cose.ctr_crypt(key, iv, pt[:5]) == ct[:5]
    raises(cose.COSEError, cose.ctr_crypt, key, iv[:13], pt)
    raises(cose.COSEError, cose.ctr_crypt, key[:16], iv, pt)


def test_fuzz_corpus_replay():
    # Inputs found/kept by host_tests/test_cose_props.py: each must either
    # decode or raise COSEError, through every entry point.
    corpus = hgtest.vectors("cose/fuzz_corpus.json")["inputs"]
    assert len(corpus) > 20
    for hexs in corpus:
        data = h(hexs)
        for fn in (
            lambda d: cose.decode(d, cose.TAG_MAC0),
            lambda d: cose.decode(d, cose.TAG_SIGN1, cwt=True),
            lambda d: cose.mac0_verify(KEY32, d),
            lambda d: cose.encrypt0_decrypt(KEY16, d, iv=bytes(13)),
            lambda d: cose.sign1_verify(KEY32, d),
            cose.decode_key,
        ):
            try:
                fn(data)
            except cose.COSEError:
                pass
