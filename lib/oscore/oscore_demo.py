# OSCORE virtual device for the unix port (and CPython): a CoAP server whose
# resources need OSCORE, and a one-shot OSCORE client. The interop tests and
# the benchmark drive it; the device application (#8) replaces it.
#
#   micropython lib/oscore/oscore_demo.py server --state DIR [--provision FILE.json]...
#       [--host ADDR] [--port N] [--interval MS] [--outer-szx N] [--mtu N] [--quiet]
#   micropython lib/oscore/oscore_demo.py client --state DIR [--provision FILE.json]
#       URI [--method GET|POST|PUT|DELETE] [--payload TEXT | --size N] [--observe N]
#
# --state DIR holds the persisted contexts (one record per context, written
# through hgstore.FileStorage: DIR/oscore.<name>); --provision stores a
# provisioning file's context there first (`hourglass oscore new-context`),
# keeping a higher sequence number reservation already stored. Without
# --provision every context named in DIR/oscore.names is loaded.
# --outer-szx N sends protected responses over 16 << N bytes in Outer
# Block2 blocks of that size, --mtu N (default 1280) those that do not fit
# N bytes (oscore_server); the Server's inner blocks stay 1024 bytes.
#
# Server resources (all but /public need OSCORE; plain requests get 4.01):
#   /hello     GET "Hello, OSCORE!"          /public  GET, no OSCORE needed
#   /echo      POST returns the payload      /whoami  GET the client's kid (hex)
#   /counter   GET, observable: +1 every --interval ms
#   /upload    PUT/POST, block-wise up to 65536 bytes, answers the SHA-256 (hex)
#   /big       GET 4096 bytes (Block2)
# The client prints "CODE payload" per response (notifications too) and
# exits 0 if the last one is a success.
import sys

try:
    import coap_msg  # noqa: F401  (frozen into build/unix/micropython)
except ImportError:
    _here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
    for _p in ("coap", "hgcrypto", "cbor", "hgstore", "oscore"):
        sys.path.append(_here + "/../" + _p)
try:
    import oscore  # noqa: F401
except ImportError:
    _here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
    sys.path.append(_here)

import binascii
import hashlib

import coap_udp
import oscore
from coap_client import Client, parse_uri
from coap_ep import Endpoint
from coap_msg import CF_TEXT, CHANGED, CONTENT, REQUEST_ENTITY_TOO_LARGE, CoAPResponseError, response
from coap_server import M_POST, M_PUT, Server
from oscore_client import OSCOREClient
from oscore_server import OSCOREServer

try:
    import asyncio
except ImportError:
    import uasyncio as asyncio

_NAMES = "names"


def _hex(b):
    return binascii.hexlify(bytes(b)).decode()


def open_storage(state_dir):
    from hgstore import FileStorage

    try:
        import os

        os.mkdir(state_dir)
    except OSError:
        pass
    return FileStorage(state_dir + "/oscore")


def contexts(storage, provision_files):
    """Provision the given files, then load every known context."""
    import json

    names = []
    raw = storage.read(_NAMES)
    if raw:
        names = [n for n in bytes(raw).decode().split("\n") if n]
    for path in provision_files:
        with open(path) as f:
            params = json.load(f)
        name = params.get("name", "dev")
        oscore.provision(storage, name, params)
        if name not in names:
            names.append(name)
            storage.write(_NAMES, "\n".join(names).encode())
    return [oscore.load(storage, n) for n in names], names


class Sink:
    def __init__(self, limit):
        self.h = hashlib.sha256()
        self.n = 0
        self.limit = limit

    def write(self, chunk):
        self.n += len(chunk)
        if self.n > self.limit:
            raise CoAPResponseError(REQUEST_ENTITY_TOO_LARGE, "too large")
        self.h.update(chunk)

    def abort(self):
        self.h = None


class Device:
    def __init__(self, ctxs, interval=1000, quiet=False, outer_szx=None, mtu=1280):
        self.interval = interval
        self.quiet = quiet
        self.counter = 0
        self.big = bytes(range(256)) * 16
        srv = self.srv = Server(max_observers=8, max_block1=2)
        self.ctxs = ctxs
        osrv = self.osrv = OSCOREServer(srv, oscore.Contexts(ctxs), outer_szx=outer_szx)
        osrv.add("hello", lambda req: response(CONTENT, b"Hello, OSCORE!", CF_TEXT), ct=CF_TEXT)
        osrv.add("echo", lambda req: response(CHANGED, bytes(req.payload)), methods=M_POST)
        osrv.add("whoami", lambda req: response(CONTENT, _hex(req.oscore.kid).encode()))
        osrv.add("counter", self.counter_h, observable=True, ct=CF_TEXT)
        osrv.add("upload", self.upload_h, methods=M_PUT | M_POST, sink=self.sink, max_body=65536)
        osrv.add("big", lambda req: response(CONTENT, self.big))
        srv.add("public", lambda req: response(CONTENT, b"public", CF_TEXT))
        self.ep = Endpoint(server=osrv, mtu=mtu)

    def counter_h(self, req):
        return response(CONTENT, str(self.counter).encode(), CF_TEXT)

    def sink(self, req, size):
        return Sink(65536)

    def upload_h(self, req):
        return response(CHANGED, _hex(req.sink.h.digest()).encode(), CF_TEXT)

    def tick(self, now):
        self.counter += 1
        self.srv.notify("counter", now)


