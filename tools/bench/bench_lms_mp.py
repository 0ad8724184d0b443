# bench_lms_mp.py: the MicroPython side of tools/bench/bench_lms.py
# (sections 6 and 7). Runs under the MicroPython unix port and under CPython
# (bench_lms.py imports bench_sign() so both runtimes run the same procedure).
#
#   micropython bench_lms_mp.py verify CASES LIBDIRS REPEAT
#       CASES: text file, one case a line: tag TAB pub_hex TAB msg_hex TAB sig_hex.
#       Times lms_py.verify and (if importable) _lms.verify on every case,
#       best of REPEAT (lms_py) / 20*REPEAT (_lms) with time.ticks_us.
#   micropython bench_lms_mp.py sign KEYPATH LIBDIRS N H [SNAPDIR|- [pytree]]
#       lms_state.generate() of an L=2 LMS_SHA256_M32_H<H>/LMOTS_SHA256_N32_W4
#       key (both levels) in hgstore.FileStorage(KEYPATH), N signatures, then the bottom
#       tree to its end and the rollover signature; storage calls are counted.
#       pytree: also a rollover and a key generation with the trees built by
#       lms_py.walk_tree (what a board whose heap cannot hold the node array
#       does). SNAPDIR: copy of the key files right after generate (bench_lms.py
#       loads it with `micropython -X heapsize=... -c ...` to find the
#       smallest heap that loads the key and signs; a one-liner, so this
#       script's own bytecode is not on that heap).
# LIBDIRS: colon-separated folders appended to sys.path (after .frozen, so a
# binary with frozen lib/ uses its frozen modules). Results: one JSON object
# a line.
import gc
import sys
import time

try:
    import json
except ImportError:
    json = None

if hasattr(time, "ticks_us"):

    def _t0():
        return time.ticks_us()

    def _us(t0):
        return time.ticks_diff(time.ticks_us(), t0)

else:

    def _t0():
        return time.perf_counter()

    def _us(t0):
        return (time.perf_counter() - t0) * 1e6


def _emit(d):
    print(json.dumps(d))


def runtime():
    impl = sys.implementation
    d = {"name": impl.name, "version": ".".join(str(x) for x in impl.version[:3])}
    for k in ("_build", "_machine"):
        v = getattr(impl, k, None)
        if v:
            d[k[1:]] = v
    return d


def _unhex(h):
    try:
        return bytes.fromhex(h)
    except AttributeError:
        import binascii

        return binascii.unhexlify(h)


# ---------------------------------------------------------------- verify


def _best(fn, args, n):
    best = None
    for _ in range(n):
        t = _t0()
        fn(*args)
        dt = _us(t)
        if best is None or dt < best:
            best = dt
    return best


