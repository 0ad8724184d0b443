# suit_slots.SlotPlatform: A/B slots on hgstore, the staging rules, the
# commit order (state, then sequence) and its repair, and power cuts at
# every write of an update. Portable: CPython, MicroPython, qemu image.
import gc

import hgcrypto
from hgstore import MemoryStorage, PowerCut
from hgtest import raises

import suit_envelope as se
from suit_boot import Boot
from suit_platform import DIGEST_CHUNK
from suit_slots import (
    E_ACTIVE,
    E_INFO,
    E_PENDING,
    SEQ,
    STATE,
    SlotPlatform,
    pack_record,
)

APP = [b"app"]
CFG = [b"cfg", b"\x01"]
COMPS = [(APP, "app", 1536), (CFG, "cfg", 512)]
IDENT = {"vendor_id": b"V" * 16, "class_id": b"C" * 16}


# Images are small enough for the 64 KiB qemu image, where the slots live
# in a MemoryStorage on the heap, yet span several DIGEST_CHUNK reads.
A1 = 1100
C1 = 300


def img(n, salt):
    # filled in place: no growing temporaries on a small heap
    b = bytearray(n)
    for i in range(n):
        b[i] = ((i * 7) + (i >> 8) + salt) & 255
    return b


class Env:
    # the parts of an authenticated suit_envelope.Envelope the platform reads
    def __init__(self, seq):
        self.sequence_number = seq
        self.digest = [se.ALG_SHA256, hgcrypto.sha256_digest(b"manifest %d" % seq)]


def platform(st, **kw):
    return SlotPlatform(st, COMPS, IDENT, **kw)


def write(pf, cid, data, chunk=300, limit=None):
    w = pf.open_writer(cid, len(data) if limit is None else limit)
    for i in range(0, len(data), chunk):
        w.write(memoryview(data)[i : i + chunk])
    w.finish()
    return w


def update(pf, seq, images):
    """One update procedure: images {name: bytes}; returns the platform."""
    env = Env(seq)
    pf.begin_update(env)
    cids = []
    for cid, name, _ in COMPS:
        if name in images:
            write(pf, cid, images[name])
            cids.append(cid)
    pf.commit_update(env, cids)
    return pf


def installed(st, seq, salt):
    """A storage holding app/cfg images `salt`, installed (booted and
    confirmed) by manifest `seq`."""
    pf = update(platform(st), seq, {"app": img(A1, salt), "cfg": img(C1, salt)})
    b = Boot(pf)
    b.select()
    b.confirm()
    return st


def slot_bytes(st, name, slot):
    return bytes(st.read(SlotPlatform.record(name, slot)))


# ---------------------------------------------------------------- basics


def test_fresh_platform():
    pf = platform(MemoryStorage())
    assert pf.stored_sequence() == -1
    assert pf.installed() == []
    assert pf.has_component(APP) and pf.has_component(CFG)
    assert not pf.has_component([b"app", b"x"]) and not pf.has_component([b"ap"])
    assert pf.vendor_id == b"V" * 16 and pf.class_id == b"C" * 16 and pf.device_id is None
    assert pf.slot(APP) is None and pf.digest(APP) is None and pf.reader(APP) is None
    e = raises(se.SuitError, pf.slot, [b"nope"])
    assert e.code == se.SUIT_ERR_UNSUPPORTED
    # writes only inside an update
    e = raises(se.SuitError, pf.open_writer, APP, 10)
    assert e.code == se.SUIT_ERR_ABORT


def test_bad_component_lists():
    st = MemoryStorage()
    for comps in ([], [([b"a"], "a", 10), ([b"a"], "b", 10)],
                  [([b"a"], "a", 10), ([b"b"], "a", 10)], [([], "a", 10)],
                  [([b"a"], "a/b", 10)], [([b"a"], "a", 0)], [(["a"], "a", 5)],
                  [([b"a"], "x" * 17, 10)]):
        raises(ValueError, SlotPlatform, st, comps)


