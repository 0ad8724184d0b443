# lms_state: the HSS signer that never reuses a one-time key.
# Power cuts at every storage write, bottom/middle tree rollover, exhaustion,
# key file integrity, FileStorage; cross-verification with pyhsslms.
# CPython only (pyhsslms, tmp_path); tiny trees (H5) keep it fast.
import os

import pyhsslms
import pytest

import lms
import lms_py
import lms_state
from hgstore import FileStorage, MemoryStorage, PowerCut

H5 = lms.LMS_SHA256_M32_H5
W2 = lms.LMOTS_SHA256_N32_W2
SMALL = [(H5, W2), (H5, W2)]  # 32 x 32 = 1024 signatures
SEED = bytes(range(32))
ID = bytes(range(100, 116))


def _gen(storage, params=SMALL, chunk=8, **kw):
    return lms_state.generate(storage, params=params, chunk=chunk, seed=SEED, I=ID, **kw)


def _pyhsslms_ok(pub, msg, sig):
    return pyhsslms.HssPublicKey.deserialize(pub).verify(msg, sig)


def _leaves(pub, sig, msg):
    """{(level, tree I, q): signed bytes} for every leaf used by sig."""
    parsed = lms_py.parse_hss_sig(sig)
    used = {}
    tree_I = pub[12:28]
    for i, e in enumerate(parsed):
        lt, ot, q, s_off, s_end, p_off, p_end = e
        signed = sig[p_off:p_end] if p_off >= 0 else msg
        used[(i, tree_I, q)] = (signed, sig[s_off:s_end])
        if p_off >= 0:
            tree_I = sig[p_off + 8 : p_off + 24]
    return used


class Ledger:
    """Everything a signer ever released: no leaf may sign two different
    messages (and a leaf used twice must give the identical signature)."""

    def __init__(self, pub):
        self.pub = pub
        self.used = {}
        self.order = []  # (top q, bottom q) of each released signature

    def add(self, msg, sig):
        assert lms.verify(self.pub, msg, sig), "released an invalid signature"
        for key, (signed, lms_sig) in _leaves(self.pub, sig, msg).items():
            old = self.used.get(key)
            if old is not None:
                assert old == (signed, lms_sig), "leaf reused: level %d q %d" % (key[0], key[2])
            self.used[key] = (signed, lms_sig)
        d = lms.describe_sig(sig)
        self.order.append(tuple(q for _, _, q in d))


def _msgs(n):
    return [b"message %d" % i for i in range(n)]


# ---------------------------------------------------------------- basics


def test_generate_sign_rollover_cross_verified_by_pyhsslms():
    st = MemoryStorage()
    s = _gen(st)
    pub = s.public_key
    assert lms.parse_hss_pub(pub)[:3] == (2, H5, W2)
    assert s.remaining() == 1024
    led = Ledger(pub)
    sigs = []
    for m in _msgs(70):  # trees 0, 1, 2 of the bottom level
        sig = s.sign(m)
        led.add(m, sig)
        sigs.append((m, sig))
    assert led.order[0] == (0, 0) and led.order[31] == (0, 31)
    assert led.order[32] == (1, 0) and led.order[69] == (2, 5)
    assert s.remaining() == 1024 - 70
    # pyhsslms checks signatures from each bottom tree
    for i in (0, 31, 32, 63, 64, 69):
        m, sig = sigs[i]
        assert _pyhsslms_ok(pub, m, sig), i
        assert not _pyhsslms_ok(pub, m + b"?", sig)
    info = s.info()
    assert info["trees"] == [0, 2] and info["next"] == [3, 6] and info["reserved"] == [3, 8]


def test_load_resumes_after_reserved_bound():
    st = MemoryStorage()
    s = _gen(st, chunk=8)
    for m in _msgs(3):
        s.sign(m)
    s2 = lms_state.load(st.reboot())
    assert s2.info()["next"] == [1, 8]
    assert lms.describe_sig(s2.sign(b"after"))[-1][2] == 8
    assert s2.public_key == s.public_key
    with pytest.raises(lms.LMSError):
        lms_state.load(MemoryStorage())  # no key


