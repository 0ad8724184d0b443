# hgstore: the storage interface security state is persisted through.
# Every method of MemoryStorage and FileStorage, atomic replace, power cuts
# (MemoryStorage's injection; FileStorage's crash states made by hand), the
# counting wrapper. FileStorage runs in a fresh folder under /tmp (CPython
# and the unix port); the qemu image has no filesystem: visible skip.

import hgstore
from hgstore import CountingStorage, FileStorage, MemoryStorage, PowerCut
from hgtest import fs_dir, raises

VALUES = [b"v1", b"value two", b"", bytes(range(256)) * 3, b"v5"]
BAD_NAMES = ("", "a/b", "../x", "x.tmp", "x.new", None, 7, b"state")


def _versions(st, name):
    # write VALUES in order; return how many completed before a PowerCut
    done = 0
    try:
        for v in VALUES:
            st.write(name, v)
            done += 1
    except PowerCut:
        pass
    return done


# ---------------------------------------------------------------- memory


def test_memory_read_write_replace():
    st = MemoryStorage()
    assert st.read("a") is None
    st.write("a", b"one")
    st.write("b", bytearray(b"two"))
    st.write("c", memoryview(b"xthreex")[1:6])
    assert bytes(st.read("a")) == b"one"
    assert bytes(st.read("b")) == b"two"
    assert bytes(st.read("c")) == b"three"
    st.write("a", b"")
    assert bytes(st.read("a")) == b""
    st.write("a", b"new")
    assert bytes(st.read("a")) == b"new" and bytes(st.read("b")) == b"two"
    assert st.writes == 5
    assert sorted(st.durable) == ["a", "b", "c"]


def test_memory_read_parts():
    st = MemoryStorage()
    st.write("n", bytes(range(40)))
    assert st.read_parts("n", (0, 8, 36), 4) == bytes((0, 1, 2, 3, 8, 9, 10, 11, 36, 37, 38, 39))
    assert st.read_parts("n", (), 4) == b""
    assert st.read_parts("n", [10], 0) == b""
    raises(OSError, st.read_parts, "n", (37,), 4)  # past the end
    raises(OSError, st.read_parts, "n", (-1,), 4)
    raises(OSError, st.read_parts, "missing", (0,), 1)


def test_memory_blob():
    st = MemoryStorage()
    st.write("b", b"old")
    w = st.open_blob("b")
    w.write(b"abc")
    w.write(bytearray(b"def"))
    w.write(memoryview(b"ghi"))
    assert bytes(st.read("b")) == b"old"  # nothing visible before commit
    assert st.writes == 1
    w.commit()
    assert bytes(st.read("b")) == b"abcdefghi" and st.writes == 2
    assert st.read_parts("b", (3,), 3) == b"def"
    # a writer dropped without commit leaves the previous value
    w = st.open_blob("b")
    w.write(b"zzz")
    w = None
    assert bytes(st.read("b")) == b"abcdefghi" and st.writes == 2
    # a first blob
    w = st.open_blob("fresh")
    assert st.read("fresh") is None
    w.commit()
    assert bytes(st.read("fresh")) == b""


def test_memory_names():
    st = MemoryStorage()
    for name in BAD_NAMES:
        raises(ValueError, st.write, name, b"x")
        raises(ValueError, st.read, name)
        raises(ValueError, st.read_parts, name, (0,), 1)
        raises(ValueError, st.open_blob, name)
        raises(ValueError, hgstore.check_name, name)
    assert st.writes == 0 and not st.durable
    assert hgstore.check_name("nodes0") == "nodes0"
    assert hgstore.check_name("oscore.dev") == "oscore.dev"


def test_power_cut_at_write_n_leaves_previous_value():
    for n in range(1, len(VALUES) + 2):
        st = MemoryStorage(cut_at=n, data={"other": b"keep"})
        done = _versions(st, "r")
        assert done == min(n - 1, len(VALUES)), (n, done)
        for st2 in (st, st.reboot()):
            got = st2.read("r")
            if done == 0:
                assert got is None
            else:
                assert bytes(got) == VALUES[done - 1], (n, done)
            assert bytes(st2.read("other")) == b"keep"


