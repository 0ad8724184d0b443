# hgstore.open_reader: a big record read back in bounded chunks (SUIT slots
# hashed at boot), on all three storages. FileStorage needs a filesystem:
# visible skip on the qemu image.

from hgstore import CountingStorage, FileStorage, MemoryStorage, PowerCut
from hgtest import fs_dir, raises

BLOB = bytes((i * 7 + (i >> 8)) & 255 for i in range(3000))


def _read_all(r, chunk):
    buf = bytearray(chunk)
    mv = memoryview(buf)
    out = bytearray()
    sizes = []
    while True:
        n = r.readinto(mv)
        if n == 0:
            break
        sizes.append(n)
        out += mv[:n]
    r.close()
    return bytes(out), sizes


def _check_storage(st):
    assert st.open_reader("missing") is None
    w = st.open_blob("img")
    for i in range(0, len(BLOB), 700):
        w.write(BLOB[i : i + 700])
    w.commit()
    r = st.open_reader("img")
    assert r.size == len(BLOB)
    got, sizes = _read_all(r, 512)
    assert got == BLOB
    assert sizes == [512] * 5 + [3000 - 5 * 512]
    # an empty record: size 0, readinto gives 0 at once
    st.write("empty", b"")
    r = st.open_reader("empty")
    assert r.size == 0 and _read_all(r, 16) == (b"", [])
    raises(ValueError, st.open_reader, "a/b")


def test_memory_reader():
    _check_storage(MemoryStorage())


def test_memory_reader_sees_value_at_open():
    st = MemoryStorage()
    st.write("r", b"old value")
    r = st.open_reader("r")
    w = st.open_blob("r")
    w.write(b"NEW")
    w.commit()  # replaces the record while the old reader is open
    got, _ = _read_all(r, 4)
    assert got == b"old value"
    got, _ = _read_all(st.open_reader("r"), 4)
    assert got == b"NEW"


def test_memory_reader_after_power_cut():
    st = MemoryStorage()
    st.write("r", b"first")
    st.cut_at = st.writes + 1
    w = st.open_blob("r")
    w.write(b"second")
    raises(PowerCut, w.commit)
    st = st.reboot()
    got, _ = _read_all(st.open_reader("r"), 64)
    assert got == b"first"


def test_counting_reader():
    st = CountingStorage()
    _check_storage(st)
    # img: one reader, 3000 bytes; empty: one reader, 0 bytes
    assert st.reads == 2 and st.read_bytes == 3000
    st.reset()
    assert st.open_reader("missing") is None and st.reads == 0


def _fs_path():
    return fs_dir("hgchunks_") + "/key"


def _cleanup(path):
    import os

    d = path.rsplit("/", 1)[0]
    for n in os.listdir(d):
        os.remove(d + "/" + n)
    os.rmdir(d)


def test_file_reader():
    path = _fs_path()
    try:
        _check_storage(FileStorage(path))
    finally:
        _cleanup(path)


def test_file_reader_rename_window():
    # FAT rename window: only the complete .tmp is left; the reader finds it
    path = _fs_path()
    try:
        import os

        st = FileStorage(path)
        st.write("img", BLOB)
        os.rename(path + ".img", path + ".img.tmp")
        r = st.open_reader("img")
        assert r.size == len(BLOB)
        assert _read_all(r, 1000)[0] == BLOB
    finally:
        _cleanup(path)