def test_close_gives_back_the_unused_chunk():
    st = MemoryStorage()
    s = _gen(st, chunk=8)
    for m in _msgs(3):
        s.sign(m)
    assert s.info()["reserved"] == [1, 8]
    s.close()
    assert s.info()["reserved"] == [1, 3]
    s.close()  # nothing to do: no write
    n = st.writes
    s.close()
    assert st.writes == n
    # still usable after close(): it reserves again
    assert lms.describe_sig(s.sign(b"x"))[-1][2] == 3
    assert s.info()["reserved"] == [1, 11]
    s.close()
    s2 = lms_state.load(st.reboot())
    assert s2.info()["next"] == [1, 4]
    assert lms.describe_sig(s2.sign(b"next"))[-1][2] == 4


def test_sign_into_a_caller_buffer():
    st = MemoryStorage()
    s = _gen(st, chunk=4)
    n = s.sig_len()
    assert n == 4 + 2 * lms.lms_sig_len(H5, W2) + lms.lms_pub_len(H5)
    before = s.info()
    with pytest.raises(lms.LMSError, match="too small"):
        s.sign_into(b"m", bytearray(n - 1))
    assert s.info() == before  # nothing consumed
    buf = bytearray(n + 10)
    for i in range(3):
        assert s.sign_into(b"m%d" % i, buf) == n
        assert lms.verify(s.public_key, b"m%d" % i, bytes(buf[:n]))
    assert buf[n:] == bytes(10)
    assert len(s.sign(b"x")) == n


def test_generate_refuses_to_replace_a_key():
    st = MemoryStorage()
    _gen(st)
    with pytest.raises(lms.LMSError, match="key exists"):
        _gen(st)
    _gen(st, overwrite=True)


def test_bad_parameters():
    with pytest.raises(lms.LMSError):
        lms_state.generate(MemoryStorage(), params=[(H5, lms.LMOTS_SHA256_N24_W2)])
    with pytest.raises(lms.LMSError):
        lms_state.generate(MemoryStorage(), params=[(20, 16)])  # SHAKE
    with pytest.raises(lms.LMSError):
        lms_state.generate(MemoryStorage(), levels=9)
    with pytest.raises(lms.LMSError):
        lms_state.generate(MemoryStorage(), params=SMALL, chunk=0)
    with pytest.raises(TypeError):
        _gen(MemoryStorage()).sign("text")


def test_random_key_and_sha256_192_and_single_level():
    # random SEED/I, the SHA-256/192 sets, L=1
    st = MemoryStorage()
    s = lms_state.generate(st, params=[(lms.LMS_SHA256_M24_H5, lms.LMOTS_SHA256_N24_W4)], chunk=3)
    for m in _msgs(5):
        sig = s.sign(m)
        assert lms.verify(s.public_key, m, sig)
        assert _pyhsslms_ok(s.public_key, m, sig)
        assert sig[:4] == b"\x00\x00\x00\x00"
    assert s.remaining() == 32 - 5


# ---------------------------------------------------------------- exhaustion


def test_single_level_exhaustion():
    st = MemoryStorage()
    s = lms_state.generate(st, params=[(H5, W2)], chunk=5, seed=SEED, I=ID)
    led = Ledger(s.public_key)
    for m in _msgs(32):
        led.add(m, s.sign(m))
    assert s.remaining() == 0
    for _ in range(2):  # exhaustion is not a failure: it stays exhausted
        with pytest.raises(lms_state.KeyExhausted, match="key exhausted"):
            s.sign(b"one more")
    with pytest.raises(lms_state.KeyExhausted):
        lms_state.load(st.reboot()).sign(b"after reboot")
    assert sorted(o[0] for o in led.order) == list(range(32))


def _edit_state(st, **changes):
    m = lms_state.decode_state(st.read("state"))
    for k, v in changes.items():
        m[{"bounds": 5}[k]] = v
    st.write("state", lms_state._encode_state(m))


