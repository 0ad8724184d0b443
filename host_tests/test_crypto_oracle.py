# CPython-only: property tests of lib/hgcrypto against independent oracles
# (pyca/cryptography for AES-CCM / CTR / key wrap / HKDF, stdlib hmac),
# plus static checks of the MicroPython coding rules for the module.
import ast
import hashlib
import hmac
import os

import pytest
from hypothesis import HealthCheck, given, settings
from fuzzing import examples
from hypothesis import strategies as st

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import hgcrypto

SETTINGS = settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])

aes_keys = st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
tag_lens = st.sampled_from([4, 6, 8, 10, 12, 14, 16])
nonces = st.integers(7, 13).flatmap(lambda n: st.binary(min_size=n, max_size=n))
# Counters: random, or close to 2^128 so the wrap is exercised often.
counters = st.one_of(
    st.binary(min_size=16, max_size=16),
    st.integers(0, 200).map(lambda d: ((1 << 128) - d - 1).to_bytes(16, "big")),
    st.integers(0, 200).map(lambda d: (((1 << 64) - d - 1) | (7 << 64)).to_bytes(16, "big")),
)


def _split(data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts})
    out = []
    prev = 0
    for p in points + [len(data)]:
        out.append(data[prev:p])
        prev = p
    return out


def test_backend_is_cryptography_on_cpython():
    assert hgcrypto.BACKEND == "cryptography"
    assert hgcrypto.AES_KEY_LENGTHS == (16, 24, 32)


# ---------------------------------------------------------------- CCM


@SETTINGS
@given(key=aes_keys, nonce=nonces, aad=st.binary(max_size=300), pt=st.binary(max_size=600), tl=tag_lens)
def test_ccm_matches_cryptography(key, nonce, aad, pt, tl):
    oracle = AESCCM(key, tag_length=tl)
    expect = oracle.encrypt(nonce, pt, aad or None)
    got = hgcrypto.aes_ccm_encrypt(key, nonce, pt, aad, tl)
    assert got == expect
    assert hgcrypto.aes_ccm_decrypt(key, nonce, expect, aad, tl) == pt


@SETTINGS
@given(
    key=aes_keys,
    nonce=nonces,
    aad=st.binary(max_size=40),
    pt=st.binary(max_size=80),
    tl=tag_lens,
    where=st.integers(0, 10**6),
    bit=st.integers(0, 7),
    target=st.sampled_from(["ct", "aad", "nonce"]),
)
def test_ccm_tamper_rejected_like_cryptography(key, nonce, aad, pt, tl, where, bit, target):
    oracle = AESCCM(key, tag_length=tl)
    ct = oracle.encrypt(nonce, pt, aad or None)
    if target == "ct":
        b = bytearray(ct)
    elif target == "aad":
        b = bytearray(aad or b"\x00")
        if not aad:
            aad = b"\x01"  # adding AAD where there was none
    else:
        b = bytearray(nonce)
    b[where % len(b)] ^= 1 << bit
    b = bytes(b)
    if target == "ct":
        ct = b
    elif target == "aad":
        aad = b
    else:
        nonce = b
    with pytest.raises(InvalidTag):
        oracle.decrypt(nonce, ct, aad or None)
    with pytest.raises(hgcrypto.AuthenticationError, match="^authentication failed$"):
        hgcrypto.aes_ccm_decrypt(key, nonce, ct, aad, tl)


def test_ccm_large_aad_and_message_boundaries():
    key = bytes(range(16))
    nonce = bytes(range(13))
    for la in (0xFEFF, 0xFF00, 0x10000):  # last 2-byte encoding, first 0xfffe ones
        aad = os.urandom(la)
        pt = os.urandom(100)
        exp = AESCCM(key, tag_length=8).encrypt(nonce, pt, aad)
        assert hgcrypto.aes_ccm_encrypt(key, nonce, pt, aad) == exp
        assert hgcrypto.aes_ccm_decrypt(key, nonce, exp, aad) == pt
    # L = 2 (13-byte nonce): at most 65535 octets of message.
    pt = os.urandom(65535)
    exp = AESCCM(key, tag_length=8).encrypt(nonce, pt, None)
    assert hgcrypto.aes_ccm_encrypt(key, nonce, pt) == exp
    assert hgcrypto.aes_ccm_decrypt(key, nonce, exp) == pt
    with pytest.raises(hgcrypto.CryptoError, match="message too long"):
        hgcrypto.aes_ccm_encrypt(key, nonce, bytes(65536))
    # L = 3 (12-byte nonce) takes it.
    pt = os.urandom(70000)
    exp = AESCCM(key, tag_length=16).encrypt(nonce[:12], pt, b"a")
    assert hgcrypto.aes_ccm_encrypt(key, nonce[:12], pt, b"a", 16) == exp


# ---------------------------------------------------------------- CTR


