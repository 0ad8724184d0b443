# OSCORE (RFC 8613) for hourglass: the algorithmic core, sans-I/O.
#
# Like aiocoap's oscore.py this module only does the cryptographic message
# transformation and the security state; the CoAP integration (server layer,
# client layer, Echo round trips, outer block-wise) is in oscore_server.py
# and oscore_client.py. Messages are coap_msg.Message objects.
#
#   ctx = SecurityContext(master_secret, sender_id, recipient_id,
#                         master_salt=b"", id_context=None, alg=10)
#   ctx = load(storage, name)            # persisted device context (below)
#   # client
#   outer, b = protect_request(ctx, msg)           # b: RequestBinding
#   plain = unprotect_response(b, outer_response)  # raises ProtectionInvalid
#   # server
#   plain, b = unprotect_request(contexts, outer_request)
#   outer = protect_response(b, response)          # request nonce or new PIV
#
# Algorithms: AES-CCM-16-64-128 (10, default, mandatory) and the other
# CCM variants of RFC 9053 (11, 12, 13, 30, 31, 32, 33); HKDF-SHA256.
# Option classes (section 4.1): Uri-Host, Uri-Port, OSCORE, Proxy-Uri,
# Proxy-Scheme, Hop-Limit and EDHOC are Outer (U); Observe is both;
# everything else - Block1/2, Size1/2, Max-Age, No-Response, Echo,
# Request-Tag and any unknown option - is Inner (E). No Class I options.
# Outer Block options (proxy fragmentation) are reassembled by the layer
# above before unprotect_request() sees the message; here every Outer
# option that is not U is discarded (section 8.2 step 1). A Proxy-Uri in a
# message to protect is refused (its path would leak; decompose it first).
#
# Observe (4.1.3.5): requests carry Observe Inner and Outer with the same
# value (Outer Code FETCH); notifications always get a new Partial IV, an
# empty Inner Observe and an Outer Observe of the three low bytes of that
# Partial IV (Outer Code 2.05). The client keeps a Notification Number per
# observation and accepts only notifications with a greater Partial IV
# (plus at most one without), and reports the Observe value of a
# notification as the three low bytes of its Partial IV.
#
# Nonces (5.2, 8.3): a response reuses the request nonce only when it is the
# single response to a request that passed the replay window; every
# notification, and every response while the replay window is not
# initialised (after a restart, Appendix B.1.2), uses a new Partial IV.
#
# Replay window (7.4, 3.2.2): sliding, `window` entries (default 32, any
# size >= 32), any unseen Partial IV inside it is accepted in any order;
# it is checked before decryption and updated only after the AEAD tag
# and the plaintext verified, so a forged or failed message changes
# nothing. Errors raised by unprotect_*: DecodeError (4.02), ContextNotFound
# (4.01), ReplayError (4.01), DecryptError (4.00), each a ProtectionInvalid
# with .code and a fixed short message (the RFC's diagnostic payloads).
#
# ---------------------------------------------------------- persistence
# Sender Sequence Number, Appendix B.1.1 in its "reserve ahead" form: with
# storage, a Partial IV s is only used once a record saying "sequence
# numbers below R may have been used" with R > s is durably written. After
# a restart the context continues at R. A power cut at any instant leaves
# either the old or the new R in storage (writes are atomic replaces), and
# both are above every Partial IV that left the device: no nonce is ever
# used twice with the same key. Reservations grow from `chunk` (16) by
# doubling up to MAX_CHUNK (1024) per boot, so a long-running client writes
# about once per 1024 requests and a crash wastes at most that many.
# A server only spends sequence numbers on notifications and Echo
# challenges: plain responses reuse the request nonce.
#
# Replay window: kept in RAM only. A context loaded from storage starts with
# its window uninitialised; the first request that verifies is answered with
# a protected 4.01 carrying an Echo value (unique per boot) and a new
# Partial IV; a request that verifies and echoes it sets the lower bound of
# the window (Appendix B.1.2). Appendix B.2 (deriving new contexts with a
# random ID Context) is NOT supported: a request whose 'kid context' names no
# provisioned context gets 4.01.
#
# Storage record per context (name given at provisioning; layout at
# _record below: the keys' inputs, the window size and R, with a SHA-256
# check), written only as a whole through storage.write(name, data): the
# atomic, durable replace of hgstore's storage interface (hgstore.FileStorage
# on the device, hgstore.MemoryStorage with PowerCut injection in tests).
# provision(storage, name, params) keeps the larger R of an existing record
# for the same keys, so provisioning the same context twice never rewinds.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import hgcrypto
from coap_msg import (
    CoAPError,
    Message,
    decode_options,
    encode_opts_into,
    sorted_opts,
    uint_encode,
)

