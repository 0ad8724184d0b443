# `hourglass eat` (tools/hourglass/eat_cmd.py), CPython only: tokens from our
# device code verified by the CLI (exit codes and reasons for every negative
# case), the independent pyhsslms check over the same Sig_structure, the
# LMS leaf log catching a reused one-time key, and appraisal policies.
import copy
import hashlib
import json
import os
import subprocess
import sys

import pyhsslms

import cbor
import cose
import eat
import hgstore
import lms
from hourglass import eat_cmd
from hourglass.cli import main as cli_main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NONCE = bytes(range(16))
H5W4 = [(lms.LMS_SHA256_M32_H5, lms.LMOTS_SHA256_N32_W4)]


def _comps():
    return [{"cid": [b"app"], "name": "app", "slot": 1, "digest": hashlib.sha256(b"app").digest(),
             "size": 3, "sequence": 4, "manifest_digest": bytes(32)}]


def _device(tmp_path, levels=1, mode="lms", **kw):
    st = hgstore.MemoryStorage()
    prov = eat.provision(st, rand=os.urandom, mode=mode, lms_params=H5W4 * levels, chunk=4)
    ident = eat.load_identity(st)
    kw.setdefault("measure", _comps)
    kw.setdefault("swversion", ["1.4.2", 16384])
    kw.setdefault("dbgstat", eat.DBG_DISABLED)
    att = eat.Attester(ident, eat.load_signer(st, ident), **kw)
    tmp_path.mkdir(parents=True, exist_ok=True)
    key = tmp_path / ("%s.key" % mode)
    key.write_bytes(prov["cose_key"])
    return st, prov, att, str(key)


def _cli(*args):
    return cli_main([str(a) for a in args])


def _write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(bytes(data))
    return str(p)


def test_cli_verify_valid_lms_and_json(tmp_path, capsys):
    _st, prov, att, key = _device(tmp_path, levels=2)
    tok = _write(tmp_path, "t.cwt", att.attest(NONCE))
    leaves = str(tmp_path / "leaves.json")
    assert _cli("eat", "verify", tok, "--key", key, "--nonce", NONCE.hex(), "--json",
                "--leaf-state", leaves) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["valid"] and res["alg"] == -46 and res["kid"] == prov["ueid"].hex()
    assert res["lms_check"] == {"lib_lms": True, "pyhsslms": True}
    assert res["claims"]["eat_nonce"] == NONCE.hex()
    assert res["claims"]["measurements"][0]["value"]["3"]["17"][0]["7"][1] == hashlib.sha256(b"app").hexdigest()
    assert res["leaf"] == [0, 0] and res["leaf_state"] == "new"
    state = json.load(open(leaves))
    tbs = eat.decode_token(open(tok, "rb").read()).tbs()
    assert state["devices"] == {prov["ueid"].hex(): {"0/0": hashlib.sha256(tbs).hexdigest()[:16]}}
    # verifying the same token again is not a reuse
    assert _cli("eat", "verify", tok, "--key", key, "--nonce", NONCE.hex(), "--leaf-state", leaves) == 0
    assert "valid: kid" in capsys.readouterr().out


def test_pyhsslms_checks_the_same_sig_structure(tmp_path):
    _st, prov, att, _key = _device(tmp_path, levels=2)
    t = eat.verify(att.attest(NONCE), prov["cose_key"], NONCE)
    pub = lms.pub_from_cose_key(prov["cose_key"])
    tbs = cose.sig_structure(t.message.protected_bytes, b"", t.message.payload)
    assert tbs == t.tbs()
    pk = pyhsslms.HssPublicKey.deserialize(pub)
    assert pk.verify(tbs, t.message.tag_or_signature)
    assert not pk.verify(tbs[:-1] + bytes([tbs[-1] ^ 1]), t.message.tag_or_signature)


def test_verifier_disagreement_is_a_failure(tmp_path, monkeypatch):
    _st, prov, att, _key = _device(tmp_path)
    tok = att.attest(NONCE)
    monkeypatch.setattr(eat_cmd, "_pyhsslms_verify", lambda pub, tbs, sig: False)
    res = eat_cmd.verify_token(tok, prov["cose_key"], NONCE)
    assert not res["valid"] and "disagree" in res["reason"] and res["code"] == eat.EAT_ERR_AUTH


