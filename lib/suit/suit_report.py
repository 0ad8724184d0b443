# SUIT_Report (draft-ietf-suit-report): what a manifest processor did with one
# manifest, as CBOR the device can send home or put in an attestation token.
#
#   SUIT_Report = { 99: [ ? manifest-uri tstr, manifest-digest SUIT_Digest ],
#                   ? 2: nonce bstr,
#                   3: [ * SUIT_Record / system-property-claims ],
#                   4: true / { 5: code int, 6: SUIT_Record, 7: reason uint } }
#   SUIT_Record = [ manifest-id [* uint], section int, offset uint,
#                   component-index uint, properties { * param => value } ]
#   system-property-claims = { 0: component-id, + param => value }
#
# The processor (suit_processor) feeds a Report: record() for the commands
# whose reporting policy asks for it (and every failed one), then success()
# or fail(). manifest-id is always [] (no dependency manifests). section is
# the manifest key of the command sequence (3 for the shared sequence, whose
# offsets count from the start of the shared sequence), offset is the byte
# offset of the command inside that sequence's bstr. Records are capped at
# max_records: later ones are dropped (counted in .dropped), the result is
# always kept. Runs on CPython and MicroPython; needs cbor and hgcrypto.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import cbor
import hgcrypto
import suit_envelope

from suit_envelope import SuitError, SUIT_ERR_INVALID_MANIFEST, ALG_SHA256

# SUIT_Report keys
R_REFERENCE = const(99)
R_NONCE = const(2)
R_RECORDS = const(3)
R_RESULT = const(4)
R_RESULT_CODE = const(5)
R_RESULT_RECORD = const(6)
R_RESULT_REASON = const(7)
R_COMPONENT_ID = const(0)  # in system-property-claims

# SUIT_Report_Reasons
REASON_OK = const(0)
REASON_CBOR_PARSE = const(1)
REASON_COSE_UNSUPPORTED = const(2)
REASON_ALG_UNSUPPORTED = const(3)
REASON_UNAUTHORISED = const(4)
REASON_COMMAND_UNSUPPORTED = const(5)
REASON_COMPONENT_UNSUPPORTED = const(6)
REASON_COMPONENT_UNAUTHORISED = const(7)
REASON_PARAMETER_UNSUPPORTED = const(8)
REASON_SEVERING_UNSUPPORTED = const(9)
REASON_CONDITION_FAILED = const(10)
REASON_OPERATION_FAILED = const(11)
REASON_INVOKE_PENDING = const(12)
_MAX_REASON = const(12)

SECTION_ENVELOPE = const(0)  # the failure happened before any manifest section ran

MAX_RECORDS = const(16)
_MAX_DECODE_ITEMS = const(1024)

# SUIT_ERR_* code -> reason, for errors raised while the processor runs
# (a SuitError may carry a more precise .reason, which wins).
_PROC_REASONS = {
    -1: REASON_CBOR_PARSE,  # INVALID_MANIFEST: malformed command sequence / argument
    -2: REASON_COMMAND_UNSUPPORTED,  # UNSUPPORTED
    -3: REASON_COMMAND_UNSUPPORTED,  # NOT_SUPPORTED
    -4: REASON_CONDITION_FAILED,  # COND
    -5: REASON_CONDITION_FAILED,  # SEQUENCE_NUMBER: the anti-rollback check
    -6: REASON_UNAUTHORISED,  # AUTHENTICATION (key unwrap failed)
    -7: REASON_CONDITION_FAILED,  # DIGEST_MISMATCH (image-match)
    -8: REASON_OPERATION_FAILED,  # POLICY_FORBIDDEN
    -9: REASON_OPERATION_FAILED,  # NO_MEM
    -10: REASON_CBOR_PARSE,  # VERSION
    -11: REASON_OPERATION_FAILED,  # FETCH
    -12: REASON_CONDITION_FAILED,  # ABORT (condition-abort)
}

