# _hgcore, the C helpers behind hgcrypto: built into `make unix` and `make qemu`,
# a natmod elsewhere; absent from CPython and the PyPI micropython (visible skip).
import hgtest

try:
    import _hgcore
except ImportError:
    _hgcore = None


def _need():
    if _hgcore is None:
        hgtest.skip("_hgcore not built into this runtime")


def test_ct_equal():
    _need()
    assert _hgcore.ct_equal(b"", b"") is True
    assert _hgcore.ct_equal(b"abc", b"abc") is True
    assert _hgcore.ct_equal(b"abc", b"abd") is False
    assert _hgcore.ct_equal(b"\x00abc", b"\x01abc") is False
    assert _hgcore.ct_equal(b"abc", b"abcd") is False
    assert _hgcore.ct_equal(bytearray(b"xy"), memoryview(b"xy")) is True


def test_xor_into():
    _need()
    out = bytearray(4)
    _hgcore.xor_into(out, b"\x0f\xf0\xaa\x55", b"\xff\xff\x55\x55")
    assert out == bytearray(b"\xf0\x0f\xff\x00")
    # In place, through a memoryview slice.
    buf = bytearray(b"\x01\x02\x03\x04\x05")
    _hgcore.xor_into(memoryview(buf)[1:4], memoryview(buf)[1:4], b"\x02\x03\x04")
    assert buf == bytearray(b"\x01\x00\x00\x00\x05")


def test_xor_into_rejects_length_mismatch():
    _need()
    hgtest.raises(ValueError, _hgcore.xor_into, bytearray(3), b"ab", b"abc")
    hgtest.raises(ValueError, _hgcore.xor_into, bytearray(2), b"ab", b"abc")


def test_xor_into_rejects_read_only_output():
    _need()
    hgtest.raises(TypeError, _hgcore.xor_into, b"ab", b"ab", b"ab")


def test_hgcrypto_uses_it():
    _need()
    import hgcrypto

    assert hgcrypto._c_ct_equal is not None
    assert hgcrypto.ct_equal(b"k" * 16, b"k" * 16)
    assert not hgcrypto.ct_equal(b"k" * 16, b"k" * 15 + b"j")
