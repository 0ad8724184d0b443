# CPython-only SUIT tests: ES256 verification of the draft-37 examples via
# the CLI, inspect output, hypothesis fuzz of decode_envelope, and the
# helper that made our HSS-LMS and HMAC vectors from example 0's manifest.
import json
import os
import re

import cbor
import cose
import hgstore
import lms
import lms_state
import pytest
import suit_envelope as se
from hypothesis import given, settings, strategies as st

from fuzzing import examples
from hourglass import cli

VEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors", "suit")
PEM = os.path.join(VEC, "keys", "suit_examples_public_key.pem")
COSE_KEY = os.path.join(VEC, "keys", "suit_examples_public_key.cose_key")
SIGNED = [n for n in sorted(os.listdir(VEC)) if n.startswith("example") and "_signed" in n]
ALL = [n for n in sorted(os.listdir(VEC)) if n.endswith(".suit")]

LMS_SEED = bytes(range(32))
LMS_I = bytes(range(100, 116))
HMAC_KEY = bytes(range(0x40, 0x60))


def _read(name):
    with open(os.path.join(VEC, name), "rb") as f:
        return f.read()


def _example0_parts():
    env = se.decode_envelope(_read("example0_unsigned.suit"))
    return bytes(env.manifest), bytes(env.digest_bytes)


def _envelope(manifest, digest_bytes, block):
    return cbor.dumps(cbor.Tag(107, {2: cbor.dumps([digest_bytes, block]), 3: manifest}))


def make_lms_example0():
    """Example 0's manifest signed with a fixed one-level H5/W4 HSS-LMS key.
    Returns (envelope, raw HSS public key)."""
    lms.register_cose()
    signer = lms_state.generate(hgstore.MemoryStorage(), params=[(lms.LMS_SHA256_M32_H5, lms.LMOTS_SHA256_N32_W4)],
                                seed=LMS_SEED, I=LMS_I, chunk=4)
    manifest, digest_bytes = _example0_parts()
    block = cose.sign1_create(signer, digest_bytes, cose.ALG_HSS_LMS, detached=True)
    return _envelope(manifest, digest_bytes, block), signer.public_key


def make_hmac_example0():
    """Example 0's manifest under COSE_Mac0 HMAC 256/256. Returns (envelope, COSE_Key bytes)."""
    manifest, digest_bytes = _example0_parts()
    block = cose.mac0_create(HMAC_KEY, digest_bytes, alg=cose.ALG_HMAC_256_256, detached=True)
    key = cbor.dumps({1: cose.KTY_SYMMETRIC, 3: cose.ALG_HMAC_256_256, -1: HMAC_KEY})
    return _envelope(manifest, digest_bytes, block), key


def test_generated_vectors_match_helper():
    env, pub = make_lms_example0()
    assert env == _read("hg_lms_example0.suit")
    assert pub == _read("hg_lms_example0.pub")
    env, key = make_hmac_example0()
    assert env == _read("hg_hmac_example0.suit")
    assert key == _read("hg_hmac_example0.cose_key")


@pytest.mark.parametrize("name", SIGNED)
def test_es256_examples_verify(name, capsys):
    assert cli.main(["suit", "verify", os.path.join(VEC, name), "--key", PEM]) == 0
    assert cli.main(["suit", "verify", os.path.join(VEC, name), "--key", COSE_KEY]) == 0


@pytest.mark.parametrize("name", ["example%d_unsigned.suit" % i for i in (0, 1, 3, 4, 5)])
def test_unsigned_examples_rejected(name, capsys):
    assert cli.main(["suit", "verify", os.path.join(VEC, name), "--key", PEM]) == 1
    assert "authentication" in capsys.readouterr().err


def test_tampered_signature_exit_1(tmp_path, capsys):
    env = se.decode_envelope(_read("example0_signed.suit"))
    sig = bytes(cose.decode(bytes(env.auth_blocks[0])).tag_or_signature)
    data = bytearray(_read("example0_signed.suit"))
    i = bytes(data).index(sig)
    data[i + 5] ^= 1
    p = tmp_path / "bad.suit"
    p.write_bytes(bytes(data))
    assert cli.main(["suit", "verify", str(p), "--key", PEM]) == 1
    assert "authentication failed" in capsys.readouterr().err


def test_tampered_manifest_exit_1(tmp_path, capsys):
    data = bytearray(_read("example1_signed.suit"))
    data[-3] ^= 1
    p = tmp_path / "bad.suit"
    p.write_bytes(bytes(data))
    assert cli.main(["suit", "verify", str(p), "--key", PEM]) == 1
    assert "digest mismatch" in capsys.readouterr().err


def test_wrong_key_exit_1(capsys):
    assert cli.main(["suit", "verify", os.path.join(VEC, "hg_lms_example0.suit"), "--key", PEM]) == 1


def test_lms_and_hmac_verify_via_cli():
    assert cli.main(["suit", "verify", os.path.join(VEC, "hg_lms_example0.suit"),
                     "--key", os.path.join(VEC, "hg_lms_example0.pub")]) == 0
    assert cli.main(["suit", "verify", os.path.join(VEC, "hg_hmac_example0.suit"),
                     "--key", os.path.join(VEC, "hg_hmac_example0.cose_key")]) == 0


@pytest.mark.parametrize("i", range(6))
def test_inspect(i, capsys):
    name = "example%d_signed.suit" % i
    vec = json.load(open(os.path.join(VEC, "example%d.json" % i)))
    seq = int(vec["diag"].split("manifest-sequence-number / 2:")[1].split(",")[0])
    assert cli.main(["suit", "inspect", os.path.join(VEC, name)]) == 0
    out = capsys.readouterr().out
    assert "/ manifest-sequence-number / 2: %d" % seq in out
    assert "/ components / 2: [[h'00'" in out
    assert cli.main(["suit", "inspect", "--json", os.path.join(VEC, name)]) == 0
    j = json.loads(capsys.readouterr().out)
    assert j["manifest"]["manifest-sequence-number"] == seq
    assert ["00"] in j["manifest"]["common"]["components"]


