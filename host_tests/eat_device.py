# A virtual attesting device for the host tests (test_eat_attest.py): lib/coap
# + lib/oscore + lib/eat assembled the way lib/oscore/oscore_demo.py does,
# serving the OSCORE-protected /attest resource. Runs under the MicroPython
# unix port or CPython:
#
#   micropython host_tests/eat_device.py --state DIR --provision OSCORE.json
#       [--host ADDR] [--port N] [--pub-out FILE] [--mode lms|mac]
#       [--lms-height 5|10] [--levels N] [--chunk N]
#
# DIR holds everything the device persists (hgstore.FileStorage): the OSCORE
# contexts (DIR/oscore.*), the EAT identity and the HSS key with its leaf
# reservations (DIR/eat, DIR/eat.eatid, DIR/eat.nodes*) and a boot counter.
# The first start provisions the identity and the key ON the device and
# writes the public COSE_Key (kid = UEID) to --pub-out for the host
# inventory; later starts load them (kill -9 in between is the point).
# The measured components are fixed stand-ins for SlotPlatform.installed().
import sys

_here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
for _p in ("coap", "hgcrypto", "cbor", "cose", "hgstore", "lms", "oscore", "eat"):
    sys.path.append(_here + "/../lib/" + _p)

import time

import coap_udp
import eat
import hgcrypto
import lms
import oscore
from coap_ep import Endpoint
from coap_server import Server
from eat_resource import AttestResource
from hgstore import FileStorage
from oscore_server import OSCOREServer

_LMS_TYPES = {5: lms.LMS_SHA256_M32_H5, 10: lms.LMS_SHA256_M32_H10}


def _args(argv):
    opts = {"host": "127.0.0.1", "port": "5683", "mode": "lms", "lms-height": "5", "levels": "2",
            "chunk": "8"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("--") or i + 1 >= len(argv):
            print("eat_device: bad argument " + a)
            sys.exit(2)
        opts[a[2:]] = argv[i + 1]
        i += 2
    return opts


def _mkdir(path):
    import os

    try:
        os.mkdir(path)
    except OSError:
        pass


def components():
    return [
        {"cid": [b"app"], "name": "app", "slot": 0, "digest": hgcrypto.sha256_digest(b"app image v1"),
         "size": 12, "sequence": 3, "manifest_digest": hgcrypto.sha256_digest(b"app manifest")},
        {"cid": [b"boot"], "name": "boot", "slot": None, "digest": hgcrypto.sha256_digest(b"boot code v1"),
         "size": 12, "sequence": 1, "manifest_digest": hgcrypto.sha256_digest(b"boot manifest")},
    ]


def main(argv):
    import json

    opts = _args(argv)
    d = opts.get("state", "eat-device-state")
    _mkdir(d)
    ost = FileStorage(d + "/oscore")
    with open(opts["provision"]) as f:
        params = json.load(f)
    name = params.get("name", "dev")
    oscore.provision(ost, name, params)
    ctx = oscore.load(ost, name)

    est = FileStorage(d + "/eat")
    if est.read("eatid") is None:
        lt = _LMS_TYPES[int(opts["lms-height"])]
        prov = eat.provision(est, mode=opts["mode"], lms_params=[(lt, lms.LMOTS_SHA256_N32_W4)] * int(opts["levels"]),
                             chunk=int(opts["chunk"]), overwrite=True)
        if "pub-out" in opts:
            with open(opts["pub-out"], "wb") as f:
                f.write(prov["cose_key"])
    ident = eat.load_identity(est)
    boots = est.read("boots")
    boots = 0 if boots is None else int(bytes(boots).decode())
    est.write("boots", str(boots + 1).encode())
    t0 = time.time()
    att = eat.Attester(ident, eat.load_signer(est, ident), measure=components, bootcount=boots + 1,
                       uptime=lambda: int(time.time() - t0), dbgstat=eat.DBG_DISABLED,
                       swname="hourglass-test-device", swversion=["0.1.0", 16384],
                       hwmodel=b"virtual", submods={"boot": ("boot",)})

    srv = Server()
    osrv = OSCOREServer(srv, oscore.Contexts([ctx]))
    AttestResource(att).add_to(osrv)
    ep = Endpoint(server=osrv)
    t = coap_udp.UDPTransport(ep, opts["host"], int(opts["port"]))
    print("eat_device: serving /attest on %s port %s, boot %d" % (opts["host"], opts["port"], boots + 1))
    try:
        sys.stdout.flush()  # CPython buffers a redirected stdout
    except AttributeError:
        pass
    try:
        t.serve(lambda now: None, 1000)
    except KeyboardInterrupt:
        pass
    finally:
        t.close()
        ctx.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
