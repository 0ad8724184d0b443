# SLIP framing (RFC 1055) for hourglass: CoAP datagrams over a serial line.
# Sans-I/O: bytes in, datagrams out; the same code runs on the device
# (coap_serial) and in the host bridge (hourglass bridge).
#
# Frame: END, the datagram with END -> ESC ESC_END and ESC -> ESC ESC_ESC,
# END. The leading END flushes line noise (RFC 1055 "a better way"); empty
# frames (END END) are skipped.
#
#   encode(datagram) -> bytes          one framed datagram
#   write_frame(write, datagram)       the same frame handed to write() in
#                                      pieces (no copy of the datagram)
#   Decoder(max_frame).feed(data) -> [datagram, ...]   complete frames in data
#
# The decoder keeps one preallocated frame buffer of max_frame bytes. A frame
# that grows beyond it is dropped up to the next END (counted in .oversize);
# a frame with a bad escape (ESC followed by anything but ESC_END/ESC_ESC,
# including END: an abort) is dropped too (counted in .bad_escape). Either
# way the decoder is in step again after the next END. Bytes the line carried
# before a sender's first END (a REPL banner, noise) come out as at most one
# bogus datagram, which the CoAP layer rejects (or a caller skips by calling
# reset() once the real traffic starts).
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


END = const(0xC0)
ESC = const(0xDB)
ESC_END = const(0xDC)
ESC_ESC = const(0xDD)

_END_B = b"\xc0"
_ESC_B = b"\xdb"
_ESC_END_B = b"\xdb\xdc"
_ESC_ESC_B = b"\xdb\xdd"

# Default bound: the largest CoAP datagram we expect over serial (RFC 7252
# section 4.6: 1152 bytes of message; 1280 leaves room for OSCORE overhead).
MAX_FRAME = const(1280)

# Decoder states
_DATA = const(0)
_ESCAPED = const(1)
_DISCARD = const(2)  # oversize or bad escape: wait for END
_OVERSIZE = const(3)  # as _DISCARD, counted as oversize at END


def encode(datagram):
    """The SLIP frame of one datagram (bytes)."""
    d = bytes(datagram)
    return _END_B + d.replace(_ESC_B, _ESC_ESC_B).replace(_END_B, _ESC_END_B) + _END_B


def encoded_size(datagram):
    """Length of encode(datagram) without building it."""
    n = len(datagram) + 2
    for c in datagram:
        if c == END or c == ESC:
            n += 1
    return n


def write_frame(write, datagram):
    """Hand one frame to write(piece) as runs of the datagram and escapes.
    datagram: bytes or bytearray (a memoryview is copied once)."""
    d = datagram
    if isinstance(d, memoryview):
        d = bytes(d)
    mv = memoryview(d)
    n = len(d)
    write(_END_B)
    i = 0
    ne = d.find(_END_B)
    nx = d.find(_ESC_B)
    while i < n:
        # the next special byte at or after i
        if ne < 0:
            j = nx
        elif nx < 0:
            j = ne
        else:
            j = ne if ne < nx else nx
        if j < 0:
            write(mv[i:])
            break
        if j > i:
            write(mv[i:j])
        if j == ne:
            write(_ESC_END_B)
            ne = d.find(_END_B, j + 1)
        else:
            write(_ESC_ESC_B)
            nx = d.find(_ESC_B, j + 1)
        i = j + 1
    write(_END_B)


class Decoder:
    """Incremental SLIP decoder with a bounded frame buffer."""

    def __init__(self, max_frame=MAX_FRAME):
        if max_frame < 1:
            raise ValueError("max_frame")
        self.max_frame = max_frame
        self._buf = bytearray(max_frame)
        self._mv = memoryview(self._buf)
        self._n = 0
        self._state = _DATA
        self.frames = 0  # complete frames returned
        self.oversize = 0  # frames dropped for exceeding max_frame
        self.bad_escape = 0  # frames dropped for a bad escape sequence

    @property
    def dropped(self):
        return self.oversize + self.bad_escape

    def reset(self):
        """Forget a partial frame (e.g. after the line was reopened)."""
        self._n = 0
        self._state = _DATA

    def pending(self):
        """Bytes of the frame in progress."""
        return self._n

    def feed(self, data, end=None):
        """Consume data[:end] (all of it by default); return the list of
        datagrams (bytes) completed. Runs between END/ESC bytes are copied
        with one slice assignment each (bytes/bytearray input; a memoryview
        is copied to bytes first)."""
        if not isinstance(data, (bytes, bytearray)):
            data = bytes(data)
        size = len(data) if end is None else end
        out = []
        buf = self._buf
        mv = self._mv
        dmv = memoryview(data)
        cap = self.max_frame
        n = self._n
        state = self._state
        find = data.find
        ne = find(_END_B, 0, size)  # next END at or after i (size: none)
        if ne < 0:
            ne = size
        nx = find(_ESC_B, 0, size)  # next ESC at or after i
        if nx < 0:
            nx = size
        i = 0
        while i < size:
            if ne < i:
                ne = find(_END_B, i, size)
                if ne < 0:
                    ne = size
            if state >= _DISCARD:
                i = ne  # skip to the END that ends this frame
                if i >= size:
                    break
            elif state == _DATA:
                if nx < i:
                    nx = find(_ESC_B, i, size)
                    if nx < 0:
                        nx = size
                j = ne if ne < nx else nx
                if j > i:
                    run = j - i
                    if n + run > cap:
                        state = _OVERSIZE
                    else:
                        mv[n : n + run] = dmv[i:j]
                        n += run
                    i = j
                    continue
            c = data[i]
            i += 1
            if c == END:
                if state == _DATA:
                    if n:
                        out.append(bytes(mv[:n]))
                elif state == _OVERSIZE:
                    self.oversize += 1
                else:
                    # ESC END aborts the frame; or a bad escape was seen earlier
                    self.bad_escape += 1
                n = 0
                state = _DATA
                continue
            if state == _ESCAPED:
                if c == ESC_END:
                    c = END
                elif c == ESC_ESC:
                    c = ESC
                else:
                    state = _DISCARD
                    continue
                state = _DATA
            elif c == ESC:
                state = _ESCAPED
                continue
            if n >= cap:
                state = _OVERSIZE
                continue
            buf[n] = c
            n += 1
        self._n = n
        self._state = state
        self.frames += len(out)
        return out