# coap_msg's values (private consts take no RAM; host_tests/test_const_sync.py
# checks they match)
_ACK = const(2)
_FETCH = const(5)
_POST = const(2)
_CHANGED = const(68)
_CONTENT = const(69)
_OBSERVE = const(6)
_OSCORE = const(9)
_ECHO = const(252)
_PROXY_URI = const(35)
_BAD_OPTION = const(130)
_BAD_REQUEST = const(128)
_UNAUTHORIZED = const(129)


_VERSION = const(1)
_DEFAULT_ALG = const(10)
_DEFAULT_WINDOW = const(32)
_MAX_WINDOW = const(1024)
MAX_SSN = 0xFFFFFFFFFF  # 2^40 - 1 (section 12.6); a long int on 32-bit ports
DEFAULT_CHUNK = const(16)
MAX_CHUNK = const(1024)
_MAX_PIV = const(5)

# (alg id, key length, nonce length, tag length, name): a literal tuple, no
# heap when frozen (alg_info / alg_id look rows up)
_ALGS = const((
    (10, 16, 13, 8, "AES-CCM-16-64-128"),
    (11, 32, 13, 8, "AES-CCM-16-64-256"),
    (12, 16, 7, 8, "AES-CCM-64-64-128"),
    (13, 32, 7, 8, "AES-CCM-64-64-256"),
    (30, 16, 13, 16, "AES-CCM-16-128-128"),
    (31, 32, 13, 16, "AES-CCM-16-128-256"),
    (32, 16, 7, 16, "AES-CCM-64-128-128"),
    (33, 32, 7, 16, "AES-CCM-64-128-256"),
))

# Outer-only options (Class U); Observe is handled separately.
_OUTER = const((3, 7, 9, 16, 21, 35, 39))

_AAD_PREFIX = const(b"\x83\x68Encrypt0\x40")


class OSCOREError(ValueError):
    """Root of the OSCORE errors: bad parameters, unusable state."""


class ProtectionInvalid(OSCOREError):
    """A received message failed verification. `code` is the CoAP error
    code a server answers with (unprotected), str(e) the diagnostic."""

    code = _BAD_REQUEST


class DecodeError(ProtectionInvalid):
    code = _BAD_OPTION


class ContextNotFound(ProtectionInvalid):
    code = _UNAUTHORIZED


class ReplayError(ProtectionInvalid):
    code = _UNAUTHORIZED


class DecryptError(ProtectionInvalid):
    code = _BAD_REQUEST


class SequenceExhausted(OSCOREError):
    pass


def _decode_error():
    return DecodeError("Failed to decode COSE")


def _replay():
    return ReplayError("Replay detected")


def _decrypt_failed():
    return DecryptError("Decryption failed")


# ---------------------------------------------------------------- helpers


def _alg_row(alg):
    i = 4 if isinstance(alg, str) else 0  # by name or by id
    for r in _ALGS:
        if r[i] == alg:
            return r
    raise OSCOREError("unsupported algorithm")


def alg_info(alg):
    """(key length, nonce length, tag length, name) or OSCOREError."""
    return _alg_row(alg)[1:]


def alg_id(alg):
    return _alg_row(alg)[0]


def _bstr(b):
    n = len(b)
    if n < 24:
        return bytes((0x40 | n,)) + b
    if n < 256:
        return bytes((0x58, n)) + b
    return bytes((0x59, n >> 8, n & 255)) + b


def _cbor_int(v):
    # alg ids and lengths here are 0..255
    if v < 24:
        return bytes((v,))
    return bytes((0x18, v))


def _bytes(x, what):
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x)
    raise OSCOREError(what + " must be bytes")


def derive_info(ident, id_context, alg, kind, length):
    """The CBOR info array [id, id_context, alg_aead, type, L] of 3.2.1."""
    kind = kind.encode()
    return (b"\x85" + _bstr(bytes(ident)) + (b"\xf6" if id_context is None else _bstr(id_context))
            + _cbor_int(alg) + bytes((0x60 | len(kind),)) + kind + _cbor_int(length))


