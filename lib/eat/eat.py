# EAT (RFC 9711) for hourglass: claims, provisioning, signing, decoding and
# verification of our attestation tokens. Sans-I/O: storage, randomness,
# clock and measurements are injected. docs/eat-profile.md is the profile
# this module implements (its URI is PROFILE).
#
# Token: CWT tag 61 around a tagged COSE_Sign1 (HSS-LMS, alg -46, RFC 9708)
# or COSE_Mac0 (HMAC 256/64 = 4, HMAC 256/256 = 5). Protected header {1:
# alg}; unprotected {4: kid} with kid = the device's UEID. The payload is
# the claims set in core deterministic CBOR (definite lengths, preferred
# serialization, sorted keys): cbor.dumps() writes it, and the verifier
# decodes it in strict mode, so any other encoding is refused.
#
# Device side:
#   ident = provision(storage, rand=..., mode="lms"|"mac", eui=None, ...)
#       UEID type 0x01 (0x01 + 32 random bytes) or 0x02 (from an EUI-48/64);
#       LMS mode generates the HSS key on the device (lms_state.generate in
#       the same storage); returns {"ueid", "alg", "cose_key"} where
#       cose_key is the public COSE_Key (kid = UEID) for the host inventory
#       (MAC mode: the symmetric COSE_Key - it is the secret).
#   ident = load_identity(storage); signer = load_signer(storage, ident)
#   att = Attester(ident, signer, measure=..., clock=..., bootcount=..., ...)
#   token = att.attest(nonce)            # bytearray, the whole CWT
# Host side (portable too):
#   tok = verify(token, key, nonce)      # key: COSE_Key bytes or cose.COSEKey
#   tok.claims / tok.kid / tok.alg / tok.message / tok.leaf()
#   decode_token(token) -> Token         # structure only, NOT authenticated
#   parse_claims(map)                    # type checks of the known claims
#
# Every problem raises EATError (a ValueError) with a numeric .code
# (EAT_ERR_*) and a short reason; verification fails closed and returns
# nothing partial. Running out of heap raises MemoryError instead (from
# verify, decode_token, load_identity, ...): not a bad token or a damaged
# record, so the caller may retry later; verify never returns a Token then.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import gc

import cbor
import cose
import hgcrypto

_MP = __import__("sys").implementation.name == "micropython"  # no `sys` global


def _gc():
    # MicroPython, before a token-sized allocation or a long-lived object:
    # garbage left by earlier work (a tree walk, a request, the last token)
    # otherwise pushes new objects up between free blocks, and a 64 KiB
    # board then has no hole the size of a token (2.8 KB for H5/W4, 5.6 KB
    # for the default key) although enough memory is free. CPython: no-op.
    if _MP:
        gc.collect()


# ---------------------------------------------------------------- numbers
# The COSE numbers, public here too (see _PUBLIC) for the callers that use
# eat.ALG_* / eat.TAG_CWT.
# cose's values (private consts take no RAM; host_tests/test_const_sync.py
# checks they match)
_TAG_CWT = const(61)
_ALG_HSS_LMS = const(-46)
_ALG_HMAC_256_64 = const(4)
_ALG_HMAC_256_256 = const(5)
# CoAP Content-Format of application/eat+cwt (RFC 9782, IANA "CoAP
# Content-Formats" registry: 263).
_CF_EAT_CWT = const(263)
_CF_CBOR = const(60)
_CF_OCTET_STREAM = const(42)
# Contents of the measurements (273) / manifests (272) entries:
# application/swid+cbor (CoSWID, RFC 9393) is registered (258); our SUIT
# manifest reference and the SUIT report (draft-ietf-suit-report) have no
# registered Content-Format, so they use the experimental range 65000-65535
# (RFC 7252 section 12.3) - see docs/eat-profile.md.
_CF_COSWID = const(258)
_CF_HG_MANIFEST_REF = const(65000)
_CF_HG_SUIT_REPORT = const(65001)

PROFILE = "tag:hourglass.invalid,2025:eat-profile-1"

# Claim keys (IANA "CBOR Web Token (CWT) Claims", RFC 8392 / RFC 9711)
_C_ISS = const(1)
_C_SUB = const(2)
_C_AUD = const(3)
_C_EXP = const(4)
_C_NBF = const(5)
_C_IAT = const(6)
_C_CTI = const(7)
_C_NONCE = const(10)
_C_UEID = const(256)
_C_SUEIDS = const(257)
_C_OEMID = const(258)
_C_HWMODEL = const(259)
_C_HWVERSION = const(260)
_C_UPTIME = const(261)
_C_OEMBOOT = const(262)
_C_DBGSTAT = const(263)
_C_LOCATION = const(264)
_C_PROFILE = const(265)
_C_SUBMODS = const(266)
_C_BOOTCOUNT = const(267)
_C_BOOTSEED = const(268)
_C_DLOAS = const(269)
_C_SWNAME = const(270)
_C_SWVERSION = const(271)
_C_MANIFESTS = const(272)
_C_MEASUREMENTS = const(273)
_C_MEASRES = const(274)
_C_INTUSE = const(275)

