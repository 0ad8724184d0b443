# SUIT envelope layer (draft-ietf-suit-manifest-37, RFC 9124 model).
#
# decode_envelope() splits a SUIT_Envelope into its raw parts without
# interpreting the manifest; authenticate() then checks the manifest digest
# and at least one COSE_Sign1/COSE_Mac0 over it BEFORE decoding the
# manifest's top level (version, sequence number, components) and checking
# the digests of any severable members present.
#
# Every problem with the input raises SuitError (a ValueError) carrying a
# numeric .code (SUIT_ERR_*, RIOT-style names). Runs on CPython and
# MicroPython; needs cbor, hgcrypto and cose (lib/). cose is imported only
# by the functions that verify blocks (not at module level), so a device can
# unload it (~3 KB on the 64 KiB board) once the envelope is authenticated.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import cbor
import hgcrypto

# CBOR tag of SUIT_Envelope_Tagged
_TAG_ENVELOPE = const(107)

# SUIT_Envelope keys
_ENV_AUTHENTICATION_WRAPPER = const(2)
_ENV_MANIFEST = const(3)
_ENV_PAYLOAD_FETCH = const(16)
_ENV_INSTALL = const(20)
_ENV_TEXT = const(23)

# SUIT_Manifest keys
_M_VERSION = const(1)
_M_SEQUENCE_NUMBER = const(2)
_M_COMMON = const(3)
_M_REFERENCE_URI = const(4)
_M_VALIDATE = const(7)
_M_LOAD = const(8)
_M_INVOKE = const(9)
_M_PAYLOAD_FETCH = const(16)
_M_INSTALL = const(20)
_M_TEXT = const(23)

# SUIT_Common keys
_C_COMPONENTS = const(2)
_C_SHARED_SEQUENCE = const(4)

# Severable members: same key in the envelope and the manifest
SEVERABLE = (_ENV_PAYLOAD_FETCH, _ENV_INSTALL, _ENV_TEXT)

# SUIT_Digest = [algorithm-id, digest-bytes]; COSE algorithm ids
_ALG_SHA256 = const(-16)
_SHA256_LEN = const(32)
_MANIFEST_VERSION = const(1)

# Error codes (RIOT sys/include/suit.h names; VERSION is ours)
_SUIT_OK = const(0)
_SUIT_ERR_INVALID_MANIFEST = const(-1)
_SUIT_ERR_UNSUPPORTED = const(-2)
_SUIT_ERR_NOT_SUPPORTED = const(-3)
_SUIT_ERR_COND = const(-4)
_SUIT_ERR_SEQUENCE_NUMBER = const(-5)
_SUIT_ERR_AUTHENTICATION = const(-6)  # RIOT: SUIT_ERR_SIGNATURE
_SUIT_ERR_SIGNATURE = const(-6)
_SUIT_ERR_DIGEST_MISMATCH = const(-7)
_SUIT_ERR_POLICY_FORBIDDEN = const(-8)
_SUIT_ERR_NO_MEM = const(-9)
_SUIT_ERR_VERSION = const(-10)
_SUIT_ERR_FETCH = const(-11)  # a payload could not be fetched (ours)
_SUIT_ERR_ABORT = const(-12)  # condition-abort, or a failed directive (ours)

# Bounds
_MAX_AUTH_BLOCKS = const(4)
_MAX_PAYLOADS = const(8)
_MAX_COMPONENTS = const(16)
_MAX_COMPONENT_PARTS = const(8)
_ENV_DEPTH = const(4)
_ENV_ITEMS = const(64)
_MAN_DEPTH = const(8)
_MAN_ITEMS = const(512)
_MAX_UINT64 = const(0xFFFFFFFFFFFFFFFF)


class SuitError(ValueError):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code


def _invalid(msg):
    return SuitError(_SUIT_ERR_INVALID_MANIFEST, msg)


def _is_bytes(x):
    return isinstance(x, (bytes, bytearray, memoryview))


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _loads(data, depth, items):
    try:
        return cbor.loads(data, strict=True, zero_copy=True, max_depth=depth, max_items=items)
    except MemoryError:
        raise SuitError(_SUIT_ERR_NO_MEM, "out of memory")
    except ValueError:
        raise _invalid("bad CBOR")


def _bstr_head(n):
    if n < 24:
        return bytes((0x40 | n,))
    if n < 0x100:
        return bytes((0x58, n))
    if n < 0x10000:
        return bytes((0x59, n >> 8, n & 0xFF))
    return bytes((0x5A, (n >> 24) & 0xFF, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF))


