# Demo CoAP server for the unix port (and CPython): the resources the
# interop tests and the benchmark drive. The device application replaces it.
#
#   build/unix/micropython firmware/coap_demo.py --port 5683
#   .venv/bin/micropython firmware/coap_demo.py --port 5683   (lib/ found via argv[0])
#
# Options: --host ADDR (default 0.0.0.0; "::" for IPv6), --port N,
# --interval MS (observe notifications, default 1000), --size N (the /big,
# /store and sink size, default 65536), --asyncio (serve through the
# asyncio adapter instead of the transport's poll loop), --debug-heap (adds
# /heap, below), --quiet.
# Ends on KeyboardInterrupt, and on SIGTERM (CPython: handler; MicroPython
# has no signal module, so SIGTERM's default action ends it).
#
#   /.well-known/core   discovery (RFC 6690, ?rt= ?if= ?href= filters)
#   /hello              GET "Hello, hourglass!"
#   /store              GET/PUT/POST; uploads stream (Block1) into a sink that
#                       keeps at most --size bytes and a SHA-256; PUT/POST answer
#                       2.04 with the hex digest; GET returns the body (Block2, ETag)
#   /big                GET a --size byte pattern, Block2 with ETag
#   /counter            observable; +1 every --interval ms; PUT sets it
#   /obs-big            observable, a representation over one block (Block2)
#   /fresh              POST needs a fresh Echo (RFC 9175): 4.01 + Echo first
#   /heap               only with --debug-heap, not listed in /.well-known/core:
#                       GET runs gc.collect() and answers one "name value cap"
#                       line each: alloc (gc.mem_alloc(), -1 on CPython; cap 0
#                       = none), then what every capped cache holds against
#                       its cap - dedup (remembered messages), dedup_bytes,
#                       con (outstanding CON), observers, block1 (uploads in
#                       progress), echo (Echo values). host_tests/test_coap_flood.py
#                       reads it to check that a flood leaves the heap as it was.
import sys

try:
    import coap_msg  # noqa: F401  (frozen into build/unix/micropython)
except ImportError:
    _here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
    sys.path.append(_here + "/../lib/coap")

import hashlib

from coap_msg import (BAD_REQUEST, CF_OCTET_STREAM, CF_TEXT, CHANGED, CONTENT, ETAG, GET, PUT,
                      CoAPResponseError, response)
from coap_ep import Endpoint
from coap_server import M_GET, M_POST, M_PUT, Server
import coap_udp

try:
    import asyncio
except ImportError:
    import uasyncio as asyncio


def _hex(b):
    import binascii

    return binascii.hexlify(b).decode()


class Pattern:
    """A generated representation: byte i is (i * 7 + (i >> 8)) & 255."""

    def __init__(self, size, salt=0):
        self.size = size
        self.salt = salt

    def __len__(self):
        return self.size

    def read_block(self, off, n):
        s = self.salt
        return bytes([((i * 7) + (i >> 8) + s) & 255 for i in range(off, off + n)])


class StoreSink:
    """Stages an upload; the handler commits it after the last block."""

    def __init__(self, limit):
        self.buf = bytearray()
        self.h = hashlib.sha256()
        self.limit = limit
        self.aborted = False

    def write(self, chunk):
        if len(self.buf) + len(chunk) > self.limit:
            raise CoAPResponseError(0x8D, "too large")
        self.buf.extend(chunk)
        self.h.update(chunk)

    def abort(self):
        self.aborted = True
        self.buf = None