def _args(argv, flags, valued):
    opts = {}
    pos = []
    prov = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in flags:
            opts[a[2:]] = True
        elif a in valued and i + 1 < len(argv):
            if a == "--provision":
                prov.append(argv[i + 1])
            else:
                opts[a[2:]] = argv[i + 1]
            i += 1
        elif a.startswith("--"):
            print("oscore_demo: unknown argument " + a)
            sys.exit(2)
        else:
            pos.append(a)
        i += 1
    opts["provision"] = prov
    return opts, pos


def serve(argv):
    opts, _ = _args(argv, ("--quiet",), ("--state", "--provision", "--host", "--port", "--interval",
                                          "--outer-szx", "--mtu"))
    st = open_storage(opts.get("state", "oscore-state"))
    ctxs, names = contexts(st, opts["provision"])
    if not ctxs:
        print("oscore_demo: no context (use --provision FILE)")
        return 1
    szx = opts.get("outer-szx")
    dev = Device(ctxs, int(opts.get("interval", 1000)), opts.get("quiet", False),
                 None if szx is None else int(szx), int(opts.get("mtu", 1280)))
    host = opts.get("host", "0.0.0.0")
    port = int(opts.get("port", 5683))
    t = coap_udp.UDPTransport(dev.ep, host, port)
    print("oscore_demo: serving %s on %s port %d" % (",".join(names), host, port))
    try:
        t.serve(dev.tick, dev.interval)
    except KeyboardInterrupt:
        pass
    finally:
        t.close()
        for c in ctxs:
            try:
                c.close()
            except Exception:
                pass
    return 0


_METHODS = {"GET": 1, "POST": 2, "PUT": 3, "DELETE": 4, "FETCH": 5}


def client(argv):
    opts, pos = _args(argv, (), ("--state", "--provision", "--method", "--payload", "--size",
                                  "--observe"))
    if len(pos) != 1:
        print("usage: oscore_demo.py client --state DIR [--provision F] URI [--method M] ...")
        return 2
    st = open_storage(opts.get("state", "oscore-client-state"))
    ctxs, _ = contexts(st, opts["provision"])
    if not ctxs:
        print("oscore_demo: no context (use --provision FILE)")
        return 1
    host, port, path, query = parse_uri(pos[0])
    method = _METHODS[opts.get("method", "GET").upper()]
    payload = opts.get("payload", "").encode()
    if "size" in opts:
        n = int(opts["size"])
        payload = bytes([(i * 7 + (i >> 8)) & 255 for i in range(n)])
    nobs = int(opts.get("observe", 0))
    return asyncio.run(_client(ctxs[0], host, port, path, query, method, payload, nobs))


async def _client(ctx, host, port, path, query, method, payload, nobs):
    ep = Endpoint()
    oc = OSCOREClient(ep)
    cl = Client(oc)
    t = coap_udp.UDPTransport(ep, "0.0.0.0", 0)
    t.start()
    ok = False
    try:
        oc.add_peer(t.peer(host, port), ctx)
        ac = coap_udp.AsyncClient(t, cl)
        if nobs:
            def show(ex, msg):
                print("notify %s %s" % (_code(msg.code), bytes(msg.payload).decode()))

            ex = await ac.observe(host, port, path, count=nobs, on_notify=show, query=query)
            ok = len(ex.notifications) >= 1
        else:
            ex = await ac.request(method, host, port, path, payload=payload, query=query)
            if ex.error is not None:
                print("error " + str(ex.error))
            else:
                r = ex.response
                body = bytes(r.payload)
                try:
                    text = body.decode()
                except UnicodeError:
                    text = _hex(body)
                print("%s %s" % (_code(r.code), text))
                ok = r.code < 0x80 and getattr(r, "oscore", None) is not None
    finally:
        t.close()
        ctx.close()
    return 0 if ok else 1


def _code(c):
    return "%d.%02d" % (c >> 5, c & 31)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("server", "client"):
        print("usage: oscore_demo.py server|client ...")
        return 2
    if argv[0] == "server":
        return serve(argv[1:])
    return client(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
