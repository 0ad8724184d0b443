# `hourglass lms`: keygen / sign / verify / inspect, exit codes 0/1/2 and the
# reasons on stderr. In-process through cli.main() (fast), plus the real
# console script for the entry point and argparse's exit 2.
import json
import os
import subprocess
import sys

import pyhsslms
import pytest

from hourglass import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOURGLASS = os.path.join(ROOT, ".venv", "bin", "hourglass")
VEC = os.path.join(ROOT, "host_tests", "vectors", "lms", "cases")


def run(capsys, *argv):
    try:
        code = cli.main(list(argv))
    except SystemExit as e:  # argparse: usage errors and --help
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture()
def key(tmp_path, capsys):
    k = str(tmp_path / "key")
    code, out, err = run(
        capsys, "lms", "keygen", "--out", k, "--pub", k + ".pub", "--lms", "H5", "--ots", "W2",
        "--chunk", "4", "--cose-key", k + ".cose", "--kid", "6b6964",
    )
    assert code == 0, err
    assert "1024 signatures" in out
    (tmp_path / "msg").write_bytes(b"hello hourglass\n")
    return tmp_path


def test_keygen_sign_verify(key, capsys):
    k, msg, sig = str(key / "key"), str(key / "msg"), str(key / "sig")
    assert sorted(os.listdir(key)) == [
        "key", "key.cose", "key.lock", "key.nodes0", "key.nodes1", "key.pub", "msg"
    ]
    code, out, err = run(capsys, "lms", "sign", "--key", k, "--msg", msg, "--out", sig)
    assert code == 0, err
    assert "1023 signatures left" in out
    code, out, err = run(capsys, "lms", "verify", "--pub", k + ".pub", "--msg", msg, "--sig", sig)
    assert (code, out.strip(), err) == (0, "valid", "")
    # a COSE_Key public key is detected by content
    code, out, err = run(capsys, "lms", "verify", "--pub", k + ".cose", "--msg", msg, "--sig", sig)
    assert code == 0, err
    # pyhsslms agrees
    pub = (key / "key.pub").read_bytes()
    assert pyhsslms.HssPublicKey.deserialize(pub).verify(b"hello hourglass\n", (key / "sig").read_bytes())
    # the pure-Python backend too
    code, out, err = run(capsys, "lms", "--backend", "lms_py", "verify", "--pub", k + ".pub", "--msg", msg, "--sig", sig)
    assert code == 0, err


def test_verify_failures_and_reasons(key, capsys):
    k, msg, sig = str(key / "key"), str(key / "msg"), str(key / "sig")
    assert run(capsys, "lms", "sign", "--key", k, "--msg", msg, "--out", sig)[0] == 0
    good = (key / "sig").read_bytes()
    other = key / "other"
    other.write_bytes(b"hello hourglass?\n")

    def verify(pub=k + ".pub", m=msg, s=sig):
        return run(capsys, "lms", "verify", "--pub", pub, "--msg", m, "--sig", s)

    code, out, err = verify(m=str(other))
    assert (code, out) == (1, "")
    assert err.strip() == "hourglass lms: invalid signature"
    (key / "short").write_bytes(good[:-1])
    code, _, err = verify(s=str(key / "short"))
    assert code == 1 and err.strip() == "hourglass lms: malformed signature: length"
    (key / "long").write_bytes(good + b"\x00")
    code, _, err = verify(s=str(key / "long"))
    assert code == 1 and "malformed signature: trailing bytes" in err
    (key / "badpub").write_bytes((key / "key.pub").read_bytes()[:-2])
    code, _, err = verify(pub=str(key / "badpub"))
    assert code == 1 and "malformed public key" in err
    code, _, err = verify(s=str(key / "missing"))
    assert code == 1 and "No such file" in err
    (key / "badcose").write_bytes(b"\xa1\x01\x04")
    code, _, err = verify(pub=str(key / "badcose"))
    assert code == 1 and "bad public key" in err


def test_verify_unsupported_parameter_set(tmp_path, capsys):
    with open(os.path.join(VEC, "rfc9858_tc2.json")) as f:  # SHAKE256/192
        c = json.load(f)
    for name in ("public_key", "message", "signature"):
        (tmp_path / name).write_bytes(bytes.fromhex(c[name]))
    code, out, err = run(
        capsys, "lms", "verify", "--pub", str(tmp_path / "public_key"),
        "--msg", str(tmp_path / "message"), "--sig", str(tmp_path / "signature"),
    )
    assert code == 1 and err.strip() == "hourglass lms: unsupported parameter set"


