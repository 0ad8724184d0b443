# CoAP message codec (RFC 7252 section 3) for hourglass: header, token,
# options (delta/length nibbles with the 13/14 extended forms) and payload,
# plus the option registry, the Block option helpers (RFC 7959) and the
# numbers (types, codes, options, content formats) as const() ints.
#
# decode() is bounded and never raises anything but CoAPError subclasses:
#   MAX_OPTIONS     16   options per message (RIOT's CONFIG_NANOCOAP_NOPTS_MAX)
#   MAX_PATH_SEGS    8   Uri-Path options per message
#   MAX_OPT_BYTES  512   sum of all option value lengths
#   token            8   bytes (RFC 7252: TKL 9..15 is a format error)
# Exceeding a cap raises CoAPLimitError; the server answers it with 4.00
# (the token is known by then), never with a crash.
#
# Message.opts is a list of (number, bytes) pairs kept sorted by number;
# repeatable options keep their order. Payloads decoded with zero_copy=True
# are memoryview slices of the datagram, valid while the datagram is.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from struct import pack_into as _pack_into

_SFMT = const(("0s", "1s", "2s", "3s", "4s", "5s", "6s", "7s", "8s"))

# ---------------------------------------------------------------- numbers
_CON = const(0)
_NON = const(1)
_ACK = const(2)
_RST = const(3)

_EMPTY = const(0)
_GET = const(1)
_POST = const(2)
_PUT = const(3)
_DELETE = const(4)
_FETCH = const(5)
_PATCH = const(6)
_IPATCH = const(7)

_CREATED = const(0x41)  # 2.01
_DELETED = const(0x42)  # 2.02
_VALID = const(0x43)  # 2.03
_CHANGED = const(0x44)  # 2.04
_CONTENT = const(0x45)  # 2.05
_CONTINUE = const(0x5F)  # 2.31
_BAD_REQUEST = const(0x80)  # 4.00
_UNAUTHORIZED = const(0x81)  # 4.01
_BAD_OPTION = const(0x82)  # 4.02
_FORBIDDEN = const(0x83)  # 4.03
_NOT_FOUND = const(0x84)  # 4.04
_METHOD_NOT_ALLOWED = const(0x85)  # 4.05
_NOT_ACCEPTABLE = const(0x86)  # 4.06
_REQUEST_ENTITY_INCOMPLETE = const(0x88)  # 4.08
_CONFLICT = const(0x89)  # 4.09
_PRECONDITION_FAILED = const(0x8C)  # 4.12
_REQUEST_ENTITY_TOO_LARGE = const(0x8D)  # 4.13
_UNSUPPORTED_CONTENT_FORMAT = const(0x8F)  # 4.15
_INTERNAL_SERVER_ERROR = const(0xA0)  # 5.00
_NOT_IMPLEMENTED = const(0xA1)  # 5.01
_SERVICE_UNAVAILABLE = const(0xA3)  # 5.03
_GATEWAY_TIMEOUT = const(0xA4)  # 5.04
_PROXYING_NOT_SUPPORTED = const(0xA5)  # 5.05

_IF_MATCH = const(1)
_URI_HOST = const(3)
_ETAG = const(4)
_IF_NONE_MATCH = const(5)
_OBSERVE = const(6)
_URI_PORT = const(7)
_LOCATION_PATH = const(8)
_OSCORE = const(9)
_URI_PATH = const(11)
_CONTENT_FORMAT = const(12)
_MAX_AGE = const(14)
_URI_QUERY = const(15)
_ACCEPT = const(17)
_LOCATION_QUERY = const(20)
_BLOCK2 = const(23)
_BLOCK1 = const(27)
_SIZE2 = const(28)
_PROXY_URI = const(35)
_PROXY_SCHEME = const(39)
_SIZE1 = const(60)
_ECHO = const(252)
_REQUEST_TAG = const(292)

# Content-Format numbers (IANA "CoAP Content-Formats"); the others are in
# content_format_name()/content_format_number().
_CF_TEXT = const(0)
_CF_LINK_FORMAT = const(40)
_CF_OCTET_STREAM = const(42)
_CF_JSON = const(50)
_CF_CBOR = const(60)

# Caps (see the header comment).
_MAX_OPTIONS = const(16)
_MAX_PATH_SEGS = const(8)
_MAX_OPT_BYTES = const(512)
_MAX_TOKEN = const(8)