def derive(master_secret, master_salt, ident, id_context, alg, kind, length):
    """One HKDF output of section 3.2.1 (kind "Key" or "IV")."""
    info = derive_info(ident, id_context, alg, kind, length)
    return hgcrypto.hkdf_sha256(master_secret, master_salt, info, length)


def piv_bytes(n):
    """Partial IV encoding of sequence number n (no leading zeros; 0 -> 00)."""
    if n < 256:
        return bytes((n,))
    out = n.to_bytes(5, "big")
    i = 0
    while out[i] == 0:
        i += 1
    return out[i:]


def encode_option(piv=None, kid=None, kid_context=None):
    """OSCORE option value (section 6.1); empty when nothing is present."""
    flags = 0
    n = 0
    if piv is not None:
        n = len(piv)
        if n < 1 or n > _MAX_PIV:
            raise OSCOREError("bad partial iv")
        flags = n
    if kid is not None:
        flags |= 8
    if kid_context is not None:
        if len(kid_context) > 255:
            raise OSCOREError("kid context too long")
        flags |= 16
    if flags == 0:
        return b""
    out = bytearray((flags,))
    if n:
        out += piv
    if kid_context is not None:
        out.append(len(kid_context))
        out += kid_context
    if kid is not None:
        out += kid
    return bytes(out)


def decode_option(value):
    """(piv, kid, kid_context) from an OSCORE option value, each None when
    absent; DecodeError for reserved bits, a Partial IV over 5 bytes, a
    non-minimal Partial IV, truncation, trailing bytes or a lone 0x00."""
    n_all = len(value)
    if n_all == 0:
        return None, None, None
    f = value[0]
    if f & 0xE0:
        raise _decode_error()
    n = f & 7
    if n > _MAX_PIV:
        raise _decode_error()
    if f == 0:
        raise _decode_error()  # all flags zero: the value SHALL be empty
    pos = 1
    piv = None
    if n:
        if pos + n > n_all:
            raise _decode_error()
        piv = bytes(value[pos : pos + n])
        if n > 1 and piv[0] == 0:
            raise _decode_error()
        pos += n
    kctx = None
    if f & 16:
        if pos >= n_all:
            raise _decode_error()
        s = value[pos]
        pos += 1
        if pos + s > n_all:
            raise _decode_error()
        kctx = bytes(value[pos : pos + s])
        pos += s
    kid = None
    if f & 8:
        kid = bytes(value[pos:])
    elif pos != n_all:
        raise _decode_error()
    return piv, kid, kctx


def _opts_len(opts):
    n = 0
    prev = 0
    for num, v in opts:
        d = num - prev
        ln = len(v)
        n += 1 + ln + (0 if d < 13 else 1 if d < 269 else 2)
        n += 0 if ln < 13 else 1 if ln < 269 else 2
        prev = num
    return n


def _parse_inner(pt):
    """(code, opts, payload) from a decrypted plaintext (section 5.3), with
    coap_msg's option parser and caps; DecodeError when malformed."""
    if len(pt) < 1:
        raise _decode_error()
    try:
        opts, payload = decode_options(pt, 1, True)
    except CoAPError:
        raise _decode_error()
    for num, _ in opts:
        if num == _OSCORE:
            raise _decode_error()  # nested OSCORE is not supported
    return pt[0], opts, payload


# ---------------------------------------------------------------- replay window


class ReplayWindow:
    """Sliding anti-replay window over Partial IVs (RFC 6347 4.1.2.6 style).

    size entries (>= 32) ending at the highest accepted value; any value
    above it, or inside it and not seen, is fresh. check() never changes
    anything; mark() records a value after its message verified. One byte
    per entry in a ring (no long ints on 32-bit ports, no allocation).
    A window made with initialized=False accepts nothing until
    set_lower_bound() (Appendix B.1.2)."""

    def __init__(self, size=_DEFAULT_WINDOW, initialized=True):
        if size < 32 or size > _MAX_WINDOW:
            raise OSCOREError("bad window size")
        self.size = size
        self._ring = bytearray(size)
        self.top = -1  # highest accepted value, -1: none yet
        self.initialized = initialized

    def check(self, v):
        """True if v may be accepted (fresh and not too old)."""
        if not self.initialized or v < 0:
            return False
        top = self.top
        if v > top:
            return True
        if top - v >= self.size:
            return False
        return not self._ring[v % self.size]

    def mark(self, v):
        top = self.top
        ring = self._ring
        size = self.size
        if v > top:
            gap = v - top
            if gap >= size or top < 0:
                for i in range(size):
                    ring[i] = 0
            else:
                i = top + 1
                while i < v:
                    ring[i % size] = 0
                    i += 1
            self.top = v
        ring[v % size] = 1

    def set_lower_bound(self, v):
        """Initialise: v is seen and nothing at or below it is fresh."""
        ring = self._ring
        for i in range(self.size):
            ring[i] = 1
        self.top = v
        self.initialized = True


