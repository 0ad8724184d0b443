# The LMS/HSS C core through its bindings: `_lms` (MicroPython user module
# or natmod) or, under CPython, hourglass.lms_host (ctypes). Portable: pytest,
# mp_runner.py on the unix port and on the qemu image. Runtimes without _lms
# (the PyPI micropython) skip every test, visibly.
# Vectors: host_tests/vectors/lms/ (one small file per case; negative/ holds
# the negative table in chunks).
import gc
from binascii import unhexlify

from hgtest import h, hx, skip, vectors

try:
    import _lms
except ImportError:
    try:
        from hourglass import lms_host as _lms  # CPython: ctypes over the same C core
    except ImportError:
        _lms = None

# A small-heap target (the 64 KiB qemu image has ~45 KB of heap, fragmented
# after the other test modules ran) decodes the case straight from the frozen
# JSON (see _hex_field) but still needs the signature in one block, plus a
# copy for the trailing-byte check: bigger cases are skipped there, visibly.
_BIG_SIG = 6000


def _heap_total():
    try:
        return gc.mem_free() + gc.mem_alloc()
    except AttributeError:
        return None  # CPython


def _small_heap():
    t = _heap_total()
    return t is not None and t < 200000


def _need_lms():
    if _lms is None:
        skip("_lms not built into this runtime")


def _need_sign():
    _need_lms()
    if not _lms.HAS_SIGN:
        skip("_lms built without signing (HAS_SIGN is False)")


_CODES = {"valid": 0, "invalid": -1, "malformed": -2, "unsupported": -3}


def _expect_ok(got, expect, what):
    if expect == "invalid":  # external negative vectors: any failure code
        assert got in (-1, -2, -3), (what, got)
    else:
        assert got == _CODES[expect], (what, expect, got)


def _verify(kind, pub, msg, sig):
    if kind == "hss":
        return _lms.verify(pub, msg, sig)
    return _lms.verify_lms(pub, msg, sig)


def _hss_pub_from_botan(sk):
    # Botan raw HSS private key: u32 L || u64 index || L x (u32 lms, u32 ots) || SEED(32) || I(16)
    L = int.from_bytes(sk[0:4], "big")
    lt = int.from_bytes(sk[12:16], "big")
    ot = int.from_bytes(sk[16:20], "big")
    seed = sk[12 + 8 * L : 12 + 8 * L + 32]
    I = sk[12 + 8 * L + 32 : 12 + 8 * L + 48]
    return sk[0:4] + _lms.lms_keygen(lt, ot, I, seed)


def _frozen_text(name):
    # The qemu image has no filesystem: vector files are frozen modules whose
    # TEXT lives in flash. None where the files are read from disk.
    import hgtest

    if hgtest.VECTOR_DIR:
        return None
    try:
        return __import__(hgtest.frozen_vector_module(name)).TEXT
    except ImportError:
        return None


def _hex_field(text, key):
    # unhexlify a slice of the flash-resident JSON text through a memoryview:
    # only the decoded bytes are allocated, never a hex string (json.loads
    # would grow a contiguous string of twice the size, which a fragmented
    # ~45 KB heap cannot always provide).
    tag = '"' + key + '": "'
    i = text.find(tag)
    if i < 0:
        return None
    i += len(tag)
    return unhexlify(memoryview(text)[i : text.find('"', i)])


def _load_case(name):
    text = _frozen_text(name) if _small_heap() else None
    if text is not None:
        kind = "hss" if text.find('"kind": "hss"') >= 0 else "lms"
        pub = _hex_field(text, "public_key")
        if pub is None:
            kind = "botan_hss_sig"
            pub = _hex_field(text, "private_key_botan_format")
        msg = _hex_field(text, "message")
        sig = _hex_field(text, "signature")
        return kind, pub, msg, sig
    # unhexlify straight from the parsed strings (hgtest.h would first make
    # two more copies of each hex string): the peak is the JSON plus the bytes.
    c = vectors(name)
    kind = c.get("kind", "botan_hss_sig")
    msg = unhexlify(c["message"])
    sig = unhexlify(c["signature"])
    pub = unhexlify(c["public_key"] if "public_key" in c else c["private_key_botan_format"])
    c = None
    gc.collect()
    return kind, pub, msg, sig