# Option value formats (second field of an option_info() entry):
# 0 empty, 1 opaque, 2 uint, 3 string.
# Registry: (number, format, min length, max length, repeatable). Critical,
# unsafe and NoCacheKey follow from the number (option_flags()).
_REGISTRY = const((
    (1, 1, 0, 8, 1),  # If-Match
    (3, 3, 1, 255, 0),  # Uri-Host
    (4, 1, 1, 8, 1),  # ETag
    (5, 0, 0, 0, 0),  # If-None-Match
    (6, 2, 0, 3, 0),  # Observe (RFC 7641)
    (7, 2, 0, 2, 0),  # Uri-Port
    (8, 3, 0, 255, 1),  # Location-Path
    (9, 1, 0, 255, 0),  # OSCORE (RFC 8613)
    (11, 3, 0, 255, 1),  # Uri-Path
    (12, 2, 0, 2, 0),  # Content-Format
    (14, 2, 0, 4, 0),  # Max-Age
    (15, 3, 0, 255, 1),  # Uri-Query
    (16, 2, 1, 1, 0),  # Hop-Limit (RFC 8768)
    (17, 2, 0, 2, 0),  # Accept
    (19, 2, 0, 3, 0),  # Q-Block1 (RFC 9177)
    (20, 3, 0, 255, 1),  # Location-Query
    (21, 0, 0, 0, 0),  # EDHOC (RFC 9668)
    (23, 2, 0, 3, 0),  # Block2 (RFC 7959)
    (27, 2, 0, 3, 0),  # Block1
    (28, 2, 0, 4, 0),  # Size2
    (31, 2, 0, 3, 0),  # Q-Block2
    (35, 3, 1, 1034, 0),  # Proxy-Uri
    (39, 3, 1, 255, 0),  # Proxy-Scheme
    (60, 2, 0, 4, 0),  # Size1
    (252, 1, 1, 40, 0),  # Echo (RFC 9175)
    (258, 2, 0, 1, 0),  # No-Response (RFC 7967)
    (292, 1, 0, 8, 1),  # Request-Tag (RFC 9175)
))
_NAMES = const((
    "If-Match", "Uri-Host", "ETag", "If-None-Match", "Observe", "Uri-Port",
    "Location-Path", "OSCORE", "Uri-Path", "Content-Format", "Max-Age", "Uri-Query",
    "Hop-Limit", "Accept", "Q-Block1", "Location-Query", "EDHOC", "Block2", "Block1",
    "Size2", "Q-Block2", "Proxy-Uri", "Proxy-Scheme", "Size1", "Echo", "No-Response",
    "Request-Tag",
))
_CF_NAMES = const((
    (0, "text/plain;charset=utf-8"),
    (16, 'application/cose;cose-type="cose-encrypt0"'),
    (17, 'application/cose;cose-type="cose-mac0"'),
    (18, 'application/cose;cose-type="cose-sign1"'),
    (40, "application/link-format"),
    (41, "application/xml"),
    (42, "application/octet-stream"),
    (47, "application/exi"),
    (50, "application/json"),
    (60, "application/cbor"),
    (61, "application/cwt"),
    (63, "application/cbor-seq"),
    (101, "application/cose-key"),
    (110, "application/senml+json"),
    (112, "application/senml+cbor"),
    (10001, "application/oscore"),
))


# ---------------------------------------------------------------- errors
class CoAPError(ValueError):
    """Root of the CoAP errors. `hdr` is (type, code, mid, token) when the
    header and token were readable before the failure, else None."""

    hdr = None


class CoAPFormatError(CoAPError):
    """Message format error (RFC 7252 section 3): reject CON, ignore others."""


class CoAPLimitError(CoAPError):
    """A hard cap was exceeded (options, path segments, option bytes)."""


class CoAPBadOption(CoAPError):
    """An option value is not acceptable (length or content)."""


class CoAPResponseError(CoAPError):
    """Raised by request handlers to answer with `code` (e.g. 4.03)."""

    def __init__(self, code, msg=""):
        super().__init__(msg)
        self.code = code


def _fail(cls, reason, hdr):
    e = cls(reason)
    e.hdr = hdr
    raise e


# ---------------------------------------------------------------- registry
def option_info(num):
    """(number, format, min len, max len, repeatable) or None if unknown."""
    for ent in _REGISTRY:
        if ent[0] == num:
            return ent
        if ent[0] > num:
            return None
    return None


def option_name(num):
    for i in range(len(_REGISTRY)):
        if _REGISTRY[i][0] == num:
            return _NAMES[i]
    return "Unknown-%d" % num


