# hgstore_count: hgstore's CountingStorage, the wrapper that counts what
# reaches a storage (benches and tests; see the top of hgstore.py). A module
# of its own so that devices do not carry it on their heap;
# `hgstore.CountingStorage` imports it on first use.
from hgstore import MemoryStorage


class CountingStorage:
    """Wraps a storage (default: a new MemoryStorage) and counts what
    reaches it: writes (completed write() calls and blob commits),
    write_bytes, reads (read() and read_parts() calls), read_bytes, and
    per_name[name] = [writes, bytes written]. reset() zeroes them."""

    def __init__(self, inner=None):
        self.inner = MemoryStorage() if inner is None else inner
        self.reset()

    def reset(self):
        self.writes = 0
        self.write_bytes = 0
        self.reads = 0
        self.read_bytes = 0
        self.per_name = {}

    def _wrote(self, name, n):
        self.writes += 1
        self.write_bytes += n
        c = self.per_name.get(name)
        if c is None:
            c = self.per_name[name] = [0, 0]
        c[0] += 1
        c[1] += n

    def _read(self, d):
        self.reads += 1
        if d is not None:
            self.read_bytes += len(d)
        return d

    def read(self, name):
        return self._read(self.inner.read(name))

    def write(self, name, data):
        n = len(data)  # before: the inner storage may take a bytearray over
        self.inner.write(name, data)
        self._wrote(name, n)

    def read_parts(self, name, offsets, size):
        return self._read(self.inner.read_parts(name, offsets, size))

    def open_blob(self, name):
        return _CountingBlob(self, name, self.inner.open_blob(name))

    def open_reader(self, name):
        r = self.inner.open_reader(name)
        if r is None:
            return None
        self.reads += 1  # one read per reader; its bytes as they arrive
        return _CountingReader(self, r)


class _CountingBlob:
    def __init__(self, st, name, inner):
        self._st = st
        self._name = name
        self._inner = inner
        self._n = 0

    def write(self, data):
        self._inner.write(data)
        self._n += len(data)

    def commit(self):
        self._inner.commit()
        self._st._wrote(self._name, self._n)


class _CountingReader:
    def __init__(self, st, inner):
        self._st = st
        self._inner = inner
        self.size = inner.size

    def readinto(self, buf):
        n = self._inner.readinto(buf)
        self._st.read_bytes += n
        return n

    def close(self):
        self._inner.close()
