# lms_state: the HSS signer whose one-time keys can never be used twice.
#
# An HSS key of L levels (default L=2, LMS_SHA256_M32_H10 over H10, LM-OTS
# W4: 2^20 signatures). Level 0's tree is the public key; level i+1's
# current tree was created and signed by leaf t_{i+1} of level i's current
# tree. A signature is u32str(L-1) || (sig_i || pub_i for i = 1..L-1) ||
# the bottom tree's signature of the message (RFC 8554 section 6.2).
#
# ---------------------------------------------------------- key file format
# One CBOR map with integer keys, written only through the storage's atomic
# replace (shared with `hourglass lms`):
#    0: 1                        format version
#    1: L                        levels, 1..8
#    2: [lms_0, ots_0, ..., lms_{L-1}, ots_{L-1}]   typecodes, top first
#    3: SEED_0                   top seed (m bytes of LMS type lms_0)
#    4: I_0                      top identifier (16 bytes)
#    5: [R_0, ..., R_{L-1}]      reservation bounds: leaves q < R_i of level
#                                i's current tree may have been used; after
#                                a restart level i continues at leaf R_i
#    6: [t_1, ..., t_{L-1}]      leaf of level i-1 that created level i's tree
#    7: [sig_1, ..., sig_{L-1}]  LMS signature by that leaf of pub_i
#    8: [pub_1, ..., pub_{L-1}]  LMS public keys of the current lower trees
#    9: HSS public key
#   10: chunk                    bottom-level reservation size
#   -1: check                    SHA-256 of the map encoded without -1, first
#                                16 bytes (a torn or edited file is refused)
# Lower-level SEED/I are not stored: like the RFC 8554 Appendix A key
# derivation (and cisco/hash-sigs' child seeds),
#   SEED_i = H(I_{i-1} || u32str(t_i) || u16str(0xfffe) || u8str(0xff) || SEED_{i-1})
#   I_i    = H(I_{i-1} || u32str(t_i) || u16str(0xffff) || u8str(0xff) || SEED_{i-1})
# truncated to m and 16 bytes (i = 0xfffe/0xffff never collide with the
# chain indexes < 266 nor the randomizer's 0xfffd). The current bottom tree
# index is t_{L-1}; the next leaf in RAM starts at R_{L-1}.
#
# ---------------------------------------------------------- never reuse
# Bottom-level leaves are RESERVED in chunks (default 64): before a
# signature from leaf q leaves sign(), a state with R > q has been
# durably written, so a crash wastes at most one chunk and never repeats a
# leaf; close() at a clean shutdown gives the unused rest of the chunk
# back. Upper-level leaves are reserved one at a time (they are used once
# per lower tree). When the bottom tree is spent, it and every spent tree
# above it (levels j..L-1) are replaced together: the new trees are built
# first (their node caches), then the parent leaf t of level j-1 is
# reserved and persisted, then it signs the new level-j public key and
# leaf 0 of each new tree signs the one below, then ONE state write names
# all the new trees (their leaf 0 spent) - and only then can a signature
# under them leave. So every write leaves a key file that loads (the old
# trees or all the new ones, never a mix), and a crash in between wastes
# leaf t (one level-j tree) but never reuses it: the abandoned trees are
# derived from t and never come back. The whole key exhausted raises
# KeyExhausted("key exhausted"), an LMSError; nothing wraps around. Any
# other failure inside sign() (storage error, failed self-check) leaves
# the signer unusable until it is loaded again from storage.
#
# ---------------------------------------------------------- auth paths
# Choice: tree nodes are cached in storage, one blob per level ("nodes0",
# "nodes1", ...; FileStorage: KEYFILE.nodes0 ...), 2^(h+1)-1 nodes of m
# bytes in post-order (the order treehash produces them, so a blob is
# written sequentially with O(h) nodes of RAM and no seeking). Why: a
# signature then costs one LM-OTS signature plus h small reads, with RAM
# independent of h; the bounded alternative (treehash per signature)
# recomputes all 2^h one-time public keys (~1.1M SHA-256 for H10/W4) for
# every signature, and a RAM cache (64 KiB for H10) does not fit a 64 KiB
# board. The blob is rebuilt once per lower tree (every 2^h signatures),
# costs 64 KiB of flash per H10 level, is a pure cache (rebuilt from the
# key if missing or stale: its root is checked against the key), and every
# signature is verified before it is released (self_check), which also
# catches a corrupt cache or a faulted computation.
#
# Storage: any object with hgstore's interface (lib/hgstore/hgstore.py
# documents it: read, write = atomic durable replace, read_parts, open_blob);
# records "state" (the key file) and "nodes<i>". hgstore.FileStorage(path)
# on the device and in `hourglass lms`, hgstore.MemoryStorage in tests
# (PowerCut injection).
#
# API: generate(storage, ...) / load(storage) -> Signer with sign(msg),
# sign_into(msg, buf) -> length (no signature-sized allocation: on a 64 KiB
# board allocate one sig_len() buffer early and reuse it), sig_len(),
# public_key, remaining(), info(), close(); describe(key_file_bytes).
# RAM: O(h) nodes while building a tree, one signature while signing; a
# state write encodes the key file once (~2.7 KB for H10/W4 over H10/W4).
import lms
import lms_py

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import cbor
import hgcrypto