# ---------------------------------------------------------------- context


class SecurityContext:
    """Common, Sender and Recipient Context (section 3). AES key schedules
    are built once; nonces are one XOR of a precomputed base."""

    def __init__(self, master_secret, sender_id, recipient_id, master_salt=b"",
                 id_context=None, alg=_DEFAULT_ALG, window=_DEFAULT_WINDOW, ssn=0,
                 storage=None, name=None, reserved=None, chunk=DEFAULT_CHUNK):
        alg, key_len, nonce_len, tag_len, _ = _alg_row(alg)
        master_secret = _bytes(master_secret, "master secret")
        master_salt = _bytes(master_salt or b"", "master salt")
        sender_id = _bytes(sender_id, "sender id")
        recipient_id = _bytes(recipient_id, "recipient id")
        if id_context is not None:
            id_context = _bytes(id_context, "id context")
        if not master_secret:
            raise OSCOREError("empty master secret")
        if len(sender_id) > nonce_len - 6 or len(recipient_id) > nonce_len - 6:
            raise OSCOREError("id too long")
        if sender_id == recipient_id:
            raise OSCOREError("sender id equals recipient id")
        if ssn < 0 or ssn > MAX_SSN + 1:
            raise OSCOREError("bad sequence number")
        self.alg = alg
        self.nonce_len = nonce_len
        self.tag_len = tag_len
        self.sender_id = sender_id
        self.recipient_id = recipient_id
        self.id_context = id_context
        self.sender_key = derive(master_secret, master_salt, sender_id, id_context, alg, "Key", key_len)
        self.recipient_key = derive(master_secret, master_salt, recipient_id, id_context, alg, "Key", key_len)
        self.common_iv = derive(master_secret, master_salt, b"", id_context, alg, "IV", nonce_len)
        # MicroPython: collect the derivation's garbage before the long-lived
        # key schedules (two AES objects, ~0.9 KB) are made, so they sit low
        # in the heap instead of pinning a hole above the garbage (a 64 KiB
        # board needs its free memory in large blocks). Not on CPython: a
        # full collection per context would only slow the host tests.
        import sys

        if sys.implementation.name == "micropython":
            import gc

            gc.collect()
        self._enc = hgcrypto.AES(self.sender_key)
        self._dec = hgcrypto.AES(self.recipient_key)
        civ = int.from_bytes(self.common_iv, "big")
        self._snb = civ ^ self._id_part(sender_id)
        self._rnb = civ ^ self._id_part(recipient_id)
        self._alg_cbor = _cbor_int(alg)
        self._aad_kid = None  # aad(): the AAD up to the kid, for this kid
        self._aad_head = None
        self.window = ReplayWindow(window, storage is None)
        self.ssn = ssn
        # Persistence: the record's static part and the reserved bound.
        self._storage = storage
        self._name = name
        self._static = None
        if storage is not None:
            if name is None:
                raise OSCOREError("storage needs a name")
            self._static = _static_map(alg, master_secret, master_salt, sender_id, recipient_id,
                                       id_context, window)
        self._bound = ssn if reserved is None else reserved
        self._chunk = chunk
        self.writes = 0  # storage writes made by this context
        self.echo = None  # Appendix B.1.2 challenge, made on first need
        self.failed = False  # a storage write failed: context unusable

    def _id_part(self, ident):
        n = self.nonce_len
        v = len(ident) << (8 * (n - 1))
        if ident:
            v |= int.from_bytes(ident, "big") << 40
        return v

    def sender_nonce(self, piv_int):
        return (self._snb ^ piv_int).to_bytes(self.nonce_len, "big")

    def recipient_nonce(self, piv_int):
        return (self._rnb ^ piv_int).to_bytes(self.nonce_len, "big")

    def aad(self, kid, piv):
        """AAD = Enc_structure ["Encrypt0", h'', bstr .cbor aad_array],
        written into one buffer (kid <= 7, piv <= 5 bytes: the aad_array is
        under 24 bytes, so its bstr head is one byte)."""
        head = self._aad_head
        if head is None or self._aad_kid != kid:
            # everything before the Partial IV, made once per kid (a server
            # sees one: its peer's), byte 11 set per request
            h = bytearray(_AAD_PREFIX)
            h.append(0)
            h.extend(b"\x85\x01\x81")
            h.extend(self._alg_cbor)
            h.append(0x40 | len(kid))
            h.extend(kid)
            head = self._aad_head = bytes(h)
            self._aad_kid = bytes(kid)
        n = len(head)
        npv = len(piv)
        out = bytearray(n + npv + 2)
        out[0:n] = head
        out[11] = 0x40 | (n - 10 + npv)  # bstr head of the aad_array
        out[n] = 0x40 | npv
        for j in range(npv):  # (at most 5; a slice would put a slice object on the heap)
            out[n + 1 + j] = piv[j]
        out[n + 1 + npv] = 0x40
        return out

    # -- sender sequence number (Appendix B.1.1)
    def next_piv(self):
        """Take the next Sender Sequence Number; persist a reservation first
        when needed. Returns (int, encoded Partial IV)."""
        if self.failed:
            raise OSCOREError("context failed")
        s = self.ssn
        if s > MAX_SSN:
            raise SequenceExhausted("sequence numbers exhausted")
        if self._storage is not None and s >= self._bound:
            new = s + self._chunk
            if new > MAX_SSN + 1:
                new = MAX_SSN + 1
            try:
                self._persist(new)
            except Exception:
                # unknown whether it became durable: stop using this context
                # until it is loaded again (the next load continues above it)
                self.failed = True
                raise
            self._bound = new
            if self._chunk < MAX_CHUNK:
                self._chunk *= 2
        self.ssn = s + 1
        return s, piv_bytes(s)

    def _persist(self, bound):
        self.writes += 1
        self._storage.write(self._name, _record(self._static, bound))

    def close(self):
        """Clean shutdown: give back the unused reservation (the stored bound
        becomes the next sequence number). Not needed for safety."""
        if self._storage is not None and not self.failed and self._bound != self.ssn:
            self._persist(self.ssn)
            self._bound = self.ssn

    def echo_value(self):
        """This boot's Echo value for Appendix B.1.2: a Sender Sequence
        Number taken for it, so it is never repeated across restarts (the
        reservation guarantees that) and needs no random source. It need not
        be secret: only a request protected after the challenge can carry
        it."""
        if self.echo is None:
            seq, _ = self.next_piv()
            self.echo = seq.to_bytes(5, "big")
        return self.echo

    def info(self):
        return {"alg": self.alg, "sender_id": self.sender_id, "recipient_id": self.recipient_id,
                "id_context": self.id_context, "ssn": self.ssn, "reserved": self._bound,
                "window_initialized": self.window.initialized}


