# suit_boot.Boot: trial boot over suit_slots.SlotPlatform: start, confirm,
# roll back after max_trials or a deadline, verification of every slot
# before it is booted, and power cuts at every write of select()/confirm().
# Portable: CPython, MicroPython, qemu image.
import gc

import hgcrypto
from hgstore import MemoryStorage, PowerCut
from hgtest import raises

import suit_envelope as se
from suit_boot import Boot
from suit_slots import E_ACTIVE, E_INFO, E_PENDING, E_PREVIOUS, E_TRIALS, SlotPlatform

APP = [b"app"]
CFG = [b"cfg"]
COMPS = [(APP, "app", 2048), (CFG, "cfg", 512)]


def img(n, salt):
    # filled in place: no growing temporaries on a small heap
    b = bytearray(n)
    for i in range(n):
        b[i] = ((i * 7) + (i >> 8) + salt) & 255
    return bytes(b)


# Small enough for the 64 KiB qemu image (the slots live in a MemoryStorage
# on the heap), large enough to be hashed in several DIGEST_CHUNK reads.
V1 = {"app": img(1300, 1), "cfg": img(300, 1)}
V2 = {"app": img(1100, 2), "cfg": img(200, 2)}


class Env:
    def __init__(self, seq):
        self.sequence_number = seq
        self.digest = [se.ALG_SHA256, hgcrypto.sha256_digest(b"m%d" % seq)]


class Clock:
    def __init__(self, t=1000):
        self.t = t

    def __call__(self):
        return self.t


def update(st, seq, images):
    pf = SlotPlatform(st, COMPS)
    env = Env(seq)
    pf.begin_update(env)
    cids = []
    for cid, name, _ in COMPS:
        if name in images:
            w = pf.open_writer(cid, len(images[name]))
            w.write(images[name])
            w.finish()
            cids.append(cid)
    pf.commit_update(env, cids)


def v1_installed():
    st = MemoryStorage()
    update(st, 1, V1)
    b = Boot(SlotPlatform(st, COMPS))
    assert [r["status"] for r in b.select()] == ["installed", "installed"]
    assert b.confirm() == []  # a first install is not a trial
    return st


def v2_pending():
    st = v1_installed()
    update(st, 2, V2)
    return st


def running(pf):
    """{name: SHA-256 of the bytes the active slot's reader streams} (a
    digest, not a joined copy: the qemu image's heap is small)"""
    out = {}
    for name in pf.names():
        r = pf.reader(pf.cid(name))
        if r is None:
            out[name] = None
            continue
        h = hgcrypto.sha256()
        for chunk in r:
            h.update(chunk)
        out[name] = h.digest()
    return out


def digests(images):
    return {name: hgcrypto.sha256_digest(images[name]) for name in images}


D1 = digests(V1)
D2 = digests(V2)


def statuses(rep):
    return [r["status"] for r in rep]


