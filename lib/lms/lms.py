# lms: LMS / HSS hash-based signatures (RFC 8554, RFC 9858 SHA-256/192) for
# hourglass - the facade every caller imports.
#
# Backend, first found wins (BACKEND names it):
#   "_lms"      the C module (built into the firmware, or a .mpy natmod)
#   "lms_host"  CPython: hourglass.lms_host, ctypes over build/host/liblms.so
#   "lms_py"    the pure-Python fallback (lms_py.py)
# All three speak the same API (verify/Verifier/lms_keygen/lms_sign/lms_tree
# and ERR_* codes); signing uses the backend when it has HAS_SIGN, else lms_py.
#
# API:
#   verify(pub, msg, sig) -> bool      True only for a valid signature; never
#                                      raises for malformed input
#   check(pub, msg, sig) -> int        OK or ERR_INVALID / ERR_MALFORMED /
#                                      ERR_UNSUPPORTED (tools print a reason)
#   Out of heap while verifying raises MemoryError (check, verify, Verifier):
#   still fail-closed, but not reported as a bad signature or a bad key.
#   explain(pub, sig) -> (code, text)  the structural reason, from lms_py
#   Verifier(pub, sig): update(data), final() -> bool (.code afterwards)
#   parse_hss_pub(pub) -> (levels, lms_type, ots_type, I, root)
#   describe_sig(sig) -> [(lms_type, ots_type, q), ...] one per level, top first
#   LMS_PARAMS / OTS_PARAMS (the one table, owned by lms_py), param_name(),
#   lms_sig_len(), ots_sig_len(), lms_pub_len(), typecode constants
#   lms_keygen / lms_sign / lms_tree (backend), hss_keygen / hss_sign,
#   hss_pub_from_lms / hss_sig_from_lms
#   register_cose(), encode_cose_key(pub, kid=None), pub_from_cose_key(data)
#   BACKEND, use_backend(name), available_backends()
#   LMSError(ValueError) > LMSFormatError, LMSUnsupportedError
# The stateful signer (leaf reservation, persistence) is lms_state.
import lms_py as _core
from lms_py import LMSError, LMSFormatError, parse_hss_pub

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


# lms_py's values (private consts take no RAM; host_tests/test_const_sync.py
# checks they match)
_OK = const(0)
_ERR_INVALID = const(-1)
_ERR_MALFORMED = const(-2)
_ERR_UNSUPPORTED = const(-3)
_MAX_LEVELS = const(8)

ALG_HSS_LMS = -46  # COSE algorithm (RFC 9708)
KTY_HSS_LMS = 5  # COSE key type (RFC 9708); parameter "pub" is -1

_BACKENDS = const(("_lms", "lms_host", "lms_py"))


def _import_backend(name):
    if name == "lms_py":
        return _core
    try:
        if name == "_lms":
            import _lms

            return _lms
        from hourglass import lms_host

        if getattr(lms_host, "AVAILABLE", True) is False:
            return None
        return lms_host
    except (ImportError, OSError, AttributeError):
        # no C module / not the host / build/host/liblms.so not built
        return None


_b = None
BACKEND = None
for _name in _BACKENDS:
    _b = _import_backend(_name)
    if _b is not None:
        BACKEND = _name
        break
del _name  # a module global costs heap


def use_backend(name):
    """Switch to backend `name` (one of _BACKENDS); returns the previous name.
    LMSError if it is not available here. Tests use it to cross-check."""
    global _b, BACKEND
    if name not in _BACKENDS:
        raise LMSError("unknown backend")
    mod = _import_backend(name)
    if mod is None:
        raise LMSError("backend not available")
    old = BACKEND
    _b = mod
    BACKEND = name
    return old


def available_backends():
    return [n for n in _BACKENDS if _import_backend(n) is not None]


