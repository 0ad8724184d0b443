# Hypothesis fuzzing of the EAT decoders (lib/eat): random bytes and
# mutations of real tokens (HMAC and HSS-LMS) into verify(), decode_token()
# and parse_claims(). Only EATError may escape, a mutated token never
# verifies, and nothing is slow. make fuzz runs these HG_FUZZ_SCALE times
# longer.
import time

import cbor
import eat
import hgstore
import lms
from hypothesis import given, settings, HealthCheck, strategies as st

from fuzzing import examples
from hgtest import Rand

NONCE = bytes(range(16))
H5W4 = [(lms.LMS_SHA256_M32_H5, lms.LMOTS_SHA256_N32_W4)]


def _device(mode):
    st_ = hgstore.MemoryStorage()
    if mode == "lms":
        prov = eat.provision(st_, rand=Rand(b"fuzz"), lms_params=H5W4, chunk=4)
    else:
        prov = eat.provision(st_, rand=Rand(b"fuzz"), mode="mac")
    ident = eat.load_identity(st_)
    measure = [{"cid": [b"\x00"], "name": "app", "slot": 0, "digest": bytes(32), "size": 10, "sequence": 3,
                "manifest_digest": bytes(32)}]
    att = eat.Attester(ident, eat.load_signer(st_, ident), measure=lambda: measure)
    return prov["cose_key"], att.attest(NONCE)


KEY_MAC, TOKEN_MAC = _device("mac")
KEY_LMS, TOKEN_LMS = _device("lms")


def _only_eat_errors(fn, *args):
    t0 = time.monotonic()
    try:
        fn(*args)
        ok = True
    except eat.EATError:
        ok = False
    assert time.monotonic() - t0 < 5
    return ok


def test_fixtures_verify():
    assert eat.verify(TOKEN_MAC, KEY_MAC, NONCE).claims[eat.C_NONCE] == NONCE
    assert eat.verify(TOKEN_LMS, KEY_LMS, NONCE).claims[eat.C_NONCE] == NONCE


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes(data):
    assert not _only_eat_errors(eat.verify, data, KEY_MAC, NONCE)
    _only_eat_errors(eat.decode_token, data)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["mac", "lms"]), st.data())
def test_mutated_tokens_never_verify(mode, data):
    token, key = (TOKEN_MAC, KEY_MAC) if mode == "mac" else (TOKEN_LMS, KEY_LMS)
    kind = data.draw(st.sampled_from(["flip", "truncate", "append", "splice"]))
    b = bytearray(token)
    if kind == "flip":
        i = data.draw(st.integers(0, len(b) - 1))
        b[i] ^= data.draw(st.integers(1, 255))
    elif kind == "truncate":
        b = b[: data.draw(st.integers(0, len(b) - 1))]
    elif kind == "append":
        b += data.draw(st.binary(min_size=1, max_size=8))
    else:
        i = data.draw(st.integers(0, len(b)))
        b[i:i] = data.draw(st.binary(min_size=1, max_size=16))
    assert not _only_eat_errors(eat.verify, bytes(b), key, NONCE)


_claim_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**64, 2**64) | st.binary(max_size=40) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.integers(-300, 300) | st.text(max_size=4),
                                                                inner, max_size=4),
    max_leaves=20)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([10, 256, 258, 259, 260, 261, 263, 265, 266, 267, 270, 271, 272, 273, 6, 1,
                                        -70000]), _claim_values, max_size=8))
def test_claim_maps(claims):
    # parse_claims either accepts the map or raises EATError; round-tripped
    # through CBOR first, as a decoder would see it
    _only_eat_errors(eat.parse_claims, cbor.loads(cbor.dumps(claims)))
