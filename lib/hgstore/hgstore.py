# hgstore: the storage that security state is persisted through (LMS leaf
# reservations in lms_state, OSCORE sequence number reservations in oscore;
# SUIT and EAT next). The state code never touches files itself: it is
# given a storage object, so tests run it on MemoryStorage with power cuts
# injected at every write, and the device runs it on FileStorage.
#
# ---------------------------------------------------------- the interface
# A storage holds named records of bytes. A name is a non-empty str without
# "/" that does not end in ".tmp" or ".new" (FileStorage's temporary files);
# anything else raises ValueError (check_name). Five methods:
#
#   read(name) -> bytes-like or None
#       The value of the last completed write of `name`; None if there is
#       none. Treat it as read-only (MemoryStorage returns its own object).
#   write(name, data)
#       Atomic replace, all-or-nothing and durable when it returns:
#       - whenever the power fails, read(name) afterwards gives either the
#         previous complete value (None if there was none) or the complete
#         new one: never a mix, never a prefix;
#       - once write() has returned, the new value survives a power cut
#         (FileStorage: as far as the port can sync, see below);
#       - if write() raises (OSError; PowerCut in tests), the record holds
#         the previous or the new value and the caller cannot tell which:
#         state code reserves before it uses (lms_state, oscore), so
#         either is safe, and it stops using the in-RAM state until it is
#         loaded again.
#       data: bytes, bytearray or memoryview. A bytearray may be kept
#       without a copy (RAM is scarce): do not modify it afterwards.
#   read_parts(name, offsets, size) -> bytes
#       The `size`-byte slices of the record at each offset, concatenated
#       (an authentication path out of a node cache without reading the
#       whole record). OSError if the record is missing or a slice does not
#       lie inside it.
#   open_blob(name) -> writer with write(data) and commit()
#       A large record written sequentially in bounded RAM: write() appends
#       (any number of times), commit() replaces the record atomically with
#       everything written, under write()'s contract (and counts as one
#       write for power-cut injection). Nothing is visible before commit();
#       a writer dropped without commit() leaves the previous value.
#   open_reader(name) -> reader or None
#       A large record read sequentially in bounded RAM (a firmware slot
#       hashed at boot): reader.size is the record's length, readinto(buf)
#       fills buf from the current position and returns the count (0 at
#       the end), close() releases it. The reader sees the value of the
#       last completed write at the time it was opened. None if there is
#       no record.
# Records carry no integrity check of their own: the state code checks its
# records (lms_state and oscore put a hash in each), which also refuses a
# record edited or damaged outside this interface.
#
# ---------------------------------------------------------- the storages
# MemoryStorage(cut_at=None, data=None): records in a dict (`durable`), for
# tests and benches. Power-cut injection: writes (write() calls and blob
# commits) are counted in `writes`, from 1; with cut_at=N the Nth write
# and every later one raise PowerCut (an OSError, errno EIO) before
# changing anything, i.e. the power fails just before the write reaches the
# medium (it cannot tear: that is FileStorage's job, tested on real files).
# reboot() returns a new MemoryStorage holding only the completed records,
# without a cut: what the device finds when the power comes back; reload
# the signer or context from it. To cut k writes from now:
# st.cut_at = st.writes + k. Cover every write of a scenario by running it
# for k = 1, 2, ... until a run completes without PowerCut.
#
# FileStorage(path): one file per record; the record "state" is the file
# `path` itself (the LMS key file), any other name `path.<name>` (LMS node
# caches "nodes0"..., OSCORE contexts DIR/oscore.<name>). A write goes to a
# temporary file, flushed and os.fsync'ed where the port has it (CPython;
# MicroPython ports have no fsync, closing the file commits it on FAT and
# littlefs; on the unix port the data then sits in the OS page cache), and
# is renamed over the target; on POSIX the directory is fsync'ed so that the
# rename itself is durable. The temporary file is `<file>.tmp` when the
# target exists, `<file>.new` when it does not. FAT renames by removing
# the target first, so a cut inside rename() can leave only the complete
# .tmp: read() falls back to `<file>.tmp` when the target is missing. A
# cut while writing .tmp leaves the target in place; a cut during a first
# write leaves a partial .new, which is never read. So the fallback only
# ever finds a complete file.
#
# CountingStorage(inner=None): wraps a storage (default a MemoryStorage) and
# counts what reaches it, for benches and tests: writes (completed write()s
# and commits), bytes written, reads (read() and read_parts() calls) and
# bytes read, in total and per name (an open_reader() counts as one read,
# its bytes as they are read).
#
# FileStorage lives in hgstore_file.py and CountingStorage in
# hgstore_count.py: hgstore.FileStorage / hgstore.CountingStorage (and
# `from hgstore import ...`) import them on first use (__getattr__ below),
# so a device pays heap only for the storage it uses.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_EIO = const(5)
_ENOENT = const(2)
STATE = "state"  # the record FileStorage keeps at `path` itself


