# CoAP over a serial line for hourglass (device side): SLIP frames
# (coap_slip) carry the datagrams of one sans-I/O CoAP endpoint; the host
# side is `hourglass bridge`, which relays them to and from UDP.
#
#   link = SerialLink(endpoint, io)   io: readinto(buf) -> n, write(buf)
#   link.run()                        serve until an "exit" control frame
#   (also: peer=PEER, max_frame=1280, clock=ms function for tests;
#    step()/wait()/poll() to drive it from another loop)
#
# The loop: read what the line holds (never blocking), decode frames, hand
# each datagram to endpoint.receive(datagram, PEER, now_ms), send the
# datagrams it returns, and those of endpoint.poll(now_ms) when its timer
# (endpoint.next_timeout_ms) is due and of endpoint.drain() (app calls such
# as notifications), all SLIP-framed. The endpoint is coap_ep.Endpoint or
# anything with that shape: receive/poll/drain return [(datagram, peer), ...].
# With nothing to do it waits a little: io.idle() (one WFI on the qemu
# board, <= 1 ms; else time.sleep_ms(1)). No asyncio: the 1.25 qemu port has
# none, and one line needs no scheduler. now_ms is time.ticks_ms() in 30
# bits, the wrapping arithmetic the endpoint expects.
#
# The line has exactly one peer (the host bridge): PEER below. An endpoint
# exception is counted (stat: errors) and its traceback printed; on a console
# line that text reaches the bridge as a non-CoAP frame, which it logs.
#
# Link control, outside CoAP: a frame whose first byte is 0x00 is CoAP
# version 0, which no CoAP endpoint accepts (RFC 7252 section 3: unknown
# versions are silently ignored), so the link uses such frames itself:
#   host -> device  b"\x00ping"  answer b"\x00pong"
#                   b"\x00stat"  answer b"\x00stat k=v k=v ..." (heap, counters)
#                   b"\x00exit"  answer b"\x00bye", then run() returns
#   device -> host  b"\x00ready hgslip/1 mtu=N" once when run() starts
#
# I/O objects (write your own for other lines: readinto and write suffice):
#   BoardUART()        the qemu board's UART0 through _board (raw, no CR LF)
#   StreamIO(stream)   machine.UART(..., timeout=0) or anything with
#                      readinto/write (and any(), used when present)
#   StdioIO()          sys.stdin.buffer / sys.stdout.buffer (the USB-CDC
#                      console on nRF52840 and friends), polled with select
# A console line (BoardUART, StdioIO) carries 0x03 bytes inside frames, so
# run() switches the Ctrl-C KeyboardInterrupt off (micropython.kbd_intr(-1))
# while it serves and back on afterwards.
import gc

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import coap_slip

import time

# Times are ms in 30 bits, as coap_ep keeps them: ticks_ms() wraps there on
# 32-bit ports, and masking gives the 64-bit unix port and CPython the same.
_TMASK = const(0x3FFFFFFF)
_THALF = const(0x20000000)

try:
    _ticks = time.ticks_ms
except AttributeError:  # CPython

    def _ticks():
        return int(time.monotonic() * 1000)


def _ticks_ms():
    return _ticks() & _TMASK


def _tdiff(a, b):
    return ((a - b + _THALF) & _TMASK) - _THALF


def _tadd(a, d):
    return (a + d) & _TMASK


PEER = "serial"
CONTROL = const(0x00)
_READ_CHUNK = const(64)
_IDLE_MAX_MS = const(50)  # cap on one wait when the endpoint has no timer
_READ_BURST = const(32)  # reads per step before the endpoint gets polled
_BUSY_MS = const(5)  # after input, poll the line without idling this long


def _sleep_ms(ms):
    try:
        time.sleep_ms(ms)
    except AttributeError:
        time.sleep(ms / 1000)