def _norm(rc):
    # Backend code -> our code. Only a plain int 0 means valid.
    if isinstance(rc, bool) or not isinstance(rc, int):
        return _ERR_INVALID
    if rc == 0:
        return _OK
    if rc == _b.ERR_MALFORMED:
        return _ERR_MALFORMED
    if rc == _b.ERR_UNSUPPORTED:
        return _ERR_UNSUPPORTED
    return _ERR_INVALID


# ---------------------------------------------------------------- verify


def check(pub, msg, sig):
    """OK (0) for a valid signature, else a negative ERR_* code."""
    try:
        return _norm(_b.verify(pub, msg, sig))
    except (TypeError, ValueError):
        return _ERR_MALFORMED


def verify(pub, msg, sig):
    """True only for a valid HSS signature of msg under pub."""
    try:
        return check(pub, msg, sig) == _OK
    except MemoryError:
        raise
    except Exception:
        return False


class Verifier:
    """Streaming verification: Verifier(pub, sig), update(data)...,
    final() -> bool. The sig buffer must stay unchanged until final()."""

    def __init__(self, pub, sig):
        self.code = None
        self._rc = _OK
        try:
            self._v = _b.Verifier(pub, sig)
        except MemoryError:
            raise
        except Exception:
            self._v = None
            self._rc = _ERR_MALFORMED

    def update(self, data):
        if self._v is None:
            if self.code is not None:
                raise LMSError("verifier finalised")
            return
        try:
            self._v.update(data)
        except Exception:
            self._v = None
            self._rc = _ERR_INVALID
            raise

    def final(self):
        if self.code is not None:
            raise LMSError("verifier finalised")
        rc = self._rc
        if self._v is not None:
            try:
                rc = _norm(self._v.final())
            except MemoryError:
                self._v = None
                self.code = _ERR_INVALID  # finalised, never valid
                raise
            except Exception:
                rc = _ERR_INVALID
            self._v = None
        self.code = rc
        return rc == _OK


def describe_sig(sig):
    """[(lms_type, ots_type, q), ...] one per HSS level, top first, from the
    signature's own typecodes. LMSError if it cannot be parsed."""
    return [(e[0], e[1], e[2]) for e in _core.parse_hss_sig(sig)]


# ---------------------------------------------------------------- signing


def _signer():
    return _b if getattr(_b, "HAS_SIGN", False) else _core


def _call(fn, *args):
    try:
        return fn(*args)
    except LMSError:
        raise
    except (ValueError, TypeError) as e:
        raise LMSError(str(e) or "bad argument")


def lms_keygen(lms_type, ots_type, I, seed):
    """LMS public key (type || otstype || I || T[1]) of (I, SEED)."""
    return _call(_signer().lms_keygen, lms_type, ots_type, I, seed)


def lms_tree(lms_type, ots_type, I, seed):
    """All nodes, node r at offset r*m (2^(h+1)*m bytes). Host sizes only."""
    return _call(_signer().lms_tree, lms_type, ots_type, I, seed)


def lms_sign(lms_type, ots_type, I, seed, q, msg, nodes=None):
    """Stateless LMS signature at leaf q. The caller owns leaf uniqueness:
    use lms_state for anything that is not a test vector."""
    s = _signer()
    if nodes is None:
        return _call(s.lms_sign, lms_type, ots_type, I, seed, q, msg)
    return _call(s.lms_sign, lms_type, ots_type, I, seed, q, msg, nodes)


def _u32str(x):
    return x.to_bytes(4, "big")


def hss_pub_from_lms(lms_pub, levels=1):
    """HSS public key u32str(L) || LMS public key of the top tree."""
    return _u32str(levels) + bytes(lms_pub)


def hss_sig_from_lms(lms_sig):
    """An LMS signature as an HSS L=1 signature (Nspk = 0)."""
    return b"\x00\x00\x00\x00" + bytes(lms_sig)


def _check_levels(params, seeds, ids):
    n = len(params)
    if n < 1 or n > _MAX_LEVELS or len(seeds) != n or len(ids) != n:
        raise LMSError("bad levels")
    return n


