"""`hourglass suit`: create, inspect and verify SUIT envelopes (draft-ietf-suit-manifest-37)
with the device's own lib/suit code; ES256/ESP256/EdDSA via `cryptography`."""
import argparse
import json
import os
import sys
import uuid

from .cbor_cmd import diag as _cbor_diag

ALG_ES256 = -7
ALG_EDDSA = -8
ALG_ESP256 = -9

_PROG = "hourglass suit"

# ------------------------------------------------------------------ names (draft-37)

ENV_NAMES = {2: "authentication-wrapper", 3: "manifest", 16: "payload-fetch", 20: "install", 23: "text"}
MAN_NAMES = {1: "manifest-version", 2: "manifest-sequence-number", 3: "common", 4: "reference-uri",
             5: "manifest-component-id", 7: "validate", 8: "load", 9: "invoke", 15: "dependency-resolution",
             16: "payload-fetch", 20: "install", 23: "text"}
COMMON_NAMES = {1: "dependencies", 2: "components", 4: "shared-sequence"}
COMMAND_NAMES = {1: "condition-vendor-identifier", 2: "condition-class-identifier", 3: "condition-image-match",
                 5: "condition-component-slot", 6: "condition-check-content",
                 7: "condition-dependency-integrity", 8: "condition-is-dependency",
                 11: "directive-process-dependency", 12: "directive-set-component-index",
                 14: "condition-abort", 15: "directive-try-each", 18: "directive-write",
                 19: "directive-set-parameters", 20: "directive-override-parameters", 21: "directive-fetch",
                 22: "directive-copy", 23: "directive-invoke", 24: "condition-device-identifier",
                 31: "directive-swap", 32: "directive-run-sequence"}
PARAM_NAMES = {1: "vendor-id", 2: "class-id", 3: "image-digest", 5: "slot", 12: "strict-order",
               13: "soft-failure", 14: "image-size", 18: "content", 19: "encryption-info", 21: "uri",
               22: "source-component", 23: "invoke-args", 24: "device-id"}
TEXT_MANIFEST_NAMES = {1: "manifest-description", 2: "update-description", 3: "manifest-json-source",
                       4: "manifest-yaml-source"}
TEXT_COMPONENT_NAMES = {1: "vendor-name", 2: "model-name", 3: "vendor-domain", 4: "model-info",
                        5: "component-description", 6: "component-version", 7: "version-required"}
POLICY_BITS = ((1, "record-on-success"), (2, "record-on-failure"), (4, "sysinfo-on-success"),
               (8, "sysinfo-on-failure"))
ALG_NAMES = {-16: "sha256", -7: "ES256", -8: "EdDSA", -9: "ESP256", -46: "HSS-LMS", 4: "HMAC 256/64",
             5: "HMAC 256/256", -5: "A256KW", -65532: "A256CTR"}
