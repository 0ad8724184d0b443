"""Authoring of SUIT envelopes (draft-ietf-suit-manifest-37) for `hourglass suit create`.

A spec (JSON or YAML; every field in docs/suit-spec.md) is turned into a manifest
with the device's own lib/cbor and lib/cose, then authenticated with one key:

  HSS-LMS   an `hourglass lms keygen` private key file (lms_state; the leaf is
            durably reserved before the signature exists)    COSE_Sign1 alg -46
  HMAC      a COSE_Key file, kty 4 (symmetric), 32-byte k    COSE_Mac0  alg 5
  P-256     a PEM private key (`cryptography`)               COSE_Sign1 alg -7 (ES256) or -9 (ESP256)
  Ed25519   a PEM private key (`cryptography`)               COSE_Sign1 alg -8 (EdDSA)

Python API: load_spec(path) -> dict; build(spec, base_dir, random_bytes) -> Built;
load_key(path, alg=None) -> SigningKey; create(spec, base_dir, key, random_bytes) ->
envelope bytes; encrypt_payload(plaintext, kek, kid, cek, iv) -> (ciphertext, encryption-info).
Every problem with the spec raises SpecError naming the field; with the key, KeyError_."""
import hashlib
import json
import os
import uuid

# draft-37 numbers
ENV_AUTH, ENV_MANIFEST, ENV_INSTALL, ENV_TEXT = 2, 3, 20, 23
M_VERSION, M_SEQ, M_COMMON, M_REF_URI, M_VALIDATE, M_INVOKE, M_INSTALL, M_TEXT = 1, 2, 3, 4, 7, 9, 20, 23
C_COMPONENTS, C_SHARED = 2, 4
COND_VENDOR, COND_CLASS, COND_IMAGE_MATCH, COND_SLOT, COND_DEVICE = 1, 2, 3, 5, 24
DIR_SET_INDEX, DIR_TRY_EACH, DIR_OVERRIDE, DIR_FETCH, DIR_INVOKE = 12, 15, 20, 21, 23
P_VENDOR, P_CLASS, P_DIGEST, P_SLOT, P_SIZE, P_ENC_INFO, P_URI, P_DEVICE = 1, 2, 3, 5, 14, 19, 21, 24
ALG_SHA256 = -16
POLICY_ALL = 15  # record and sysinfo, on success and on failure
POLICY_FAIL = 2  # record-on-failure
POLICY_SLOT = 5  # record-on-success + sysinfo-on-success (draft example 3)

ALG_ES256, ALG_EDDSA, ALG_ESP256, ALG_HSS_LMS, ALG_HMAC_256_256 = -7, -8, -9, -46, 5
ALG_A256KW, ALG_A256CTR = -5, -65532
ALG_NAMES = {"ES256": ALG_ES256, "ESP256": ALG_ESP256, "EdDSA": ALG_EDDSA,
             "HSS-LMS": ALG_HSS_LMS, "HMAC-256/256": ALG_HMAC_256_256}

MAX_COMPONENTS = 16  # lib/suit/suit_envelope.py MAX_COMPONENTS
MAX_ID_PARTS = 8
TEXT_MANIFEST = {"manifest-description": 1, "update-description": 2}
TEXT_COMPONENT = {"vendor-name": 1, "model-name": 2, "vendor-domain": 3, "model-info": 4,
                  "component-description": 5, "component-version": 6}
_TOP = ("sequence-number", "vendor", "vendor-id", "class", "class-id", "device-id", "components",
        "text", "reference-uri", "severable", "invoke")
_COMP = ("id", "file", "uri", "integrated", "name", "slots", "encrypt", "encrypted-file", "text")


class SpecError(ValueError):
    pass


class KeyError_(ValueError):
    """Unusable key file or a key that does not fit the requested algorithm."""


# ------------------------------------------------------------------ helpers


def vendor_id_from_domain(domain):
    """Vendor ID = UUID5(NAMESPACE_DNS, vendor domain name) (draft-37)."""
    return uuid.uuid5(uuid.NAMESPACE_DNS, domain).bytes


def class_id_from_model(vendor_id, model):
    """Class ID = UUID5(Vendor ID, class-specific information) (draft-37)."""
    return uuid.uuid5(uuid.UUID(bytes=bytes(vendor_id)), model).bytes


