# The hourglass device on the MicroPython unix port (and CPython): the
# application in firmware/hg_device.py behind a UDP socket.
#
#   micropython firmware/hg_unix.py --state DIR [--host 127.0.0.1] [--port 5683] [--quiet]
#   micropython firmware/hg_unix.py --state DIR keygen [--lms-height 5|10] [--levels N]
#
# keygen makes the device's EAT HSS key in DIR if there is none (the default
# 2 levels of LMS H10 / LM-OTS W4: 2^20 tokens) and prints one JSON line
# {"ueid": hex, "eat_pub": hex (raw HSS public key), "leaves": int}; run
# again it prints the existing key's. The host writes config.json after it.
#
# Exit codes: 0 stopped (Ctrl-C), 3 restart requested (an update was
# installed, POST /reset, a trial not confirmed in time: the runner starts
# the process again), 2 usage error, 1 any other error.
import sys

# lib/ and firmware/ go last on the path: modules frozen into
# build/unix/micropython win, and packages it does not freeze are found.
_here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
for _p in ("coap", "hgcrypto", "cbor", "cose", "hgstore", "lms", "oscore", "suit", "eat"):
    sys.path.append(_here + "/../lib/" + _p)
sys.path.append(_here)
import hg_device  # noqa: E402

_USAGE = ("usage: hg_unix.py --state DIR [--host ADDR] [--port N] [--quiet]\n"
          "       hg_unix.py --state DIR keygen [--lms-height 5|10] [--levels N]")


def _args(argv):
    opts = {"host": "127.0.0.1", "port": "5683"}
    pos = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--quiet":
            opts["quiet"] = True
        elif a in ("--state", "--host", "--port", "--lms-height", "--levels"):
            if i + 1 >= len(argv):
                return None, None
            opts[a[2:]] = argv[i + 1]
            i += 1
        elif a.startswith("--"):
            return None, None
        else:
            pos.append(a)
        i += 1
    return opts, pos


def keygen(opts):
    import json

    import lms

    params = None
    if "lms-height" in opts or "levels" in opts:
        types = {"5": lms.LMS_SHA256_M32_H5, "10": lms.LMS_SHA256_M32_H10}
        lt = types.get(opts.get("lms-height", "10"))
        n = int(opts.get("levels", "2"))
        if lt is None or not 1 <= n <= 8:
            print(_USAGE)
            return 2
        params = [(lt, lms.LMOTS_SHA256_N32_W4)] * n
    print(json.dumps(hg_device.keygen(opts["state"], params)))
    return 0


def serve(opts):
    import coap_udp

    dev = hg_device.Device(opts["state"], quiet=opts.get("quiet", False)).start()
    if dev.exit_code is not None:
        dev.close()
        dev.log("restart requested (exit %d)" % dev.exit_code)
        return dev.exit_code
    port = int(opts["port"])
    t = coap_udp.UDPTransport(dev.ep, opts["host"], port)
    dev.log("serving on %s port %d" % (opts["host"], port))

    def tick(now):
        dev.tick(now)
        if dev.exit_code is not None:
            t.close()

    try:
        t.serve(tick, hg_device.TICK_MS)
    except KeyboardInterrupt:
        pass
    finally:
        t.close()
        dev.close()
    if dev.exit_code is not None:
        dev.log("restart requested (exit %d)" % dev.exit_code)
        return dev.exit_code
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    opts, pos = _args(argv)
    if opts is None or "state" not in opts or pos not in ([], ["keygen"]):
        print(_USAGE)
        return 2
    if pos == ["keygen"]:
        return keygen(opts)
    return serve(opts)


if __name__ == "__main__":
    sys.exit(main())
