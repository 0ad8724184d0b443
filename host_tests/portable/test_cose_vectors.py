# COSE WG examples (cose-wg/Examples@53c9d634333b, trimmed copies in
# host_tests/vectors/cose/): Mac0 HMAC 256/64 + 256/256, Encrypt0
# AES-CCM-16-64-128, Sign1 HSS-LMS structure. Portable: pytest + MicroPython.
import hgtest
from hgtest import h, raises

import cose
import hgcrypto

# mac0.json "failure" values (the cose-wg mutation applied to the output)
_F_CBOR_TAG = "ChangeCBORTag"
_F_MAC_TAG = "ChangeTag"
_F_ALG = "ChangeAttr"


def _mac_cases():
    return hgtest.vectors("cose/mac0.json")["cases"]


def _enc_cases():
    return hgtest.vectors("cose/encrypt0.json")["cases"]


def test_mac0_pass_cases_verify_and_match_to_mac():
    n = 0
    for c in _mac_cases():
        if c["fail"]:
            continue
        key, data, ext = h(c["key"]), h(c["cbor"]), h(c["external"])
        msg = cose.mac0_verify(key, data, external_aad=ext)
        assert msg.payload == h(c["payload"]), c["name"]
        assert msg.type == cose.TAG_MAC0
        # ToBeMaced bytes, and the tag is HMAC over exactly those bytes
        to_mac = cose.mac_structure(msg.protected_bytes, ext, msg.content)
        assert to_mac == h(c["to_mac"]), c["name"]
        tag = hgcrypto.hmac_sha256(key, to_mac)[: len(msg.tag_or_signature)]
        assert tag == msg.tag_or_signature, c["name"]
        assert msg.alg in (cose.ALG_HMAC_256_64, cose.ALG_HMAC_256_256)
        if msg.alg == cose.ALG_HMAC_256_64:
            assert len(msg.tag_or_signature) == 8
        n += 1
    assert n == 8


def test_mac0_pass_cases_reproduce_output_bytes():
    for c in _mac_cases():
        if c["fail"]:
            continue
        key, data, ext = h(c["key"]), h(c["cbor"]), h(c["external"])
        msg = cose.decode(data, cose.TAG_MAC0)
        out = cose.mac0_create(
            key,
            msg.content,
            alg=msg.alg,
            protected=msg.protected,
            unprotected=msg.unprotected,
            external_aad=ext,
            tagged=data[0] == 0xD1,
        )
        if data[2:4] == b"\x41\xa0":
            # mac-pass-01 sends the empty bucket as h'a0'; we always encode h''
            assert c["name"] == "mac-pass-01"
            assert out == data[:2] + b"\x40" + data[4:], c["name"]
        else:
            assert out == data, c["name"]


def test_mac0_fail_cases():
    n = 0
    for c in _mac_cases():
        if not c["fail"]:
            continue
        key, data, ext = h(c["key"]), h(c["cbor"]), h(c["external"])
        f = c["failure"]
        if _F_CBOR_TAG in f:
            e = raises(cose.COSEError, cose.mac0_verify, key, data, ext)
            assert not isinstance(e, cose.COSEVerifyError)
            raises(cose.COSEError, cose.decode, data)
        elif _F_ALG in f:
            e = raises(cose.COSEError, cose.mac0_verify, key, data, ext)
            assert not isinstance(e, cose.COSEVerifyError)
            assert "algorithm" in str(e), c["name"]
        else:
            # changed tag, added / removed protected header -> MAC mismatch
            e = raises(cose.COSEVerifyError, cose.mac0_verify, key, data, ext)
            assert str(e) == "verification failed"
            if _F_MAC_TAG in f:
                msg = cose.decode(data, cose.TAG_MAC0)
                assert cose.mac_structure(msg.protected_bytes, ext, msg.content) == h(c["to_mac"])
        n += 1
    assert n == 7


def test_mac0_expected_alg_and_detached():
    c = _mac_cases()[0]  # HMac-01, HS256
    key, data = h(c["key"]), h(c["cbor"])
    assert cose.mac0_verify(key, data, expected_alg=cose.ALG_HMAC_256_256).payload == h(c["payload"])
    raises(cose.COSEError, cose.mac0_verify, key, data, expected_alg=cose.ALG_HMAC_256_64)
    # the same MAC over a detached payload
    det = cose.mac0_create(key, h(c["payload"]), alg=cose.ALG_HMAC_256_256, detached=True)
    msg = cose.decode(det, cose.TAG_MAC0)
    assert msg.content is None and msg.tag_or_signature == cose.decode(data).tag_or_signature
    assert cose.mac0_verify(key, det, detached_payload=h(c["payload"])).payload == h(c["payload"])
    raises(cose.COSEError, cose.mac0_verify, key, det)
    raises(cose.COSEVerifyError, cose.mac0_verify, key, det, detached_payload=b"other")
    raises(cose.COSEError, cose.mac0_verify, key, data, detached_payload=h(c["payload"]))


def _iv_args(c):
    if "partial_iv" in c:
        return {"unprotected": {cose.H_PARTIAL_IV: h(c["partial_iv"])}, "base_iv": h(c["base_iv"])}
    return {"iv": h(c["iv"])}


