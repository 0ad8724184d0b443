# Helpers for the SUIT processor tests: FakePlatform, a RAM implementation of
# the suit_platform contract, and small manifest builders. Portable
# (CPython, MicroPython unix port, qemu image).
#
# FakePlatform(vendor_id=..., class_id=..., device_id=..., seq=-1)
#   .add(cid, slots=2, active=0, keep=True, capacity=None, ram=False)
#       a component: `slots` 2 = A/B (slot() reports the slot number), 1 =
#       one slot (slot() is None, an update writes it in place); keep=False
#       hashes what is written without storing it (big images on a 64 KiB
#       board; reader() then has nothing); capacity: the largest image,
#       offered as capacity(cid); ram=True: writable during a boot too
#       (a load target), written in place.
#   .set_image(cid, data, slot=None)   real content of a slot (default active)
#   .preset(cid, digest, size)         digest(cid) reports (digest, size)
#       whatever the component holds: the draft examples name digests of
#       images that do not exist.
#   .fetches {uri: bytes or (byte, count)}   what fetch(uri) streams; the
#       tuple form streams `count` copies of one byte in 512-byte chunks
#   .fetch_fail {uri}      fetch(uri) fails with SUIT_ERR_FETCH
#   .keks {kid: key}       kek(kid, alg)
# Recorded: .fetched (uris), .invoked [(cid, args)], .commits [(seq, cids)],
#   .aborts (count), .stored (sequence number), .phase.
#   .image(cid, slot=None) -> bytes of a slot (None: nothing valid);
#   .active_slot(cid), .pending(cid); .boot_pending() makes committed slots
#   active (what a successful trial boot does).
# Staging: during an update a write goes to the non-active slot, and
# digest()/reader() refer to it once written in this update (else to the
# active slot). slot() during an update is the slot the update writes (the
# non-active one): condition-component-slot picks the build linked for the
# target slot, in install and (after the write) validate alike, as the
# draft's A/B template needs. During a boot it is the active slot.
#
# Builders: seq(*items) a command sequence bstr; image_digest(data) the
# bstr .cbor SUIT_Digest of data; envelope(manifest_map, payloads) signed
# with a dummy COSE_Sign1 that accept() trusts; manifest(seq_no, comps,
# shared, sections) the manifest map; load(data) authenticate with accept.
import cbor
import hgcrypto

import suit_envelope
from suit_envelope import SuitError, SUIT_ERR_NO_MEM, SUIT_ERR_FETCH, SUIT_ERR_UNSUPPORTED
import suit_platform

_CHUNK = 512


def _key(cid):
    return tuple(bytes(p) for p in cid)


class _Comp:
    def __init__(self, slots, active, keep, capacity, ram):
        self.slots = [None] * slots  # per slot: None or [data or None, sha, size]
        self.active = active
        self.keep = keep
        self.capacity = capacity
        self.ram = ram
        self.staged = None  # slot written (finished) in the running update
        self.pending = None  # slot committed, waiting for a trial boot
        self.preset = None


class FakeWriter(suit_platform.Writer):
    def __init__(self, comp, slot, limit):
        self.comp = comp
        self.slot = slot
        self.limit = limit
        self.size = 0
        self.buf = bytearray() if comp.keep else None
        self.h = hgcrypto.sha256()
        self.sha = None
        self.finished = False
        self.discarded = False

    def write(self, buf):
        n = len(buf)
        if self.size + n > self.limit:
            raise SuitError(SUIT_ERR_NO_MEM, "image larger than the limit")
        if self.sha is not None or self.finished or self.discarded:
            raise SuitError(SUIT_ERR_UNSUPPORTED, "writer closed")
        self.h.update(buf)
        if self.buf is not None:
            self.buf.extend(buf)
        self.size += n

    def digest(self):
        if self.sha is None:
            self.sha = self.h.digest()
        return self.sha

    def finish(self):
        sha = self.digest()
        data = bytes(self.buf) if self.buf is not None else None
        self.buf = None
        self.comp.slots[self.slot] = [data, sha, self.size]
        self.finished = True
        return sha

    def discard(self):
        self.buf = None
        self.discarded = True


