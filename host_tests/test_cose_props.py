# CPython-only COSE checks: hypothesis round trips, cross-checks against
# cbor2 / cryptography / hmac / pyhsslms, fuzzing (only COSEError may
# escape), and the generator of host_tests/vectors/cose/fuzz_corpus.json
# (HG_REGEN_COSE_CORPUS=1 rewrites it; the portable test replays it).
import hashlib
import hmac
import json
import os
import random

import cbor2
import pyhsslms
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from hypothesis import HealthCheck, given, settings
from fuzzing import examples
from hypothesis import strategies as st

import cose
import hgtest

VEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors", "cose")
CORPUS = os.path.join(VEC, "fuzz_corpus.json")
KEY32 = bytes(range(32))
KEY16 = bytes(range(16))
FUZZ = settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _vec(name):
    return hgtest.vectors("cose/" + name)


def _entry_points():
    return (
        lambda d: cose.decode(d),
        lambda d: cose.decode(d, cose.TAG_MAC0),
        lambda d: cose.decode(d, cose.TAG_ENCRYPT0, cwt=True),
        lambda d: cose.mac0_verify(KEY32, d),
        lambda d: cose.mac0_verify(KEY32, d, detached_payload=b"x"),
        lambda d: cose.encrypt0_decrypt(KEY16, d, iv=bytes(13)),
        lambda d: cose.encrypt0_decrypt(KEY16, d, base_iv=bytes(13)),
        lambda d: cose.sign1_verify(b"", d),
        cose.decode_key,
    )


def _outcome(fn, data):
    try:
        fn(data)
        return "ok"
    except cose.COSEError as e:
        return type(e).__name__ + ":" + str(e)
    # anything else propagates and fails the calling test


def _only_cose_errors(data):
    return tuple(_outcome(fn, data) for fn in _entry_points())


# ------------------------------------------------------------ round trips

labels = st.one_of(st.integers(-70000, 70000), st.text(max_size=4))
kids = st.binary(max_size=16)


@settings(max_examples=examples(200), deadline=None)
@given(
    key=st.binary(min_size=1, max_size=80),
    payload=st.binary(max_size=300),
    aad=st.binary(max_size=40),
    alg=st.sampled_from([cose.ALG_HMAC_256_64, cose.ALG_HMAC_256_256]),
    tagged=st.booleans(),
    detached=st.booleans(),
    kid=kids,
    alg_unprotected=st.booleans(),
)
def test_mac0_round_trip(key, payload, aad, alg, tagged, detached, kid, alg_unprotected):
    unprot = {cose.H_KID: kid}
    if alg_unprotected:
        unprot[cose.H_ALG] = alg
    data = cose.mac0_create(
        key, payload, alg=alg, unprotected=unprot, external_aad=aad, tagged=tagged, detached=detached
    )
    obj = cbor2.loads(data)
    if tagged:
        assert obj.tag == 17
        obj = obj.value
    prot_bytes = b"" if alg_unprotected else cbor2.dumps({1: alg})
    to_mac = cbor2.dumps(["MAC0", prot_bytes, aad, payload])
    tag = hmac.new(key, to_mac, hashlib.sha256).digest()[: 8 if alg == 4 else 32]
    assert list(obj) == [prot_bytes, unprot, None if detached else payload, tag]
    m = cose.decode(data, cose.TAG_MAC0)
    assert m.payload is None
    det = payload if detached else None
    assert cose.mac0_verify(key, data, aad, detached_payload=det, expected_alg=alg).payload == payload
    with pytest.raises(cose.COSEVerifyError):
        cose.mac0_verify(key, data, aad + b"!", detached_payload=det)
    with pytest.raises(cose.COSEVerifyError):
        cose.mac0_verify(key + b"!", data, aad, detached_payload=det)


@settings(max_examples=examples(200), deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    iv=st.binary(min_size=13, max_size=13),
    pt=st.binary(max_size=300),
    aad=st.binary(max_size=40),
    tagged=st.booleans(),
    kid=kids,
)
def test_encrypt0_round_trip_matches_cryptography(key, iv, pt, aad, tagged, kid):
    data = cose.encrypt0_create(key, pt, iv=iv, unprotected={4: kid}, external_aad=aad, tagged=tagged)
    obj = cbor2.loads(data)
    if tagged:
        assert obj.tag == 16
        obj = obj.value
    prot = cbor2.dumps({1: 10})
    enc_structure = cbor2.dumps(["Encrypt0", prot, aad])
    assert cose.enc_structure(prot, aad) == enc_structure
    assert list(obj) == [prot, {4: kid, 5: iv}, AESCCM(key, tag_length=8).encrypt(iv, pt, enc_structure)]
    msg = data if tagged else cose.decode(data, cose.TAG_ENCRYPT0)
    assert cose.encrypt0_decrypt(key, msg, aad).payload == pt
    with pytest.raises(cose.COSEVerifyError):
        cose.encrypt0_decrypt(key, data if tagged else cose.decode(data, 16), aad + b"!")