# ---------------------------------------------------------------- I/O objects
class BoardUART:
    """UART0 of the qemu mps2-an386 image, raw, through the _board module."""

    console = True

    def __init__(self):
        import _board

        self._b = _board
        self.readinto = _board.uart_readinto
        self.write = _board.uart_write

    def idle(self):
        self._b.idle()


class StreamIO:
    """A byte stream with readinto/write that does not block on read:
    machine.UART(id, baudrate, timeout=0), a socket-like test double...
    any() is used when the stream has it."""

    console = False

    def __init__(self, stream, console=False):
        self._s = stream
        self._any = getattr(stream, "any", None)
        self.write = stream.write
        self.console = console

    def readinto(self, buf):
        if self._any is not None:
            n = self._any()
            if not n:
                return 0
            if n < len(buf):
                buf = memoryview(buf)[:n]
        n = self._s.readinto(buf)
        return n or 0

    def idle(self):
        _sleep_ms(1)


class StdioIO:
    """The console (sys.stdin.buffer / sys.stdout.buffer), e.g. USB-CDC on
    nRF52840. Needs select.poll on stdin and raw stdio buffers."""

    console = True

    def __init__(self):
        import select
        import sys

        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)
        self._one = bytearray(1)

    def readinto(self, buf):
        n = 0
        one = self._one
        while n < len(buf) and self._poll.poll(0):
            if not self._in.readinto(one):
                break
            buf[n] = one[0]
            n += 1
        return n

    def write(self, data):
        self._out.write(data)

    def idle(self):
        self._poll.poll(1)


def default_io():
    """The line the image serves on: _board's UART0 on qemu, else stdio."""
    try:
        return BoardUART()
    except ImportError:
        return StdioIO()