def bstr_digest(data):
    """SHA-256 of data wrapped in a CBOR bstr (how SUIT digests the manifest
    and severable members)."""
    h = hgcrypto.sha256(_bstr_head(len(data)))
    h.update(data)
    return h.digest()


def _parse_digest(d):
    if not isinstance(d, list) or len(d) != 2 or not _is_int(d[0]) or not _is_bytes(d[1]):
        raise _invalid("bad digest")
    return d[0], d[1]


def check_digest(digest, data):
    """Compare SUIT_Digest [alg, bytes] with the bstr-wrapped data."""
    alg, want = _parse_digest(digest)
    if alg != _ALG_SHA256:
        raise SuitError(_SUIT_ERR_UNSUPPORTED, "digest algorithm")
    got = bstr_digest(data)
    if len(want) != _SHA256_LEN or not hgcrypto.ct_equal(got, bytes(want)):
        raise SuitError(_SUIT_ERR_DIGEST_MISMATCH, "digest mismatch")


class Envelope:
    """A decoded SUIT_Envelope. Byte fields are zero-copy views into the input
    (after authenticate(detach=True): owned copies, payloads excepted).

    tagged: input carried tag 107. manifest: the manifest bstr contents.
    digest_bytes: the encoded SUIT_Digest (signed by the auth blocks);
    digest: [alg, bytes]. auth_blocks: list of COSE authentication blocks.
    severable: {16/20/23: bstr}. payloads: {uri str: bstr}.
    Set by authenticate(): authenticated, manifest_map, version,
    sequence_number, reference_uri, common (dict), components (list of
    lists of bytes)."""

    def __init__(self):
        self.tagged = False
        self.manifest = None
        self.digest_bytes = None
        self.digest = None
        self.auth_blocks = []
        self.severable = {}
        self.payloads = {}
        self.authenticated = False
        self.manifest_map = None
        self.version = None
        self.sequence_number = None
        self.reference_uri = None
        self.common = None
        self.components = None


def decode_envelope(data):
    """Split a SUIT_Envelope(_Tagged) into an Envelope; SuitError if malformed."""
    if not _is_bytes(data):
        raise _invalid("envelope must be bytes")
    obj = _loads(memoryview(data), _ENV_DEPTH, _ENV_ITEMS)
    env = Envelope()
    if isinstance(obj, cbor.Tag):
        if obj.tag != _TAG_ENVELOPE:
            raise _invalid("wrong tag")
        env.tagged = True
        obj = obj.value
    if not isinstance(obj, dict):
        raise _invalid("envelope not a map")
    for k in obj:
        v = obj[k]
        if isinstance(k, str):
            if not _is_bytes(v):
                raise _invalid("payload not bstr")
            if len(env.payloads) >= _MAX_PAYLOADS:
                raise SuitError(_SUIT_ERR_UNSUPPORTED, "too many payloads")
            env.payloads[k] = v
        elif not _is_int(k):
            raise _invalid("bad envelope key")
        elif not _is_bytes(v):
            raise _invalid("envelope member not bstr")
        elif k == _ENV_MANIFEST:
            env.manifest = v
        elif k == _ENV_AUTHENTICATION_WRAPPER:
            _auth_wrapper(env, v)
        elif k in SEVERABLE:
            env.severable[k] = v
        else:
            raise SuitError(_SUIT_ERR_UNSUPPORTED, "unknown envelope member")
    if env.manifest is None:
        raise _invalid("no manifest")
    if env.digest is None:
        raise _invalid("no authentication wrapper")
    return env


def _auth_wrapper(env, raw):
    aw = _loads(raw, 2, _MAX_AUTH_BLOCKS + 1)
    if not isinstance(aw, list) or not aw or len(aw) > _MAX_AUTH_BLOCKS + 1:
        raise _invalid("bad authentication wrapper")
    for b in aw:
        if not _is_bytes(b):
            raise _invalid("bad authentication wrapper")
    env.digest_bytes = aw[0]
    env.digest = list(_parse_digest(_loads(aw[0], 2, 3)))
    env.auth_blocks = aw[1:]


# ------------------------------------------------------------ verify hooks


def sign1_verifier(pub, alg):
    """Hook for authenticate(): verify COSE_Sign1 blocks of alg with pub
    through cose (alg must be registered there, e.g. lms.register_cose())."""

    def fn(msg, payload):
        import cose

        if msg.type != cose.TAG_SIGN1 or msg.alg != alg:
            return False
        cose.sign1_verify(pub, msg, detached_payload=payload, expected_alg=alg)
        return True

    return fn