LMSError = lms.LMSError


class KeyExhausted(LMSError):
    # every leaf of the top tree is spent
    pass


VERSION = const(1)
DEFAULT_CHUNK = const(64)
_BLOB_BUF = const(512)
_K_VERSION = const(0)
_K_LEVELS = const(1)
_K_TYPES = const(2)
_K_SEED = const(3)
_K_I = const(4)
_K_BOUNDS = const(5)
_K_TREES = const(6)
_K_SIGS = const(7)
_K_PUBS = const(8)
_K_HSS_PUB = const(9)
_K_CHUNK = const(10)
_K_CHECK = const(-1)
_CHECK_LEN = const(16)
_STATE = const("state")  # hgstore.STATE: FileStorage keeps it at `path` itself


def _u32str(x):
    return x.to_bytes(4, "big")


def _h(data):
    return hgcrypto.sha256_digest(data)


def _derive(seed, I, t, m):
    pre = bytes(I) + _u32str(t)
    return (
        _h(pre + b"\xff\xfe\xff" + seed)[:m],
        _h(pre + b"\xff\xff\xff" + seed)[:16],
    )


def _popcount(x):
    c = 0
    while x:
        x &= x - 1
        c += 1
    return c


def _post_pos(k, j):
    # Post-order position of node (height k, index j): it follows the
    # last leaf x of its subtree (at 2x - popcount(x)) and k parents.
    x = ((j + 1) << k) - 1
    return 2 * x - _popcount(x) + k


# ---------------------------------------------------------------- state codec


def _check_value(m):
    body = dict(m)
    body.pop(_K_CHECK, None)
    return _h(cbor.dumps(body))[:_CHECK_LEN]


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _is_bytes(x, n=None):
    return isinstance(x, (bytes, bytearray)) and (n is None or len(x) == n)


def _bad():
    return LMSError("bad key file")


