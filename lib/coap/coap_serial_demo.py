# The demo CoAP server a board serves over its serial line (coap_serial):
# what `hourglass bridge` starts on the qemu image by default, and the
# device side of host_tests/test_coap_bridge.py. Sized for the 64 KiB image
# (no asyncio, nothing big in RAM); firmware/coap_demo.py is the UDP demo
# for the unix port.
#
#   import coap_serial_demo; coap_serial_demo.run()   # serve on the board's line
#
# Resources:
#   /hello   GET   "hello from hourglass" (text/plain)
#   /big     GET   BIG_SIZE bytes of text, generated per block (nothing held
#                  in RAM), with an ETag: the Block2 download
#   /heap    GET   "free=N alloc=N" after a collection (gc.mem_free)
#   /echo    POST  the request payload back (2.04)
#   /.well-known/core
import gc

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import coap_msg
import coap_serial

BIG_SIZE = const(6144)
_LINE = const(32)
_ETAG = b"hgbig001"


def big_line(i):
    """Line i of /big: 32 bytes, '00000 hourglass block2 demo....\\n'."""
    s = "%05d hourglass block2 demo" % i
    return s + "." * (_LINE - 1 - len(s)) + "\n"


class BigBody:
    """The /big representation, made block by block (read_block protocol of
    coap_server)."""

    def __len__(self):
        return BIG_SIZE

    def read_block(self, off, n):
        first = off // _LINE
        last = (off + n + _LINE - 1) // _LINE
        text = "".join([big_line(i) for i in range(first, last)]).encode()
        skip = off - first * _LINE
        return text[skip : skip + n]


def big_body():
    """All of /big (host side: what a download must equal)."""
    return BigBody().read_block(0, BIG_SIZE)


def _hello(req):
    return coap_msg.response(coap_msg.CONTENT, b"hello from hourglass", coap_msg.CF_TEXT)


def _big(req):
    m = coap_msg.response(coap_msg.CONTENT, BigBody(), coap_msg.CF_TEXT)
    m.add(coap_msg.ETAG, _ETAG)
    return m


def _heap(req):
    gc.collect()
    try:
        text = "free=%d alloc=%d" % (gc.mem_free(), gc.mem_alloc())
    except AttributeError:  # CPython
        text = "free=-1 alloc=-1"
    return coap_msg.response(coap_msg.CONTENT, text.encode(), coap_msg.CF_TEXT)


def _echo(req):
    return coap_msg.response(coap_msg.CHANGED, bytes(req.payload))


def make_server():
    import coap_server as S

    srv = S.Server()
    srv.add("hello", _hello, rt="hg.hello", ct=coap_msg.CF_TEXT)
    srv.add("big", _big, rt="hg.big", ct=coap_msg.CF_TEXT, sz=BIG_SIZE)
    srv.add("heap", _heap, rt="hg.heap", ct=coap_msg.CF_TEXT)
    srv.add("echo", _echo, methods=S.M_POST)
    return srv


def make_endpoint():
    import coap_ep

    return coap_ep.Endpoint(server=make_server())


def run(io=None):
    """Serve the demo on the board's line until the link's exit frame."""
    ep = make_endpoint()
    gc.collect()
    coap_serial.SerialLink(ep, io or coap_serial.default_io()).run()