class PowerCut(OSError):
    """Raised by MemoryStorage(cut_at=N) from the Nth write on (tests)."""


def check_name(name):
    """ValueError unless `name` is a valid record name (see the top)."""
    if (
        not isinstance(name, str)
        or not name
        or "/" in name
        or name.endswith(".tmp")
        or name.endswith(".new")
    ):
        raise ValueError("bad record name")
    return name


def _slices(blob, offsets, size):
    out = bytearray()
    n = len(blob)
    for o in offsets:
        if o < 0 or size < 0 or o + size > n:
            raise OSError(_EIO, "short read")
        out += blob[o : o + size]
    return bytes(out)


# ---------------------------------------------------------------- memory


class MemoryStorage:
    """Records in RAM (`durable`: name -> value). cut_at=N makes the Nth
    write and all later ones fail with PowerCut before changing anything;
    reboot() returns a fresh storage holding only what was written."""

    def __init__(self, cut_at=None, data=None):
        self.durable = dict(data) if data else {}
        self.cut_at = cut_at
        self.writes = 0

    def _count(self):
        self.writes += 1
        if self.cut_at is not None and self.writes >= self.cut_at:
            raise PowerCut(_EIO, "power cut")

    def read(self, name):
        return self.durable.get(check_name(name))

    def write(self, name, data):
        # takes ownership of a bytearray (no copy: RAM is scarce on device)
        check_name(name)
        self._count()
        self.durable[name] = data if isinstance(data, bytearray) else bytes(data)

    def read_parts(self, name, offsets, size):
        blob = self.durable.get(check_name(name))
        if blob is None:
            raise OSError(_ENOENT, "no record")
        return _slices(blob, offsets, size)

    def open_blob(self, name):
        return _MemBlob(self, check_name(name))

    def open_reader(self, name):
        blob = self.durable.get(check_name(name))
        return None if blob is None else _MemReader(blob)

    def reboot(self):
        return MemoryStorage(data=self.durable)


class _MemBlob:
    def __init__(self, st, name):
        self._st = st
        self._name = name
        self._buf = bytearray()

    def write(self, data):
        self._buf.extend(data)

    def commit(self):
        self._st._count()
        self._st.durable[self._name] = self._buf
        self._buf = None


class _MemReader:
    def __init__(self, blob):
        # a blob commit replaces the dict entry, never this object's bytes
        self._mv = memoryview(blob)
        self.size = len(blob)
        self._pos = 0

    def readinto(self, buf):
        n = min(len(buf), self.size - self._pos)
        if n > 0:
            buf[:n] = self._mv[self._pos : self._pos + n]
            self._pos += n
            return n
        return 0

    def close(self):
        self._mv = None


def __getattr__(name):
    # the storages kept out of this module (see the top), imported on use
    if name == "FileStorage":
        import hgstore_file

        return hgstore_file.FileStorage
    if name == "CountingStorage":
        import hgstore_count

        return hgstore_count.CountingStorage
    raise AttributeError(name)