def bench_verify(cases_path, repeat):
    cases = []
    with open(cases_path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 4:
                cases.append((parts[0], _unhex(parts[1]), _unhex(parts[2]), _unhex(parts[3])))
    import lms_py

    backends = [("lms_py", lms_py, repeat)]
    try:
        import _lms

        backends.append(("_lms", _lms, 20 * repeat))
    except ImportError:
        _emit({"note": "_lms not importable here"})
    for tag, pub, msg, sig in cases:
        for name, mod, n in backends:
            r = {"tag": tag, "backend": name, "file": getattr(mod, "__file__", "built-in")}
            comp = getattr(mod, "compressions", None)
            if comp:
                comp(True)
            rc = mod.verify(pub, msg, sig)
            if comp:
                r["compressions"] = comp(True)
            if rc != 0:
                r["error"] = "verify returned %r" % (rc,)
            else:
                gc.collect()
                r["us"] = _best(mod.verify, (pub, msg, sig), n)
                r["n"] = n
            _emit(r)


# ---------------------------------------------------------------- signing


def _io(st):
    """What reached an hgstore.CountingStorage: atomic file replaces
    (FileStorage: write a temporary file, fsync, rename) of the key file
    ("state") and of the node caches, the bytes in them, and reads."""
    c = st.per_name.get("state") or (0, 0)
    return {"state_writes": c[0], "state_bytes": c[1], "blob_writes": st.writes - c[0],
            "blob_bytes": st.write_bytes - c[1], "reads": st.reads, "read_bytes": st.read_bytes}


def _state_writes(st):
    c = st.per_name.get("state")
    return c[0] if c else 0


def _copy_key(src, dst, levels):
    names = [""] + [".nodes%d" % i for i in range(levels)]
    for suffix in names:
        with open(src + suffix, "rb") as f:
            data = f.read()
        with open(dst + suffix, "wb") as f:
            f.write(data)


def _ccount(lms):
    # SHA-256 compressions counted by the C backend (0 without a counter)
    fn = getattr(getattr(lms, "_b", None), "compressions", None)
    return fn() if fn else 0


def bench_sign(keypath, n, h=10, snap=None, pytree=False):
    """lms_state on hgstore.FileStorage(keypath): generate an L=2 H<h>/W4 over
    H<h>/W4 key, sign n messages, fill the bottom tree, sign across the
    rollover; pytree: then a second rollover and a key generation with the
    trees built in Python (lms_py.walk_tree, as on a small board). Returns
    a dict of times (us), storage counts and (MicroPython) heap figures."""
    import hgstore
    import lms
    import lms_state

    lt = {5: lms.LMS_SHA256_M32_H5, 10: lms.LMS_SHA256_M32_H10}[h]
    ot = lms.LMOTS_SHA256_N32_W4
    st = hgstore.CountingStorage(hgstore.FileStorage(keypath))
    has_mem = hasattr(gc, "mem_alloc")
    r = {"runtime": runtime(), "backend": lms.BACKEND, "h": h, "n": n}
    gc.collect()
    c0 = _ccount(lms)
    t = _t0()
    s = lms_state.generate(st, params=[(lt, ot), (lt, ot)])
    r["keygen_us"] = _us(t)
    r["keygen_c_compressions"] = _ccount(lms) - c0
    r["keygen_io"] = _io(st)
    r["chunk"] = s.chunk
    if snap:
        _copy_key(keypath, snap, s.levels)
    buf = bytearray(s.sig_len())
    r["sig_len"] = len(buf)
    msgs = [b"hourglass manifest %d" % i for i in range(n)]
    st.reset()
    best = worst = None
    w_n = w_us = 0  # signatures that wrote the state (chunk reservations)
    t = _t0()
    for i in range(n):
        w0 = _state_writes(st)
        t1 = _t0()
        s.sign_into(msgs[i], buf)
        dt = _us(t1)
        if _state_writes(st) != w0:
            w_n += 1
            w_us += dt
        if best is None or dt < best:
            best = dt
        if worst is None or dt > worst:
            worst = dt
    r["sign_total_us"] = _us(t)
    r["sign_best_us"] = best
    r["sign_worst_us"] = worst
    r["sign_writing_n"] = w_n
    r["sign_writing_us"] = w_us
    r["sign_io"] = _io(st)
    msgs = None
    if not lms.verify(s.public_key, b"hourglass manifest %d" % (n - 1), buf):
        r["error"] = "last signature does not verify"
    if has_mem:
        # one steady-state signature with the GC off: everything it allocates
        msg = b"heap probe"
        gc.collect()
        a = gc.mem_alloc()
        gc.disable()
        try:
            s.sign_into(msg, buf)
            r["sign_alloc_bytes"] = gc.mem_alloc() - a
        finally:
            gc.enable()
    # to the end of the bottom tree, then the signature that rolls over.
    # gc.collect() first: lms_state._host_tree() builds the tree in C only
    # when 4x its node array (64 KiB for H10) is below gc.mem_free(), which
    # counts uncollected garbage as used; without it the path is random.
    end = 1 << h
    while s.info()["next"][-1] < end:
        s.sign_into(b"fill", buf)
    st.reset()
    gc.collect()
    c0 = _ccount(lms)
    t = _t0()
    s.sign_into(b"first after rollover", buf)
    r["rollover_us"] = _us(t)
    r["rollover_c_compressions"] = _ccount(lms) - c0
    r["rollover_io"] = _io(st)
    r["rollover_ok"] = bool(lms.verify(s.public_key, b"first after rollover", buf))
    st.reset()
    t = _t0()
    s.sign_into(b"second after rollover", buf)
    r["after_rollover_us"] = _us(t)
    if pytree:
        # The path of a small board (the node array never fits): every tree
        # built by lms_py.walk_tree with O(h) RAM. A second rollover (tree 3)
        # and a key generation, both that way.
        host_tree = lms_state._host_tree
        lms_state._host_tree = lambda *a: None
        try:
            while s.info()["next"][-1] < end:
                s.sign_into(b"fill", buf)
            gc.collect()
            c0 = _ccount(lms)
            t = _t0()
            s.sign_into(b"rollover, Python tree", buf)
            r["rollover_py_us"] = _us(t)
            r["rollover_py_c_compressions"] = _ccount(lms) - c0
            r["rollover_py_ok"] = bool(lms.verify(s.public_key, b"rollover, Python tree", buf))
            gc.collect()
            t = _t0()
            lms_state.generate(hgstore.MemoryStorage(), params=[(lt, ot), (lt, ot)])
            r["keygen_py_us"] = _us(t)
        finally:
            lms_state._host_tree = host_tree
    if has_mem:
        # the heap a signer holds in steady state: a fresh load() of the
        # same key plus one signature, after gc.collect() (the signature
        # buffer, allocated before, is not counted; sig_len says its size)
        s = None
        gc.collect()
        a = gc.mem_alloc()
        s = lms_state.load(st)
        gc.collect()
        r["signer_heap_loaded_bytes"] = gc.mem_alloc() - a
        s.sign_into(b"steady", buf)
        gc.collect()
        r["signer_heap_bytes"] = gc.mem_alloc() - a
    return r


def _add_libs(libdirs):
    for d in libdirs.split(":"):
        if d and d not in sys.path:
            sys.path.append(d)


def main(argv):
    mode = argv[1]
    _add_libs(argv[3])
    if mode == "verify":
        _emit({"runtime": runtime()})
        bench_verify(argv[2], int(argv[4]))
    elif mode == "sign":
        snap = argv[6] if len(argv) > 6 and argv[6] != "-" else None
        pytree = len(argv) > 7 and argv[7] == "pytree"
        _emit(bench_sign(argv[2], int(argv[4]), int(argv[5]), snap, pytree))
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main(sys.argv)
