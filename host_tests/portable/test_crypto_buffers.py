# The buffer paths of hgcrypto's CTR and CCM: every chunking case, with the
# C helper _hgcore.xor_into and with the pure-Python fallback (forced here by
# clearing hgcrypto._c_xor_into / _c_ct_equal), checked against a block-by-block
# reference built on AES.encrypt_block; plus the heap a call allocates on
# MicroPython (pinned loosely, only where it is deterministic).
# Portable: pytest (CPython), MicroPython unix (PyPI, natmod, make unix), qemu.
import sys

import hgcrypto
from hgtest import raises, skip

AuthenticationError = hgcrypto.AuthenticationError

KEY = bytes(range(16))
NONCE = bytes(range(100, 113))
AAD8 = b"\x83hEncry"
MICROPYTHON = sys.implementation.name == "micropython"


def _xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def _pattern(n, seed=0):
    return bytes(((i * 7) + seed) & 0xFF for i in range(n))


def _ref_ctr(key, counter, data):
    e = hgcrypto.AES(key).encrypt_block
    c = int.from_bytes(counter, "big")
    out = bytearray()
    for i in range(0, len(data), 16):
        piece = data[i : i + 16]
        out.extend(_xor(piece, e(c.to_bytes(16, "big"))))
        c = (c + 1) % (1 << 128)
    return bytes(out)


def _ref_ccm(key, nonce, pt, aad, tl):
    # RFC 3610, one block at a time (output preallocated: the qemu heap is small).
    e = hgcrypto.AES(key).encrypt_block
    nl = len(nonce)
    q = 15 - nl
    n = len(pt)
    la = len(aad)
    b0 = bytes(((64 if la else 0) | (((tl - 2) >> 1) << 3) | (q - 1),)) + bytes(nonce) + n.to_bytes(q, "big")
    if not la:
        a = b""
    elif la < 0xFF00:
        a = la.to_bytes(2, "big") + bytes(aad)
    else:
        a = b"\xff\xfe" + la.to_bytes(4, "big") + bytes(aad)
    x = e(b0)
    for blocks in (a, pt):
        for i in range(0, len(blocks), 16):
            piece = blocks[i : i + 16]
            x = e(_xor(x, piece + bytes(16 - len(piece))))
    flags = bytes((q - 1,))
    out = bytearray(n + tl)
    for i in range(0, n, 16):
        piece = pt[i : i + 16]
        s = e(flags + bytes(nonce) + ((i >> 4) + 1).to_bytes(q, "big"))
        out[i : i + len(piece)] = _xor(piece, s)
    s0 = e(flags + bytes(nonce) + bytes(q))
    out[n:] = _xor(x, s0)[:tl]
    return out


def _both(fn):
    # Run fn() with the module's C helpers as loaded, then with the
    # pure-Python fallbacks forced; always restore them.
    saved = (hgcrypto._c_xor_into, hgcrypto._c_ct_equal)
    fn()
    try:
        hgcrypto._c_xor_into = None
        hgcrypto._c_ct_equal = None
        fn()
    finally:
        hgcrypto._c_xor_into, hgcrypto._c_ct_equal = saved


