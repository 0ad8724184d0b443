"""`hourglass lms`: HSS/LMS (RFC 8554) keys and signatures with the device's
own lms package (lib/lms): keygen, sign, verify, inspect.

Files: public keys and signatures are the raw RFC 8554 HSS encodings; a
public key may also be a COSE_Key (kty 5, RFC 9708), detected by content.
The private key file is the lms_state key file (a CBOR map, documented at
the top of lib/lms/lms_state.py); KEYFILE.nodes0... beside it are caches of
the tree nodes, rebuilt when missing; `sign` holds an exclusive lock on
KEYFILE.lock while it uses the key and gives the unused rest of its leaf
reservation back before it exits. Never copy a private key file and sign
with both copies: the same one-time keys would be used twice."""
import binascii
import json
import os
import sys

_PROG = "hourglass lms"


def _err(msg):
    print(_PROG + ": " + msg, file=sys.stderr)


# ------------------------------------------------------------ parameter names


def _lms_names():
    import lms

    return {row[0]: code for code, row in lms.LMS_PARAMS.items()}


def _ots_names():
    import lms

    return {row[0]: code for code, row in lms.OTS_PARAMS.items()}


def lms_type_arg(spec):
    """H10, M24_H10, LMS_SHA256_M32_H10 or the typecode -> LMS typecode."""
    import argparse

    s = spec.strip().upper().replace("-", "_")
    names = _lms_names()
    if s.isdigit() and int(s) in names.values():
        return int(s)
    if not s.startswith("LMS_"):
        if s.startswith("H"):
            s = "M32_" + s
        s = "LMS_SHA256_" + s
    if s not in names:
        raise argparse.ArgumentTypeError("unknown LMS parameter set: " + spec)
    return names[s]


def ots_type_arg(spec, m=32):
    """W4, N24_W4, LMOTS_SHA256_N32_W4 or the typecode -> LM-OTS typecode;
    a bare Wx takes n from the LMS type (m)."""
    import argparse

    s = spec.strip().upper().replace("-", "_")
    names = _ots_names()
    if s.isdigit() and int(s) in names.values():
        return int(s)
    if not s.startswith("LMOTS_"):
        if s.startswith("W"):
            s = "N" + str(m) + "_" + s
        s = "LMOTS_SHA256_" + s
    if s not in names:
        raise argparse.ArgumentTypeError("unknown LM-OTS parameter set: " + spec)
    return names[s]


def _name(code, ots=False):
    import lms

    return lms.param_name(code, ots)


def _pair_name(lt, ot):
    return _name(lt) + "/" + _name(ot, True)


# ------------------------------------------------------------ arguments


def add_arguments(parser):
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "Exit codes: 0 success / valid, 1 invalid, malformed or failed (reason on\n"
        "stderr), 2 usage error."
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "lms_host", "lms_py"),
        default="auto",
        help="LMS implementation (default: the C library when built, else pure Python)",
    )
    sub = parser.add_subparsers(dest="lms_command", metavar="ACTION", required=True)

    kg = sub.add_parser(
        "keygen",
        help="create a stateful HSS private key and its public key",
        description="Create an HSS key: a private key file (state, never copy it) and the "
        "raw RFC 8554 public key. Default: 2 levels of LMS_SHA256_M32_H10 with "
        "LMOTS_SHA256_N32_W4 (2^20 signatures).",
    )
    kg.add_argument("--out", required=True, metavar="KEYFILE", help="private key file to create")
    kg.add_argument("--pub", required=True, metavar="PUBFILE", help="public key output (raw HSS)")
    kg.add_argument("--levels", type=int, default=2, metavar="L", help="HSS levels, 1..8 (default 2)")
    kg.add_argument(
        "--lms",
        default="H10",
        metavar="SET",
        help="LMS set: H5..H25 (SHA-256), M24_H5..M24_H25 (SHA-256/192) or a full name; "
        "a comma list gives one per level, top first (default H10)",
    )
    kg.add_argument(
        "--ots",
        default="W4",
        metavar="SET",
        help="LM-OTS set: W1, W2, W4, W8 (n follows the LMS set) or a full name; "
        "a comma list gives one per level (default W4)",
    )
    kg.add_argument(
        "--chunk",
        type=int,
        default=64,
        metavar="N",
        help="leaves reserved per state write; a crash wastes at most N (default 64)",
    )
    kg.add_argument("--cose-key", metavar="FILE", help="also write the public key as a COSE_Key")
    kg.add_argument("--kid", metavar="HEX", help="kid for the COSE_Key")
    kg.add_argument("--force", action="store_true", help="replace an existing KEYFILE")

    sg = sub.add_parser(
        "sign",
        help="sign a file (advances the key state)",
        description="Sign MSG with the HSS key. The key file is updated (the leaf is "
        "reserved) before the signature is written.",
    )
    sg.add_argument("--key", required=True, metavar="KEYFILE", help="private key file")
    sg.add_argument("--msg", required=True, metavar="MSG", help="message file, or - for stdin")
    sg.add_argument("--out", required=True, metavar="SIG", help="signature output (raw HSS)")

    vf = sub.add_parser(
        "verify",
        help="verify a signature",
        description="Verify SIG over MSG. Exit 0 if valid, 1 otherwise (reason on stderr).",
    )
    vf.add_argument("--pub", required=True, metavar="PUB", help="public key: raw HSS or COSE_Key")
    vf.add_argument("--msg", required=True, metavar="MSG", help="message file, or - for stdin")
    vf.add_argument("--sig", required=True, metavar="SIG", help="signature file (raw HSS)")

    ins = sub.add_parser(
        "inspect",
        help="describe a public key, signature or private key file",
        description="Show levels and parameter sets; for a private key also the next "
        "leaf, the reserved bound and the signatures left.",
    )
    ins.add_argument("file", metavar="FILE", help="public key, COSE_Key, signature or private key")
    ins.add_argument("--json", action="store_true", help="print JSON")