def test_first_update_commit_and_boot():
    st = MemoryStorage()
    pf = platform(st)
    a, c = img(A1, 1), img(C1, 1)
    env = Env(7)
    pf.begin_update(env)
    # the staging slot of every component, written yet or not
    assert pf.slot(APP) == 0 and pf.slot(CFG) == 0
    w = write(pf, APP, a)
    assert w.size == A1 and w.digest() == hgcrypto.sha256_digest(a)
    assert pf.digest(APP) == (hgcrypto.sha256_digest(a), A1)
    assert b"".join(pf.reader(APP)) == a
    assert pf.digest(CFG) is None  # not written: the (empty) active slot
    write(pf, CFG, c)
    pf.commit_update(env, [APP, CFG])
    assert pf.stored_sequence() == 7
    e = pf.state["app"]
    assert e[E_PENDING] == 0 and e[E_ACTIVE] is None
    assert e[E_INFO][0] == [hgcrypto.sha256_digest(a), A1, env.digest[1], 7]
    assert pf.installed() == []  # pending until the next boot
    # what a restart finds
    pf = platform(st.reboot())
    rep = Boot(pf).select()
    assert [(r["name"], r["slot"], r["status"]) for r in rep] == [
        ("app", 0, "installed"), ("cfg", 0, "installed")]
    got = pf.installed()
    assert got[0] == {"cid": APP, "name": "app", "slot": 0, "digest": hgcrypto.sha256_digest(a),
                      "size": A1, "sequence": 7, "manifest_digest": env.digest[1]}
    assert got[1]["cid"] == CFG and got[1]["size"] == C1
    assert pf.slot(APP) == 0 and pf.digest(CFG) == (hgcrypto.sha256_digest(c), C1)


def test_reader_streams_bounded_chunks():
    st = installed(MemoryStorage(), 1, 3)
    pf = platform(st.reboot())
    n = 0
    out = bytearray()
    for chunk in pf.reader(APP):
        assert 0 < len(chunk) <= DIGEST_CHUNK
        out += chunk
        n += 1
    assert bytes(out) == img(A1, 3) and n == (A1 + DIGEST_CHUNK - 1) // DIGEST_CHUNK


def test_second_update_writes_only_the_other_slot():
    st = installed(MemoryStorage(), 1, 1)
    before = slot_bytes(st, "app", 0)
    pf = platform(st)
    env = Env(2)
    pf.begin_update(env)
    assert pf.slot(APP) == 1 and pf.slot(CFG) == 1
    write(pf, APP, img(1000, 2))
    # app: the staged image; cfg (not written): the active one
    assert pf.digest(APP) == (hgcrypto.sha256_digest(img(1000, 2)), 1000)
    assert pf.digest(CFG) == (hgcrypto.sha256_digest(img(C1, 1)), C1)
    assert b"".join(pf.reader(CFG)) == img(C1, 1)
    pf.commit_update(env, [APP])
    assert slot_bytes(st, "app", 0) == before
    assert slot_bytes(st, "app", 1) == img(1000, 2)
    assert pf.state["app"][E_PENDING] == 1 and pf.state["cfg"][E_PENDING] is None
    assert pf.state["app"][E_ACTIVE] == 0
    # outside the update everything is the active slot again
    assert pf.slot(APP) == 0 and pf.digest(APP)[1] == A1


def test_writer_limit_and_max_size():
    st = installed(MemoryStorage(), 1, 1)
    pf = platform(st)
    pf.begin_update(Env(2))
    w = pf.open_writer(APP, 1000)
    w.write(img(600, 0))
    e = raises(se.SuitError, w.write, img(401, 0))
    assert e.code == se.SUIT_ERR_NO_MEM
    raises(se.SuitError, w.write, b"x")  # the writer stays closed
    raises(se.SuitError, w.finish)
    # max_size (1536) caps a larger limit
    w = pf.open_writer(APP, 1 << 20)
    w.write(img(1536, 0))
    e = raises(se.SuitError, w.write, b"x")
    assert e.code == se.SUIT_ERR_NO_MEM
    w.discard()
    pf.abort_update()
    assert st.read(SlotPlatform.record("app", 1)) is None  # nothing committed
    assert platform(st.reboot()).stored_sequence() == 1