def test_encrypt0_vectors_decrypt_and_aad():
    for c in _enc_cases():
        key, data = h(c["key"]), h(c["cbor"])
        msg = cose.decode(data, cose.TAG_ENCRYPT0)
        assert msg.alg == cose.ALG_AES_CCM_16_64_128
        assert cose.enc_structure(msg.protected_bytes, b"") == h(c["aad"]), c["name"]
        base = h(c["base_iv"]) if "base_iv" in c else None
        out = cose.encrypt0_decrypt(key, data, base_iv=base)
        assert out.payload == h(c["plaintext"]), c["name"]
        assert out.tag_or_signature is None


def test_encrypt0_vectors_reproduce_output_bytes():
    for c in _enc_cases():
        out = cose.encrypt0_create(h(c["key"]), h(c["plaintext"]), **_iv_args(c))
        assert out == h(c["cbor"]), c["name"]


def test_encrypt0_partial_iv_context():
    c = [c for c in _enc_cases() if "partial_iv" in c][0]
    key, data = h(c["key"]), h(c["cbor"])
    # without the Context IV the Partial IV alone is not enough
    raises(cose.COSEError, cose.encrypt0_decrypt, key, data)
    # the Base IV may come from the COSE_Key
    k = cose.decode_key({1: 4, -1: key, 5: h(c["base_iv"])})
    assert cose.encrypt0_decrypt(k, data).payload == h(c["plaintext"])
    # a wrong Base IV gives a different nonce -> authentication fails
    bad = bytearray(h(c["base_iv"]))
    bad[0] ^= 1
    raises(cose.COSEVerifyError, cose.encrypt0_decrypt, key, data, base_iv=bytes(bad))


def test_encrypt0_tamper_fails_closed():
    c = _enc_cases()[0]
    key, data = h(c["key"]), h(c["cbor"])
    for i in (len(data) - 1, len(data) - 9, len(data) - 20):
        t = bytearray(data)
        t[i] ^= 0x01
        e = raises(cose.COSEVerifyError, cose.encrypt0_decrypt, key, bytes(t))
        assert str(e) == "verification failed"
    raises(cose.COSEVerifyError, cose.encrypt0_decrypt, key, data, b"aad")
    raises(cose.COSEVerifyError, cose.encrypt0_decrypt, bytes(16), data)
    raises(cose.COSEError, cose.encrypt0_decrypt, bytes(32), data)  # wrong key size
    raises(cose.COSEError, cose.encrypt0_decrypt, key, data, expected_alg=cose.ALG_HMAC_256_64)


def _hss():
    # the 2.5 KB Sign1 is kept as binary (no hex copy in RAM on small targets)
    v = hgtest.vectors("cose/hsssig.json")
    return v, hgtest.read_binary(v["cbor_file"])


def test_hss_lms_sign1_structure():
    v, data = _hss()
    msg = cose.decode(data, cose.TAG_SIGN1)
    assert msg.type == cose.TAG_SIGN1
    assert msg.alg == cose.ALG_HSS_LMS and msg.protected == {cose.H_ALG: cose.ALG_HSS_LMS}
    assert msg.header(cose.H_KID) == h(v["kid"])
    assert msg.content == h(v["payload"])
    tbs = cose.sig_structure(msg.protected_bytes, b"", msg.content)
    assert tbs == h(v["to_be_signed"])
    # HSS signature: Nspk(4) = 0 for a one-level tree, then the LMS signature
    assert msg.tag_or_signature[:4] == b"\x00\x00\x00\x00"


def test_hss_lms_hook_plumbing():
    v, data = _hss()
    pub = h(v["pub"])
    seen = []

    def fake_verify(p, tbs, sig):
        seen.append((p, tbs, sig))
        return len(seen) == 1  # accept once, then reject

    old = cose.ALGORITHMS[cose.ALG_HSS_LMS]
    try:
        cose.register_signature_alg(cose.ALG_HSS_LMS, fake_verify)
        k = cose.decode_key({1: cose.KTY_HSS_LMS, 2: h(v["kid"]), -1: pub})
        msg = cose.sign1_verify(k, data, expected_alg=cose.ALG_HSS_LMS)
        assert msg.payload == h(v["payload"])
        assert seen[0][0] == pub and seen[0][1] == h(v["to_be_signed"])
        assert seen[0][2] == msg.tag_or_signature
        raises(cose.COSEVerifyError, cose.sign1_verify, pub, data)
        raises(cose.COSEVerifyError, cose.sign1_verify, pub, data, b"x")
    finally:
        cose.ALGORITHMS[cose.ALG_HSS_LMS] = old


def test_hss_lms_unavailable_is_an_error():
    if cose.get_alg(cose.ALG_HSS_LMS).verify_fn is not None:
        hgtest.skip("an HSS-LMS implementation is registered")
    v, data = _hss()
    e = raises(cose.COSEError, cose.sign1_verify, h(v["pub"]), data)
    assert not isinstance(e, cose.COSEVerifyError)
    assert str(e) == "algorithm not available"
    raises(cose.COSEError, cose.sign1_create, b"k", b"payload", cose.ALG_HSS_LMS)


def test_hss_lms_signature_verifies():
    try:
        import lms
    except ImportError:
        hgtest.skip("the lms package is not on this runtime")
    lms.register_cose()
    v, data = _hss()
    assert cose.sign1_verify(h(v["pub"]), data).payload == h(v["payload"])
    # A flipped bit anywhere in the signed message fails closed.
    bad = bytearray(data)
    bad[-40] ^= 1
    hgtest.raises(cose.COSEVerifyError, cose.sign1_verify, h(v["pub"]), bytes(bad))
