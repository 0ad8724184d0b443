# CBOR (RFC 8949) codec for hourglass: runs on CPython and MicroPython.
#
# dumps() produces core deterministic encoding (RFC 8949 section 4.2.1);
# head() is its item head alone, for callers that stream the item's content.
# loads()/decode_from() decode one data item without recursion (explicit
# stack), check every declared length against the remaining input before
# allocating, and raise CBORDecodeError for any malformed input.
# MemoryError is not caught: the caller decides what out-of-heap means.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from struct import pack as _pack, unpack as _unpack, unpack_from as _unpack_from


_ENC_MAX_DEPTH = const(64)


class CBORError(ValueError):
    pass


class CBORDecodeError(CBORError):
    pass


class CBOREncodeError(CBORError):
    pass


class Tag:
    """Tagged data item (major type 6); tags 2/3 decode to int instead."""

    def __init__(self, tag, value):
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tag) and self.tag == other.tag and self.value == other.value

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "Tag(%r, %r)" % (self.tag, self.value)


class Simple:
    """Simple value 0..19 or 32..255 (20..23 are False/True/None/UNDEFINED)."""

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Simple) and self.value == other.value

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.value) ^ 0x5A5A

    def __repr__(self):
        return "Simple(%r)" % (self.value,)


class _Undefined:
    def __repr__(self):
        return "UNDEFINED"


UNDEFINED = _Undefined()

_NOKEY = object()  # open map: waiting for a key
_NONE1 = [None]  # template for pre-sized lists (never modified)
_END = object()  # encoder stack: container finished
_RAW = object()  # encoder stack: next entry is pre-encoded bytes
_INF = float("inf")
_2M24 = 2.0**-24  # not a decimal literal: single-precision ports parse those inexactly
_NAN = float("nan")
# Encoded small int keys -24..23 and text heads of length 0..23, written as
# literal tuples so that frozen code keeps them in ROM (built at import they
# took ~2.3 KB of heap in every program that imports cbor).
_SMALL_INT_KEYS = const((
    b"\x37", b"\x36", b"\x35", b"\x34", b"\x33", b"\x32", b"\x31", b"\x30",
    b"\x2f", b"\x2e", b"\x2d", b"\x2c", b"\x2b", b"\x2a", b"\x29", b"\x28",
    b"\x27", b"\x26", b"\x25", b"\x24", b"\x23", b"\x22", b"\x21", b"\x20",
    b"\x00", b"\x01", b"\x02", b"\x03", b"\x04", b"\x05", b"\x06", b"\x07",
    b"\x08", b"\x09", b"\x0a", b"\x0b", b"\x0c", b"\x0d", b"\x0e", b"\x0f",
    b"\x10", b"\x11", b"\x12", b"\x13", b"\x14", b"\x15", b"\x16", b"\x17",
))
_TEXT_HEADS = const((
    b"\x60", b"\x61", b"\x62", b"\x63", b"\x64", b"\x65", b"\x66", b"\x67",
    b"\x68", b"\x69", b"\x6a", b"\x6b", b"\x6c", b"\x6d", b"\x6e", b"\x6f",
    b"\x70", b"\x71", b"\x72", b"\x73", b"\x74", b"\x75", b"\x76", b"\x77",
))

# What str(b, "utf-8") checks differs between ports (MicroPython accepts
# surrogates, overlong forms and code points above U+10FFFF): probe once.
try:
    str(b"\xed\xa0\x80", "utf-8")
    _UTF8_LAX = True
except UnicodeError:
    _UTF8_LAX = False
_UTF8_UNI = len(str(b"\xc3\xbc", "utf-8")) == 1


# ---------------------------------------------------------------- encoding


def _head(out, mt, n):
    if n < 24:
        out.append(mt | n)
    elif n < 0x100:
        out.append(mt | 24)
        out.append(n)
    elif n < 0x10000:
        out.append(mt | 25)
        out.append(n >> 8)
        out.append(n & 0xFF)
    elif n < 0x100000000:
        out.append(mt | 26)
        out += _pack(">I", n)
    else:
        out.append(mt | 27)
        out += _pack(">Q", n)


