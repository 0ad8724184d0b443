"""`hourglass attest URI`: ask a device for an Entity Attestation Token over
OSCORE and verify it.

  hourglass attest coap://HOST[:PORT]/attest --provision FILE --key KEY
        [--save TOKEN] [--policy FILE] [--leaf-state FILE] [--json]

Sends a fresh random nonce (--nonce-size bytes, default 32) as a CBOR bstr
(Content-Format 60, Accept 263 application/eat+cwt) in an OSCORE-protected
POST, verifies the answer exactly as `hourglass eat verify` does (our lms
and pyhsslms for HSS-LMS, the leaf log, the policy), prints the claims as
JSON and keeps the raw token in --save if given (also when it is invalid,
for a post-mortem). Exit 0 valid, 1 invalid or no answer, 2 usage.

OSCORE: --provision is the device's provisioning file (`hourglass oscore
new-context`, written from the device's side); the host takes the peer's
role (Sender ID = peer_id). Its context and Sender Sequence Number
reservations persist in --state DIR (default $XDG_STATE_HOME/hourglass/
attest) through the same storage code the device uses, so two runs never
reuse a nonce; after a device restart the OSCORE Echo recovery (RFC 8613
Appendix B.1.2) runs on its own."""
import binascii
import os
import sys

from . import eat_cmd

_PROG = "hourglass attest"


def _err(msg):
    print(_PROG + ": " + msg, file=sys.stderr)


def add_arguments(parser):
    parser.add_argument("uri", help="coap://HOST[:PORT]/attest")
    parser.add_argument("--provision", required=True,
                        help="the device's OSCORE provisioning file (hourglass oscore new-context)")
    parser.add_argument("--state", help="host OSCORE state directory (default %s)"
                        % os.path.join(eat_cmd.default_state_dir(), "attest"))
    parser.add_argument("--save", metavar="TOKEN", help="write the raw token here")
    parser.add_argument("--nonce-size", type=int, default=32, help="nonce bytes, 8..64 (default 32)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    eat_cmd.add_verify_options(parser)


def host_context(params, state_dir):
    """The host's (peer's) persisted OSCORE context for a device provisioning dict."""
    import oscore
    from hgstore import FileStorage

    from . import oscore_cmd

    oscore_cmd.check(params)
    mine = dict(params, device_id=params["peer_id"], peer_id=params["device_id"])
    os.makedirs(state_dir, exist_ok=True)
    st = FileStorage(os.path.join(state_dir, "oscore"))
    name = "host-" + params["name"]
    oscore.provision(st, name, mine)  # keeps a higher reservation already stored
    return oscore.load(st, name)


def fetch_token(uri, ctx, nonce, timeout):
    """POST the nonce to uri over OSCORE; (token bytes or None, error text)."""
    import asyncio

    import cbor
    import coap_client
    from coap_ep import Endpoint
    from coap_udp import AsyncClient, UDPTransport
    from oscore_client import OSCOREClient

    import eat

    host, port, path, query = coap_client.parse_uri(uri)

    async def go():
        ep = Endpoint()
        oc = OSCOREClient(ep)
        cl = coap_client.Client(oc, max_body=eat.MAX_TOKEN, timeout_ms=int(timeout * 1000))
        t = UDPTransport(ep, "::" if ":" in host else "0.0.0.0", 0)
        t.start()
        try:
            oc.add_peer(t.peer(host, port), ctx)
            ac = AsyncClient(t, cl)
            ex = await asyncio.wait_for(
                ac.request(2, host, port, path, payload=cbor.dumps(nonce), cf=eat.CF_CBOR,
                           accept=eat.CF_EAT_CWT, query=query), timeout)
        finally:
            t.close()
        if ex.error is not None:
            return None, str(ex.error)
        r = ex.response
        code = "%d.%02d" % (r.code >> 5, r.code & 31)
        if getattr(r, "oscore", None) is None:
            return None, "response %s not OSCORE-protected: %s" % (code, bytes(r.payload)[:80])
        if r.code != 0x45:
            return None, "response %s: %s" % (code, bytes(r.payload)[:80])
        cf = r.opt_uint(12)
        if cf != eat.CF_EAT_CWT:
            return None, "response Content-Format %s, not %d (application/eat+cwt)" % (cf, eat.CF_EAT_CWT)
        return bytes(r.payload), None

    try:
        return asyncio.run(go())
    except asyncio.TimeoutError:
        return None, "no answer within %.0f s" % timeout


def run(args):
    import json

    import eat

    if not eat.NONCE_MIN <= args.nonce_size <= eat.NONCE_MAX:
        _err("--nonce-size must be 8..64")
        return 2
    try:
        with open(args.provision) as f:
            params = json.load(f)
        with open(args.key, "rb") as f:
            key_bytes = f.read()
        policy = eat_cmd.load_policy(args.policy)
        leaf_log = eat_cmd.open_leaf_log(args)
        state = args.state or os.path.join(eat_cmd.default_state_dir(), "attest")
        ctx = host_context(params, state)
    except (OSError, ValueError) as e:
        _err(str(e))
        return 2
    nonce = os.urandom(args.nonce_size)
    try:
        token, why = fetch_token(args.uri, ctx, nonce, args.timeout)
    except (OSError, ValueError) as e:
        token, why = None, str(e)
    finally:
        ctx.close()
    if token is None:
        _err(why)
        return 1
    if args.save:
        with open(args.save, "wb") as f:
            f.write(token)
    res = eat_cmd.verify_token(token, key_bytes, nonce, policy, leaf_log)
    res["nonce"] = binascii.hexlify(nonce).decode()
    res["token_size"] = len(token)
    eat_cmd.print_result(res, args.json, _PROG)
    return 0 if res["valid"] else 1
