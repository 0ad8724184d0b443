# suit_slots: the SUIT Platform (suit_platform) on hgstore records. Each
# component has two slots (A/B); an update writes only the slot that is not
# active (the staging slot), commit_update() marks it pending, and the
# trial boot (suit_boot) switches to it and makes it permanent or rolls back.
#
#   pf = SlotPlatform(FileStorage("/suit"), [([b"app"], "app", 65536)],
#                     {"vendor_id": V, "class_id": C}, fetcher=CoapFetcher())
#   ... suit processor: begin_update / open_writer / commit_update ...
#   Boot(pf).select()            # at every boot, before the application
#
# ---------------------------------------------------------- records
#   suit.<name>.0, suit.<name>.1  the slots of component <name>, written
#                                 with open_blob (streamed, atomic commit)
#   suit.state                    one record for every component (below)
#   suit.seq                      the anti-rollback sequence number, alone
# suit.state and suit.seq are CBOR followed by a 16-byte check: SHA-256 of
# the record name and the CBOR, first 16 bytes (a torn, edited or swapped
# record is refused: SuitError, fail closed). suit.state is
# [1, {name: entry}], entry = [active, pending, previous, trials_left,
# deadline_ms, [info0, info1]]: active/pending/previous are slot numbers or
# None; info<i> is None or [sha256, size, manifest_digest, sequence] of the
# image slot i holds. previous is set while a trial boot of `active` runs
# (suit_boot), deadline_ms is its confirmation deadline (or None).
#
# ---------------------------------------------------------- ordering
# commit_update(env, cids): (1) one atomic write of suit.state marking the
# staged slot of every cid pending with its info, (2) suit.seq raised to
# env.sequence_number. A power cut before (1): the old state, the update is
# lost, the active slots were never written. Between (1) and (2): on
# restart the constructor finds a pending image whose sequence exceeds
# suit.seq and raises suit.seq (repair), so the stored sequence never lags
# an installed manifest. The info of a non-active slot is only trusted
# after its bytes are re-hashed (suit_boot does before booting it): an
# aborted update may have overwritten that slot.
#
# Phases (suit_platform): during an update, slot(cid) is the STAGING slot
# of every component, written in this update or not (the contract says the
# active slot for components not written yet; we answer the staging slot
# so that condition-component-slot in an A/B manifest, checked before the
# write, picks the alternative built for the slot the image will land in);
# digest(cid)/reader(cid) follow the contract (staged content of components
# written in this update, the active image of the others). During a boot
# (and outside any phase) everything refers to the active slot.
#
# Beyond the contract: capacity(cid) (max_size, bounds a write without
# image-size), installed() (active images, for EAT measurements),
# verify_slot(name, slot), hash_slot(name, slot), names(), cid(name),
# in_trial(), save_state(), .state (the decoded suit.state, which
# suit_boot edits), .invoked ([(cid, args)] recorded by invoke()).
# SlotWriter: the writer rules (limit, hash, size, finish) a platform with
# another kind of slot builds on (suit_esp32's OTA partitions).
#
# An update is refused while a trial boot is not confirmed (it would
# overwrite the slot the trial rolls back to). A committed update that has
# not been booted yet is simply replaced by the next one (same staging
# slot; the last commit wins). Storage errors (OSError)
# become SuitError(SUIT_ERR_ABORT); hgstore.PowerCut (tests) propagates:
# it stands for the power failing, after which nothing runs.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import cbor
import hgcrypto
import hgstore

from suit_envelope import SuitError

# suit_envelope's values (private consts take no RAM; host_tests/test_const_sync.py
# checks they match)
_MAX_COMPONENT_PARTS = const(8)
_MAX_COMPONENTS = const(16)
_SUIT_ERR_ABORT = const(-12)
_SUIT_ERR_DIGEST_MISMATCH = const(-7)
_SUIT_ERR_NO_MEM = const(-9)
_SUIT_ERR_POLICY_FORBIDDEN = const(-8)
_SUIT_ERR_SEQUENCE_NUMBER = const(-5)
_SUIT_ERR_UNSUPPORTED = const(-2)