# ------------------------------------------------------------ helpers


def _read(path):
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _hex(b):
    return binascii.hexlify(bytes(b)).decode()


def _is_cbor_map(data):
    return len(data) > 0 and 0xA0 <= data[0] <= 0xBF


class _KeyLock:
    """Exclusive lock on KEYFILE.lock for one process's use of a key: two
    `hourglass lms sign` runs on the same key at once would load the same
    reservation and use the same leaves. POSIX flock; elsewhere no lock."""

    def __init__(self, path):
        self._path = path + ".lock"
        self._fd = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:
            return self
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            self._fd = None
            raise OSError("key in use by another process: " + self._path)
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            os.close(self._fd)  # releases the lock
            self._fd = None
        return False


def _load_pub(data):
    """Raw HSS public key from raw bytes or a COSE_Key."""
    import lms

    if _is_cbor_map(data):
        return lms.pub_from_cose_key(data)
    return data


def _levels_list(spec, levels, conv, what):
    parts = [p for p in spec.split(",") if p.strip()]
    if len(parts) == 1:
        parts = parts * levels
    if len(parts) != levels:
        raise ValueError("--" + what + " needs 1 or " + str(levels) + " values")
    return [conv(p) for p in parts]


# ------------------------------------------------------------ actions


def _keygen(args):
    import argparse

    import hgstore
    import lms
    import lms_state

    if args.levels < 1 or args.levels > lms.MAX_LEVELS:
        _err("--levels must be 1..8")
        return 2
    if args.chunk < 1:
        _err("--chunk must be at least 1")
        return 2
    try:
        lts = _levels_list(args.lms, args.levels, lms_type_arg, "lms")
        ots = []
        for i, spec in enumerate(_levels_list(args.ots, args.levels, str, "ots")):
            ots.append(ots_type_arg(spec, lms.LMS_PARAMS[lts[i]][2]))
        kid = binascii.unhexlify(args.kid) if args.kid else None
    except (ValueError, argparse.ArgumentTypeError, binascii.Error) as e:
        _err(str(e))
        return 2
    params = list(zip(lts, ots))
    for lt, ot in params:
        if not lms.supported(lt, ot):
            _err("unsupported parameter set: " + _pair_name(lt, ot))
            return 2
    if os.path.exists(args.out) and not args.force:
        _err(args.out + " exists (a private key?); use --force to replace it")
        return 1
    try:
        with _KeyLock(args.out):
            if args.force:
                folder = os.path.dirname(os.path.abspath(args.out))
                base = os.path.basename(args.out)
                for name in os.listdir(folder):
                    if name in (base, base + ".tmp", base + ".new") or name.startswith(base + ".nodes"):
                        os.remove(os.path.join(folder, name))
            signer = lms_state.generate(hgstore.FileStorage(args.out), params=params, chunk=args.chunk)
        _write(args.pub, signer.public_key)
        if args.cose_key:
            _write(args.cose_key, lms.encode_cose_key(signer.public_key, kid))
    except (lms.LMSError, OSError) as e:
        _err(str(e))
        return 1
    print(
        "HSS key: %d level(s), %s; %d signatures; public key %s"
        % (
            args.levels,
            ", ".join(_pair_name(lt, ot) for lt, ot in params),
            signer.remaining(),
            args.pub,
        )
    )
    return 0


def _sign(args):
    import hgstore
    import lms
    import lms_state

    try:
        msg = _read(args.msg)
        if not os.path.exists(args.key) and not os.path.exists(args.key + ".tmp"):
            raise OSError("no such key file: " + args.key)
        with _KeyLock(args.key):
            signer = lms_state.load(hgstore.FileStorage(args.key))
            sig = signer.sign(msg)  # the leaf is durably reserved first
            signer.close()  # give back the rest of the chunk: one process, one signature
        _write(args.out, sig)
    except lms_state.KeyExhausted:
        _err("key exhausted")
        return 1
    except (lms.LMSError, OSError) as e:
        _err(str(e))
        return 1
    print("signature: %d bytes, %d signatures left" % (len(sig), signer.remaining()))
    return 0