@settings(max_examples=examples(200), deadline=None)
@given(
    prot=st.dictionaries(st.integers(3, 1000), st.integers(), max_size=3).map(cose.encode_protected),
    aad=st.binary(max_size=300),
    payload=st.binary(max_size=600),
)
def test_structures_match_cbor2(prot, aad, payload):
    assert cose.sig_structure(prot, aad, payload) == cbor2.dumps(["Signature1", prot, aad, payload])
    assert cose.mac_structure(prot, aad, payload) == cbor2.dumps(["MAC0", prot, aad, payload])
    assert cose.enc_structure(prot, aad) == cbor2.dumps(["Encrypt0", prot, aad])


def test_structures_large_lengths_match_cbor2():
    for n in (0, 23, 24, 255, 256, 65535, 65536):
        p = bytes(n)
        assert cose.sig_structure(b"", p, p) == cbor2.dumps(["Signature1", b"", p, p])


# ------------------------------------------------------------ HSS-LMS


def test_hss_lms_example_signature_verifies_with_pyhsslms():
    v = _vec("hsssig.json")
    msg = cose.decode(hgtest.read_binary(v["cbor_file"]), cose.TAG_SIGN1)
    tbs = cose.sig_structure(msg.protected_bytes, b"", msg.content)
    pub = pyhsslms.HssPublicKey.deserialize(bytes.fromhex(v["pub"]))
    assert pub.verify(tbs, msg.tag_or_signature)
    assert not pub.verify(tbs[:-1] + b"!", msg.tag_or_signature)
    # the same signature over a Sig_structure with external_aad must not verify
    assert not pub.verify(cose.sig_structure(msg.protected_bytes, b"x", msg.content), msg.tag_or_signature)


def _pyhsslms_verify(pub, tbs, sig):
    return pyhsslms.HssPublicKey.deserialize(pub).verify(tbs, sig) is True


def test_hss_lms_through_registered_hook():
    v = _vec("hsssig.json")
    data, pub = hgtest.read_binary(v["cbor_file"]), bytes.fromhex(v["pub"])
    old = cose.ALGORITHMS[cose.ALG_HSS_LMS]
    try:
        cose.register_signature_alg(
            cose.ALG_HSS_LMS, _pyhsslms_verify, lambda prv, tbs: prv.sign(tbs)
        )
        assert cose.sign1_verify(pub, data, expected_alg=cose.ALG_HSS_LMS).payload == b"This is the content."
        with pytest.raises(cose.COSEVerifyError):
            cose.sign1_verify(pub, data, b"aad")
        # sign a detached payload with a fresh small key and verify it
        prv = pyhsslms.HssPrivateKey(
            levels=1, lms_type=pyhsslms.lms_sha256_m32_h5, lmots_type=pyhsslms.lmots_sha256_n32_w4
        )
        pubk = prv.publicKey().serialize()
        out = cose.sign1_create(prv, b"suit digest", cose.ALG_HSS_LMS, detached=True)
        key = cose.decode_key({1: cose.KTY_HSS_LMS, -1: pubk})
        assert cose.sign1_verify(key, out, detached_payload=b"suit digest").payload == b"suit digest"
        with pytest.raises(cose.COSEVerifyError):
            cose.sign1_verify(key, out, detached_payload=b"suit digest!")
    finally:
        cose.ALGORITHMS[cose.ALG_HSS_LMS] = old


# ------------------------------------------------------------ fuzzing


def _seed_messages():
    seeds = [bytes.fromhex(c["cbor"]) for c in _vec("mac0.json")["cases"]]
    seeds += [bytes.fromhex(c["cbor"]) for c in _vec("encrypt0.json")["cases"]]
    hss = hgtest.read_binary("cose/hsssig-sig-01.cbor")
    seeds.append(hss[:120])  # a truncated Sign1 (the full one is 2.5 KB)
    seeds.append(cose.mac0_create(KEY32, b"p", unprotected={4: b"kid"}))
    seeds.append(cose.encrypt0_create(KEY16, b"p", iv=bytes(13)))
    seeds.append(cose.encrypt0_create(KEY16, b"p", unprotected={6: b"\x01"}, base_iv=bytes(13)))
    seeds.append(cbor2.dumps({1: 4, 2: b"k", -1: KEY16, 4: [9, 10], 5: b"iv"}))
    seeds.append(cbor2.dumps({1: 2, -1: 1, -2: bytes(32), -3: True}))
    seeds.append(cbor2.dumps({1: 5, -1: bytes(8)}))
    return seeds


_INTERESTING = (0x00, 0x01, 0x17, 0x18, 0x1F, 0x20, 0x40, 0x41, 0x5F, 0x60, 0x80, 0x84, 0x9F,
                0xA0, 0xA1, 0xBF, 0xC2, 0xD0, 0xD1, 0xD2, 0xD8, 0xF4, 0xF5, 0xF6, 0xF7, 0xF9, 0xFF)