def _fits(m, msrc, e, mdst, emin, emax):
    # Is (1.m) * 2**e (m has msrc fraction bits) exactly representable in a
    # binary format with mdst fraction bits and normal exponents emin..emax?
    if e > emax or e < emin - mdst:
        return False
    drop = msrc - mdst
    if e < emin:
        drop += emin - e
    return (((1 << msrc) | m) & ((1 << drop) - 1)) == 0


def _enc_float(out, x):
    if x != x:
        out += b"\xf9\x7e\x00"
        return
    hi, lo = _unpack(">II", _pack(">d", x))
    sign = hi >> 31
    e = (hi >> 20) & 0x7FF
    m = ((hi & 0xFFFFF) << 32) | lo
    if e == 0x7FF:
        out += b"\xf9\xfc\x00" if sign else b"\xf9\x7c\x00"
        return
    if e == 0:
        if m == 0:
            out += b"\xf9\x80\x00" if sign else b"\xf9\x00\x00"
            return
        out.append(0xFB)  # double subnormal: nothing shorter holds it
        out += _pack(">d", x)
        return
    e -= 1023
    if _fits(m, 52, e, 10, -14, 15):
        if e >= -14:
            h = ((e + 15) << 10) | (m >> 42)
        else:
            h = ((1 << 52) | m) >> (28 - e)
        h |= sign << 15
        out.append(0xF9)
        out.append(h >> 8)
        out.append(h & 0xFF)
    elif _fits(m, 52, e, 23, -126, 127):
        out.append(0xFA)
        out += _pack(">f", x)
    else:
        out.append(0xFB)
        out += _pack(">d", x)


def _enc_str(out, x):
    try:
        b = x.encode("utf-8")
    except UnicodeError:
        raise CBOREncodeError("string not encodable as utf-8")
    n = len(b)
    if n < 24:
        out.append(0x60 | n)
    else:
        _head(out, 0x60, n)
    out += b


def _key_bytes(k, depth):
    t = type(k)
    if t is int and -24 <= k < 24:
        return _SMALL_INT_KEYS[k + 24]
    if t is str:
        try:
            b = k.encode("utf-8")
        except UnicodeError:
            raise CBOREncodeError("string not encodable as utf-8")
        if len(b) < 24:
            return _TEXT_HEADS[len(b)] + b
    out = bytearray()
    _encode(out, k, depth)
    return bytes(out)


