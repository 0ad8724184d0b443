# The heap-saving paths of the SUIT update (issue #6): cose.decode(...,
# zero_copy=True), which leaves the signature/tag and payload as views into
# the input, and suit_envelope.authenticate(..., detach=True), after which
# the Envelope no longer refers to the envelope buffer (so the caller can
# free it, ~5 KB of HSS signature, before the update runs). Portable:
# CPython, MicroPython unix port, qemu image.
import gc

import cbor
import cose

import suit_envelope as se
from hgtest import raises, read_binary, skip


def _lms():
    try:
        import lms

        lms.register_cose()
    except ImportError:
        skip("lms not available")
    return lms


def _auth_block(name):
    return se.decode_envelope(read_binary("suit/" + name)).auth_blocks[0]


# ------------------------------------------------------------ cose zero-copy


def test_zero_copy_sign1_is_a_view_and_verifies():
    _lms()
    pub = read_binary("suit/hg_lms_example0.pub")
    env = se.decode_envelope(bytearray(read_binary("suit/hg_lms_example0.suit")))
    block = env.auth_blocks[0]
    copy = cose.decode(bytes(block))
    msg = cose.decode(block, zero_copy=True)
    assert isinstance(msg.tag_or_signature, memoryview)
    assert bytes(msg.tag_or_signature) == copy.tag_or_signature
    assert msg.protected == copy.protected and msg.protected_bytes == copy.protected_bytes
    assert msg.unprotected == copy.unprotected and msg.alg == cose.ALG_HSS_LMS
    assert msg.content is None
    cose.sign1_verify(pub, msg, detached_payload=env.digest_bytes, expected_alg=cose.ALG_HSS_LMS)
    # no copy: the signature is the envelope's own bytes
    sig = msg.tag_or_signature
    sig0 = sig[0]
    block[len(block) - len(sig)] ^= 0xFF
    assert sig[0] == sig0 ^ 0xFF
    msg = cose.decode(block, zero_copy=True)
    raises(cose.COSEVerifyError, cose.sign1_verify, pub, msg, detached_payload=env.digest_bytes,
           expected_alg=cose.ALG_HSS_LMS)


def test_zero_copy_mac0_attached_payload():
    key = b"\x5a" * 32
    data = bytearray(cose.mac0_create(key, b"payload bytes", alg=cose.ALG_HMAC_256_256,
                                      unprotected={cose.H_KID: b"k1"}))
    msg = cose.decode(memoryview(data), zero_copy=True)
    assert isinstance(msg.content, memoryview) and bytes(msg.content) == b"payload bytes"
    assert isinstance(msg.tag_or_signature, memoryview)
    # header values are owned bytes, never views
    assert type(msg.header(cose.H_KID)) is bytes and msg.header(cose.H_KID) == b"k1"
    assert bytes(cose.mac0_verify(key, msg).payload) == b"payload bytes"
    data[-1] ^= 1  # the tag's last byte, seen through the view
    raises(cose.COSEVerifyError, cose.mac0_verify, key, cose.decode(data, zero_copy=True))


def test_zero_copy_nested_header_values_are_bytes():
    # an unknown unprotected label holding a bstr inside an array and a map
    msg = cbor.dumps(cbor.Tag(cose.TAG_MAC0, [b"", {-70000: [b"ab", {1: b"cd"}]}, b"x", b"t" * 8]))
    m = cose.decode(msg, zero_copy=True)
    v = m.unprotected[-70000]
    assert type(v[0]) is bytes and v[0] == b"ab"
    assert type(v[1][1]) is bytes and v[1][1] == b"cd"


def test_zero_copy_rejects_what_decode_rejects():
    bad = (
        cbor.dumps(cbor.Tag(cose.TAG_SIGN1, [b"", {cose.H_KID: 5}, None, b"s"])),  # kid not bstr
        cbor.dumps(cbor.Tag(cose.TAG_SIGN1, [b"", {}, None])),  # wrong length
        cbor.dumps(cbor.Tag(cose.TAG_SIGN1, [b"", {}, 7, b"s"])),  # payload not bstr
        cbor.dumps(cbor.Tag(cose.TAG_SIGN1, [b"", {}, None, "s"])),  # signature not bstr
        cbor.dumps(cbor.Tag(cose.TAG_MAC0, [b"\xa1\x01", {}, None, b"t"])),  # bad protected
        b"\xd2\x84\x40",  # truncated
    )
    for data in bad:
        raises(cose.COSEError, cose.decode, data)
        raises(cose.COSEError, cose.decode, data, zero_copy=True)
        raises(cose.COSEError, cose.decode, memoryview(data), zero_copy=True)
    raises(cose.COSEError, cose.decode, "text", zero_copy=True)


# ------------------------------------------------------------ detach


