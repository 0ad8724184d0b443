# lms_state: a power cut at any write of a tree rollover leaves a key that
# loads and signs on, never reusing a leaf. The soak found 3-level keys
# bricked ("bad key file") when the cut fell between saving a new middle
# tree and the new bottom tree; these are those cases, every write cut.
# Portable: pytest and the MicroPython unix port. The qemu image skips them
# (each cut rebuilds two H5/W4 trees in Python: about a minute there);
# host_tests/test_lms_state.py cuts every write across whole key lives.
import gc
import sys

from hgtest import raises, skip

import lms
import lms_state
from hgstore import MemoryStorage, PowerCut

H5 = lms.LMS_SHA256_M32_H5
W4 = lms.LMOTS_SHA256_N32_W4
SEED = bytes(range(32))
ID = bytes(range(100, 116))
_K_BOUNDS = 5  # the key file's reservation bounds (lms_state's top comment)


def _need_time():
    if sys.platform == "qemu":
        skip("dozens of H5/W4 tree builds in Python: too slow for the qemu image")


def _key_at(levels, bounds):
    # A fresh key whose reservation bounds are moved forward to `bounds`
    # (leaves skipped, as if spent), written straight to the medium.
    st = MemoryStorage()
    lms_state.generate(st, params=[(H5, W4)] * levels, chunk=4, seed=SEED, I=ID)
    m = lms_state.decode_state(st.read("state"))
    m[_K_BOUNDS] = bounds
    st.durable["state"] = lms_state._encode_state(m)
    return st.durable


def _cut_every_write(levels, bounds, trees_after):
    # Cut the power at write k = 1, 2, ... of the sign() that rolls over
    # (from the same stored key each time: load() resumes at the bounds,
    # so this is the same device every time), reboot, load, sign on.
    snap = _key_at(levels, bounds)
    st = MemoryStorage(data=snap)
    s = lms_state.load(st)
    pub = s.public_key
    before = s.remaining()
    w0 = st.writes
    s.sign(b"no cut")
    writes = st.writes - w0
    assert s.info()["trees"] == trees_after, s.info()
    s = None
    top_used = bounds[0]  # top leaves < bounds[0] are spent
    for k in range(1, writes + 1):
        gc.collect()
        st = MemoryStorage(data=snap)
        s = lms_state.load(st)
        st.cut_at = st.writes + k
        raises(PowerCut, s.sign, b"cut")
        e = raises(lms.LMSError, s.sign, b"again")  # nothing more from RAM
        assert "reloaded" in str(e), e
        st = st.reboot()
        s = lms_state.load(st)  # was: LMSError("bad key file")
        left = s.remaining()
        # never gains leaves; at most one upper leaf (its subtree) wasted
        assert left <= before and before - left <= 32 ** (levels - 1), (k, before, left)
        seen = {}
        for i in range(3):
            msg = ("after cut %d: %d" % (k, i)).encode()
            sig = s.sign(msg)
            assert lms.verify(pub, msg, sig), k
            assert not lms.verify(pub, msg + b"?", sig)
            path = tuple(q for _, _, q in lms.describe_sig(sig))
            # a spent top leaf never signs a new tree; no leaf path twice
            assert path[0] >= top_used, (k, path)
            assert path not in seen, (k, path)
            seen[path] = msg
        info = s.info()
        # the lower trees all hang off one fresh top leaf: bounds[0], or
        # the next one when the cut fell after its reservation was saved
        assert info["trees"][1] in (top_used, top_used + 1), (k, info)
        assert info["trees"][2:] == [0] * (levels - 2), (k, info)
        s = None
    assert writes >= 3  # new caches, parent leaf, new trees (+ bottom chunk)


def test_three_levels_middle_and_bottom_run_out_together():
    # the soak's case: top leaf 1 next, middle and bottom trees spent
    _need_time()
    _cut_every_write(3, [1, 32, 32], [0, 1, 0])


def test_two_levels_bottom_runs_out():
    _need_time()
    _cut_every_write(2, [1, 32], [0, 1])


def test_three_levels_bottom_only_runs_out():
    # the middle tree has leaves left: only the bottom tree is replaced
    _need_time()
    snap = _key_at(3, [1, 5, 32])
    st = MemoryStorage(data=snap)
    s = lms_state.load(st)
    w0 = st.writes
    s.sign(b"no cut")
    writes = st.writes - w0
    assert s.info()["trees"] == [0, 0, 5]
    for k in range(1, writes + 1):
        gc.collect()
        st = MemoryStorage(data=snap)
        s = lms_state.load(st)
        st.cut_at = st.writes + k
        raises(PowerCut, s.sign, b"cut")
        s = lms_state.load(st.reboot())
        sig = s.sign(b"after")
        assert lms.verify(s.public_key, b"after", sig), k
        path = [q for _, _, q in lms.describe_sig(sig)]
        assert path[0] == 0 and path[1] in (5, 6) and path[2] == 0, (k, path)
        s = None