def option_number(name):
    """Option number from its registry name (case-insensitive) or None."""
    low = name.lower()
    for i in range(len(_NAMES)):
        if _NAMES[i].lower() == low:
            return _REGISTRY[i][0]
    return None


def is_critical(num):
    return num & 1 == 1


def is_unsafe(num):
    return num & 2 == 2


def is_no_cache_key(num):
    return num & 0x1E == 0x1C


def content_format_name(cf):
    for n, name in _CF_NAMES:
        if n == cf:
            return name
    return None


def content_format_number(name):
    low = name.replace(" ", "").lower()
    for n, nm in _CF_NAMES:
        if nm.lower() == low or nm.split(";")[0] == low:
            return n
    return None


def option_valid(num, value):
    """True if the option is known and its value length is in range."""
    ent = option_info(num)
    if ent is None:
        return False
    n = len(value)
    return ent[2] <= n <= ent[3]


def code_str(code):
    """'2.05' style text for a code byte."""
    return "%d.%02d" % (code >> 5, code & 31)


def is_request(code):
    return 0 < code < 32


def is_response(code):
    return 64 <= code < 192


# ---------------------------------------------------------------- values
def uint_encode(v):
    """Minimal big-endian bytes of a non-negative int (0 -> b'')."""
    if v < 0:
        raise CoAPBadOption("negative uint")
    if v == 0:
        return b""
    if v < 0x100:
        return bytes((v,))
    if v < 0x10000:
        return bytes((v >> 8, v & 255))
    n = (v.bit_length() + 7) >> 3 if hasattr(v, "bit_length") else _nbytes(v)
    return v.to_bytes(n, "big")


def _nbytes(v):
    n = 0
    while v:
        v >>= 8
        n += 1
    return n


def uint_decode(b):
    n = 0
    for c in b:
        n = (n << 8) | c
    return n


def _value_bytes(value):
    if isinstance(value, int):
        return uint_encode(value)
    if isinstance(value, str):
        return value.encode()
    return bytes(value)


def block_decode(v):
    """(num, more, szx) from a Block1/Block2 value (bytes or int)."""
    if not isinstance(v, int):
        if len(v) > 3:
            raise CoAPBadOption("block length")
        v = uint_decode(v)
    return v >> 4, (v >> 3) & 1, v & 7


def block_encode(num, more, szx):
    return uint_encode((num << 4) | (8 if more else 0) | szx)


def szx_size(szx):
    return 1 << (szx + 4)