# ... and for errors of the envelope layer, before the processor ran
_ENV_REASONS = {
    -1: REASON_CBOR_PARSE,
    -2: REASON_ALG_UNSUPPORTED,  # digest algorithm, unknown member
    -6: REASON_UNAUTHORISED,
    -7: REASON_UNAUTHORISED,  # manifest or member does not match the signed digest
    -10: REASON_CBOR_PARSE,
}


def _is_bytes(x):
    return isinstance(x, (bytes, bytearray, memoryview))


def _is_uint(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def reason_for(err, before_processing=False):
    """The SUIT_Report_Reasons value for a SuitError (or a bare code)."""
    r = getattr(err, "reason", None)
    if _is_uint(r) and r <= _MAX_REASON:
        return r
    code = getattr(err, "code", err)
    if before_processing:
        return _ENV_REASONS.get(code, REASON_CBOR_PARSE)
    return _PROC_REASONS.get(code, REASON_OPERATION_FAILED)


def _plain(v):
    # memoryviews (zero-copy views of the manifest) become bytes for encoding
    if isinstance(v, memoryview):
        return bytes(v)
    return v


def _props(props):
    out = {}
    if props:
        for k in props:
            out[k] = _plain(props[k])
    return out


class Report:
    """A SUIT_Report under construction.

    env_or_digest: an authenticated suit_envelope.Envelope (its manifest
    digest and reference URI are used), a SUIT_Digest [alg, bytes], or the
    32 raw bytes of a SHA-256 manifest digest. uri: reference URI (default:
    the envelope's). nonce: bytes or None."""

    def __init__(self, env_or_digest, uri=None, nonce=None, max_records=MAX_RECORDS):
        d = env_or_digest
        if hasattr(d, "digest") and hasattr(d, "manifest"):
            if uri is None:
                uri = d.reference_uri
            d = d.digest
        if _is_bytes(d):
            d = [ALG_SHA256, bytes(d)]
        if not isinstance(d, (list, tuple)) or len(d) != 2 or not _is_bytes(d[1]):
            raise ValueError("bad manifest digest")
        self.digest = [d[0], bytes(d[1])]
        self.uri = uri
        self.nonce = None if nonce is None else bytes(nonce)
        self.max_records = max_records
        self.records = []
        self.dropped = 0
        self.result = None  # True, or (code, record, reason) once known

    def _add(self, item):
        if len(self.records) < self.max_records:
            self.records.append(item)
        else:
            self.dropped += 1

    def record(self, section, offset, component_index, properties=None):
        """Append a SUIT_Record (bounded)."""
        self._add([[], section, offset, component_index, _props(properties)])

    def sysinfo(self, component_id, properties):
        """Append system-property-claims for a component (needs >= 1 property)."""
        p = _props(properties)
        if not p:
            return
        p[R_COMPONENT_ID] = [bytes(x) for x in component_id]
        self._add(p)

    def success(self):
        self.result = True

    def fail(self, err, section, offset, component_index, properties=None, before_processing=False):
        """The procedure failed with SuitError `err` at the command at
        `offset` of `section`, while component `component_index` was current."""
        code = getattr(err, "code", None)
        if not isinstance(code, int) or isinstance(code, bool):
            code = -1
        rec = [[], section, offset, component_index, _props(properties)]
        self.result = (code, rec, reason_for(err, before_processing))

    @staticmethod
    def for_envelope_error(data, err, nonce=None):
        """A report for an envelope rejected before the processor ran (bad
        CBOR, bad signature, ...). The reference digest is the SHA-256 of the
        manifest bstr when the envelope still parses that far (even if not
        authentic: it names the manifest that was refused), otherwise the
        SHA-256 of the raw envelope bytes (the manifest is unknown). A report
        reader cannot tell the two apart: both name what the device got."""
        raw = bytes(data) if _is_bytes(data) else b""
        digest = None
        uri = None
        try:
            env = suit_envelope.decode_envelope(raw)
            digest = suit_envelope.bstr_digest(env.manifest)
        except SuitError:
            pass
        if digest is None:
            digest = hgcrypto.sha256_digest(raw)
        r = Report([ALG_SHA256, digest], uri, nonce)
        r.fail(err, SECTION_ENVELOPE, 0, 0, None, before_processing=True)
        return r

    def encode(self):
        """CBOR bytes of the SUIT_Report."""
        if self.result is None:
            raise ValueError("report has no result")
        ref = [self.digest]
        if self.uri is not None:
            ref = [self.uri, self.digest]
        out = {R_REFERENCE: ref, R_RECORDS: self.records}
        if self.nonce is not None:
            out[R_NONCE] = self.nonce
        if self.result is True:
            out[R_RESULT] = True
        else:
            code, rec, reason = self.result
            out[R_RESULT] = {R_RESULT_CODE: code, R_RESULT_RECORD: rec, R_RESULT_REASON: reason}
        return cbor.dumps(out)


# ------------------------------------------------------------------ decode


def _bad(msg):
    return SuitError(SUIT_ERR_INVALID_MANIFEST, msg)


def _check_record(r):
    if not isinstance(r, list) or len(r) != 5:
        raise _bad("bad record")
    mid, section, off, idx, props = r
    if not isinstance(mid, list):
        raise _bad("bad manifest-id")
    for x in mid:
        if not _is_uint(x):
            raise _bad("bad manifest-id")
    if not isinstance(section, int) or isinstance(section, bool):
        raise _bad("bad section")
    if not _is_uint(off) or not _is_uint(idx):
        raise _bad("bad offset or component index")
    if not isinstance(props, dict):
        raise _bad("bad properties")
    for k in props:
        if not isinstance(k, int) or isinstance(k, bool):
            raise _bad("bad property key")


def _check_claims(m):
    cid = m.get(R_COMPONENT_ID)
    if not isinstance(cid, list) or not cid or len(m) < 2:
        raise _bad("bad system-property-claims")
    for p in cid:
        if not _is_bytes(p):
            raise _bad("bad component id")
    for k in m:
        if not isinstance(k, int) or isinstance(k, bool):
            raise _bad("bad property key")


def decode(data):
    """Parse and validate SUIT_Report bytes. Returns a dict with keys
    uri (str or None), digest ([alg, bytes]), nonce (bytes or None),
    records (list of SUIT_Record lists / claim dicts) and result (True, or
    a dict with code, record, reason). SuitError if malformed."""
    if not _is_bytes(data):
        raise _bad("report must be bytes")
    try:
        m = cbor.loads(data, strict=True, max_depth=8, max_items=_MAX_DECODE_ITEMS)
    except ValueError:
        raise _bad("bad CBOR")
    if not isinstance(m, dict):
        raise _bad("report not a map")
    for k in m:
        if k not in (R_REFERENCE, R_NONCE, R_RECORDS, R_RESULT):
            raise _bad("unknown report key")
    ref = m.get(R_REFERENCE)
    if not isinstance(ref, list) or len(ref) not in (1, 2):
        raise _bad("bad reference")
    uri = None
    if len(ref) == 2:
        uri = ref[0]
        if not isinstance(uri, str):
            raise _bad("bad manifest uri")
    d = ref[-1]
    if not isinstance(d, list) or len(d) != 2 or not isinstance(d[0], int) or not _is_bytes(d[1]):
        raise _bad("bad manifest digest")
    nonce = m.get(R_NONCE)
    if nonce is not None and not _is_bytes(nonce):
        raise _bad("bad nonce")
    recs = m.get(R_RECORDS)
    if not isinstance(recs, list):
        raise _bad("bad records")
    for r in recs:
        if isinstance(r, dict):
            _check_claims(r)
        else:
            _check_record(r)
    res = m.get(R_RESULT)
    if res is True:
        result = True
    elif isinstance(res, dict):
        if len(res) != 3:
            raise _bad("bad result")
        code = res.get(R_RESULT_CODE)
        reason = res.get(R_RESULT_REASON)
        if not isinstance(code, int) or isinstance(code, bool) or not _is_uint(reason):
            raise _bad("bad result")
        _check_record(res.get(R_RESULT_RECORD))
        result = {"code": code, "record": res[R_RESULT_RECORD], "reason": reason}
    else:
        raise _bad("bad result")
    return {"uri": uri, "digest": d, "nonce": nonce, "records": recs, "result": result}