def test_rfc8554_tc1_verifies_from_files(tmp_path, capsys):
    with open(os.path.join(VEC, "rfc8554_tc1.json")) as f:
        c = json.load(f)
    for name in ("public_key", "message", "signature"):
        (tmp_path / name).write_bytes(bytes.fromhex(c[name]))
    code, out, err = run(
        capsys, "lms", "verify", "--pub", str(tmp_path / "public_key"),
        "--msg", str(tmp_path / "message"), "--sig", str(tmp_path / "signature"),
    )
    assert code == 0 and out.strip() == "valid"
    code, out, err = run(capsys, "lms", "inspect", str(tmp_path / "signature"))
    assert code == 0
    assert "level 0: LMS_SHA256_M32_H5/LMOTS_SHA256_N32_W8, leaf q=5" in out
    assert "level 1: LMS_SHA256_M32_H5/LMOTS_SHA256_N32_W8, leaf q=10" in out


def test_inspect(key, capsys):
    k, msg, sig = str(key / "key"), str(key / "msg"), str(key / "sig")
    assert run(capsys, "lms", "sign", "--key", k, "--msg", msg, "--out", sig)[0] == 0
    code, out, err = run(capsys, "lms", "inspect", k)
    assert code == 0, err
    assert "private key: 2 level(s)" in out
    # `sign` gives the unused rest of its chunk back (close()): nothing wasted
    assert "next leaf: 1" in out and "reserved bound: 1 (chunk 4)" in out
    assert "signatures left: 1023" in out
    code, out, _ = run(capsys, "lms", "inspect", "--json", k)
    d = json.loads(out)
    assert d["type"] == "private key" and d["levels"] == 2 and d["next_leaf"] == 1
    assert d["per_level"][0]["params"] == "LMS_SHA256_M32_H5/LMOTS_SHA256_N32_W2"
    assert d["public_key"] == (key / "key.pub").read_bytes().hex()
    code, out, _ = run(capsys, "lms", "inspect", k + ".pub")
    assert code == 0 and "public key: 2 level(s)" in out and "LMS_SHA256_M32_H5" in out
    code, out, _ = run(capsys, "lms", "inspect", k + ".cose")
    assert code == 0 and out.startswith("COSE_Key: 2 level(s)")
    code, out, _ = run(capsys, "lms", "inspect", "--json", sig)
    d = json.loads(out)
    assert d["type"] == "signature" and [e["q"] for e in d["per_level"]] == [0, 0]
    (key / "junk").write_bytes(b"\x00\x00\x00\x09junk")
    code, out, err = run(capsys, "lms", "inspect", str(key / "junk"))
    assert code == 1 and "junk" in err