# ---------------------------------------------------------------- message
class Message:
    """A CoAP message. `peer` is set by the endpoint on received messages.

    Attributes still at their class default (mid 0, empty token/payload,
    no peer) are not stored per instance: fewer bytes per message."""

    mtype = _CON
    mid = 0
    token = b""
    payload = b""
    peer = None

    def __init__(self, mtype=_CON, code=_GET, mid=0, token=b"", opts=None, payload=b""):
        if mtype:
            self.mtype = mtype
        self.code = code
        if mid:
            self.mid = mid
        if token:
            self.token = token
        self.opts = [] if opts is None else opts
        if payload:
            self.payload = payload

    def __repr__(self):
        return "<CoAP %s %s mid=%d tok=%s opts=%r %dB>" % (
            ("CON", "NON", "ACK", "RST")[self.mtype & 3],
            code_str(self.code),
            self.mid,
            _hexs(self.token),
            self.opts,
            len(self.payload),
        )

    # -- options
    def opt(self, num, default=None):
        """First value of option `num` (bytes) or default."""
        for n, v in self.opts:
            if n == num:
                return v
            if n > num:
                break
        return default

    def opt_all(self, num):
        """All values of option `num` (a list)."""
        return [v for n, v in self.opts if n == num]

    def opt_uint(self, num, default=None):
        v = self.opt(num)
        if v is None:
            return default
        return uint_decode(v)

    def _mutable_opts(self):
        opts = self.opts
        if type(opts) is not list:  # a shared tuple (see response())
            opts = self.opts = list(opts)
        return opts

    def add(self, num, value=b""):
        """Insert option `num` after any options with numbers <= num."""
        v = _value_bytes(value)
        opts = self._mutable_opts()
        i = len(opts)
        while i and opts[i - 1][0] > num:
            i -= 1
        opts.insert(i, (num, v))
        return self

    def set(self, num, value=b""):
        self.remove(num)
        return self.add(num, value)

    def remove(self, num):
        opts = self._mutable_opts()
        i = 0
        while i < len(opts):
            if opts[i][0] == num:
                opts.pop(i)
            else:
                i += 1
        return self

    # -- URI
    def set_path(self, path):
        """Set Uri-Path from 'a/b/c' (leading '/' ignored) or a list."""
        self.remove(_URI_PATH)
        if isinstance(path, str):
            path = [s for s in path.split("/") if s]
        for seg in path:
            self.add(_URI_PATH, seg)
        return self

    def path(self):
        """Uri-Path as 'a/b' text (no leading slash)."""
        return "/".join([bytes(v).decode() for n, v in self.opts if n == _URI_PATH])

    def query(self):
        return [bytes(v).decode() for n, v in self.opts if n == _URI_QUERY]

    def block1(self):
        v = self.opt(_BLOCK1)
        return None if v is None else block_decode(v)

    def block2(self):
        v = self.opt(_BLOCK2)
        return None if v is None else block_decode(v)

    # -- encoding
    def encoded_size(self):
        n = 4 + len(self.token)
        prev = 0
        for num, v in self.opts:
            d = num - prev
            ln = len(v)
            n += 1 + len(v) + (0 if d < 13 else 1 if d < 269 else 2)
            n += 0 if ln < 13 else 1 if ln < 269 else 2
            prev = num
        if self.payload:
            n += 1 + len(self.payload)
        return n

    def encode(self):
        buf = bytearray(self.encoded_size())
        self.encode_into(buf, 0)
        return bytes(buf)

    def encode_into(self, buf, off=0):
        """Write the message into `buf` at `off`; return the end offset."""
        return self.encode_reply_into(buf, off, self.mtype, self.mid, self.token)

    def encode_reply_into(self, buf, off, mtype, mid, tok):
        """encode_into() with the header fields given, not taken from self
        (the endpoint answers with a handler's Message without changing it)."""
        tkl = len(tok)
        if tkl > _MAX_TOKEN:
            raise CoAPFormatError("token too long")
        _pack_into(">BBH", buf, off, 0x40 | ((mtype & 3) << 4) | tkl, self.code, mid & 0xFFFF)
        off += 4
        if tkl:
            if type(tok) is bytes:
                _pack_into(_SFMT[tkl], buf, off, tok)
            else:
                buf[off : off + tkl] = tok
            off += tkl
        opts = self.opts
        if opts:
            off = encode_opts_into(buf, off, opts)
        pl = self.payload
        if pl:
            n = len(pl)
            buf[off] = 0xFF
            off += 1
            if n <= 8 and type(pl) is bytes:
                _pack_into(_SFMT[n], buf, off, pl)
            else:
                buf[off : off + n] = pl
            off += n
        return off


def sorted_opts(opts):
    """opts ordered by option number, repeatable options keeping their order
    (the list itself when it is already in order)."""
    prev = 0
    for n, _ in opts:
        if n < prev:
            break
        prev = n
    else:
        return opts
    out = []
    for item in opts:
        i = len(out)
        while i and out[i - 1][0] > item[0]:
            i -= 1
        out.insert(i, item)
    return out


def encode_opts_into(buf, off, opts):
    """Write `opts` ((number, bytes) pairs) at `off`; return the end offset.
    Unsorted input is stably sorted first (repeatable options keep order)."""
    prev = 0
    start = off
    for num, v in opts:
        d = num - prev
        if d < 0:
            return encode_opts_into(buf, start, sorted_opts(opts))
        prev = num
        ln = len(v)
        if d < 13 and ln < 13:
            buf[off] = (d << 4) | ln
            off += 1
        else:
            p = off
            off += 1
            if d < 13:
                h = d << 4
            elif d < 269:
                h = 0xD0
                buf[off] = d - 13
                off += 1
            else:
                h = 0xE0
                d -= 269
                buf[off] = d >> 8
                buf[off + 1] = d & 255
                off += 2
            if ln < 13:
                h |= ln
            elif ln < 269:
                h |= 13
                buf[off] = ln - 13
                off += 1
            else:
                h |= 14
                ln2 = ln - 269
                buf[off] = ln2 >> 8
                buf[off + 1] = ln2 & 255
                off += 2
            buf[p] = h
        if ln:
            if ln <= 8 and type(v) is bytes:
                _pack_into(_SFMT[ln], buf, off, v)
            else:
                buf[off : off + ln] = v
            off += ln
    return off


