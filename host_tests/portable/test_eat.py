# EAT (RFC 9711, lib/eat): the Appendix A examples, provisioning, tokens
# signed with HSS-LMS and HMAC, every rejection the verifier must make, power
# cuts around signing, and the /attest resource. Portable: CPython,
# MicroPython unix port, qemu image (small LMS keys: H5/W4, ~34k hashes).
import gc
import sys

import cbor
import cose
import hgcrypto
import hgstore
from hgtest import Rand, h, raises, read_binary, skip, vectors

try:
    import eat
except ImportError:
    # an image built before the eat package was added to firmware/manifest.py
    skip("the eat package is not on this runtime")

import lms
# Imported here, before any test allocates: on the 64 KiB qemu image a
# module imported in the middle of a test lands between its buffers and
# fragments the heap for the rest of the module.
import lms_state  # noqa: F401 (eat.provision / load_signer use it)

H5W4 = [(lms.LMS_SHA256_M32_H5, lms.LMOTS_SHA256_N32_W4)]
# SHA-256/192 (RFC 9708 takes any RFC 8554 / SP 800-208 set): a 1.8 KB token
# instead of 2.8 KB, for the /attest test that holds the server, its cached
# token and the reassembled body at once on the qemu image
H5W4_M24 = [(lms.LMS_SHA256_M24_H5, lms.LMOTS_SHA256_N24_W4)]
NONCE = h("000102030405060708090a0b0c0d0e0f")
APP_DIGEST = hgcrypto.sha256_digest(b"application image")
BOOT_DIGEST = hgcrypto.sha256_digest(b"boot code")


def _comps():
    return [
        {"cid": [b"app"], "name": "app", "slot": 1, "digest": APP_DIGEST, "size": 40960,
         "sequence": 7, "manifest_digest": b"\xaa" * 32},
        {"cid": [b"boot", b"\x00"], "name": "boot", "slot": None, "digest": BOOT_DIGEST,
         "size": 8192, "sequence": 2, "manifest_digest": b"\xbb" * 32},
    ]


def _lms_device(storage=None, seed=b"eat", params=H5W4, **kw):
    st = storage if storage is not None else hgstore.MemoryStorage()
    prov = eat.provision(st, rand=Rand(seed), lms_params=params, chunk=4)
    ident = eat.load_identity(st)
    att = eat.Attester(ident, eat.load_signer(st, ident), **kw)
    return st, prov, att


def _token(att, nonce=NONCE):
    # The token as bytes, its bytearray dropped: verify() then decodes it
    # without a copy (three token-sized buffers at once are too many for
    # the qemu image; the bytearray path is covered by the MAC and /attest
    # tests)
    tok = att.attest(nonce)
    gc.collect()  # the signing garbage, before the copy
    return bytes(tok)


def _mac_device(alg=eat.ALG_HMAC_256_256, seed=b"mac", **kw):
    st = hgstore.MemoryStorage()
    prov = eat.provision(st, rand=Rand(seed), mode="mac", mac_alg=alg)
    ident = eat.load_identity(st)
    return st, prov, eat.Attester(ident, eat.load_signer(st, ident), **kw)


def _code(fn, *args):
    return raises(eat.EATError, fn, *args).code


# ------------------------------------------------------ RFC 9711 Appendix A


def _examples(kind):
    idx = vectors("eat/_source.json")
    out = [c["file"] for c in idx["cases"] if c["kind"] == kind]
    idx = None
    gc.collect()
    return out


def test_rfc9711_claims_examples_parse():
    files = _examples("claims")
    assert len(files) == 6
    for f in files:
        claims = cbor.loads(read_binary("eat/" + f))  # the examples are not deterministic CBOR
        assert eat.parse_claims(claims) is claims, f
        nonce = claims[eat.C_NONCE]
        assert isinstance(nonce, bytes) and 8 <= len(nonce) <= 64, f
        if eat.C_UEID in claims:
            # type RAND; 0x01 + 15 bytes in all of the RFC's examples (the
            # CDDL allows 7..33 bytes; our devices use 0x01 + 32)
            u = claims[eat.C_UEID]
            assert u[0] == eat.UEID_RAND and len(u) == 16 and not eat.ueid_strict(u), f
        if eat.C_DBGSTAT in claims:
            assert claims[eat.C_DBGSTAT] in (2, 3), f
        gc.collect()


def test_rfc9711_submods_example_types():
    c = cbor.loads(read_binary("eat/rfc9711/Example-Payloads/valid_submods.cbor"))
    assert c[eat.C_OEMID] == h("894823")  # IEEE OUI
    assert c[eat.C_HWMODEL] == h("549dcecc8b987c737b44e40f7c635ce8")
    assert c[eat.C_HWVERSION] == ["1.3.4", 1]
    assert c[eat.C_SWNAME] == "Acme OS"
    assert c[eat.C_SWVERSION] == ["3.5.5", 1]
    assert c[eat.C_OEMBOOT] is True
    assert c[eat.C_DBGSTAT] == eat.DBG_DISABLED_PERMANENTLY
    assert c[eat.C_IAT] == 1526542894
    subs = c[eat.C_SUBMODS]
    assert sorted(subs) == ["board", "device"]
    assert subs["board"][eat.C_HWVERSION] == ["2.0a", 2]
    assert subs["device"][eat.C_OEMID] == 61234  # PEN, an int
    assert subs["device"][eat.C_HWVERSION] == ["4.0", 1]