def test_detach_owns_everything_it_keeps():
    _lms()
    pub = read_binary("suit/hg_create_lms.pub")
    raw = read_binary("suit/hg_create_lms.suit")
    fns = [se.sign1_verifier(pub, cose.ALG_HSS_LMS)]
    ref = se.authenticate(raw, fns)
    buf = bytearray(raw)
    env = se.authenticate(buf, fns, detach=True)
    assert env.authenticated and env.auth_blocks == []
    assert type(env.manifest) is bytes and env.manifest == bytes(ref.manifest)
    assert type(env.digest_bytes) is bytes and env.digest_bytes == bytes(ref.digest_bytes)
    for i in range(len(buf)):  # the caller reuses its buffer: nothing changes
        buf[i] = 0
    gc.collect()
    assert env.sequence_number == ref.sequence_number and env.components == ref.components
    keys = (se.M_VALIDATE, se.M_INSTALL, se.M_PAYLOAD_FETCH, se.M_TEXT, se.M_LOAD, se.M_INVOKE)
    for key in keys:
        a, b = se.member(env, key), se.member(ref, key)
        assert (a is None) == (b is None), key
        if a is not None:
            assert bytes(a) == bytes(b), key
    se.check_digest(env.digest, env.manifest)


def test_detach_severable_and_integrated_payloads():
    key = cose.decode_key(read_binary("suit/hg_create_hmac.cose_key"))
    raw = read_binary("suit/hg_create_hmac.suit")
    fns = [se.mac0_verifier(key)]
    ref = se.authenticate(raw, fns)
    assert sorted(ref.severable) == [se.ENV_INSTALL, se.ENV_TEXT] and ref.payloads
    env = se.authenticate(bytearray(raw), fns, detach=True)
    for k in ref.severable:
        assert type(env.severable[k]) is bytes and env.severable[k] == bytes(ref.severable[k])
    assert bytes(se.member(env, se.M_INSTALL)) == bytes(se.member(ref, se.M_INSTALL))
    # integrated payloads stay views (they may be large): same bytes
    for uri in ref.payloads:
        assert bytes(env.payloads[uri]) == bytes(ref.payloads[uri])


def test_detach_still_checks_everything():
    key = cose.decode_key(read_binary("suit/hg_create_hmac.cose_key"))
    raw = read_binary("suit/hg_create_hmac.suit")
    fns = [se.mac0_verifier(key)]
    env = se.decode_envelope(raw)
    # a severable member changed: the digest in the manifest catches it
    member = bytes(env.severable[se.ENV_TEXT])
    i = raw.find(member)
    assert i > 0
    bad = bytearray(raw)
    bad[i + len(member) - 1] ^= 1
    e = raises(se.SuitError, se.authenticate, bad, fns, detach=True)
    assert e.code == se.SUIT_ERR_DIGEST_MISMATCH
    # the manifest changed: its digest no longer matches
    man = bytes(env.manifest)
    i = raw.find(man)
    bad = bytearray(raw)
    bad[i + len(man) - 1] ^= 1
    e = raises(se.SuitError, se.authenticate, bad, fns, detach=True)
    assert e.code == se.SUIT_ERR_DIGEST_MISMATCH
    # the wrong key
    e = raises(se.SuitError, se.authenticate, raw, [se.mac0_verifier(b"\x01" * 32)], detach=True)
    assert e.code == se.SUIT_ERR_AUTHENTICATION


def test_signed_second_pass_needs_no_cose():
    # the device's two-pass authentication: once the verifiers are unloaded
    # the same bytes are accepted only over the digest the first pass verified
    import sys

    key = cose.decode_key(read_binary("suit/hg_create_hmac.cose_key"))
    raw = read_binary("suit/hg_create_hmac.suit")
    first = se.authenticate(bytearray(raw), [se.mac0_verifier(key)], detach=True)
    saved = sys.modules.pop("cose")
    try:
        env = se.authenticate(bytearray(raw), (), detach=True, signed=first.digest_bytes)
        assert "cose" not in sys.modules  # not imported again
    finally:
        sys.modules["cose"] = saved
    assert env.authenticated and env.auth_blocks == []
    assert env.sequence_number == first.sequence_number and env.components == first.components
    assert bytes(se.member(env, se.M_INSTALL)) == bytes(se.member(first, se.M_INSTALL))
    # another digest (one bit): refused, and nothing interpreted
    other = bytearray(first.digest_bytes)
    other[-1] ^= 1
    e = raises(se.SuitError, se.authenticate, raw, (), detach=True, signed=bytes(other))
    assert e.code == se.SUIT_ERR_AUTHENTICATION
    e = raises(se.SuitError, se.authenticate, raw, (), signed=first.digest_bytes[:-1])
    assert e.code == se.SUIT_ERR_AUTHENTICATION
    # the manifest changed after the first pass: its digest check still runs
    man = bytes(first.manifest)
    i = raw.find(man)
    bad = bytearray(raw)
    bad[i + len(man) - 1] ^= 1
    e = raises(se.SuitError, se.authenticate, bad, (), detach=True, signed=first.digest_bytes)
    assert e.code == se.SUIT_ERR_DIGEST_MISMATCH
