"""`hourglass suit`: inspect and verify SUIT envelopes (draft-ietf-suit-manifest-37)
with the device's own lib/suit code; ES256/EdDSA verification via `cryptography`."""
import json
import sys

from .cbor_cmd import diag, to_json

ALG_ES256 = -7
ALG_EDDSA = -8

_ENV_NAMES = {2: "authentication-wrapper", 3: "manifest", 16: "payload-fetch", 20: "install", 23: "text"}
_MAN_NAMES = {1: "manifest-version", 2: "manifest-sequence-number", 3: "common", 4: "reference-uri",
              7: "validate", 8: "load", 9: "invoke", 16: "payload-fetch", 20: "install", 23: "text"}
_COMMON_NAMES = {2: "components", 4: "shared-sequence"}


def add_arguments(parser):
    sub = parser.add_subparsers(dest="suit_command", metavar="ACTION", required=True)
    ins = sub.add_parser("inspect", help="show an envelope (no verification)",
                         description="Show a SUIT envelope: diagnostic notation with SUIT key names, or JSON.")
    ins.add_argument("envelope", help="envelope file")
    g = ins.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="readable JSON")
    g.add_argument("--diag", action="store_true", help="diagnostic notation (default)")
    ver = sub.add_parser("verify", help="authenticate an envelope with a key",
                         description="Check the manifest digest, a COSE_Sign1/Mac0 with KEY, the manifest "
                                     "top level and severable member digests. Exit 0 valid, 1 invalid.")
    ver.add_argument("envelope", help="envelope file")
    ver.add_argument("--key", required=True,
                     help="PEM public key (P-256 or Ed25519), COSE_Key file (EC2, HSS-LMS, symmetric) "
                          "or raw HSS public key")


# ----------------------------------------------------------------- inspect


def _sub(value):
    import cbor

    try:
        return cbor.loads(bytes(value))
    except ValueError:
        return None


def _named(value, names, indent):
    pad = "  " * (indent + 1)
    lines = []
    for k, v in value.items():
        name = names.get(k) if isinstance(k, int) else None
        lines.append(pad + ("/ %s / " % name if name else "") + diag(k) + ": " + v)
    return "{\n" + ",\n".join(lines) + "\n" + "  " * indent + "}"


def _wrapped(text):
    return "<< " + text + " >>"


def _diag_value(v):
    # bstr-wrapped CBOR (command sequences, digests) shown as << ... >>
    if isinstance(v, bytes) and _sub(v) is not None:
        return _wrapped(diag(_sub(v)))
    return diag(v)


def _diag_envelope(env_map, tagged):
    out = {}
    for k, v in env_map.items():
        if k == 2:
            aw = _sub(v)
            if isinstance(aw, list):
                out[k] = _wrapped("[" + ", ".join(_wrapped(diag(_sub(b))) if _sub(b) is not None else diag(b)
                                                  for b in aw) + "]")
                continue
        if k == 3:
            m = _sub(v)
            if isinstance(m, dict):
                mm = {}
                for mk, mv in m.items():
                    if mk == 3 and isinstance(mv, bytes) and isinstance(_sub(mv), dict):
                        c = _sub(mv)
                        mm[mk] = _wrapped(_named({ck: _diag_value(cv) for ck, cv in c.items()}, _COMMON_NAMES, 3))
                    else:
                        mm[mk] = _diag_value(mv)
                out[k] = _wrapped(_named(mm, _MAN_NAMES, 2))
                continue
        out[k] = _diag_value(v) if k in (16, 20, 23) else diag(v)
    text = _named(out, _ENV_NAMES, 0)
    return ("107(" + text + ")") if tagged else text