class RequestBinding:
    """What a request leaves for its response(s) (section 8: the Token's
    association with the context and the request's kid and Partial IV)."""

    def __init__(self, ctx, kid, piv, nonce, observe):
        self.ctx = ctx
        self.kid = kid  # request_kid for the AAD
        self.piv = piv  # request_piv for the AAD (bytes)
        self.nonce = nonce  # the request's AEAD nonce
        self.aad = ctx.aad(kid, piv)
        self.observe = observe  # the request was an Observe registration
        self.nonce_used = False  # a response with the request nonce was made/accepted
        self.echo_needed = False  # server: answer with a protected 4.01 + Echo
        self.notification_number = None  # client: highest notification Partial IV
        self.done = False  # client, non-observe: the response was accepted


# ---------------------------------------------------------------- contexts


class Contexts:
    """The contexts a server or client knows, looked up by Recipient ID
    (and ID Context)."""

    def __init__(self, contexts=()):
        self._list = list(contexts)

    def add(self, ctx):
        for c in self._list:
            if c.recipient_id == ctx.recipient_id and c.id_context == ctx.id_context:
                raise OSCOREError("duplicate context")
        self._list.append(ctx)
        return ctx

    def __iter__(self):
        return iter(self._list)

    def __len__(self):
        return len(self._list)

    def find(self, kid, kid_context=None):
        for c in self._list:
            if c.recipient_id == kid and (kid_context is None or c.id_context == kid_context):
                return c
        return None

    def find_sender(self, sender_id, id_context=None):
        for c in self._list:
            if c.sender_id == sender_id and (id_context is None or c.id_context == id_context):
                return c
        return None