@SETTINGS
@given(key=aes_keys, ctr=counters, data=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 5000), max_size=8))
def test_ctr_matches_cryptography(key, ctr, data, cuts):
    expect = Cipher(algorithms.AES(key), modes.CTR(ctr)).encryptor().update(data)
    assert hgcrypto.aes_ctr(key, ctr, data) == expect
    s = hgcrypto.AESCTR(key, ctr)
    assert b"".join(s.update(p) for p in _split(data, cuts)) == expect


# ---------------------------------------------------------------- key wrap


@SETTINGS
@given(kek=aes_keys, n=st.integers(2, 16), data=st.data())
def test_keywrap_matches_cryptography(kek, n, data):
    kd = data.draw(st.binary(min_size=8 * n, max_size=8 * n))
    expect = keywrap.aes_key_wrap(kek, kd)
    assert hgcrypto.aes_key_wrap(kek, kd) == expect
    assert hgcrypto.aes_key_unwrap(kek, expect) == kd
    i = data.draw(st.integers(0, len(expect) - 1))
    bad = bytearray(expect)
    bad[i] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(keywrap.InvalidUnwrap):
        keywrap.aes_key_unwrap(kek, bytes(bad))
    with pytest.raises(hgcrypto.AuthenticationError):
        hgcrypto.aes_key_unwrap(kek, bytes(bad))


# ---------------------------------------------------------------- HMAC / HKDF / misc


@SETTINGS
@given(key=st.binary(max_size=200), msg=st.binary(max_size=500), cuts=st.lists(st.integers(0, 600), max_size=5))
def test_hmac_matches_stdlib(key, msg, cuts):
    expect = hmac.new(key, msg, hashlib.sha256).digest()
    assert hgcrypto.hmac_sha256(key, msg) == expect
    m = hgcrypto.HMACSHA256(key)
    for p in _split(msg, cuts):
        m.update(p)
    assert m.digest() == expect
    assert m.digest() == expect


@SETTINGS
@given(
    ikm=st.binary(max_size=100),
    salt=st.one_of(st.none(), st.binary(max_size=100)),
    info=st.binary(max_size=100),
    length=st.one_of(st.integers(1, 200), st.integers(1, 255 * 32)),
)
def test_hkdf_matches_cryptography(ikm, salt, info, length):
    expect = HKDF(hashes.SHA256(), length, salt or None, info).derive(ikm)
    assert hgcrypto.hkdf_sha256(ikm, salt, info, length) == expect
    prk = hgcrypto.hkdf_extract(salt, ikm)
    assert hgcrypto.hkdf_expand(prk, info, length) == expect


def test_hkdf_max_length():
    out = hgcrypto.hkdf_sha256(b"ikm", b"salt", b"info", 255 * 32)
    assert out == HKDF(hashes.SHA256(), 255 * 32, b"salt", b"info").derive(b"ikm")
    with pytest.raises(hgcrypto.CryptoError):
        hgcrypto.hkdf_sha256(b"ikm", b"salt", b"info", 255 * 32 + 1)


@SETTINGS
@given(a=st.binary(max_size=40), b=st.binary(max_size=40))
def test_ct_equal_matches_eq(a, b):
    assert hgcrypto.ct_equal(a, b) is (a == b)
    assert hgcrypto.ct_equal(a, a)


# ---------------------------------------------------------------- coding rules


def _lib_tree():
    path = os.path.join(os.path.dirname(hgcrypto.__file__), "hgcrypto.py")
    with open(path) as f:
        return ast.parse(f.read())


def test_lib_follows_micropython_rules():
    tree = _lib_tree()
    banned_modules = {"typing", "dataclasses", "enum", "abc", "hmac", "secrets"}
    allowed_modules = {"hashlib", "micropython", "cryptolib", "ucryptolib", "os", "_hgcore", "cryptography.hazmat.primitives.ciphers"}
    for node in ast.walk(tree):
        assert not isinstance(node, ast.JoinedStr), "f-string at line %d" % node.lineno
        assert not isinstance(node, ast.Assert), "assert at line %d" % node.lineno
        if isinstance(node, ast.Import):
            for a in node.names:
                assert a.name in allowed_modules and a.name not in banned_modules, a.name
        if isinstance(node, ast.ImportFrom):
            assert node.module in allowed_modules, node.module
            if node.module.startswith("cryptography"):
                # Only the AES block primitive may come from cryptography.
                assert {a.name for a in node.names} <= {"Cipher", "algorithms", "modes"}
        if isinstance(node, ast.Attribute):
            assert node.attr != "hex", "bytes.hex() at line %d" % node.lineno


def test_public_api_names():
    for name in (
        "sha256",
        "sha256_digest",
        "hmac_sha256",
        "HMACSHA256",
        "hkdf_sha256",
        "hkdf_extract",
        "hkdf_expand",
        "AES",
        "aes_ccm_encrypt",
        "aes_ccm_decrypt",
        "aes_ctr",
        "AESCTR",
        "aes_key_wrap",
        "aes_key_unwrap",
        "ct_equal",
        "random_bytes",
        "BACKEND",
        "CryptoError",
        "AuthenticationError",
    ):
        assert hasattr(hgcrypto, name), name
