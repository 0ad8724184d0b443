# Out of heap inside the SUIT stack is SUIT_ERR_NO_MEM, not a malformed
# manifest or a failed authentication: cbor and lms let MemoryError through
# and the SUIT layers name it. The heap is "exhausted" by swapping one
# decoder helper for a function that raises MemoryError. Portable: CPython,
# MicroPython unix port, qemu image.
import gc

import cbor

import suit_envelope as se
import suit_processor as sp
import suit_report as sr
from hgtest import raises, read_binary
from suittest import FakePlatform, envelope, load, manifest, seq

URI = "coap://[::1]/fw/app.bin"
C0 = [b"\x00"]
V = b"V" * 16
K = b"C" * 16


def _oom(*args):
    raise MemoryError()


def test_envelope_decode_out_of_memory_is_no_mem():
    data = read_binary("suit/example0_signed.suit")  # 107(...): a Tag is built
    saved = cbor.Tag
    cbor.Tag = _oom
    try:
        e = raises(se.SuitError, se.decode_envelope, data)
        assert e.code == se.SUIT_ERR_NO_MEM, e.code  # was "bad CBOR"
    finally:
        cbor.Tag = saved
    assert se.decode_envelope(data).tagged
    data = None
    gc.collect()


def test_command_decode_out_of_memory_is_no_mem_and_aborts():
    inst = seq(20, {21: URI}, 21, 2, 3, 15)
    m = manifest(7, [C0], seq(20, {1: V, 2: K}), {20: inst, 7: seq(3, 15)})
    env = load(envelope(m))
    f = FakePlatform(V, K, seq=1)
    f.add(C0)
    f.fetches[URI] = b"image"
    r = sr.Report(env)
    saved = cbor._text
    cbor._text = _oom  # the URI is the first text the install section decodes
    try:
        e = raises(se.SuitError, sp.process_update, env, f, r)
    finally:
        cbor._text = saved
    assert e.code == se.SUIT_ERR_NO_MEM, e.code  # was SUIT_ERR_INVALID_MANIFEST
    assert f.aborts == 1 and f.commits == [] and f.fetched == []
    assert r.result[0] == se.SUIT_ERR_NO_MEM


def test_out_of_memory_while_verifying_is_no_mem():
    # an LMS backend that runs out of memory mid-verify: not a bad signature
    import lms

    data = read_binary("suit/hg_create_lms.suit")
    pub = read_binary("suit/hg_create_lms.pub")
    lms.register_cose()

    class _OOM:
        def __getattr__(self, name):
            def fn(*a, **k):
                raise MemoryError()

            return fn

    saved = lms._b
    lms._b = _OOM()
    try:
        e = raises(se.SuitError, se.authenticate, data, [se.sign1_verifier(pub, -46)])
    finally:
        lms._b = saved
    assert e.code == se.SUIT_ERR_NO_MEM