def decode_state(data):
    """Validate a key file and return its map (integer keys as documented).
    LMSError("bad key file") for anything malformed or tampered with."""
    try:
        m = cbor.loads(data)
    except (ValueError, TypeError, IndexError, KeyError):
        raise _bad()
    if not isinstance(m, dict):
        raise _bad()
    for k in m:
        if not _is_int(k) or k < _K_CHECK or k > _K_CHUNK:
            raise _bad()
    chk = m.get(_K_CHECK)
    if not _is_bytes(chk, _CHECK_LEN) or chk != _check_value(m):
        raise _bad()
    if m.get(_K_VERSION) != VERSION:
        raise LMSError("unsupported key file version")
    L = m.get(_K_LEVELS)
    if not _is_int(L) or L < 1 or L > lms.MAX_LEVELS:
        raise _bad()
    types = m.get(_K_TYPES)
    if not isinstance(types, list) or len(types) != 2 * L:
        raise _bad()
    for i in range(L):
        if not _is_int(types[2 * i]) or not _is_int(types[2 * i + 1]):
            raise _bad()
        if not lms.supported(types[2 * i], types[2 * i + 1]):
            raise LMSError("unsupported parameter set")
    m0 = lms.LMS_PARAMS[types[0]][2]
    if not _is_bytes(m.get(_K_SEED), m0) or not _is_bytes(m.get(_K_I), 16):
        raise _bad()
    bounds = m.get(_K_BOUNDS)
    trees = m.get(_K_TREES)
    sigs = m.get(_K_SIGS)
    pubs = m.get(_K_PUBS)
    for v, n in ((bounds, L), (trees, L - 1), (sigs, L - 1), (pubs, L - 1)):
        if not isinstance(v, list) or len(v) != n:
            raise _bad()
    for i in range(L):
        h = lms.LMS_PARAMS[types[2 * i]][3]
        if not _is_int(bounds[i]) or bounds[i] < 0 or bounds[i] > (1 << h):
            raise _bad()
        if i:
            t = trees[i - 1]
            if not _is_int(t) or t < 0 or t >= (1 << lms.LMS_PARAMS[types[2 * i - 2]][3]):
                raise _bad()
            if t >= bounds[i - 1]:  # the parent leaf must be spent
                raise _bad()
            lt, ot = types[2 * i], types[2 * i + 1]
            if not _is_bytes(pubs[i - 1], lms.lms_pub_len(lt)):
                raise _bad()
            if not _is_bytes(sigs[i - 1], lms.lms_sig_len(types[2 * i - 2], types[2 * i - 1])):
                raise _bad()
    chunk = m.get(_K_CHUNK)
    if not _is_int(chunk) or chunk < 1:
        raise _bad()
    pub = m.get(_K_HSS_PUB)
    if not _is_bytes(pub, 4 + lms.lms_pub_len(types[0])):
        raise _bad()
    return m


def _encode_state(m):
    # One encoding pass (RAM): deterministic CBOR sorts the keys bytewise, so
    # the check entry (key -1 = 0x20) comes after keys 0..10 and the final
    # encoding is the body's with the map head counting one more entry.
    body = dict(m)
    body.pop(_K_CHECK, None)
    x = cbor.dumps(body)
    n = len(body)
    if n > 22 or x[0] != 0xA0 + n:
        raise LMSError("bad key state")
    out = bytearray(len(x) + 2 + _CHECK_LEN)
    out[0] = x[0] + 1
    out[1 : len(x)] = memoryview(x)[1:]
    out[len(x)] = 0x20  # -1
    out[len(x) + 1] = 0x40 + _CHECK_LEN  # bstr head
    out[len(x) + 2 :] = _h(x)[:_CHECK_LEN]
    return out


# ---------------------------------------------------------------- signer