from suit_platform import Platform, Writer

# suit_platform's values (private consts take no RAM; host_tests/test_const_sync.py
# checks they match)
_DIGEST_CHUNK = const(512)


STATE = "suit.state"
SEQ = "suit.seq"
_VERSION = const(1)
_ALG_A256KW = const(-5)

# entry fields
_E_ACTIVE = const(0)
_E_PENDING = const(1)
_E_PREVIOUS = const(2)
_E_TRIALS = const(3)
_E_DEADLINE = const(4)
_E_INFO = const(5)
# info fields
_I_DIGEST = const(0)
_I_SIZE = const(1)
_I_MANIFEST = const(2)
_I_SEQ = const(3)

_CHECK_LEN = const(16)
_MAX_NAME = const(16)
_MAX_MANIFEST_DIGEST = const(64)
_MAX_RECORD = const(8192)
_MAX_UINT64 = const(0xFFFFFFFFFFFFFFFF)
_PHASE_UPDATE = const(1)
_PHASE_BOOT = const(2)


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _is_bytes(x):
    return isinstance(x, (bytes, bytearray, memoryview))


def _check(name, body):
    h = hgcrypto.sha256(name.encode())
    h.update(b"\x00")
    h.update(body)
    return h.digest()[:_CHECK_LEN]


def pack_record(name, value):
    """CBOR of value followed by its 16-byte check (see the top)."""
    body = cbor.dumps(value)
    return body + _check(name, body)


def unpack_record(name, data):
    """The value of a record made by pack_record; SuitError if damaged."""
    n = len(data)
    if n <= _CHECK_LEN or n > _MAX_RECORD:
        raise SuitError(_SUIT_ERR_DIGEST_MISMATCH, "damaged record " + name)
    body = bytes(data[: n - _CHECK_LEN])
    if not hgcrypto.ct_equal(_check(name, body), bytes(data[n - _CHECK_LEN :])):
        raise SuitError(_SUIT_ERR_DIGEST_MISMATCH, "damaged record " + name)
    try:
        return cbor.loads(body, strict=True, max_depth=6, max_items=512)
    except MemoryError:
        # a busy heap is not damage: the record stays trusted
        raise SuitError(_SUIT_ERR_NO_MEM, "out of memory")
    except ValueError:
        raise SuitError(_SUIT_ERR_DIGEST_MISMATCH, "damaged record " + name)


def _slot_ok(x, none_ok=True):
    return (x is None and none_ok) or (_is_int(x) and 0 <= x <= 1)


def _info_ok(i):
    if i is None:
        return True
    return (
        isinstance(i, list)
        and len(i) == 4
        and _is_bytes(i[_I_DIGEST])
        and len(i[_I_DIGEST]) == 32
        and _is_int(i[_I_SIZE])
        and i[_I_SIZE] >= 0
        and _is_bytes(i[_I_MANIFEST])
        and len(i[_I_MANIFEST]) <= _MAX_MANIFEST_DIGEST
        and _is_int(i[_I_SEQ])
        and 0 <= i[_I_SEQ] <= _MAX_UINT64
    )


def _entry_ok(e):
    if not isinstance(e, list) or len(e) != 6:
        return False
    if not (_slot_ok(e[_E_ACTIVE]) and _slot_ok(e[_E_PENDING]) and _slot_ok(e[_E_PREVIOUS])):
        return False
    if not _is_int(e[_E_TRIALS]) or not 0 <= e[_E_TRIALS] <= 255:
        return False
    if e[_E_DEADLINE] is not None and not _is_int(e[_E_DEADLINE]):
        return False
    infos = e[_E_INFO]
    if not isinstance(infos, list) or len(infos) != 2:
        return False
    return _info_ok(infos[0]) and _info_ok(infos[1])


def new_entry():
    return [None, None, None, 0, None, [None, None]]