# (claim key, name): a literal tuple, no heap when frozen. CLAIM_NAMES (a
# dict key -> name) is built from it on first use (__getattr__ at the end).
_CLAIMS = const((
    (_C_ISS, "iss"), (_C_SUB, "sub"), (_C_AUD, "aud"), (_C_EXP, "exp"), (_C_NBF, "nbf"),
    (_C_IAT, "iat"), (_C_CTI, "cti"), (_C_NONCE, "eat_nonce"), (_C_UEID, "ueid"),
    (_C_SUEIDS, "sueids"), (_C_OEMID, "oemid"), (_C_HWMODEL, "hwmodel"), (_C_HWVERSION, "hwversion"),
    (_C_UPTIME, "uptime"), (_C_OEMBOOT, "oemboot"), (_C_DBGSTAT, "dbgstat"),
    (_C_LOCATION, "location"), (_C_PROFILE, "eat_profile"), (_C_SUBMODS, "submods"),
    (_C_BOOTCOUNT, "bootcount"), (_C_BOOTSEED, "bootseed"), (_C_DLOAS, "dloas"),
    (_C_SWNAME, "swname"), (_C_SWVERSION, "swversion"), (_C_MANIFESTS, "manifests"),
    (_C_MEASUREMENTS, "measurements"), (_C_MEASRES, "measres"), (_C_INTUSE, "intuse"),
))

# dbgstat values (RFC 9711 section 4.2.9)
_DBG_ENABLED = const(0)
_DBG_DISABLED = const(1)
_DBG_DISABLED_SINCE_BOOT = const(2)
_DBG_DISABLED_PERMANENTLY = const(3)
_DBG_DISABLED_FULLY_AND_PERMANENTLY = const(4)

# UEID types (RFC 9711 section 4.2.1)
_UEID_RAND = const(1)
_UEID_EUI = const(2)
_UEID_IMEI = const(3)

_SHA256_NI = const(1)  # sha-256 in the Named Information Hash Algorithm registry (CoSWID hash)
_SHA256_COSE = const(-16)  # SUIT_Digest algorithm

# Errors
_EAT_ERR_MALFORMED = const(-1)  # not CBOR / not a CWT / trailing bytes / bad COSE
_EAT_ERR_UNSUPPORTED = const(-2)  # unknown algorithm or key type
_EAT_ERR_AUTH = const(-3)  # signature or MAC does not verify
_EAT_ERR_NONCE = const(-4)  # nonce missing, malformed or not the one sent
_EAT_ERR_CLAIM = const(-5)  # a claim of the wrong type or value
_EAT_ERR_KEY = const(-6)  # kid / UEID do not match the provisioned key
_EAT_ERR_STATE = const(-7)  # identity record missing or damaged; signer failure
_EAT_ERR_LEAF_REUSE = const(-8)  # host: an LMS leaf seen before with another message
_EAT_ERR_POLICY = const(-9)  # host: appraisal policy failed

# Bounds
_NONCE_MIN = const(8)
_NONCE_MAX = const(64)
_MAX_TOKEN = const(32768)
_MAX_COMPONENTS = const(16)
_MAX_DEPTH = const(12)
_MAX_ITEMS = const(1024)
_MAX_SUBMOD_DEPTH = const(3)
_MAX_LIST = const(64)

_ID_RECORD = const("eatid")
_ID_VERSION = const(1)
_K_VERSION = const(0)
_K_UEID = const(1)
_K_ALG = const(2)
_K_MACKEY = const(3)
_K_CHECK = const(-1)


class EATError(ValueError):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code


def _is_bytes(x):
    return isinstance(x, (bytes, bytearray, memoryview))


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _is_uint(x):
    return _is_int(x) and x >= 0


def _claim_name(key):
    for k, name in _CLAIMS:
        if k == key:
            return name
    return str(key)


def _claim_err(key):
    return EATError(_EAT_ERR_CLAIM, "bad claim " + _claim_name(key))


# ---------------------------------------------------------------- claims


def check_nonce(nonce):
    """The nonce as bytes if 8..64 bytes long, else EATError(EAT_ERR_NONCE)."""
    if not isinstance(nonce, (bytes, bytearray, memoryview)):
        raise EATError(_EAT_ERR_NONCE, "nonce must be bytes")
    n = len(nonce)
    if n < _NONCE_MIN or n > _NONCE_MAX:
        raise EATError(_EAT_ERR_NONCE, "nonce must be 8 to 64 bytes")
    return bytes(nonce)


def _ueid_ok(u):
    # CDDL: bstr .size (7..33), first byte a registered type. (The RFC's own
    # Appendix A examples use 0x01 + 15 bytes, so the per-type lengths are
    # only required of our devices: ueid_strict.)
    return _is_bytes(u) and 7 <= len(u) <= 33 and u[0] in (_UEID_RAND, _UEID_EUI, _UEID_IMEI)