def test_two_level_exhaustion():
    st = MemoryStorage()
    s = _gen(st, chunk=64)  # chunk larger than a tree: clamped to 2^h
    for m in _msgs(3):
        s.sign(m)
    # jump to the last top leaf with the bottom tree exhausted
    _edit_state(st, bounds=[31, 32])
    s = lms_state.load(st)
    assert s.remaining() == 32  # one top leaf left = one bottom tree
    led = Ledger(s.public_key)
    for m in _msgs(32):
        sig = s.sign(m)
        led.add(m, sig)
    assert {t for t, _ in led.order} == {31}
    assert s.remaining() == 0
    with pytest.raises(lms_state.KeyExhausted):
        s.sign(b"no")
    assert _pyhsslms_ok(s.public_key, m, sig)


def test_three_levels_cascade_rollover():
    st = MemoryStorage()
    s = _gen(st, params=[(H5, W2)] * 3, chunk=4)
    assert s.remaining() == 32 * 32 * 32
    led = Ledger(s.public_key)
    for m in _msgs(3):
        led.add(m, s.sign(m))
    # middle and bottom trees exhausted: the next signature needs a new
    # middle tree (top leaf 1) and a new bottom tree (its leaf 0)
    _edit_state(st, bounds=[1, 32, 32])
    s = lms_state.load(st)
    for m in _msgs(6):
        sig = s.sign(m)
        led.add(m, sig)
    assert led.order[-1] == (1, 0, 5)
    assert _pyhsslms_ok(s.public_key, m, sig)
    assert s.info()["trees"] == [0, 1, 0]


# ---------------------------------------------------------------- power cuts


def _run_with_cut(cut_after, n_msgs, chunk, params=SMALL, recut=None, max_boots=50, close_every=0):
    """Sign n_msgs messages; the storage dies at write number `cut_after`
    (counted after key generation) and the device reboots. Returns the
    ledger and the list of (order index before the crash) boundaries."""
    st = MemoryStorage()
    s = _gen(st, params=params, chunk=chunk)
    pub = s.public_key
    led = Ledger(pub)
    st.cut_at = st.writes + cut_after
    msgs = _msgs(n_msgs)
    i = 0
    crashes = []
    boots = 0
    while i < len(msgs):
        try:
            sig = s.sign(msgs[i])
        except PowerCut:
            crashes.append(len(led.order))
            boots += 1
            assert boots < max_boots, "no progress"
            # the signer refuses to go on after a failure
            with pytest.raises(lms.LMSError, match="reloaded"):
                s.sign(b"x")
            st = st.reboot()
            if recut is not None:
                st.cut_at = recut
            s = lms_state.load(st)
            continue
        led.add(msgs[i], sig)
        i += 1
        if close_every and i % close_every == 0:
            try:
                s.close()
            except PowerCut:
                crashes.append(len(led.order))
                st = st.reboot()
                if recut is not None:
                    st.cut_at = recut
                s = lms_state.load(st)
    return led, crashes


def _check_waste(led, crashes, chunk, h=5):
    n = 1 << h
    for c in crashes:
        if c == 0 or c >= len(led.order):
            continue
        (t0, q0), (t1, q1) = led.order[c - 1], led.order[c]
        if t1 == t0:
            bottom = q1 - q0 - 1
            top = 0
        else:
            bottom = (n - 1 - q0) + q1
            top = t1 - t0 - 1
        assert 0 <= bottom <= chunk, (c, led.order[c - 1], led.order[c])
        assert 0 <= top <= 1, (c, led.order[c - 1], led.order[c])


def _writes_for(n_msgs, chunk):
    st = MemoryStorage()
    s = _gen(st, chunk=chunk)
    base = st.writes
    for m in _msgs(n_msgs):
        s.sign(m)
    return st.writes - base


def test_power_cut_at_every_write():
    chunk, n_msgs = 8, 72  # three bottom trees, two rollovers
    total = _writes_for(n_msgs, chunk)
    assert total >= 14
    for cut in range(1, total + 1):
        led, crashes = _run_with_cut(cut, n_msgs, chunk)
        assert len(crashes) == 1, cut
        _check_waste(led, crashes, chunk)
        assert len(led.order) == n_msgs