def test_cli_verify_mac(tmp_path, capsys):
    _st, prov, att, key = _device(tmp_path, mode="mac")
    tok = _write(tmp_path, "t.cwt", att.attest(NONCE))
    assert _cli("eat", "verify", tok, "--key", key, "--nonce", NONCE.hex(), "--no-leaf-state") == 0
    assert json.loads(capsys.readouterr().out.split("valid:")[0])["ueid"] == prov["ueid"].hex()


def _expect_invalid(capsys, args, why, rc=1):
    assert _cli(*args) == rc
    err = capsys.readouterr().err
    assert why in err, err


def test_cli_negative_cases(tmp_path, capsys):
    _st, prov, att, key = _device(tmp_path)
    good = bytes(att.attest(NONCE))
    t = eat.decode_token(good)
    start = good.find(t.message.content)
    tampered = bytearray(good)
    tampered[start + 5] ^= 1
    _st2, _prov2, _att2, other_key = _device(tmp_path / "other")
    other_pub = _write(tmp_path, "other.pub", lms.pub_from_cose_key(open(other_key, "rb").read()))
    ns = ["--no-leaf-state"]
    cases = [
        (good, key, bytes(16), "nonce mismatch"),
        (good, key, NONCE[:7], "nonce must be 8 to 64 bytes"),
        (bytes(tampered), key, NONCE, "signature or MAC invalid"),
        (good + b"\x00", key, NONCE, "trailing bytes"),
        (good[:100], key, NONCE, "malformed CBOR"),
        (b"\xa1\x01\x02", key, NONCE, "not a CWT"),
        (good, other_key, NONCE, "kid does not match the provisioned key"),
        (good, other_pub, NONCE, "signature or MAC invalid"),  # a raw key without kid
    ]
    for data, k, nonce, why in cases:
        tok = _write(tmp_path, "bad.cwt", data)
        _expect_invalid(capsys, ["eat", "verify", tok, "--key", k, "--nonce", nonce.hex()] + ns, why)
    # unknown algorithm: a Sign1 claiming ES256 over the same claims
    es = b"\xd8\x3d" + cbor.dumps(cbor.Tag(18, [bytes.fromhex("a10126"), {4: prov["ueid"]}, t.message.content,
                                               bytes(64)]))
    _expect_invalid(capsys, ["eat", "verify", _write(tmp_path, "es.cwt", es), "--key", key, "--nonce",
                             NONCE.hex()] + ns, "unknown algorithm")
    # a claims set without a nonce, MACed correctly
    ueid = prov["ueid"]
    mk = eat.mac_cose_key(bytes(32), 5, ueid)
    nn = cose.cwt_wrap(cose.mac0_create(bytes(32), cbor.dumps({eat.C_UEID: ueid}), 5, unprotected={4: ueid}))
    _expect_invalid(capsys, ["eat", "verify", _write(tmp_path, "nn.cwt", nn), "--key",
                             _write(tmp_path, "mk", mk), "--nonce", NONCE.hex()] + ns, "nonce missing")
    # usage errors
    assert _cli("eat", "verify", _write(tmp_path, "g.cwt", good), "--key", key, "--nonce", "zz") == 2
    assert _cli("eat", "verify", str(tmp_path / "g.cwt"), "--key", _write(tmp_path, "junk", b"junk"),
                "--nonce", NONCE.hex(), "--no-leaf-state") == 1
    assert "bad key" in capsys.readouterr().err