def _mutate(rng, data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(6)
        if not b:
            b.append(rng.choice(_INTERESTING))
            continue
        i = rng.randrange(len(b))
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[i] = rng.choice(_INTERESTING)
        elif op == 2:
            del b[i:]
        elif op == 3:
            b.insert(i, rng.choice(_INTERESTING))
        elif op == 4:
            del b[i]
        else:
            j = rng.randrange(len(b))
            b[i:i] = b[j : j + rng.randint(1, 8)]
    return bytes(b)


def build_corpus(seed=20240607, rounds=30000, max_len=128):
    """Inputs with distinct outcome signatures across all entry points."""
    rng = random.Random(seed)
    seeds = _seed_messages()
    seen = {}
    for s in seeds:
        if len(s) <= max_len:
            seen.setdefault(_only_cose_errors(s), s)
    for _ in range(rounds):
        cand = _mutate(rng, rng.choice(seeds))
        if len(cand) > max_len:
            continue
        sig = _only_cose_errors(cand)
        if sig not in seen or len(cand) < len(seen[sig]):
            seen[sig] = cand
    out = sorted(set(seen.values()), key=lambda b: (len(b), b))
    return [b.hex() for b in out]


def test_fuzz_corpus_file():
    if os.environ.get("HG_REGEN_COSE_CORPUS") == "1":
        doc = {
            "_source": "generated by host_tests/test_cose_props.py build_corpus() (seeded mutations of the "
            "cose-wg example messages in this folder; one input per distinct outcome over all cose entry "
            "points). Regenerate: HG_REGEN_COSE_CORPUS=1 pytest host_tests/test_cose_props.py",
            "inputs": build_corpus(),
        }
        with open(CORPUS, "w") as f:
            json.dump(doc, f, indent=0)
            f.write("\n")
    assert os.path.getsize(CORPUS) < 15000
    inputs = _vec("fuzz_corpus.json")["inputs"]
    assert len(inputs) > 20
    for hexs in inputs:
        _only_cose_errors(bytes.fromhex(hexs))


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(data):
    _only_cose_errors(data)


@FUZZ
@given(st.randoms(use_true_random=False), st.integers(0, 30))
def test_fuzz_mutated_messages(rnd, which):
    seeds = _seed_messages()
    data = _mutate(rnd, seeds[which % len(seeds)])
    _only_cose_errors(data)


cbor_leaf = st.one_of(
    st.integers(-(2**64), 2**64),
    st.binary(max_size=20),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False),
)
cbor_any = st.recursive(
    cbor_leaf,
    lambda ch: st.one_of(
        st.lists(ch, max_size=4),
        st.dictionaries(st.one_of(st.integers(-10, 10), st.text(max_size=2)), ch, max_size=4),
        st.builds(cbor2.CBORTag, st.sampled_from([16, 17, 18, 61, 2, 24, 992]), ch),
    ),
    max_leaves=12,
)
headers = st.dictionaries(
    st.one_of(st.integers(-3, 8), st.text(max_size=1)),
    st.one_of(cbor_any, st.sampled_from([4, 5, 10, -46, [1], [99], b"", bytes(13)])),
    max_size=4,
)


@FUZZ
@given(
    st.sampled_from([None, 16, 17, 18, 61]),
    st.one_of(headers.map(lambda d: cbor2.dumps(d) if d else b""), cbor_any),
    st.one_of(headers, cbor_any),
    st.lists(st.one_of(st.binary(max_size=40), st.none(), cbor_any), min_size=0, max_size=3),
)
def test_fuzz_structured(tag, prot, unprot, rest):
    obj = [prot, unprot] + rest
    if tag is not None:
        obj = cbor2.CBORTag(tag, obj)
        if tag == 61:
            obj = cbor2.CBORTag(61, cbor2.CBORTag(17, obj.value))
    _only_cose_errors(cbor2.dumps(obj))


@FUZZ
@given(st.randoms(use_true_random=False))
def test_mutation_never_changes_what_verifies(rnd):
    # A mutated Mac0/Encrypt0 may still be accepted only if every
    # authenticated part (protected bytes, payload, tag) is unchanged.
    mac = cose.mac0_create(KEY32, b"payload", unprotected={4: b"kid"}, external_aad=b"a")
    enc = cose.encrypt0_create(KEY16, b"secret", iv=bytes(range(13)), external_aad=b"a")
    ref_m = cose.decode(mac)
    ref_e = cose.decode(enc)
    for _ in range(5):
        m = _mutate(rnd, mac)
        try:
            got = cose.mac0_verify(KEY32, m, b"a")
        except cose.COSEError:
            pass
        else:
            assert (got.protected_bytes, got.payload, got.tag_or_signature) == (
                ref_m.protected_bytes,
                b"payload",
                ref_m.tag_or_signature,
            )
        e = _mutate(rnd, enc)
        try:
            got = cose.encrypt0_decrypt(KEY16, e, b"a")
        except cose.COSEError:
            pass
        else:
            assert got.payload == b"secret"
            assert (got.protected_bytes, got.content) == (ref_e.protected_bytes, ref_e.content)


def test_encrypt0_plaintext_beyond_ccm_length_field():
    # AES-CCM-16-64-128 has L=2: at most 65535 plaintext bytes
    assert cose.decode(cose.encrypt0_create(KEY16, bytes(65535), iv=bytes(13))).type == 16
    with pytest.raises(cose.COSEError):
        cose.encrypt0_create(KEY16, bytes(65536), iv=bytes(13))