def sha256(data):
    return hashlib.sha256(data).digest()


def _cbor():
    import cbor

    return cbor


def _dumps(obj):
    return _cbor().dumps(obj)


def _digest(data):
    return [ALG_SHA256, sha256(data)]


def _bstr_digest(member):
    # severable members are digested as a CBOR bstr (suit_envelope.bstr_digest)
    import suit_envelope

    return [ALG_SHA256, suit_envelope.bstr_digest(member)]


def load_spec(path):
    """The spec at `path` as a dict: .json is JSON, .yaml/.yml YAML, anything
    else JSON if it parses, else YAML."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except OSError as e:
        raise SpecError("cannot read spec: %s" % e)
    except UnicodeDecodeError:
        raise SpecError("spec is not UTF-8 text")
    lower = path.lower()
    if not lower.endswith((".yaml", ".yml")):
        try:
            return json.loads(text)
        except ValueError as e:
            if lower.endswith(".json"):
                raise SpecError("bad JSON in spec: %s" % e)
    try:
        import yaml
    except ImportError:
        raise SpecError("YAML spec needs PyYAML (pip install -r tools/requirements.txt); or write the spec as JSON")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError("bad YAML in spec: %s" % e)


def _field(where, name):
    return (where + "." + name) if where else name


def _uuid_arg(value, where):
    if not isinstance(value, str):
        raise SpecError("%s: must be a UUID or 32 hex digits" % where)
    try:
        return uuid.UUID(value.strip()).bytes
    except ValueError:
        raise SpecError("%s: must be a UUID or 32 hex digits" % where)


def _is_hex(s):
    if not s or len(s) % 2:
        return False
    try:
        bytes.fromhex(s)
    except ValueError:
        return False
    return True


def _id_part(p, where):
    # an even-length hex string is bytes; {"hex": ...} / {"str": ...} force a reading
    if isinstance(p, dict) and len(p) == 1:
        (k, v), = p.items()
        if k == "hex" and isinstance(v, str) and (_is_hex(v) or v == ""):
            return bytes.fromhex(v)
        if k == "str" and isinstance(v, str):
            return v.encode("utf-8")
    elif isinstance(p, str):
        return bytes.fromhex(p) if _is_hex(p) else p.encode("utf-8")
    raise SpecError("%s: a part is a hex or text string, {\"hex\": ...} or {\"str\": ...}" % where)


def _str(value, where, empty=False):
    if not isinstance(value, str) or (not value and not empty):
        raise SpecError("%s: must be a non-empty string" % where)
    return value


def _bool(spec, name, where, default):
    v = spec.get(name, default)
    if not isinstance(v, bool):
        raise SpecError("%s: must be true or false" % _field(where, name))
    return v


def _unknown(spec, allowed, where):
    for k in spec:
        if k not in allowed:
            raise SpecError("%s: unknown field (allowed: %s)" % (_field(where, str(k)), ", ".join(allowed)))


def _read_file(path, base_dir, where):
    full = path if os.path.isabs(path) else os.path.join(base_dir, path)
    try:
        with open(full, "rb") as f:
            return f.read()
    except OSError as e:
        raise SpecError("%s: cannot read %s: %s" % (where, full, e.strerror or e))


def _text_map(spec, names, where):
    if not isinstance(spec, dict):
        raise SpecError("%s: must be a map" % where)
    out = {}
    for k, v in spec.items():
        if k not in names:
            raise SpecError("%s: unknown field (allowed: %s)" % (_field(where, str(k)), ", ".join(names)))
        out[names[k]] = _str(v, _field(where, k))
    return out


# ------------------------------------------------------------------ encryption


def encrypt_payload(plaintext, kek, kid, cek, iv):
    """AES-256-CTR ciphertext of plaintext under cek from counter block iv, and
    the SUIT encryption-info bstr (COSE_Encrypt, A256KW recipient `kid`)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap

    if len(kek) != 32 or len(cek) != 32 or len(iv) != 16:
        raise ValueError("A256KW/A256CTR need 32-byte keys and a 16-byte IV")
    enc = Cipher(algorithms.AES(cek), modes.CTR(iv)).encryptor()
    ciphertext = enc.update(plaintext) + enc.finalize()
    wrapped = aes_key_wrap(kek, cek)
    cbor = _cbor()
    runprot = {1: ALG_A256KW}
    if kid is not None:
        runprot[4] = kid
    info = cbor.dumps(cbor.Tag(96, [b"", {1: ALG_A256CTR, 5: iv}, None, [[b"", runprot, wrapped]]]))
    return ciphertext, info


