"""`hourglass coap`: decode CoAP datagrams and talk to CoAP servers with
the device's own CoAP stack (lib/coap) over UDP.

  hourglass coap decode HEX|@FILE|- [--json]
  hourglass coap get|put|post|delete|fetch URI [--payload TEXT | --payload-file F]
                 [--content-format CF] [--accept CF] [--non] [--block-size N]
                 [--output FILE] [--timeout S]
  hourglass coap observe URI [--count N] [--timeout S]

The response payload goes to stdout (or --output); the status line and a
progress indicator for block-wise transfers go to stderr. Exit status 0
for a 2.xx response, 1 otherwise (error response, timeout, malformed
input; the reason on stderr), 2 for usage errors.
"""
import json
import sys

from .inputs import read_input

METHODS = {"get": 1, "post": 2, "put": 3, "delete": 4, "fetch": 5}
_TYPES = ("CON", "NON", "ACK", "RST")
_CODE_NAMES = {
    0x00: "Empty", 0x01: "GET", 0x02: "POST", 0x03: "PUT", 0x04: "DELETE", 0x05: "FETCH",
    0x06: "PATCH", 0x07: "iPATCH", 0x41: "Created", 0x42: "Deleted", 0x43: "Valid",
    0x44: "Changed", 0x45: "Content", 0x5F: "Continue", 0x80: "Bad Request",
    0x81: "Unauthorized", 0x82: "Bad Option", 0x83: "Forbidden", 0x84: "Not Found",
    0x85: "Method Not Allowed", 0x86: "Not Acceptable", 0x88: "Request Entity Incomplete",
    0x89: "Conflict", 0x8C: "Precondition Failed", 0x8D: "Request Entity Too Large",
    0x8F: "Unsupported Content-Format", 0x96: "Unprocessable Entity", 0x9D: "Too Many Requests",
    0xA0: "Internal Server Error", 0xA1: "Not Implemented", 0xA2: "Bad Gateway",
    0xA3: "Service Unavailable", 0xA4: "Gateway Timeout", 0xA5: "Proxying Not Supported",
}
_CF_ALIASES = {"text": 0, "link": 40, "link-format": 40, "xml": 41, "octet-stream": 42,
               "binary": 42, "json": 50, "cbor": 60, "senml+cbor": 112, "senml+json": 110}
_FORMAT_NAMES = ("empty", "opaque", "uint", "string")


def add_arguments(parser):
    sub = parser.add_subparsers(dest="coap_command", metavar="ACTION", required=True)
    dec = sub.add_parser("decode", help="decode one CoAP datagram",
                         description="Decode one CoAP datagram (RFC 7252) and print its fields.")
    dec.add_argument("input", help="hex string, @FILE for a binary file, or - for binary stdin")
    dec.add_argument("--json", action="store_true", help="print the fields as JSON")
    for name in ("get", "put", "post", "delete", "fetch", "observe"):
        what = "observe a resource (RFC 7641)" if name == "observe" else \
            "send a %s request" % name.upper()
        p = sub.add_parser(name, help=what, description=what + " over UDP (coap://)")
        p.add_argument("uri", help="coap://host[:port]/path[?query]")
        if name in ("put", "post", "fetch"):
            g = p.add_mutually_exclusive_group()
            g.add_argument("--payload", help="request body (text)")
            g.add_argument("--payload-file", help="request body from a file (- for stdin)")
            p.add_argument("--content-format", help="Content-Format of the body (number or name)")
        p.add_argument("--accept", help="Accept option (number or name)")
        p.add_argument("--timeout", type=float, default=30.0,
                       help="seconds to wait for the whole exchange (default 30)")
        p.add_argument("--non", action="store_true", help="send NON instead of CON")
        p.add_argument("--block-size", type=int, default=1024, choices=BLOCK_SIZES,
                       help="block size for block-wise transfers (default 1024)")
        p.add_argument("--output", "-o", help="write the payload to FILE instead of stdout")
        p.add_argument("--quiet", "-q", action="store_true", help="no status line or progress")
        if name == "observe":
            p.add_argument("--count", type=int, default=0,
                           help="stop after N notifications (default: until interrupted or "
                                "--timeout)")


BLOCK_SIZES = (16, 32, 64, 128, 256, 512, 1024)  # by SZX


def block_szx(size):
    """The CoAP block SZX of a block size in bytes; ValueError for another size."""
    if size not in BLOCK_SIZES:
        raise ValueError("block size %r: one of %s" % (size, ", ".join(str(b) for b in BLOCK_SIZES)))
    return BLOCK_SIZES.index(size)


