# HSS-LMS in COSE (RFC 9708: alg -46, COSE_Key kty 5 with pub -1) through
# lib/cose's signature hook and the lms facade. CPython: pyhsslms checks
# the Sign1 messages we create.
import json
import os

import pyhsslms
import pytest

import cose
import hgstore
import lms
import lms_state

_VEC = os.path.join(os.path.dirname(__file__), "vectors", "lms", "py", "hsssig-sig-01.json")


@pytest.fixture()
def registered():
    old = cose.ALGORITHMS[cose.ALG_HSS_LMS]
    lms.register_cose()
    yield
    cose.ALGORITHMS[cose.ALG_HSS_LMS] = old


def _example():
    with open(_VEC) as f:
        d = json.load(f)
    key = d["input"]["sign0"]["key"]
    return {
        "pub": bytes.fromhex(key["public"]),
        "kid": key["kid"].encode(),
        "private": key["private"],
        "payload": d["input"]["plaintext"].encode(),
        "tbs": bytes.fromhex(d["intermediates"]["ToBeSign_hex"]),
        "cbor": bytes.fromhex(d["output"]["cbor"]),
    }


def test_cose_wg_hsssig_sig_01_verifies(registered):
    ex = _example()
    msg = cose.sign1_verify(ex["pub"], ex["cbor"])
    assert msg.payload == ex["payload"]
    assert msg.alg == cose.ALG_HSS_LMS
    assert cose.sig_structure(msg.protected_bytes, b"", msg.content) == ex["tbs"]
    # the same through a COSE_Key (ours, decoded by cose)
    k = cose.decode_key(lms.encode_cose_key(ex["pub"], ex["kid"]))
    assert k.kty == cose.KTY_HSS_LMS and k.pub == ex["pub"] and k.kid == ex["kid"]
    assert cose.sign1_verify(k, ex["cbor"], expected_alg=-46).payload == ex["payload"]
    # failures are COSEVerifyError, never a crash
    with pytest.raises(cose.COSEVerifyError):
        cose.sign1_verify(ex["pub"], ex["cbor"], external_aad=b"x")
    bad = bytearray(ex["cbor"])
    bad[-1] ^= 1
    with pytest.raises(cose.COSEVerifyError):
        cose.sign1_verify(ex["pub"], bytes(bad))
    with pytest.raises(cose.COSEVerifyError):
        cose.sign1_verify(ex["pub"][:-1], ex["cbor"])
    shake = ex["pub"][:4] + (20).to_bytes(4, "big") + (16).to_bytes(4, "big") + ex["pub"][12:36]
    with pytest.raises(cose.COSEVerifyError):
        cose.sign1_verify(shake, ex["cbor"])


def test_cose_wg_example_reproduced_from_its_private_key(registered):
    # private "1|6|3|SEED|0|I": L=1, H10/W4, leaf q=0. Signing is
    # deterministic (C from SEED), so the example's bytes come back exactly.
    ex = _example()
    levels, lt, ot, seed, q, ident = ex["private"].split("|")
    lt, ot, q = int(lt), int(ot), int(q)
    seed, ident = bytes.fromhex(seed), bytes.fromhex(ident)

    class OneLeaf:  # a throw-away stateless signer for this vector only
        def sign(self, tbs):
            return lms.hss_sig_from_lms(lms.lms_sign(lt, ot, ident, seed, q, tbs))

    assert lms.hss_keygen([(lt, ot)], [seed], [ident]) == ex["pub"]
    out = cose.sign1_create(OneLeaf(), ex["payload"], cose.ALG_HSS_LMS, unprotected={cose.H_KID: ex["kid"]})
    assert out == ex["cbor"]


def test_sign1_with_lms_state_verifies_with_pyhsslms(registered):
    st = hgstore.MemoryStorage()
    signer = lms_state.generate(st, params=[(5, 2), (5, 2)], chunk=4)
    pub = signer.public_key
    key = cose.decode_key(lms.encode_cose_key(pub, b"dev-1"))
    pk = pyhsslms.HssPublicKey.deserialize(pub)
    for payload, aad in ((b"firmware manifest", b""), (b"second", b"external")):
        data = cose.sign1_create(
            signer, payload, cose.ALG_HSS_LMS, unprotected={cose.H_KID: b"dev-1"}, external_aad=aad
        )
        msg = cose.sign1_verify(key, data, external_aad=aad)
        assert msg.payload == payload
        tbs = cose.sig_structure(msg.protected_bytes, aad, payload)
        assert pk.verify(tbs, msg.tag_or_signature)
        assert not pk.verify(tbs + b"x", msg.tag_or_signature)
    # detached payload
    data = cose.sign1_create(signer, b"detached", cose.ALG_HSS_LMS, detached=True)
    assert cose.sign1_verify(pub, data, detached_payload=b"detached").payload == b"detached"
    with pytest.raises(cose.COSEVerifyError):
        cose.sign1_verify(pub, data, detached_payload=b"other")


def test_sign_hook_needs_a_signer(registered):
    with pytest.raises(ValueError):
        cose.sign1_create(b"raw key bytes", b"p", cose.ALG_HSS_LMS)


def test_cose_key_helpers():
    ex = _example()
    raw = lms.encode_cose_key(ex["pub"])
    assert lms.pub_from_cose_key(raw) == ex["pub"]
    assert lms.pub_from_cose_key(cose.decode_key(raw).params) == ex["pub"]
    import cbor

    m = cbor.loads(raw)
    assert m == {1: 5, 3: -46, -1: ex["pub"]}
    with pytest.raises(lms.LMSFormatError):
        lms.pub_from_cose_key(cbor.dumps({1: 4, -1: b"k" * 16}))  # symmetric
    with pytest.raises(lms.LMSFormatError):
        lms.pub_from_cose_key(cbor.dumps({1: 5, 3: -7, -1: ex["pub"]}))  # wrong alg
    with pytest.raises(lms.LMSError):
        lms.pub_from_cose_key(cbor.dumps({1: 5, -1: ex["pub"][:-1]}))  # bad pub
    with pytest.raises(lms.LMSFormatError):
        lms.pub_from_cose_key(b"\xff")
    with pytest.raises(lms.LMSError):
        lms.encode_cose_key(b"not a key")