# ---------------------------------------------------------------- protection


def _split(opts):
    """Split a plain message's options into Inner and Outer lists."""
    inner = []
    outer = []
    for o in opts:
        num = o[0]
        if num == _OSCORE:
            raise OSCOREError("already protected")
        if num == _PROXY_URI:
            raise OSCOREError("proxy-uri not supported")
        # the (num, value) tuples themselves: options are never changed in place
        if num in _OUTER:
            outer.append(o)
        else:
            inner.append(o)
    return inner, outer


def _plaintext(code, inner, payload):
    n = 1 + _opts_len(inner)
    pl = len(payload) if payload else 0
    buf = bytearray(n + (1 + pl if pl else 0))
    buf[0] = code
    off = encode_opts_into(buf, 1, inner) if inner else 1
    if pl:
        buf[off] = 0xFF
        buf[off + 1 :] = payload
    return buf


def _outer_msg(msg, code, outer, optval, ciphertext):
    outer.append((_OSCORE, optval))
    m = Message(msg.mtype, code, msg.mid, msg.token, sorted_opts(outer), ciphertext)
    m.peer = msg.peer
    return m


def protect_request(ctx, msg, kid_context=False):
    """OSCORE request from plain request `msg` (section 8.1). Returns
    (outer Message, RequestBinding). kid_context=True sends the ID Context
    in the option. Takes a new Sender Sequence Number (and may write the
    reservation to storage first)."""
    inner, outer = _split(msg.opts)
    obs = msg.opt(_OBSERVE)
    code = _POST
    if obs is not None:
        outer.append((_OBSERVE, obs))
        code = _FETCH
    pt = _plaintext(msg.code, inner, msg.payload)
    seq, piv = ctx.next_piv()
    nonce = ctx.sender_nonce(seq)
    kid = ctx.sender_id
    b = RequestBinding(ctx, kid, piv, nonce, obs is not None and len(obs) == 0)
    ct = hgcrypto.aes_ccm_encrypt(ctx._enc, nonce, pt, b.aad, ctx.tag_len)
    kctx = ctx.id_context if kid_context else None
    optval = encode_option(piv, kid, kctx)
    return _outer_msg(msg, code, outer, optval, ct), b


def _find_ctx(contexts, kid, kctx):
    if hasattr(contexts, "find"):
        return contexts.find(kid, kctx)
    for c in contexts:
        if c.recipient_id == kid and (kctx is None or c.id_context == kctx):
            return c
    return None


def _plain_msg(msg, code, inner, payload, outer_src):
    # inner options plus the Outer Class U options of the received message
    opts = inner
    for n, _ in outer_src:
        if n != _OSCORE and n in _OUTER:
            opts = sorted_opts(inner + [o for o in outer_src if o[0] != _OSCORE and o[0] in _OUTER])
            break
    m = Message(msg.mtype, code, msg.mid, msg.token, opts, payload)
    m.peer = msg.peer
    return m


def unprotect_request(contexts, msg):
    """Verify an OSCORE request (section 8.2). Returns (plain Message,
    RequestBinding); raises a ProtectionInvalid subclass and changes no
    state when anything is wrong. If binding.echo_needed the caller answers
    with a protected 4.01 carrying Echo (Appendix B.1.2) and must not act on
    the request; the plain message is still returned for logging."""
    optval = msg.opt(_OSCORE)
    if optval is None:
        raise _decode_error()
    piv, kid, kctx = decode_option(optval)
    if piv is None or kid is None or not msg.payload:
        raise _decode_error()
    ctx = _find_ctx(contexts, kid, kctx)
    if ctx is None:
        raise ContextNotFound("Security context not found")
    seq = int.from_bytes(piv, "big")
    win = ctx.window
    recovering = not win.initialized
    if not recovering and not win.check(seq):
        raise _replay()
    nonce = ctx.recipient_nonce(seq)
    b = RequestBinding(ctx, kid, piv, nonce, False)
    try:
        pt = hgcrypto.aes_ccm_decrypt(ctx._dec, nonce, msg.payload, b.aad, ctx.tag_len)
    except hgcrypto.CryptoError:
        raise _decrypt_failed()
    code, inner, payload = _parse_inner(pt)
    if code == 0 or code >= 32:
        raise _decode_error()
    plain = _plain_msg(msg, code, inner, payload, msg.opts)
    obs = plain.opt(_OBSERVE)
    b.observe = obs is not None and len(obs) == 0
    if recovering:
        echo = plain.opt(_ECHO)
        if ctx.echo is not None and echo is not None and hgcrypto.ct_equal(echo, ctx.echo):
            win.set_lower_bound(seq)
            plain.remove(_ECHO)
        else:
            b.echo_needed = True
    else:
        win.mark(seq)
    plain.oscore = b
    return plain, b