def _ccm_case(key, nonce, pt, aad, tl):
    exp = _ref_ccm(key, nonce, pt, aad, tl)
    for k in (key, hgcrypto.AES(key)):
        got = hgcrypto.aes_ccm_encrypt(k, nonce, pt, aad, tl)
        assert isinstance(got, bytes)
        assert got == bytes(exp), (len(pt), len(aad), tl)
        back = hgcrypto.aes_ccm_decrypt(k, nonce, got, aad, tl)
        assert isinstance(back, bytes)
        assert back == bytes(pt), (len(pt), len(aad), tl)
    # One flipped bit anywhere in ciphertext or tag is rejected.
    for i in (0, len(exp) // 2, len(exp) - tl - 1, len(exp) - tl, len(exp) - 1):
        if 0 <= i < len(exp):
            bad = bytearray(exp)
            bad[i] ^= 0x10
            e = raises(AuthenticationError, hgcrypto.aes_ccm_decrypt, key, nonce, bytes(bad), aad, tl)
            assert str(e) == "authentication failed"


# ---------------------------------------------------------------- CCM


def test_ccm_message_chunking():
    # 0, partial, one block, the 128-byte scratch exactly, several chunks with
    # and without a partial last one.
    def run():
        for n in (0, 1, 15, 16, 17, 20, 31, 32, 127, 128, 129, 255, 256, 300):
            _ccm_case(KEY, NONCE, _pattern(n), AAD8, 8)

    _both(run)


def test_ccm_aad_chunking():
    # AAD staged through the scratch: none, None, a block with its 2-byte
    # length, filling the scratch exactly (2 + 126 = 128), longer than the
    # scratch with a short message and with none.
    def run():
        for la, n in ((0, 20), (1, 20), (14, 20), (30, 20), (126, 5), (126, 200), (127, 0), (300, 20), (300, 0), (1000, 129)):
            _ccm_case(KEY, NONCE, _pattern(n, 3), _pattern(la, 5), 8)
        assert hgcrypto.aes_ccm_encrypt(KEY, NONCE, b"abc", None) == bytes(_ref_ccm(KEY, NONCE, b"abc", b"", 8))
        ct = hgcrypto.aes_ccm_encrypt(KEY, NONCE, b"abc")
        assert hgcrypto.aes_ccm_decrypt(KEY, NONCE, ct, None) == b"abc"

    _both(run)


def test_ccm_tag_and_nonce_lengths():
    def run():
        for tl in (4, 6, 8, 10, 12, 14, 16):
            for nl in (7, 11, 13):
                _ccm_case(KEY, NONCE[:nl], _pattern(21), AAD8, tl)

    _both(run)


def test_ccm_counter_carries_past_one_octet():
    # > 255 blocks: the counter's low octet carries while the chunk's slots
    # step on (and with a 7-byte nonce the counter field is 8 octets).
    import gc

    pt = _pattern(16 * 260 + 3)

    def run():
        for nonce in (NONCE, NONCE[:7]):
            exp = _ref_ccm(KEY, nonce, pt, AAD8, 8)
            gc.collect()
            got = hgcrypto.aes_ccm_encrypt(KEY, nonce, pt, AAD8)
            assert got == exp
            exp = None
            gc.collect()
            assert hgcrypto.aes_ccm_decrypt(KEY, nonce, got, AAD8) == pt
            got = None
            gc.collect()

    _both(run)


def test_ccm_buffer_types():
    def run():
        pt = _pattern(40)
        exp = _ref_ccm(KEY, NONCE, pt, AAD8, 8)
        got = hgcrypto.aes_ccm_encrypt(bytearray(KEY), memoryview(NONCE), memoryview(pt), bytearray(AAD8))
        assert got == exp
        big = bytearray(b"xx" + exp + b"yy")
        back = hgcrypto.aes_ccm_decrypt(KEY, bytearray(NONCE), memoryview(big)[2:-2], memoryview(AAD8))
        assert back == pt
        assert hgcrypto.aes_ccm_decrypt(KEY, NONCE, bytearray(exp), AAD8) == pt

    _both(run)


class _Len:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def test_ccm_errors_unchanged():
    def run():
        ct = hgcrypto.aes_ccm_encrypt(KEY, NONCE, b"hello", AAD8)
        raises(AuthenticationError, hgcrypto.aes_ccm_decrypt, KEY, NONCE, ct, AAD8 + b"x")
        raises(AuthenticationError, hgcrypto.aes_ccm_decrypt, KEY, NONCE, ct[:7], AAD8)
        raises(AuthenticationError, hgcrypto.aes_ccm_decrypt, KEY, NONCE, ct, AAD8, 10)
        # The length is checked before anything the size of the message is
        # allocated (a 64 KiB buffer would not fit the qemu heap).
        e = raises(hgcrypto.CryptoError, hgcrypto.aes_ccm_encrypt, KEY, NONCE, _Len(65536))
        assert str(e) == "message too long"
        e = raises(hgcrypto.CryptoError, hgcrypto.aes_ccm_decrypt, KEY, NONCE, _Len(65536 + 8))
        assert str(e) == "message too long"
        e = raises(hgcrypto.CryptoError, hgcrypto.aes_ccm_encrypt, bytes(15), NONCE, b"p")
        assert str(e) == "bad key length"

    _both(run)


# ---------------------------------------------------------------- CTR


def test_ctr_batches_and_streaming():
    def run():
        ctrs = (
            bytes(range(16)),
            b"\x00" * 15 + b"\xf8",  # low octet carries inside the first batch
            b"\xff" * 16,  # 128-bit wrap at once
            b"\xff" * 15 + b"\xf0",  # wrap inside a batch
        )
        for ctr in ctrs:
            for n in (0, 5, 16, 127, 128, 129, 300):
                data = _pattern(n, 9)
                exp = _ref_ctr(KEY, ctr, data)
                assert hgcrypto.aes_ctr(KEY, ctr, data) == exp, (n, ctr)
                assert hgcrypto.aes_ctr(hgcrypto.AES(KEY), bytearray(ctr), memoryview(exp)) == data
            data = _pattern(333, 1)
            exp = _ref_ctr(KEY, ctr, data)
            for sizes in ((1,), (15, 17), (3, 130, 16, 0, 40), (200,)):
                s = hgcrypto.AESCTR(KEY, ctr)
                out = bytearray()
                pos = 0
                i = 0
                while pos < len(data):
                    k = sizes[i % len(sizes)]
                    out.extend(s.update(data[pos : pos + k]))
                    pos += k
                    i += 1
                assert bytes(out) == exp, sizes

    _both(run)


# ---------------------------------------------------------------- heap


def _heap(fn):
    import gc

    fn()  # warm-up: nothing lazily created is counted
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        fn()
        return gc.mem_alloc() - before
    finally:
        gc.enable()


def _need_heap_figures():
    if not MICROPYTHON:
        skip("heap per call is measured on MicroPython only")
    if hgcrypto._c_xor_into is None:
        skip("allocation bound applies with _hgcore (not built into this runtime)")


def test_ccm_heap_oscore_sized_message():
    # An OSCORE-sized request: 20-byte payload, 8-byte AAD, AES object per
    # security context. Was 3.7 KB on the qemu Cortex-M4 and 4.9-5.6 KB on
    # x64; now 0.7 KB on qemu and at most 1.3 KB on x64 (MicroPython 1.25).
    _need_heap_figures()
    aes = hgcrypto.AES(KEY)
    pt = _pattern(20)
    ct = hgcrypto.aes_ccm_encrypt(aes, NONCE, pt, AAD8)
    used = _heap(lambda: hgcrypto.aes_ccm_encrypt(aes, NONCE, pt, AAD8))
    assert used < 1500, used
    used = _heap(lambda: hgcrypto.aes_ccm_decrypt(aes, NONCE, ct, AAD8))
    assert used < 1500, used


def test_ccm_heap_does_not_grow_per_block():
    # 1 KiB: the result (and its bytes copy) plus a fixed scratch, not a few
    # objects per block as before (24-38 KB).
    _need_heap_figures()
    aes = hgcrypto.AES(KEY)
    pt = _pattern(1024)
    ct = hgcrypto.aes_ccm_encrypt(aes, NONCE, pt, AAD8)
    used = _heap(lambda: hgcrypto.aes_ccm_encrypt(aes, NONCE, pt, AAD8))
    assert used < 8192, used
    used = _heap(lambda: hgcrypto.aes_ccm_decrypt(aes, NONCE, ct, AAD8))
    assert used < 8192, used