class FakePlatform(suit_platform.Platform):
    def __init__(self, vendor_id=None, class_id=None, device_id=None, seq=-1):
        self.vendor_id = vendor_id
        self.class_id = class_id
        self.device_id = device_id
        self.comps = {}
        self.fetches = {}
        self.fetch_fail = set()
        self.keks = {}
        self.fetched = []
        self.invoked = []
        self.commits = []
        self.aborts = 0
        self.stored = seq
        self.phase = None
        self.writers = []

    # ------------------------------------------------------------ set-up

    def add(self, cid, slots=2, active=0, keep=True, capacity=None, ram=False):
        self.comps[_key(cid)] = _Comp(slots, active, keep, capacity, ram)
        return self

    def set_image(self, cid, data, slot=None):
        c = self.comps[_key(cid)]
        c.slots[c.active if slot is None else slot] = [bytes(data), hgcrypto.sha256_digest(data), len(data)]

    def preset(self, cid, digest, size):
        self.comps[_key(cid)].preset = (bytes(digest), size)

    # ------------------------------------------------------------ inspect

    def _comp(self, cid):
        c = self.comps.get(_key(cid))
        if c is None:
            raise SuitError(SUIT_ERR_UNSUPPORTED, "no such component")
        return c

    def image(self, cid, slot=None):
        c = self._comp(cid)
        s = c.slots[c.active if slot is None else slot]
        return None if s is None else s[0]

    def active_slot(self, cid):
        return self._comp(cid).active

    def pending(self, cid):
        return self._comp(cid).pending

    def boot_pending(self):
        for c in self.comps.values():
            if c.pending is not None:
                c.active = c.pending
                c.pending = None

    # ------------------------------------------------------------ contract

    def has_component(self, cid):
        return _key(cid) in self.comps

    def _current(self, c):
        if self.phase == "update" and c.staged is not None:
            return c.staged
        return c.active

    def slot(self, cid):
        c = self._comp(cid)
        if len(c.slots) == 1:
            return None
        if self.phase == "update":
            return 1 - c.active  # the target of this update
        return c.active

    def capacity(self, cid):
        return self._comp(cid).capacity

    def open_writer(self, cid, limit):
        c = self._comp(cid)
        if self.phase != "update" and not (c.ram and self.phase == "boot"):
            raise SuitError(SUIT_ERR_UNSUPPORTED, "not writable now")
        if c.ram or len(c.slots) == 1:
            slot = 0
        else:
            slot = 1 - c.active
        c.slots[slot] = None  # truncated: nothing valid until finish()
        w = FakeWriter(c, slot, limit)
        if self.phase == "update":
            c.staged = slot
        self.writers.append(w)
        return w

    def digest(self, cid):
        c = self._comp(cid)
        s = c.slots[self._current(c)]
        if c.preset is not None:
            return c.preset
        if s is None:
            return None
        return s[1], s[2]

    def reader(self, cid):
        c = self._comp(cid)
        s = c.slots[self._current(c)]
        if s is None or s[0] is None:
            return None
        data = s[0]
        return [data[i : i + _CHUNK] for i in range(0, len(data), _CHUNK)]

    def fetch(self, uri, writer):
        self.fetched.append(uri)
        if uri in self.fetch_fail:
            raise SuitError(SUIT_ERR_FETCH, "fetch failed")
        src = self.fetches.get(uri)
        if src is None:
            raise SuitError(SUIT_ERR_FETCH, "not found")
        if isinstance(src, tuple):
            byte, count = src
            chunk = bytes((byte,)) * _CHUNK
            while count > 0:
                n = _CHUNK if count > _CHUNK else count
                writer.write(chunk if n == _CHUNK else chunk[:n])
                count -= n
        else:
            for i in range(0, len(src), _CHUNK):
                writer.write(src[i : i + _CHUNK])

    def kek(self, kid, alg):
        return self.keks.get(None if kid is None else bytes(kid))

    def invoke(self, cid, args):
        self.invoked.append((list(cid), args))

    def stored_sequence(self):
        return self.stored

    def begin_update(self, env):
        self.phase = "update"

    def commit_update(self, env, cids):
        for cid in cids:
            c = self._comp(cid)
            c.pending = c.staged
            c.staged = None
        self.stored = env.sequence_number
        self.commits.append((env.sequence_number, [list(c) for c in cids]))
        self.phase = None

    def abort_update(self):
        self.aborts += 1
        for c in self.comps.values():
            if c.staged is not None and c.staged != c.active:
                c.slots[c.staged] = None
            c.staged = None
        self.phase = None

    def begin_boot(self, env):
        self.phase = "boot"


def fill_digest(byte, count):
    """SHA-256 of `count` copies of `byte` (what fetches[uri] = (byte, count)
    streams), computed in chunks."""
    h = hgcrypto.sha256()
    chunk = bytes((byte,)) * _CHUNK
    while count > 0:
        n = _CHUNK if count > _CHUNK else count
        h.update(chunk[:n])
        count -= n
    return h.digest()


def accept(msg, payload):
    """authenticate() hook for tests: trusts any COSE block."""
    return True


def seq(*items):
    """A SUIT_Command_Sequence bstr from (command, argument) items."""
    return cbor.dumps(list(items))


def image_digest(data):
    """suit-parameter-image-digest (bstr .cbor SUIT_Digest) of `data`."""
    return cbor.dumps([suit_envelope.ALG_SHA256, hgcrypto.sha256_digest(data)])


def manifest(seq_no, comps, shared=None, sections=None):
    """A SUIT_Manifest map: components `comps`, shared sequence `shared`
    (bstr or None), `sections` {key: bstr or other value}."""
    common = {2: comps}
    if shared is not None:
        common[4] = shared
    m = {1: 1, 2: seq_no, 3: cbor.dumps(common)}
    if sections:
        for k in sections:
            m[k] = sections[k]
    return m


_SIGN1 = None


def envelope(manifest_map, payloads=None):
    """Tagged SUIT_Envelope bytes of `manifest_map` with integrated
    `payloads` {uri: bytes} and one dummy COSE_Sign1 (see accept)."""
    global _SIGN1
    if _SIGN1 is None:
        _SIGN1 = cbor.dumps(cbor.Tag(18, [b"\xa1\x01\x26", {}, None, b"x" * 8]))
    m = cbor.dumps(manifest_map)
    d = cbor.dumps([suit_envelope.ALG_SHA256, suit_envelope.bstr_digest(m)])
    env = {2: cbor.dumps([d, _SIGN1]), 3: m}
    if payloads:
        for k in payloads:
            env[k] = payloads[k]
    return cbor.dumps(cbor.Tag(107, env))


def load(data):
    """authenticate() with the trust-anything hook."""
    return suit_envelope.authenticate(data, [accept])