class Signer:
    """Use generate() or load(); then sign(msg) -> HSS signature bytes."""

    def __init__(self, storage, m, self_check=True):
        self._st = storage
        self.self_check = self_check
        self._dead = False
        self.levels = L = m[_K_LEVELS]
        types = m[_K_TYPES]
        self.params = [(types[2 * i], types[2 * i + 1]) for i in range(L)]
        self.public_key = bytes(m[_K_HSS_PUB])
        self.chunk = m[_K_CHUNK]
        self._bounds = list(m[_K_BOUNDS])
        self._next = list(m[_K_BOUNDS])  # a restart resumes at the bounds
        self._trees = list(m[_K_TREES])
        self._sigs = [bytes(s) for s in m[_K_SIGS]]
        self._pubs = [bytes(p) for p in m[_K_PUBS]]
        self._seed0 = bytes(m[_K_SEED])
        self._I0 = bytes(m[_K_I])
        self._keys = None
        self._derive_all()

    # -- key material

    def _m(self, i):
        return lms.LMS_PARAMS[self.params[i][0]][2]

    def _h(self, i):
        return lms.LMS_PARAMS[self.params[i][0]][3]

    def _derive_all(self):
        keys = [(self._seed0, self._I0)]
        for i in range(1, self.levels):
            s, I = keys[i - 1]
            keys.append(_derive(s, I, self._trees[i - 1], self._m(i)))
        self._keys = keys

    def _lms_pub(self, i):
        return self.public_key[4:] if i == 0 else self._pubs[i - 1]

    # -- persistence

    def _state_map(self, bounds, trees, sigs, pubs):
        types = []
        for lt, ot in self.params:
            types.append(lt)
            types.append(ot)
        return {
            _K_VERSION: VERSION,
            _K_LEVELS: self.levels,
            _K_TYPES: types,
            _K_SEED: self._seed0,
            _K_I: self._I0,
            _K_BOUNDS: list(bounds),
            _K_TREES: list(trees),
            _K_SIGS: list(sigs),
            _K_PUBS: list(pubs),
            _K_HSS_PUB: self.public_key,
            _K_CHUNK: self.chunk,
        }

    def _persist(self, bounds, trees=None, sigs=None, pubs=None):
        # Write first; adopt in RAM only once the write has succeeded.
        trees = self._trees if trees is None else trees
        sigs = self._sigs if sigs is None else sigs
        pubs = self._pubs if pubs is None else pubs
        self._st.write(_STATE, _encode_state(self._state_map(bounds, trees, sigs, pubs)))
        self._bounds = list(bounds)
        self._trees = list(trees)
        self._sigs = list(sigs)
        self._pubs = list(pubs)

    # -- node cache

    def _blob(self, i):
        return "nodes" + str(i)

    def _build_blob(self, i, seed, I):
        # Writes level i's node cache (post-order) and returns the root.
        lt, ot = self.params[i]
        m = self._m(i)
        h = self._h(i)
        w = self._st.open_blob(self._blob(i))
        buf = bytearray(_BLOB_BUF + m)
        fill = [0]

        def emit(k, j, node):
            f = fill[0]
            buf[f : f + m] = node
            f += m
            if f >= _BLOB_BUF:
                w.write(bytes(buf[:f]))
                f = 0
            fill[0] = f

        nodes = _host_tree(lt, ot, I, seed, m, h)
        if nodes is not None:
            # post-order walk over the backend's heap-ordered nodes
            for x in range(1 << h):
                emit(0, x, nodes[((1 << h) + x) * m : ((1 << h) + x + 1) * m])
                k = 1
                while not ((x + 1) & ((1 << k) - 1)):
                    r = (1 << (h - k)) + ((x + 1) >> k) - 1
                    emit(k, 0, nodes[r * m : r * m + m])
                    k += 1
            root = bytes(nodes[m : 2 * m])
            nodes = None
        else:
            root = lms_py.walk_tree(lt, ot, I, seed, emit)
        if fill[0]:
            w.write(bytes(buf[: fill[0]]))
        w.commit()
        return root

    def _root_of_blob(self, i):
        try:
            h = self._h(i)
            return self._st.read_parts(self._blob(i), (_post_pos(h, 0) * self._m(i),), self._m(i))
        except OSError:
            return None

    def _path(self, i, q):
        m = self._m(i)
        h = self._h(i)
        offs = [_post_pos(k, (q >> k) ^ 1) * m for k in range(h)]
        return self._st.read_parts(self._blob(i), offs, m)

    def _ensure_blob(self, i):
        want = self._lms_pub(i)[24:]
        if self._root_of_blob(i) != want:
            seed, I = self._keys[i]
            if self._build_blob(i, seed, I) != want:
                raise LMSError("key does not match its tree")

    def _rebuild_blobs(self):
        try:
            for i in range(self.levels):
                seed, I = self._keys[i]
                self._build_blob(i, seed, I)
        except Exception:
            pass

    def _lms_sign(self, i, q, msg, key=None):
        # u32str(q) || LM-OTS signature || u32str(type) || path, in one buffer.
        # key: (SEED, I) of a tree whose cache was just built (not yet in
        # the state); else level i's current tree, its cache checked first.
        lt, ot = self.params[i]
        if key is None:
            key = self._keys[i]
            self._ensure_blob(i)
        seed, I = key
        o = 4 + lms.ots_sig_len(ot)
        path = self._path(i, q)
        out = bytearray(o + 4 + len(path))
        out[0:4] = _u32str(q)
        lms_py.ots_sign_into(out, 4, ot, I, q, seed, msg)
        out[o : o + 4] = _u32str(lt)
        out[o + 4 :] = path
        return bytes(out)

    # -- leaves

    def _exhausted(self, i):
        return self._next[i] >= (1 << self._h(i))

    def _take_leaf(self, i, chunk):
        # Next leaf of level i, reserved durably. Level i must not be exhausted.
        q = self._next[i]
        if q >= self._bounds[i]:
            b = list(self._bounds)
            b[i] = min(q + chunk, 1 << self._h(i))
            self._persist(b)
        return q

    def _new_trees(self):
        # The bottom tree is spent: replace it and every spent tree above it
        # (levels j..L-1) in ONE state write. Saving them one by one left,
        # after a cut between two saves, a new tree at level j above the
        # old, spent one below it that it never signed: a key file load()
        # must refuse, i.e. a dead key.
        bottom = self.levels - 1
        j = bottom
        while self._exhausted(j - 1):
            j -= 1
            if j == 0:
                raise KeyExhausted("key exhausted")
        t = self._next[j - 1]
        keys = list(self._keys)
        trees = list(self._trees)
        sigs = list(self._sigs)
        pubs = list(self._pubs)
        # The caches first (slow, no state change; they overwrite those of
        # spent trees only). Level j is child t of level j-1, each lower
        # one child 0 of the new tree above it.
        for i in range(j, bottom + 1):
            ti = t if i == j else 0
            ps, pI = keys[i - 1]
            seed, I = _derive(ps, pI, ti, self._m(i))
            lt, ot = self.params[i]
            root = self._build_blob(i, seed, I)
            keys[i] = (seed, I)
            trees[i - 1] = ti
            pubs[i - 1] = _u32str(lt) + _u32str(ot) + I + root
        self._take_leaf(j - 1, 1)  # reserve the parent leaf, persisted
        self._next[j - 1] = t + 1
        sigs[j - 1] = self._lms_sign(j - 1, t, pubs[j - 1])
        # Leaf 0 of each new middle tree signs the tree below. Unreserved
        # until the write below, but harmless: if that write is lost, leaf
        # t of level j-1 is spent, so these trees are never derived again.
        for i in range(j + 1, bottom + 1):
            sigs[i - 1] = self._lms_sign(i - 1, 0, pubs[i - 1], keys[i - 1])
        if self.self_check:
            # load() verifies these: a faulty one saved would kill the key
            for i in range(j, bottom + 1):
                parent = self._lms_pub(j - 1) if i == j else pubs[i - 2]
                if not lms.verify(
                    lms.hss_pub_from_lms(parent), pubs[i - 1], lms.hss_sig_from_lms(sigs[i - 1])
                ):
                    # a damaged parent cache must not spend its next leaf too
                    seed, I = self._keys[j - 1]
                    self._build_blob(j - 1, seed, I)
                    raise LMSError("self-check failed")
        b = list(self._bounds)
        for i in range(j, bottom):
            b[i] = 1
        b[bottom] = 0
        self._persist(b, trees, sigs, pubs)
        self._keys = keys
        for i in range(j, bottom + 1):
            self._next[i] = b[i]

    def sig_len(self):
        """Length of every signature of this key (HSS encoding)."""
        n = 4
        for i in range(1, self.levels):
            lt, ot = self.params[i - 1]
            n += lms.lms_sig_len(lt, ot) + lms.lms_pub_len(self.params[i][0])
        lt, ot = self.params[-1]
        return n + lms.lms_sig_len(lt, ot)

    def sign(self, msg):
        """HSS signature of msg (bytes). The leaf used is durably reserved
        before the signature is returned; KeyExhausted at the end."""
        out = bytearray(self.sig_len())
        self.sign_into(msg, out)
        return bytes(out)

    def sign_into(self, msg, out):
        """sign() into a caller buffer of at least sig_len() bytes (no
        signature-sized allocations: reuse one buffer on a small heap).
        Returns the length written."""
        if self._dead:
            raise LMSError("signer must be reloaded")
        memoryview(msg)  # TypeError for a non-buffer, before any state change
        n = self.sig_len()
        if len(out) < n:
            raise LMSError("output too small")
        bottom = self.levels - 1
        try:
            if self._exhausted(bottom):
                if bottom == 0:
                    raise KeyExhausted("key exhausted")
                self._new_trees()
        except KeyExhausted:
            raise
        except BaseException:
            self._dead = True
            raise
        try:
            q = self._take_leaf(bottom, self.chunk)
            self._next[bottom] = q + 1
            # u32str(L-1) || (sig_i || pub_i)... || bottom LMS signature
            out[0:4] = _u32str(bottom)
            o = 4
            for i in range(bottom):
                for part in (self._sigs[i], self._pubs[i]):
                    out[o : o + len(part)] = part
                    o += len(part)
            lt, ot = self.params[bottom]
            seed, I = self._keys[bottom]
            self._ensure_blob(bottom)
            out[o : o + 4] = _u32str(q)
            lms_py.ots_sign_into(out, o + 4, ot, I, q, seed, msg)
            o += 4 + lms.ots_sig_len(ot)
            out[o : o + 4] = _u32str(lt)
            out[o + 4 : n] = self._path(bottom, q)
            if self.self_check and not lms.verify(self.public_key, msg, memoryview(out)[:n]):
                self._rebuild_blobs()  # a damaged cache must not burn more leaves
                raise LMSError("self-check failed")
        except BaseException:
            self._dead = True
            for i in range(min(n, len(out))):  # nothing partial leaves
                out[i] = 0
            raise
        return n

    def close(self):
        """Clean shutdown: give back the reserved but unused leaves (persist
        bounds = next leaves), so a restart wastes nothing. Safe to skip (a
        crash simply wastes them); a signer that failed does nothing here.
        The signer stays usable (it reserves again on the next sign()),
        unless the write fails: then it must be loaded again."""
        if self._dead or self._next == self._bounds:
            return
        try:
            self._persist(self._next)
        except BaseException:
            # the file may hold the lowered bounds while RAM still has the
            # old ones: signing on from RAM could reuse a leaf
            self._dead = True
            raise

    # -- inspection

    def remaining(self):
        """Signatures left (from the next unused leaf at every level)."""
        left = 0
        below = 1
        for i in range(self.levels - 1, -1, -1):
            n = 1 << self._h(i)
            left += (n - self._next[i]) * below
            below *= n
        return left

    def info(self):
        return {
            "levels": self.levels,
            "params": list(self.params),
            "trees": [0] + list(self._trees),
            "next": list(self._next),
            "reserved": list(self._bounds),
            "chunk": self.chunk,
            "remaining": self.remaining(),
        }


