"""`hourglass oscore`: OSCORE (RFC 8613) security contexts for provisioned
devices, with the device's own oscore package (lib/oscore).

  new-context --out FILE    a new provisioning file (random Master Secret
                            and Salt; IDs, ID Context, algorithm as given)
  to-aiocoap FILE --out DIR the same context as aiocoap credentials:
                            DIR/credentials.json + DIR/<name>/settings.json,
                            --role client (aiocoap-client talks to the device,
                            the default) or server (aiocoap serves, the device
                            is the client)
  device-record FILE --out PATH   the device's storage record (what
                            oscore.provision() writes) for copying onto a
                            device's filesystem
  show FILE                 the parameters without the secret

Provisioning file (JSON, shared by the host tools; the device's
oscore.provision(storage, name, params) takes the same dict):
  {"format": "hourglass-oscore-1", "name": "dev",
   "algorithm": "AES-CCM-16-64-128", "kdf": "HKDF-SHA256",
   "master_secret": HEX, "master_salt": HEX, "id_context": HEX (optional),
   "device_id": HEX,      the device's Sender ID (the peer's Recipient ID)
   "peer_id": HEX,        the peer's Sender ID (the device's Recipient ID)
   "replay_window": 32}
The file holds the Master Secret: keep it like a private key.

Sequence numbers: the device persists its own (Appendix B.1.1 reservation);
aiocoap keeps its own in DIR/<name>/sequence.json. to-aiocoap leaves an
existing DIR/<name> with the same parameters alone (its sequence.json
continues) and refuses to overwrite one with other parameters unless
--force: starting a context's sequence numbers over with the same keys would
reuse nonces. For the same reason never convert one provisioning file into
two aiocoap directories that are used at the same time."""
import binascii
import json
import os
import sys

_PROG = "hourglass oscore"
FORMAT = "hourglass-oscore-1"


def _err(msg):
    print(_PROG + ": " + msg, file=sys.stderr)


def add_arguments(parser):
    sub = parser.add_subparsers(dest="oscore_command", metavar="ACTION", required=True)
    new = sub.add_parser("new-context", help="write a new provisioning file",
                         description="Write a new OSCORE provisioning file with a random Master "
                         "Secret (16 bytes) and Master Salt (8 bytes).")
    new.add_argument("--out", required=True, help="provisioning file to write (JSON)")
    new.add_argument("--name", default="dev", help="context name (device storage record, aiocoap dir)")
    new.add_argument("--device-id", default="01", help="the device's Sender ID, hex (default 01)")
    new.add_argument("--peer-id", default="", help="the peer's Sender ID, hex (default empty)")
    new.add_argument("--id-context", default=None, help="ID Context, hex (default none)")
    new.add_argument("--no-salt", action="store_true", help="empty Master Salt")
    new.add_argument("--algorithm", default="AES-CCM-16-64-128", help="AEAD algorithm name or id")
    new.add_argument("--window", type=int, default=32, help="replay window size (>= 32)")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")

    conv = sub.add_parser("to-aiocoap", help="convert a provisioning file to aiocoap credentials",
                          description="Write aiocoap credentials (credentials.json and a security "
                          "context directory) for the peer of a provisioned device.")
    conv.add_argument("file", help="provisioning file")
    conv.add_argument("--out", required=True, help="output directory")
    conv.add_argument("--role", choices=("client", "server"), default="client",
                      help="aiocoap's role: client (talks to the device) or server")
    conv.add_argument("--uri", default="coap://*",
                      help="client role: URI pattern the credentials apply to (default coap://*)")
    conv.add_argument("--force", action="store_true",
                      help="replace an existing context directory with other parameters")

    rec = sub.add_parser("device-record", help="the device's storage record for the context")
    rec.add_argument("file", help="provisioning file")
    rec.add_argument("--out", required=True, help="record file to write")

    show = sub.add_parser("show", help="print the parameters (not the secret)")
    show.add_argument("file", help="provisioning file")


# ------------------------------------------------------------ file format


def _hex(b):
    return binascii.hexlify(b).decode()


def _unhex(params, key, required=True):
    v = params.get(key)
    if v is None:
        if required:
            raise ValueError("missing " + key)
        return None
    if not isinstance(v, str):
        raise ValueError(key + " must be a hex string")
    try:
        return binascii.unhexlify(v)
    except (binascii.Error, ValueError):
        raise ValueError(key + " is not hex")


def new_context(name="dev", device_id=b"\x01", peer_id=b"", id_context=None, salt=True,
                algorithm="AES-CCM-16-64-128", window=32, secret=None):
    """A provisioning dict with a random Master Secret (and Salt)."""
    import oscore

    alg = oscore.alg_info(int(algorithm) if str(algorithm).isdigit() else algorithm)
    d = {
        "format": FORMAT,
        "name": name,
        "algorithm": alg[3],
        "kdf": "HKDF-SHA256",
        "master_secret": _hex(secret if secret is not None else os.urandom(16)),
        "master_salt": _hex(os.urandom(8)) if salt else "",
        "device_id": _hex(device_id),
        "peer_id": _hex(peer_id),
        "replay_window": window,
    }
    if id_context is not None:
        d["id_context"] = _hex(id_context)
    check(d)
    return d