def test_power_cut_sticks_and_reboot():
    st = MemoryStorage()
    st.write("a", b"1")
    st.cut_at = st.writes + 1
    e = raises(PowerCut, st.write, "a", b"2")
    assert isinstance(e, OSError)
    raises(PowerCut, st.write, "b", b"x")  # every later write fails too
    w = st.open_blob("a")
    w.write(b"blob")
    raises(PowerCut, w.commit)
    assert bytes(st.read("a")) == b"1" and st.read("b") is None
    assert st.writes == 4
    st2 = st.reboot()
    assert st2.cut_at is None and st2.writes == 0
    assert bytes(st2.read("a")) == b"1"
    st2.write("a", b"3")  # the rebooted storage works and is independent
    assert bytes(st2.read("a")) == b"3" and bytes(st.read("a")) == b"1"
    # a blob commit is one write for the count
    st3 = MemoryStorage(cut_at=2)
    w = st3.open_blob("n")
    w.write(b"x" * 100)
    w.commit()
    w = st3.open_blob("n")
    w.write(b"y" * 100)
    raises(PowerCut, w.commit)
    assert bytes(st3.reboot().read("n")) == b"x" * 100


def test_memory_seeded():
    base = MemoryStorage()
    base.write("s", b"state")
    st = MemoryStorage(cut_at=1, data=base.durable)
    assert bytes(st.read("s")) == b"state"
    raises(PowerCut, st.write, "s", b"new")
    assert bytes(base.read("s")) == b"state" and bytes(st.read("s")) == b"state"


# ---------------------------------------------------------------- counting


def test_counting_storage():
    st = CountingStorage()
    assert isinstance(st.inner, MemoryStorage)
    st.write("state", bytearray(b"12345"))
    st.write("state", b"678")
    w = st.open_blob("nodes0")
    w.write(b"ab")
    w.write(b"cd")
    w.commit()
    assert st.writes == 3 and st.write_bytes == 12
    assert st.per_name == {"state": [2, 8], "nodes0": [1, 4]}
    assert bytes(st.read("state")) == b"678"
    assert st.read("none") is None
    assert st.read_parts("nodes0", (0, 2), 2) == b"abcd"
    assert st.reads == 3 and st.read_bytes == 7
    st.reset()
    assert (st.writes, st.write_bytes, st.reads, st.read_bytes, st.per_name) == (0, 0, 0, 0, {})
    # failed writes are not counted; the cut passes through
    inner = MemoryStorage(cut_at=1)
    st = CountingStorage(inner)
    raises(PowerCut, st.write, "x", b"1")
    assert st.writes == 0 and inner.writes == 1


# ---------------------------------------------------------------- files


def _fs_dir():
    return fs_dir("hgstore_")


def _ls(d):
    import os

    return sorted(os.listdir(d))


def _rm(d):
    import os

    for n in os.listdir(d):
        os.remove(d + "/" + n)
    os.rmdir(d)