def _json_envelope(env):
    import suit_envelope as se

    out = {"tagged": env.tagged,
           "manifest_digest": {"alg": env.digest[0], "bytes": bytes(env.digest[1]).hex()},
           "authentication_blocks": [to_json(_sub(b)) for b in env.auth_blocks],
           "severable_members": {_ENV_NAMES.get(k, str(k)): bytes(v).hex() for k, v in env.severable.items()},
           "integrated_payloads": {k: len(v) for k, v in env.payloads.items()}}
    m = _sub(env.manifest)
    man = {}
    if isinstance(m, dict):
        for k, v in m.items():
            name = _MAN_NAMES.get(k, str(k))
            if k == se.M_COMMON and isinstance(_sub(v), dict):
                man[name] = {_COMMON_NAMES.get(ck, str(ck)): to_json(cv) for ck, cv in _sub(v).items()}
            else:
                man[name] = to_json(v)
    out["manifest"] = man
    return out


# ------------------------------------------------------------------ verify


def _ecdsa_verify(pub, tbs, sig):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    if len(sig) != 64:
        return False
    der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        pub.verify(der, bytes(tbs), ec.ECDSA(hashes.SHA256()))
    except Exception:
        return False
    return True


def _eddsa_verify(pub, tbs, sig):
    try:
        pub.verify(bytes(sig), bytes(tbs))
    except Exception:
        return False
    return True


def register_host_algs():
    """Plug ES256 and EdDSA (cryptography public-key objects) into cose."""
    import cose

    cose.register_signature_alg(ALG_ES256, _ecdsa_verify)
    cose.register_signature_alg(ALG_EDDSA, _eddsa_verify)


def load_verifiers(data):
    """verify_fns for suit_envelope.authenticate() from key file bytes."""
    import cose
    import lms
    import suit_envelope as se
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    register_host_algs()
    if data.lstrip().startswith(b"-----BEGIN"):
        pub = serialization.load_pem_public_key(data)
        if isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name == "secp256r1":
            return [se.sign1_verifier(pub, ALG_ES256)]
        if isinstance(pub, ed25519.Ed25519PublicKey):
            return [se.sign1_verifier(pub, ALG_EDDSA)]
        raise ValueError("unsupported PEM key")
    try:
        key = cose.decode_key(data)
    except ValueError:
        key = None
    if key is None:
        lms.parse_hss_pub(data)  # raw HSS public key
        lms.register_cose()
        return [se.sign1_verifier(bytes(data), cose.ALG_HSS_LMS)]
    if key.kty == cose.KTY_HSS_LMS:
        lms.register_cose()
        return [se.sign1_verifier(lms.pub_from_cose_key(data), cose.ALG_HSS_LMS)]
    if key.kty == cose.KTY_SYMMETRIC:
        return [se.mac0_verifier(key, key.alg)]
    if key.kty == cose.KTY_EC2:
        if key.crv != 1 or key.x is None or not isinstance(key.y, bytes):
            raise ValueError("unsupported EC2 key")
        pub = ec.EllipticCurvePublicNumbers(int.from_bytes(key.x, "big"), int.from_bytes(key.y, "big"),
                                            ec.SECP256R1()).public_key()
        return [se.sign1_verifier(pub, ALG_ES256)]
    raise ValueError("unsupported key")


def run(args):
    import suit_envelope as se

    try:
        with open(args.envelope, "rb") as f:
            data = f.read()
    except OSError as e:
        print("hourglass suit: " + str(e), file=sys.stderr)
        return 1
    if args.suit_command == "inspect":
        try:
            env = se.decode_envelope(data)
        except se.SuitError as e:
            print("hourglass suit: %s (code %d)" % (e, e.code), file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps(_json_envelope(env), indent=2))
        else:
            import cbor

            obj = cbor.loads(data)
            tagged = isinstance(obj, cbor.Tag)
            print(_diag_envelope(obj.value if tagged else obj, tagged))
        return 0
    try:
        with open(args.key, "rb") as f:
            fns = load_verifiers(f.read())
    except (OSError, ValueError) as e:
        print("hourglass suit: bad key: " + str(e), file=sys.stderr)
        return 2
    try:
        env = se.authenticate(data, fns)
    except se.SuitError as e:
        print("hourglass suit: invalid: %s (code %d)" % (e, e.code), file=sys.stderr)
        return 1
    print("valid: sequence number %d, %d component(s)" % (env.sequence_number, len(env.components)))
    return 0