def code_text(code):
    import coap_msg

    name = _CODE_NAMES.get(code)
    return coap_msg.code_str(code) + (" " + name if name else "")


def parse_cf(text):
    if text is None:
        return None
    import coap_msg

    t = text.strip()
    if t.isdigit():
        n = int(t)
        if n > 65535:
            raise ValueError("Content-Format out of range: " + t)
        return n
    n = _CF_ALIASES.get(t.lower())
    if n is None:
        n = coap_msg.content_format_number(t)
    if n is None:
        raise ValueError("unknown Content-Format: " + text)
    return n


def option_json(num, value):
    import coap_msg

    info = coap_msg.option_info(num)
    out = {"number": num, "name": coap_msg.option_name(num),
           "critical": coap_msg.is_critical(num), "unsafe": coap_msg.is_unsafe(num),
           "no_cache_key": coap_msg.is_no_cache_key(num), "length": len(value),
           "hex": bytes(value).hex()}
    if info is not None:
        fmt = info[1]
        out["format"] = _FORMAT_NAMES[fmt]
        out["valid_length"] = info[2] <= len(value) <= info[3]
        if fmt == 2:
            out["value"] = coap_msg.uint_decode(value)
            if num in (coap_msg.BLOCK1, coap_msg.BLOCK2) and len(value) <= 3:
                n, m, szx = coap_msg.block_decode(value)
                out["block"] = {"num": n, "more": bool(m), "szx": szx,
                                "size": coap_msg.szx_size(szx) if szx < 7 else None}
            if num in (coap_msg.CONTENT_FORMAT, coap_msg.ACCEPT):
                out["media_type"] = coap_msg.content_format_name(out["value"])
        elif fmt == 3:
            try:
                out["value"] = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                out["valid_utf8"] = False
    return out


def message_json(msg, raw):
    import coap_msg

    out = {"length": len(raw), "version": 1, "type": _TYPES[msg.mtype],
           "code": coap_msg.code_str(msg.code), "code_name": _CODE_NAMES.get(msg.code),
           "mid": msg.mid, "token": bytes(msg.token).hex(),
           "options": [option_json(n, v) for n, v in msg.opts],
           "payload": bytes(msg.payload).hex(), "payload_length": len(msg.payload)}
    try:
        text = bytes(msg.payload).decode("utf-8")
        if all(c.isprintable() or c in "\r\n\t" for c in text):
            out["payload_text"] = text
    except UnicodeDecodeError:
        pass
    return out


def _print_human(d):
    print("%s %s mid=%d (0x%04x) token=%s" % (d["type"], d["code"] + (
        " " + d["code_name"] if d["code_name"] else ""), d["mid"], d["mid"], d["token"] or "-"))
    for o in d["options"]:
        if "block" in o:
            b = o["block"]
            val = "%d/%d/%s" % (b["num"], 1 if b["more"] else 0, b["size"] or "szx7")
        elif "value" in o:
            val = json.dumps(o["value"]) if isinstance(o["value"], str) else str(o["value"])
            if o.get("media_type"):
                val += " (%s)" % o["media_type"]
        else:
            val = "0x" + o["hex"] if o["hex"] else "(empty)"
        flags = "".join(f for f, on in (("C", o["critical"]), ("U", o["unsafe"]),
                                        ("N", o["no_cache_key"])) if on)
        print("  %-14s %3d %-3s %s" % (o["name"], o["number"], flags, val))
    if d["payload_length"]:
        if "payload_text" in d:
            print("  payload (%d bytes): %s" % (d["payload_length"],
                                                json.dumps(d["payload_text"])))
        else:
            print("  payload (%d bytes): %s" % (d["payload_length"], d["payload"]))


def run_decode(args):
    import coap_msg

    try:
        raw = read_input(args.input)
        msg = coap_msg.decode(raw)
    except (ValueError, OSError) as e:
        print("hourglass coap: malformed: " + str(e), file=sys.stderr)
        return 1
    d = message_json(msg, raw)
    if args.json:
        print(json.dumps(d, indent=2))
    else:
        _print_human(d)
    return 0


