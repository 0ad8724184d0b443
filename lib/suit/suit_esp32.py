# suit_esp32: the ESP32 firmware image as a SUIT component, installed into
# the OTA app partitions through MicroPython's esp32.Partition API.
#
# How it plugs in: Esp32SlotPlatform is a suit_slots.SlotPlatform whose
# components are all kept as usual (application .mpy files, configuration:
# hgstore records in filesystem slots, FileStorage on every board) except
# ONE, the firmware (`firmware=` names it), whose two slots are the OTA
# partitions ota_0 and ota_1 (slot = the number in the label). The state
# record, the sequence record, commit ordering and suit_boot work as for
# the other components; what differs:
#   - staging: writes go to Partition(RUNNING).get_next_update(), never to
#     the running partition; slot(fw) is that partition's number during an
#     update and the running partition's number otherwise;
#   - the Writer erases and programs 4096-byte blocks (ioctl(6, n), then
#     writeblocks(n, block, 0)) from a 4 KiB block buffer, hashing while it
#     streams; the last block is padded with 0xFF; the limit is the smaller
#     of the manifest's, the component's max_size and the partition size;
#   - commit_update() re-reads the partition and checks its SHA-256 and
#     size against what was streamed BEFORE anything is recorded, then
#     records the pending slot (state), then set_boot() (ESP-IDF also
#     checks the app image), then raises the sequence number. A power cut
#     between the state write and set_boot(): the restart's repair finds
#     the pending image newer than suit.seq, verifies it again, calls
#     set_boot() and raises suit.seq;
#   - boot: the bootloader selects the partition, suit_boot records what
#     runs (boot_managed) and confirm() calls
#     Partition.mark_app_valid_cancel_rollback() (needs a build with
#     CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE for the bootloader to roll
#     back an unconfirmed image; without it the OSError is ignored and the
#     new image simply stays).
#
#   pf = Esp32SlotPlatform(FileStorage("/suit"),
#                          [([b"fw"], "fw", 0x1F0000), ([b"app"], "app", 65536)],
#                          ident, fetcher=CoapFetcher(), firmware="fw")
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import hgcrypto

from suit_envelope import (
    SuitError,
    SUIT_ERR_ABORT,
    SUIT_ERR_DIGEST_MISMATCH,
    SUIT_ERR_UNSUPPORTED,
)
from suit_slots import E_INFO, I_DIGEST, I_SIZE, PHASE_UPDATE, SlotPlatform, SlotWriter

BLOCK = const(4096)
_IOCTL_BLOCK_COUNT = const(4)
_IOCTL_BLOCK_SIZE = const(5)
_IOCTL_BLOCK_ERASE = const(6)


def _label_slot(part):
    label = part.info()[4]
    if label in ("ota_0", "ota_1"):
        return int(label[4])
    return None


class _PartitionWriter(SlotWriter):
    """Streams an image into an OTA partition, block by block (limit, hash,
    size and finish() are SlotWriter's)."""

    def __init__(self, pf, name, part, slot, limit):
        self._part = part
        try:
            if part.ioctl(_IOCTL_BLOCK_SIZE, 0) != BLOCK:
                raise SuitError(SUIT_ERR_UNSUPPORTED, "partition block size")
            cap = part.ioctl(_IOCTL_BLOCK_COUNT, 0) * BLOCK
        except OSError:
            raise SuitError(SUIT_ERR_ABORT, "partition error")
        super().__init__(pf, name, slot, limit if limit < cap else cap)
        self._buf = bytearray(BLOCK)
        self._fill = 0
        self._block = 0

    def _flush(self):
        try:
            self._part.ioctl(_IOCTL_BLOCK_ERASE, self._block)
            self._part.writeblocks(self._block, self._buf, 0)
        except OSError:
            self._open = False
            raise SuitError(SUIT_ERR_ABORT, "flash write failed")
        self._block += 1
        self._fill = 0

    def _store(self, buf):
        # whole 4 KiB blocks only: the tail waits in _buf for more or finish()
        mv = memoryview(buf)
        n = len(mv)
        pos = 0
        while pos < n:
            k = BLOCK - self._fill
            if k > n - pos:
                k = n - pos
            self._buf[self._fill : self._fill + k] = mv[pos : pos + k]
            self._fill += k
            pos += k
            if self._fill == BLOCK:
                self._flush()

    def _commit(self):
        if self._fill:
            for i in range(self._fill, BLOCK):
                self._buf[i] = 0xFF
            self._flush()
        self.discard()

    def discard(self):
        # the partition is not the running one and not set to boot: what
        # was written is never used
        self._open = False
        self._buf = None


