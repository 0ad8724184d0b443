# suit_fetch: the Platform.fetch of SUIT payloads over CoAP (coap://):
# a block-wise GET (RFC 7959 Block2) streamed into a suit_platform Writer,
# synchronous: fetch() runs its own poll loop over a UDP socket until the
# transfer ends or the timeout passes. Built on lib/coap (Endpoint, Client
# with sink=, UDPTransport for the socket and address resolution).
#
#   pf = SlotPlatform(storage, comps, ident, fetcher=CoapFetcher(timeout_ms=120000))
#
# Failures raise SuitError: SUIT_ERR_UNSUPPORTED for a URI that is not
# coap://, SUIT_ERR_FETCH for a bad URI, an unresolvable host, a response
# other than 2.05, a timeout (no answer, or the whole transfer slower than
# timeout_ms), a reset, or a representation that changed in the middle (a
# changed ETag: with a sink, coap_client ends the exchange rather than
# restart at block 0, since the blocks already streamed into the Writer
# cannot be taken back). A SuitError from
# the Writer (image over its limit: SUIT_ERR_NO_MEM) is re-raised as it is,
# after the exchange is cancelled. fetch() never calls writer.finish(): the
# processor does, after checking size and digest.
#
# RAM: one datagram buffer (coap_udp.RXBUF, read into by a socket connected
# to the server) and one block in flight; the image goes straight into the
# Writer. The Endpoint is sized for what a
# fetch sends (one GET, no server): its encode buffer fits the request, not
# a 1280-byte MTU, and its duplicate memory is a few entries. Every
# allocation over ~1 KB counts twice on a fragmented heap.
# progress(done_bytes, total_or_None) is called after every block (total
# from Size2 when the server sends it).
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import gc

from suit_envelope import SuitError, SUIT_ERR_FETCH, SUIT_ERR_UNSUPPORTED

_CONTENT = const(0x45)  # 2.05
_GET = const(1)
_MAX_WAIT_MS = const(200)  # longest single sleep in the poll loop
_MAX_BODY = const(0x3FFFFFFF)  # the Writer's limit is the real cap
_MTU = const(1280)  # the Endpoint's default: the largest request we build
# request size beyond the Uri-Path/Uri-Query values: header 4, token <= 8,
# Block2 <= 4, an Echo (RFC 9175) <= 43, option headers <= 5 each
_REQ_FIXED = const(64)
_OPT_HEAD = const(5)
_DEDUP = const(4)  # remembered (peer, MID): only CON responses reach us


def _fetch_error(msg):
    return SuitError(SUIT_ERR_FETCH, msg)


class _Sink:
    """Passes the blocks to the Writer; remembers the Writer's error instead
    of letting it escape through the endpoint (the CoAP layers would be
    left half-way through a message)."""

    def __init__(self, writer):
        self.writer = writer
        self.n = 0
        self.error = None
        self.ex = None

    def write(self, chunk):
        if self.error is not None:
            return
        ex = self.ex
        if ex is not None and ex.received != self.n:
            # A block that does not continue what the Writer holds. Not
            # expected: with a sink, coap_client ends the exchange on an
            # ETag change (instead of restarting at block 0) and passes
            # blocks only in order. Kept as a guard should that change:
            # bytes already in the Writer cannot be taken back, so fail.
            self.error = _fetch_error("representation changed during transfer")
            return
        try:
            self.writer.write(chunk)
            self.n += len(chunk)
        except SuitError as e:
            self.error = e


