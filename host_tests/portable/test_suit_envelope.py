# SUIT envelope layer (lib/suit): the draft-37 examples and our HSS-LMS and
# HMAC envelopes. Portable: CPython, MicroPython unix port, qemu image.
import gc

import cbor
import cose

import suit_envelope as se
from hgtest import h, raises, read_binary, skip, vectors

EXAMPLES = (0, 1, 2, 3, 4, 5)


def _accept(msg, payload):
    # test-only hook standing in for ES256 (host-only): trusts any block
    return True


def _example(i):
    # (diag text, envelope file names) of example i; the parsed JSON is
    # dropped at once (the 64 KiB image has little heap to spare)
    gc.collect()
    vec = vectors("suit/example%d.json" % i)
    out = vec["diag"], [e["file"] for e in vec["envelopes"]]
    vec = None
    gc.collect()
    return out


def _expected_seq(diag):
    return int(diag.split("manifest-sequence-number / 2:")[1].split(",")[0].strip())


def test_examples_parse_and_digest():
    for i in EXAMPLES:
        vec = None
        gc.collect()
        vec = vectors("suit/example%d.json" % i)
        for e in vec["envelopes"]:
            data = read_binary("suit/" + e["file"])
            assert data == h(e["hex"]), e["file"]
            env = se.decode_envelope(data)
            assert env.tagged
            assert env.digest[0] == se.ALG_SHA256
            se.check_digest(env.digest, env.manifest)
            assert len(env.auth_blocks) == len(e["auth"]), e["file"]
            assert sorted(env.severable) == sorted(e["severable_members_present"]), e["file"]


def test_examples_top_level():
    for i in EXAMPLES:
        diag, files = _example(i)
        for name in files:
            if "_unsigned" in name:
                continue
            env = se.authenticate(read_binary("suit/" + name), [_accept])
            assert env.authenticated
            assert env.version == 1
            assert env.sequence_number == _expected_seq(diag), name
            assert env.components
            for cid in env.components:
                for part in cid:
                    assert ("h'" + "".join("%02x" % b for b in part) + "'") in diag, name


def test_severable_members():
    env = se.authenticate(read_binary("suit/example2_signed.suit"), [_accept])
    assert sorted(env.severable) == [se.ENV_INSTALL, se.ENV_TEXT]
    assert se.member(env, se.M_INSTALL) is not None
    env = se.authenticate(read_binary("suit/example2_signed_severed.suit"), [_accept])
    assert env.severable == {}
    assert se.member(env, se.M_INSTALL) is None
    assert se.member(env, se.M_VALIDATE) is not None


def test_severable_member_tampered():
    data = bytearray(read_binary("suit/example2_signed.suit"))
    # last bytes belong to the text member (key 23)
    data[-2] ^= 1
    e = raises(se.SuitError, se.authenticate, bytes(data), [_accept])
    assert e.code == se.SUIT_ERR_DIGEST_MISMATCH
    env = se.decode_envelope(read_binary("suit/example2_signed.suit"))
    env.severable[se.ENV_TEXT] = b"\xa0"
    e = raises(se.SuitError, se.authenticate, env, [_accept])
    assert e.code == se.SUIT_ERR_DIGEST_MISMATCH


def test_es256_fails_closed_without_hook():
    # No ES256 on the device: no hook (or one for another algorithm) -> reject
    for i in EXAMPLES:
        name = "example%d_signed.suit" % i
        e = raises(se.SuitError, se.authenticate, read_binary("suit/" + name), [])
        assert e.code == se.SUIT_ERR_AUTHENTICATION
        fn = se.sign1_verifier(b"\x00" * 60, cose.ALG_HSS_LMS)
        e = raises(se.SuitError, se.authenticate, read_binary("suit/" + name), [fn])
        assert e.code == se.SUIT_ERR_AUTHENTICATION


def test_unsigned_rejected():
    for i in EXAMPLES:
        for name in _example(i)[1]:
            if "_unsigned" in name:
                e = raises(se.SuitError, se.authenticate, read_binary("suit/" + name), [_accept])
                assert e.code == se.SUIT_ERR_AUTHENTICATION
                assert not se.decode_envelope(read_binary("suit/" + name)).auth_blocks


