# Helpers for the portable tests: the same files run under pytest (CPython),
# the MicroPython unix port and the qemu Cortex-M image (see mp_runner.py).
import binascii
import json

try:
    import pytest

    SkipTest = pytest.skip.Exception

    def skip(reason):
        pytest.skip(reason)

except ImportError:

    class SkipTest(Exception):
        pass

    def skip(reason):
        raise SkipTest(reason)


# Where vector files live; mp_runner sets it on MicroPython. None means the
# vectors are frozen into the image as modules (qemu has no filesystem).
VECTOR_DIR = None


def _default_vector_dir():
    try:
        import os

        here = os.path.dirname(os.path.abspath(__file__))
        return os.path.join(os.path.dirname(here), "vectors")
    except (ImportError, AttributeError, NameError):
        return None


def h(text):
    """Hex string (spaces and newlines allowed) to bytes."""
    return binascii.unhexlify("".join(text.split()))


def hx(data):
    """Bytes to lower-case hex string (bytes.hex() is missing on small ports)."""
    return binascii.hexlify(bytes(data)).decode()


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception of exc_type it raises; fail otherwise."""
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        return e
    raise AssertionError("did not raise " + exc_type.__name__)


def frozen_vector_module(name):
    """Module name under which vector file `name` is frozen into test images."""
    out = "_vec_"
    for c in name:
        out += c if (c.isalpha() or c.isdigit()) else "_"
    return out


def _frozen(name):
    """The TEXT/DATA constant of a frozen vector module; the module is
    dropped from sys.modules again so a 64 KiB image does not keep it."""
    import sys

    mod_name = frozen_vector_module(name)
    try:
        mod = __import__(mod_name)
    except ImportError:
        raise AssertionError("vector file missing: " + name)
    sys.modules.pop(mod_name, None)
    return getattr(mod, "TEXT", None), getattr(mod, "DATA", None)


def vectors(name):
    """Load host_tests/vectors/<name> (JSON) from disk or from the frozen copy."""
    global VECTOR_DIR
    if VECTOR_DIR is None:
        VECTOR_DIR = _default_vector_dir()
    if VECTOR_DIR:
        try:
            with open(VECTOR_DIR + "/" + name) as f:
                return json.load(f)
        except OSError:
            pass
    return json.loads(_frozen(name)[0])


def read_binary(name):
    """Raw bytes of host_tests/vectors/<name> (for .cbor/.bin files)."""
    global VECTOR_DIR
    if VECTOR_DIR is None:
        VECTOR_DIR = _default_vector_dir()
    if VECTOR_DIR:
        try:
            with open(VECTOR_DIR + "/" + name, "rb") as f:
                return f.read()
        except OSError:
            pass
    return _frozen(name)[1]


class Rand:
    """Deterministic rand(n) for provisioning keys in tests (SHA-256 in
    counter mode over seed)."""

    def __init__(self, seed):
        self.seed = seed
        self.n = 0

    def __call__(self, k):
        import hgcrypto  # here: not every test module needs it in RAM

        out = b""
        while len(out) < k:
            self.n += 1
            out += hgcrypto.sha256_digest(self.seed + self.n.to_bytes(4, "big"))
        return out[:k]


def fs_dir(prefix):
    """A new empty folder for a FileStorage test, or a visible skip where
    there is no filesystem (the qemu image) or no os module."""
    import sys

    if sys.platform == "qemu":
        skip("FileStorage: the qemu image has no filesystem")
    try:
        import os
    except ImportError:
        skip("FileStorage: no os module")
    try:
        import tempfile

        return tempfile.mkdtemp(prefix=prefix)
    except ImportError:
        pass
    import time

    stamp = time.ticks_us() if hasattr(time, "ticks_us") else int(time.time() * 1000000)
    for i in range(100):
        d = "/tmp/%s%d_%d" % (prefix, stamp & 0x3FFFFFFF, i)
        try:
            os.mkdir(d)
            return d
        except OSError:
            pass
    skip("FileStorage: cannot make a folder under /tmp")