# ------------------------------------------------------------------ build


class Component:
    def __init__(self):
        self.cid = None
        self.plain = None
        self.payload = None  # bytes that travel (ciphertext when encrypted)
        self.uri = None
        self.integrated_key = None
        self.slots = False
        self.enc_info = None
        self.encrypted_file = None
        self.text = None


class Built:
    """A manifest before authentication: manifest (bytes), severable
    {envelope key: member bytes}, payloads {"#name": bytes}, and the
    components (with plaintext/ciphertext, for tests and --encrypted-file)."""

    def __init__(self, manifest, severable, payloads, components):
        self.manifest = manifest
        self.severable = severable
        self.payloads = payloads
        self.components = components


def _component(spec, i, n, base_dir, random_bytes):
    where = "components[%d]" % i
    if not isinstance(spec, dict):
        raise SpecError(where + ": must be a map")
    _unknown(spec, _COMP, where)
    c = Component()
    ids = spec.get("id")
    if not isinstance(ids, list) or not ids or len(ids) > MAX_ID_PARTS:
        raise SpecError("%s: a list of 1..%d parts" % (_field(where, "id"), MAX_ID_PARTS))
    c.cid = [_id_part(p, _field(where, "id")) for p in ids]
    if "file" not in spec:
        raise SpecError(_field(where, "file") + ": required")
    c.plain = _read_file(_str(spec["file"], _field(where, "file")), base_dir, _field(where, "file"))
    integrated = _bool(spec, "integrated", where, False)
    if ("uri" in spec) == integrated:
        raise SpecError("%s: give exactly one of uri or integrated: true" % where)
    if integrated:
        name = spec.get("name", "app" if i == 0 else "app%d" % i)
        c.integrated_key = "#" + _str(name, _field(where, "name"))
        c.uri = c.integrated_key
    else:
        if "name" in spec:
            raise SpecError(_field(where, "name") + ": only for integrated payloads")
        c.uri = _str(spec["uri"], _field(where, "uri"))
    c.slots = _bool(spec, "slots", where, False)
    c.payload = c.plain
    enc = spec.get("encrypt")
    if enc is not None:
        ew = _field(where, "encrypt")
        if not isinstance(enc, dict):
            raise SpecError(ew + ": must be a map {kek, kid}")
        _unknown(enc, ("kek", "kid"), ew)
        if "kek" not in enc:
            raise SpecError(_field(ew, "kek") + ": required")
        kek = _read_file(_str(enc["kek"], _field(ew, "kek")), base_dir, _field(ew, "kek"))
        if len(kek) != 32:
            raise SpecError("%s: the key file must hold exactly 32 bytes (A256KW), not %d"
                            % (_field(ew, "kek"), len(kek)))
        kid = enc.get("kid")
        kid = None if kid is None else _str(kid, _field(ew, "kid")).encode("utf-8")
        c.payload, c.enc_info = encrypt_payload(c.plain, kek, kid, random_bytes(32), random_bytes(16))
        if not integrated:
            if "encrypted-file" not in spec:
                raise SpecError(_field(where, "encrypted-file") + ": required with encrypt and uri "
                                "(where to write the ciphertext to upload)")
            c.encrypted_file = _str(spec["encrypted-file"], _field(where, "encrypted-file"))
    elif "encrypted-file" in spec:
        raise SpecError(_field(where, "encrypted-file") + ": only with encrypt")
    if "text" in spec:
        c.text = _text_map(spec["text"], TEXT_COMPONENT, _field(where, "text"))
    return c


def _seq(items):
    return _dumps(items)