def test_tampered_manifest_digest_mismatch():
    data = read_binary("suit/example0_signed.suit")
    env = se.decode_envelope(data)
    m = bytes(env.manifest)
    start = data.index(m)
    for off in (0, 5, len(m) // 2, len(m) - 1):
        bad = bytearray(data)
        bad[start + off] ^= 0x01
        # the digest is checked before anything inside the manifest is parsed
        e = raises(se.SuitError, se.authenticate, bytes(bad), [_accept])
        assert e.code == se.SUIT_ERR_DIGEST_MISMATCH


def test_truncations_only_suit_error():
    for name in ("example0_signed.suit", "example2_signed.suit", "hg_hmac_example0.suit"):
        data = read_binary("suit/" + name)
        for n in range(len(data)):
            try:
                se.authenticate(data[:n], [_accept])
            except se.SuitError:
                continue
            raise AssertionError("truncated envelope accepted")


def test_structural_errors():
    man = se.decode_envelope(read_binary("suit/example0_unsigned.suit"))
    good_digest = bytes(man.digest_bytes)
    cases = [
        b"",
        b"\xa0",  # empty map: no manifest
        cbor.dumps(cbor.Tag(108, {})),
        cbor.dumps([1, 2]),
        cbor.dumps({3: bytes(man.manifest)}),  # no auth wrapper
        cbor.dumps({2: cbor.dumps([]), 3: b"\xa0"}),
        cbor.dumps({2: cbor.dumps([good_digest]), 3: 5}),
        cbor.dumps({2: cbor.dumps([good_digest]), 3: bytes(man.manifest), 99: b""}),
        cbor.dumps({2: cbor.dumps([good_digest]), 3: bytes(man.manifest), "uri": 1}),
        b"\xd8\x6b\xa2\x02\x41\x80\x03\x41\xa0\x00",  # trailing byte
        b"\xd8\x6b\xbf\xff",  # indefinite map: not deterministic
    ]
    for c in cases:
        e = raises(se.SuitError, se.authenticate, c, [_accept])
        assert isinstance(e.code, int) and e.code < 0
    raises(se.SuitError, se.decode_envelope, "text")
    raises(se.SuitError, se.decode_envelope, None)


def _wrap(manifest_map, blocks=(b"",)):
    m = cbor.dumps(manifest_map)
    d = cbor.dumps([se.ALG_SHA256, se.bstr_digest(m)])
    return cbor.dumps({2: cbor.dumps([d] + [cbor.dumps(cbor.Tag(18, [b"\xa1\x01\x26", {}, None, b"x"]))]), 3: m})


def test_manifest_top_level_checks():
    common = cbor.dumps({2: [[b"\x00"]]})
    env = se.authenticate(_wrap({1: 1, 2: 7, 3: common}), [_accept])
    assert env.sequence_number == 7 and env.components == [[b"\x00"]]
    e = raises(se.SuitError, se.authenticate, _wrap({1: 2, 2: 7, 3: common}), [_accept])
    assert e.code == se.SUIT_ERR_VERSION
    e = raises(se.SuitError, se.authenticate, _wrap({2: 7, 3: common}), [_accept])
    assert e.code == se.SUIT_ERR_VERSION
    for bad in ({1: 1, 2: -1, 3: common}, {1: 1, 3: common}, {1: 1, 2: 0},
                {1: 1, 2: 0, 3: cbor.dumps({2: []})}, {1: 1, 2: 0, 3: cbor.dumps({2: [[1]]})},
                {1: 1, 2: 0, 3: common, 4: 5}, {1: 1, 2: 0, 3: common, 7: 1}):
        e = raises(se.SuitError, se.authenticate, _wrap(bad), [_accept])
        assert e.code == se.SUIT_ERR_INVALID_MANIFEST
    # unsupported digest algorithm
    m = cbor.dumps({1: 1, 2: 0, 3: common})
    d = cbor.dumps([-43, se.bstr_digest(m)])
    e = raises(se.SuitError, se.authenticate, cbor.dumps({2: cbor.dumps([d]), 3: m}), [_accept])
    assert e.code == se.SUIT_ERR_UNSUPPORTED


def _lms_available():
    try:
        import lms

        lms.register_cose()
    except ImportError:
        skip("lms not available")
    return lms


def test_hss_lms_envelope():
    lms = _lms_available()
    pub = read_binary("suit/hg_lms_example0.pub")
    data = read_binary("suit/hg_lms_example0.suit")
    fn = se.sign1_verifier(pub, cose.ALG_HSS_LMS)
    env = se.authenticate(data, [fn])
    assert env.sequence_number == 0 and env.components == [[b"\x00"]]
    bad_pub = bytearray(pub)
    bad_pub[-1] ^= 1
    e = raises(se.SuitError, se.authenticate, data, [se.sign1_verifier(bytes(bad_pub), cose.ALG_HSS_LMS)])
    assert e.code == se.SUIT_ERR_AUTHENTICATION
    key = cose.decode_key(lms.encode_cose_key(pub))
    se.authenticate(data, [se.sign1_verifier(key, cose.ALG_HSS_LMS)])


def test_hmac_envelope():
    key = cose.decode_key(read_binary("suit/hg_hmac_example0.cose_key"))
    data = read_binary("suit/hg_hmac_example0.suit")
    env = se.authenticate(data, [se.mac0_verifier(key, cose.ALG_HMAC_256_256)])
    assert env.sequence_number == 0
    e = raises(se.SuitError, se.authenticate, data, [se.mac0_verifier(b"\x01" * 32)])
    assert e.code == se.SUIT_ERR_AUTHENTICATION
    # a MAC hook never accepts a Sign1 block and vice versa
    e = raises(se.SuitError, se.authenticate, read_binary("suit/example0_signed.suit"), [se.mac0_verifier(key)])
    assert e.code == se.SUIT_ERR_AUTHENTICATION
    e = raises(se.SuitError, se.authenticate, data, [se.sign1_verifier(b"", cose.ALG_HSS_LMS)])
    assert e.code == se.SUIT_ERR_AUTHENTICATION


def test_member_requires_authentication():
    env = se.decode_envelope(read_binary("suit/example2_signed.suit"))
    e = raises(se.SuitError, se.member, env, se.M_INSTALL)
    assert e.code == se.SUIT_ERR_AUTHENTICATION