def ueid_strict(u):
    """True for a UEID of the lengths RFC 9711 4.2.1 gives per type: RAND
    16/24/32 bytes, EUI-48/EUI-64, IMEI 14 digits (plus the type byte)."""
    if not _ueid_ok(u):
        return False
    n = len(u) - 1
    t = u[0]
    return n in (16, 24, 32) if t == _UEID_RAND else (n in (6, 8) if t == _UEID_EUI else n == 14)


def _version_ok(v):
    # [version tstr, ? version-scheme int] (RFC 9711 4.2.5 / 4.2.7)
    if not isinstance(v, list) or not 1 <= len(v) <= 2 or not isinstance(v[0], str):
        return False
    return len(v) == 1 or _is_int(v[1])


def _formats_ok(v):
    # manifests / measurements: [+ [content-type uint, content bstr]]
    if not isinstance(v, list) or not 1 <= len(v) <= _MAX_LIST:
        return False
    for e in v:
        if not isinstance(e, list) or len(e) != 2 or not _is_uint(e[0]):
            return False
        if not _is_bytes(e[1]) and not isinstance(e[1], str):
            return False
    return True


def _nonce_claim_ok(v):
    if _is_bytes(v):
        return _NONCE_MIN <= len(v) <= _NONCE_MAX
    if isinstance(v, list) and 1 <= len(v) <= 8:
        for x in v:
            if not _is_bytes(x) or not _NONCE_MIN <= len(x) <= _NONCE_MAX:
                return False
        return True
    return False


def _submod_ok(v, depth):
    # Claims-Set, nested token (bstr / tstr) or Detached-Submodule-Digest
    if isinstance(v, dict):
        parse_claims(v, depth + 1)
        return True
    if _is_bytes(v) or isinstance(v, str):
        return True
    return (isinstance(v, list) and len(v) == 2 and (_is_int(v[0]) or isinstance(v[0], str))
            and _is_bytes(v[1]))


def parse_claims(claims, depth=0):
    """Check the type of every claim this profile knows (RFC 9711 section 4)
    in a decoded claims set, recursing into submodules; other claims pass
    untouched. Returns claims; EATError(EAT_ERR_CLAIM) on a bad one."""
    if not isinstance(claims, dict):
        raise EATError(_EAT_ERR_CLAIM, "claims set not a map")
    if depth > _MAX_SUBMOD_DEPTH:
        raise EATError(_EAT_ERR_CLAIM, "submodules nested too deep")
    for k in claims:
        v = claims[k]
        if k == _C_NONCE:
            ok = _nonce_claim_ok(v)
        elif k == _C_UEID:
            ok = _ueid_ok(v)
        elif k == _C_SUEIDS:
            ok = isinstance(v, dict) and all(isinstance(n, str) and _ueid_ok(v[n]) for n in v)
        elif k == _C_OEMID:
            ok = _is_uint(v) or (_is_bytes(v) and len(v) in (3, 16))
        elif k == _C_HWMODEL:
            ok = _is_bytes(v) and 1 <= len(v) <= 32
        elif k in (_C_HWVERSION, _C_SWVERSION):
            ok = _version_ok(v)
        elif k in (_C_UPTIME, _C_BOOTCOUNT):
            ok = _is_uint(v)
        elif k == _C_OEMBOOT:
            ok = isinstance(v, bool)
        elif k == _C_DBGSTAT:
            ok = _is_int(v) and 0 <= v <= 4
        elif k == _C_PROFILE:
            ok = isinstance(v, str) or _is_bytes(v) or (isinstance(v, cbor.Tag) and v.tag == 111)
        elif k == _C_SUBMODS:
            ok = isinstance(v, dict)
            if ok:
                for name in v:
                    if not isinstance(name, str) or not _submod_ok(v[name], depth):
                        ok = False
                        break
        elif k in (_C_MANIFESTS, _C_MEASUREMENTS):
            ok = _formats_ok(v)
        elif k in (_C_IAT, _C_EXP, _C_NBF):
            ok = _is_int(v) or isinstance(v, float)
        elif k == _C_SWNAME:
            ok = isinstance(v, str)
        elif k == _C_BOOTSEED:
            ok = _is_bytes(v)
        elif k == _C_INTUSE:
            ok = _is_int(v)
        elif k in (_C_LOCATION,):
            ok = isinstance(v, dict)
        elif k in (_C_DLOAS, _C_MEASRES):
            ok = isinstance(v, list)
        else:
            ok = True  # claims we do not know are carried, not interpreted
        if not ok:
            raise _claim_err(k)
    return claims