def verify_reason(pub, msg, sig):
    """(exit code, message) for `verify` (also used by the tests)."""
    import lms

    rc = lms.check(pub, msg, sig)
    if rc == lms.OK:
        return 0, "valid"
    if rc == lms.ERR_INVALID:
        return 1, "invalid signature"
    try:
        lms.parse_hss_pub(pub)
    except lms.LMSUnsupportedError:
        return 1, "unsupported parameter set"
    except lms.LMSError as e:
        return 1, "malformed public key: " + str(e)
    code, why = lms.explain(pub, sig)
    if rc == lms.ERR_UNSUPPORTED or code == lms.ERR_UNSUPPORTED:
        return 1, "unsupported parameter set"
    return 1, "malformed signature" + (": " + why if why else "")


def _verify(args):
    import lms

    try:
        pub = _load_pub(_read(args.pub))
        msg = _read(args.msg)
        sig = _read(args.sig)
    except lms.LMSError as e:
        _err("bad public key: " + str(e))
        return 1
    except OSError as e:
        _err(str(e))
        return 1
    code, text = verify_reason(pub, msg, sig)
    if code == 0:
        print(text)
    else:
        _err(text)
    return code


def _describe_pub(pub):
    import lms

    levels, lt, ot, I, root = lms.parse_hss_pub(pub)
    h = lms.LMS_PARAMS[lt][3]
    return {
        "type": "public key",
        "levels": levels,
        "top": _pair_name(lt, ot),
        "supported": lms.supported(lt, ot),
        "I": _hex(I),
        "root": _hex(root),
        "top_leaves": 1 << h,
    }


def _describe_sig(sig):
    import lms

    per = []
    for i, (lt, ot, q) in enumerate(lms.describe_sig(sig)):
        per.append({"level": i, "params": _pair_name(lt, ot), "q": q})
    return {"type": "signature", "levels": len(per), "bytes": len(sig), "per_level": per}


def _describe_key(data):
    import lms_state

    d = lms_state.describe(data)
    per = []
    for i, (lt, ot) in enumerate(d["params"]):
        per.append(
            {
                "level": i,
                "params": _pair_name(lt, ot),
                "tree": d["trees"][i],
                "reserved_bound": d["reserved"][i],
            }
        )
    return {
        "type": "private key",
        "version": d["version"],
        "levels": d["levels"],
        "per_level": per,
        "next_leaf": d["next_leaf"],
        "reserved_bound": d["reserved"][-1],
        "chunk": d["chunk"],
        "signatures_left": d["remaining"],
        "public_key": _hex(d["public_key"]),
    }


def _inspect(args):
    import lms

    try:
        data = _read(args.file)
    except OSError as e:
        _err(str(e))
        return 1
    info = None
    why = "not an LMS public key, signature or private key"
    try:
        if _is_cbor_map(data):
            import cbor

            m = cbor.loads(data)
            if isinstance(m, dict) and 0 in m:
                info = _describe_key(data)
            else:
                info = _describe_pub(lms.pub_from_cose_key(data))
                info["type"] = "COSE_Key"
        else:
            try:
                info = _describe_pub(data)
            except lms.LMSError:
                info = _describe_sig(data)
    except (lms.LMSError, ValueError) as e:
        why = str(e) or why
    if info is None:
        _err(args.file + ": " + why)
        return 1
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    _print_info(info)
    return 0


def _print_info(info):
    print("%s: %d level(s)" % (info["type"], info["levels"]))
    if "top" in info:
        print("  top level: %s%s" % (info["top"], "" if info["supported"] else " (unsupported)"))
        print("  I: " + info["I"])
        print("  root: " + info["root"])
    if "bytes" in info:
        print("  %d bytes" % info["bytes"])
    for e in info.get("per_level", ()):
        line = "  level %d: %s" % (e["level"], e["params"])
        if "q" in e:
            line += ", leaf q=%d" % e["q"]
        if "tree" in e:
            line += ", tree %d, reserved up to leaf %d" % (e["tree"], e["reserved_bound"])
        print(line)
    if "next_leaf" in info:
        print("  next leaf: %d (bottom level, after the reserved bound)" % info["next_leaf"])
        print("  reserved bound: %d (chunk %d)" % (info["reserved_bound"], info["chunk"]))
        print("  signatures left: %d" % info["signatures_left"])
        print("  public key: " + info["public_key"])


def run(args):
    import lms

    if args.backend != "auto":
        try:
            lms.use_backend(args.backend)
        except lms.LMSError as e:
            _err("backend " + args.backend + ": " + str(e))
            return 1
    action = {
        "keygen": _keygen,
        "sign": _sign,
        "verify": _verify,
        "inspect": _inspect,
    }[args.lms_command]
    return action(args)
