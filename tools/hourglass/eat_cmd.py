"""`hourglass eat`: verify and inspect Entity Attestation Tokens (RFC 9711)
made by our devices (docs/eat-profile.md), with the device's own lib/eat.

  verify TOKEN --key KEY --nonce HEX [--json] [--policy FILE] [--leaf-state FILE]
      Exit 0 valid, 1 invalid (the reason on stderr, and in the JSON), 2 usage.
      KEY: the device's COSE_Key from provisioning (HSS-LMS public key or
      the symmetric MAC key; its kid is the UEID) or a raw HSS public key.
      HSS-LMS signatures are checked twice over the same Sig_structure: by
      our lms code (inside lib/eat) and independently by pyhsslms; a
      disagreement is a failure.
  inspect TOKEN [--json]   the claims, NOT authenticated

Leaf state (HSS-LMS): every verified token's one-time key (the q of each
HSS level) is remembered per device (kid) with a digest of what it signed,
in a small JSON file (--leaf-state, default $XDG_STATE_HOME/hourglass/
eat-leaves.json, i.e. ~/.local/state/...; --no-leaf-state to skip). The
same leaf over another message means the device reused a one-time key:
the token is rejected (the same token verified again is not a reuse).

Appraisal policy (--policy, JSON; every entry optional), pass/fail per claim:
  {"measurements": {"<component>": "<sha256 hex>", ...},
   "min_swversion": "1.2.0",          dotted numbers, compared numerically
   "dbgstat": [1, 2, 3, 4],           allowed values
   "min_sequence": {"<component>": N}}
"""
import binascii
import hashlib
import json
import os
import sys

_PROG = "hourglass eat"
LEAF_STATE_VERSION = 1


def _err(msg):
    print(_PROG + ": " + msg, file=sys.stderr)


def default_state_dir():
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "hourglass")


def add_arguments(parser):
    sub = parser.add_subparsers(dest="eat_command", metavar="ACTION", required=True)
    ver = sub.add_parser("verify", help="verify a token against a device key and a nonce",
                         description="Verify an EAT (CWT, COSE_Sign1 HSS-LMS or COSE_Mac0 HMAC) "
                                     "made by a device. Exit 0 valid, 1 invalid.")
    ver.add_argument("token", help="token file (binary CWT)")
    add_verify_options(ver)
    ver.add_argument("--nonce", required=True, help="the nonce sent to the device, hex (8..64 bytes)")
    ins = sub.add_parser("inspect", help="show a token's claims (not authenticated)")
    ins.add_argument("token", help="token file (binary CWT)")
    ins.add_argument("--json", action="store_true", help="JSON (default: also JSON, one line per claim)")


def add_verify_options(p):
    """Options shared with `hourglass attest`."""
    p.add_argument("--key", required=True,
                   help="the device's COSE_Key (from provisioning) or raw HSS public key file")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON")
    p.add_argument("--policy", help="appraisal policy file (JSON)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--leaf-state", help="HSS-LMS leaf log (default %s)"
                   % os.path.join(default_state_dir(), "eat-leaves.json"))
    g.add_argument("--no-leaf-state", action="store_true", help="do not track LMS leaves")


# ------------------------------------------------------------------ keys


def load_key(data):
    """COSEKey from COSE_Key bytes or a raw HSS public key."""
    import cose
    import lms

    try:
        return cose.decode_key(data)
    except ValueError:
        pass
    try:
        lms.parse_hss_pub(data)
    except ValueError:
        raise ValueError("key is neither a COSE_Key nor an HSS public key")
    return cose.decode_key(lms.encode_cose_key(data))


# ------------------------------------------------------------ leaf state