class _Progress:
    """One carriage-return line on stderr for block-wise transfers."""

    def __init__(self, enabled):
        self.enabled = enabled and True
        self.shown = False

    def __call__(self, ex, kind):
        if kind != "progress" or not self.enabled:
            return
        done = ex.received if ex.received else ex.sent
        total = ex.total
        if total:
            sys.stderr.write("\r  %d/%d bytes (%d%%)" % (done, total, done * 100 // total))
        else:
            sys.stderr.write("\r  %d bytes" % done)
        sys.stderr.flush()
        self.shown = True

    def end(self):
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.shown = False


def _write_payload(args, payload, out_file=None):
    data = bytes(payload)
    if out_file is not None:
        out_file.write(data)
        out_file.flush()
        return
    try:
        text = data.decode("utf-8")
        sys.stdout.write(text)
        if text and not text.endswith("\n"):
            sys.stdout.write("\n")
    except UnicodeDecodeError:
        sys.stdout.write(data.hex() + "\n")
    sys.stdout.flush()


def run_request(args):
    import asyncio

    import coap_client
    import coap_msg
    from coap_ep import Endpoint
    from coap_udp import AsyncClient, UDPTransport

    try:
        host, port, path, query = coap_client.parse_uri(args.uri)
        payload = b""
        if getattr(args, "payload", None) is not None:
            payload = args.payload.encode()
        elif getattr(args, "payload_file", None):
            if args.payload_file == "-":
                payload = sys.stdin.buffer.read()
            else:
                with open(args.payload_file, "rb") as f:
                    payload = f.read()
        cf = parse_cf(getattr(args, "content_format", None))
        accept = parse_cf(args.accept)
    except (ValueError, OSError) as e:
        print("hourglass coap: " + str(e), file=sys.stderr)
        return 2 if isinstance(e, ValueError) and "URI" in str(e) else 1
    szx = block_szx(args.block_size)
    observe = args.coap_command == "observe"
    method = 1 if observe else METHODS[args.coap_command]
    progress = _Progress(not args.quiet)
    out_file = open(args.output, "wb") if args.output else None
    status = {"rc": 1}

    async def go():
        family = 0
        ep = Endpoint()
        client = coap_client.Client(ep, szx=szx, max_body=1 << 26,
                                    timeout_ms=int(args.timeout * 1000))
        bind = "::" if ":" in host else "0.0.0.0"
        t = UDPTransport(ep, bind, 0, family)
        t.start()
        try:
            ac = AsyncClient(t, client)
            if observe:
                count = [0]

                def on_note(ex, note):
                    progress.end()
                    count[0] += 1
                    if not args.quiet:
                        print("[%d] %s" % (count[0], code_text(note.code)), file=sys.stderr)
                    _write_payload(args, note.payload, out_file)

                kw = {"accept": accept, "query": query, "con": not args.non,
                      "callback": progress, "timeout_ms": int(args.timeout * 1000)}
                task = ac.observe(host, port, path, count=args.count or 1 << 30,
                                  on_notify=on_note, **kw)
                try:
                    ex = await asyncio.wait_for(task, args.timeout if args.count else None)
                except asyncio.TimeoutError:
                    ex = None
                if ex is not None and ex.error:
                    print("hourglass coap: " + ex.error, file=sys.stderr)
                    return 1
                if count[0] == 0:
                    print("hourglass coap: no notification", file=sys.stderr)
                    return 1
                if args.count and count[0] < args.count:
                    print("hourglass coap: %d of %d notifications before the timeout" % (
                        count[0], args.count), file=sys.stderr)
                    return 1
                return 0
            ex = await ac.request(method, host, port, path, payload=payload, cf=cf,
                                  accept=accept, query=query, con=not args.non,
                                  callback=progress, timeout_ms=int(args.timeout * 1000))
            progress.end()
            if ex.error:
                print("hourglass coap: " + ex.error, file=sys.stderr)
                return 1
            r = ex.response
            if not args.quiet:
                cfv = r.opt_uint(coap_msg.CONTENT_FORMAT)
                print("%s%s" % (code_text(r.code), "" if cfv is None else
                                " (%s)" % (coap_msg.content_format_name(cfv) or cfv)),
                      file=sys.stderr)
            if r.payload:
                _write_payload(args, r.payload, out_file)
            return 0 if 0x40 <= r.code < 0x60 else 1
        finally:
            t.close()

    try:
        status["rc"] = asyncio.run(go())
    except OSError as e:
        progress.end()
        print("hourglass coap: " + str(e), file=sys.stderr)
        status["rc"] = 1
    except KeyboardInterrupt:
        progress.end()
        status["rc"] = 130 if not observe else 0
    finally:
        if out_file is not None:
            out_file.close()
    return status["rc"]


def run(args):
    if args.coap_command == "decode":
        return run_decode(args)
    return run_request(args)