def test_commit_needs_newer_sequence_and_staged_components():
    st = installed(MemoryStorage(), 5, 1)
    pf = platform(st)
    state = bytes(st.read(STATE))
    for seq in (5, 4):
        pf.begin_update(Env(seq))
        write(pf, APP, img(100, 9))
        e = raises(se.SuitError, pf.commit_update, Env(seq), [APP])
        assert e.code == se.SUIT_ERR_SEQUENCE_NUMBER
        pf.abort_update()
    pf.begin_update(Env(6))
    write(pf, APP, img(100, 9))
    e = raises(se.SuitError, pf.commit_update, Env(6), [APP, CFG])  # cfg not written
    assert e.code == se.SUIT_ERR_ABORT
    e = raises(se.SuitError, pf.commit_update, Env(6), [])
    assert e.code == se.SUIT_ERR_ABORT
    pf.abort_update()
    assert bytes(st.read(STATE)) == state and pf.stored_sequence() == 5
    raises(se.SuitError, pf.commit_update, Env(6), [APP])  # outside an update


def test_abort_leaves_state():
    st = installed(MemoryStorage(), 3, 1)
    state = bytes(st.read(STATE))
    pf = platform(st)
    pf.begin_update(Env(4))
    write(pf, APP, img(900, 4))
    write(pf, CFG, img(100, 4))
    pf.abort_update()
    assert bytes(st.read(STATE)) == state and pf.stored_sequence() == 3
    pf = platform(st.reboot())
    rep = Boot(pf).select()
    assert [r["status"] for r in rep] == ["active", "active"]
    assert b"".join(pf.reader(APP)) == img(A1, 1)


def test_update_refused_during_trial():
    st = installed(MemoryStorage(), 1, 1)
    update(platform(st), 2, {"app": img(1000, 2)})
    pf = platform(st.reboot())
    b = Boot(pf)
    assert [r["status"] for r in b.select()] == ["trial", "active"]
    e = raises(se.SuitError, pf.begin_update, Env(3))
    assert e.code == se.SUIT_ERR_POLICY_FORBIDDEN
    b.confirm()
    update(pf, 3, {"app": img(1000, 3)})  # after confirm: allowed, into slot 0
    assert pf.state["app"][E_PENDING] == 0