def _run_case(e):
    name, file, expect, sig_len = e
    _need_lms()
    if _small_heap() and sig_len > _BIG_SIG:
        skip("%s: %d-byte signature too big for this %d-byte heap" % (name, sig_len, _heap_total()))
    if name.startswith("botan_hss_sig"):
        _need_sign()
    kind, pub, msg, sig = _load_case(file)
    if kind == "botan_hss_sig":
        pub = _hss_pub_from_botan(pub)
        kind = "hss"
    _expect_ok(_verify(kind, pub, msg, sig), expect, name)
    if expect != "valid" or kind != "hss":
        return
    v = _lms.Verifier(pub, sig)
    for i in range(0, len(msg), 17):
        v.update(msg[i : i + 17])
    assert v.final() == 0, name + " streaming"
    assert _lms.verify(pub, msg + b"\x00", sig) == _lms.ERR_INVALID, name + " other message"
    sig = sig + b"\x00"
    assert _lms.verify(pub, msg, sig) == _lms.ERR_MALFORMED, name + " trailing byte"


def _case_test(e):
    def t():
        _run_case(e)

    return t


def _work_buffers(name):
    """(kind, {field: (bytearray with 32 spare bytes, length)}) for a base
    case: one block per field, filled in 256-byte pieces straight from the
    frozen JSON on small heaps (no second copy of the signature)."""
    text = _frozen_text(name) if _small_heap() else None
    out = {}
    if text is None:
        kind, pub, msg, sig = _load_case(name)
        for k, v in (("pub", pub), ("msg", msg), ("sig", sig)):
            w = bytearray(len(v) + 32)
            w[: len(v)] = v
            out[k] = (w, len(v))
        return kind, out
    kind = "hss" if text.find('"kind": "hss"') >= 0 else "lms"
    mv = memoryview(text)
    for k, key in (("pub", "public_key"), ("msg", "message"), ("sig", "signature")):
        tag = '"' + key + '": "'
        i = text.find(tag) + len(tag)
        n = (text.find('"', i) - i) // 2
        w = bytearray(n + 32)
        for j in range(0, n, 256):
            e = min(n, j + 256)
            w[j:e] = unhexlify(mv[i + 2 * j : i + 2 * e])
        out[k] = (w, n)
    return kind, out


def _neg_test(name):
    def t():
        _need_lms()
        base = vectors(name)["base"]
        gc.collect()
        kind, work = _work_buffers(base)
        gc.collect()
        chunk = vectors(name)
        first = chunk["first"]
        rows = chunk["rows"]
        chunk = None
        gc.collect()
        full = {}
        for k in work:
            full[k] = memoryview(work[k][0])[: work[k][1]]
        # Mutate the field's buffer in place, pass a memoryview, restore.
        for i, (target, op, at, value, expect) in enumerate(rows):
            w, n = work[target]
            saved = None
            if op == "truncate":
                n = at
            elif op == "append":
                v = unhexlify(value)
                w[n : n + len(v)] = v
                n += len(v)
            elif op in ("xor", "set32"):
                saved = bytes(w[at : at + 4])
                if op == "xor":
                    w[at] ^= value
                else:
                    w[at : at + 4] = value.to_bytes(4, "big")
            else:
                raise AssertionError("unknown op " + op)
            f = dict(full)
            f[target] = memoryview(w)[:n]
            got = _verify(kind, f["pub"], f["msg"], f["sig"])
            assert got == _CODES[expect], (name, first + i, target, op, at, value, expect, got)
            f = None
            if saved is not None:
                w[at : at + len(saved)] = saved

    return t


def _make_tests():
    # setattr (not globals()[...]) interns the names: MicroPython's dir(),
    # which mp_runner uses to find tests, lists only interned names.
    import sys

    mod = sys.modules[__name__]
    for e in vectors("lms/index.json")["cases"]:
        setattr(mod, "test_case_" + e["name"],
                _case_test((e["name"], e["file"], e["expect"], e["sig_len"])))
    for name in vectors("lms/negative/index.json")["chunks"]:
        setattr(mod, "test_negative_" + name.split("/")[-1][:-5], _neg_test(name))


_make_tests()


def test_negative_chunks_complete():
    if _small_heap():
        skip("negative.json (70 KB) is parsed on big heaps only; its chunks run here")
    split = vectors("lms/negative.json")["split"]
    assert split == vectors("lms/negative/index.json")["chunks"]