def decode(data, zero_copy=False):
    """Parse one datagram into a Message (see the caps at the top).

    With zero_copy the payload is a memoryview slice of `data`; a memoryview
    `data` is then read in place (no copy of the datagram): only the token
    and the option values are copied, since they outlive the datagram."""
    mv = None
    if not isinstance(data, bytes):
        if zero_copy and isinstance(data, memoryview):
            mv = data
        else:
            data = bytes(data)
    n = len(data)
    if n < 4:
        _fail(CoAPFormatError, "short header", None)
    b0 = data[0]
    if b0 >> 6 != 1:
        _fail(CoAPFormatError, "version", None)
    mtype = (b0 >> 4) & 3
    tkl = b0 & 15
    code = data[1]
    mid = (data[2] << 8) | data[3]
    if tkl > 8:
        _fail(CoAPFormatError, "token length", (mtype, code, mid, b""))
    off = 4 + tkl
    if off > n:
        _fail(CoAPFormatError, "truncated token", (mtype, code, mid, b""))
    token = (data[4:off] if mv is None else bytes(data[4:off])) if tkl else b""
    if code == 0:
        if n != 4:
            _fail(CoAPFormatError, "empty message with content", (mtype, code, mid, token))
        return Message(mtype, code, mid, token)
    hdr = (mtype, code, mid, token)
    if zero_copy and mv is None:
        mv = memoryview(data)
    opts, payload = decode_options(data, off, mv if zero_copy else None, hdr)
    return Message(mtype, code, mid, token, opts, payload)


def decode_options(data, off, mv=None, hdr=None):
    """Options and payload of data[off:] (RFC 7252 section 3.1) under the
    caps at the top: (opts, payload). Also parses OSCORE's inner plaintext.
    The payload is a slice of memoryview mv when one is given (mv=True: of
    a memoryview of data, made only when there is a payload). Failures raise
    CoAPError subclasses carrying hdr. Option values are bytes even when
    data is a memoryview."""
    n = len(data)
    view = type(data) is memoryview
    opts = []
    num = 0
    total = 0
    paths = 0
    cnt = 0
    payload = b""
    while off < n:
        b = data[off]
        off += 1
        if b == 0xFF:
            if off == n:
                _fail(CoAPFormatError, "payload marker without payload", hdr)
            if mv is True:
                mv = memoryview(data)
            payload = data[off:] if mv is None else mv[off:]
            break
        ln = b & 15
        if b >= 0xD0 or ln >= 13:
            d, ln, off = _ext(data, off, n, b >> 4, ln, hdr)
            num += d
        else:
            num += b >> 4
        end = off + ln
        if end > n:
            _fail(CoAPFormatError, "truncated option value", hdr)
        cnt += 1
        if cnt > _MAX_OPTIONS:
            _fail(CoAPLimitError, "too many options", hdr)
        total += ln
        if num == 11:
            paths += 1
        opts.append((num, bytes(data[off:end]) if view else data[off:end]))
        off = end
    if total > _MAX_OPT_BYTES:
        _fail(CoAPLimitError, "options too long", hdr)
    if paths > _MAX_PATH_SEGS:
        _fail(CoAPLimitError, "too many path segments", hdr)
    return opts, payload


def _ext(data, off, n, d, ln, hdr):
    """Extended option delta/length (RFC 7252 3.1): (delta, length, offset)."""
    if d >= 13:
        if d == 13:
            if off >= n:
                _fail(CoAPFormatError, "truncated option", hdr)
            d = data[off] + 13
            off += 1
        elif d == 14:
            if off + 2 > n:
                _fail(CoAPFormatError, "truncated option", hdr)
            d = ((data[off] << 8) | data[off + 1]) + 269
            off += 2
        else:
            _fail(CoAPFormatError, "reserved option delta", hdr)
    if ln >= 13:
        if ln == 13:
            if off >= n:
                _fail(CoAPFormatError, "truncated option", hdr)
            ln = data[off] + 13
            off += 1
        elif ln == 14:
            if off + 2 > n:
                _fail(CoAPFormatError, "truncated option", hdr)
            ln = ((data[off] << 8) | data[off + 1]) + 269
            off += 2
        else:
            _fail(CoAPFormatError, "reserved option length", hdr)
    return d, ln, off


def _hexs(b):
    import binascii

    return binascii.hexlify(bytes(b)).decode()


def empty(mtype, mid):
    """Encoded Empty message (ACK or RST) for `mid`."""
    return bytes((0x40 | (mtype << 4), 0, (mid >> 8) & 255, mid & 255))


_CF_OPTS = {}  # cf -> ((Content-Format, value),): shared, immutable