class Esp32SlotPlatform(SlotPlatform):
    """SlotPlatform whose component `firmware` lives in the OTA partitions
    (see the top). esp32_module: the `esp32` module (tests pass a fake)."""

    def __init__(self, storage, components, identity=None, fetcher=None, keks=None, clock=None,
                 firmware="fw", esp32_module=None):
        if esp32_module is None:
            import esp32 as esp32_module
        self.esp32 = esp32_module
        self.firmware = firmware
        super().__init__(storage, components, identity, fetcher, keks, clock)
        if firmware not in self._cids:
            raise ValueError("no firmware component")

    # ------------------------------------------------------------ partitions

    def _running(self):
        P = self.esp32.Partition
        return P(P.RUNNING)

    def _next(self):
        try:
            part = self._running().get_next_update()
        except OSError:
            raise SuitError(SUIT_ERR_UNSUPPORTED, "no OTA partition")
        if _label_slot(part) is None:
            raise SuitError(SUIT_ERR_UNSUPPORTED, "no OTA partition")
        return part

    def _partition(self, slot):
        try:
            return self.esp32.Partition("ota_%d" % slot)
        except (OSError, ValueError):
            raise SuitError(SUIT_ERR_UNSUPPORTED, "no OTA partition")

    def _hash_partition(self, part, size):
        # re-read the flash (never a cached digest)
        h = hgcrypto.sha256()
        buf = bytearray(BLOCK)
        block = 0
        left = size
        try:
            while left > 0:
                part.readblocks(block, buf)
                n = BLOCK if left > BLOCK else left
                h.update(memoryview(buf)[:n])
                left -= n
                block += 1
        except OSError:
            raise SuitError(SUIT_ERR_ABORT, "flash read failed")
        return h.digest()

    def _verify(self, slot, digest, size):
        d = self._hash_partition(self._partition(slot), size)
        if not hgcrypto.ct_equal(d, bytes(digest)):
            raise SuitError(SUIT_ERR_DIGEST_MISMATCH, "firmware verify failed")

    def _set_boot(self, slot):
        try:
            self._partition(slot).set_boot()
        except OSError:
            raise SuitError(SUIT_ERR_ABORT, "set_boot refused")

    # ------------------------------------------------------------ Platform

    def slot(self, cid):
        if self._comp(cid)[0] != self.firmware:
            return SlotPlatform.slot(self, cid)
        if self._phase == PHASE_UPDATE:
            return _label_slot(self._next())
        return _label_slot(self._running())

    def capacity(self, cid):
        name, max_size = self._comp(cid)
        if name != self.firmware:
            return max_size
        try:
            part = self._running().get_next_update()
            cap = part.ioctl(_IOCTL_BLOCK_COUNT, 0) * BLOCK
        except OSError:
            return max_size
        return cap if cap < max_size else max_size

    def open_writer(self, cid, limit):
        name, max_size = self._comp(cid)
        if name != self.firmware:
            return SlotPlatform.open_writer(self, cid, limit)
        if self._phase != PHASE_UPDATE:
            raise SuitError(SUIT_ERR_ABORT, "write outside an update")
        part = self._next()
        slot = _label_slot(part)
        self._staged.pop(name, None)
        self._hcache.pop((name, slot), None)
        if limit is None or limit > max_size:
            limit = max_size
        return _PartitionWriter(self, name, part, slot, limit)

    def _size_of(self, name, slot):
        s = self._staged.get(name)
        if s is not None and s[0] == slot:
            return s[2]
        info = self.state[name][E_INFO][slot]
        return None if info is None else info[I_SIZE]

    def _chunks(self, name, slot):
        if name != self.firmware:
            yield from SlotPlatform._chunks(self, name, slot)
            return
        size = self._size_of(name, slot)
        if size is None:
            return
        part = self._partition(slot)
        buf = bytearray(BLOCK)
        block = 0
        while size > 0:
            try:
                part.readblocks(block, buf)
            except OSError:
                raise SuitError(SUIT_ERR_ABORT, "flash read failed")
            n = BLOCK if size > BLOCK else size
            yield bytes(buf[:n])
            size -= n
            block += 1

    def commit_update(self, env, cids):
        # verify the streamed firmware on the flash before anything is
        # recorded: set_boot() only ever sees a verified image
        for cid in cids:
            if self.has_component(cid) and self._comp(cid)[0] == self.firmware:
                s = self._staged.get(self.firmware)
                if s is not None:
                    self._verify(s[0], s[1], s[2])
        SlotPlatform.commit_update(self, env, cids)

    def _activate(self, name, slot, info):
        if name == self.firmware:
            self._set_boot(slot)

    def _repair_pending(self, name, slot, info):
        if name == self.firmware:
            try:
                self._verify(slot, info[I_DIGEST], info[I_SIZE])
                self._set_boot(slot)
            except SuitError:
                pass  # never booted; suit_boot keeps the running image

    # ------------------------------------------------------------ boot

    def boot_managed(self, name):
        return name == self.firmware

    def running_slot(self, name):
        return _label_slot(self._running())

    def confirm_managed(self, name):
        try:
            self.esp32.Partition.mark_app_valid_cancel_rollback()
        except OSError:
            pass  # a build without the bootloader's app rollback