class CoapFetcher:
    """fetch(uri, writer) for coap:// URIs (see the top).

    timeout_ms: the whole transfer; progress: callable(done, total_or_None);
    bind: local address; szx: block size exponent (6: 1024 bytes);
    clock: callable -> ms (coap_udp.now_ms by default)."""

    def __init__(self, timeout_ms=60000, progress=None, bind="0.0.0.0", szx=6, clock=None):
        self.timeout_ms = timeout_ms
        self.progress = progress
        self.bind = bind
        self.szx = szx
        self.clock = clock
        self.last_code = None  # response code of the last fetch (tests, logs)

    def fetch(self, uri, writer):
        if not isinstance(uri, str) or not uri.startswith("coap://"):
            raise SuitError(SUIT_ERR_UNSUPPORTED, "uri scheme")
        from coap_client import Client, parse_uri
        from coap_ep import Endpoint, tdiff
        from coap_msg import CoAPError
        import coap_udp

        try:
            host, port, segs, query = parse_uri(uri)
        except (CoAPError, ValueError):
            raise _fetch_error("bad uri")
        now_ms = self.clock or coap_udp.now_ms
        # The datagram buffer is the one allocation here over ~300 bytes and
        # lives for the whole transfer: taken first, right after a
        # collection (which also sends the next allocations back to the
        # lowest free block), it finds a hole before the small objects below
        # are scattered through the free heap.
        gc.collect()
        rx = coap_udp.RXBUF
        buf = bytearray(rx)
        mtu = _REQ_FIXED
        for x in segs + query:
            mtu += _OPT_HEAD + len(x.encode())
        if mtu > _MTU:
            raise _fetch_error("uri too long")
        ep = Endpoint(dedup_cap=_DEDUP, dedup_bytes=256, mtu=mtu)
        cl = Client(ep, szx=self.szx, max_body=_MAX_BODY, timeout_ms=self.timeout_ms)
        bind = self.bind
        if ":" in host and bind == "0.0.0.0":
            bind = "::"  # an IPv6 literal needs an IPv6 socket
        try:
            t = coap_udp.UDPTransport(ep, bind, 0, rxbuf=rx)
        except OSError:
            raise _fetch_error("no socket")
        try:
            try:
                peer = t.peer(host, port)
            except (OSError, IndexError):
                raise _fetch_error("cannot resolve host")
            sink = _Sink(writer)
            prog = self.progress

            def cb(ex, kind):
                if kind == "progress" and prog is not None and sink.error is None:
                    prog(sink.n, ex.size2)

            start = now_ms()
            try:
                ex = cl.request(peer, _GET, segs, query=query, now=start, sink=sink,
                                callback=cb, timeout_ms=self.timeout_ms)
            except CoAPError:
                raise _fetch_error("cannot build the request")
            sink.ex = ex
            self._loop(t, ep, cl, ex, sink, start, now_ms, tdiff, peer, buf)
        finally:
            t.close()
        if sink.error is not None:
            raise sink.error
        if ex.error is not None:
            raise _fetch_error(str(ex.error))
        resp = ex.response
        self.last_code = resp.code
        if resp.code != _CONTENT:
            raise _fetch_error("response %d.%02d" % (resp.code >> 5, resp.code & 31))
        pl = resp.payload
        if sink.n == 0 and pl:
            # a body in one datagram (no Block2) never reaches the sink
            writer.write(pl)
            if prog is not None:
                prog(len(pl), len(pl))

    def _loop(self, t, ep, cl, ex, sink, start, now_ms, tdiff, peer, buf):
        import select

        sock = t.sock
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        rx = len(buf)
        # Connected to the server: the kernel passes only its datagrams, and
        # they are read into one buffer for the whole transfer (recvfrom()
        # would allocate rx bytes and then a copy for every datagram).
        try:
            sock.connect(peer)
        except OSError:
            raise _fetch_error("cannot reach host")
        mv = memoryview(buf)
        readinto = getattr(sock, "readinto", None) or sock.recv_into  # MicroPython, CPython
        t.flush()
        while not ex.done:
            now = now_ms()
            if sink.error is not None:
                cl.cancel(ex, now)
                break
            left = self.timeout_ms - tdiff(now, start)
            if left <= 0:
                cl.cancel(ex, now)
                ex.error = "timeout"
                break
            w = ep.next_timeout_ms(now)
            if w is not None and w <= 0:
                t.send(ep.poll(now))
                continue
            if w is None or w > left:
                w = left
            if w > _MAX_WAIT_MS:
                w = _MAX_WAIT_MS
            if not poller.poll(w):
                continue
            for _ in range(16):
                try:
                    n = readinto(buf)
                except OSError:
                    break  # nothing more (CPython), or an ICMP error: retransmit/time out
                if n is None:
                    break  # nothing more (MicroPython)
                if n >= rx:
                    continue  # may have been truncated (coap_udp)
                # the Endpoint copies what it keeps (the block is in the
                # Writer when receive() returns), so buf can be reused
                out = ep.receive(mv[:n], peer, now_ms())
                if out:
                    t.send(out)
                if ex.done or sink.error is not None:
                    break