def response(code, payload=b"", cf=None):
    """Convenience: a response Message (the endpoint fills type/mid/token).
    Its opts start as a shared tuple; add()/set()/remove() copy it first."""
    if cf is None:
        return Message(_ACK, code, 0, b"", None, payload)
    opts = _CF_OPTS.get(cf)
    if opts is None:
        opts = ((_CONTENT_FORMAT, uint_encode(cf)),)
        if len(_CF_OPTS) < 8:
            _CF_OPTS[cf] = opts
    return Message(_ACK, code, 0, b"", opts, payload)


# The public constants (module.NAME, `from coap_msg import NAME`): a literal table
# (ROM when frozen) read by __getattr__, instead of a slot each in this
# module's globals (heap). Inside the module the private names fold away.
_PUBLIC = const((
    ("CON", _CON), ("NON", _NON), ("ACK", _ACK), ("RST", _RST), ("EMPTY", _EMPTY), ("GET", _GET),
    ("POST", _POST), ("PUT", _PUT), ("DELETE", _DELETE), ("FETCH", _FETCH), ("PATCH", _PATCH),
    ("IPATCH", _IPATCH), ("CREATED", _CREATED), ("DELETED", _DELETED), ("VALID", _VALID),
    ("CHANGED", _CHANGED), ("CONTENT", _CONTENT), ("CONTINUE", _CONTINUE),
    ("BAD_REQUEST", _BAD_REQUEST), ("UNAUTHORIZED", _UNAUTHORIZED), ("BAD_OPTION", _BAD_OPTION),
    ("FORBIDDEN", _FORBIDDEN), ("NOT_FOUND", _NOT_FOUND),
    ("METHOD_NOT_ALLOWED", _METHOD_NOT_ALLOWED), ("NOT_ACCEPTABLE", _NOT_ACCEPTABLE),
    ("REQUEST_ENTITY_INCOMPLETE", _REQUEST_ENTITY_INCOMPLETE), ("CONFLICT", _CONFLICT),
    ("PRECONDITION_FAILED", _PRECONDITION_FAILED),
    ("REQUEST_ENTITY_TOO_LARGE", _REQUEST_ENTITY_TOO_LARGE),
    ("UNSUPPORTED_CONTENT_FORMAT", _UNSUPPORTED_CONTENT_FORMAT),
    ("INTERNAL_SERVER_ERROR", _INTERNAL_SERVER_ERROR), ("NOT_IMPLEMENTED", _NOT_IMPLEMENTED),
    ("SERVICE_UNAVAILABLE", _SERVICE_UNAVAILABLE), ("GATEWAY_TIMEOUT", _GATEWAY_TIMEOUT),
    ("PROXYING_NOT_SUPPORTED", _PROXYING_NOT_SUPPORTED), ("IF_MATCH", _IF_MATCH),
    ("URI_HOST", _URI_HOST), ("ETAG", _ETAG), ("IF_NONE_MATCH", _IF_NONE_MATCH),
    ("OBSERVE", _OBSERVE), ("URI_PORT", _URI_PORT), ("LOCATION_PATH", _LOCATION_PATH),
    ("OSCORE", _OSCORE), ("URI_PATH", _URI_PATH), ("CONTENT_FORMAT", _CONTENT_FORMAT),
    ("MAX_AGE", _MAX_AGE), ("URI_QUERY", _URI_QUERY), ("ACCEPT", _ACCEPT),
    ("LOCATION_QUERY", _LOCATION_QUERY), ("BLOCK2", _BLOCK2), ("BLOCK1", _BLOCK1),
    ("SIZE2", _SIZE2), ("PROXY_URI", _PROXY_URI), ("PROXY_SCHEME", _PROXY_SCHEME),
    ("SIZE1", _SIZE1), ("ECHO", _ECHO), ("REQUEST_TAG", _REQUEST_TAG), ("CF_TEXT", _CF_TEXT),
    ("CF_LINK_FORMAT", _CF_LINK_FORMAT), ("CF_OCTET_STREAM", _CF_OCTET_STREAM),
    ("CF_JSON", _CF_JSON), ("CF_CBOR", _CF_CBOR), ("MAX_OPTIONS", _MAX_OPTIONS),
    ("MAX_PATH_SEGS", _MAX_PATH_SEGS), ("MAX_OPT_BYTES", _MAX_OPT_BYTES),
    ("MAX_TOKEN", _MAX_TOKEN),
))


def __getattr__(name):
    for k, v in _PUBLIC:
        if k == name:
            return v
    raise AttributeError(name)