def test_power_cut_at_every_write_with_clean_closes():
    # close() between signatures (the CLI does it after every one)
    chunk, n_msgs = 8, 40
    st = MemoryStorage()
    s = _gen(st, chunk=chunk)
    base = st.writes
    for i, m in enumerate(_msgs(n_msgs)):
        s.sign(m)
        if (i + 1) % 3 == 0:
            s.close()
    total = st.writes - base
    for cut in range(1, total + 1):
        led, crashes = _run_with_cut(cut, n_msgs, chunk, close_every=3)
        assert len(crashes) == 1, cut
        _check_waste(led, crashes, chunk)


def test_repeated_power_cuts():
    # the storage dies every `period` writes, again and again
    chunk = 4
    for period in (5, 6, 7, 9):
        led, crashes = _run_with_cut(period, 75, chunk, recut=period)
        assert len(crashes) >= 3, period
        _check_waste(led, crashes, chunk)


def test_power_cut_during_generate_leaves_no_key():
    for cut in (1, 2, 3):  # two node caches, then the state
        st = MemoryStorage(cut_at=cut)
        with pytest.raises(PowerCut):
            _gen(st)
        st = st.reboot()
        with pytest.raises(lms.LMSError, match="no key"):
            lms_state.load(st)
        _gen(st)  # a fresh start works


# ---------------------------------------------------------------- key file