def test_leaf_reuse_is_flagged(tmp_path, capsys):
    # A broken device: two signers restored from the same saved key state
    # both use the next leaf. The second token verifies cryptographically
    # but the leaf log rejects it.
    st, prov, att, key = _device(tmp_path)
    att.attest(NONCE)  # move past the first reservation chunk
    saved = copy.deepcopy(st.durable)
    clone = hgstore.MemoryStorage(data=saved)
    ident = eat.load_identity(clone)
    att2 = eat.Attester(ident, eat.load_signer(clone, ident))
    att3 = eat.Attester(ident, eat.load_signer(hgstore.MemoryStorage(data=copy.deepcopy(saved)), ident))
    n2, n3 = b"n2" * 8, b"n3" * 8
    t2, t3 = att2.attest(n2), att3.attest(n3)
    assert eat.verify(t2, prov["cose_key"], n2).leaf() == eat.verify(t3, prov["cose_key"], n3).leaf()
    leaves = str(tmp_path / "leaves.json")
    assert _cli("eat", "verify", _write(tmp_path, "2.cwt", t2), "--key", key, "--nonce", n2.hex(),
                "--leaf-state", leaves) == 0
    _expect_invalid(capsys, ["eat", "verify", _write(tmp_path, "3.cwt", t3), "--key", key, "--nonce",
                             n3.hex(), "--leaf-state", leaves], "reused with another message")
    # per device: another device's same leaf number is no reuse
    _st, _p, other, okey = _device(tmp_path / "o")
    assert _cli("eat", "verify", _write(tmp_path, "o.cwt", other.attest(n2)), "--key", okey,
                "--nonce", n2.hex(), "--leaf-state", leaves) == 0
    bad_state = _write(tmp_path, "bad.json", b"[]")
    assert _cli("eat", "verify", str(tmp_path / "2.cwt"), "--key", key, "--nonce", n2.hex(),
                "--leaf-state", bad_state) == 2


def test_policy_pass_and_fail_per_claim(tmp_path, capsys):
    _st, _prov, att, key = _device(tmp_path)
    tok = _write(tmp_path, "t.cwt", att.attest(NONCE))
    good = {"measurements": {"app": hashlib.sha256(b"app").hexdigest()}, "min_swversion": "1.4.0",
            "dbgstat": [1, 2, 3, 4], "min_sequence": {"app": 4}}
    pol = _write(tmp_path, "p.json", json.dumps(good).encode())
    assert _cli("eat", "verify", tok, "--key", key, "--nonce", NONCE.hex(), "--policy", pol,
                "--no-leaf-state", "--json") == 0
    res = json.loads(capsys.readouterr().out)
    assert res["appraisal"] == {"measurement app": "pass", "swversion": "pass", "dbgstat": "pass",
                                "sequence app": "pass"}
    bad = {"measurements": {"app": "00" * 32, "boot": "11" * 32}, "min_swversion": "1.10",
           "dbgstat": [3, 4], "min_sequence": {"app": 5}}
    pol = _write(tmp_path, "p2.json", json.dumps(bad).encode())
    assert _cli("eat", "verify", tok, "--key", key, "--nonce", NONCE.hex(), "--policy", pol,
                "--no-leaf-state", "--json") == 1
    out = capsys.readouterr()
    res = json.loads(out.out)
    ap = res["appraisal"]
    assert ap["measurement app"].startswith("fail: digest")
    assert ap["measurement boot"] == "fail: not measured"
    assert ap["swversion"] == "fail: 1.4.2" and ap["dbgstat"] == "fail: 1" and ap["sequence app"] == "fail: 4"
    assert res["code"] == eat.EAT_ERR_POLICY and "policy:" in out.err


def test_cli_inspect_rfc_example(capsys):
    path = os.path.join(ROOT, "host_tests", "vectors", "eat", "rfc9711", "Example-Tokens", "valid_cwt.cbor")
    assert _cli("eat", "inspect", path) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["authenticated"] is False and out["alg"] == -7
    assert out["claims"]["ueid"] == "0198f50a4ff6c05861c8860d13a638ea"
    assert out["claims"]["hwversion"] == ["3.1", 1] and out["claims"]["oemid"] == 64242


def test_vectors_match_the_index():
    base = os.path.join(ROOT, "host_tests", "vectors", "eat", "rfc9711")
    idx = json.load(open(os.path.join(base, "rfc9711_examples.json")))
    assert "RFC 9711" in idx["_source"]["document"]
    n = 0
    for c in idx["cases"]:
        p = os.path.join(base, c.get("cbor_file", ""))
        if "cbor_file" in c and os.path.exists(p):
            assert open(p, "rb").read().hex() == c["cbor_hex"], c["cbor_file"]
            n += 1
    assert n == 10


def test_cli_module_entry_point(tmp_path):
    # the installed command path (python -m hourglass) reaches eat too
    r = subprocess.run([sys.executable, "-m", "hourglass", "eat", "verify", "--help"], cwd=os.path.join(ROOT, "tools"),
                       capture_output=True, text=True)
    assert r.returncode == 0 and "--nonce" in r.stdout
