# SUIT_Report (lib/suit/suit_report.py): encoding, decoding and validation,
# the reason map, bounded records, reports for envelopes rejected before
# processing. Portable: CPython, MicroPython unix port, qemu image.
import cbor
import hgcrypto

import suit_envelope as se
import suit_report as sr
from hgtest import h, raises, read_binary
from suittest import accept

DIGEST = h("6658ea560262696dd1f13b782239a064da7c6c5cbaf52fded428a6fc83c7e5af")  # example 0


def test_success_report_exact_bytes():
    r = sr.Report(DIGEST, uri="coap://x/m", nonce=b"\x01\x02")
    r.record(7, 1, 0, {3: memoryview(b"\xaa\xbb"), 14: 5})
    r.success()
    data = r.encode()
    want = cbor.dumps({
        99: ["coap://x/m", [-16, DIGEST]],
        2: b"\x01\x02",
        3: [[[], 7, 1, 0, {3: b"\xaa\xbb", 14: 5}]],
        4: True,
    })
    assert data == want
    dec = sr.decode(data)
    assert dec["uri"] == "coap://x/m" and dec["digest"] == [-16, DIGEST]
    assert dec["nonce"] == b"\x01\x02" and dec["result"] is True
    assert dec["records"] == [[[], 7, 1, 0, {3: b"\xaa\xbb", 14: 5}]]


def test_failure_report():
    r = sr.Report([-16, DIGEST])
    e = se.SuitError(se.SUIT_ERR_DIGEST_MISMATCH, "x")
    r.fail(e, 20, 12, 1, {3: b"\x01"})
    dec = sr.decode(r.encode())
    assert dec["uri"] is None and dec["records"] == []
    want = {"code": -7, "record": [[], 20, 12, 1, {3: b"\x01"}], "reason": sr.REASON_CONDITION_FAILED}
    assert dec["result"] == want
    # a reason carried by the error wins over the code's default
    e.reason = sr.REASON_SEVERING_UNSUPPORTED
    r.fail(e, 20, 0, 0)
    assert sr.decode(r.encode())["result"]["reason"] == sr.REASON_SEVERING_UNSUPPORTED
    # an encode before any result is a programming error
    raises(ValueError, sr.Report(DIGEST).encode)


def test_reason_map():
    cases = (
        (se.SUIT_ERR_INVALID_MANIFEST, sr.REASON_CBOR_PARSE),
        (se.SUIT_ERR_UNSUPPORTED, sr.REASON_COMMAND_UNSUPPORTED),
        (se.SUIT_ERR_COND, sr.REASON_CONDITION_FAILED),
        (se.SUIT_ERR_SEQUENCE_NUMBER, sr.REASON_CONDITION_FAILED),
        (se.SUIT_ERR_AUTHENTICATION, sr.REASON_UNAUTHORISED),
        (se.SUIT_ERR_NO_MEM, sr.REASON_OPERATION_FAILED),
        (se.SUIT_ERR_FETCH, sr.REASON_OPERATION_FAILED),
        (se.SUIT_ERR_ABORT, sr.REASON_CONDITION_FAILED),
        (-99, sr.REASON_OPERATION_FAILED),
    )
    for code, reason in cases:
        assert sr.reason_for(se.SuitError(code, "x")) == reason, code
    # before processing: a digest mismatch means the manifest is not the signed one
    assert sr.reason_for(se.SuitError(se.SUIT_ERR_DIGEST_MISMATCH, "x"), True) == sr.REASON_UNAUTHORISED
    assert sr.reason_for(se.SuitError(se.SUIT_ERR_UNSUPPORTED, "x"), True) == sr.REASON_ALG_UNSUPPORTED


def test_report_from_envelope():
    env = se.authenticate(read_binary("suit/example2_signed.suit"), [accept])
    r = sr.Report(env, nonce=b"n")
    r.success()
    dec = sr.decode(r.encode())
    assert dec["uri"] == "https://git.io/JJYoj"
    assert dec["digest"] == [-16, h("6a5197ed8f9dccf733d1c89a359441708e070b4c6dcb9a1c2c82c6165f609b90")]