class LeafLog:
    """{kid hex: {"q0/q1/...": sha256(Sig_structure)[:8] hex}} in a JSON file,
    replaced atomically."""

    def __init__(self, path):
        self.path = path
        self.devices = {}
        if path and os.path.exists(path):
            with open(path) as f:
                try:
                    d = json.load(f)
                except ValueError:
                    raise ValueError("%s: leaf state is not JSON" % path)
            if not isinstance(d, dict) or d.get("version") != LEAF_STATE_VERSION:
                raise ValueError("%s: not a leaf state file" % path)
            self.devices = d.get("devices", {})

    @staticmethod
    def leaf_id(leaf):
        return "/".join(str(q) for q in leaf)

    def check(self, kid, leaf, digest):
        """"new", "seen" (this very message) or "reuse"."""
        old = self.devices.get(binascii.hexlify(kid).decode(), {}).get(self.leaf_id(leaf))
        if old is None:
            return "new"
        return "seen" if old == digest else "reuse"

    def record(self, kid, leaf, digest):
        self.devices.setdefault(binascii.hexlify(kid).decode(), {})[self.leaf_id(leaf)] = digest
        if not self.path:
            return
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"version": LEAF_STATE_VERSION, "devices": self.devices}, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


# ------------------------------------------------------------ claims JSON


def claims_json(claims):
    """Claims with names for keys, bytes as hex, our measurement/manifest
    contents decoded."""
    import cbor
    import eat

    from .cbor_cmd import to_json

    out = {}
    for k, v in claims.items():
        name = eat.CLAIM_NAMES.get(k, str(k)) if isinstance(k, int) else k
        if k in (eat.C_MEASUREMENTS, eat.C_MANIFESTS) and isinstance(v, list):
            items = []
            for cf, body in v:
                e = {"content_format": cf}
                try:
                    if cf in (eat.CF_COSWID, eat.CF_HG_MANIFEST_REF):
                        e["value"] = to_json(cbor.loads(bytes(body)))
                    else:
                        e["value"] = to_json(body)
                except ValueError:
                    e["value"] = to_json(body)
                items.append(e)
            out[name] = items
        elif k == eat.C_SUBMODS and isinstance(v, dict):
            out[name] = {n: claims_json(s) if isinstance(s, dict) else to_json(s) for n, s in v.items()}
        else:
            out[name] = to_json(v)
    return out


# ------------------------------------------------------------ appraisal


def _version_tuple(s):
    try:
        return tuple(int(p) for p in str(s).split("."))
    except ValueError:
        raise ValueError("version %r is not dotted numbers" % (s,))


def appraise(claims, policy):
    """{check name: "pass" | "fail: why"} for an appraisal policy dict."""
    import eat

    res = {}
    comps = eat.components(claims)
    for name, want in sorted((policy.get("measurements") or {}).items()):
        c = comps.get(name)
        if c is None:
            res["measurement " + name] = "fail: not measured"
        elif c["digest"] != binascii.unhexlify(want):
            res["measurement " + name] = "fail: digest %s" % c["digest"].hex()
        else:
            res["measurement " + name] = "pass"
    for name, n in sorted((policy.get("min_sequence") or {}).items()):
        c = comps.get(name)
        seq = None if c is None else c["sequence"]
        res["sequence " + name] = "pass" if isinstance(seq, int) and seq >= n else "fail: %s" % seq
    if policy.get("min_swversion") is not None:
        v = claims.get(eat.C_SWVERSION)
        if v is None:
            res["swversion"] = "fail: no swversion claim"
        else:
            ok = _version_tuple(v[0]) >= _version_tuple(policy["min_swversion"])
            res["swversion"] = "pass" if ok else "fail: %s" % v[0]
    if policy.get("dbgstat") is not None:
        v = claims.get(eat.C_DBGSTAT)
        res["dbgstat"] = "pass" if v in policy["dbgstat"] else "fail: %s" % v
    return res


# ------------------------------------------------------------ verify


def _pyhsslms_verify(pub, tbs, sig):
    import pyhsslms

    try:
        return bool(pyhsslms.HssPublicKey.deserialize(bytes(pub)).verify(bytes(tbs), bytes(sig)))
    except Exception:  # pyhsslms raises assorted errors for malformed input
        return False


