# The device serial loop (lib/coap/coap_serial.py) with a fake line and a
# fake clock: SLIP frames in, endpoint calls, SLIP frames out, link control
# frames, timers, and a real coap_ep.Endpoint behind it.
import coap_serial as CS
import coap_slip as S


class FakeIO:
    """A line: queued input chunks, collected output, counted idles."""

    console = False

    def __init__(self, *chunks):
        self.inq = list(chunks)
        self.out = bytearray()
        self.idles = 0

    def push(self, data):
        self.inq.append(data)

    def readinto(self, buf):
        if not self.inq:
            return 0
        c = self.inq.pop(0)
        n = min(len(c), len(buf))
        buf[:n] = c[:n]
        if n < len(c):
            self.inq.insert(0, c[n:])
        return n

    def write(self, data):
        self.out += data

    def idle(self):
        self.idles += 1

    def frames(self):
        d = S.Decoder(4096)
        got = d.feed(self.out)
        self.out = bytearray()
        return got


class Clock:
    def __init__(self, t=1000):
        self.t = t

    def __call__(self):
        return self.t


class TimerEndpoint:
    """Records calls; wants poll() every 100 ms and then sends a NON."""

    def __init__(self):
        self.received = []
        self.polls = []
        self.queued = []

    def receive(self, datagram, peer, now):
        self.received.append((bytes(datagram), peer, now))
        return []

    def poll(self, now):
        self.polls.append(now)
        return [(b"\x50\x45\x00\x01", CS.PEER)]

    def drain(self):
        out = self.queued
        self.queued = []
        return out

    def next_timeout_ms(self, now):
        return 100


class Boom:
    def receive(self, datagram, peer, now):
        raise ValueError("boom")

    def poll(self, now):
        return []


GET = b"\x44\x01\x12\x34\xc0\xdb\x03\x0a\xb5hello"  # token has END and ESC


def test_echo_round_trip_through_slip():
    io = FakeIO(S.encode(GET) + S.encode(b"\x50\x01\x00\x07"))
    link = CS.SerialLink(CS.EchoEndpoint(), io)
    assert link.step() is True
    assert io.frames() == [GET, b"\x50\x01\x00\x07"]
    assert link.rx_frames == 2 and link.tx_frames == 2


def test_frame_split_across_reads_and_big_frame():
    big = b"\x40\x01\x00\x01" + bytes(range(256)) * 4
    enc = S.encode(big)
    io = FakeIO(*[enc[i : i + 7] for i in range(0, len(enc), 7)])
    link = CS.SerialLink(CS.EchoEndpoint(), io)
    while io.inq:
        link.step()
    assert io.frames() == [big]


def test_non_coap_frames_ignored():
    io = FakeIO(S.encode(b"OK garbage") + S.encode(b"\x80\x01\x00\x00") + S.encode(b"\x00what"))
    ep = TimerEndpoint()
    link = CS.SerialLink(ep, io, clock=Clock())
    link.step()
    # 'O' (0x4F) has version bits 01: rejecting it is the endpoint's job
    assert [r[0] for r in ep.received] == [b"OK garbage"]
    assert link.ignored == 2


def test_control_ping_stat_exit():
    io = FakeIO(S.encode(b"\x00ping") + S.encode(b"\x00stat"))
    link = CS.SerialLink(CS.EchoEndpoint(), io)
    link.step()
    f = io.frames()
    assert f[0] == b"\x00pong"
    assert f[1].startswith(b"\x00stat heap_free=")
    assert b" rx=0 tx=0 " in f[1]


def test_run_sends_ready_and_returns_on_exit():
    io = FakeIO(S.encode(GET), S.encode(b"\x00exit"), S.encode(GET))
    link = CS.SerialLink(CS.EchoEndpoint(), io)
    link.run()
    f = io.frames()
    assert f[0] == b"\x00ready hgslip/1 mtu=1280"
    assert f[1] == GET
    assert f[2] == b"\x00bye"
    assert len(f) == 3  # the frame after exit stays unread
    assert link.running is False


def test_endpoint_exception_does_not_stop_the_link():
    io = FakeIO(S.encode(GET) + S.encode(b"\x00ping"))
    link = CS.SerialLink(Boom(), io)
    link._report = lambda e: None  # the traceback would go to the console
    link.step()
    assert link.errors == 1
    assert io.frames()[-1] == b"\x00pong"


def test_timer_drives_poll_and_idle():
    clock = Clock(1000)
    ep = TimerEndpoint()
    io = FakeIO()
    link = CS.SerialLink(ep, io, clock=clock)
    assert link.poll() == 100  # deadline 1100
    assert ep.polls == [1000]
    io.frames()
    clock.t = 1050
    assert link.step() is False
    link.wait()
    assert io.idles == 1 and ep.polls == [1000]
    clock.t = 1100
    link.step()
    assert ep.polls == [1000, 1100]
    assert io.frames() == [b"\x50\x45\x00\x01"]
    # a due timer means no idling
    clock.t = 1300
    link.wait()
    assert io.idles == 1
    # app output (drain) goes out without waiting for a timer
    ep.queued.append((b"\x50\x45\x00\x02", CS.PEER))
    clock.t = 1301
    link._deadline = None
    link.step()
    assert io.frames() == [b"\x50\x45\x00\x02"]


def test_no_idle_right_after_input():
    clock = Clock(5000)
    io = FakeIO(b"\xc0\x40")  # a frame in progress
    link = CS.SerialLink(CS.EchoEndpoint(), io, clock=clock)
    assert link.step() is True
    link.wait()
    assert io.idles == 0
    clock.t = 5100
    link.wait()
    assert io.idles == 1


def test_ticks_wrap():
    # deadlines across the 2**30 wrap of ticks_ms
    clock = Clock(0x3FFFFFF0)
    ep = TimerEndpoint()
    link = CS.SerialLink(ep, FakeIO(), clock=clock)
    link.poll()
    clock.t = (0x3FFFFFF0 + 50) & 0x3FFFFFFF
    link.step()
    assert len(ep.polls) == 1
    clock.t = (0x3FFFFFF0 + 100) & 0x3FFFFFFF
    link.step()
    assert len(ep.polls) == 2


def test_with_coap_endpoint():
    try:
        import coap_ep
    except ImportError:
        import hgtest

        hgtest.skip("coap_ep not present")
    ep = coap_ep.Endpoint(server=None, rand=lambda n: bytes(n))
    # a CON request with no server: RST; an empty CON (ping): RST
    io = FakeIO(S.encode(b"\x40\x01\x00\x05") + S.encode(b"\x40\x00\x00\x06"))
    link = CS.SerialLink(ep, io)
    link.step()
    assert io.frames() == [b"\x70\x00\x00\x05", b"\x70\x00\x00\x06"]