def _encode(out, obj, depth):
    stack = [obj]
    pop = stack.pop
    push = stack.append
    while stack:
        x = pop()
        t = type(x)
        if t is int:
            if x >= 0:
                mt = 0
            else:
                mt = 0x20
                x = -1 - x
            if x < 24:
                out.append(mt | x)
            elif x <= 0xFFFFFFFFFFFFFFFF:
                _head(out, mt, x)
            else:
                n = 9
                while x >> (n << 3):
                    n += 1
                out.append(0xC3 if mt else 0xC2)
                _head(out, 0x40, n)
                out += x.to_bytes(n, "big")
        elif t is bytes or t is bytearray or t is memoryview:
            n = len(x)
            if t is memoryview:  # length in bytes, whatever the item format
                n = getattr(x, "nbytes", n * getattr(x, "itemsize", 1))
            if n < 24:
                out.append(0x40 | n)
            else:
                _head(out, 0x40, n)
            out += x
        elif t is str:
            _enc_str(out, x)
        elif t is dict:
            n = len(x)
            if n < 24:
                out.append(0xA0 | n)
            else:
                _head(out, 0xA0, n)
            if n:
                depth += 1
                if depth > _ENC_MAX_DEPTH:
                    raise CBOREncodeError("too deep")
                push(_END)
                for k in x:
                    if type(k) is not int or k > 0xFFFFFFFFFFFFFFFF or k < -0x10000000000000000:
                        break
                else:
                    # Only int keys (COSE, SUIT, CWT): bytewise order of their
                    # encodings is 0, 1, 2, ... then -1, -2, ...; the keys are
                    # pushed as ints and encoded like any other value.
                    ks = sorted(x)
                    i = 0
                    while i < n and ks[i] < 0:
                        i += 1
                    j = 0
                    while j < i:  # negatives, largest (-1) pushed last
                        k = ks[j]
                        push(x[k])
                        push(k)
                        j += 1
                    while n > i:  # then non-negatives, smallest pushed last
                        n -= 1
                        k = ks[n]
                        push(x[k])
                        push(k)
                    continue
                if n == 1:
                    for k, v in x.items():
                        push(v)
                        push(_key_bytes(k, depth))
                        push(_RAW)
                else:
                    ek = {}
                    for k, v in x.items():
                        if type(k) is int and -24 <= k < 24:
                            ek[_SMALL_INT_KEYS[k + 24]] = v
                        else:
                            ek[_key_bytes(k, depth)] = v
                    if len(ek) != n:
                        raise CBOREncodeError("duplicate map key")
                    ks = sorted(ek)
                    while n:
                        n -= 1
                        kb = ks[n]
                        push(ek[kb])
                        push(kb)
                        push(_RAW)
        elif t is list or t is tuple:
            n = len(x)
            if n < 24:
                out.append(0x80 | n)
            else:
                _head(out, 0x80, n)
            if n:
                depth += 1
                if depth > _ENC_MAX_DEPTH:
                    raise CBOREncodeError("too deep")
                push(_END)
                if n == 1:
                    push(x[0])
                else:
                    stack.extend(reversed(x))
        elif x is _RAW:
            out += pop()
        elif x is _END:
            depth -= 1
        elif x is None:
            out.append(0xF6)
        elif t is bool:
            out.append(0xF5 if x else 0xF4)
        elif t is float:
            _enc_float(out, x)
        elif t is Tag:
            n = x.tag
            if type(n) is not int or n < 0 or n > 0xFFFFFFFFFFFFFFFF:
                raise CBOREncodeError("invalid tag number")
            _head(out, 0xC0, n)
            depth += 1
            if depth > _ENC_MAX_DEPTH:
                raise CBOREncodeError("too deep")
            push(_END)
            push(x.value)
        elif t is Simple:
            n = x.value
            if type(n) is not int or not (0 <= n < 20 or 32 <= n < 256):
                raise CBOREncodeError("invalid simple value")
            if n < 20:
                out.append(0xE0 | n)
            else:
                out.append(0xF8)
                out.append(n)
        elif x is UNDEFINED:
            out.append(0xF7)
        elif isinstance(x, int):  # int subclasses (IntEnum, ...)
            push(int(x))
        elif isinstance(x, float):
            push(float(x))
        elif isinstance(x, str):
            _enc_str(out, x)
        elif isinstance(x, (bytes, bytearray)):
            push(bytes(x))
        elif isinstance(x, dict):
            push(dict(x))
        elif isinstance(x, (list, tuple)):
            push(list(x))
        else:
            raise CBOREncodeError("unsupported type: " + type(x).__name__)


def dumps(obj):
    """Encode obj as deterministic CBOR (RFC 8949 section 4.2.1)."""
    out = bytearray()
    _encode(out, obj, 0)
    return bytes(out)


def head(major, n):
    """The head (initial byte and argument, shortest form) of a major type
    0..7 item with argument n: for callers that write the rest of the item
    themselves, e.g. a bstr head in front of a payload they stream."""
    if not 0 <= major <= 7 or not 0 <= n <= 0xFFFFFFFFFFFFFFFF:
        raise CBOREncodeError("bad head")
    out = bytearray()
    _head(out, major << 5, n)
    return bytes(out)


# ---------------------------------------------------------------- decoding


