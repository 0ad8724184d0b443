# hgstore_file: hgstore's FileStorage (one file per record, atomic replace
# by temporary file, fsync and rename; the contract is at the top of
# hgstore.py). A module of its own so that a device that keeps its records
# elsewhere does not carry these classes on its heap; `hgstore.FileStorage`
# imports it on first use.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from hgstore import STATE, check_name

_EIO = const(5)


def _exists(path):
    import os

    try:
        os.stat(path)
        return True
    except OSError:
        return False


class FileStorage:
    """Records in files: "state" at `path`, any other name at
    `path.<name>`; atomic replace by temporary file, fsync and rename."""

    def __init__(self, path):
        self.path = path

    def _file(self, name):
        check_name(name)
        return self.path if name == STATE else self.path + "." + name

    def _open(self, name):
        # the target, else (FAT rename window) its complete .tmp
        f = self._file(name)
        try:
            return open(f, "rb")
        except OSError:
            return open(f + ".tmp", "rb")

    def read(self, name):
        try:
            fh = self._open(name)
        except OSError:
            return None
        with fh:
            return fh.read()

    def write(self, name, data):
        w = self.open_blob(name)
        w.write(data)
        w.commit()

    def read_parts(self, name, offsets, size):
        out = bytearray()
        with self._open(name) as fh:
            for o in offsets:
                if o < 0 or size < 0:
                    raise OSError(_EIO, "short read")
                fh.seek(o)
                b = fh.read(size)
                if len(b) != size:
                    raise OSError(_EIO, "short read")
                out += b
        return bytes(out)

    def open_blob(self, name):
        return _FileBlob(self._file(name))

    def open_reader(self, name):
        try:
            fh = self._open(name)
        except OSError:
            return None
        return _FileReader(fh)


class _FileReader:
    def __init__(self, fh):
        self._fh = fh
        fh.seek(0, 2)
        self.size = fh.tell()
        fh.seek(0)

    def readinto(self, buf):
        n = self._fh.readinto(buf)
        return n or 0

    def close(self):
        self._fh.close()


def _sync(fh):
    fh.flush()
    try:
        import os

        os.fsync(fh.fileno())
    except (ImportError, AttributeError, OSError):
        pass


class _FileBlob:
    def __init__(self, path):
        self._path = path
        # .tmp only while the target exists (see the top): a partial first
        # write is never mistaken for the FAT rename window
        self._tmp = path + (".tmp" if _exists(path) else ".new")
        self._fh = open(self._tmp, "wb")

    def write(self, data):
        self._fh.write(data)

    def commit(self):
        import os

        _sync(self._fh)
        self._fh.close()
        os.rename(self._tmp, self._path)
        try:  # make the rename durable (POSIX); not needed on device
            d = os.path.dirname(os.path.abspath(self._path))
            fd = os.open(d, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except (ImportError, AttributeError, OSError):
            pass