def test_sign_refuses_a_key_in_use(key, capsys):
    fcntl = pytest.importorskip("fcntl")
    k, msg = str(key / "key"), str(key / "msg")
    fd = os.open(k + ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another signer holds the key
        code, _, err = run(capsys, "lms", "sign", "--key", k, "--msg", msg, "--out", str(key / "s"))
        assert code == 1 and "key in use" in err
    finally:
        os.close(fd)
    code, _, err = run(capsys, "lms", "sign", "--key", k, "--msg", msg, "--out", str(key / "s"))
    assert code == 0, err
    code, _, err = run(capsys, "lms", "sign", "--key", str(key / "nokey"), "--msg", msg, "--out", str(key / "s"))
    assert code == 1 and "no such key file" in err


def test_keygen_refuses_to_overwrite(key, capsys):
    k = str(key / "key")
    before = (key / "key").read_bytes()
    code, _, err = run(capsys, "lms", "keygen", "--out", k, "--pub", k + ".pub2", "--lms", "H5")
    assert code == 1 and "exists" in err
    assert (key / "key").read_bytes() == before
    code, _, err = run(
        capsys, "lms", "keygen", "--out", k, "--pub", k + ".pub2", "--lms", "H5", "--ots", "W1",
        "--levels", "1", "--force",
    )
    assert code == 0, err
    assert (key / "key").read_bytes() != before
    assert not (key / "key.nodes1").exists()


def test_keygen_parameter_choices(tmp_path, capsys):
    k = str(tmp_path / "k")
    code, out, err = run(
        capsys, "lms", "keygen", "--out", k, "--pub", k + ".pub", "--levels", "2",
        "--lms", "M24_H5,LMS_SHA256_M24_H5", "--ots", "W4,LMOTS_SHA256_N24_W2",
    )
    assert code == 0, err
    assert "LMS_SHA256_M24_H5/LMOTS_SHA256_N24_W4, LMS_SHA256_M24_H5/LMOTS_SHA256_N24_W2" in out
    for bad in (
        ("--lms", "H11"),
        ("--ots", "W3"),
        ("--lms", "H5,H5,H5"),
        ("--levels", "0"),
        ("--levels", "9"),
        ("--chunk", "0"),
        ("--lms", "H5", "--ots", "N24_W4"),  # m = 32 with n = 24
        ("--kid", "zz"),
    ):
        code, _, err = run(capsys, "lms", "keygen", "--out", k + "x", "--pub", k + "x.pub", *bad)
        assert code == 2, bad
        assert err, bad
    assert not os.path.exists(k + "x")


def test_sign_until_exhausted(tmp_path, capsys):
    k = str(tmp_path / "k")
    (tmp_path / "m").write_bytes(b"m")
    assert run(capsys, "lms", "keygen", "--out", k, "--pub", k + ".pub", "--levels", "1",
               "--lms", "H5", "--ots", "W1", "--chunk", "16")[0] == 0
    for i in range(32):  # every leaf, one process each
        code, out, err = run(capsys, "lms", "sign", "--key", k, "--msg", str(tmp_path / "m"),
                             "--out", str(tmp_path / ("s%d" % i)))
        assert code == 0, err
        assert ("%d signatures left" % (31 - i)) in out
    assert "0 signatures left" in out
    code, out, err = run(capsys, "lms", "sign", "--key", k, "--msg", str(tmp_path / "m"),
                         "--out", str(tmp_path / "s32"))
    assert code == 1 and err.strip() == "hourglass lms: key exhausted"
    assert not (tmp_path / "s32").exists()
    code, out, _ = run(capsys, "lms", "inspect", k)
    assert "signatures left: 0" in out


def test_help_and_usage_errors(capsys):
    for argv in (("lms", "--help"), ("lms", "keygen", "--help"), ("lms", "sign", "--help"),
                 ("lms", "verify", "--help"), ("lms", "inspect", "--help")):
        code, out, _ = run(capsys, *argv)
        assert code == 0 and "usage: hourglass lms" in out
    code, _, err = run(capsys, "lms")
    assert code == 2 and "usage" in err
    code, _, err = run(capsys, "lms", "verify", "--pub", "p")
    assert code == 2 and "required" in err
    code, _, err = run(capsys, "lms", "frobnicate")
    assert code == 2
    code, _, err = run(capsys, "lms", "--backend", "nope", "inspect", "x")
    assert code == 2


def test_console_script(tmp_path):
    # the installed entry point: real exit codes, stdin message
    if not os.path.exists(HOURGLASS):
        pytest.skip("console script not installed (.venv/bin/hourglass)")
    k = str(tmp_path / "k")
    p = subprocess.run([HOURGLASS, "lms", "keygen", "--out", k, "--pub", k + ".pub",
                        "--levels", "1", "--lms", "H5", "--ots", "W2"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([HOURGLASS, "lms", "sign", "--key", k, "--msg", "-", "--out", k + ".sig"],
                       input=b"from stdin", capture_output=True)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([HOURGLASS, "lms", "verify", "--pub", k + ".pub", "--msg", "-", "--sig", k + ".sig"],
                       input=b"from stdin", capture_output=True)
    assert p.returncode == 0 and p.stdout.strip() == b"valid"
    p = subprocess.run([HOURGLASS, "lms", "verify", "--pub", k + ".pub", "--msg", "-", "--sig", k + ".sig"],
                       input=b"from stdin!", capture_output=True)
    assert p.returncode == 1 and b"invalid signature" in p.stderr
    p = subprocess.run([HOURGLASS, "lms", "verify", "--pub", k + ".pub"], capture_output=True, text=True)
    assert p.returncode == 2 and "required" in p.stderr
    p = subprocess.run([sys.executable, "-m", "hourglass", "lms", "--help"], capture_output=True,
                       text=True, cwd=os.path.join(ROOT, "tools"))
    assert p.returncode == 0 and "keygen" in p.stdout
