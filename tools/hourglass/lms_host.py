"""CPython binding of the LMS/HSS C core (firmware/cmodules/lms/core) via ctypes.

Same API as the MicroPython module `_lms` (firmware/cmodules/lms/modlms.c):

    verify(pub, msg, sig) -> int           HSS encodings; 0 = valid, else ERR_INVALID,
                                           ERR_MALFORMED or ERR_UNSUPPORTED
    verify_lms(pub, msg, sig) -> int       bare LMS key and signature (SP 800-208)
    Verifier(pub, sig): .update(data), .final() -> int   (errors in pub/sig: at final())
    lms_pub_len(lms_type), lms_sig_len(lms_type, ots_type) -> int (0: unsupported)
    compressions(reset=False) -> int       SHA-256 compressions since the last reset
    HAS_SIGN = True
    lms_keygen(lms_type, ots_type, I, seed) -> LMS public key (type||otstype||I||T[1])
    lms_sign(lms_type, ots_type, I, seed, q, msg, nodes=None) -> LMS signature at leaf q
    lms_tree(lms_type, ots_type, I, seed) -> all tree nodes (for lms_sign's nodes=)

The shared library is build/host/liblms.so, built on first use (or when the C
sources are newer) by tools/build/build_lms_host.py; HOURGLASS_LMS_LIB
overrides the path (e.g. the ASan build). Import raises ImportError when the
library can neither be found nor built, so a facade can fall back to Python.
"""
import ctypes
import importlib.util
import os