def protect_response(b, msg, new_piv=False):
    """OSCORE response to the request of binding b (section 8.3). A new
    Partial IV is used for notifications (msg has Observe), when the request
    nonce was used already, when the binding needs Echo recovery, or when
    new_piv is set; otherwise the request nonce."""
    ctx = b.ctx
    inner, outer = _split(msg.opts)
    obs = msg.opt(_OBSERVE)
    code = _CHANGED
    if obs is not None:
        # notification: the Inner Observe is empty, Outer set below
        inner = [(n, v) for n, v in inner if n != _OBSERVE]
        inner.append((_OBSERVE, b""))
        code = _CONTENT
    fresh = new_piv or obs is not None or b.nonce_used or b.echo_needed or not ctx.window.initialized
    pt = _plaintext(msg.code, inner, msg.payload)
    if fresh:
        seq, piv = ctx.next_piv()
        nonce = ctx.sender_nonce(seq)
        optval = encode_option(piv)
    else:
        seq = 0
        nonce = b.nonce
        optval = b""
        b.nonce_used = True
    ct = hgcrypto.aes_ccm_encrypt(ctx._enc, nonce, pt, b.aad, ctx.tag_len)
    if obs is not None:
        outer = [(n, v) for n, v in outer if n != _OBSERVE]
        outer.append((_OBSERVE, uint_encode(seq & 0xFFFFFF)))
    return _outer_msg(msg, code, outer, optval, ct)


def echo_challenge(b):
    """The plain 4.01 + Echo response of Appendix B.1.2, no payload (protect
    it with protect_response, which uses a new Partial IV for it)."""
    return Message(_ACK, _UNAUTHORIZED, 0, b"", [(_ECHO, b.ctx.echo_value())])


def unprotect_response(b, msg):
    """Verify an OSCORE response to the request of binding b (section 8.4,
    7.4.1). Returns the plain Message; raises ProtectionInvalid (state
    unchanged) when it fails or is a replay."""
    optval = msg.opt(_OSCORE)
    if optval is None:
        raise _decode_error()
    piv, kid, kctx = decode_option(optval)
    if not msg.payload:
        raise _decode_error()
    ctx = b.ctx
    if kid is not None and kid != ctx.recipient_id:
        raise _decode_error()
    if kctx is not None and kctx != ctx.id_context:
        raise _decode_error()
    if b.done:
        raise _replay()
    if piv is None:
        if b.nonce_used:
            raise _replay()
        seq = -1
        nonce = b.nonce
    else:
        seq = int.from_bytes(piv, "big")
        nn = b.notification_number
        if nn is not None and seq <= nn:
            raise _replay()
        nonce = ctx.recipient_nonce(seq)
    try:
        pt = hgcrypto.aes_ccm_decrypt(ctx._dec, nonce, msg.payload, b.aad, ctx.tag_len)
    except hgcrypto.CryptoError:
        raise _decrypt_failed()
    code, inner, payload = _parse_inner(pt)
    if code < 64 or code >= 192:
        raise _decode_error()
    plain = _plain_msg(msg, code, inner, payload, msg.opts)
    obs = plain.opt(_OBSERVE)
    if obs is not None:
        if not b.observe:
            raise _decode_error()  # Observe in a response to a non-Observe request
        if seq >= 0:
            plain.set(_OBSERVE, uint_encode(seq & 0xFFFFFF))
    # commit
    if seq < 0:
        b.nonce_used = True
    elif obs is not None:
        b.notification_number = seq
    if obs is None:
        b.done = True
    plain.oscore = b
    return plain


# ---------------------------------------------------------------- storage
# Record layout (all lengths one byte, integers big-endian):
#   "OSC1" | alg (1) | window (2) | R (6) | secret | salt | sender id |
#   recipient id | id context flag (1: present) + id context | check (8)
# with each of secret..recipient id as length + bytes, and check = the first
# 8 bytes of SHA-256 over everything before it.

_MAGIC = const(b"OSC1")