def check(params):
    """Validate a provisioning dict (derives the context once); ValueError."""
    import oscore

    if params.get("format") != FORMAT:
        raise ValueError("not a %s file" % FORMAT)
    name = params.get("name")
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ValueError("bad name")
    try:
        static = oscore._params_static(params)
        oscore.SecurityContext(static[2], static[4], static[5], static[3], static[6], static[1], static[7])
    except oscore.OSCOREError as e:
        raise ValueError(str(e))
    return static


def load(path):
    with open(path) as f:
        try:
            params = json.load(f)
        except ValueError:
            raise ValueError("%s: not JSON" % path)
    if not isinstance(params, dict):
        raise ValueError("%s: not a provisioning file" % path)
    check(params)
    return params


def aiocoap_settings(params):
    """settings.json for aiocoap's FilesystemSecurityContext on the peer's side."""
    import oscore

    alg = oscore.alg_info(params.get("algorithm", "AES-CCM-16-64-128"))[3]
    s = {
        "algorithm": alg,
        "kdf-hashfun": "sha256",
        "sender-id_hex": params["peer_id"],
        "recipient-id_hex": params["device_id"],
        "secret_hex": params["master_secret"],
    }
    if params.get("master_salt"):
        s["salt_hex"] = params["master_salt"]
    if params.get("id_context") is not None:
        s["id-context_hex"] = params["id_context"]
    if params.get("replay_window", 32) != 32:
        s["window"] = params["replay_window"]
    return s


def to_aiocoap(params, out, role="client", uri="coap://*", force=False):
    """Write out/credentials.json and out/<name>/settings.json; returns the
    credentials file path."""
    name = params["name"]
    ctxdir = os.path.join(os.path.abspath(out), name)
    settings = aiocoap_settings(params)
    spath = os.path.join(ctxdir, "settings.json")
    if os.path.exists(spath):
        with open(spath) as f:
            try:
                old = json.load(f)
            except ValueError:
                old = None
        if old != settings and not force:
            raise ValueError("%s holds another context (use --force to replace it and its "
                             "sequence numbers)" % ctxdir)
        if old != settings:
            try:
                os.remove(os.path.join(ctxdir, "sequence.json"))
            except OSError:
                pass
    os.makedirs(ctxdir, exist_ok=True)
    _write(spath, settings, private=True)
    entry = {"oscore": {"basedir": ctxdir + "/"}}
    creds = {uri: entry} if role == "client" else {":" + name: entry}
    cpath = os.path.join(os.path.abspath(out), "credentials.json")
    _write(cpath, creds)
    return cpath


def _write(path, obj, private=False):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def device_record(params):
    import oscore

    return oscore._record(check(params), 0)


# ------------------------------------------------------------ command


def _hexarg(s, what):
    try:
        return binascii.unhexlify(s)
    except (binascii.Error, ValueError):
        raise ValueError(what + " is not hex")


def run(args):
    try:
        return _run(args)
    except (ValueError, OSError) as e:
        _err(str(e))
        return 1


def _run(args):
    cmd = args.oscore_command
    if cmd == "new-context":
        if os.path.exists(args.out) and not args.force:
            _err("%s exists (a new context replaces its keys; use --force)" % args.out)
            return 1
        d = new_context(args.name, _hexarg(args.device_id, "--device-id"), _hexarg(args.peer_id, "--peer-id"),
                        None if args.id_context is None else _hexarg(args.id_context, "--id-context"),
                        not args.no_salt, args.algorithm, args.window)
        _write(args.out, d, private=True)
        print("%s: context %r, device id %s, peer id %s" % (args.out, d["name"], d["device_id"] or "(empty)",
                                                           d["peer_id"] or "(empty)"))
        return 0
    if cmd == "to-aiocoap":
        params = load(args.file)
        cpath = to_aiocoap(params, args.out, args.role, args.uri, args.force)
        print(cpath)
        return 0
    if cmd == "device-record":
        params = load(args.file)
        rec = device_record(params)
        with open(args.out, "wb") as f:
            f.write(rec)
        print("%s: %d bytes (store it as the device storage record %r)" % (args.out, len(rec), params["name"]))
        return 0
    if cmd == "show":
        p = load(args.file)
        for k in ("name", "algorithm", "kdf", "device_id", "peer_id", "id_context", "master_salt",
                  "replay_window"):
            if k in p:
                print("%s: %s" % (k, p[k] if p[k] != "" else "(empty)"))
        return 0
    return 2
