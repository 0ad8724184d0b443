"""suit_esp32 (CPython, pytest) with a fake `esp32` module in sys.modules:
OTA partitions are bytearrays that behave like NOR flash (erase sets 0xFF,
programming can only clear bits), and every erase/write/set_boot call is
logged, so the tests check the block sequence, that set_boot() comes only
after the image on the flash was verified and recorded, the refusal of
oversize images, the trial boot through the bootloader, and power cuts."""
import hashlib
import sys
import types

import pytest

from hgstore import MemoryStorage, PowerCut

import suit_envelope as se
from suit_boot import Boot
from suit_slots import E_ACTIVE, E_PENDING, E_PREVIOUS, SEQ, STATE

BLOCK = 4096
PART_SIZE = 16 * BLOCK
FW = [b"fw"]
APP = [b"app"]
COMPS = [(FW, "fw", 1 << 20), (APP, "app", 8192)]


def img(n, salt):
    return bytes(((i * 7) + (i >> 8) + salt) & 255 for i in range(n))


class Flash:
    def __init__(self, label, subtype, size):
        self.label = label
        self.subtype = subtype
        self.data = bytearray(b"\xa5" * size)  # old contents, not erased


class FakeESP32:
    """The parts of MicroPython's esp32 module that suit_esp32 uses."""

    def __init__(self, size=PART_SIZE):
        self.flash = {"ota_0": Flash("ota_0", 0x10, size), "ota_1": Flash("ota_1", 0x11, size)}
        self.running = "ota_0"
        self.boot = "ota_0"
        self.log = []
        self.rollback_enabled = True
        self.ota_state = "valid"  # otadata: valid / new / pending (verify)
        self.prev = None
        outer = self

        class Partition:
            BOOT = 0
            RUNNING = 1
            TYPE_APP = 0

            def __init__(self, which):
                if which == Partition.RUNNING:
                    which = outer.running
                elif which == Partition.BOOT:
                    which = outer.boot
                if which not in outer.flash:
                    raise ValueError("no partition")
                self.f = outer.flash[which]

            def info(self):
                f = self.f
                addr = 0x10000 * (1 + f.subtype - 0x10)
                return (0, f.subtype, addr, len(f.data), f.label, False)

            def get_next_update(self):
                return Partition("ota_1" if self.f.label == "ota_0" else "ota_0")

            def ioctl(self, cmd, arg):
                if cmd == 4:
                    return len(self.f.data) // BLOCK
                if cmd == 5:
                    return BLOCK
                if cmd == 6:
                    outer.log.append(("erase", self.f.label, arg))
                    self.f.data[arg * BLOCK : (arg + 1) * BLOCK] = b"\xff" * BLOCK
                    return 0
                return None

            def writeblocks(self, block, buf, offset=None):
                assert self.f.label != outer.running, "wrote the running partition"
                if offset is None:  # the simple form erases first
                    for b in range(len(buf) // BLOCK):
                        self.ioctl(6, block + b)
                    offset = 0
                outer.log.append(("write", self.f.label, block, offset, len(buf)))
                start = block * BLOCK + offset
                if start + len(buf) > len(self.f.data):
                    raise OSError(22, "out of range")
                for i, v in enumerate(bytes(buf)):  # NOR: programming clears bits
                    self.f.data[start + i] &= v

            def readblocks(self, block, buf, offset=0):
                start = block * BLOCK + offset
                buf[:] = self.f.data[start : start + len(buf)]

            def set_boot(self):
                outer.log.append(("set_boot", self.f.label))
                if self.f.label != outer.boot:
                    outer.prev = outer.boot
                outer.boot = self.f.label
                outer.ota_state = "new"

            @staticmethod
            def mark_app_valid_cancel_rollback():
                outer.log.append(("valid",))
                if not outer.rollback_enabled:
                    raise OSError(-261, "rollback not enabled")
                outer.ota_state = "valid"

        self.Partition = Partition

    def reset(self):
        """Power-on, as ESP-IDF's bootloader with app rollback: a new image
        boots as pending-verify; reset again before it was marked valid, it
        is rolled back to the previous one."""
        if self.rollback_enabled:
            if self.ota_state == "pending" and self.prev is not None:
                self.boot = self.prev
                self.ota_state = "valid"
            elif self.ota_state == "new":
                self.ota_state = "pending"
        self.running = self.boot


@pytest.fixture
def esp(monkeypatch):
    fake = FakeESP32()
    mod = types.ModuleType("esp32")
    mod.Partition = fake.Partition
    monkeypatch.setitem(sys.modules, "esp32", mod)
    return fake


def platform(st):
    from suit_esp32 import Esp32SlotPlatform

    return Esp32SlotPlatform(st, COMPS, firmware="fw")


class Env:
    def __init__(self, seq):
        self.sequence_number = seq
        self.digest = [se.ALG_SHA256, hashlib.sha256(b"m%d" % seq).digest()]


def stream(w, data, chunk=1000):
    for i in range(0, len(data), chunk):
        w.write(data[i : i + chunk])


def install(pf, seq, fw, app=None, finish=True):
    env = Env(seq)
    pf.begin_update(env)
    w = pf.open_writer(FW, len(fw))
    stream(w, fw)
    w.finish()
    cids = [FW]
    if app is not None:
        wa = pf.open_writer(APP, len(app))
        wa.write(app)
        wa.finish()
        cids.append(APP)
    if finish:
        pf.commit_update(env, cids)
    return env


# ---------------------------------------------------------------- writer


def test_block_erase_write_sequence_and_set_boot_last(esp):
    st = MemoryStorage()
    pf = platform(st)
    fw = img(3 * BLOCK + 100, 1)
    env = Env(1)
    pf.begin_update(env)
    assert pf.slot(FW) == 1  # the next update partition, never the running one
    w = pf.open_writer(FW, len(fw))
    stream(w, fw, 777)
    assert esp.log == [("erase", "ota_1", 0), ("write", "ota_1", 0, 0, BLOCK),
                       ("erase", "ota_1", 1), ("write", "ota_1", 1, 0, BLOCK),
                       ("erase", "ota_1", 2), ("write", "ota_1", 2, 0, BLOCK)]
    w.finish()  # the last, partial block, padded
    assert esp.log[6:] == [("erase", "ota_1", 3), ("write", "ota_1", 3, 0, BLOCK)]
    assert w.digest() == hashlib.sha256(fw).digest() and w.size == len(fw)
    data = esp.flash["ota_1"].data
    assert bytes(data[: len(fw)]) == fw
    assert bytes(data[len(fw) : 4 * BLOCK]) == b"\xff" * (BLOCK - 100)
    assert bytes(data[4 * BLOCK :]) == b"\xa5" * (PART_SIZE - 4 * BLOCK)  # untouched
    assert pf.digest(FW) == (hashlib.sha256(fw).digest(), len(fw))
    assert b"".join(pf.reader(FW)) == fw
    assert not any(e[0] == "set_boot" for e in esp.log)
    n = len(esp.log)
    pf.commit_update(env, [FW])
    assert esp.log[n:] == [("set_boot", "ota_1")]
    assert esp.boot == "ota_1" and pf.stored_sequence() == 1
    assert pf.state["fw"][E_PENDING] == 1
    assert pf.slot(FW) == 0  # outside the update: the running partition


def test_oversize_image_refused(esp):
    st = MemoryStorage()
    pf = platform(st)
    pf.begin_update(Env(1))
    # the manifest allows more than the partition holds: the partition wins
    w = pf.open_writer(FW, PART_SIZE + 5000)
    stream(w, img(PART_SIZE, 2), BLOCK)
    with pytest.raises(se.SuitError) as e:
        w.write(b"x")
    assert e.value.code == se.SUIT_ERR_NO_MEM
    with pytest.raises(se.SuitError):
        w.finish()
    # a smaller manifest limit is enforced as well, before the flash sees it
    w = pf.open_writer(FW, 5000)
    w.write(img(4000, 3))
    n = len(esp.log)
    with pytest.raises(se.SuitError) as e:
        w.write(img(1001, 3))
    assert e.value.code == se.SUIT_ERR_NO_MEM and len(esp.log) == n
    pf.abort_update()
    assert not any(x[0] == "set_boot" for x in esp.log)
    assert esp.boot == "ota_0" and st.read(STATE) is None and st.read(SEQ) is None


def test_writer_closes_on_flash_failure_finish_and_discard(esp):
    # the writer rules shared with suit_slots (suit_slots.SlotWriter) on
    # the flash writer: no write after finish/discard/failure, finish once
    st = MemoryStorage()
    pf = platform(st)
    pf.begin_update(Env(1))
    w = pf.open_writer(FW, 3 * BLOCK)
    w.write(img(100, 5))
    w.finish()
    assert w.size == 100 and w.digest() == hashlib.sha256(img(100, 5)).digest()
    for call in (lambda: w.write(b"x"), w.finish):
        with pytest.raises(se.SuitError) as e:
            call()
        assert e.value.code == se.SUIT_ERR_ABORT and str(e.value) == "writer closed"
    w = pf.open_writer(FW, 3 * BLOCK)
    w.write(b"y" * 10)
    w.discard()
    with pytest.raises(se.SuitError) as e:
        w.write(b"y")
    assert str(e.value) == "writer closed"
    # programming a block fails: ABORT, and the writer is closed
    w = pf.open_writer(FW, 3 * BLOCK)
    part = w._part

    class Broken:
        def ioctl(self, cmd, arg):
            return part.ioctl(cmd, arg)

        def writeblocks(self, block, buf, offset=None):
            raise OSError(5, "EIO")

    w._part = Broken()
    with pytest.raises(se.SuitError) as e:
        w.write(img(BLOCK + 1, 6))
    assert e.value.code == se.SUIT_ERR_ABORT and str(e.value) == "flash write failed"
    with pytest.raises(se.SuitError) as e:
        w.finish()
    assert str(e.value) == "writer closed"
    pf.abort_update()
    assert not any(x[0] == "set_boot" for x in esp.log) and st.read(STATE) is None


def test_flash_corruption_before_commit_never_boots(esp):
    st = MemoryStorage()
    pf = platform(st)
    fw = img(2 * BLOCK, 4)
    env = install(pf, 1, fw, finish=False)
    esp.flash["ota_1"].data[5000] ^= 0x10  # a bit flipped on the flash
    with pytest.raises(se.SuitError) as e:
        pf.commit_update(env, [FW])
    assert e.value.code == se.SUIT_ERR_DIGEST_MISMATCH
    pf.abort_update()
    assert not any(x[0] == "set_boot" for x in esp.log)
    assert st.read(STATE) is None and pf.stored_sequence() == -1


def test_app_components_stay_in_storage(esp):
    st = MemoryStorage()
    pf = platform(st)
    app = img(3000, 5)
    install(pf, 1, img(BLOCK, 5), app)
    assert bytes(st.read("suit.app.0")) == app
    assert st.read("suit.fw.0") is None and st.read("suit.fw.1") is None


# ---------------------------------------------------------------- boot


def test_trial_boot_confirm_and_bootloader_rollback(esp):
    st = MemoryStorage()
    pf = platform(st)
    v1 = img(BLOCK + 10, 1)
    install(pf, 1, v1, img(100, 1))
    esp.reset()
    st = st.reboot()
    pf = platform(st)
    rep = Boot(pf).select()
    assert [(r["name"], r["slot"], r["status"]) for r in rep] == [
        ("fw", 1, "installed"), ("app", 0, "installed")]
    Boot(pf).confirm()
    assert esp.ota_state == "valid" and pf.installed()[0]["digest"] == hashlib.sha256(v1).digest()
    # v2 into ota_0 (the running one is ota_1)
    v2 = img(2 * BLOCK, 2)
    install(pf, 2, v2)
    assert esp.boot == "ota_0" and bytes(esp.flash["ota_0"].data[: len(v2)]) == v2
    esp.reset()
    st = st.reboot()
    pf = platform(st)
    b = Boot(pf)
    rep = b.select()
    assert rep[0]["slot"] == 0 and rep[0]["status"] == "trial"
    assert pf.state["fw"][E_PREVIOUS] == 1
    with pytest.raises(se.SuitError):  # no update while the trial runs
        pf.begin_update(Env(3))
    # the application never confirms: the bootloader rolls back
    esp.reset()
    assert esp.running == "ota_1"
    st = st.reboot()
    pf = platform(st)
    rep = Boot(pf).select()
    assert rep[0]["slot"] == 1 and rep[0]["status"] == "rolled-back"
    assert pf.state["fw"][E_ACTIVE] == 1 and pf.state["fw"][E_PREVIOUS] is None
    assert pf.installed()[0]["sequence"] == 1 and pf.stored_sequence() == 2
    # confirm() without the bootloader feature: ignored, not an error
    esp.rollback_enabled = False
    Boot(pf).confirm()
    assert esp.log[-1] == ("valid",)


def test_power_cut_at_every_write_of_a_firmware_update(esp):
    v1 = img(BLOCK, 1)
    v2 = img(BLOCK + 1, 2)
    k = 1
    while True:
        fake = FakeESP32()
        sys.modules["esp32"].Partition = fake.Partition
        st = MemoryStorage()
        pf = platform(st)
        install(pf, 1, v1)
        fake.reset()
        st = st.reboot()
        pf = platform(st)
        Boot(pf).select()
        Boot(pf).confirm()
        fake.log = []
        st.cut_at = st.writes + k
        try:
            install(platform(st), 2, v2)
            cut = False
        except PowerCut:
            cut = True
        st = st.reboot()
        pf = platform(st)  # repair on restart
        booted = [x for x in fake.log if x[0] == "set_boot"]
        if pf.state["fw"][E_PENDING] is None:
            assert booted == [] and fake.boot == "ota_1"  # old state: nothing to boot
            assert pf.stored_sequence() == 1
        else:
            # new state: set_boot done (now or by the repair), sequence raised
            assert fake.boot == "ota_0" and pf.stored_sequence() == 2
            assert bytes(fake.flash["ota_0"].data[: len(v2)]) == v2
        fake.reset()
        pf = platform(st.reboot())
        rep = Boot(pf).select()
        assert rep[0]["status"] in ("active", "trial")
        if not cut:
            break
        k += 1
    assert k == 3  # the state write, the seq write, then no cut