def corrupt(st, name, slot):
    rec = SlotPlatform.record(name, slot)
    b = bytearray(st.read(rec))
    b[len(b) // 2] ^= 0x40
    st.durable[rec] = b


# ---------------------------------------------------------------- behaviour


def test_steady_boot_does_not_write():
    st = v1_installed()
    n = st.writes
    for _ in range(3):
        pf = SlotPlatform(st, COMPS)
        rep = Boot(pf).select()
        assert statuses(rep) == ["active", "active"] and [r["slot"] for r in rep] == [0, 0]
        assert running(pf) == D1
    assert st.writes == n


def test_trial_confirmed():
    st = v2_pending()
    pf = SlotPlatform(st, COMPS)
    b = Boot(pf, clock=Clock())
    rep = b.select()
    assert statuses(rep) == ["trial", "trial"] and [r["slot"] for r in rep] == [1, 1]
    assert running(pf) == D2 and b.trial() == ["app", "cfg"]
    assert b.confirm() == ["app", "cfg"]
    st = st.reboot()
    pf = SlotPlatform(st, COMPS)
    rep = Boot(pf).select()
    assert statuses(rep) == ["active", "active"] and running(pf) == D2
    e = pf.state["app"]
    assert e[E_PREVIOUS] is None and e[E_INFO][0] is not None  # v1 kept as the fallback
    assert pf.installed()[0]["sequence"] == 2


def test_trial_rolls_back_after_max_trials():
    st = v2_pending()
    for i in range(2):
        pf = SlotPlatform(st, COMPS)
        rep = Boot(pf, max_trials=2).select()
        assert statuses(rep) == ["trial", "trial"] and running(pf) == D2
        assert pf.state["app"][E_TRIALS] == 1 - i
        st = st.reboot()  # reset without confirm()
    pf = SlotPlatform(st, COMPS)
    b = Boot(pf, max_trials=2)
    rep = b.select()
    assert statuses(rep) == ["rolled-back", "rolled-back"] and [r["slot"] for r in rep] == [0, 0]
    assert running(pf) == D1 and b.trial() == []
    assert pf.state["app"][E_INFO][1] is None  # the failed image is never booted again
    assert pf.stored_sequence() == 2  # and its manifest cannot be replayed
    rep = Boot(SlotPlatform(st.reboot(), COMPS)).select()
    assert statuses(rep) == ["active", "active"]


def test_expired_in_this_boot():
    st = v2_pending()
    clk = Clock(0x3FFFFF00)  # near the ticks wrap
    b = Boot(SlotPlatform(st, COMPS), clock=clk, confirm_window_ms=5000)
    b.select()
    assert not b.expired()
    clk.t += 4999
    assert not b.expired()
    clk.t += 1
    assert b.expired() and b.expired(clk.t + 10)
    b.confirm()
    assert not b.expired()  # nothing on trial any more


def test_deadline_passed_at_boot_with_rtc():
    st = v2_pending()
    clk = Clock(1000000)
    b = Boot(SlotPlatform(st, COMPS), clock=clk, confirm_window_ms=5000, clock_survives_reset=True)
    assert statuses(b.select()) == ["trial", "trial"]
    assert b.deadline == 1005000
    clk.t = 1004000  # reset before the deadline: another trial boot
    st = st.reboot()
    b = Boot(SlotPlatform(st, COMPS), clock=clk, confirm_window_ms=5000, clock_survives_reset=True)
    assert statuses(b.select()) == ["trial", "trial"]
    clk.t = 1005000
    assert b.expired()
    st = st.reboot()
    pf = SlotPlatform(st, COMPS)
    b = Boot(pf, clock=clk, confirm_window_ms=5000, clock_survives_reset=True)
    assert statuses(b.select()) == ["rolled-back", "rolled-back"] and running(pf) == D1


def test_ticks_clock_ignores_stored_deadline():
    # without an RTC a deadline from an earlier boot means nothing
    st = v2_pending()
    clk = Clock(1000000)
    Boot(SlotPlatform(st, COMPS), clock=clk, confirm_window_ms=5000).select()
    clk.t = 5  # ticks restarted
    st = st.reboot()
    b = Boot(SlotPlatform(st, COMPS), clock=clk, confirm_window_ms=5000)
    assert statuses(b.select()) == ["trial", "trial"]
    assert not b.expired()


def test_corrupt_pending_is_rejected():
    st = v2_pending()
    corrupt(st, "app", 1)
    pf = SlotPlatform(st, COMPS)
    rep = Boot(pf).select()
    assert statuses(rep) == ["rejected", "trial"]
    assert rep[0]["slot"] == 0 and running(pf)["app"] == D1["app"]
    assert pf.state["app"][E_PENDING] is None and pf.state["app"][E_INFO][1] is None


def test_corrupt_active_falls_back():
    st = v2_pending()
    Boot(SlotPlatform(st, COMPS)).select()
    pf = SlotPlatform(st, COMPS)
    Boot(pf).confirm()
    corrupt(st, "app", 1)  # the confirmed v2 image gets damaged
    pf = SlotPlatform(st.reboot(), COMPS)
    rep = Boot(pf).select()
    assert statuses(rep) == ["recovered", "active"]
    assert rep[0]["slot"] == 0 and running(pf)["app"] == D1["app"]


def test_corrupt_trial_rolls_back():
    st = v2_pending()
    Boot(SlotPlatform(st, COMPS)).select()
    corrupt(st, "cfg", 1)
    pf = SlotPlatform(st.reboot(), COMPS)
    rep = Boot(pf).select()
    assert statuses(rep) == ["trial", "rolled-back"]
    assert running(pf)["cfg"] == D1["cfg"]


def test_no_valid_image_is_safe_mode():
    st = v2_pending()
    Boot(SlotPlatform(st, COMPS)).select()
    Boot(SlotPlatform(st, COMPS)).confirm()
    corrupt(st, "app", 0)
    corrupt(st, "app", 1)
    state = bytes(st.read("suit.state"))
    e = raises(se.SuitError, Boot(SlotPlatform(st, COMPS)).select)
    assert e.code == se.SUIT_ERR_DIGEST_MISMATCH and "app" in str(e)
    assert bytes(st.read("suit.state")) == state


def test_empty_component():
    st = MemoryStorage()
    update(st, 1, {"app": V1["app"]})
    pf = SlotPlatform(st, COMPS)
    rep = Boot(pf).select()
    assert statuses(rep) == ["installed", "empty"] and rep[1]["slot"] is None


def test_bad_parameters():
    pf = SlotPlatform(MemoryStorage(), COMPS)
    raises(ValueError, Boot, pf, max_trials=0)
    raises(ValueError, Boot, pf, confirm_window_ms=0)


# ---------------------------------------------------------------- power cuts


def _check_boot(st, rep):
    """After a select(): every booted slot is the one the durable state
    names, its bytes match the recorded digest, and it is V1 or V2."""
    pf = SlotPlatform(st.reboot(), COMPS)
    for r in rep:
        name = r["name"]
        assert pf.state[name][E_ACTIVE] == r["slot"]
        assert pf.verify_slot(name, r["slot"])
    data = running(pf)
    for name in data:
        assert data[name] in (D1[name], D2[name])
    assert pf.stored_sequence() == 2
    return data


def _run_script(script, k):
    """Run boots from the v2-pending state with a cut k writes in; after a
    cut, reboot and select() again. Returns (cut, images running at the end)."""
    st = v2_pending()
    st.cut_at = st.writes + k
    try:
        for step in script:
            pf = SlotPlatform(st, COMPS)
            b = Boot(pf, max_trials=2)
            rep = b.select()
            _check_boot(st, rep)
            if step == "confirm":
                b.confirm()
            st = st.reboot() if st.cut_at is None else st
    except PowerCut:
        st = st.reboot()
        pf = SlotPlatform(st, COMPS)
        rep = Boot(pf, max_trials=2).select()
        return True, _check_boot(st, rep)
    pf = SlotPlatform(st.reboot(), COMPS)
    return False, _check_boot(st, Boot(pf, max_trials=2).select())


def test_power_cut_at_every_write_of_select_and_confirm():
    k = 1
    while True:
        gc.collect()
        cut, data = _run_script(("confirm",), k)
        if not cut:
            assert data == D2
            break
        k += 1
    assert k == 3  # the trial start, the confirmation, then no cut


def test_power_cut_at_every_write_of_a_failing_trial():
    # three boots without confirm: trial, trial, roll back
    k = 1
    while True:
        gc.collect()
        cut, data = _run_script(("boot", "boot", "boot"), k)
        if not cut:
            assert data == D1
            break
        k += 1
    assert k == 4