def mac0_verifier(key, alg=None):
    """Hook for authenticate(): verify COSE_Mac0 blocks with key (bytes or
    a cose.COSEKey), optionally only of algorithm alg."""

    def fn(msg, payload):
        import cose

        if msg.type != cose.TAG_MAC0 or (alg is not None and msg.alg != alg):
            return False
        cose.mac0_verify(key, msg, detached_payload=payload, expected_alg=alg)
        return True

    return fn


def _verify_blocks(env, verify_fns):
    if not env.auth_blocks:
        raise SuitError(_SUIT_ERR_AUTHENTICATION, "no authentication block")
    import cose

    payload = bytes(env.digest_bytes)
    for block in env.auth_blocks:
        try:
            # zero-copy: the signature stays a view into the envelope (an
            # HSS signature is ~5 KB; no copies of it on the heap)
            msg = cose.decode(block, zero_copy=True)
        except ValueError:
            raise _invalid("bad COSE block")
        if msg.type == cose.TAG_ENCRYPT0 or msg.content is not None:
            raise _invalid("bad COSE block")
        for fn in verify_fns:
            try:
                if fn(msg, payload) is True:
                    return
            except ValueError:
                pass
    raise SuitError(_SUIT_ERR_AUTHENTICATION, "authentication failed")


# ------------------------------------------------------------ authenticate


def authenticate(envelope, verify_fns, detach=False, signed=None):
    """Authenticate an Envelope (or envelope bytes) and decode the manifest's
    top level. verify_fns: callables fn(cose_msg, detached_payload) that
    return True after verifying a block they handle, False for blocks they do
    not handle, and raise ValueError when verification fails (see
    sign1_verifier, mac0_verifier). Returns the Envelope.

    detach=True: the manifest and severable members are copied out of the
    envelope buffer (they are small) and the authentication blocks dropped
    once verified, so the Envelope no longer refers to that buffer unless
    it has integrated payloads: the caller can then let the envelope bytes
    go (with HSS-LMS most of them are the ~5 KB signature) before the
    update runs.

    signed: the SUIT_Digest bytes (.digest_bytes) that an earlier
    authenticate() of these same, unchanged envelope bytes verified: the
    envelope's digest must equal them (constant time) in place of verifying
    the COSE blocks again, so this second pass needs neither cose nor the
    verifiers in RAM (the device reloads the envelope this way once they
    are unloaded). verify_fns is then not used."""
    env = envelope
    if not isinstance(env, Envelope):
        env = decode_envelope(envelope)
    env.authenticated = False
    if detach:
        # copied before the checks: what is verified is what is kept
        env.manifest = bytes(env.manifest)
        env.digest_bytes = bytes(env.digest_bytes)
        env.digest = [env.digest[0], bytes(env.digest[1])]
        sev = env.severable
        for k in list(sev):
            sev[k] = bytes(sev[k])
    # 1. digest of the manifest, 2. signature/MAC over the digest
    check_digest(env.digest, env.manifest)
    try:
        if signed is None:
            _verify_blocks(env, verify_fns)
        elif not env.auth_blocks or not hgcrypto.ct_equal(bytes(env.digest_bytes), bytes(signed)):
            raise SuitError(_SUIT_ERR_AUTHENTICATION, "authentication failed")
    except MemoryError:  # cbor/cose/lms let it through: it is not a bad signature
        raise SuitError(_SUIT_ERR_NO_MEM, "out of memory")
    if detach:
        env.auth_blocks = []  # verified, and views into the buffer
    # 3. only now interpret the manifest
    m = _loads(env.manifest, _MAN_DEPTH, _MAN_ITEMS)
    if not isinstance(m, dict):
        raise _invalid("manifest not a map")
    for k in m:
        if not _is_int(k):
            raise _invalid("bad manifest key")
    if m.get(_M_VERSION) != _MANIFEST_VERSION or isinstance(m.get(_M_VERSION), bool):
        raise SuitError(_SUIT_ERR_VERSION, "unsupported manifest version")
    seq = m.get(_M_SEQUENCE_NUMBER)
    if not _is_int(seq) or seq < 0 or seq > _MAX_UINT64:
        raise _invalid("bad sequence number")
    uri = m.get(_M_REFERENCE_URI)
    if uri is not None and not isinstance(uri, str):
        raise _invalid("bad reference uri")
    common = m.get(_M_COMMON)
    if not _is_bytes(common):
        raise _invalid("bad common")
    common = _loads(common, _MAN_DEPTH, _MAN_ITEMS)
    if not isinstance(common, dict):
        raise _invalid("bad common")
    env.components = _components(common.get(_C_COMPONENTS))
    for k in (_M_VALIDATE, _M_LOAD, _M_INVOKE):
        if k in m and not _is_bytes(m[k]):
            raise _invalid("bad command sequence")
    _check_severable(env, m)
    env.manifest_map = m
    env.version = _MANIFEST_VERSION
    env.sequence_number = seq
    env.reference_uri = uri
    env.common = common
    env.authenticated = True
    return env