def hss_keygen(params, seeds, ids):
    """HSS public key for levels params = [(lms_type, ots_type), ...] (top
    first), with per-level SEED and I. Only the top tree counts for the key."""
    n = _check_levels(params, seeds, ids)
    lt, ot = params[0]
    return hss_pub_from_lms(lms_keygen(lt, ot, ids[0], seeds[0]), n)


def hss_sign(params, seeds, ids, qs, msg, nodes=None):
    """HSS signature u32str(L-1) || (sig_i || pub_{i+1}) for i < L-1 || sig_bottom
    (RFC 8554 6.2): level i signs level i+1's LMS public key at leaf qs[i];
    the bottom level signs msg at qs[L-1]. nodes: optional per-level lms_tree
    output. Stateless, like lms_sign: for tests and vectors."""
    n = _check_levels(params, seeds, ids)
    if len(qs) != n:
        raise LMSError("bad levels")
    out = [_u32str(n - 1)]
    for i in range(n):
        lt, ot = params[i]
        nd = nodes[i] if nodes is not None else None
        if i < n - 1:
            clt, cot = params[i + 1]
            cnd = nodes[i + 1] if nodes is not None else None
            if cnd is not None:
                m = _core.LMS_PARAMS[clt][2]
                child = _u32str(clt) + _u32str(cot) + bytes(ids[i + 1]) + bytes(cnd[m : 2 * m])
            else:
                child = lms_keygen(clt, cot, ids[i + 1], seeds[i + 1])
            out.append(lms_sign(lt, ot, ids[i], seeds[i], qs[i], child, nd))
            out.append(child)
        else:
            out.append(lms_sign(lt, ot, ids[i], seeds[i], qs[i], msg, nd))
    return b"".join(out)


# ---------------------------------------------------------------- COSE


def _cose_verify(pub, tbs, sig):
    return verify(pub, tbs, sig)


def _cose_sign(key, tbs):
    # key: an lms_state signer (anything with sign(msg) -> HSS signature).
    sign = getattr(key, "sign", None)
    if sign is None:
        raise LMSError("key must be an LMS signer")
    return sign(tbs)


def register_cose():
    """Plug HSS-LMS (alg -46) into cose: verify with this facade, sign with an
    lms_state signer passed as the key (cose.sign1_create(signer, ...))."""
    import cose

    cose.register_signature_alg(cose.ALG_HSS_LMS, _cose_verify, _cose_sign)


def encode_cose_key(pub, kid=None):
    """COSE_Key {1: 5 (HSS-LMS), 3: -46, -1: pub[, 2: kid]} as CBOR (RFC 9708).
    lib/cose decodes keys (cose.decode_key) but has no encoder."""
    import cbor

    parse_hss_pub(pub)
    key = {1: KTY_HSS_LMS, 3: ALG_HSS_LMS, -1: bytes(pub)}
    if kid is not None:
        key[2] = bytes(kid)
    return cbor.dumps(key)


def pub_from_cose_key(data):
    """The HSS public key inside a COSE_Key (CBOR bytes or decoded map)."""
    import cose

    try:
        k = cose.decode_key(data)
    except ValueError:
        raise LMSFormatError("bad COSE_Key")
    if k.kty != KTY_HSS_LMS:
        raise LMSFormatError("not an HSS-LMS COSE_Key")
    if k.alg is not None and k.alg != ALG_HSS_LMS:
        raise LMSFormatError("COSE_Key alg is not HSS-LMS")
    parse_hss_pub(k.pub)
    return bytes(k.pub)


def __getattr__(name):
    # The rest of the API (typecodes, LMS_PARAMS / OTS_PARAMS, I_LEN, OK and
    # the ERR_* codes, explain, param_name, the length helpers, ...) is
    # lms_py's own, looked up there on use rather than copied into this
    # module's globals (heap on a small board).
    return getattr(_core, name)