_ANNOTATION = re.compile(r"/ ([a-z][a-z0-9:-]*) /\s*(-?\d+)")


@pytest.mark.parametrize("i", range(6))
def test_inspect_diag_names_like_the_draft(i, capsys):
    # every "/ name / number" the draft's own diag shows (envelope, manifest,
    # common, commands, parameters, digests, COSE headers) appears in ours
    vec = json.load(open(os.path.join(VEC, "example%d.json" % i)))
    want = set(_ANNOTATION.findall(vec["diag"]))
    assert len(want) > 10
    for e in vec["envelopes"]:
        if "_unsigned" in e["file"]:
            continue  # the draft's diag shows the signature's alg header
        assert cli.main(["suit", "inspect", "--diag", os.path.join(VEC, e["file"])]) == 0
        out = capsys.readouterr().out
        missing = want - set(_ANNOTATION.findall(out))
        assert not missing, (e["file"], sorted(missing))


def test_inspect_diag_recursion_policy_text(capsys):
    assert cli.main(["suit", "inspect", os.path.join(VEC, "example3_signed.suit")]) == 0
    out = capsys.readouterr().out
    # try-each alternatives are expanded, each with its own commands
    assert out.count("/ condition-component-slot / 5, 5 / record-on-success sysinfo-on-success /") == 4
    assert "/ directive-fetch / 21, 2 / record-on-failure /" in out
    assert cli.main(["suit", "inspect", os.path.join(VEC, "example2_signed.suit")]) == 0
    out = capsys.readouterr().out
    # severed members in the manifest are digests; the members are decoded
    assert '/ vendor-domain / 3: "arm.com"' in out and "/ manifest-description / 1:" in out
    assert "/ install / 20: [" in out and "/ install / 20: << [" in out
    assert cli.main(["suit", "inspect", os.path.join(VEC, "hg_create_enc.suit")]) == 0
    out = capsys.readouterr().out
    assert '/ integrated-payload / "#app": / 1029 bytes /' in out
    assert '/ alg / 1: -65532 / "A256CTR" /' in out and '/ alg / 1: -5 / "A256KW" /' in out
    assert "/ encryption-info / 19: << 96([" in out


def test_inspect_json_sequences(capsys):
    assert cli.main(["suit", "inspect", "--json", os.path.join(VEC, "example4_signed.suit")]) == 0
    j = json.loads(capsys.readouterr().out)
    load = j["manifest"]["load"]
    assert load[0] == {"directive-set-component-index": 2}
    assert load[1]["directive-override-parameters"]["source-component"] == 0
    assert load[1]["directive-override-parameters"]["image-digest"]["algorithm-id"] == -16
    assert {"directive-copy": 2} in load
    assert cli.main(["suit", "inspect", "--json", os.path.join(VEC, "example2_signed.suit")]) == 0
    j = json.loads(capsys.readouterr().out)
    inst = j["manifest"]["install"]
    assert inst["severed-digest"]["algorithm-id"] == -16
    assert inst["member"][1] == {"directive-fetch": 2}
    assert j["manifest"]["text"]["member"]["en-US"]['["00"]']["vendor-domain"] == "arm.com"
    assert cli.main(["suit", "inspect", "--json", os.path.join(VEC, "hg_create_lms.suit")]) == 0
    j = json.loads(capsys.readouterr().out)
    tries = [c["directive-try-each"] for c in j["manifest"]["common"]["shared-sequence"] if "directive-try-each" in c]
    assert [alt[0]["directive-override-parameters"]["slot"] for alt in tries[0]] == [0, 1]


def test_help(capsys):
    for argv in (["suit", "--help"], ["suit", "verify", "--help"], ["suit", "inspect", "--help"]):
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 0
    assert "verify" in capsys.readouterr().out


def test_usage_errors(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["suit", "verify", os.path.join(VEC, "example0_signed.suit")])
    assert e.value.code == 2
    assert cli.main(["suit", "verify", os.path.join(VEC, "example0_signed.suit"),
                     "--key", os.path.join(VEC, "example0.json")]) == 2


_SEEDS = [_read(n) for n in ALL]


@settings(max_examples=examples(200), deadline=None)
@given(st.sampled_from(_SEEDS), st.lists(st.tuples(st.integers(0, 10000), st.integers(0, 255)), max_size=6),
       st.integers(0, 10000))
def test_fuzz_decode_envelope(seed, edits, cut):
    data = bytearray(seed)
    for pos, val in edits:
        data[pos % len(data)] = val
    data = bytes(data[: max(1, len(data) - cut % 8)])
    try:
        env = se.decode_envelope(data)
        se.authenticate(env, [lambda msg, payload: True])
    except se.SuitError:
        pass


def write_vectors():
    """Regenerate the hg_* vectors: python host_tests/test_suit_host.py (from the repo root
    with lib/* on sys.path, e.g. via pytest's conftest layout)."""
    env, pub = make_lms_example0()
    for name, data in (("hg_lms_example0.suit", env), ("hg_lms_example0.pub", pub)):
        with open(os.path.join(VEC, name), "wb") as f:
            f.write(data)
    env, key = make_hmac_example0()
    for name, data in (("hg_hmac_example0.suit", env), ("hg_hmac_example0.cose_key", key)):
        with open(os.path.join(VEC, name), "wb") as f:
            f.write(data)
