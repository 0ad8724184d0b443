# CPython-only: hgcrypto's CTR/CCM buffer paths with a stand-in for the C
# helper _hgcore (which CPython does not have), checked against pyca/cryptography.
# The stand-in enforces what firmware/cmodules/hgcore enforces (equal lengths,
# writable output), so a call the C module would reject fails here too.
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from fuzzing import examples

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

import hgcrypto

SETTINGS = settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

aes_keys = st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
tag_lens = st.sampled_from([4, 6, 8, 10, 12, 14, 16])
nonces = st.integers(7, 13).flatmap(lambda n: st.binary(min_size=n, max_size=n))
counters = st.one_of(
    st.binary(min_size=16, max_size=16),
    st.integers(0, 300).map(lambda d: ((1 << 128) - d - 1).to_bytes(16, "big")),
    st.integers(0, 300).map(lambda d: ((0xFF - (d & 0xFF)) | (d << 8)).to_bytes(16, "big")),
)


class _FakeHgcore:
    def __init__(self):
        self.xor_calls = 0
        self.eq_calls = 0

    def xor_into(self, dst, a, b):
        d = memoryview(dst)
        if d.readonly:
            raise TypeError("output must be writable")
        a = bytes(a)
        b = bytes(b)
        if len(a) != len(d) or len(b) != len(d):
            raise ValueError("length mismatch")
        self.xor_calls += 1
        d[:] = bytes(x ^ y for x, y in zip(a, b))

    def ct_equal(self, a, b):
        self.eq_calls += 1
        return len(a) == len(b) and bytes(a) == bytes(b)


@pytest.fixture
def fake_c(monkeypatch):
    f = _FakeHgcore()
    monkeypatch.setattr(hgcrypto, "_c_xor_into", f.xor_into)
    monkeypatch.setattr(hgcrypto, "_c_ct_equal", f.ct_equal)
    return f


@SETTINGS
@given(key=aes_keys, nonce=nonces, aad=st.binary(max_size=400), pt=st.binary(max_size=700), tl=tag_lens)
def test_ccm_with_c_helpers_matches_cryptography(fake_c, key, nonce, aad, pt, tl):
    expect = AESCCM(key, tag_length=tl).encrypt(nonce, pt, aad or None)
    calls = fake_c.xor_calls
    assert hgcrypto.aes_ccm_encrypt(key, nonce, pt, aad, tl) == expect
    assert fake_c.xor_calls > calls  # the C path ran
    assert hgcrypto.aes_ccm_decrypt(key, nonce, expect, aad, tl) == pt
    bad = bytearray(expect)
    bad[len(bad) // 2] ^= 4
    with pytest.raises(hgcrypto.AuthenticationError, match="^authentication failed$"):
        hgcrypto.aes_ccm_decrypt(key, nonce, bytes(bad), aad, tl)


@SETTINGS
@given(key=aes_keys, ctr=counters, data=st.binary(max_size=1200), cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_ctr_with_c_helpers_matches_cryptography(fake_c, key, ctr, data, cuts):
    enc = Cipher(algorithms.AES(key), modes.CTR(ctr)).encryptor()
    expect = enc.update(data) + enc.finalize()
    assert hgcrypto.aes_ctr(key, ctr, data) == expect
    s = hgcrypto.AESCTR(key, ctr)
    points = sorted({c % (len(data) + 1) for c in cuts}) + [len(data)]
    out = b""
    prev = 0
    for p in points:
        out += s.update(data[prev:p])
        prev = p
    assert out == expect


def test_ccm_long_aad_and_message_with_c_helpers(fake_c):
    key = bytes(range(16))
    nonce = bytes(range(12))
    for la, n in ((0xFF00, 100), (0, 70000), (5000, 4099)):
        aad = bytes(i & 0xFF for i in range(la))
        pt = bytes((i * 3) & 0xFF for i in range(n))
        expect = AESCCM(key, tag_length=16).encrypt(nonce, pt, aad or None)
        assert hgcrypto.aes_ccm_encrypt(key, nonce, pt, aad, 16) == expect
        assert hgcrypto.aes_ccm_decrypt(key, nonce, expect, aad, 16) == pt