def _check_utf8(buf, i, end):
    # Strict UTF-8 (RFC 3629) for ports whose decoder is lax.
    while i < end:
        c = buf[i]
        if c < 0x80:
            i += 1
            continue
        lo = 0x80
        hi = 0xBF
        if 0xC2 <= c <= 0xDF:
            n = 1
        elif 0xE0 <= c <= 0xEF:
            n = 2
            if c == 0xE0:
                lo = 0xA0
            elif c == 0xED:
                hi = 0x9F
        elif 0xF0 <= c <= 0xF4:
            n = 3
            if c == 0xF0:
                lo = 0x90
            elif c == 0xF4:
                hi = 0x8F
        else:
            raise CBORDecodeError("invalid utf-8")
        if i + n >= end:
            raise CBORDecodeError("invalid utf-8")
        c = buf[i + 1]
        if c < lo or c > hi:
            raise CBORDecodeError("invalid utf-8")
        j = i + 2
        i += n + 1
        while j < i:
            if buf[j] & 0xC0 != 0x80:
                raise CBORDecodeError("invalid utf-8")
            j += 1


def _text(mv, a, b):
    try:
        s = str(mv[a:b], "utf-8")
    except UnicodeError:
        raise CBORDecodeError("invalid utf-8")
    if _UTF8_LAX and (len(s) != b - a or not _UTF8_UNI):
        _check_utf8(mv, a, b)
    return s


def _half(h):
    e = (h >> 10) & 0x1F
    m = h & 0x3FF
    if e == 0:
        v = m * _2M24  # exact
    elif e == 31:
        if m:
            return _NAN  # one NaN object (payload and sign dropped)
        v = _INF
    else:
        v = (m + 1024) * (2.0 ** (e - 25))
    return -v if h & 0x8000 else v


def _chunks(data, mv, pos, end, mt, items, max_items):
    # Body of an indefinite-length string (non-strict only): definite chunks
    # of the same major type up to a break.
    parts = []
    while True:
        if pos >= end:
            raise CBORDecodeError("truncated")
        ib = data[pos]
        pos += 1
        if ib == 0xFF:
            break
        if ib >> 5 != mt:
            raise CBORDecodeError("bad chunk in indefinite string")
        n = ib & 0x1F
        if n >= 24:
            w = 0
            if n == 24:
                w = 1
            elif n == 25:
                w = 2
            elif n == 26:
                w = 4
            elif n == 27:
                w = 8
            elif n == 31:
                raise CBORDecodeError("nested indefinite string")
            else:
                raise CBORDecodeError("reserved additional info")
            if w > end - pos:
                raise CBORDecodeError("truncated")
            n = int.from_bytes(data[pos : pos + w], "big")
            pos += w
        if n > end - pos:
            raise CBORDecodeError("truncated")
        items += 1
        if items > max_items:
            raise CBORDecodeError("too many items")
        if mt == 2:
            parts.append(bytes(mv[pos : pos + n]))
        else:
            parts.append(_text(mv, pos, pos + n))
        pos += n
    if mt == 2:
        return b"".join(parts), pos, items
    return "".join(parts), pos, items


def _bignum(tag, val, strict):
    t = type(val)
    if t is not bytes and t is not memoryview:
        raise CBORDecodeError("bignum content not a byte string")
    if strict and (len(val) <= 8 or val[0] == 0):
        raise CBORDecodeError("non-preferred bignum")
    n = int.from_bytes(val, "big")
    return -1 - n if tag == 3 else n