def _name_ok(name):
    if not isinstance(name, str) or not 0 < len(name) <= _MAX_NAME:
        return False
    for c in name:
        if not (c.isalpha() or c.isdigit() or c in "_-"):
            return False
    return True


def _key(cid):
    # hashable form of a component ID (list of bytes)
    if not isinstance(cid, (list, tuple)):
        return None
    out = []
    for p in cid:
        if not _is_bytes(p):
            return None
        out.append(bytes(p))
    return tuple(out)


def _abort(msg):
    return SuitError(_SUIT_ERR_ABORT, msg)


class SlotWriter(Writer):
    """The Writer logic every slot kind shares (suit_esp32's flash writer
    too): nothing past `limit` is stored, SHA-256 while streaming, size,
    and finish() reports (digest, size) to pf._finished(). A subclass
    stores: _store(buf) (buf non-empty), _commit() (the image is complete,
    make it durable), discard(); each of them sets self._open = False when
    the writer can take no more."""

    def __init__(self, pf, name, slot, limit):
        self._pf = pf
        self._name = name
        self._slot = slot
        self._limit = limit
        self._h = hgcrypto.sha256()
        self._digest = None
        self._open = True
        self.size = 0

    def write(self, buf):
        if not self._open or self._digest is not None:
            raise _abort("writer closed")
        n = len(buf)
        if self.size + n > self._limit:
            # nothing past the limit reaches storage; the slot stays as it was
            self.discard()
            raise SuitError(_SUIT_ERR_NO_MEM, "image too large")
        if n:
            self._h.update(buf)
            self._store(buf)
            self.size += n

    def digest(self):
        # MicroPython's hash objects finalise on digest(): no write after it
        if self._digest is None:
            self._digest = self._h.digest()
            self._h = None
        return self._digest

    def finish(self):
        if not self._open:
            raise _abort("writer closed")
        d = self.digest()
        self._commit()
        self._pf._finished(self._name, self._slot, d, self.size)


class _SlotWriter(SlotWriter):
    """Streams into one slot record (an hgstore blob, committed atomically)."""

    def __init__(self, pf, name, slot, limit):
        super().__init__(pf, name, slot, limit)
        self._blob = pf._io(pf.st.open_blob, pf._rec(name, slot))

    def _store(self, buf):
        self._pf._io(self._blob.write, buf)

    def _commit(self):
        blob = self._blob
        self.discard()  # closed before the commit: a failed one is not retried
        self._pf._io(blob.commit)

    def discard(self):
        self._open = False
        self._blob = None  # an uncommitted blob leaves the record unchanged