def test_key_file_integrity():
    st = MemoryStorage()
    s = _gen(st)
    s.sign(b"a")
    data = st.read("state")
    d = lms_state.describe(data)
    assert d["levels"] == 2 and d["next_leaf"] == 8 and d["reserved"] == [1, 8]
    assert d["remaining"] == 31 * 32 + 24 and d["public_key"] == s.public_key
    for pos in (5, len(data) // 2, len(data) - 3):
        bad = bytearray(data)
        bad[pos] ^= 0x40
        with pytest.raises(lms.LMSError):
            lms_state.decode_state(bytes(bad))
    for junk in (b"", data[:-1], data + b"\x00", b"\xa0", b"\x80"):
        with pytest.raises(lms.LMSError):
            lms_state.decode_state(junk)
    m = lms_state.decode_state(data)
    m[0] = 2
    with pytest.raises(lms.LMSError, match="version"):
        lms_state.decode_state(lms_state._encode_state(m))
    # a consistent-looking file whose cached signature is wrong is refused
    m = lms_state.decode_state(data)
    sig = bytearray(m[7][0])
    sig[-1] ^= 1
    m[7] = [bytes(sig)]
    st2 = MemoryStorage(data=st.durable)
    st2.write("state", lms_state._encode_state(m))
    with pytest.raises(lms.LMSError, match="bad key file"):
        lms_state.load(st2)


def test_file_storage(tmp_path):
    path = str(tmp_path / "key")
    s = _gen(FileStorage(path), chunk=4)
    pub = s.public_key
    sig = s.sign(b"file")
    assert sorted(os.listdir(tmp_path)) == ["key", "key.nodes0", "key.nodes1"]
    assert _pyhsslms_ok(pub, b"file", sig)
    # reload continues after the bound
    s = lms_state.load(FileStorage(path))
    assert lms.describe_sig(s.sign(b"x"))[-1][2] == 4
    # lost node caches are rebuilt from the key
    os.remove(path + ".nodes1")
    os.remove(path + ".nodes0")
    sig = s.sign(b"rebuilt")
    assert lms.verify(pub, b"rebuilt", sig)
    # FAT rename window: target removed, complete .tmp left behind
    os.rename(path, path + ".tmp")
    s = lms_state.load(FileStorage(path))
    assert lms.describe_sig(s.sign(b"tmp"))[-1][2] == 8
    # torn .tmp with no target: refuse, never guess
    os.remove(path)
    with open(path + ".tmp", "wb") as f:
        f.write(b"\xab\x00\x01")
    with pytest.raises(lms.LMSError):
        lms_state.load(FileStorage(path))


def test_corrupt_node_cache_is_caught_and_repaired(tmp_path):
    path = str(tmp_path / "key")
    s = _gen(FileStorage(path), chunk=4)
    size = os.path.getsize(path + ".nodes1")
    with open(path + ".nodes1", "r+b") as f:  # every node but the root
        f.write(bytes(size - 32))
    with pytest.raises(lms.LMSError, match="self-check"):
        s.sign(b"m")
    with pytest.raises(lms.LMSError, match="reloaded"):
        s.sign(b"m")
    s = lms_state.load(FileStorage(path))
    sig = s.sign(b"m")  # the cache was rebuilt after the failed check
    assert lms.verify(s.public_key, b"m", sig)


def test_corrupt_parent_cache_at_rollover_never_saves_a_bad_key():
    # The top tree's cache is damaged (all but its root, which is what the
    # cheap check looks at) when the bottom tree runs out: the new tree's
    # signature is wrong. It must not reach the key file (load() would
    # refuse it for good); the cache is rebuilt and the next try works.
    st = MemoryStorage()
    s = _gen(st, chunk=4)
    _edit_state(st, bounds=[1, 32])
    s = lms_state.load(st)
    st.durable["nodes0"] = bytes(len(st.durable["nodes0"]) - 32) + st.durable["nodes0"][-32:]
    with pytest.raises(lms.LMSError, match="self-check"):
        s.sign(b"m")
    st = st.reboot()
    s = lms_state.load(st)  # the old trees, top leaf 1 spent
    assert s.info()["trees"] == [0, 0] and s.info()["reserved"] == [2, 32]
    sig = s.sign(b"m")
    assert lms.verify(s.public_key, b"m", sig)
    assert [q for _, _, q in lms.describe_sig(sig)] == [2, 0]
    assert lms_state.load(st.reboot()).info()["trees"] == [0, 2]


def test_post_order_positions():
    # the blob layout: post-order positions of a height-3 tree
    order = []
    h = 3
    for x in range(1 << h):
        order.append((0, x))
        k = 1
        while not ((x + 1) & ((1 << k) - 1)):
            order.append((k, ((x + 1) >> k) - 1))
            k += 1
    assert [lms_state._post_pos(k, j) for k, j in order] == list(range(15))


@pytest.mark.parametrize("backend", ["lms_py", "lms_host"])
def test_state_with_each_backend(backend):
    if backend not in lms.available_backends():
        pytest.skip("backend " + backend + " not built")
    old = lms.use_backend(backend)
    try:
        st = MemoryStorage()
        s = _gen(st, chunk=4)
        for m in _msgs(34):
            sig = s.sign(m)
        assert _pyhsslms_ok(s.public_key, m, sig)
    finally:
        lms.use_backend(old)


# ------------------------------------------- power cuts across every rollover
# For 1, 2 and 3 levels of H5/W4: a scenario that spends the bottom tree,
# the middle tree together with the bottom one (3 levels), and finally the
# top tree (the key), with a cut at EVERY write k = 1, 2, ... (hgstore's
# pattern: rerun the whole scenario for each k until a run needs no cut).
# After the cut the device reboots, load() must work, signing must go on
# (the interrupted step is retried), every released signature must verify
# and no leaf (level, tree, q) may sign two different messages.

W4 = lms.LMOTS_SHA256_N32_W4
_JUMP, _SIGN, _CLOSE, _END = "jump", "sign", "close", "end"

# jumps skip leaves (raise the reservation bounds) so that each rollover
# is a few signatures away instead of thousands
CUT_SCENARIOS = {
    1: [(_JUMP, [26]), (_SIGN, 2), (_CLOSE,), (_END,)],
    # bottom rollover (top leaf 30), then the top runs out
    2: [(_JUMP, [30, 29]), (_SIGN, 5), (_CLOSE,), (_SIGN, 1), (_JUMP, [32, 30]), (_END,)],
    # middle + bottom rollover (top leaf 30), bottom-only rollover (middle
    # leaf 31), middle + bottom again (top leaf 31), then the top runs out
    3: [
        (_JUMP, [30, 32, 29]),
        (_SIGN, 5),
        (_CLOSE,),
        (_JUMP, [31, 31, 30]),
        (_SIGN, 4),
        (_JUMP, [31, 32, 30]),
        (_SIGN, 4),
        (_JUMP, [32, 32, 30]),
        (_END,),
    ],
}


# trees used per level by a run without cuts
_CUT_TREES = {1: [1], 2: [1, 2], 3: [1, 3, 4]}


def _jump(st, target):
    # A time skip, not a signer write: it goes straight to the medium (never
    # cut) and only ever raises bounds, so no used leaf becomes free again.
    m = lms_state.decode_state(st.read("state"))
    m[5] = [max(a, b) for a, b in zip(m[5], target)]
    st.durable["state"] = lms_state._encode_state(m)
    return lms_state.load(st)


def _cut_run(levels, cut, chunk):
    """One run of CUT_SCENARIOS[levels], the power cut at write number `cut`
    after key generation (None: no cut). Returns (ledger, crashed, writes
    of the scenario: meaningful for a run without a crash)."""
    st = MemoryStorage()
    s = lms_state.generate(st, params=[(H5, W4)] * levels, chunk=chunk, seed=SEED, I=ID)
    base = st.writes
    if cut is not None:
        st.cut_at = base + cut
    led = Ledger(s.public_key)
    max_waste = max(chunk, 32 ** (levels - 1))  # a chunk, or one upper leaf
    run = {"st": st, "s": s, "crashed": False, "n": 0, "done": False}

    def attempt(op):
        # op(signer); after a power cut: reboot, load, and retry it
        while True:
            before = run["s"].remaining()
            try:
                return op(run["s"])
            except PowerCut:
                assert not run["crashed"], "cut twice"
                run["crashed"] = True
                with pytest.raises(lms.LMSError, match="reloaded"):
                    run["s"].sign(b"x")
                run["st"] = run["st"].reboot()
                try:
                    run["s"] = lms_state.load(run["st"])
                except lms.LMSError as e:
                    raise AssertionError("levels %d, cut %d: load failed: %s" % (levels, cut, e))
                wasted = before - run["s"].remaining()
                assert 0 <= wasted <= max_waste, (levels, cut, wasted)

    def sign_one(s):
        msg = b"message %d" % run["n"]
        try:
            sig = s.sign(msg)
        except lms_state.KeyExhausted:
            assert s.remaining() == 0
            run["done"] = True
            return
        led.add(msg, sig)  # verifies, and refuses a leaf reused
        run["n"] += 1

    for step in CUT_SCENARIOS[levels]:
        if step[0] == _JUMP:
            run["s"] = _jump(run["st"], step[1])
        elif step[0] == _CLOSE:
            attempt(lambda s: s.close())
        else:
            # a cut may waste enough leaves to end the key early
            n = step[1] if step[0] == _SIGN else 1 << 30
            for _ in range(n):
                if run["done"]:
                    break
                attempt(sign_one)
    # the key ends exhausted, also after a reboot
    assert run["done"] and run["s"].info()["next"][0] == 32
    with pytest.raises(lms_state.KeyExhausted):
        lms_state.load(run["st"].reboot()).sign(b"after the end")
    return led, run["crashed"], run["st"].writes - base


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_power_cut_at_every_write_across_every_rollover(levels):
    chunk = 3
    ref, crashed, total = _cut_run(levels, None, chunk)
    assert not crashed
    # the scenario spends trees at every level (3 levels: the middle tree
    # twice together with the bottom one)
    trees = {}
    for key in ref.used:
        trees.setdefault(key[0], set()).add(key[1])
    assert [len(trees[i]) for i in range(levels)] == _CUT_TREES[levels], trees
    k = 0
    while True:
        k += 1
        _, crashed, _ = _cut_run(levels, k, chunk)
        if not crashed:
            break
    assert k == total + 1  # every write of the scenario was cut once