def _host_tree(lt, ot, I, seed, m, h):
    # All nodes from a C backend when they fit in RAM, else None (walk in
    # Python with O(h) RAM). lms_py itself gains nothing from a RAM tree.
    if lms._signer() is lms_py:
        return None
    size = (2 << h) * m
    try:
        import gc

        gc.collect()  # garbage from earlier signatures would make the choice random
        free = gc.mem_free()
    except (ImportError, AttributeError):
        free = None  # CPython
    if free is not None and size > free // 4:
        return None
    try:
        return lms.lms_tree(lt, ot, I, seed)
    except (LMSError, MemoryError):
        return None


def _check_params(params):
    for lt, ot in params:
        if lt not in lms.LMS_PARAMS or ot not in lms.OTS_PARAMS:
            raise LMSError("unknown parameter set")
        if not lms.supported(lt, ot):
            raise LMSError("unsupported parameter set")


def generate(
    storage,
    levels=2,
    lms_type=lms.LMS_SHA256_M32_H10,
    ots_type=lms.LMOTS_SHA256_N32_W4,
    chunk=DEFAULT_CHUNK,
    params=None,
    seed=None,
    I=None,
    self_check=True,
    overwrite=False,
):
    """Create a key in storage and return its Signer.

    params: [(lms_type, ots_type), ...] per level (top first), else `levels`
    copies of (lms_type, ots_type). seed/I: the top SEED/I (tests only -
    a fixed seed in two storages is two copies of one key); random otherwise.
    An existing key in storage is never replaced unless overwrite=True."""
    if params is None:
        if not _is_int(levels) or levels < 1 or levels > lms.MAX_LEVELS:
            raise LMSError("bad levels")
        params = [(lms_type, ots_type)] * levels
    else:
        params = [(p[0], p[1]) for p in params]
    L = len(params)
    if L < 1 or L > lms.MAX_LEVELS:
        raise LMSError("bad levels")
    _check_params(params)
    if not _is_int(chunk) or chunk < 1:
        raise LMSError("bad chunk")
    if not overwrite and storage.read(_STATE) is not None:
        raise LMSError("key exists")
    m0 = lms.LMS_PARAMS[params[0][0]][2]
    seed = hgcrypto.random_bytes(m0) if seed is None else bytes(seed)
    I = hgcrypto.random_bytes(16) if I is None else bytes(I)
    if len(seed) != m0 or len(I) != 16:
        raise LMSError("bad seed length")
    types = []
    for lt, ot in params:
        types.append(lt)
        types.append(ot)
    # A provisional map: the signer computes the trees, then persists once.
    m = {
        _K_LEVELS: L,
        _K_TYPES: types,
        _K_SEED: seed,
        _K_I: I,
        _K_BOUNDS: [0] * L,
        _K_TREES: [0] * (L - 1),
        _K_SIGS: [b""] * (L - 1),
        _K_PUBS: [b""] * (L - 1),
        _K_HSS_PUB: b"",
        _K_CHUNK: chunk,
    }
    s = Signer(storage, m, self_check)
    lt, ot = params[0]
    root = s._build_blob(0, seed, I)
    s.public_key = _u32str(L) + _u32str(lt) + _u32str(ot) + I + root
    bounds = [0] * L
    for i in range(1, L):
        lt, ot = params[i]
        cs, cI = s._keys[i]
        pub = _u32str(lt) + _u32str(ot) + cI + s._build_blob(i, cs, cI)
        s._pubs[i - 1] = pub
        # leaf 0 of level i-1 signs it; the first write below records that
        s._sigs[i - 1] = s._lms_sign(i - 1, 0, pub)
        bounds[i - 1] = 1
    s._persist(bounds)
    s._next = list(bounds)
    return s