def verify_token(data, key_bytes, nonce, policy=None, leaf_log=None):
    """Everything `verify` checks. Returns a result dict: valid (bool),
    reason, code, and (when authenticated) claims, kid, alg, leaf,
    appraisal."""
    import cose
    import eat
    import lms

    res = {"valid": False, "reason": None, "code": None}
    try:
        key = load_key(key_bytes)
    except ValueError as e:
        res["reason"] = "bad key: %s" % e
        res["code"] = eat.EAT_ERR_UNSUPPORTED
        return res
    try:
        # independent HSS-LMS check (pyhsslms) over the same Sig_structure
        # as our own verifier; they must agree
        if key.kty == cose.KTY_HSS_LMS:
            try:
                t0 = eat.decode_token(data)
            except eat.EATError:
                t0 = None  # verify() below gives the reason
            if t0 is not None and t0.alg == eat.ALG_HSS_LMS:
                tbs = t0.tbs()
                sig = t0.message.tag_or_signature
                ours = lms.verify(key.pub, tbs, sig)
                theirs = _pyhsslms_verify(key.pub, tbs, sig)
                res["lms_check"] = {"lib_lms": ours, "pyhsslms": theirs}
                if ours != theirs:
                    raise eat.EATError(eat.EAT_ERR_AUTH, "HSS-LMS verifiers disagree (ours %s, pyhsslms %s)"
                                       % (ours, theirs))
        t = eat.verify(data, key, nonce)
        res["kid"] = t.kid.hex()
        res["alg"] = t.alg
        leaf = t.leaf()
        if leaf is not None:
            res["leaf"] = list(leaf)
            if leaf_log is not None:
                digest = hashlib.sha256(t.tbs()).hexdigest()[:16]
                state = leaf_log.check(t.kid, leaf, digest)
                res["leaf_state"] = state
                if state == "reuse":
                    raise eat.EATError(eat.EAT_ERR_LEAF_REUSE, "LMS leaf %s reused with another message"
                                       % LeafLog.leaf_id(leaf))
                if state == "new":
                    leaf_log.record(t.kid, leaf, digest)
        res["claims"] = claims_json(t.claims)
        if policy is not None:
            ap = appraise(t.claims, policy)
            res["appraisal"] = ap
            bad = sorted(k for k, v in ap.items() if v != "pass")
            if bad:
                raise eat.EATError(eat.EAT_ERR_POLICY, "policy: " + ", ".join(bad) + " failed")
        res["valid"] = True
    except eat.EATError as e:
        res["reason"] = str(e)
        res["code"] = e.code
    return res


def open_leaf_log(args):
    if getattr(args, "no_leaf_state", False):
        return None
    path = args.leaf_state or os.path.join(default_state_dir(), "eat-leaves.json")
    return LeafLog(path)


def load_policy(path):
    if not path:
        return None
    with open(path) as f:
        try:
            p = json.load(f)
        except ValueError:
            raise ValueError("%s: policy is not JSON" % path)
    if not isinstance(p, dict):
        raise ValueError("%s: policy must be a JSON object" % path)
    return p


def print_result(res, as_json, prog=_PROG):
    if as_json:
        print(json.dumps(res, indent=2, sort_keys=True))
    elif res.get("claims") is not None:
        print(json.dumps(res["claims"], indent=2, sort_keys=True))
        for k, v in sorted((res.get("appraisal") or {}).items()):
            print("%s: %s" % (k, v))
    if res["valid"]:
        if not as_json:
            print("valid: kid %s, alg %s%s" % (res["kid"], res["alg"], "" if "leaf" not in res else
                                               ", leaf %s" % LeafLog.leaf_id(res["leaf"])))
    else:
        print("%s: invalid: %s (code %s)" % (prog, res["reason"], res["code"]), file=sys.stderr)


def run(args):
    import eat

    try:
        with open(args.token, "rb") as f:
            data = f.read()
    except OSError as e:
        _err(str(e))
        return 1
    if args.eat_command == "inspect":
        try:
            t = eat.decode_token(data)
        except eat.EATError as e:
            _err("%s (code %d)" % (e, e.code))
            return 1
        print(json.dumps({"authenticated": False, "alg": t.alg,
                          "kid": None if t.kid is None else bytes(t.kid).hex(),
                          "claims": claims_json(t.claims)}, indent=2, sort_keys=True))
        return 0
    try:
        nonce = binascii.unhexlify(args.nonce)
    except (binascii.Error, ValueError):
        _err("--nonce is not hex")
        return 2
    try:
        with open(args.key, "rb") as f:
            key_bytes = f.read()
        policy = load_policy(args.policy)
        leaf_log = open_leaf_log(args)
    except (OSError, ValueError) as e:
        _err(str(e))
        return 2
    res = verify_token(data, key_bytes, nonce, policy, leaf_log)
    print_result(res, args.json)
    return 0 if res["valid"] else 1
