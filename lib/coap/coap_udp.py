# asyncio UDP transport for the sans-I/O CoAP endpoint (coap_ep), for the
# MicroPython unix port (ESP32 later) and CPython. IPv4, and IPv6 where the
# port has it.
#
#   ep = Endpoint(server=srv)
#   t = UDPTransport(ep, "0.0.0.0", 5683)
#   await t.run()                 # until t.close()
#   srv.notify("x", now_ms()); t.flush()
#
# MicroPython's asyncio has no datagram endpoints: a reader task parks on
# the socket with asyncio's own I/O queue (the poll that StreamReader
# uses) and reads while a private poller says the socket is readable;
# under CPython the socket is registered with loop.add_reader(). A timer
# task calls ep.poll() when ep.next_timeout_ms() says so, waking at least
# every TICK_MS so work queued by the application is not delayed for long.
#
# t.serve(on_tick, tick_ms) is the same transport without asyncio: one
# select.poll loop for a dedicated server (fewest wake-ups per datagram).
# Datagrams of RXBUF bytes or more may have been truncated and are dropped.
import sys
import socket

try:
    import asyncio
except ImportError:  # older MicroPython
    import uasyncio as asyncio

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_MP = sys.implementation.name == "micropython"
TICK_MS = const(100)
# recvfrom() size. A datagram that fills it may have been cut short (UDP
# truncates silently), so it is dropped. Peers on loopback (aiocoap) send
# responses of several KiB without Block2; CPython takes them whole.
RXBUF = 1500 if _MP else 65535

if _MP:
    import time

    def now_ms():
        return time.ticks_ms()

    async def _sleep_ms(ms):
        await asyncio.sleep_ms(ms)

    def _readable(sock):
        yield asyncio.core._io_queue.queue_read(sock)

else:
    import time

    def now_ms():
        return int(time.monotonic() * 1000)

    async def _sleep_ms(ms):
        await asyncio.sleep(ms / 1000)


def resolve(host, port, family=0):
    """(family, address) for host:port; the address is what recvfrom
    reports for that peer, so it can be used as the endpoint's peer key."""
    ai = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)
    if not ai:
        raise OSError("cannot resolve " + host)
    fam = ai[0][0]
    addr = ai[0][-1]
    if _MP:
        addr = bytes(addr)
    return fam, addr