COSE_HEADER_NAMES = {1: "alg", 4: "kid", 5: "IV"}
_UUID_PARAMS = (1, 2, 24)
_SEQ_ARG = 32  # run-sequence: bstr .cbor command sequence
_PARAM_ARG = (19, 20)  # set/override-parameters: a parameter map


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = ("Exit codes: 0 success / valid, 1 invalid or failed (reason on stderr), 2 usage error\n"
                     "(including a bad spec or an unusable key for `create`).")
    sub = parser.add_subparsers(dest="suit_command", metavar="ACTION", required=True)
    cr = sub.add_parser(
        "create", help="build and sign an envelope from a JSON/YAML spec",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Build a SUIT envelope (draft-ietf-suit-manifest-37) from SPEC and authenticate it with KEY.\n\n"
                    "SPEC (JSON, or YAML: .yaml/.yml; the full format with an example is docs/suit-spec.md):\n"
                    "  sequence-number   int, required (anti-rollback; must exceed the device's)\n"
                    "  vendor {domain}   vendor-id = UUID5(DNS, domain)   | vendor-id: UUID/hex\n"
                    "  class {model}     class-id = UUID5(vendor-id, model) | class-id: UUID/hex\n"
                    "  device-id         optional UUID/hex (adds the device-identifier condition)\n"
                    "  components        list of {id: [hex|str parts], file: payload path,\n"
                    "                    uri: URI | integrated: true (+ name: '#<name>' key, default app),\n"
                    "                    slots: true (A/B try-each over component-slot 0/1),\n"
                    "                    encrypt: {kek: 32-byte key file, kid: str} (A256KW + A256CTR),\n"
                    "                    encrypted-file: where the ciphertext goes (encrypt with uri),\n"
                    "                    text: {vendor-name, model-name, vendor-domain, model-info,\n"
                    "                    component-description, component-version}}\n"
                    "  text              {language (default en-US), manifest-description, update-description}\n"
                    "  reference-uri     str;  severable: true severs install and text;  invoke: false omits invoke\n"
                    "Relative paths in SPEC are relative to the SPEC's folder.\n\n"
                    "The manifest: shared-sequence sets vendor/class (and image digest/size) and checks\n"
                    "vendor/class; install fetches each component (uri, encryption-info) and checks\n"
                    "image-match; validate checks image-match; invoke starts the first component.\n\n"
                    "KEY (detected from the file):\n"
                    "  HSS-LMS private key of `hourglass lms keygen`  COSE_Sign1 HSS-LMS (-46); the key\n"
                    "      file advances (the leaf is reserved) before the envelope is written\n"
                    "  COSE_Key kty 4 (symmetric, 32-byte k)        COSE_Mac0 HMAC 256/256 (5)\n"
                    "  PEM P-256 private key / COSE_Key EC2 with d  COSE_Sign1 ES256 (-7), or ESP256 (-9)\n"
                    "  PEM Ed25519 private key                      COSE_Sign1 EdDSA (-8)\n"
                    "ENVELOPE is written atomically (temporary file, then rename).")
    cr.add_argument("spec", metavar="SPEC", help="spec file (JSON or YAML)")
    cr.add_argument("--key", required=True, metavar="KEY", help="signing/MAC key file (see above)")
    cr.add_argument("--out", required=True, metavar="ENVELOPE", help="envelope file to write")
    cr.add_argument("--alg", choices=sorted(_alg_choices()), default=None,
                    help="insist on this algorithm (needed for ESP256 with a P-256 key; default: the key's own)")
    ins = sub.add_parser(
        "inspect", help="show an envelope (no verification)",
        description="Show a SUIT envelope: CBOR diagnostic notation with every SUIT key named (envelope, "
                    "manifest, common, commands, parameters, reporting policies), command sequences "
                    "expanded recursively (try-each, run-sequence), integrated payloads by size; or JSON.")
    ins.add_argument("envelope", help="envelope file")
    g = ins.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="readable JSON")
    g.add_argument("--diag", action="store_true", help="diagnostic notation (default)")
    ver = sub.add_parser("verify", help="authenticate an envelope with a key",
                         description="Check the manifest digest, a COSE_Sign1/Mac0 with KEY (HSS-LMS, HMAC "
                                     "256/256, ES256, ESP256, EdDSA), the manifest top level and severable "
                                     "member digests. Exit 0 valid, 1 invalid.")
    ver.add_argument("envelope", help="envelope file")
    ver.add_argument("--key", required=True,
                     help="PEM public key (P-256 or Ed25519), COSE_Key file (EC2, HSS-LMS, symmetric) "
                          "or raw HSS public key")


def _alg_choices():
    from .suit_create import ALG_NAMES as names

    return names


def _err(msg):
    print(_PROG + ": " + msg, file=sys.stderr)


# ----------------------------------------------------------------- decoding


def _loads(value):
    """Decoded bstr-wrapped CBOR, or None. Maps keyed by arrays (the text
    member) need cbor2: lib/cbor (like the device) refuses unhashable keys."""
    import cbor

    if not isinstance(value, (bytes, bytearray, memoryview)):
        return None
    try:
        return cbor.loads(bytes(value))
    except ValueError:
        pass
    try:
        import cbor2
    except ImportError:
        return None
    try:
        return _from_cbor2(cbor2.loads(bytes(value)))
    except Exception:
        return None


