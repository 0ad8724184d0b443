# `hourglass oscore`: provisioning files, aiocoap credentials (checked by
# loading them with aiocoap and comparing its derived keys with the
# device's), the device storage record, refusals.
import json
import os

import pytest

import oscore
from hourglass import cli, oscore_cmd


def _run(*args):
    return cli.main(["oscore"] + list(args))


def test_new_context_show_and_refusals(tmp_path, capsys):
    f = str(tmp_path / "dev.json")
    assert _run("new-context", "--out", f, "--device-id", "d1", "--peer-id", "", "--id-context", "0a0b",
                "--name", "lamp") == 0
    p = json.load(open(f))
    assert p["format"] == "hourglass-oscore-1" and p["name"] == "lamp" and p["device_id"] == "d1"
    assert len(bytes.fromhex(p["master_secret"])) == 16 and len(bytes.fromhex(p["master_salt"])) == 8
    assert oct(os.stat(f).st_mode & 0o777) == "0o600"
    assert _run("new-context", "--out", f) == 1  # never silently replaces keys
    assert "exists" in capsys.readouterr().err
    assert _run("show", f) == 0
    out = capsys.readouterr().out
    assert "id_context: 0a0b" in out and p["master_secret"] not in out
    for bad in (["--device-id", "zz"], ["--device-id", "0102030405060708"], ["--window", "8"],
                ["--device-id", "01", "--peer-id", "01"], ["--algorithm", "A128GCM"]):
        assert _run("new-context", "--out", str(tmp_path / "x.json"), *bad) == 1, bad
    p["master_secret"] = "nothex"
    json.dump(p, open(f, "w"))
    assert _run("show", f) == 1


def test_to_aiocoap_matches_aiocoap_derivation(tmp_path):
    aioscore = pytest.importorskip("aiocoap.oscore")
    params = oscore_cmd.new_context(name="dev", device_id=b"\xd1", peer_id=b"\xc1", id_context=b"\x99")
    f = str(tmp_path / "dev.json")
    oscore_cmd._write(f, params)
    assert _run("to-aiocoap", f, "--out", str(tmp_path / "aio"), "--uri", "coap://device.local/*") == 0
    creds = json.load(open(tmp_path / "aio" / "credentials.json"))
    basedir = creds["coap://device.local/*"]["oscore"]["basedir"]
    theirs = aioscore.FilesystemSecurityContext(basedir)
    s = oscore._params_static(params)
    device = oscore.SecurityContext(s[2], s[4], s[5], s[3], s[6], s[1], s[7])
    # aiocoap is the peer: its sender is the device's recipient
    assert theirs.sender_id == device.recipient_id and theirs.recipient_id == device.sender_id
    assert theirs.sender_key == device.recipient_key and theirs.recipient_key == device.sender_key
    assert theirs.common_iv == device.common_iv and theirs.id_context == device.id_context
    theirs._destroy()
    # server role: a ":name" entry for the same directory; same parameters
    # leave the directory (and aiocoap's sequence.json) alone
    seq = tmp_path / "aio" / "dev" / "sequence.json"
    seq.write_text('{"next-to-send": 77, "received": "unknown"}')
    assert _run("to-aiocoap", f, "--out", str(tmp_path / "aio"), "--role", "server") == 0
    assert list(json.load(open(tmp_path / "aio" / "credentials.json"))) == [":dev"]
    assert json.load(open(seq))["next-to-send"] == 77
    # other keys into the same directory: refused unless --force
    other = oscore_cmd.new_context(name="dev", device_id=b"\xd1", peer_id=b"\xc1")
    f2 = str(tmp_path / "other.json")
    oscore_cmd._write(f2, other)
    assert _run("to-aiocoap", f2, "--out", str(tmp_path / "aio")) == 1
    assert _run("to-aiocoap", f2, "--out", str(tmp_path / "aio"), "--force") == 0
    assert not seq.exists()


def test_device_record(tmp_path):
    params = oscore_cmd.new_context(name="dev", device_id=b"\x01", peer_id=b"")
    f = str(tmp_path / "dev.json")
    oscore_cmd._write(f, params)
    rec = str(tmp_path / "oscore.dev")
    assert _run("device-record", f, "--out", rec) == 0
    static, bound = oscore.read_record(open(rec, "rb").read())
    assert bound == 0 and static[4] == b"\x01" and static[5] == b""
    from hgstore import FileStorage

    st = FileStorage(str(tmp_path / "oscore"))
    ctx = oscore.load(st, "dev")
    assert ctx.sender_id == b"\x01" and ctx.ssn == 0
    ctx.next_piv()
    assert oscore.load(FileStorage(str(tmp_path / "oscore")), "dev").ssn == 16