def load(storage, self_check=True):
    """The Signer of the key in storage (continuing after the reserved
    bounds). LMSError if there is none or it is damaged."""
    data = storage.read(_STATE)
    if data is None:
        raise LMSError("no key")
    m = decode_state(data)
    s = Signer(storage, m, self_check)
    # Consistency of the lower trees: derived I, and each cached signature.
    for i in range(1, s.levels):
        pub = s._pubs[i - 1]
        if pub[8:24] != s._keys[i][1] or (pub[0:4], pub[4:8]) != (
            _u32str(s.params[i][0]),
            _u32str(s.params[i][1]),
        ):
            raise _bad()
        parent = lms.hss_pub_from_lms(s._lms_pub(i - 1))
        if not lms.verify(parent, pub, lms.hss_sig_from_lms(s._sigs[i - 1])):
            raise _bad()
    return s


def describe(data):
    """Summary of a key file for `hourglass lms inspect` (no secrets)."""
    m = decode_state(data)
    L = m[_K_LEVELS]
    types = m[_K_TYPES]
    bounds = m[_K_BOUNDS]
    left = 0
    below = 1
    for i in range(L - 1, -1, -1):
        n = 1 << lms.LMS_PARAMS[types[2 * i]][3]
        left += (n - bounds[i]) * below
        below *= n
    return {
        "version": m[_K_VERSION],
        "levels": L,
        "params": [(types[2 * i], types[2 * i + 1]) for i in range(L)],
        "trees": [0] + list(m[_K_TREES]),
        "reserved": list(bounds),
        "next_leaf": bounds[L - 1],
        "chunk": m[_K_CHUNK],
        "remaining": left,
        "public_key": bytes(m[_K_HSS_PUB]),
    }