def _components(comps):
    if not isinstance(comps, list) or not comps or len(comps) > _MAX_COMPONENTS:
        raise _invalid("bad components")
    out = []
    for cid in comps:
        if not isinstance(cid, list) or not cid or len(cid) > _MAX_COMPONENT_PARTS:
            raise _invalid("bad component id")
        parts = []
        for p in cid:
            if not _is_bytes(p):
                raise _invalid("bad component id")
            parts.append(bytes(p))
        out.append(parts)
    return out


def _check_severable(env, m):
    for k in SEVERABLE:
        ref = m.get(k)
        member = env.severable.get(k)
        if ref is None:
            if member is not None:
                raise _invalid("unexpected severable member")
        elif _is_bytes(ref):
            if member is not None:
                raise _invalid("member not severable")
        elif member is not None:
            check_digest(ref, member)
        else:
            _parse_digest(ref)


def member(env, key):
    """An authenticated member (command sequence or text) by manifest key:
    from the manifest, else the digest-checked severable member, else None."""
    if not env.authenticated:
        raise SuitError(_SUIT_ERR_AUTHENTICATION, "not authenticated")
    ref = env.manifest_map.get(key)
    if _is_bytes(ref):
        return ref
    if ref is not None:
        return env.severable.get(key)
    return None


# The public constants (module.NAME, `from suit_envelope import NAME`): a literal table
# (ROM when frozen) read by __getattr__, instead of a slot each in this
# module's globals (heap). Inside the module the private names fold away.
_PUBLIC = const((
    ("ENV_MANIFEST", _ENV_MANIFEST), ("ENV_INSTALL", _ENV_INSTALL), ("ENV_TEXT", _ENV_TEXT),
    ("M_VERSION", _M_VERSION), ("M_COMMON", _M_COMMON), ("M_VALIDATE", _M_VALIDATE),
    ("M_LOAD", _M_LOAD), ("M_INVOKE", _M_INVOKE), ("M_PAYLOAD_FETCH", _M_PAYLOAD_FETCH),
    ("M_INSTALL", _M_INSTALL), ("M_TEXT", _M_TEXT), ("C_COMPONENTS", _C_COMPONENTS),
    ("ALG_SHA256", _ALG_SHA256), ("SUIT_OK", _SUIT_OK),
    ("SUIT_ERR_INVALID_MANIFEST", _SUIT_ERR_INVALID_MANIFEST),
    ("SUIT_ERR_UNSUPPORTED", _SUIT_ERR_UNSUPPORTED),
    ("SUIT_ERR_NOT_SUPPORTED", _SUIT_ERR_NOT_SUPPORTED), ("SUIT_ERR_COND", _SUIT_ERR_COND),
    ("SUIT_ERR_SEQUENCE_NUMBER", _SUIT_ERR_SEQUENCE_NUMBER),
    ("SUIT_ERR_AUTHENTICATION", _SUIT_ERR_AUTHENTICATION),
    ("SUIT_ERR_SIGNATURE", _SUIT_ERR_SIGNATURE),
    ("SUIT_ERR_DIGEST_MISMATCH", _SUIT_ERR_DIGEST_MISMATCH),
    ("SUIT_ERR_POLICY_FORBIDDEN", _SUIT_ERR_POLICY_FORBIDDEN),
    ("SUIT_ERR_NO_MEM", _SUIT_ERR_NO_MEM), ("SUIT_ERR_VERSION", _SUIT_ERR_VERSION),
    ("SUIT_ERR_FETCH", _SUIT_ERR_FETCH), ("SUIT_ERR_ABORT", _SUIT_ERR_ABORT),
    ("MAX_COMPONENTS", _MAX_COMPONENTS),
))


def __getattr__(name):
    for k, v in _PUBLIC:
        if k == name:
            return v
    raise AttributeError(name)