def test_rfc9711_iot_measurement_is_the_coswid_example():
    c = eat.parse_claims(cbor.loads(read_binary("eat/rfc9711/Example-Payloads/valid_iot.cbor")))
    meas = c[eat.C_SUBMODS]["OS"][eat.C_MEASUREMENTS]
    assert len(meas) == 1 and meas[0][0] == eat.CF_COSWID
    tagged = read_binary("eat/rfc9711/Example-Payloads/coswid/iot-sw.cbor")
    # CoSWID tag 1398229316 = 0xda 53574944, then the same map as the claim
    assert tagged[:5] == h("da53574944")
    assert meas[0][1] == tagged[5:]
    tag = cbor.loads(tagged)
    assert tag.tag == 1398229316 and tag.value[0] == "4ca245" and tag.value[12] == 23
    # our reader finds the example's three files with their SHA-256 digests
    comps = eat.components(c)
    assert sorted(comps) == ["acme_r_iot_os.exe", "common.lib", "resources.rsc"]
    assert comps["resources.rsc"]["size"] == 800945
    assert comps["acme_r_iot_os.exe"]["digest"] == h(
        "05f6b327c173b4192bd2c3ec248a292215eab456611bf7a783e25c1782479905")
    assert comps["common.lib"]["submod"] == "OS"


def test_rfc9711_key_store_and_tee_manifests():
    for f in ("valid_key_store.cbor", "valid_tee.cbor"):
        c = eat.parse_claims(cbor.loads(read_binary("eat/rfc9711/Example-Payloads/" + f)))
        mans = c[eat.C_MANIFESTS] if eat.C_MANIFESTS in c else None
        assert mans and mans[0][0] == eat.CF_COSWID, f
        assert isinstance(cbor.loads(mans[0][1]), dict), f
    ks = cbor.loads(read_binary("eat/rfc9711/Example-Payloads/valid_key_store.cbor"))
    assert ks[eat.C_EXP] == 1634324274 and ks[eat.C_IAT] == 1634317080
    assert ks[-80000] == "fingerprint"  # a private claim is carried untouched
    assert eat.C_NONCE in ks[eat.C_SUBMODS]["HLOS"]


def test_rfc9711_cwt_decodes_but_cannot_verify():
    data = read_binary("eat/rfc9711/Example-Tokens/valid_cwt.cbor")
    t = eat.decode_token(data)
    assert not t.authenticated
    assert t.alg == -7 and t.kid is None  # ES256, no key published
    assert t.claims[eat.C_NONCE] == h("d79b964ddd5471c1393c8888")
    assert t.claims[eat.C_UEID] == h("0198f50a4ff6c05861c8860d13a638ea")
    assert t.claims[eat.C_OEMID] == 64242
    assert t.claims[eat.C_HWVERSION] == ["3.1", 1]
    _st, prov, _att = _mac_device()
    # our verifier knows HSS-LMS and HMAC only
    assert _code(eat.verify, data, prov["cose_key"], h("d79b964ddd5471c1393c8888")) == eat.EAT_ERR_UNSUPPORTED


def test_rfc9711_detached_bundle_digest():
    deb = cbor.loads(read_binary("eat/rfc9711/Example-Tokens/valid_deb.cbor"))
    assert deb.tag == 602 and len(deb.value) == 2
    t = eat.decode_token(deb.value[0])
    alg, digest = t.claims[eat.C_SUBMODS]["TEE"]
    assert alg == -16
    detached = deb.value[1]["TEE"]
    assert hgcrypto.sha256_digest(detached) == digest
    tee = eat.parse_claims(cbor.loads(detached))
    assert tee[eat.C_DBGSTAT] == eat.DBG_DISABLED_SINCE_BOOT


# ------------------------------------------------------------ provisioning


def test_provision_lms_identity_and_key():
    st, prov, _att = _lms_device()
    ueid = prov["ueid"]
    assert len(ueid) == 33 and ueid[0] == eat.UEID_RAND
    assert prov["alg"] == eat.ALG_HSS_LMS
    k = cose.decode_key(prov["cose_key"])
    assert k.kty == cose.KTY_HSS_LMS and k.kid == ueid and k.alg == -46
    assert lms.parse_hss_pub(k.pub)[0] == 1
    assert eat.load_identity(st) == {"ueid": ueid, "alg": -46, "mac_key": None}
    assert st.read("state") is not None  # the HSS key lives in the same storage
    assert _code(eat.provision, st) == eat.EAT_ERR_STATE  # never silently replaced
    st = _att = None  # one device at a time on a small heap
    gc.collect()
    # another seed is another device
    _st2, prov2, _ = _lms_device(seed=b"other")
    assert prov2["ueid"] != ueid and prov2["cose_key"] != prov["cose_key"]