class UDPTransport:
    """Moves datagrams between a UDP socket and an Endpoint."""

    def __init__(self, ep, host="0.0.0.0", port=0, family=0, rxbuf=RXBUF):
        self.ep = ep
        self.rxbuf = rxbuf
        self.truncated = 0
        fam, addr = resolve(host, port, family)
        self.family = fam
        s = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        except (OSError, AttributeError):
            pass
        s.bind(addr)
        s.setblocking(False)
        self.sock = s
        self._stop = False
        self._done = None
        self.sent = 0
        self.received = 0
        self.send_errors = 0

    def address(self):
        """The bound (host, port) under CPython; None where unknown."""
        try:
            return self.sock.getsockname()
        except AttributeError:
            return None

    def peer(self, host, port):
        return resolve(host, port, self.family)[1]

    def send(self, out):
        sock = self.sock
        for data, peer in out:
            try:
                sock.sendto(data, peer)
                self.sent += 1
            except OSError:
                self.send_errors += 1

    def flush(self):
        """Send what the application queued on the endpoint (notify, request)."""
        out = self.ep.drain()
        if out:
            self.send(out)

    def _read_all(self):
        # CPython (add_reader callback): read until EAGAIN
        sock = self.sock
        ep = self.ep
        rx = self.rxbuf
        now = now_ms()
        while True:
            try:
                data, addr = sock.recvfrom(rx)
            except OSError:
                return
            self.received += 1
            if len(data) >= rx:
                self.truncated += 1
                continue
            out = ep.receive(data, addr, now)
            if out:
                self.send(out)

    def _read_ready(self, poller):
        # MicroPython: read while the socket is readable; asking the poller
        # (no allocation) is much cheaper than provoking EAGAIN exceptions
        sock = self.sock
        ep = self.ep
        rx = self.rxbuf
        now = now_ms()
        for _ in range(16):
            try:
                data, addr = sock.recvfrom(rx)
            except OSError:
                return
            self.received += 1
            if len(data) >= rx:
                self.truncated += 1
            else:
                out = ep.receive(data, addr, now)
                if out:
                    self.send(out)
            ready = False
            for _ev in poller.ipoll(0):
                ready = True
            if not ready:
                return

    async def _reader(self):
        import select

        sock = self.sock
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        while not self._stop:
            await _readable(sock)
            if self._stop:
                return
            self._read_ready(poller)

    def serve(self, on_tick=None, tick_ms=1000):
        """Serve without asyncio until close(): a select.poll loop over the
        socket and the endpoint's timers (the cheapest loop per datagram,
        for a dedicated server). on_tick(now_ms) runs every tick_ms;
        datagrams it queues on the endpoint are flushed afterwards."""
        import select

        from coap_ep import tadd, tdiff

        sock = self.sock
        ep = self.ep
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        ipoll = getattr(poller, "ipoll", None) or poller.poll
        rx = self.rxbuf
        next_tick = tadd(now_ms(), tick_ms) if on_tick is not None else None
        while not self._stop:
            now = now_ms()
            t = ep.next_timeout_ms(now)
            if t is not None and t <= 0:
                self.send(ep.poll(now))
                t = ep.next_timeout_ms(now)
            if next_tick is not None:
                dt = tdiff(next_tick, now)
                if dt <= 0:
                    on_tick(now)
                    self.flush()
                    next_tick = tadd(next_tick, tick_ms)
                    if tdiff(next_tick, now) <= 0:
                        next_tick = tadd(now, tick_ms)
                    dt = tdiff(next_tick, now)
                if t is None or dt < t:
                    t = dt
            for _ev in ipoll(-1 if t is None else t):
                try:
                    data, addr = sock.recvfrom(rx)
                except OSError:
                    continue
                self.received += 1
                if len(data) >= rx:
                    self.truncated += 1
                    continue
                out = ep.receive(data, addr, now_ms())
                if out:
                    for d, a in out:
                        try:
                            sock.sendto(d, a)
                            self.sent += 1
                        except OSError:
                            self.send_errors += 1

    async def _timer(self):
        ep = self.ep
        while not self._stop:
            now = now_ms()
            out = ep.poll(now)
            if out:
                self.send(out)
            t = ep.next_timeout_ms(now)
            if t is None or t > TICK_MS:
                t = TICK_MS
            await _sleep_ms(t if t > 0 else 1)

    def start(self):
        """Start the reader and timer tasks (inside a running loop)."""
        if _MP:
            self._tasks = (asyncio.create_task(self._reader()), asyncio.create_task(self._timer()))
        else:
            loop = asyncio.get_event_loop()
            loop.add_reader(self.sock.fileno(), self._read_all)
            self._tasks = (asyncio.ensure_future(self._timer()),)
        self._done = asyncio.Event()

    async def run(self):
        """Serve until close()."""
        self.start()
        await self._done.wait()

    def close(self):
        if self._stop:
            return
        self._stop = True
        if not _MP:
            try:
                asyncio.get_event_loop().remove_reader(self.sock.fileno())
            except Exception:
                pass
        for t in getattr(self, "_tasks", ()):
            try:
                t.cancel()
            except Exception:
                pass
        if self._done is not None:
            self._done.set()
        try:
            self.sock.close()
        except OSError:
            pass


class AsyncClient:
    """awaitable requests over a UDPTransport whose endpoint has a Client."""

    def __init__(self, transport, client):
        self.t = transport
        self.client = client

    async def request(self, method, host, port, path="", **kw):
        peer = self.t.peer(host, port)
        ev = asyncio.Event()
        user_cb = kw.pop("callback", None)

        def cb(ex, kind):
            if user_cb is not None:
                user_cb(ex, kind)
            if kind == "done":
                ev.set()

        ex = self.client.request(peer, method, path, now=now_ms(), callback=cb, **kw)
        self.t.flush()
        await ev.wait()
        return ex

    async def observe(self, host, port, path="", count=3, on_notify=None, **kw):
        """Register, wait for `count` notifications (the first response
        counts), then deregister. Returns the Exchange."""
        peer = self.t.peer(host, port)
        ev = asyncio.Event()
        seen = [0]
        user_cb = kw.pop("callback", None)

        def cb(ex, kind):
            if user_cb is not None:
                user_cb(ex, kind)
            if kind == "notify":
                seen[0] += 1
                if on_notify is not None:
                    on_notify(ex, ex.notifications[-1])
                if seen[0] >= count:
                    ev.set()
            elif kind == "done":
                ev.set()

        ex = self.client.request(peer, 1, path, observe=True, now=now_ms(), callback=cb, **kw)
        self.t.flush()
        await ev.wait()
        if ex.observing:
            done = asyncio.Event()
            ex.callback = lambda e, k: done.set() if k == "done" else None
            self.client.cancel(ex, now_ms())
            self.t.flush()
            try:
                await asyncio.wait_for(done.wait(), 5)
            except asyncio.TimeoutError:
                pass
        return ex