def test_damaged_records_fail_closed():
    st = installed(MemoryStorage(), 1, 1)
    good = bytes(st.read(STATE))
    for i in (0, len(good) // 2, len(good) - 1):
        bad = bytearray(good)
        bad[i] ^= 1
        st.durable[STATE] = bytes(bad)
        e = raises(se.SuitError, platform, st)
        assert e.code == se.SUIT_ERR_DIGEST_MISMATCH
    # a record of the right form under the wrong name is refused too
    st.durable[STATE] = pack_record(SEQ, [1, {}])
    raises(se.SuitError, platform, st)
    st.durable[STATE] = good
    pf = platform(st)
    st.durable[SEQ] = pack_record(STATE, 1)
    e = raises(se.SuitError, pf.stored_sequence)
    assert e.code == se.SUIT_ERR_DIGEST_MISMATCH
    st.durable[SEQ] = pack_record(SEQ, -3)
    e = raises(se.SuitError, pf.stored_sequence)
    assert e.code == se.SUIT_ERR_SEQUENCE_NUMBER


class _OOMCbor:
    # stands in for suit_slots' cbor module: decoding runs out of heap
    @staticmethod
    def loads(*args, **kw):
        raise MemoryError()


def test_out_of_memory_reading_records_is_not_damage():
    import suit_slots

    st = installed(MemoryStorage(), 1, 1)
    good = bytes(st.read(STATE))
    pf = platform(st)
    saved = suit_slots.cbor
    suit_slots.cbor = _OOMCbor
    try:
        e = raises(se.SuitError, platform, st)
        assert e.code == se.SUIT_ERR_NO_MEM
        e = raises(se.SuitError, pf.stored_sequence)
        assert e.code == se.SUIT_ERR_NO_MEM
    finally:
        suit_slots.cbor = saved
    assert bytes(st.read(STATE)) == good
    assert platform(st).stored_sequence() == 1


def test_repair_raises_sequence_after_cut():
    st = installed(MemoryStorage(), 1, 1)
    pf = platform(st)
    env = Env(9)
    pf.begin_update(env)
    write(pf, APP, img(700, 9))
    st.cut_at = st.writes + 2  # the state write goes through, the seq write is cut
    raises(PowerCut, pf.commit_update, env, [APP])
    st = st.reboot()
    assert bytes(st.read(SEQ)) == pack_record(SEQ, 1)
    pf = platform(st)  # the restart repairs
    assert pf.stored_sequence() == 9
    assert pf.state["app"][E_PENDING] == 1


def test_kek_fetch_invoke():
    st = installed(MemoryStorage(), 1, 1)
    k = bytes(range(32))
    pf = platform(st, keks={b"kid1": k})
    assert pf.kek(b"kid1", -5) == k and pf.kek(b"kid2", -5) is None
    assert pf.kek(b"kid1", -3) is None  # only A256KW
    pf = platform(st, keks=lambda kid, alg: b"K" * 32 if kid == b"x" else None)
    assert pf.kek(b"x", -5) == b"K" * 32 and pf.kek(b"y", -5) is None
    e = raises(se.SuitError, pf.fetch, "coap://h/x", None)
    assert e.code == se.SUIT_ERR_UNSUPPORTED

    class F:
        def fetch(self, uri, writer):
            writer.write(uri.encode())

    pf = platform(st, fetcher=F())
    pf.begin_update(Env(2))
    w = pf.open_writer(APP, 100)
    pf.fetch("coap://h/img", w)
    w.finish()
    assert pf.digest(APP) == (hgcrypto.sha256_digest(b"coap://h/img"), 12)
    pf.abort_update()
    pf.begin_boot(None)
    pf.invoke(APP, b"arg")
    assert pf.invoked == [(APP, b"arg")]
    pf2 = platform(MemoryStorage())
    e = raises(se.SuitError, pf2.invoke, APP, None)
    assert e.code == se.SUIT_ERR_ABORT


def test_on_file_storage():
    # the device's storage: slots are files streamed through open_blob and
    # read back through open_reader (qemu: no filesystem, visible skip)
    from hgtest import fs_dir

    d = fs_dir("suit_slots_")
    import os

    from hgstore import FileStorage

    try:
        st = FileStorage(d + "/suit")
        update(platform(st), 1, {"app": img(A1, 1), "cfg": img(C1, 1)})
        pf = platform(FileStorage(d + "/suit"))
        rep = Boot(pf).select()
        assert [(r["slot"], r["status"]) for r in rep] == [(0, "installed"), (0, "installed")]
        assert b"".join(pf.reader(APP)) == img(A1, 1) and pf.stored_sequence() == 1
        update(pf, 2, {"app": img(1200, 2)})
        pf = platform(FileStorage(d + "/suit"))
        b = Boot(pf)
        assert [r["status"] for r in b.select()] == ["trial", "active"]
        b.confirm()
        assert b"".join(pf.reader(APP)) == img(1200, 2)
        assert sorted(os.listdir(d)) == ["suit.suit.app.0", "suit.suit.app.1", "suit.suit.cfg.0",
                                         "suit.suit.seq", "suit.suit.state"]
    finally:
        for n in os.listdir(d):
            os.remove(d + "/" + n)
        os.rmdir(d)


# ---------------------------------------------------------------- power cuts


def _state_kind(pf, old_digests, new_digests):
    """'old' or 'new' for a state after a cut; fails on a mix."""
    kinds = []
    for name in ("app", "cfg"):
        e = pf.state[name]
        p = e[E_PENDING]
        if p is None:
            kinds.append("old")
        else:
            assert e[E_INFO][p][0] == new_digests[name]
            kinds.append("new")
        a = e[E_ACTIVE]
        # the active slot: the old image, bytes matching its record
        assert e[E_INFO][a][0] == old_digests[name]
        assert pf.verify_slot(name, a), name
    assert kinds[0] == kinds[1], "mixed state"
    return kinds[0]


def _streamed_digest(pf, cid):
    h = hgcrypto.sha256()
    for chunk in pf.reader(cid):
        h.update(chunk)
    return h.digest()


def test_power_cut_at_every_write_of_an_update():
    # digests, not images, are kept across the loop (qemu heap)
    od = {"app": hgcrypto.sha256_digest(img(A1, 1)), "cfg": hgcrypto.sha256_digest(img(C1, 1))}
    nd = {"app": hgcrypto.sha256_digest(img(900, 2)), "cfg": hgcrypto.sha256_digest(img(200, 2))}
    seen = []
    k = 1
    while True:
        gc.collect()
        st = installed(MemoryStorage(), 1, 1)
        st.cut_at = st.writes + k
        try:
            update(platform(st), 2, {"app": img(900, 2), "cfg": img(200, 2)})
            cut = False
        except PowerCut:
            cut = True
        st = st.reboot()
        pf = platform(st)
        kind = _state_kind(pf, od, nd)
        seq = pf.stored_sequence()
        assert seq >= 1
        if kind == "new":
            assert seq == 2  # repaired if the cut fell before the seq write
        seen.append(kind)
        # the next boot runs the old image or the new one as a trial
        rep = Boot(pf).select()
        for r in rep:
            d = _streamed_digest(pf, pf.cid(r["name"]))
            assert d == (nd if kind == "new" else od)[r["name"]]
            assert r["status"] == ("trial" if kind == "new" else "active")
        if not cut:
            break
        k += 1
    # 2 slot commits, the state write, the seq write, then a complete run
    assert k == 5
    assert seen == ["old", "old", "old", "new", "new"]


# ---------------------------------------------------------------- with the processor


def test_processor_ab_manifest_picks_the_staging_slot():
    # draft example 3's pattern with real images: the install section's
    # try-each picks the alternative whose component-slot is the slot the
    # image lands in (the staging slot), and validate checks that image
    try:
        import suit_processor as sp
        from suittest import envelope, image_digest, load, manifest, seq
    except ImportError:
        from hgtest import skip

        skip("suit_processor not available")
    gc.collect()
    img_a = img(600, 10)  # the build for slot 0
    img_b = img(700, 11)  # the build for slot 1
    vendor = b"V" * 16
    klass = b"C" * 16
    comps = [(APP, "app", 1536)]
    sh = seq(20, {1: vendor, 2: klass}, 1, 15, 2, 15,
             15, [seq(20, {5: 0}, 5, 5, 20, {3: image_digest(img_a), 14: len(img_a)}),
                  seq(20, {5: 1}, 5, 5, 20, {3: image_digest(img_b), 14: len(img_b)})])
    install = seq(15, [seq(20, {5: 0}, 5, 5, 20, {21: "coap://fw/a"}),
                       seq(20, {5: 1}, 5, 5, 20, {21: "coap://fw/b"})], 21, 2, 3, 15)
    validate = seq(3, 15)

    class Fetcher:
        def __init__(self):
            self.fetched = []

        def fetch(self, uri, writer):
            self.fetched.append(uri)
            data = img_a if uri.endswith("/a") else img_b
            for i in range(0, len(data), 256):
                writer.write(data[i : i + 256])

    st = MemoryStorage()
    expect = ((0, "coap://fw/a", img_a), (1, "coap://fw/b", img_b), (0, "coap://fw/a", img_a))
    for n, (slot, uri, data) in enumerate(expect):
        env = load(envelope(manifest(n + 1, [APP], sh, {20: install, 7: validate})))
        f = Fetcher()
        pf = SlotPlatform(st, comps, {"vendor_id": vendor, "class_id": klass}, fetcher=f)
        sp.process_update(env, pf)
        assert f.fetched == [uri]
        # compared in place (no copy of the slot on a small heap)
        assert pf.state["app"][E_PENDING] == slot
        assert st.read(SlotPlatform.record("app", slot)) == data
        st = st.reboot()
        pf = SlotPlatform(st, comps, {"vendor_id": vendor, "class_id": klass})
        b = Boot(pf)
        assert [r["slot"] for r in b.select()] == [slot]
        sp.process_boot(env, pf)  # validate: image-match of the running slot
        b.confirm()
        st = st.reboot()
    # a manifest not newer than the stored one: refused before any command
    pf = SlotPlatform(st, comps, {"vendor_id": vendor, "class_id": klass}, fetcher=Fetcher())
    e = raises(se.SuitError, sp.process_update, env, pf)
    assert e.code == se.SUIT_ERR_SEQUENCE_NUMBER and pf.fetcher.fetched == []