def _sequences(comps, vid, clid, dev, invoke):
    many = len(comps) > 1
    shared, install, validate = [], [], []
    for i, c in enumerate(comps):
        idx = [DIR_SET_INDEX, i] if many else []
        image = {P_DIGEST: _dumps(_digest(c.plain)), P_SIZE: len(c.plain)}
        params = {}
        if i == 0:
            params[P_VENDOR] = vid
            params[P_CLASS] = clid
            if dev is not None:
                params[P_DEVICE] = dev
        if not c.slots:
            params.update(image)
        shared += idx
        if params:
            shared += [DIR_OVERRIDE, params]
        if c.slots:
            # A/B like draft example 3: whichever slot the component targets,
            # the same image is expected there
            alts = [_seq([DIR_OVERRIDE, {P_SLOT: s}, COND_SLOT, POLICY_SLOT, DIR_OVERRIDE, image]) for s in (0, 1)]
            shared += [DIR_TRY_EACH, alts]
        if i == 0:
            shared += [COND_VENDOR, POLICY_ALL, COND_CLASS, POLICY_ALL]
            if dev is not None:
                shared += [COND_DEVICE, POLICY_ALL]
        fetch = {P_URI: c.uri}
        if c.enc_info is not None:
            fetch[P_ENC_INFO] = c.enc_info
        install += idx + [DIR_OVERRIDE, fetch, DIR_FETCH, POLICY_FAIL, COND_IMAGE_MATCH, POLICY_ALL]
        validate += idx + [COND_IMAGE_MATCH, POLICY_ALL]
    inv = None
    if invoke:
        inv = ([DIR_SET_INDEX, 0] if many else []) + [DIR_INVOKE, POLICY_FAIL]
    return shared, install, validate, inv


def build(spec, base_dir=".", random_bytes=os.urandom):
    """Check the spec and build the manifest (see Built). random_bytes(n)
    supplies CEKs and IVs (inject a fixed one for reproducible vectors)."""
    if not isinstance(spec, dict):
        raise SpecError("spec: must be a map")
    _unknown(spec, _TOP, "")
    seq = spec.get("sequence-number")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or seq >= 1 << 64:
        raise SpecError("sequence-number: required, an integer 0..2^64-1")
    if ("vendor" in spec) == ("vendor-id" in spec):
        raise SpecError("vendor: give exactly one of vendor {domain} or vendor-id")
    if "vendor" in spec:
        v = spec["vendor"]
        if not isinstance(v, dict) or set(v) != {"domain"}:
            raise SpecError("vendor: must be a map {domain: <vendor domain name>}")
        vid = vendor_id_from_domain(_str(v["domain"], "vendor.domain"))
    else:
        vid = _uuid_arg(spec["vendor-id"], "vendor-id")
    if ("class" in spec) == ("class-id" in spec):
        raise SpecError("class: give exactly one of class {model} or class-id")
    if "class" in spec:
        v = spec["class"]
        if not isinstance(v, dict) or set(v) != {"model"}:
            raise SpecError("class: must be a map {model: <class-specific information>}")
        clid = class_id_from_model(vid, _str(v["model"], "class.model"))
    else:
        clid = _uuid_arg(spec["class-id"], "class-id")
    dev = _uuid_arg(spec["device-id"], "device-id") if "device-id" in spec else None
    comps = spec.get("components")
    if not isinstance(comps, list) or not comps or len(comps) > MAX_COMPONENTS:
        raise SpecError("components: required, a list of 1..%d components" % MAX_COMPONENTS)
    comps = [_component(c, i, len(comps), base_dir, random_bytes) for i, c in enumerate(comps)]
    seen = set()
    for i, c in enumerate(comps):
        key = tuple(c.cid)
        if key in seen:
            raise SpecError("components[%d].id: duplicate component id" % i)
        seen.add(key)
        if c.integrated_key is not None:
            if c.integrated_key in seen:
                raise SpecError("components[%d].name: duplicate integrated payload name" % i)
            seen.add(c.integrated_key)
    severable = _bool(spec, "severable", "", False)
    invoke = _bool(spec, "invoke", "", True)
    shared, install, validate, inv = _sequences(comps, vid, clid, dev, invoke)

    manifest = {M_VERSION: 1, M_SEQ: seq,
                M_COMMON: _dumps({C_COMPONENTS: [c.cid for c in comps], C_SHARED: _seq(shared)}),
                M_VALIDATE: _seq(validate)}
    if "reference-uri" in spec:
        manifest[M_REF_URI] = _str(spec["reference-uri"], "reference-uri")
    if inv is not None:
        manifest[M_INVOKE] = _seq(inv)
    members = {M_INSTALL: _seq(install)}
    text = _text(spec.get("text"), comps)
    if text is not None:
        members[M_TEXT] = text
    sev = {}
    for k, member in members.items():
        if severable:
            manifest[k] = _bstr_digest(member)
            sev[k] = member
        else:
            manifest[k] = member
    payloads = {c.integrated_key: c.payload for c in comps if c.integrated_key is not None}
    return Built(_dumps(manifest), sev, payloads, comps)