def test_module_api():
    _need_lms()
    assert (_lms.ERR_INVALID, _lms.ERR_MALFORMED, _lms.ERR_UNSUPPORTED) == (-1, -2, -3)
    assert _lms.HAS_SIGN in (True, False)
    assert _lms.lms_sig_len(6, 4) == 1452 and _lms.lms_sig_len(10, 8) == 4 + 4 + 24 * 27 + 4 + 5 * 24
    assert _lms.lms_pub_len(5) == 56 and _lms.lms_pub_len(14) == 48
    assert _lms.lms_pub_len(15) == 0 and _lms.lms_sig_len(5, 9) == 0  # SHAKE256: unsupported
    assert _lms.verify(b"", b"", b"") == _lms.ERR_MALFORMED


def test_verifier_lifecycle():
    _need_lms()
    c = vectors("lms/cases/rfc9858_tc1.json")
    pub, msg, sig = h(c["public_key"]), h(c["message"]), h(c["signature"])
    c = None
    # A mutable signature buffer is copied: changing it later must not matter.
    buf = bytearray(sig)
    v = _lms.Verifier(pub, buf)
    buf[10] ^= 1
    v.update(msg)
    assert v.final() == 0
    for fn in (v.final, lambda: v.update(b"x")):
        try:
            fn()
        except ValueError:
            pass
        else:
            raise AssertionError("used after final")
    # Init-time errors come back from final().
    v = _lms.Verifier(pub[:-1], sig)
    v.update(msg)
    assert v.final() == _lms.ERR_MALFORMED
    v = _lms.Verifier(pub, sig[:-1])
    assert v.final() == _lms.ERR_MALFORMED


def test_compressions_counter():
    _need_lms()
    n = _lms.compressions()
    if n is None:
        skip("compression counter not compiled in (LMS_COUNT_COMPRESSIONS)")
    c = vectors("lms/cases/rfc8554_tc1.json")
    pub, msg, sig = h(c["public_key"]), h(c["message"]), h(c["signature"])
    c = None
    _lms.compressions(True)
    assert _lms.verify(pub, msg, sig) == 0
    # Exact figure for RFC 8554 TC1 (see host_tests/test_lms_native.py for the derivation).
    assert _lms.compressions(True) == 8479
    assert _lms.compressions() == 0


def test_keygen_vectors():
    _need_sign()
    for c in vectors("lms/keygen.json")["cases"]:
        pub = _lms.lms_keygen(c["lms_type"], c["ots_type"], h(c["I"]), h(c["seed"]))
        assert hx(pub) == c["public_key"], c["name"]


def test_sign_vectors():
    _need_sign()
    import hashlib

    cases = vectors("lms/sign.json")["cases"]
    for c in cases:
        I, seed, msg = h(c["I"]), h(c["seed"]), h(c["message"])
        sig = _lms.lms_sign(c["lms_type"], c["ots_type"], I, seed, c["q"], msg)
        if "signature" in c:
            assert hx(sig) == c["signature"], c["name"]
        else:
            assert hx(hashlib.sha256(sig).digest()) == c["sha256_of_signature"], c["name"]
        assert _lms.verify_lms(h(c["public_key"]), msg, sig) == 0, c["name"]


def test_sign_roundtrip_small_trees():
    _need_sign()
    I = bytes(range(16))
    seed = bytes(range(100, 132))
    for lt, ot in ((5, 4), (10, 8), (5, 7), (10, 1)):
        pub = _lms.lms_keygen(lt, ot, I, seed)
        nodes = _lms.lms_tree(lt, ot, I, seed)
        for q in (0, 17, 31):
            msg = b"message %d" % q
            sig = _lms.lms_sign(lt, ot, I, seed, q, msg)
            assert sig == _lms.lms_sign(lt, ot, I, seed, q, msg, nodes)
            assert _lms.verify_lms(pub, msg, sig) == 0
            assert _lms.verify(b"\x00\x00\x00\x01" + pub, msg, b"\x00\x00\x00\x00" + sig) == 0
            assert _lms.verify_lms(pub, msg + b"!", sig) == _lms.ERR_INVALID
    for bad in ((15, 4), (5, 9), (0, 0)):
        try:
            _lms.lms_keygen(bad[0], bad[1], I, seed)
        except ValueError:
            pass
        else:
            raise AssertionError("keygen accepted %r" % (bad,))
    try:
        _lms.lms_sign(5, 4, I, seed, 32, b"")
    except ValueError:
        pass
    else:
        raise AssertionError("q = 2^h accepted")