def _decode(data, pos, strict, zero_copy, max_depth, max_items):
    end = len(data)
    mv = memoryview(data)
    slice_ok = type(data) is bytes
    unpack_from = _unpack_from
    # Open containers as parallel stacks (no per-container frame objects):
    # cont: list, dict or tag number; cnt: next list index / map pairs left,
    # -1 when indefinite; keys: per open map, its pending key or _NOKEY;
    # kst/kprev (strict only): per open map, where the next key starts and
    # the previous key's encoding.
    cont = []
    cnt = []
    keys = []
    if strict:
        kst = []
        kprev = []
    items = 1
    if max_items < 1:
        raise CBORDecodeError("too many items")
    while True:
        # ---- one data item header
        if pos >= end:
            raise CBORDecodeError("truncated")
        ib = data[pos]
        pos += 1
        mt = ib >> 5
        ai = ib & 0x1F
        if ai < 24:
            arg = ai
        elif ai == 24:
            if pos >= end:
                raise CBORDecodeError("truncated")
            arg = data[pos]
            pos += 1
            if arg < 24 and strict and mt != 7:
                raise CBORDecodeError("non-preferred argument")
        elif ai == 25:
            if pos + 2 > end:
                raise CBORDecodeError("truncated")
            arg = (data[pos] << 8) | data[pos + 1]
            pos += 2
            if arg < 0x100 and strict and mt != 7:
                raise CBORDecodeError("non-preferred argument")
        elif ai == 26:
            if pos + 4 > end:
                raise CBORDecodeError("truncated")
            arg = unpack_from(">I", data, pos)[0]
            pos += 4
            if arg < 0x10000 and strict and mt != 7:
                raise CBORDecodeError("non-preferred argument")
        elif ai == 27:
            if pos + 8 > end:
                raise CBORDecodeError("truncated")
            pos += 8
            if mt == 7:
                arg = 0  # double: read below
            else:
                arg = unpack_from(">Q", data, pos - 8)[0]
                if arg < 0x100000000 and strict:
                    raise CBORDecodeError("non-preferred argument")
        elif ai == 31:
            arg = -1
            if strict and mt != 7:
                raise CBORDecodeError("indefinite length in strict mode")
        else:
            raise CBORDecodeError("reserved additional info")

        # ---- its value, or a newly opened container
        if mt == 0:
            if arg < 0:
                raise CBORDecodeError("indefinite integer")
            val = arg
        elif mt == 2:
            if arg < 0:
                val, pos, items = _chunks(data, mv, pos, end, 2, items, max_items)
            else:
                if arg > end - pos:
                    raise CBORDecodeError("truncated")
                if zero_copy:
                    val = mv[pos : pos + arg]
                elif slice_ok:
                    val = data[pos : pos + arg]
                else:
                    val = bytes(mv[pos : pos + arg])
                pos += arg
        elif mt == 3:
            if arg < 0:
                val, pos, items = _chunks(data, mv, pos, end, 3, items, max_items)
            else:
                if arg > end - pos:
                    raise CBORDecodeError("truncated")
                val = _text(mv, pos, pos + arg)
                pos += arg
        elif mt == 4:
            if len(cont) >= max_depth:
                raise CBORDecodeError("too deep")
            if arg == 0:
                val = []
            else:
                if arg < 0:
                    cont.append([])
                else:
                    if arg > end - pos:
                        raise CBORDecodeError("truncated")
                    items += arg
                    if items > max_items:
                        raise CBORDecodeError("too many items")
                    cont.append(_NONE1 * arg)
                    arg = 0
                cnt.append(arg)
                continue
        elif mt == 5:
            if len(cont) >= max_depth:
                raise CBORDecodeError("too deep")
            if arg == 0:
                val = {}
            else:
                if arg > 0:
                    if arg > (end - pos) >> 1:
                        raise CBORDecodeError("truncated")
                    items += arg << 1
                    if items > max_items:
                        raise CBORDecodeError("too many items")
                cont.append({})
                cnt.append(arg)
                keys.append(_NOKEY)
                if strict:
                    kst.append(pos)
                    kprev.append(None)
                continue
        elif mt == 1:
            if arg < 0:
                raise CBORDecodeError("indefinite integer")
            val = -1 - arg
        elif mt == 6:
            if arg < 0:
                raise CBORDecodeError("indefinite tag")
            if len(cont) >= max_depth:
                raise CBORDecodeError("too deep")
            items += 1
            if items > max_items:
                raise CBORDecodeError("too many items")
            cont.append(arg)
            cnt.append(0)
            continue
        elif ai < 20:
            val = Simple(ai)
        elif ai == 20:
            val = False
        elif ai == 21:
            val = True
        elif ai == 22:
            val = None
        elif ai == 23:
            val = UNDEFINED
        elif ai == 24:
            if arg < 32:
                raise CBORDecodeError("invalid simple value")
            val = Simple(arg)
        elif ai == 25:
            val = _half(arg)
            if strict and arg & 0x7C00 == 0x7C00 and arg & 0x3FF and arg != 0x7E00:
                raise CBORDecodeError("non-preferred float")
        elif ai == 26:
            val = unpack_from(">f", data, pos - 4)[0]
            if val != val:
                val = _NAN  # one NaN object: duplicate NaN map keys are caught
            if strict:
                e = (arg >> 23) & 0xFF
                m = arg & 0x7FFFFF
                if e == 0xFF or (e == 0 and m == 0) or (e and _fits(m, 23, e - 127, 10, -14, 15)):
                    raise CBORDecodeError("non-preferred float")
        elif ai == 27:
            val = unpack_from(">d", data, pos - 8)[0]
            if val != val:
                val = _NAN
            if strict:
                hi, m = unpack_from(">II", data, pos - 8)
                e = (hi >> 20) & 0x7FF
                m |= (hi & 0xFFFFF) << 32
                if e == 0x7FF or (e == 0 and m == 0) or (e and _fits(m, 52, e - 1023, 23, -126, 127)):
                    raise CBORDecodeError("non-preferred float")
        else:  # break: closes the innermost indefinite array or map
            if not cont or cnt[-1] >= 0:
                raise CBORDecodeError("unexpected break")
            val = cont.pop()
            cnt.pop()
            if type(val) is dict:
                if keys.pop() is not _NOKEY:
                    raise CBORDecodeError("unexpected break")

        # ---- store the finished value; close every container it completes
        while cont:
            c = cont[-1]
            t = type(c)
            if t is list:
                i = cnt[-1]
                if i < 0:
                    items += 1
                    if items > max_items:
                        raise CBORDecodeError("too many items")
                    c.append(val)
                    break
                c[i] = val
                i += 1
                if i < len(c):
                    cnt[-1] = i
                    break
                val = c
            elif t is dict:
                n = cnt[-1]
                if n < 0:
                    items += 1
                    if items > max_items:
                        raise CBORDecodeError("too many items")
                k = keys[-1]
                if k is _NOKEY:
                    t = type(val)
                    if t is memoryview:
                        val = bytes(val)
                    elif t is list or t is dict or t is Tag:
                        raise CBORDecodeError("unhashable map key")
                    if val in c:
                        raise CBORDecodeError("duplicate map key")
                    if strict:
                        kb = bytes(mv[kst[-1] : pos])
                        k = kprev[-1]
                        if k is not None and kb <= k:
                            if kb == k:
                                raise CBORDecodeError("duplicate map key")
                            raise CBORDecodeError("unsorted map keys")
                        kprev[-1] = kb
                    keys[-1] = val
                    break
                c[k] = val
                keys[-1] = _NOKEY
                if strict:
                    kst[-1] = pos
                if n < 0:
                    break
                n -= 1
                if n:
                    cnt[-1] = n
                    break
                val = c
                keys.pop()
                if strict:
                    kst.pop()
                    kprev.pop()
            elif c == 2 or c == 3:  # tag number
                val = _bignum(c, val, strict)
            else:
                val = Tag(c, val)
            cont.pop()
            cnt.pop()
        else:
            return val, pos


def _check_input(data, off):
    t = type(data)
    if t is not bytes and t is not bytearray and t is not memoryview:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data must be bytes-like")
    if off < 0 or off > len(data):
        raise CBORDecodeError("bad offset")


def decode_from(data, off=0, strict=False, zero_copy=False, max_depth=16, max_items=4096):
    """Decode one data item at data[off:]; return (value, offset after it)."""
    _check_input(data, off)
    # MemoryError propagates: running out of heap is not malformed input,
    # and callers report it as such (SUIT_ERR_NO_MEM, 5.03, ...).
    try:
        return _decode(data, off, strict, zero_copy, max_depth, max_items)
    except OverflowError:  # ports without big ints
        raise CBORDecodeError("integer too large")


def loads(data, strict=False, zero_copy=False, max_depth=16, max_items=4096):
    """Decode exactly one data item from data (no trailing bytes)."""
    _check_input(data, 0)
    try:
        val, off = _decode(data, 0, strict, zero_copy, max_depth, max_items)
    except OverflowError:
        raise CBORDecodeError("integer too large")
    if off != len(data):
        raise CBORDecodeError("trailing bytes")
    return val