def coswid(comp, creator="hourglass"):
    """The CoSWID evidence tag (RFC 9393, integer keys) of one installed SUIT
    component: tag-id and software-name = its name, tag-version = the
    manifest sequence number, one file entry with size, SHA-256 and slot."""
    f = {24: comp["name"], 20: comp["size"], 7: [_SHA256_NI, comp["digest"]]}
    slot = comp.get("slot")
    if slot is not None:
        f[23] = "slot" + str(slot)
    return {0: comp["name"], 12: comp["sequence"], 1: comp["name"],
            2: {31: creator, 33: 1}, 3: {17: [f]}}


def manifest_ref(comp):
    """Our SUIT manifest reference (content CF_HG_MANIFEST_REF):
    [name, component-id, sequence-number, SUIT_Digest]."""
    return [comp["name"], list(comp["cid"]), comp["sequence"], [_SHA256_COSE, comp["manifest_digest"]]]


def _check_comp(c):
    # one entry of measure() (the SUIT platform's installed()); fail closed
    try:
        ok = (isinstance(c["name"], str) and c["name"] and _is_bytes(c["digest"])
              and len(c["digest"]) == 32 and _is_uint(c["size"]) and _is_uint(c["sequence"])
              and _is_bytes(c["manifest_digest"]) and isinstance(c["cid"], (list, tuple))
              and all(_is_bytes(p) for p in c["cid"]))
        slot = c.get("slot")
        ok = ok and (slot is None or _is_uint(slot))
    except (KeyError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise EATError(_EAT_ERR_CLAIM, "bad measurement from the platform")


def _val(x):
    return x() if callable(x) else x


# ---------------------------------------------------------------- device


def _check(m):
    return hgcrypto.sha256_digest(cbor.dumps(m))[:16]


def _id_record(ueid, alg, mac_key):
    m = {_K_VERSION: _ID_VERSION, _K_UEID: ueid, _K_ALG: alg}
    if mac_key is not None:
        m[_K_MACKEY] = mac_key
    m[_K_CHECK] = _check(m)
    return cbor.dumps(m)


def load_identity(storage):
    """{"ueid", "alg", "mac_key" (MAC mode) } from the stored identity record;
    EATError(EAT_ERR_STATE) if missing or damaged (MemoryError, not that,
    when the heap runs out while reading it)."""
    data = storage.read(_ID_RECORD)
    if data is None:
        raise EATError(_EAT_ERR_STATE, "not provisioned")
    try:
        m = cbor.loads(bytes(data), strict=True, max_depth=2, max_items=16)
        chk = m.pop(_K_CHECK)
        ok = hgcrypto.ct_equal(chk, _check(m)) and m[_K_VERSION] == _ID_VERSION
        ueid = m[_K_UEID]
        alg = m[_K_ALG]
    except (ValueError, TypeError, KeyError, AttributeError):
        ok = False
    if not ok or not ueid_strict(ueid) or alg not in (_ALG_HSS_LMS, _ALG_HMAC_256_64, _ALG_HMAC_256_256):
        raise EATError(_EAT_ERR_STATE, "identity record damaged")
    mk = m.get(_K_MACKEY)
    if (alg == _ALG_HSS_LMS) != (mk is None):
        raise EATError(_EAT_ERR_STATE, "identity record damaged")
    return {"ueid": bytes(ueid), "alg": alg, "mac_key": None if mk is None else bytes(mk)}


def mac_cose_key(key, alg, kid):
    """Symmetric COSE_Key {1: 4, 2: kid, 3: alg, -1: k} as CBOR."""
    return cbor.dumps({1: cose.KTY_SYMMETRIC, 2: bytes(kid), 3: alg, -1: bytes(key)})


def provision(storage, rand=None, mode="lms", eui=None, mac_alg=_ALG_HMAC_256_256, mac_key=None,
              lms_params=None, chunk=None, overwrite=False):
    """Create the device identity (and, mode "lms", the HSS key) in storage.

    rand(n) -> n random bytes (default hgcrypto.random_bytes). eui: the
    board's EUI-48/EUI-64 (6 or 8 bytes) for a type 0x02 UEID, else a type
    0x01 UEID of 32 random bytes. lms_params: [(lms_type, ots_type), ...]
    top first (default lms_state's: 2 levels of H10/W4). mac_key: the
    provisioned MAC key (mode "mac"; default 32 random bytes).
    Returns {"ueid", "alg", "cose_key"} (cose_key: kid = UEID)."""
    if rand is None:
        rand = hgcrypto.random_bytes
    if not overwrite and storage.read(_ID_RECORD) is not None:
        raise EATError(_EAT_ERR_STATE, "already provisioned")
    if eui is not None:
        if not _is_bytes(eui) or len(eui) not in (6, 8):
            raise EATError(_EAT_ERR_STATE, "EUI must be 6 or 8 bytes")
        ueid = bytes((_UEID_EUI,)) + bytes(eui)
    else:
        ueid = bytes((_UEID_RAND,)) + bytes(rand(32))
    if mode == "lms":
        import lms
        import lms_state

        kw = {"overwrite": overwrite}
        if lms_params is not None:
            kw["params"] = lms_params
        if chunk is not None:
            kw["chunk"] = chunk
        params = lms_params or [(lms.LMS_SHA256_M32_H10, lms.LMOTS_SHA256_N32_W4)]
        m0 = lms.LMS_PARAMS[params[0][0]][2]
        try:
            signer = lms_state.generate(storage, seed=bytes(rand(m0)), I=bytes(rand(16)), **kw)
        except lms.LMSError as e:
            raise EATError(_EAT_ERR_STATE, "LMS key: " + str(e))
        pub = signer.public_key
        signer = None
        _gc()  # the tree walk's garbage, before anything lasting
        # identity last: a cut before this leaves "not provisioned", never
        # an identity without its key
        storage.write(_ID_RECORD, _id_record(ueid, _ALG_HSS_LMS, None))
        return {"ueid": ueid, "alg": _ALG_HSS_LMS,
                "cose_key": lms.encode_cose_key(pub, kid=ueid)}
    if mode != "mac":
        raise EATError(_EAT_ERR_UNSUPPORTED, "mode must be lms or mac")
    if mac_alg not in (_ALG_HMAC_256_64, _ALG_HMAC_256_256):
        raise EATError(_EAT_ERR_UNSUPPORTED, "unknown algorithm")
    key = bytes(rand(32)) if mac_key is None else bytes(mac_key)
    if len(key) < 32:
        raise EATError(_EAT_ERR_STATE, "MAC key must be at least 32 bytes")
    storage.write(_ID_RECORD, _id_record(ueid, mac_alg, key))
    return {"ueid": ueid, "alg": mac_alg, "cose_key": mac_cose_key(key, mac_alg, ueid)}


def load_signer(storage, identity):
    """The signer Attester takes: the lms_state Signer (LMS mode, loaded from
    the same storage: it continues after its reserved leaves) or the MAC key."""
    if identity["alg"] != _ALG_HSS_LMS:
        return identity["mac_key"]
    import lms_state

    _gc()  # the signer lives long: low in the heap, not between garbage
    try:
        return lms_state.load(storage)
    except ValueError as e:
        raise EATError(_EAT_ERR_STATE, "LMS key: " + str(e))


class Attester:
    """Produces tokens for nonces. identity: load_identity()'s dict (ueid,
    alg); signer: an lms_state Signer (COSE_Sign1 -46; anything with
    sign(msg), or sign_into(msg, buf) + sig_len() to sign in place) or a MAC
    key (bytes; COSE_Mac0 with identity["alg"] 4 or 5).

    measure() -> [{cid, name, slot, digest, size, sequence, manifest_digest}]
    (the SUIT platform's installed()); clock() -> Unix seconds or None (iat
    only when the device knows the time); uptime() -> seconds; bootcount,
    dbgstat: int or callable; oemid, hwmodel, hwversion ([str, scheme]),
    swname, swversion: static claims (None leaves them out); submods:
    {submodule name: (component names)} - those components' measurements
    and manifests go into that submodule, the rest stay at the top;
    report() -> bytes of the last update's SUIT_Report, or None."""

    def __init__(self, identity, signer, measure=None, clock=None, bootcount=None, uptime=None,
                 dbgstat=None, oemid=None, hwmodel=None, hwversion=None, swname=None,
                 swversion=None, submods=None, report=None, profile=PROFILE, creator="hourglass"):
        self.ueid = bytes(identity["ueid"])
        self.alg = identity.get("alg", _ALG_HSS_LMS)
        if self.alg not in (_ALG_HSS_LMS, _ALG_HMAC_256_64, _ALG_HMAC_256_256):
            raise EATError(_EAT_ERR_UNSUPPORTED, "unknown algorithm")
        if (self.alg == _ALG_HSS_LMS) == _is_bytes(signer):
            raise EATError(_EAT_ERR_UNSUPPORTED, "signer does not match the algorithm")
        self.signer = signer
        self.measure = measure
        self.clock = clock
        self.bootcount = bootcount
        self.uptime = uptime
        self.dbgstat = dbgstat
        self.static = {}
        for k, v in ((_C_OEMID, oemid), (_C_HWMODEL, hwmodel), (_C_HWVERSION, hwversion),
                     (_C_SWNAME, swname), (_C_SWVERSION, swversion), (_C_PROFILE, profile)):
            if v is not None:
                self.static[k] = v
        parse_claims(self.static)  # a wrong static claim fails now, not per token
        self.submod_of = {}
        for sub in submods or {}:
            for name in submods[sub]:
                self.submod_of[name] = sub
        self.report = report
        self.creator = creator
        self._prot = cbor.dumps({cose.H_ALG: self.alg})
        self._unprot = cbor.dumps({cose.H_KID: self.ueid})

    def claims(self, nonce):
        """The claims set (dict) for nonce."""
        c = {_C_NONCE: check_nonce(nonce), _C_UEID: self.ueid}
        for k in self.static:
            c[k] = self.static[k]
        for k, src in ((_C_DBGSTAT, self.dbgstat), (_C_BOOTCOUNT, self.bootcount),
                       (_C_UPTIME, self.uptime), (_C_IAT, self.clock)):
            v = _val(src)
            if v is not None:
                c[k] = v
        comps = self.measure() if self.measure is not None else []
        if len(comps) > _MAX_COMPONENTS:
            raise EATError(_EAT_ERR_CLAIM, "too many components")
        subs = {}
        for comp in comps:
            _check_comp(comp)
            sub = self.submod_of.get(comp["name"])
            tgt = c if sub is None else subs.setdefault(sub, {})
            tgt.setdefault(_C_MEASUREMENTS, []).append([_CF_COSWID, cbor.dumps(coswid(comp, self.creator))])
            tgt.setdefault(_C_MANIFESTS, []).append([_CF_HG_MANIFEST_REF, cbor.dumps(manifest_ref(comp))])
        if subs:
            c[_C_SUBMODS] = subs
        rep = self.report() if self.report is not None else None
        if rep:
            if not _is_bytes(rep):
                raise EATError(_EAT_ERR_CLAIM, "SUIT report must be bytes")
            # a view: the report may sit in flash (no heap copy)
            c.setdefault(_C_MEASUREMENTS, []).append([_CF_HG_SUIT_REPORT, memoryview(rep)])
        return parse_claims(c)

    def attest(self, nonce):
        """The token (bytearray) for nonce: 61(18([...])) or 61(17([...]))."""
        _gc()
        payload = cbor.dumps(self.claims(nonce))
        return self._token(payload)

    def _token(self, payload):
        # One buffer for the whole token (no copies of the payload-sized
        # message); a signer with sign_into writes its signature straight
        # into it (no signature-sized temporary).
        s = self.signer
        prot = self._prot
        tbs = None
        inplace = False
        if self.alg != _ALG_HSS_LMS:
            sig = cose.mac0_tag(s, prot, payload, self.alg)
            tag = b"\xd8\x3d\xd1\x84"  # 61(17([...])): CWT, COSE_Mac0
        else:
            tag = b"\xd8\x3d\xd2\x84"  # 61(18([...])): CWT, COSE_Sign1
            tbs = cose.sig_structure(prot, b"", payload)
            inplace = hasattr(s, "sign_into") and hasattr(s, "sig_len")
            sig = None if inplace else s.sign(tbs)
        n = s.sig_len() if inplace else len(sig)
        head = (tag + cbor.head(2, len(prot)) + prot + self._unprot
                + cbor.head(2, len(payload)))
        sh = cbor.head(2, n)
        off = len(head) + len(payload) + len(sh)
        if tbs is not None:
            _gc()  # HSS: the claims and signing garbage go first: room for the token
        buf = bytearray(off + n)
        buf[0:len(head)] = head
        buf[len(head):len(head) + len(payload)] = payload
        buf[off - len(sh):off] = sh
        if inplace:
            s.sign_into(tbs, memoryview(buf)[off:])
        else:
            buf[off:] = sig
        return buf


# ---------------------------------------------------------------- verify


class Token:
    """A decoded token. claims: the claims map (type-checked); kid, alg;
    message: the cose.COSEMessage; authenticated: True only from verify()."""

    def __init__(self, msg, claims, kid):
        self.message = msg
        self.claims = claims
        self.kid = kid
        self.alg = msg.alg
        self.authenticated = False

    def tbs(self):
        """The Sig_structure (COSE_Sign1) the signature covers."""
        return cose.sig_structure(self.message.protected_bytes, b"", self.message.content)

    def leaf(self):
        """HSS-LMS: the one-time key used, as the q of every level top
        first (a tuple); None for a MAC token."""
        if self.alg != _ALG_HSS_LMS:
            return None
        import lms

        try:
            return tuple(q for _lt, _ot, q in lms.describe_sig(self.message.tag_or_signature))
        except ValueError:
            raise EATError(_EAT_ERR_MALFORMED, "malformed HSS signature")


def _decode_cose(data, zero_copy=False):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise EATError(_EAT_ERR_MALFORMED, "token must be bytes")
    # the size bound comes before any copy of attacker input
    if len(data) > _MAX_TOKEN:
        raise EATError(_EAT_ERR_MALFORMED, "token too large")
    if type(data) is not bytes:
        data = bytes(data)
    try:
        # structure check only: zero_copy keeps the signature and payload
        # as views instead of a second copy of the token
        obj, end = cbor.decode_from(data, 0, zero_copy=True, max_depth=4, max_items=16)
    except ValueError:
        raise EATError(_EAT_ERR_MALFORMED, "malformed CBOR")
    if end != len(data):
        raise EATError(_EAT_ERR_MALFORMED, "trailing bytes after the token")
    if not isinstance(obj, cbor.Tag) or obj.tag != _TAG_CWT:
        raise EATError(_EAT_ERR_MALFORMED, "not a CWT (tag 61)")
    if not isinstance(obj.value, cbor.Tag) or obj.value.tag not in (cose.TAG_SIGN1, cose.TAG_MAC0):
        raise EATError(_EAT_ERR_MALFORMED, "not a tagged COSE_Sign1 or COSE_Mac0")
    obj = None
    try:
        # zero_copy (verify): the signature and payload stay views into
        # `data`, immutable bytes here (copied above otherwise)
        return cose.decode(data, cwt=True, zero_copy=zero_copy)
    except cose.COSEError as e:
        raise EATError(_EAT_ERR_MALFORMED, "COSE: " + str(e))


def _claims_of(payload, strict=True):
    if payload is None:
        raise EATError(_EAT_ERR_MALFORMED, "detached payload")
    try:
        claims = cbor.loads(payload, strict=strict, max_depth=_MAX_DEPTH, max_items=_MAX_ITEMS)
    except ValueError as e:
        raise EATError(_EAT_ERR_MALFORMED, "claims: " + str(e))
    if not isinstance(claims, dict):
        raise EATError(_EAT_ERR_MALFORMED, "claims set not a map")
    return parse_claims(claims)


def decode_token(data, strict=False):
    """Structure and claim types of a CWT-tagged token, WITHOUT checking the
    signature or MAC (inspection only). strict=True also requires our
    profile's deterministic encoding of the claims (verify() always does)."""
    msg = _decode_cose(data)
    return Token(msg, _claims_of(msg.content, strict), msg.header(cose.H_KID))


def _as_key(key):
    if isinstance(key, cose.COSEKey):
        return key
    try:
        return cose.decode_key(key)
    except (ValueError, TypeError) as e:
        raise EATError(_EAT_ERR_UNSUPPORTED, "bad key: " + str(e))


def verify(data, key, nonce):
    """Authenticate one of our tokens against the device's provisioned key
    (COSE_Key bytes or cose.COSEKey: HSS-LMS public key or symmetric key;
    its kid, when present, must be the token's kid) and check it answers
    `nonce`. Returns the Token; EATError with the reason otherwise
    (MemoryError when the heap runs out: no verdict, see the top)."""
    nonce = check_nonce(nonce)
    key = _as_key(key)
    _gc()  # as in attest(): room for the decoding
    # no copy of the signature while checking it (a token that fails costs
    # no token-sized block); the Token gets owned bytes at the end
    msg = _decode_cose(data, True)
    alg = msg.alg
    if msg.type == cose.TAG_SIGN1 and alg == _ALG_HSS_LMS:
        kty = cose.KTY_HSS_LMS
    elif msg.type == cose.TAG_MAC0 and alg in (_ALG_HMAC_256_64, _ALG_HMAC_256_256):
        kty = cose.KTY_SYMMETRIC
    else:
        raise EATError(_EAT_ERR_UNSUPPORTED, "unknown algorithm")
    if key.kty != kty:
        raise EATError(_EAT_ERR_KEY, "key type does not match the token's algorithm")
    kid = msg.header(cose.H_KID)
    if not _is_bytes(kid) or not kid:
        raise EATError(_EAT_ERR_KEY, "kid missing")
    if key.kid is not None and not hgcrypto.ct_equal(bytes(key.kid), bytes(kid)):
        raise EATError(_EAT_ERR_KEY, "kid does not match the provisioned key")
    try:
        if kty == cose.KTY_HSS_LMS:
            import lms

            lms.register_cose()
            cose.sign1_verify(key, msg, expected_alg=_ALG_HSS_LMS)
        else:
            cose.mac0_verify(key, msg, expected_alg=alg)
    except cose.COSEVerifyError:
        raise EATError(_EAT_ERR_AUTH, "signature or MAC invalid")
    except cose.COSEError as e:
        raise EATError(_EAT_ERR_KEY, "key: " + str(e))
    claims = _claims_of(msg.payload)
    got = claims.get(_C_NONCE)
    if got is None:
        raise EATError(_EAT_ERR_NONCE, "nonce missing")
    if not _is_bytes(got) or not hgcrypto.ct_equal(bytes(got), nonce):
        raise EATError(_EAT_ERR_NONCE, "nonce mismatch")
    ueid = claims.get(_C_UEID)
    if ueid is None or bytes(ueid) != bytes(kid):
        raise EATError(_EAT_ERR_KEY, "UEID does not match kid")
    if not ueid_strict(ueid):
        raise EATError(_EAT_ERR_CLAIM, "bad claim ueid (length for its type)")
    # the Token owns its bytes (callers keep and compare them), copied once
    # the verifier's working memory is free again
    _gc()
    msg.content = msg.payload = bytes(msg.content)
    msg.tag_or_signature = bytes(msg.tag_or_signature)
    t = Token(msg, claims, bytes(kid))
    t.authenticated = True
    return t


# ----------------------------------------------------------- measurements


def components(claims):
    """{name: {"digest", "size", "sequence", "slot", "submod"}} from the
    CoSWID measurements of a claims set and its submodules (our profile's
    encoding); EATError(EAT_ERR_CLAIM) for a malformed CoSWID."""
    out = {}
    _collect(claims, None, out, 0)
    return out


def _collect(claims, sub, out, depth):
    for e in claims.get(_C_MEASUREMENTS, ()):
        if e[0] != _CF_COSWID:
            continue
        try:
            tag = cbor.loads(bytes(e[1]), max_depth=6, max_items=128)
            seq = tag.get(12)
            for f in tag[3][17]:
                h = f[7]
                if h[0] != _SHA256_NI or not _is_bytes(h[1]):
                    continue
                loc = f.get(23)
                out[f[24]] = {"digest": bytes(h[1]), "size": f.get(20), "sequence": seq,
                              "slot": int(loc[4:]) if isinstance(loc, str) and loc.startswith("slot") else None,
                              "submod": sub}
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            raise EATError(_EAT_ERR_CLAIM, "bad CoSWID measurement")
    subs = claims.get(_C_SUBMODS)
    if subs and depth < _MAX_SUBMOD_DEPTH:
        for name in subs:
            if isinstance(subs[name], dict):
                _collect(subs[name], name, out, depth + 1)



# The public constants (module.NAME, `from eat import NAME`): a literal table
# (ROM when frozen) read by __getattr__, instead of a slot each in this
# module's globals (heap). Inside the module the private names fold away.
_PUBLIC = const((
    ("TAG_CWT", _TAG_CWT), ("ALG_HSS_LMS", _ALG_HSS_LMS), ("ALG_HMAC_256_64", _ALG_HMAC_256_64),
    ("ALG_HMAC_256_256", _ALG_HMAC_256_256),
    ("CF_EAT_CWT", _CF_EAT_CWT), ("CF_CBOR", _CF_CBOR), ("CF_OCTET_STREAM", _CF_OCTET_STREAM),
    ("CF_COSWID", _CF_COSWID), ("CF_HG_MANIFEST_REF", _CF_HG_MANIFEST_REF),
    ("CF_HG_SUIT_REPORT", _CF_HG_SUIT_REPORT), ("C_EXP", _C_EXP), ("C_IAT", _C_IAT),
    ("C_NONCE", _C_NONCE), ("C_UEID", _C_UEID), ("C_OEMID", _C_OEMID), ("C_HWMODEL", _C_HWMODEL),
    ("C_HWVERSION", _C_HWVERSION), ("C_UPTIME", _C_UPTIME), ("C_OEMBOOT", _C_OEMBOOT),
    ("C_DBGSTAT", _C_DBGSTAT), ("C_PROFILE", _C_PROFILE), ("C_SUBMODS", _C_SUBMODS),
    ("C_BOOTCOUNT", _C_BOOTCOUNT), ("C_SWNAME", _C_SWNAME), ("C_SWVERSION", _C_SWVERSION),
    ("C_MANIFESTS", _C_MANIFESTS), ("C_MEASUREMENTS", _C_MEASUREMENTS),
    ("DBG_DISABLED", _DBG_DISABLED), ("DBG_DISABLED_SINCE_BOOT", _DBG_DISABLED_SINCE_BOOT),
    ("DBG_DISABLED_PERMANENTLY", _DBG_DISABLED_PERMANENTLY), ("UEID_RAND", _UEID_RAND),
    ("EAT_ERR_MALFORMED", _EAT_ERR_MALFORMED), ("EAT_ERR_UNSUPPORTED", _EAT_ERR_UNSUPPORTED),
    ("EAT_ERR_AUTH", _EAT_ERR_AUTH), ("EAT_ERR_NONCE", _EAT_ERR_NONCE),
    ("EAT_ERR_CLAIM", _EAT_ERR_CLAIM), ("EAT_ERR_KEY", _EAT_ERR_KEY),
    ("EAT_ERR_STATE", _EAT_ERR_STATE), ("EAT_ERR_LEAF_REUSE", _EAT_ERR_LEAF_REUSE),
    ("EAT_ERR_POLICY", _EAT_ERR_POLICY), ("NONCE_MIN", _NONCE_MIN), ("NONCE_MAX", _NONCE_MAX),
    ("MAX_TOKEN", _MAX_TOKEN), ("MAX_COMPONENTS", _MAX_COMPONENTS),
))


def __getattr__(name):
    for k, v in _PUBLIC:
        if k == name:
            return v
    # CLAIM_NAMES (host tools and tests) is built on first use, not at import
    if name == "CLAIM_NAMES":
        global CLAIM_NAMES
        CLAIM_NAMES = dict(_CLAIMS)
        return CLAIM_NAMES
    raise AttributeError(name)