def test_provision_eui_and_mac():
    st = hgstore.MemoryStorage()
    prov = eat.provision(st, rand=Rand(b"eat"), mode="mac", eui=h("0011223344556677"),
                         mac_alg=eat.ALG_HMAC_256_64)
    assert prov["ueid"] == h("020011223344556677")
    ident = eat.load_identity(st)
    assert ident["alg"] == 4 and len(ident["mac_key"]) == 32
    k = cose.decode_key(prov["cose_key"])
    assert k.kty == cose.KTY_SYMMETRIC and k.k == ident["mac_key"] and k.kid == prov["ueid"]
    for bad in (h("0011"), h("00112233445566778899")):
        assert _code(eat.provision, hgstore.MemoryStorage(), Rand(b"eat"), "mac", bad) == eat.EAT_ERR_STATE
    assert _code(eat.provision, hgstore.MemoryStorage(), Rand(b"eat"), "rsa") == eat.EAT_ERR_UNSUPPORTED


def test_identity_record_damage_refused():
    st = hgstore.MemoryStorage()
    assert _code(eat.load_identity, st) == eat.EAT_ERR_STATE
    eat.provision(st, rand=Rand(b"eat"), mode="mac")
    rec = bytearray(st.read("eatid"))
    for i in (3, len(rec) // 2, len(rec) - 1):
        bad = bytearray(rec)
        bad[i] ^= 1
        st.durable["eatid"] = bytes(bad)
        assert _code(eat.load_identity, st) == eat.EAT_ERR_STATE
    st.durable["eatid"] = bytes(rec[:-3])
    assert _code(eat.load_identity, st) == eat.EAT_ERR_STATE


class _OOMCbor:
    # stands in for eat's cbor module: decoding runs out of heap
    @staticmethod
    def loads(*args, **kw):
        raise MemoryError()

    decode_from = loads


def test_out_of_memory_is_not_damage_or_a_bad_token():
    st = hgstore.MemoryStorage()
    prov = eat.provision(st, rand=Rand(b"eat"), mode="mac")
    att = eat.Attester(eat.load_identity(st), eat.load_signer(st, eat.load_identity(st)))
    tok = bytes(att.attest(NONCE))
    saved = eat.cbor
    eat.cbor = _OOMCbor
    try:
        raises(MemoryError, eat.load_identity, st)  # not EAT_ERR_STATE "damaged"
        raises(MemoryError, eat.verify, tok, prov["cose_key"], NONCE)
    finally:
        eat.cbor = saved

    def oom(tag, value):
        raise MemoryError()

    saved = cbor.Tag
    cbor.Tag = oom  # the real decoder, out of heap at the CWT tag
    try:
        raises(MemoryError, eat.verify, tok, prov["cose_key"], NONCE)  # not "malformed"
    finally:
        cbor.Tag = saved
    assert eat.load_identity(st)["ueid"] == prov["ueid"]
    assert eat.verify(tok, prov["cose_key"], NONCE).authenticated
    # the COSE numbers are cose's
    assert (eat.ALG_HSS_LMS, eat.ALG_HMAC_256_64, eat.ALG_HMAC_256_256, eat.TAG_CWT) == (
        cose.ALG_HSS_LMS, cose.ALG_HMAC_256_64, cose.ALG_HMAC_256_256, cose.TAG_CWT)
    assert (eat.ALG_HSS_LMS, eat.ALG_HMAC_256_64, eat.ALG_HMAC_256_256, eat.TAG_CWT) == (-46, 4, 5, 61)


def test_out_of_memory_verifying_an_lms_token():
    # the HSS-LMS verification itself runs out of heap: MemoryError, never
    # EAT_ERR_AUTH ("signature invalid") and never a Token
    _st, prov, att = _lms_device()
    tok = _token(att)
    att = _st = None
    gc.collect()

    class OOMBackend:
        ERR_MALFORMED = lms.ERR_MALFORMED
        ERR_UNSUPPORTED = lms.ERR_UNSUPPORTED

        @staticmethod
        def verify(pub, msg, sig):
            raise MemoryError()

    saved = lms._b
    lms._b = OOMBackend
    try:
        raises(MemoryError, eat.verify, tok, prov["cose_key"], NONCE)
    finally:
        lms._b = saved
    assert eat.verify(tok, prov["cose_key"], NONCE).authenticated


# ------------------------------------------------------------ tokens


def test_lms_token_roundtrip_and_claims():
    _st, prov, att = _lms_device(
        measure=_comps, bootcount=9, uptime=lambda: 3600, dbgstat=eat.DBG_DISABLED,
        oemid=h("894823"), hwmodel=b"qemu-an386", hwversion=["1.0", 1], swname="hourglass",
        swversion=["0.1.0", 16384], submods={"boot": ("boot",)})
    tok = _token(att)
    assert tok[:4] == h("d83dd284")  # 61(18([...]))
    t = eat.verify(tok, prov["cose_key"], NONCE)
    tok = None
    assert t.authenticated and t.alg == -46 and t.kid == prov["ueid"]
    c = t.claims
    assert c[eat.C_NONCE] == NONCE and c[eat.C_UEID] == prov["ueid"]
    assert c[eat.C_BOOTCOUNT] == 9 and c[eat.C_UPTIME] == 3600 and c[eat.C_DBGSTAT] == 1
    assert c[eat.C_OEMID] == h("894823") and c[eat.C_HWMODEL] == b"qemu-an386"
    assert c[eat.C_SWVERSION] == ["0.1.0", 16384] and c[eat.C_PROFILE] == eat.PROFILE
    assert eat.C_IAT not in c  # no clock: no iat
    comps = eat.components(c)
    assert comps["app"]["digest"] == APP_DIGEST and comps["app"]["slot"] == 1
    assert comps["app"]["sequence"] == 7 and comps["app"]["submod"] is None
    assert comps["boot"]["digest"] == BOOT_DIGEST and comps["boot"]["submod"] == "boot"
    # manifests name the installed SUIT manifests: [name, cid, seq, SUIT_Digest]
    ref = c[eat.C_MANIFESTS][0]
    assert ref[0] == eat.CF_HG_MANIFEST_REF
    assert cbor.loads(ref[1]) == ["app", [b"app"], 7, [-16, b"\xaa" * 32]]
    sub = c[eat.C_SUBMODS]["boot"]
    assert cbor.loads(sub[eat.C_MANIFESTS][0][1]) == ["boot", [b"boot", b"\x00"], 2, [-16, b"\xbb" * 32]]
    # the signature covers the RFC 9052 Sig_structure; the first leaf is (0,)
    tbs = t.tbs()
    assert tbs == h("846a5369676e61747572653144a101382d40") + tbs[18:]
    assert tbs.endswith(t.message.content)
    pub = lms.pub_from_cose_key(prov["cose_key"])
    assert lms.verify(pub, tbs, t.message.tag_or_signature)
    assert not lms.verify(pub, tbs + b"x", t.message.tag_or_signature)
    assert t.leaf() == (0,)
    t = tbs = c = comps = ref = sub = pub = None
    gc.collect()
    t2 = eat.verify(_token(att), prov["cose_key"], NONCE)
    assert t2.leaf() == (1,)  # a new one-time key for every token


def test_token_encoding_is_deterministic_cbor():
    _st, prov, att = _lms_device(measure=_comps, clock=lambda: 1700000000)
    t = eat.verify(_token(att), prov["cose_key"], NONCE)
    assert t.claims[eat.C_IAT] == 1700000000
    # re-encoding the decoded claims gives the same bytes: sorted keys,
    # definite lengths, preferred serialization
    assert cbor.dumps(t.claims) == t.message.content
    assert t.message.protected_bytes == h("a101382d")  # {1: -46}
    assert t.message.unprotected == {4: prov["ueid"]}


def test_mac_tokens_both_algorithms():
    for alg, tlen in ((eat.ALG_HMAC_256_64, 8), (eat.ALG_HMAC_256_256, 32)):
        _st, prov, att = _mac_device(alg, measure=_comps)
        tok = att.attest(NONCE)
        assert tok[:3] == h("d83dd1")  # 61(17([...]))
        t = eat.verify(tok, prov["cose_key"], NONCE)
        assert t.alg == alg and len(t.message.tag_or_signature) == tlen
        assert t.leaf() is None
        assert eat.components(t.claims)["app"]["digest"] == APP_DIGEST
        # laid out in one buffer, byte for byte what COSE's own Mac0 makes
        payload = t.message.content
        want = cose.cwt_wrap(cose.mac0_create(att.signer, payload, alg,
                                              unprotected={cose.H_KID: prov["ueid"]}))
        assert bytes(att._token(payload)) == want


def test_suit_report_from_flash_is_not_copied():
    # the report callable may return a bytearray over flash (the qemu board):
    # the token carries its bytes
    report = bytearray(cbor.dumps({1: [-16, b"\x02" * 32], 2: b"ok"}))
    _st, prov, att = _mac_device(report=lambda: report)
    c = eat.verify(att.attest(NONCE), prov["cose_key"], NONCE).claims
    assert c[eat.C_MEASUREMENTS] == [[eat.CF_HG_SUIT_REPORT, bytes(report)]]


def test_suit_report_rides_along():
    report = cbor.dumps({1: [-16, b"\x01" * 32], 2: b"ok"})
    _st, prov, att = _mac_device(report=lambda: report)
    c = eat.verify(att.attest(NONCE), prov["cose_key"], NONCE).claims
    assert c[eat.C_MEASUREMENTS] == [[eat.CF_HG_SUIT_REPORT, report]]
    _st, prov, att = _mac_device(report=lambda: None)
    assert eat.C_MEASUREMENTS not in eat.verify(att.attest(NONCE), prov["cose_key"], NONCE).claims


def test_attester_rejects_bad_inputs():
    _st, _prov, att = _mac_device()
    for n in (b"", b"1234567", bytes(65), "not bytes", None):
        assert _code(att.attest, n) == eat.EAT_ERR_NONCE
    assert len(att.attest(bytes(8))) > 0 and len(att.attest(bytes(64))) > 0
    # measure() output is checked, not trusted
    for bad in ({"name": "x"}, dict(_comps()[0], digest=b"short"), dict(_comps()[0], size=-1),
                dict(_comps()[0], cid=b"notalist"), "junk"):
        _st, _p, a = _mac_device(measure=lambda b=bad: [b])
        assert _code(a.attest, NONCE) == eat.EAT_ERR_CLAIM
    _st, _p, a = _mac_device(measure=lambda: _comps() * 9)
    assert _code(a.attest, NONCE) == eat.EAT_ERR_CLAIM  # over MAX_COMPONENTS
    ident = {"ueid": b"\x01" + bytes(32), "alg": -46}
    assert _code(eat.Attester, ident, b"a mac key") == eat.EAT_ERR_UNSUPPORTED
    assert _code(eat.Attester, dict(ident, alg=-7), object()) == eat.EAT_ERR_UNSUPPORTED
    e = raises(eat.EATError, eat.Attester, dict(ident, alg=5), bytes(32), hwversion="1.0")
    assert e.code == eat.EAT_ERR_CLAIM  # a bad static claim fails at construction


# ------------------------------------------------------------ negatives


def _mac_token(claims, key=bytes(32), alg=5, kid=None, tag=True):
    unprot = {} if kid is None else {4: kid}
    m = cose.mac0_create(key, cbor.dumps(claims), alg, unprotected=unprot)
    return cose.cwt_wrap(m) if tag else m


def _mac_key(kid=None, alg=5, key=bytes(32)):
    return eat.mac_cose_key(key, alg, kid) if kid is not None else cbor.dumps({1: 4, 3: alg, -1: key})


def test_verify_rejects_wrong_and_missing_nonce():
    _st, prov, att = _mac_device()
    tok = att.attest(NONCE)
    assert _code(eat.verify, tok, prov["cose_key"], NONCE[:-1] + b"\x00") == eat.EAT_ERR_NONCE
    assert _code(eat.verify, tok, prov["cose_key"], b"short") == eat.EAT_ERR_NONCE
    ueid = b"\x01" + bytes(32)
    no_nonce = _mac_token({eat.C_UEID: ueid}, kid=ueid)
    e = raises(eat.EATError, eat.verify, no_nonce, _mac_key(ueid), NONCE)
    assert e.code == eat.EAT_ERR_NONCE and "missing" in str(e)
    as_list = _mac_token({eat.C_NONCE: [NONCE], eat.C_UEID: ueid}, kid=ueid)
    assert _code(eat.verify, as_list, _mac_key(ueid), NONCE) == eat.EAT_ERR_NONCE


def test_verify_rejects_tampering_everywhere():
    _st, prov, att = _lms_device(measure=_comps)
    tok = bytes(att.attest(NONCE))
    _st = att = None  # one device at a time on a small heap
    t = eat.decode_token(tok)
    plen = len(t.message.content)
    start = tok.find(t.message.content)
    t = None
    gc.collect()
    # a flipped bit in the claims, the protected header or the signature
    for i in (start, start + plen // 2, start + plen - 1, 6, len(tok) - 1, len(tok) - 100):
        bad = bytearray(tok)
        bad[i] ^= 0x04
        e = raises(eat.EATError, eat.verify, bad, prov["cose_key"], NONCE)
        assert e.code in (eat.EAT_ERR_AUTH, eat.EAT_ERR_MALFORMED, eat.EAT_ERR_UNSUPPORTED), i
        bad = e = None
        gc.collect()
    # the same claims re-signed by another device's key
    _st2, prov2, _att2 = _lms_device(seed=b"intruder")
    assert _code(eat.verify, tok, prov2["cose_key"], NONCE) == eat.EAT_ERR_KEY  # kid differs
    other_pub = lms.pub_from_cose_key(prov2["cose_key"])
    assert _code(eat.verify, tok, lms.encode_cose_key(other_pub), NONCE) == eat.EAT_ERR_AUTH


def test_verify_rejects_malformed_and_trailing():
    _st, prov, att = _mac_device()
    tok = bytes(att.attest(NONCE))
    key = prov["cose_key"]
    cases = (
        (tok + b"\x00", "trailing"),
        (tok[:-1], "malformed"),
        (b"", "malformed"),
        (b"\xff\xff", "malformed"),
        (tok[2:], "CWT"),  # COSE_Mac0 without the CWT tag
        (b"\xd8\x3d" + cbor.dumps([1, 2]), "COSE"),
        (b"\xd8\x3d\xd1" + cbor.dumps([b"", {}, b"x"]), "COSE"),  # 3 elements
    )
    for data, why in cases:
        e = raises(eat.EATError, eat.verify, data, key, NONCE)
        assert e.code == eat.EAT_ERR_MALFORMED, why
        assert why.lower() in str(e).lower(), (why, str(e))
    assert _code(eat.verify, "text", key, NONCE) == eat.EAT_ERR_MALFORMED
    # claims that are valid CBOR but not deterministic (indefinite map)
    ueid = b"\x01" + bytes(32)
    body = b"\xbf" + cbor.dumps(eat.C_NONCE) + cbor.dumps(NONCE) + b"\xff"
    m = cose.cwt_wrap(cose.mac0_create(bytes(32), body, 5, unprotected={4: ueid}))
    assert _code(eat.verify, m, _mac_key(ueid), NONCE) == eat.EAT_ERR_MALFORMED
    # claims not a map
    m = cose.cwt_wrap(cose.mac0_create(bytes(32), cbor.dumps([1]), 5, unprotected={4: ueid}))
    assert _code(eat.verify, m, _mac_key(ueid), NONCE) == eat.EAT_ERR_MALFORMED


def test_verify_rejects_oversized_token():
    # refused on its length, before the verifier copies or decodes it
    key = _mac_key(b"\x01" + bytes(32))
    try:
        big = bytearray(eat.MAX_TOKEN + 1)
    except MemoryError:
        skip("a MAX_TOKEN + 1 (32769) byte token does not fit this heap")
    big[0:3] = b"\xd8\x3d\xd1"
    for data in (big, memoryview(big)):
        e = raises(eat.EATError, eat.verify, data, key, NONCE)
        assert e.code == eat.EAT_ERR_MALFORMED and "too large" in str(e)
    big = None
    gc.collect()
    e = raises(eat.EATError, eat.verify, bytes(eat.MAX_TOKEN + 1), key, NONCE)
    assert e.code == eat.EAT_ERR_MALFORMED and "too large" in str(e)


def test_verify_rejects_unknown_algorithm_and_key_mismatch():
    ueid = b"\x01" + bytes(32)
    claims = {eat.C_NONCE: NONCE, eat.C_UEID: ueid}
    # COSE_Mac0 with AES-CCM's id, and a COSE_Sign1 claiming ES256
    unknown = b"\xd8\x3d" + cbor.dumps(cbor.Tag(17, [h("a1010a"), {4: ueid}, cbor.dumps(claims), bytes(8)]))
    es256 = b"\xd8\x3d" + cbor.dumps(cbor.Tag(18, [h("a10126"), {4: ueid}, cbor.dumps(claims), bytes(64)]))
    for tok in (unknown, es256):
        assert _code(eat.verify, tok, _mac_key(ueid), NONCE) == eat.EAT_ERR_UNSUPPORTED
    good = _mac_token(claims, kid=ueid)
    assert eat.verify(good, _mac_key(ueid), NONCE).claims == claims
    assert eat.verify(good, _mac_key(), NONCE).kid == ueid  # a key without kid
    # wrong key bytes, a kid naming another device, the key of another alg
    assert _code(eat.verify, good, _mac_key(ueid, key=b"\x01" * 32), NONCE) == eat.EAT_ERR_AUTH
    assert _code(eat.verify, good, _mac_key(b"\x01" + b"\x07" * 32), NONCE) == eat.EAT_ERR_KEY
    assert _code(eat.verify, good, _mac_key(ueid, alg=4), NONCE) == eat.EAT_ERR_KEY
    _st, prov, _att = _lms_device()
    assert _code(eat.verify, good, prov["cose_key"], NONCE) == eat.EAT_ERR_KEY  # LMS key, MAC token
    # no kid at all; a UEID that is not the kid
    assert _code(eat.verify, _mac_token(claims), _mac_key(), NONCE) == eat.EAT_ERR_KEY
    other = b"\x01" + b"\x05" * 32
    assert _code(eat.verify, _mac_token(claims, kid=other), _mac_key(), NONCE) == eat.EAT_ERR_KEY
    # a UEID the CDDL allows but our profile does not (RAND with 15 bytes)
    short = b"\x01" + bytes(15)
    tok = _mac_token({eat.C_NONCE: NONCE, eat.C_UEID: short}, kid=short)
    assert _code(eat.verify, tok, _mac_key(), NONCE) == eat.EAT_ERR_CLAIM
    assert _code(eat.verify, good, b"\xa0", NONCE) == eat.EAT_ERR_UNSUPPORTED  # not a key


def test_parse_claims_type_table():
    u = b"\x01" + bytes(32)
    good = {eat.C_NONCE: NONCE, eat.C_UEID: u}
    bad = (
        (eat.C_NONCE, b"1234567"), (eat.C_NONCE, "text"), (eat.C_NONCE, []),
        (eat.C_UEID, b"\x01" + bytes(5)), (eat.C_UEID, b"\x09" + bytes(16)), (eat.C_UEID, 5),
        (eat.C_UEID, b"\x01" + bytes(33)),
        (eat.C_OEMID, b"\x01\x02"), (eat.C_OEMID, -1), (eat.C_HWMODEL, b""), (eat.C_HWMODEL, bytes(33)),
        (eat.C_HWVERSION, "1.0"), (eat.C_HWVERSION, [1]), (eat.C_SWVERSION, ["1", "x"]),
        (eat.C_SWVERSION, ["1", 1, 2]), (eat.C_UPTIME, -5), (eat.C_BOOTCOUNT, True),
        (eat.C_DBGSTAT, 5), (eat.C_DBGSTAT, -1), (eat.C_OEMBOOT, 1), (eat.C_PROFILE, 3),
        (eat.C_SUBMODS, []), (eat.C_SUBMODS, {1: {}}), (eat.C_SUBMODS, {"a": 5}),
        (eat.C_SUBMODS, {"a": {eat.C_DBGSTAT: 9}}),
        (eat.C_MEASUREMENTS, []), (eat.C_MEASUREMENTS, [[258]]), (eat.C_MEASUREMENTS, [[-1, b""]]),
        (eat.C_MANIFESTS, [[258, 5]]), (eat.C_IAT, "now"), (eat.C_SWNAME, b"bytes"),
    )
    for k, v in bad:
        c = dict(good)
        c[k] = v
        e = raises(eat.EATError, eat.parse_claims, c)
        # the reason names the claim (the inner one for a bad submodule)
        name = "dbgstat" if isinstance(v, dict) and v.get("a") == {eat.C_DBGSTAT: 9} else eat.CLAIM_NAMES[k]
        assert e.code == eat.EAT_ERR_CLAIM and name in str(e), (k, v, str(e))
    deep = {}
    cur = deep
    for _ in range(5):
        nxt = {}
        cur[eat.C_SUBMODS] = {"s": nxt}
        cur = nxt
    assert _code(eat.parse_claims, deep) == eat.EAT_ERR_CLAIM
    assert _code(eat.parse_claims, [1]) == eat.EAT_ERR_CLAIM
    # good variants of each type pass; unknown claims are carried
    ok = dict(good)
    ok.update({eat.C_OEMID: 64242, eat.C_UEID: b"\x02" + bytes(6), eat.C_IAT: 1.5,
               eat.C_SUBMODS: {"d": [-16, bytes(32)], "n": b"\xd8\x3d", "j": "jwt"},
               -70000: "private", eat.C_PROFILE: cbor.Tag(111, b"\x2b\x06")})
    assert eat.parse_claims(ok) is ok


# ------------------------------------------------------------ power cuts


def test_power_cut_never_reuses_a_leaf():
    # Cut the power at every storage write of a run of tokens (after
    # provisioning), reboot, carry on: no HSS leaf is ever used twice, and
    # every token that left the device verifies.
    base = hgstore.MemoryStorage()
    prov = eat.provision(base, rand=Rand(b"cut"), lms_params=H5W4, chunk=2)
    seen = {}
    k = 1
    while True:
        st = base.reboot()
        st.cut_at = st.writes + k
        ident = eat.load_identity(st)
        att = eat.Attester(ident, eat.load_signer(st, ident))
        done = True
        for i in range(5):
            try:
                tok = _token(att)
            except OSError:
                done = False
                break
            # a token that left the device: checked now, not kept (heap)
            leaf = eat.verify(tok, prov["cose_key"], NONCE).leaf()
            tok = None
            assert leaf not in seen, (k, leaf)
            seen[leaf] = k
            gc.collect()
        att = None
        base = st.reboot()
        gc.collect()
        if done:
            break
        k += 1
    assert k > 2 and len(seen) >= 5


def test_key_exhaustion_is_an_error_not_a_reuse():
    # 32 H5/W4 signatures: about a second on the qemu image
    _st, prov, att = _lms_device()
    leaves = set()
    for i in range(32):
        leaves.add(eat.verify(_token(att), prov["cose_key"], NONCE).leaf())
        gc.collect()
    assert len(leaves) == 32
    e = raises(ValueError, att.attest, NONCE)
    assert "exhausted" in str(e)


# ------------------------------------------------------------ /attest
# The CoAP modules cost ~6 KB of the qemu image's ~47 KB heap. These tests
# import them first (before a device allocates anything) and, on qemu, drop
# them again afterwards, so the tests after them get that RAM back (every
# test module runs in a fresh boot there, nothing else holds them).
_COAP_MODULES = ("eat_resource", "coap_server", "coap_ep", "coap_msg")


def _coap():
    import coap_msg
    import coap_server
    import eat_resource

    gc.collect()
    return coap_msg, coap_server, eat_resource


def _forget_coap():
    if sys.platform == "qemu":
        for name in _COAP_MODULES:
            sys.modules.pop(name, None)
    gc.collect()


def _server(att):
    from coap_server import Server

    import eat_resource

    srv = Server()
    res = eat_resource.AttestResource(att)
    res.add_to(srv)
    return srv, res


def _post(srv, payload, cf=None, block2=None, accept=None, peer=("10.0.0.1", 5683)):
    from coap_msg import ACCEPT, BLOCK2, CON, CONTENT_FORMAT, POST, Message, uint_encode

    m = Message(CON, POST, 7, b"tk", None, payload)
    m.set_path("attest")
    if cf is not None:
        m.add(CONTENT_FORMAT, uint_encode(cf))
    if accept is not None:
        m.add(ACCEPT, uint_encode(accept))
    if block2 is not None:
        m.add(BLOCK2, uint_encode(block2))
    m.peer = peer
    return srv.handle_request(m, 0)


def test_attest_resource_mac():
    cm = _coap()[0]
    try:
        _st, prov, att = _mac_device(measure=_comps)
        srv, res = _server(att)
        for payload, cf in ((cbor.dumps(NONCE), 60), (NONCE, 42), (NONCE, None)):
            r = _post(srv, payload, cf)
            assert r.code == cm.CONTENT, (cf, r.code)
            assert r.opt_uint(cm.CONTENT_FORMAT) == 263 and r.opt(cm.ETAG) is not None
            t = eat.verify(bytes(r.payload), prov["cose_key"], NONCE)
            assert t.claims[eat.C_NONCE] == NONCE
            t = None
            gc.collect()
        # the same nonce from the same client again is served from the cache
        assert res.tokens == 1
        r = _post(srv, NONCE + b"x", 42)
        assert r.code == cm.CONTENT and res.tokens == 2
    finally:
        cm = srv = res = r = None
        _forget_coap()


def test_attest_resource_errors():
    _coap()
    try:
        _st, _prov, att = _mac_device()
        srv, res = _server(att)
        assert _post(srv, b"1234567", 42).code == 0x80  # 4.00: nonce too short
        assert _post(srv, bytes(65), None).code == 0x80
        assert _post(srv, cbor.dumps(5), 60).code == 0x80  # CBOR, not a bstr
        assert _post(srv, b"\x48" + NONCE[:7], 60).code == 0x80  # truncated CBOR
        assert _post(srv, NONCE, 0).code == 0x8F  # 4.15: text/plain
        assert _post(srv, NONCE, 50).code == 0x8F  # 4.15: JSON
        assert _post(srv, NONCE, 42, accept=60).code == 0x86  # 4.06
        assert _post(srv, b"", 42, block2=0x16).code == 0x88  # 4.08: nothing cached
        assert res.tokens == 0

        class Busy:
            def __init__(self, exc):
                self.exc = exc

            def attest(self, nonce):
                raise self.exc

        # the attester cannot sign: 5.03, nothing cached
        for exc in (MemoryError(), ValueError("key exhausted"), OSError(5, "EIO")):
            srv, res = _server(Busy(exc))
            assert _post(srv, NONCE, 42).code == 0xA3, exc
            assert res.tokens == 0 and _post(srv, b"", 42, block2=0x16).code == 0x88
        # out of heap decoding a CBOR nonce: 5.03, not 4.00 "not CBOR"
        import eat_resource

        class OOMCbor:
            @staticmethod
            def loads(*args, **kw):
                raise MemoryError()

        srv, res = _server(att)
        saved = eat_resource.cbor
        eat_resource.cbor = OOMCbor
        try:
            assert _post(srv, cbor.dumps(NONCE), 60).code == 0xA3
        finally:
            eat_resource.cbor = saved
        assert res.tokens == 0 and _post(srv, cbor.dumps(NONCE), 60).code == 0x45
    finally:
        srv = res = None
        _forget_coap()


def test_attest_resource_blockwise_lms():
    cm = _coap()[0]
    try:
        _st, prov, att = _lms_device(params=H5W4_M24, measure=_comps)
        key = prov["cose_key"]
        _st = prov = None
        srv, res = _server(att)
        r = _post(srv, NONCE, 42)
        assert r.code == cm.CONTENT, r.code
        size = r.opt_uint(cm.SIZE2)
        num, more, szx = cm.block_decode(r.opt(cm.BLOCK2))
        assert num == 0 and more and size > 1024  # more than one block
        etag = bytes(r.opt(cm.ETAG))
        # the body is reassembled in one buffer of the announced Size2
        gc.collect()
        body = bytearray(size)
        off = len(r.payload)
        body[:off] = r.payload
        n = 1
        while more:
            r = _post(srv, b"", None, block2=(n << 4) | szx)  # continuation: no payload
            assert r.code == cm.CONTENT and bytes(r.opt(cm.ETAG)) == etag
            num, more, szx = cm.block_decode(r.opt(cm.BLOCK2))
            assert num == n and off + len(r.payload) <= size
            body[off : off + len(r.payload)] = r.payload
            off += len(r.payload)
            n += 1
            r = None
        assert off == size and res.tokens == 1
        # another client's continuation does not get this client's token
        assert _post(srv, b"", None, block2=0x16, peer=("10.0.0.2", 1)).code == 0x88
        srv = res = att = None  # the cached token and the signer
        gc.collect()
        t = eat.verify(body, key, NONCE)
        assert t.leaf() == (0,) and t.claims[eat.C_NONCE] == NONCE
    finally:
        cm = srv = res = att = r = None
        _forget_coap()