class Demo:
    def __init__(self, size=65536, interval=1000, quiet=False, debug_heap=False):
        self.size = size
        self.interval = interval
        self.quiet = quiet
        initial = bytearray(size)
        pat = Pattern(size)
        for off in range(0, size, 1024):
            n = min(1024, size - off)
            initial[off : off + n] = pat.read_block(off, n)
        initial = bytes(initial)
        self.store = initial
        self.store_digest = hashlib.sha256(initial).digest()
        self.counter = 0
        self.big = Pattern(size)
        self.big_etag = b"\xb1\x9e" + size.to_bytes(4, "big")
        srv = self.srv = Server(max_observers=16, max_block1=4, max_echo=4)
        srv.add("hello", self.hello, rt="hourglass.hello", ct=CF_TEXT, title="Hello")
        srv.add("store", self.store_h, methods=M_GET | M_PUT | M_POST, sink=self.sink,
                max_body=size, rt="hourglass.store", sz=size)
        srv.add("big", self.big_h, rt="hourglass.big", ct=CF_OCTET_STREAM, sz=size)
        srv.add("counter", self.counter_h, methods=M_GET | M_PUT, observable=True,
                rt="hourglass.counter", if_="core.s", ct=CF_TEXT)
        srv.add("obs-big", self.obs_big_h, observable=True, rt="hourglass.counter hourglass.big",
                ct=CF_TEXT)
        srv.add("fresh", self.fresh_h, methods=M_POST, fresh=True, rt="hourglass.fresh")
        if debug_heap:
            srv.add("heap", self.heap_h, ct=CF_TEXT, hidden=True)
        self.ep = Endpoint(server=srv, dedup_cap=32, dedup_bytes=4096, max_con=16)
        # the caps above, in /heap's order
        self.caps = (32, 4096, 16, 16, 4, 4)

    def hello(self, req):
        return response(CONTENT, b"Hello, hourglass!", CF_TEXT)

    def sink(self, req, size):
        return StoreSink(self.size)

    def store_h(self, req):
        if req.code == GET:
            r = response(CONTENT, self.store, CF_OCTET_STREAM)
            r.add(ETAG, self.store_digest[:8])
            return r
        sink = req.sink
        self.store = bytes(sink.buf)
        self.store_digest = sink.h.digest()
        return response(CHANGED, _hex(self.store_digest).encode(), CF_TEXT)

    def big_h(self, req):
        r = response(CONTENT, self.big, CF_OCTET_STREAM)
        r.add(ETAG, self.big_etag)
        return r

    def counter_h(self, req):
        if req.code == PUT:
            try:
                self.counter = int(bytes(req.payload).decode())
            except ValueError:
                raise CoAPResponseError(BAD_REQUEST, "not an integer")
            self.srv.notify("counter", coap_udp.now_ms())
            return response(CHANGED)
        return response(CONTENT, str(self.counter).encode(), CF_TEXT)

    def obs_big_h(self, req):
        head = ("counter=%d\n" % self.counter).encode()
        body = head + b"x" * (1500 - len(head))
        r = response(CONTENT, body, CF_TEXT)
        r.add(ETAG, (self.counter & 0xFFFFFFFF).to_bytes(4, "big"))
        return r

    def fresh_h(self, req):
        return response(CHANGED, b"fresh", CF_TEXT)

    def heap_h(self, req):
        import gc

        gc.collect()
        try:
            alloc = gc.mem_alloc()
        except AttributeError:  # CPython
            alloc = -1
        used = self.ep.usage() + self.srv.usage()
        lines = ["alloc %d 0" % alloc]
        names = ("dedup", "dedup_bytes", "con", "observers", "block1", "echo")
        for i in range(len(names)):
            lines.append("%s %d %d" % (names[i], used[i], self.caps[i]))
        return response(CONTENT, "\n".join(lines).encode(), CF_TEXT)

    def tick(self, now):
        self.counter += 1
        self.srv.notify("counter", now)
        self.srv.notify("obs-big", now)

    async def ticker(self, transport):
        while True:
            await coap_udp._sleep_ms(self.interval)
            self.tick(coap_udp.now_ms())
            transport.flush()


def _args(argv):
    opts = {"host": "0.0.0.0", "port": 5683, "interval": 1000, "size": 65536, "quiet": False,
            "asyncio": False, "debug-heap": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--quiet":
            opts["quiet"] = True
        elif a == "--asyncio":
            opts["asyncio"] = True
        elif a == "--debug-heap":
            opts["debug-heap"] = True
        elif a in ("--host", "--port", "--interval", "--size") and i + 1 < len(argv):
            v = argv[i + 1]
            opts[a[2:]] = v if a == "--host" else int(v)
            i += 1
        elif a in ("-h", "--help"):
            print("usage: coap_demo.py [--host ADDR] [--port N] [--interval MS] [--size N] "
                  "[--asyncio] [--debug-heap] [--quiet]")
            sys.exit(0)
        else:
            print("coap_demo: unknown argument " + a)
            sys.exit(2)
        i += 1
    return opts


async def _main_asyncio(demo, t):
    try:
        import signal

        loop = asyncio.get_event_loop()
        loop.add_signal_handler(signal.SIGTERM, t.close)
    except (ImportError, AttributeError, NotImplementedError, RuntimeError):
        pass  # MicroPython: SIGTERM's default action ends the process
    asyncio.create_task(demo.ticker(t))
    await t.run()


def main(argv=None):
    opts = _args(sys.argv[1:] if argv is None else argv)
    demo = Demo(opts["size"], opts["interval"], opts["quiet"], opts["debug-heap"])
    t = coap_udp.UDPTransport(demo.ep, opts["host"], opts["port"])
    if not opts["quiet"]:
        print("coap_demo: listening on %s port %d (%s)" % (
            opts["host"], opts["port"], "asyncio" if opts["asyncio"] else "poll loop"))
    try:
        if opts["asyncio"]:
            asyncio.run(_main_asyncio(demo, t))
        else:
            try:
                import signal

                def _term(*_):
                    raise SystemExit(0)

                signal.signal(signal.SIGTERM, _term)
            except (ImportError, AttributeError, ValueError):
                pass  # MicroPython: SIGTERM's default action ends the process
            t.serve(demo.tick, demo.interval)
    except KeyboardInterrupt:
        pass
    finally:
        t.close()
    return 0


if __name__ == "__main__":
    main()