def _put(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _get(path):
    with open(path, "rb") as f:
        return f.read()


def _with_dir(fn):
    d = _fs_dir()
    try:
        fn(d)
    finally:
        _rm(d)


def test_file_read_write_replace():
    def run(d):
        st = FileStorage(d + "/key")
        assert st.read("state") is None and st.read("nodes0") is None
        st.write("state", b"key file")
        st.write("nodes0", bytearray(b"nodes"))
        st.write("x", memoryview(b"xviewx")[1:5])
        # "state" is the file itself, other names path.<name>; no temporaries left
        assert _ls(d) == ["key", "key.nodes0", "key.x"]
        assert _get(d + "/key") == b"key file"
        assert st.read("state") == b"key file" and st.read("nodes0") == b"nodes"
        assert st.read("x") == b"view"
        st.write("state", b"")
        assert st.read("state") == b""
        st.write("state", b"replaced")
        assert st.read("state") == b"replaced"
        assert _ls(d) == ["key", "key.nodes0", "key.x"]
        # a new FileStorage on the same path (a reboot) sees the same records
        st2 = FileStorage(d + "/key")
        assert st2.read("state") == b"replaced" and st2.read("x") == b"view"

    _with_dir(run)


def test_file_read_parts():
    def run(d):
        st = FileStorage(d + "/k")
        st.write("n", bytes(range(40)))
        assert st.read_parts("n", (0, 8, 36), 4) == bytes((0, 1, 2, 3, 8, 9, 10, 11, 36, 37, 38, 39))
        assert st.read_parts("n", (), 4) == b""
        raises(OSError, st.read_parts, "n", (37,), 4)
        raises(OSError, st.read_parts, "n", (-1,), 4)
        raises(OSError, st.read_parts, "missing", (0,), 1)

    _with_dir(run)


def test_file_blob():
    def run(d):
        st = FileStorage(d + "/k")
        w = st.open_blob("nodes1")
        w.write(b"abc")
        w.write(bytearray(b"def"))
        assert st.read("nodes1") is None  # a first write is invisible until commit
        w.commit()
        assert st.read("nodes1") == b"abcdef"
        w = st.open_blob("nodes1")
        for i in range(100):
            w.write(bytes((i,)) * 10)
        assert st.read("nodes1") == b"abcdef"  # the old value until commit
        w.commit()
        data = st.read("nodes1")
        assert len(data) == 1000 and data[995:] == b"\x63" * 5
        assert st.read_parts("nodes1", (10, 990), 10) == b"\x01" * 10 + b"\x63" * 10
        assert _ls(d) == ["k.nodes1"]

    _with_dir(run)


def test_file_names():
    def run(d):
        st = FileStorage(d + "/k")
        for name in BAD_NAMES:
            raises(ValueError, st.write, name, b"x")
            raises(ValueError, st.read, name)
            raises(ValueError, st.read_parts, name, (0,), 1)
            raises(ValueError, st.open_blob, name)
        assert _ls(d) == []

    _with_dir(run)


def test_file_crash_states():
    # The files a power cut can leave at each step of a write, made by
    # hand; read() must give a complete value, the newest one available.
    def run(d):
        p = d + "/k"
        st = FileStorage(p)
        # 1. cut while writing a first value: a partial .new, no target
        w = st.open_blob("state")
        w.write(b"partial")
        w._fh.close()
        assert _ls(d) == ["k.new"]
        assert FileStorage(p).read("state") is None
        # the next write succeeds over the leftover
        st.write("state", b"v1")
        assert FileStorage(p).read("state") == b"v1"
        # 2. cut while writing over an existing value: partial .tmp, target intact
        w = st.open_blob("state")
        w.write(b"v2 torn")
        w._fh.close()
        assert "k.tmp" in _ls(d)
        assert FileStorage(p).read("state") == b"v1"
        raises(OSError, FileStorage(p).read_parts, "state", (0,), 3)  # only 2 bytes in v1
        # 3. FAT rename (remove the target, then rename): cut in between
        #    leaves only the complete .tmp
        import os

        _put(p + ".tmp", b"v2 complete")
        os.remove(p)
        st2 = FileStorage(p)
        assert st2.read("state") == b"v2 complete"
        assert st2.read_parts("state", (3,), 8) == b"complete"
        # and a partial write after that still leaves v2
        w = st2.open_blob("state")
        w.write(b"v3 torn")
        w._fh.close()
        assert FileStorage(p).read("state") == b"v2 complete"
        st2.write("state", b"v3")
        assert FileStorage(p).read("state") == b"v3"
        st2.write("state", b"v4")
        assert FileStorage(p).read("state") == b"v4"

    _with_dir(run)


def test_file_power_cut_at_write_n_leaves_previous_value():
    # write N dies part-way (the writer never commits): every earlier
    # value is complete, the last completed one is what a reboot reads
    def run(d):
        for n in range(1, len(VALUES) + 1):
            p = d + "/r" + str(n)
            st = FileStorage(p)
            for v in VALUES[: n - 1]:
                st.write("rec", v)
            w = st.open_blob("rec")
            w.write(VALUES[n - 1][:1] + b"\xee" * 7)
            w._fh.close()  # the power fails here
            got = FileStorage(p).read("rec")
            if n == 1:
                assert got is None
            else:
                assert got == VALUES[n - 2], n

    _with_dir(run)