def _static_map(alg, ms, salt, sid, rid, idctx, window):
    return {1: alg, 2: ms, 3: salt, 4: sid, 5: rid, 6: idctx, 7: window}


def _lv(b):
    if len(b) > 255:
        raise OSCOREError("field too long")
    return bytes((len(b),)) + b


def _record(static, bound):
    idc = static[6]
    body = (_MAGIC + bytes((static[1], static[7] >> 8, static[7] & 255)) + bound.to_bytes(6, "big")
            + _lv(static[2]) + _lv(static[3]) + _lv(static[4]) + _lv(static[5])
            + (b"\x00" if idc is None else b"\x01" + _lv(idc)))
    return body + hgcrypto.sha256_digest(body)[:8]


def _bad():
    return OSCOREError("bad context record")


def read_record(data):
    """(static map, reserved bound) from a stored record; OSCOREError when
    malformed or tampered with."""
    n = len(data)
    if n < 26 or bytes(data[0:4]) != _MAGIC:
        raise _bad()
    body = bytes(data[: n - 8])
    if not hgcrypto.ct_equal(hgcrypto.sha256_digest(body)[:8], bytes(data[n - 8 :])):
        raise _bad()
    alg = body[4]
    window = (body[5] << 8) | body[6]
    bound = int.from_bytes(body[7:13], "big")
    pos = 13
    out = []
    for _ in range(5):
        if pos >= len(body):
            raise _bad()
        if len(out) == 4:
            flag = body[pos]
            pos += 1
            if flag == 0:
                out.append(None)
                break
            if flag != 1 or pos >= len(body):
                raise _bad()
        ln = body[pos]
        pos += 1
        if pos + ln > len(body):
            raise _bad()
        out.append(body[pos : pos + ln])
        pos += ln
    if pos != len(body) or bound > MAX_SSN + 1:
        raise _bad()
    return _static_map(alg, out[0], out[1], out[2], out[3], out[4], window), bound


def _params_static(params):
    """Static map from a provisioning dict (the shared JSON, see
    tools/hourglass/oscore_cmd.py) for the device's role."""
    from binascii import unhexlify

    def hx(key, default=None):
        v = params.get(key, default)
        if v is None:
            return None
        if isinstance(v, (bytes, bytearray)):
            return bytes(v)
        try:
            return unhexlify(v)
        except (ValueError, TypeError):
            raise OSCOREError("bad " + key)

    alg = alg_id(params.get("algorithm", _DEFAULT_ALG))
    kdf = params.get("kdf", "HKDF-SHA256")
    if kdf != "HKDF-SHA256":
        raise OSCOREError("unsupported kdf")
    ms = hx("master_secret")
    sid = hx("device_id")
    rid = hx("peer_id")
    if ms is None or sid is None or rid is None:
        raise OSCOREError("missing parameter")
    window = params.get("replay_window", _DEFAULT_WINDOW)
    if not isinstance(window, int) or window < 32 or window > _MAX_WINDOW:
        raise OSCOREError("bad replay_window")
    return _static_map(alg, ms, hx("master_salt", "") or b"", sid, rid, hx("id_context"), window)


def provision(storage, name, params, ssn=0):
    """Store the device's context from a provisioning dict (or a static map
    with integer keys). An existing record with the same keys keeps its
    (larger) reserved bound. Returns the bound written."""
    static = params if 1 in params else _params_static(params)
    # validate by deriving once
    SecurityContext(static[2], static[4], static[5], static[3], static[6], static[1], static[7])
    old = storage.read(name)
    bound = ssn
    if old is not None:
        try:
            ost, ob = read_record(old)
        except OSCOREError:
            ost, ob = None, 0
        if ost is not None and ost.get(2) == static[2] and ost.get(3) == static[3]:
            if ob > bound:
                bound = ob
        elif ost is None:
            raise OSCOREError("existing record unreadable")
    storage.write(name, _record(static, bound))
    return bound


def load(storage, name, chunk=DEFAULT_CHUNK):
    """The context stored under `name`, continuing at its reserved bound,
    with an uninitialised replay window (Echo recovery, Appendix B.1.2)."""
    data = storage.read(name)
    if data is None:
        raise OSCOREError("no such context")
    static, bound = read_record(data)
    try:
        return SecurityContext(static[2], static[4], static[5], static[3], static[6], static[1],
                               static[7], bound, storage, name, bound, chunk)
    except KeyError:
        raise _bad()