def _text(spec, comps):
    ctext = [c for c in comps if c.text]
    if spec is None and not ctext:
        return None
    lang = "en-US"
    lmap = {}
    if spec is not None:
        if not isinstance(spec, dict):
            raise SpecError("text: must be a map")
        spec = dict(spec)
        if "language" in spec:
            lang = _str(spec.pop("language"), "text.language")
        lmap.update(_text_map(spec, TEXT_MANIFEST, "text"))
    for c in ctext:
        # a component ID as a map key: a tuple encodes as a CBOR array
        lmap[tuple(c.cid)] = c.text
    return _dumps({lang: lmap})


# ------------------------------------------------------------------ keys


class SigningKey:
    """alg: COSE algorithm; block(digest_bytes) -> COSE_Sign1/COSE_Mac0 bytes
    over the encoded SUIT_Digest (detached payload); close() when done."""

    def __init__(self, alg, block_fn, close_fn=None, description=""):
        self.alg = alg
        self._block = block_fn
        self._close = close_fn
        self.description = description

    def block(self, digest_bytes):
        return self._block(digest_bytes)

    def close(self):
        if self._close is not None:
            self._close()
            self._close = None


def _ecdsa_sign(priv, tbs):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    r, s = utils.decode_dss_signature(priv.sign(bytes(tbs), ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _eddsa_sign(priv, tbs):
    return priv.sign(bytes(tbs))


def register_host_signers():
    """ES256/ESP256/EdDSA sign and verify hooks (cryptography) in lib/cose."""
    import cose

    from .suit_cmd import _ecdsa_verify, _eddsa_verify

    cose.register_signature_alg(ALG_ES256, _ecdsa_verify, _ecdsa_sign)
    cose.register_signature_alg(ALG_ESP256, _ecdsa_verify, _ecdsa_sign)
    cose.register_signature_alg(ALG_EDDSA, _eddsa_verify, _eddsa_sign)


def _sign1_key(priv, alg, what):
    import cose

    register_host_signers()
    return SigningKey(alg, lambda d: cose.sign1_create(priv, d, alg, detached=True), description=what)


def _want(alg, allowed, what):
    if alg is not None and alg not in allowed:
        names = {v: k for k, v in ALG_NAMES.items()}
        raise KeyError_("key/alg mismatch: a %s key cannot make %s" % (what, names.get(alg, str(alg))))


def load_key(path, alg=None):
    """SigningKey from a key file (see the module doc); alg: a COSE algorithm
    the caller insists on (None: the key's natural one; P-256 -> ES256)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise KeyError_("cannot read key: %s" % e)
    if data.lstrip().startswith(b"-----BEGIN"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519

        if b"PRIVATE KEY" not in data:
            raise KeyError_("a PEM public key cannot sign: give the private key")
        try:
            priv = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as e:
            raise KeyError_("bad PEM private key: %s" % e)
        if isinstance(priv, ec.EllipticCurvePrivateKey) and priv.curve.name == "secp256r1":
            _want(alg, (ALG_ES256, ALG_ESP256), "P-256")
            return _sign1_key(priv, alg or ALG_ES256, "P-256")
        if isinstance(priv, ed25519.Ed25519PrivateKey):
            _want(alg, (ALG_EDDSA,), "Ed25519")
            return _sign1_key(priv, ALG_EDDSA, "Ed25519")
        raise KeyError_("unsupported PEM key (P-256 or Ed25519 only)")
    cbor = _cbor()
    try:
        m = cbor.loads(data)
    except ValueError:
        raise KeyError_("not a PEM key, COSE_Key or hourglass lms key file")
    if not isinstance(m, dict):
        raise KeyError_("not a PEM key, COSE_Key or hourglass lms key file")
    if 0 in m:
        _want(alg, (ALG_HSS_LMS,), "HSS-LMS")
        return _lms_key(path)
    import cose

    try:
        key = cose.decode_key(m)
    except ValueError as e:
        raise KeyError_("bad COSE_Key: %s" % e)
    if key.kty == cose.KTY_SYMMETRIC:
        _want(alg, (ALG_HMAC_256_256,), "symmetric")
        if key.alg not in (None, ALG_HMAC_256_256):
            raise KeyError_("key/alg mismatch: COSE_Key alg %r is not HMAC 256/256 (5)" % (key.alg,))
        if len(key.k) != 32:
            raise KeyError_("HMAC 256/256 needs a 32-byte k")
        k = bytes(key.k)
        return SigningKey(ALG_HMAC_256_256,
                          lambda d: cose.mac0_create(k, d, alg=ALG_HMAC_256_256, detached=True),
                          description="HMAC 256/256")
    if key.kty == cose.KTY_EC2 and key.d is not None:
        from cryptography.hazmat.primitives.asymmetric import ec

        if key.crv != 1:
            raise KeyError_("EC2 COSE_Key: only P-256 (crv 1)")
        _want(alg, (ALG_ES256, ALG_ESP256), "P-256")
        want = alg or (key.alg if key.alg in (ALG_ES256, ALG_ESP256) else ALG_ES256)
        if key.alg is not None and key.alg != want:
            raise KeyError_("key/alg mismatch: COSE_Key alg %r" % (key.alg,))
        priv = ec.derive_private_key(int.from_bytes(key.d, "big"), ec.SECP256R1())
        return _sign1_key(priv, want, "P-256")
    if key.kty == cose.KTY_HSS_LMS or key.kty == cose.KTY_EC2:
        raise KeyError_("a public key cannot sign: give the private key")
    raise KeyError_("unsupported COSE_Key type")


def _lms_key(path):
    import cose
    import hgstore
    import lms
    import lms_state

    from .lms_cmd import _KeyLock

    lms.register_cose()
    lock = _KeyLock(path)
    try:
        lock.__enter__()
    except OSError as e:
        raise KeyError_(str(e))
    try:
        signer = lms_state.load(hgstore.FileStorage(path))
    except (lms.LMSError, OSError, ValueError) as e:
        lock.__exit__(None, None, None)
        raise KeyError_("bad HSS-LMS key file: %s" % e)

    def block(d):
        # lms_state persists the leaf reservation before the signature exists
        return cose.sign1_create(signer, d, ALG_HSS_LMS, detached=True)

    def close():
        try:
            signer.close()  # give back the rest of the reserved chunk
        finally:
            lock.__exit__(None, None, None)

    return SigningKey(ALG_HSS_LMS, block, close, "HSS-LMS")


# ------------------------------------------------------------------ envelope


def envelope(built, key):
    """SUIT_Envelope_Tagged bytes: the manifest digest authenticated by key."""
    import suit_envelope

    cbor = _cbor()
    digest_bytes = _dumps([ALG_SHA256, suit_envelope.bstr_digest(built.manifest)])
    block = key.block(digest_bytes)
    env = {ENV_AUTH: _dumps([digest_bytes, block]), ENV_MANIFEST: built.manifest}
    env.update(built.severable)
    env.update(built.payloads)
    return cbor.dumps(cbor.Tag(107, env))


def create(spec, base_dir, key, random_bytes=os.urandom):
    """Build and authenticate: (envelope bytes, Built)."""
    built = build(spec, base_dir, random_bytes)
    return envelope(built, key), built


def write_atomic(path, data, mode=0o666):
    """Write data to path through a temporary file and a rename: path holds
    the old content or all of the new one, never a part. mode as os.open's
    (the umask applies; 0o600 for secrets)."""
    tmp = "%s.tmp%d" % (path, os.getpid())
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