def _from_cbor2(v):
    import cbor
    import cbor2

    if isinstance(v, cbor2.CBORTag):
        return cbor.Tag(v.tag, _from_cbor2(v.value))
    if isinstance(v, list):
        return [_from_cbor2(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_from_cbor2(x) for x in v)
    if isinstance(v, dict):
        return {_from_cbor2(k): _from_cbor2(x) for k, x in v.items()}
    return v


def _hex(b):
    return bytes(b).hex()


def _is_bytes(v):
    return isinstance(v, (bytes, bytearray, memoryview))


def diag(value):
    """cbor_cmd.diag plus tuples (array map keys) as arrays."""
    if isinstance(value, tuple):
        return "[" + ", ".join(diag(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(diag(k) + ": " + diag(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(diag(v) for v in value) + "]"
    return _cbor_diag(value)


def policy_names(p):
    return [name for bit, name in POLICY_BITS if p & bit]


# ----------------------------------------------------------------- diag


def _pad(ind):
    return "    " * ind


def _block(open_, items, close, ind):
    if not items:
        return open_ + close
    return open_ + "\n" + ",\n".join(_pad(ind + 1) + it for it in items) + "\n" + _pad(ind) + close


def _named(name, key, text):
    return ("/ %s / " % name if name else "") + diag(key) + ": " + text


class _Diag:
    """Renders one envelope in the style of the draft's examples."""

    def __init__(self):
        self.components = []

    def cid(self, i):
        if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(self.components):
            return " / " + diag(self.components[i]) + " /"
        return ""

    def envelope(self, env, tagged):
        items = []
        for k, v in env.items():
            if isinstance(k, str):
                items.append("/ integrated-payload / %s: / %d bytes / h'...'" % (diag(k), len(v)))
                continue
            name = ENV_NAMES.get(k)
            if k == 2:
                text = self.auth(v, 1)
            elif k == 3:
                text = self.manifest(v, 1)
            elif k in (16, 20):
                text = self.seq_bstr(v, 1)
            elif k == 23:
                text = self.text(v, 1)
            else:
                text = diag(v)
            items.append(_named(name, k, text))
        text = _block("{", items, "}", 0)
        return ("107(" + text + ")") if tagged else text

    def auth(self, v, ind):
        aw = _loads(v)
        if not isinstance(aw, list):
            return diag(v)
        items = []
        for i, b in enumerate(aw):
            if i == 0:
                items.append("/ digest: / " + self.digest_bstr(b, ind + 1))
            else:
                msg = _loads(b)
                label = {18: "signature:", 17: "mac:"}.get(getattr(msg, "tag", None), "authentication-block:")
                items.append("/ %s / " % label + self.cose(b, ind + 1))
        return _block("<< [", items, "] >>", ind)

    def digest(self, d, ind):
        if not isinstance(d, list) or len(d) != 2:
            return diag(d)
        alg = d[0]
        an = ALG_NAMES.get(alg)
        return _block("[", ["/ algorithm-id / %s%s" % (diag(alg), " / %s /" % json.dumps(an) if an else ""),
                            "/ digest-bytes / " + diag(d[1])], "]", ind)

    def digest_bstr(self, b, ind):
        d = _loads(b)
        return "<< " + self.digest(d, ind) + " >>" if d is not None else diag(b)

    def headers(self, m, ind):
        if not isinstance(m, dict):
            return diag(m)
        items = []
        for k, v in m.items():
            t = diag(v)
            if k == 1 and v in ALG_NAMES:
                t += " / %s /" % json.dumps(ALG_NAMES[v])
            items.append(_named(COSE_HEADER_NAMES.get(k), k, t))
        return _block("{", items, "}", ind)

    def cose(self, b, ind):
        import cbor

        msg = _loads(b)
        if not isinstance(msg, cbor.Tag) or not isinstance(msg.value, list) or len(msg.value) != 4:
            return diag(b)
        prot, unprot, payload, last = msg.value
        pm = _loads(prot) if len(prot) else None
        items = ["/ protected / " + ("<< " + self.headers(pm, ind + 1) + " >>" if pm is not None else diag(prot)),
                 "/ unprotected / " + self.headers(unprot, ind + 1),
                 "/ payload / " + diag(payload),
                 "/ %s / " % ("tag" if msg.tag == 17 else "signature") + diag(last)]
        return "<< " + _block("%d([" % msg.tag, items, "])", ind) + " >>"

    def manifest(self, v, ind):
        m = _loads(v)
        if not isinstance(m, dict):
            return diag(v)
        c = _loads(m.get(3)) if _is_bytes(m.get(3)) else None
        if isinstance(c, dict) and isinstance(c.get(2), list):
            self.components = c[2]
        items = []
        for k, x in m.items():
            if k == 3:
                t = self.common(x, ind + 1)
            elif k in (7, 8, 9, 15, 16, 20):
                t = self.seq_bstr(x, ind + 1) if _is_bytes(x) else self.digest(x, ind + 1)
            elif k == 23:
                t = self.text(x, ind + 1) if _is_bytes(x) else self.digest(x, ind + 1)
            else:
                t = diag(x)
            items.append(_named(MAN_NAMES.get(k), k, t))
        return "<< " + _block("{", items, "}", ind) + " >>"

    def common(self, v, ind):
        c = _loads(v)
        if not isinstance(c, dict):
            return diag(v)
        items = []
        for k, x in c.items():
            t = self.seq_bstr(x, ind + 1) if k == 4 else diag(x)
            items.append(_named(COMMON_NAMES.get(k), k, t))
        return "<< " + _block("{", items, "}", ind) + " >>"

    def seq_bstr(self, v, ind):
        s = _loads(v)
        if not isinstance(s, list):
            return diag(v)
        return "<< " + self.seq(s, ind) + " >>"

    def seq(self, s, ind):
        items = []
        for i in range(0, len(s) - 1, 2):
            cmd, arg = s[i], s[i + 1]
            items.append("/ %s / %s, %s" % (COMMAND_NAMES.get(cmd, "command"), diag(cmd), self.arg(cmd, arg, ind + 1)))
        if len(s) % 2:
            items.append(diag(s[-1]) + " / missing argument /")
        return _block("[", items, "]", ind)

    def arg(self, cmd, arg, ind):
        if cmd in _PARAM_ARG and isinstance(arg, dict):
            return self.params(arg, ind)
        if cmd == 15 and isinstance(arg, list):
            return _block("[", [self.seq_bstr(a, ind + 1) if _is_bytes(a) else diag(a) for a in arg], "]", ind)
        if cmd == _SEQ_ARG and _is_bytes(arg):
            return self.seq_bstr(arg, ind)
        if cmd == 12:
            return diag(arg) + (" / all components /" if arg is True else self.cid(arg))
        if isinstance(arg, int) and not isinstance(arg, bool) and arg >= 0:
            names = policy_names(arg)
            return diag(arg) + (" / %s /" % " ".join(names) if names else "")
        return diag(arg)

    def params(self, m, ind):
        items = []
        for k, v in m.items():
            if k == 3 and _is_bytes(v):
                t = self.digest_bstr(v, ind + 1)
            elif k in _UUID_PARAMS and _is_bytes(v) and len(v) == 16:
                t = diag(v) + " / %s /" % uuid.UUID(bytes=bytes(v))
            elif k == 19 and _is_bytes(v):
                t = self.enc_info(v, ind + 1)
            elif k == 22:
                t = diag(v) + self.cid(v)
            else:
                t = diag(v)
            items.append(_named(PARAM_NAMES.get(k), k, t))
        return _block("{", items, "}", ind)

    def enc_info(self, v, ind):
        import cbor

        e = _loads(v)
        if not isinstance(e, cbor.Tag) or not isinstance(e.value, list) or len(e.value) != 4:
            return diag(v)
        prot, unprot, ct, recips = e.value
        pm = _loads(prot) if _is_bytes(prot) and len(prot) else None

        def hdrs(p, u, i):
            return ["/ protected / " + ("<< " + self.headers(p, i) + " >>" if p is not None else diag(prot)),
                    "/ unprotected / " + self.headers(u, i)]

        items = hdrs(pm, unprot, ind + 1) + ["/ ciphertext / " + diag(ct) + (" / detached /" if ct is None else "")]
        ritems = []
        for r in recips if isinstance(recips, list) else ():
            if isinstance(r, list) and len(r) >= 3:
                rp = _loads(r[0]) if _is_bytes(r[0]) and len(r[0]) else None
                rit = ["/ protected / " + ("<< " + self.headers(rp, ind + 3) + " >>" if rp is not None
                                           else diag(r[0])),
                       "/ unprotected / " + self.headers(r[1], ind + 3),
                       "/ ciphertext / " + diag(r[2]) + " / wrapped CEK /"] + [diag(x) for x in r[3:]]
                ritems.append(_block("[", rit, "]", ind + 2))
            else:
                ritems.append(diag(r))
        items.append("/ recipients / " + _block("[", ritems, "]", ind + 1))
        return "<< " + _block("%d([" % e.tag, items, "])", ind) + " >>"

    def text(self, v, ind):
        t = _loads(v)
        if not isinstance(t, dict):
            return diag(v)
        items = []
        for lang, lmap in t.items():
            if not isinstance(lmap, dict):
                items.append(diag(lang) + ": " + diag(lmap))
                continue
            li = []
            for k, x in lmap.items():
                if isinstance(k, int):
                    li.append(_named(TEXT_MANIFEST_NAMES.get(k), k, diag(x)))
                elif isinstance(x, dict):
                    ci = [_named(TEXT_COMPONENT_NAMES.get(ck), ck, diag(cv)) for ck, cv in x.items()]
                    li.append(diag(k) + ": " + _block("{", ci, "}", ind + 2))
                else:
                    li.append(diag(k) + ": " + diag(x))
            items.append(diag(lang) + ": " + _block("{", li, "}", ind + 1))
        return "<< " + _block("{", items, "}", ind) + " >>"


def diag_envelope(data):
    """Diagnostic notation of envelope bytes (decodable CBOR)."""
    import cbor

    obj = cbor.loads(bytes(data))
    tagged = isinstance(obj, cbor.Tag)
    env = obj.value if tagged else obj
    if not isinstance(env, dict):
        return diag(obj)
    return _Diag().envelope(env, tagged)


# ----------------------------------------------------------------- json


def _to_json(value):
    import cbor

    if _is_bytes(value):
        return _hex(value)
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else json.dumps(_to_json(k))): _to_json(v) for k, v in value.items()}
    if isinstance(value, cbor.Tag):
        return {"tag": value.tag, "value": _to_json(value.value)}
    return value


def _j_digest(d):
    if isinstance(d, list) and len(d) == 2:
        return {"algorithm-id": d[0], "digest-bytes": _to_json(d[1])}
    return _to_json(d)


def _j_seq(s):
    if not isinstance(s, list):
        return _to_json(s)
    out = []
    for i in range(0, len(s) - 1, 2):
        cmd, arg = s[i], s[i + 1]
        name = COMMAND_NAMES.get(cmd, str(cmd))
        if cmd in _PARAM_ARG and isinstance(arg, dict):
            a = {}
            for k, v in arg.items():
                pn = PARAM_NAMES.get(k, str(k))
                if k == 3 and _is_bytes(v):
                    a[pn] = _j_digest(_loads(v))
                elif k == 19 and _is_bytes(v):
                    a[pn] = _to_json(_loads(v))
                else:
                    a[pn] = _to_json(v)
            arg = a
        elif cmd == 15 and isinstance(arg, list):
            arg = [_j_seq(_loads(a)) if _is_bytes(a) else None for a in arg]
        elif cmd == _SEQ_ARG and _is_bytes(arg):
            arg = _j_seq(_loads(arg))
        else:
            arg = _to_json(arg)
        out.append({name: arg})
    return out


def _j_text(t):
    if not isinstance(t, dict):
        return _to_json(t)
    out = {}
    for lang, lmap in t.items():
        lo = {}
        if isinstance(lmap, dict):
            for k, x in lmap.items():
                if isinstance(k, int):
                    lo[TEXT_MANIFEST_NAMES.get(k, str(k))] = x
                elif isinstance(x, dict):
                    lo[json.dumps(_to_json(k))] = {TEXT_COMPONENT_NAMES.get(ck, str(ck)): cv for ck, cv in x.items()}
        out[str(lang)] = lo
    return out


def json_envelope(env):
    """A JSON-ready dict of a decoded Envelope (suit_envelope.decode_envelope)."""
    out = {"tagged": env.tagged,
           "manifest_digest": {"alg": env.digest[0], "bytes": _hex(env.digest[1])},
           "authentication_blocks": [_to_json(_loads(b)) for b in env.auth_blocks],
           "severable_members": {ENV_NAMES.get(k, str(k)): _hex(v) for k, v in env.severable.items()},
           "integrated_payloads": {k: len(v) for k, v in env.payloads.items()}}
    m = _loads(env.manifest)
    man = {}
    if isinstance(m, dict):
        for k, v in m.items():
            name = MAN_NAMES.get(k, str(k))
            if k == 3 and isinstance(_loads(v), dict):
                man[name] = {COMMON_NAMES.get(ck, str(ck)): (_j_seq(_loads(cv)) if ck == 4 else _to_json(cv))
                             for ck, cv in _loads(v).items()}
            elif k in (7, 8, 9, 15, 16, 20) or k == 23:
                conv = _j_text if k == 23 else _j_seq
                if _is_bytes(v):
                    man[name] = conv(_loads(v))
                else:
                    member = env.severable.get(k)
                    man[name] = {"severed-digest": _j_digest(v),
                                 "member": conv(_loads(member)) if member is not None else None}
            else:
                man[name] = _to_json(v)
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
    """Plug ES256, ESP256 (-9: ECDSA P-256/SHA-256, the same math as ES256)
    and EdDSA (cryptography public-key objects) into cose."""
    import cose

    for alg, fn in ((ALG_ES256, _ecdsa_verify), (ALG_ESP256, _ecdsa_verify), (ALG_EDDSA, _eddsa_verify)):
        a = cose.ALGORITHMS.get(alg)
        cose.register_signature_alg(alg, fn, getattr(a, "sign_fn", None))


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
            return [se.sign1_verifier(pub, ALG_ES256), se.sign1_verifier(pub, ALG_ESP256)]
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
        if key.alg in (ALG_ES256, ALG_ESP256):
            return [se.sign1_verifier(pub, key.alg)]
        return [se.sign1_verifier(pub, ALG_ES256), se.sign1_verifier(pub, ALG_ESP256)]
    raise ValueError("unsupported key")


# ------------------------------------------------------------------ actions


def _create(args):
    import lms

    from . import suit_create as sc

    try:
        spec = sc.load_spec(args.spec)
    except sc.SpecError as e:
        _err("bad spec: " + str(e))
        return 2
    base = os.path.dirname(os.path.abspath(args.spec))
    alg = sc.ALG_NAMES[args.alg] if args.alg else None
    try:
        built = sc.build(spec, base)
    except sc.SpecError as e:
        _err("bad spec: " + str(e))
        return 2
    try:
        key = sc.load_key(args.key, alg)
    except sc.KeyError_ as e:
        _err("bad key: " + str(e))
        return 2
    try:
        try:
            data = sc.envelope(built, key)
        finally:
            key.close()
    except lms.LMSError as e:  # includes lms_state.KeyExhausted
        _err("signing failed: " + str(e))
        return 1
    except (OSError, ValueError) as e:
        _err("signing failed: " + str(e))
        return 1
    try:
        for c in built.components:
            if c.encrypted_file:
                path = c.encrypted_file if os.path.isabs(c.encrypted_file) else os.path.join(base, c.encrypted_file)
                sc.write_atomic(path, c.payload)
        sc.write_atomic(args.out, data)
    except OSError as e:
        _err(str(e))
        return 1
    print("envelope: %d bytes, sequence number %d, %d component(s), %s -> %s"
          % (len(data), spec["sequence-number"], len(built.components), key.description, args.out))
    return 0


def run(args):
    import suit_envelope as se

    if args.suit_command == "create":
        return _create(args)
    try:
        with open(args.envelope, "rb") as f:
            data = f.read()
    except OSError as e:
        _err(str(e))
        return 1
    if args.suit_command == "inspect":
        try:
            env = se.decode_envelope(data)
        except se.SuitError as e:
            _err("%s (code %d)" % (e, e.code))
            return 1
        if args.json:
            print(json.dumps(json_envelope(env), indent=2))
        else:
            print(diag_envelope(data))
        return 0
    try:
        with open(args.key, "rb") as f:
            fns = load_verifiers(f.read())
    except (OSError, ValueError) as e:
        _err("bad key: " + str(e))
        return 2
    try:
        env = se.authenticate(data, fns)
    except se.SuitError as e:
        _err("invalid: %s (code %d)" % (e, e.code))
        return 1
    print("valid: sequence number %d, %d component(s)" % (env.sequence_number, len(env.components)))
    return 0