ERR_INVALID = -1
ERR_MALFORMED = -2
ERR_UNSUPPORTED = -3
_ERR_ARG = -4
HAS_SIGN = True

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _build_module():
    path = os.path.join(_ROOT, "tools", "build", "build_lms_host.py")
    spec = importlib.util.spec_from_file_location("_hg_build_lms_host", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _load():
    path = os.environ.get("HOURGLASS_LMS_LIB")
    if not path:
        try:
            path = _build_module().build()
        except Exception as e:  # BuildError, missing tools/build, OSError
            raise ImportError("lms_host: cannot build the LMS C library: %s" % e) from e
    try:
        return ctypes.CDLL(path)
    except OSError as e:
        raise ImportError("lms_host: cannot load %s: %s" % (path, e)) from e


_lib = _load()
_P = ctypes.c_char_p
_S = ctypes.c_size_t
_U = ctypes.c_uint32
for _name, _args in (
    ("lms_hss_verify", [_P, _S, _P, _S, _P, _S]),
    ("lms_verify", [_P, _S, _P, _S, _P, _S]),
    ("lms_hss_verify_init", [ctypes.c_void_p, _P, _S, _P, _S]),
    ("lms_hss_verify_final", [ctypes.c_void_p]),
    ("lms_keygen", [ctypes.c_void_p, _S, _U, _U, _P, _P, _S]),
    ("lms_tree_nodes", [ctypes.c_void_p, _S, _U, _U, _P, _P, _S]),
    ("lms_sign", [ctypes.c_void_p, _S, _U, _U, _P, _P, _S, _U, _P, _S, _P, _S]),
):
    getattr(_lib, _name).argtypes = _args
    getattr(_lib, _name).restype = ctypes.c_int
_lib.lms_hss_verify_update.argtypes = [ctypes.c_void_p, _P, _S]
_lib.lms_hss_verify_update.restype = None
_lib.lms_pub_len.argtypes = [_U]
_lib.lms_pub_len.restype = _S
_lib.lms_sig_len.argtypes = [_U, _U]
_lib.lms_sig_len.restype = _S
_lib.lms_hss_verify_ctx_size.argtypes = []
_lib.lms_hss_verify_ctx_size.restype = _S
_CTX_SIZE = _lib.lms_hss_verify_ctx_size()
_counter = ctypes.c_uint32.in_dll(_lib, "lms_sha256_compressions")


def _b(x):
    """Bytes for a C pointer (bytes pass by reference; other buffers are copied)."""
    if isinstance(x, bytes):
        return x
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    raise TypeError("object with buffer protocol required")


def _u32(x):
    if not isinstance(x, int):
        raise TypeError("int required")
    if x < 0 or x > 0xFFFFFFFF:
        raise ValueError("bad argument")
    return x


def verify(pub, msg, sig):
    pub, msg, sig = _b(pub), _b(msg), _b(sig)
    return _lib.lms_hss_verify(pub, len(pub), msg, len(msg), sig, len(sig))


def verify_lms(pub, msg, sig):
    pub, msg, sig = _b(pub), _b(msg), _b(sig)
    return _lib.lms_verify(pub, len(pub), msg, len(msg), sig, len(sig))


class Verifier:
    """Streaming HSS verification. The C context points into the signature:
    this object holds it (a private copy unless it is already bytes)."""

    def __init__(self, pub, sig):
        pub, self._sig = _b(pub), _b(sig)
        self._ctx = ctypes.create_string_buffer(_CTX_SIZE)
        self._done = False
        _lib.lms_hss_verify_init(self._ctx, pub, len(pub), self._sig, len(self._sig))

    def update(self, data):
        if self._done:
            raise ValueError("verifier is final")
        data = _b(data)
        _lib.lms_hss_verify_update(self._ctx, data, len(data))

    def final(self):
        if self._done:
            raise ValueError("verifier is final")
        self._done = True
        ret = _lib.lms_hss_verify_final(self._ctx)
        self._sig = None
        return ret


def lms_pub_len(lms_type):
    return _lib.lms_pub_len(_u32(lms_type))


def lms_sig_len(lms_type, ots_type):
    return _lib.lms_sig_len(_u32(lms_type), _u32(ots_type))


def compressions(reset=False):
    n = _counter.value
    if reset:
        _counter.value = 0
    return n


def _check(ret):
    if ret == ERR_UNSUPPORTED:
        raise ValueError("unsupported parameter set")
    if ret != 0:
        raise ValueError("bad argument")


def _key_args(lms_type, ots_type, I, seed):
    lms_type, ots_type, I, seed = _u32(lms_type), _u32(ots_type), _b(I), _b(seed)
    if not _lib.lms_sig_len(lms_type, ots_type):
        raise ValueError("unsupported parameter set")
    if len(I) != 16:
        raise ValueError("I must be 16 bytes")
    return lms_type, ots_type, I, seed


def _tree_len(lms_type):
    m = _lib.lms_pub_len(lms_type) - 24
    h = 5 * ((lms_type - 4) if lms_type <= 9 else (lms_type - 9))
    return (2 << h) * m, h


def lms_keygen(lms_type, ots_type, I, seed):
    lms_type, ots_type, I, seed = _key_args(lms_type, ots_type, I, seed)
    out = ctypes.create_string_buffer(_lib.lms_pub_len(lms_type))
    _check(_lib.lms_keygen(out, len(out), lms_type, ots_type, I, seed, len(seed)))
    return out.raw


def lms_tree(lms_type, ots_type, I, seed):
    lms_type, ots_type, I, seed = _key_args(lms_type, ots_type, I, seed)
    n, _h = _tree_len(lms_type)
    out = ctypes.create_string_buffer(n)
    _check(_lib.lms_tree_nodes(out, n, lms_type, ots_type, I, seed, len(seed)))
    return out.raw


def lms_sign(lms_type, ots_type, I, seed, q, msg, nodes=None):
    lms_type, ots_type, I, seed = _key_args(lms_type, ots_type, I, seed)
    msg = _b(msg)
    tree_len, h = _tree_len(lms_type)
    if not isinstance(q, int):
        raise TypeError("int required")
    if q < 0 or q >= (1 << h):
        raise ValueError("q out of range")
    if nodes is not None:
        nodes = _b(nodes)
        if len(nodes) != tree_len:
            raise ValueError("nodes has the wrong length")
    out = ctypes.create_string_buffer(_lib.lms_sig_len(lms_type, ots_type))
    _check(_lib.lms_sign(out, len(out), lms_type, ots_type, I, seed, len(seed), q, msg, len(msg),
                         nodes, len(nodes) if nodes is not None else 0))
    return out.raw