def test_records_bounded_and_sysinfo():
    r = sr.Report(DIGEST, max_records=3)
    r.sysinfo([b"\x00"], {})  # nothing measured: no claim
    r.sysinfo([b"\x00"], {5: 1})
    for i in range(10):
        r.record(7, i, 0)
    r.fail(se.SuitError(se.SUIT_ERR_COND, "x"), 7, 99, 0)
    dec = sr.decode(r.encode())
    assert len(dec["records"]) == 3 and r.dropped == 8
    assert dec["records"][0] == {0: [b"\x00"], 5: 1}
    assert dec["records"][1] == [[], 7, 0, 0, {}]
    assert dec["result"]["record"][2] == 99


def test_envelope_error_reports():
    data = read_binary("suit/example0_signed.suit")
    # a bad signature: the manifest parses, its digest names it
    e = raises(se.SuitError, se.authenticate, data, [])
    r = sr.Report.for_envelope_error(data, e, nonce=b"\x07")
    dec = sr.decode(r.encode())
    assert dec["digest"] == [-16, DIGEST] and dec["nonce"] == b"\x07"
    assert dec["result"]["code"] == se.SUIT_ERR_AUTHENTICATION
    assert dec["result"]["reason"] == sr.REASON_UNAUTHORISED
    assert dec["result"]["record"] == [[], sr.SECTION_ENVELOPE, 0, 0, {}]
    # garbage: no manifest to name, so the raw bytes are digested
    bad = b"\xd8\x6b\xa1\x03\x41"
    e = raises(se.SuitError, se.authenticate, bad, [accept])
    dec = sr.decode(sr.Report.for_envelope_error(bad, e).encode())
    assert dec["digest"] == [-16, hgcrypto.sha256_digest(bad)]
    assert dec["result"]["reason"] == sr.REASON_CBOR_PARSE
    # tampered manifest: digest mismatch is reported as unauthorised
    t = bytearray(data)
    t[-3] ^= 1
    e = raises(se.SuitError, se.authenticate, bytes(t), [accept])
    assert e.code == se.SUIT_ERR_DIGEST_MISMATCH
    dec = sr.decode(sr.Report.for_envelope_error(bytes(t), e).encode())
    assert dec["result"]["reason"] == sr.REASON_UNAUTHORISED
    assert dec["digest"] == [-16, se.bstr_digest(se.decode_envelope(bytes(t)).manifest)]
    # not even bytes
    dec = sr.decode(sr.Report.for_envelope_error(None, se.SuitError(-1, "x")).encode())
    assert dec["digest"] == [-16, hgcrypto.sha256_digest(b"")]


def test_decode_rejects():
    rec = [[], 7, 0, 0, {}]
    good = {99: [[-16, DIGEST]], 3: [], 4: True}
    sr.decode(cbor.dumps(good))
    bad = (
        {3: [], 4: True},
        {99: [], 3: [], 4: True},
        {99: ["u", "v", [-16, DIGEST]], 3: [], 4: True},
        {99: [5, [-16, DIGEST]], 3: [], 4: True},
        {99: [[-16]], 3: [], 4: True},
        {99: [[-16, DIGEST]], 4: True},
        {99: [[-16, DIGEST]], 3: [], 4: False},
        {99: [[-16, DIGEST]], 3: []},
        {99: [[-16, DIGEST]], 3: [], 4: True, 2: "nonce"},
        {99: [[-16, DIGEST]], 3: [], 4: True, 77: 1},
        {99: [[-16, DIGEST]], 3: [[[], 7, 0, 0]], 4: True},
        {99: [[-16, DIGEST]], 3: [[[-1], 7, 0, 0, {}]], 4: True},
        {99: [[-16, DIGEST]], 3: [[[], 7, -1, 0, {}]], 4: True},
        {99: [[-16, DIGEST]], 3: [{0: [b"\x00"]}], 4: True},
        {99: [[-16, DIGEST]], 3: [{0: [1], 5: 1}], 4: True},
        {99: [[-16, DIGEST]], 3: [], 4: {5: -1, 6: rec}},
        {99: [[-16, DIGEST]], 3: [], 4: {5: -1, 6: rec, 7: -3}},
        {99: [[-16, DIGEST]], 3: [], 4: {5: -1, 6: [1], 7: 3}},
        [1, 2],
    )
    for b in bad:
        e = raises(se.SuitError, sr.decode, cbor.dumps(b))
        assert e.code == se.SUIT_ERR_INVALID_MANIFEST, b
    for raw in (b"", b"\xa1", cbor.dumps(good) + b"\x00", None):
        raises(se.SuitError, sr.decode, raw)