class SlotPlatform(Platform):
    """A/B slots on an hgstore storage (see the top).

    components: list of (component id (list of bytes), name, max_size);
    identity: dict with any of "vendor_id", "class_id", "device_id"
    (16-byte UUIDs); fetcher: object with fetch(uri, writer) (suit_fetch.
    CoapFetcher); keks: {kid: 32-byte key} or a callable(kid, alg); clock:
    callable -> ms, used by suit_boot for trial deadlines."""

    def __init__(self, storage, components, identity=None, fetcher=None, keks=None,
                 clock=None):
        self.st = storage
        self.fetcher = fetcher
        self.keks = keks
        self.clock = clock
        identity = identity or {}
        self.vendor_id = identity.get("vendor_id")
        self.class_id = identity.get("class_id")
        self.device_id = identity.get("device_id")
        if not isinstance(components, (list, tuple)) or not 0 < len(components) <= _MAX_COMPONENTS:
            raise ValueError("bad components")
        self._comps = {}  # cid key -> (name, max_size)
        self._cids = {}  # name -> cid (list of bytes)
        self._order = []
        self._recs = {}  # name -> (record name of slot 0, of slot 1)
        for c in components:
            cid, name, max_size = c
            k = _key(cid)
            if (k is None or not 0 < len(k) <= _MAX_COMPONENT_PARTS or not _name_ok(name)
                    or not _is_int(max_size) or max_size <= 0
                    or k in self._comps or name in self._cids):
                raise ValueError("bad component")
            self._comps[k] = (name, max_size)
            self._cids[name] = [bytes(p) for p in k]
            self._order.append(name)
            # the slot record names, made once here: names made mid-update
            # would be long-lived keys scattered through the heap (MemoryStorage)
            self._recs[name] = (self.record(name, 0), self.record(name, 1))
        self._phase = None
        self._staged = {}  # name -> (slot, digest, size), finished in this update
        self._hcache = {}  # (name, slot) -> (digest, size) of re-hashed bytes
        self.invoked = []  # (cid, args) handed over by invoke()
        self.state = self._load_state()
        self._repair()

    # ------------------------------------------------------------ records

    @staticmethod
    def record(name, slot):
        return "suit." + name + "." + str(slot)

    def _rec(self, name, slot):
        r = self._recs.get(name)
        if r is not None and type(slot) is int and 0 <= slot <= 1:
            return r[slot]
        return self.record(name, slot)

    def _io(self, fn, *args):
        try:
            return fn(*args)
        except hgstore.PowerCut:
            raise
        except OSError:
            raise _abort("storage error")

    def _load_state(self):
        data = self._io(self.st.read, STATE)
        comps = {}
        if data is not None:
            v = unpack_record(STATE, data)
            if (not isinstance(v, list) or len(v) != 2 or v[0] != _VERSION
                    or not isinstance(v[1], dict) or len(v[1]) > 2 * _MAX_COMPONENTS):
                raise SuitError(_SUIT_ERR_DIGEST_MISMATCH, "damaged record " + STATE)
            comps = v[1]
            for name in comps:
                if not _name_ok(name) or not _entry_ok(comps[name]):
                    raise SuitError(_SUIT_ERR_DIGEST_MISMATCH, "damaged record " + STATE)
        state = {}
        for name in self._order:
            e = comps.get(name)
            state[name] = e if e is not None else new_entry()
        return state

    def save_state(self):
        """Persist self.state (one atomic write)."""
        self._io(self.st.write, STATE, pack_record(STATE, [_VERSION, self.state]))

    def stored_sequence(self):
        data = self._io(self.st.read, SEQ)
        if data is None:
            return -1
        v = unpack_record(SEQ, data)
        if not _is_int(v) or not 0 <= v <= _MAX_UINT64:
            raise SuitError(_SUIT_ERR_SEQUENCE_NUMBER, "damaged record " + SEQ)
        return v

    def _raise_sequence(self, seq):
        if seq > self.stored_sequence():
            self._io(self.st.write, SEQ, pack_record(SEQ, seq))

    def _repair(self):
        # a cut between commit_update's two writes: pending images newer
        # than suit.seq raise it now
        stored = self.stored_sequence()
        top = -1
        for name in self._order:
            e = self.state[name]
            p = e[_E_PENDING]
            if p is not None and e[_E_INFO][p] is not None and e[_E_INFO][p][_I_SEQ] > stored:
                self._repair_pending(name, p, e[_E_INFO][p])
                if e[_E_INFO][p][_I_SEQ] > top:
                    top = e[_E_INFO][p][_I_SEQ]
        if top > stored:
            self._io(self.st.write, SEQ, pack_record(SEQ, top))

    def _repair_pending(self, name, slot, info):
        """Hook (suit_esp32): redo what commit_update does for a pending
        image between the state write and the sequence write."""

    # ------------------------------------------------------------ components

    def _comp(self, cid):
        c = self._comps.get(_key(cid))
        if c is None:
            raise SuitError(_SUIT_ERR_UNSUPPORTED, "unknown component")
        return c

    def names(self):
        return list(self._order)

    def cid(self, name):
        return self._cids[name]

    def has_component(self, cid):
        return _key(cid) in self._comps

    def capacity(self, cid):
        """The largest image `cid` takes (its max_size): what bounds a
        fetch/copy whose manifest gives no image-size (suit_processor)."""
        return self._comp(cid)[1]

    @staticmethod
    def staging_slot(entry):
        a = entry[_E_ACTIVE]
        return 0 if a is None else 1 - a

    def slot(self, cid):
        name = self._comp(cid)[0]
        e = self.state[name]
        if self._phase == _PHASE_UPDATE:
            return self.staging_slot(e)
        return e[_E_ACTIVE]

    def _target(self, name):
        # (slot, (digest, size) or None) that digest/reader refer to now
        s = self._staged.get(name)
        if s is not None and self._phase == _PHASE_UPDATE:
            return s[0], (s[1], s[2])
        e = self.state[name]
        a = e[_E_ACTIVE]
        if a is None or e[_E_INFO][a] is None:
            return None, None
        return a, None

    def open_writer(self, cid, limit):
        name, max_size = self._comp(cid)
        if self._phase != _PHASE_UPDATE:
            raise _abort("write outside an update")
        slot = self.staging_slot(self.state[name])
        self._staged.pop(name, None)
        self._hcache.pop((name, slot), None)
        if limit is None or limit > max_size:
            limit = max_size
        return self._new_writer(name, slot, limit)

    def _new_writer(self, name, slot, limit):
        return _SlotWriter(self, name, slot, limit)

    def _finished(self, name, slot, digest, size):
        self._staged[name] = (slot, digest, size)
        self._hcache[(name, slot)] = (digest, size)

    def hash_slot(self, name, slot):
        """(sha256, size) of the bytes slot `slot` of `name` holds now, or
        None when the record is missing (re-hashed, cached per object)."""
        c = self._hcache.get((name, slot))
        if c is not None:
            return c
        h = hgcrypto.sha256()
        n = 0
        found = False
        for chunk in self._chunks(name, slot):
            found = True
            h.update(chunk)
            n += len(chunk)
        if not found and self._io(self.st.read, self._rec(name, slot)) is None:
            return None
        c = (h.digest(), n)
        self._hcache[(name, slot)] = c
        return c

    def verify_slot(self, name, slot):
        """True if slot `slot` of `name` has a recorded image and its bytes
        hash to the recorded digest and size."""
        info = self.state[name][_E_INFO][slot]
        if info is None:
            return False
        got = self.hash_slot(name, slot)
        return (got is not None and got[1] == info[_I_SIZE]
                and hgcrypto.ct_equal(got[0], bytes(info[_I_DIGEST])))

    def digest(self, cid):
        name = self._comp(cid)[0]
        slot, d = self._target(name)
        if d is not None or slot is None:
            return d
        return self.hash_slot(name, slot)

    def _chunks(self, name, slot):
        r = self._io(self.st.open_reader, self._rec(name, slot))
        if r is None:
            return
        buf = bytearray(_DIGEST_CHUNK)
        mv = memoryview(buf)
        try:
            while True:
                n = self._io(r.readinto, mv)
                if not n:
                    return
                yield bytes(mv[:n])
        finally:
            r.close()

    def reader(self, cid):
        name = self._comp(cid)[0]
        slot, _ = self._target(name)
        if slot is None:
            return None
        return self._chunks(name, slot)

    def fetch(self, uri, writer):
        if self.fetcher is None:
            raise SuitError(_SUIT_ERR_UNSUPPORTED, "fetch")
        return self.fetcher.fetch(uri, writer)

    def kek(self, kid, alg):
        if alg != _ALG_A256KW or self.keks is None:
            return None
        if callable(self.keks):
            return self.keks(kid, alg)
        return self.keks.get(None if kid is None else bytes(kid))

    def invoke(self, cid, args):
        name = self._comp(cid)[0]
        e = self.state[name]
        if e[_E_ACTIVE] is None or e[_E_INFO][e[_E_ACTIVE]] is None:
            raise _abort("nothing to invoke")
        if len(self.invoked) >= _MAX_COMPONENTS:
            raise _abort("too many invokes")
        self.invoked.append((self._cids[name], None if args is None else bytes(args)))

    # ------------------------------------------------------------ phases

    def in_trial(self):
        """Names of components whose trial boot is not confirmed."""
        return [n for n in self._order if self.state[n][_E_PREVIOUS] is not None]

    def begin_update(self, env):
        if self.in_trial():
            raise SuitError(_SUIT_ERR_POLICY_FORBIDDEN, "trial boot not confirmed")
        self._phase = _PHASE_UPDATE
        self._staged = {}

    def commit_update(self, env, cids):
        if self._phase != _PHASE_UPDATE:
            raise _abort("commit outside an update")
        seq = env.sequence_number
        if not _is_int(seq) or seq <= self.stored_sequence():
            raise SuitError(_SUIT_ERR_SEQUENCE_NUMBER, "sequence number not newer")
        mdig = bytes(env.digest[1]) if env.digest else b""
        names = []
        for cid in cids:
            name = self._comp(cid)[0]
            if name not in self._staged:
                raise _abort("component not staged")
            if name not in names:
                names.append(name)
        if not names:
            raise _abort("nothing installed")
        new = {}
        for name in self._order:
            e = self.state[name]
            e = [e[0], e[1], e[2], e[3], e[4], list(e[_E_INFO])]
            if name in names:
                slot, d, size = self._staged[name]
                e[_E_INFO][slot] = [d, size, mdig, seq]
                e[_E_PENDING] = slot
            new[name] = e
        old = self.state
        self.state = new
        try:
            self.save_state()  # (1) all staged slots pending, one atomic write
        except Exception:
            self.state = old
            raise
        for name in names:
            e = new[name]
            self._activate(name, e[_E_PENDING], e[_E_INFO][e[_E_PENDING]])
        self._raise_sequence(seq)  # (2)
        self._phase = None
        self._staged = {}

    def _activate(self, name, slot, info):
        """Hook (suit_esp32): make a committed image bootable, between the
        state write and the sequence write."""

    def abort_update(self):
        self._phase = None
        self._staged = {}

    def begin_boot(self, env):
        self._phase = _PHASE_BOOT
        self.invoked = []

    # hooks for components a bootloader selects (suit_boot, suit_esp32)
    def boot_managed(self, name):
        return False

    def running_slot(self, name):
        return None

    def confirm_managed(self, name):
        pass

    # ------------------------------------------------------------ reports

    def installed(self):
        """[{cid, name, slot, digest, size, sequence, manifest_digest}] of
        the active image of every component that has one (EAT claims)."""
        out = []
        for name in self._order:
            e = self.state[name]
            a = e[_E_ACTIVE]
            if a is None or e[_E_INFO][a] is None:
                continue
            i = e[_E_INFO][a]
            out.append({"cid": self._cids[name], "name": name, "slot": a,
                        "digest": bytes(i[_I_DIGEST]), "size": i[_I_SIZE],
                        "sequence": i[_I_SEQ], "manifest_digest": bytes(i[_I_MANIFEST])})
        return out


# The public constants (module.NAME, `from suit_slots import NAME`): a literal table
# (ROM when frozen) read by __getattr__, instead of a slot each in this
# module's globals (heap). Inside the module the private names fold away.
_PUBLIC = const((
    ("VERSION", _VERSION), ("ALG_A256KW", _ALG_A256KW), ("E_ACTIVE", _E_ACTIVE),
    ("E_PENDING", _E_PENDING), ("E_PREVIOUS", _E_PREVIOUS), ("E_TRIALS", _E_TRIALS),
    ("E_INFO", _E_INFO), ("I_DIGEST", _I_DIGEST), ("I_SIZE", _I_SIZE),
    ("PHASE_UPDATE", _PHASE_UPDATE),
))


def __getattr__(name):
    for k, v in _PUBLIC:
        if k == name:
            return v
    raise AttributeError(name)