# ---------------------------------------------------------------- the link
class SerialLink:
    def __init__(self, endpoint, io, peer=PEER, max_frame=coap_slip.MAX_FRAME, clock=None):
        self.endpoint = endpoint
        self.now_ms = clock or _ticks_ms  # ms, wrapping like ticks_ms()
        self.io = io
        self.peer = peer
        self._drain = getattr(endpoint, "drain", None)
        self._next = getattr(endpoint, "next_timeout_ms", None)
        self.decoder = coap_slip.Decoder(max_frame)
        self._rx = bytearray(_READ_CHUNK)
        self._t0 = self.now_ms()
        self._deadline = None  # endpoint's next timer (a now_ms) or None
        self._rx_at = self._t0  # now_ms of the last input
        self.running = False
        self._exit = False
        self.rx_frames = 0  # CoAP datagrams handed to the endpoint
        self.tx_frames = 0  # CoAP datagrams sent
        self.errors = 0  # endpoint exceptions caught (the link keeps serving)
        self.ignored = 0  # frames that are neither CoAP nor known control

    # -- time
    def _due(self, now):
        d = self._deadline
        return d is not None and _tdiff(now, d) >= 0

    # -- output
    def send(self, datagram):
        coap_slip.write_frame(self.io.write, datagram)

    def _control_reply(self, text):
        self.send(b"\x00" + text)

    def _emit(self, out):
        """Send the datagrams of an endpoint result [(datagram, peer), ...]
        (the peer is always ours: the line has one)."""
        if not out:
            return
        for item in out:
            self.tx_frames += 1
            self.send(item[0])

    # -- input
    def _control(self, frame):
        cmd = bytes(frame[1:5])
        if cmd == b"ping":
            self._control_reply(b"pong")
        elif cmd == b"stat":
            self._control_reply(self.stat().encode())
        elif cmd == b"exit":
            self._control_reply(b"bye")
            self.running = False
            self._exit = True  # what follows on the line is not ours
        else:
            self.ignored += 1

    def stat(self):
        gc.collect()
        try:
            free = gc.mem_free()
            alloc = gc.mem_alloc()
        except AttributeError:  # CPython
            free = alloc = -1
        d = self.decoder
        return (
            "stat heap_free=%d heap_alloc=%d rx=%d tx=%d oversize=%d bad_escape=%d"
            " ignored=%d errors=%d uptime_ms=%d"
        ) % (
            free,
            alloc,
            self.rx_frames,
            self.tx_frames,
            d.oversize,
            d.bad_escape,
            self.ignored,
            self.errors,
            _tdiff(self.now_ms(), self._t0),
        )

    def _deliver(self, frame, now):
        if frame[0] == CONTROL:
            self._control(frame)
            return
        if frame[0] >> 6 != 1:
            self.ignored += 1
            return
        self.rx_frames += 1
        try:
            self._emit(self.endpoint.receive(frame, self.peer, now))
        except Exception as e:  # one bad datagram must not stop the link
            self.errors += 1
            self._report(e)

    def _report(self, e):
        try:
            import sys

            sys.print_exception(e)
        except (AttributeError, ImportError):
            pass

    def feed(self, data, end=None):
        """Hand received line bytes data[:end] to the link (what step() does
        with what io.readinto() returns); returns the number of frames
        completed."""
        now = self.now_ms()
        frames = self.decoder.feed(data, end)
        for f in frames:
            if self._exit:
                break
            self._deliver(f, now)
        return len(frames)

    def poll(self, now=None):
        """Run the endpoint's timers; returns ms until it wants poll() again
        (None: no timer)."""
        if now is None:
            now = self.now_ms()
        try:
            self._emit(self.endpoint.poll(now))
            wait = self._next(now) if self._next is not None else None
        except Exception as e:
            self.errors += 1
            self._report(e)
            wait = None
        self._deadline = None if wait is None else _tadd(now, wait)
        return wait

    def step(self):
        """One pass: read the line (up to a burst), deliver complete frames,
        poll the endpoint if anything arrived or its timer is due. Returns
        True if bytes arrived (the caller should not sleep)."""
        rx = self._rx
        got = False
        frames = 0
        for _ in range(_READ_BURST):
            if self._exit:
                break
            n = self.io.readinto(rx)
            if not n:
                break
            got = True
            frames += self.feed(rx, n)
        now = self.now_ms()
        if got:
            self._rx_at = now
        if frames or self._due(now):
            self.poll(now)
        elif self._drain is not None:
            self._emit(self._drain())
        return got

    def wait(self):
        """Idle until input may have arrived or the endpoint's timer is due.
        Right after input it does not idle: the rest of a frame is usually
        on its way (an idle on the qemu board lasts up to 1 ms, and qemu
        delivers one byte per guest read)."""
        io_idle = getattr(self.io, "idle", None)
        now = self.now_ms()
        if _tdiff(now, self._rx_at) < _BUSY_MS or self._due(now):
            return
        if io_idle is not None:
            io_idle()
        else:
            _sleep_ms(1)

    def run(self, ready=True):
        """Serve until an exit control frame (or KeyboardInterrupt on a line
        that is not the console)."""
        kbd = None
        if getattr(self.io, "console", False):
            try:
                import micropython

                kbd = micropython.kbd_intr
                kbd(-1)
            except (ImportError, AttributeError):
                kbd = None
        self.running = True
        self._exit = False
        try:
            if ready:
                self._control_reply(b"ready hgslip/1 mtu=%d" % self.decoder.max_frame)
            self.poll()
            while self.running:
                if not self.step():
                    self.wait()
        finally:
            self.running = False
            if kbd is not None:
                kbd(3)


# ---------------------------------------------------------------- stand-ins
class EchoEndpoint:
    """Stand-in endpoint for link tests: sends every datagram straight back."""

    def __init__(self):
        self._out = []

    def receive(self, datagram, peer, now_ms):
        return [(bytes(datagram), peer)]

    def poll(self, now_ms):
        return self.drain()

    def drain(self):
        out = self._out
        self._out = []
        return out

    def next_timeout_ms(self, now_ms):
        return None


def run_echo(io=None):
    """Serve the echo stand-in on the board's line (bridge smoke test)."""
    SerialLink(EchoEndpoint(), io or default_io()).run()
