# `hourglass device` (tools/hourglass/device_cmd.py): config.json against the
# device's own parser, provisioning (atomic, nothing left behind on failure),
# the inventory, update envelopes (signed, authenticated with the trust anchor
# the device gets, sequence numbers never reused), aiocoap hand-off of the
# OSCORE sequence numbers, board commands and argument errors. The device's
# keygen runs for real (firmware/hg_unix.py) where the device files exist;
# the end-to-end story is host_tests/test_make_run.py.
import json
import os
import stat
import subprocess
import sys

import pytest

from hourglass import cli, device_cmd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_DEVICE = os.path.exists(os.path.join(ROOT, "firmware", "hg_unix.py"))
needs_device = pytest.mark.skipif(not HAS_DEVICE, reason="firmware/hg_unix.py (device side) not in the tree")


def _micropython():
    # the PyPI MicroPython: build/unix/micropython has lib/ frozen from the
    # last build, which would shadow changes to lib/
    p = os.path.join(ROOT, ".venv", "bin", "micropython")
    return p if os.path.exists(p) else sys.executable


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("HOURGLASS_HOME", str(h))
    return h


def _fake_entry(tmp_path, monkeypatch, body):
    p = tmp_path / "fake_hg_unix.py"
    p.write_text("import sys, json\n" + body)
    monkeypatch.setattr(device_cmd, "device_entry", lambda: str(p))
    return p


def _oscore():
    from hourglass import oscore_cmd

    return oscore_cmd.new_context(name="t")


def _config():
    return device_cmd.make_config("t", b"\x01" + bytes(range(32)), _oscore(), [bytes(60)])


# ------------------------------------------------------------------ config


def test_config_passes_own_check():
    cfg = device_cmd.check_config(_config())
    assert cfg["suit"]["components"][0] == {"id": ["617070"], "name": "app", "max_size": 65536}
    assert len(bytes.fromhex(cfg["suit"]["vendor_id"])) == 16
    assert cfg["eat"] == {"mode": "hss", "mac_key": None}


@needs_device
def test_config_accepted_by_device_parser():
    sys.path.insert(0, os.path.join(ROOT, "firmware"))
    try:
        import hg_device
    finally:
        sys.path.pop(0)
    cfg = _config()
    parsed = hg_device.parse_config(json.dumps(cfg))
    assert parsed["ueid"] == bytes.fromhex(cfg["ueid"])
    assert parsed["suit"]["components"][0][1] == "app"
    assert parsed["suit"]["vendor_id"] == bytes.fromhex(cfg["suit"]["vendor_id"])
    hm = device_cmd.make_config("t", b"\x01" + bytes(32), _oscore(), [bytes(60)], eat_mode="hmac",
                                mac_key=bytes(range(32)), kek=bytes(32), update_server="coap://[::1]/fw")
    p = hg_device.parse_config(json.dumps(hm))
    assert p["eat"]["mac_key"] == bytes(range(32)) and p["suit"]["kek"] == bytes(32)


@pytest.mark.parametrize("mutate,field", [
    (lambda c: c.pop("suit"), "suit"),
    (lambda c: c.update(ueid="02" + "00" * 32), "ueid"),
    (lambda c: c.update(ueid="01"), "ueid"),
    (lambda c: c["suit"].update(trust=[]), "suit.trust"),
    (lambda c: c["suit"].update(vendor_id="00"), "suit.vendor_id"),
    (lambda c: c["suit"].update(kek="00" * 16), "suit.kek"),
    (lambda c: c["eat"].update(mode="hmac"), "eat.mac_key"),
    (lambda c: c["oscore"].pop("master_secret"), "oscore"),
    (lambda c: c.update(update_server="http://x"), "update_server"),
    (lambda c: c.update(version=2), "version"),
])
def test_config_errors_name_the_field(mutate, field):
    c = _config()
    mutate(c)
    with pytest.raises(ValueError) as e:
        device_cmd.check_config(c)
    assert str(e.value).startswith(field)


def test_app_version():
    assert device_cmd.app_version('x = 1\nVERSION = "1.2.3"\n') == "1.2.3"
    assert device_cmd.app_version(b"VERSION='2.0'\n") == "2.0"
    assert device_cmd.app_version("# VERSION = '9'\nVERSIONS = 1\n") is None
    assert device_cmd.app_version(b"M\x06\xff\xfe") is None


def test_parse_keygen():
    out = 'hg: something\n{"ueid": "01aa", "eat_pub": "00", "leaves": 5}\n'
    assert device_cmd.parse_keygen(out)["leaves"] == 5
    with pytest.raises(device_cmd.DeviceError):
        device_cmd.parse_keygen("Traceback ...\nImportError: no module named 'eat'\n")


# ------------------------------------------------------------------ provision


@needs_device
def test_provision_unix(home, tmp_path):
    state = tmp_path / "dev"
    inv = device_cmd.provision("d1", state=str(state), home=str(home), address="coap://127.0.0.1:5999",
                               micropython=_micropython())
    cfg = json.loads((state / "config.json").read_text())
    device_cmd.check_config(cfg)
    assert stat.S_IMODE(os.stat(state / "config.json").st_mode) == 0o600
    # the UEID is the one the device made with its key
    kg = subprocess.run([_micropython(), device_cmd.device_entry(), "--state", str(state), "keygen"],
                        stdout=subprocess.PIPE, text=True, check=True)
    dev_ident = device_cmd.parse_keygen(kg.stdout)
    assert cfg["ueid"] == dev_ident["ueid"] == inv["ueid"]
    d = home / "devices" / "d1"
    assert (d / "eat.pub").read_bytes().hex() == dev_ident["eat_pub"] == inv["eat_pub"]
    # the SUIT trust anchor is the host key's public half; the private key is only on the host
    assert cfg["suit"]["trust"] == [(d / "suit.pub").read_bytes().hex()]
    assert not any(n.startswith("suit.key") for n in os.listdir(state))
    rec = json.loads((d / "device.json").read_text())
    assert rec["oscore"] == cfg["oscore"] and rec["sequence"] == 0 and rec["state"] == str(state)
    assert stat.S_IMODE(os.stat(d / "device.json").st_mode) == 0o600
    assert [i["name"] for i in device_cmd.list_devices(str(home))] == ["d1"]
    assert not [n for n in os.listdir(home / "devices") if n.startswith(".")]
    # a second provisioning of the same name or into the used folder is refused
    with pytest.raises(device_cmd.DeviceError, match="already in the inventory"):
        device_cmd.provision("d1", state=str(tmp_path / "other"), home=str(home), micropython=_micropython())
    with pytest.raises(device_cmd.DeviceError, match="not empty"):
        device_cmd.provision("d2", state=str(state), home=str(home), micropython=_micropython())
    assert not (tmp_path / "other").exists()


def test_provision_keygen_failure_leaves_nothing(home, tmp_path, monkeypatch):
    _fake_entry(tmp_path, monkeypatch, "print('boom'); sys.exit(1)\n")
    state = tmp_path / "dev"
    with pytest.raises(device_cmd.DeviceError) as e:
        device_cmd.provision("d1", state=str(state), home=str(home), micropython=sys.executable)
    assert "keygen" in str(e.value) and "boom" in str(e.value)
    assert not state.exists()
    assert os.listdir(home / "devices") == []


def test_provision_bad_keygen_output_keeps_existing_folder_empty(home, tmp_path, monkeypatch):
    _fake_entry(tmp_path, monkeypatch, "open(sys.argv[2] + '/eat', 'w').write('x'); print('no json')\n")
    state = tmp_path / "dev"
    state.mkdir()
    with pytest.raises(device_cmd.DeviceError, match="no JSON line"):
        device_cmd.provision("d1", state=str(state), home=str(home), micropython=sys.executable)
    assert state.exists() and os.listdir(state) == []
    assert os.listdir(home / "devices") == []


def test_provision_uses_the_device_ueid(home, tmp_path, monkeypatch):
    ueid = "01" + "ab" * 32
    _fake_entry(tmp_path, monkeypatch, "print(json.dumps({'ueid': %r, 'eat_pub': '00' * 60, 'leaves': 3}))\n"
                % ueid)
    inv = device_cmd.provision("d1", state=str(tmp_path / "dev"), home=str(home), micropython=sys.executable)
    assert inv["ueid"] == ueid
    assert json.loads((tmp_path / "dev" / "config.json").read_text())["ueid"] == ueid
    # --force wipes a state folder that looks like a device's, not any folder
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "thesis.tex").write_text("x")
    with pytest.raises(device_cmd.DeviceError, match="does not look like"):
        device_cmd.provision("d2", state=str(tmp_path / "junk"), home=str(home), micropython=sys.executable,
                             force=True)
    assert (tmp_path / "junk" / "thesis.tex").exists()
    inv2 = device_cmd.provision("d1", state=str(tmp_path / "dev"), home=str(home), micropython=sys.executable,
                                force=True)
    assert inv2["suit_pub"] != inv["suit_pub"]


def test_provision_hmac_mode_needs_no_keygen(home, tmp_path, monkeypatch):
    _fake_entry(tmp_path, monkeypatch, "sys.exit(7)\n")
    inv = device_cmd.provision("d1", state=str(tmp_path / "dev"), home=str(home), micropython=sys.executable,
                               eat_mode="hmac", kek=True)
    cfg = json.loads((tmp_path / "dev" / "config.json").read_text())
    assert cfg["eat"]["mode"] == "hmac" and len(bytes.fromhex(cfg["eat"]["mac_key"])) == 32
    import cbor

    key = cbor.loads((home / "devices" / "d1" / "eat.key").read_bytes())
    assert key[1] == 4 and key[-1].hex() == cfg["eat"]["mac_key"] and key[2].hex() == inv["ueid"]
    assert inv["suit"]["kek"] == cfg["suit"]["kek"]
    assert "wifi" not in cfg


def test_provision_wifi(home, tmp_path, monkeypatch):
    _fake_entry(tmp_path, monkeypatch, "sys.exit(7)\n")
    device_cmd.provision("w1", state=str(tmp_path / "dev"), home=str(home), micropython=sys.executable,
                         eat_mode="hmac", wifi=("lab", "s3cret"))
    cfg = json.loads((tmp_path / "dev" / "config.json").read_text())
    assert cfg["wifi"] == {"ssid": "lab", "password": "s3cret"}


def test_provision_board_commands(home, tmp_path, monkeypatch):
    calls = []
    ueid = "01" + "cd" * 32

    class R:
        def __init__(self, out=""):
            self.returncode, self.stdout, self.stderr = 0, out, ""

    def fake(cmd, timeout=300):
        calls.append(cmd)
        if cmd[-1] == device_cmd.BOARD_KEYGEN:
            return R(json.dumps({"ueid": ueid, "eat_pub": "11" * 60, "leaves": 9}) + "\n")
        if cmd[3:5] == ["fs", "cp"]:
            sent = json.loads(open(cmd[5]).read())
            assert sent["ueid"] == ueid and sent["hwmodel"] == "hourglass-esp32"
        return R()

    monkeypatch.setattr(device_cmd, "_run_tool", fake)
    monkeypatch.setattr(device_cmd, "find_tool", lambda name, fix: "/usr/bin/" + name)
    inv = device_cmd.provision("b1", port="a0", home=str(home), board="esp32", address="coap://192.0.2.7")
    assert [c[:3] for c in calls] == [["/usr/bin/mpremote", "connect", "a0"]] * 4
    assert calls[0][3:] == ["exec", device_cmd.BOARD_KEYGEN]
    assert calls[2][3:5] == ["fs", "cp"] and calls[2][6] == ":/hg/config.json.tmp"
    assert "os.rename('/hg/config.json.tmp', '/hg/config.json')" in calls[3][4]
    assert inv["port"] == "a0" and inv["ueid"] == ueid and inv["eat_pub"] == "11" * 60
    assert not (home / "devices" / "b1" / "config.json").exists()


def test_provision_board_errors(home, tmp_path, monkeypatch):
    with pytest.raises(device_cmd.DeviceError, match="not found: is the board plugged in"):
        device_cmd.provision("b1", port=str(tmp_path / "ttyUSB9").replace(str(tmp_path), "/dev/nonexistent"),
                             home=str(home))
    monkeypatch.setattr(device_cmd.shutil, "which", lambda name: None)
    monkeypatch.setattr(device_cmd, "_venv_bin", lambda name: None)
    with pytest.raises(device_cmd.DeviceError, match="mpremote not found: install it"):
        device_cmd.provision("b1", port="a0", home=str(home))
    assert not (home / "devices").exists() or os.listdir(home / "devices") == []


# ------------------------------------------------------------------ update


def _inventory(home, tmp_path, monkeypatch):
    _fake_entry(tmp_path, monkeypatch, "print(json.dumps({'ueid': '01' + '00' * 32, 'eat_pub': '00', "
                                       "'leaves': 1}))\n")
    return device_cmd.provision("u1", state=str(tmp_path / "dev"), home=str(home), micropython=sys.executable)


def test_update_envelope_verifies_with_the_provisioned_anchor(home, tmp_path, monkeypatch):
    import lms
    import suit_envelope

    inv = _inventory(home, tmp_path, monkeypatch)
    cfg = json.loads((tmp_path / "dev" / "config.json").read_text())
    app = tmp_path / "app.py"
    app.write_text('VERSION = "1.1.0"\n')
    env1, seq1, v, path = device_cmd.build_update(inv, str(app))
    env2, seq2, _, _ = device_cmd.build_update(device_cmd.load_device("u1"), str(app), "1.1.0")
    assert (seq1, seq2, v) == (1, 2, "1.1.0")
    assert device_cmd.load_device("u1")["sequence"] == 2
    assert open(path, "rb").read() == env1
    lms.register_cose()
    anchor = bytes.fromhex(cfg["suit"]["trust"][0])
    e = suit_envelope.authenticate(env2, [suit_envelope.sign1_verifier(anchor, -46)])
    assert e.sequence_number == 2
    assert e.components == [[b"app"]]
    # another key's envelope does not authenticate
    other = device_cmd.provision("u2", state=str(tmp_path / "dev2"), home=str(home), micropython=sys.executable)
    with pytest.raises(suit_envelope.SuitError):
        suit_envelope.authenticate(env2, [suit_envelope.sign1_verifier(bytes.fromhex(other["suit_pub"]), -46)])


def test_update_envelope_runs_on_the_device_processor(home, tmp_path, monkeypatch):
    # the envelope installs through the device's own SUIT code with the
    # identity config.json gives it
    import hgstore
    import lms
    import suit_envelope
    import suit_processor
    from suit_slots import SlotPlatform

    inv = _inventory(home, tmp_path, monkeypatch)
    cfg = json.loads((tmp_path / "dev" / "config.json").read_text())
    app = tmp_path / "app.py"
    app.write_text('VERSION = "2.0.1"\ndef setup(device):\n    pass\n')
    env, seq, _, _ = device_cmd.build_update(inv, str(app))
    lms.register_cose()
    e = suit_envelope.authenticate(env, [suit_envelope.sign1_verifier(bytes.fromhex(cfg["suit"]["trust"][0]), -46)])
    s = cfg["suit"]
    comps = [([bytes.fromhex(p) for p in c["id"]], c["name"], c["max_size"]) for c in s["components"]]
    pf = SlotPlatform(hgstore.MemoryStorage(), comps, {"vendor_id": bytes.fromhex(s["vendor_id"]),
                                                       "class_id": bytes.fromhex(s["class_id"])})
    suit_processor.process_update(e, pf)
    assert pf.stored_sequence() == seq


def test_update_argument_errors(home, tmp_path, monkeypatch):
    inv = _inventory(home, tmp_path, monkeypatch)
    app = tmp_path / "app.py"
    app.write_text('VERSION = "1.1.0"\n')
    with pytest.raises(device_cmd.DeviceError, match="defines VERSION '1.1.0' but --version is '1.2.0'"):
        device_cmd.build_update(inv, str(app), "1.2.0")
    app.write_text("print(1)\n")
    with pytest.raises(device_cmd.DeviceError, match="defines no VERSION"):
        device_cmd.build_update(inv, str(app))
    with pytest.raises(device_cmd.DeviceError, match="not dotted numbers"):
        device_cmd.build_update(inv, str(app), "one")
    app.write_text('VERSION = "1.0.0"\n' + "#" * 70000)
    with pytest.raises(device_cmd.DeviceError, match="holds 65536"):
        device_cmd.build_update(inv, str(app))
    with pytest.raises(device_cmd.DeviceError, match="no KEK"):
        app.write_text('VERSION = "1.0.0"\n')
        device_cmd.build_update(inv, str(app), encrypt=True)
    # nothing was signed, so no sequence number was used
    assert device_cmd.load_device("u1")["sequence"] == 0


def test_describe_report():
    import suit_report

    ok = suit_report.Report([-16, bytes(32)])
    ok.success()
    assert device_cmd.describe_report(ok.encode())[0] is True
    assert device_cmd.report_code(ok.encode()) == 0
    bad = suit_report.Report([-16, bytes(32)])
    bad.fail(suit_report.SuitError(-5, "old"), 2, 0, 0)
    good, text = device_cmd.describe_report(bad.encode())
    assert not good and "SUIT_ERR_SEQUENCE_NUMBER (-5)" in text and "condition-failed" in text
    assert device_cmd.report_code(bad.encode()) == -5
    assert device_cmd.describe_report(b"\xff")[0] is False


# ------------------------------------------------------------------ OSCORE hand-off


def test_credentials_hand_off_sequence_numbers(home, tmp_path, monkeypatch):
    import oscore
    from hgstore import FileStorage

    inv = _inventory(home, tmp_path, monkeypatch)
    ctx = device_cmd.host_context(inv)
    for _ in range(5):
        ctx.next_piv()
    used = ctx.ssn
    assert used >= 5
    ctx.close()
    out = tmp_path / "ac"
    cpath = device_cmd.credentials(inv, str(out))
    creds = json.loads(open(cpath).read())
    assert list(creds) == ["coap://127.0.0.1:5683/*"]
    seq = json.loads((out / "u1" / "sequence.json").read_text())
    assert seq["next-to-send"] >= used
    settings = json.loads((out / "u1" / "settings.json").read_text())
    assert settings["sender-id_hex"] == inv["oscore"]["peer_id"]
    # aiocoap moves on; the host continues after it
    (out / "u1" / "sequence.json").write_text(json.dumps({"next-to-send": 1000, "received": "unknown"}))
    ctx = device_cmd.host_context(device_cmd.load_device("u1"))
    assert ctx.ssn >= 1000
    ctx.close()
    st = FileStorage(os.path.join(inv["dir"], "oscore"))
    assert oscore.read_record(st.read("host-u1"))[1] >= 1000


# ------------------------------------------------------------------ run / boards


def test_supervise_restarts_on_exit_3():
    codes = [3, 3, 0]
    started = []

    class P:
        def __init__(self, cmd):
            started.append(cmd)
            self.rc = codes.pop(0)

        def wait(self, timeout=None):
            return self.rc

    assert device_cmd.supervise(["dev"], popen=P) == 0
    assert len(started) == 3
    codes[:] = [3, 1]
    started.clear()
    assert device_cmd.supervise(["dev"], popen=P) == 1
    assert len(started) == 2


def test_supervise_real_process(tmp_path):
    # exits 3 twice (restart requested), then 0
    script = tmp_path / "d.py"
    script.write_text("import os, sys\np = %r\nn = int(open(p).read()) if os.path.exists(p) else 0\n"
                      "open(p, 'w').write(str(n + 1))\nsys.exit(3 if n < 2 else 0)\n" % str(tmp_path / "n"))
    assert device_cmd.supervise([sys.executable, str(script)]) == 0
    assert (tmp_path / "n").read_text() == "3"


def test_flash_commands(tmp_path, monkeypatch):
    with pytest.raises(device_cmd.DeviceError, match="make firmware BOARD=esp32"):
        device_cmd.flash_commands("esp32", "/dev/null", firmware=str(tmp_path / "none.bin"))
    fw = tmp_path / "firmware.bin"
    fw.write_bytes(b"\xe9" + bytes(100))
    cmds = device_cmd.flash_commands("esp32", "/dev/null", firmware=str(fw), erase=True)
    assert cmds[0][-1] == "erase-flash"
    assert cmds[1][-4:] == ["write-flash", "-z", "0x1000", str(fw)]
    assert cmds[1][1:5] == ["--chip", "esp32", "--port", "/dev/null"]
    with pytest.raises(device_cmd.DeviceError, match="needs --port"):
        device_cmd.flash_commands("esp32", None, firmware=str(fw))
    hexf = tmp_path / "firmware.hex"
    hexf.write_text(":00000001FF\n")
    monkeypatch.setattr(device_cmd.shutil, "which", lambda n: None)
    with pytest.raises(device_cmd.DeviceError, match="nrfjprog not found.*JLINK USB drive"):
        device_cmd.flash_commands("nrf52840dk", firmware=str(hexf))
    monkeypatch.setattr(device_cmd.shutil, "which", lambda n: "/opt/" + n)
    assert device_cmd.flash_commands("nrf52840dk", firmware=str(hexf)) == [
        ["/opt/nrfjprog", "--program", str(hexf), "--sectorerase", "--verify", "--reset"]]


def test_deploy_commands(tmp_path, monkeypatch):
    monkeypatch.setattr(device_cmd, "find_tool", lambda name, fix: name)
    with pytest.raises(device_cmd.DeviceError, match="make mpy"):
        device_cmd.deploy_commands("a0", str(tmp_path))
    for n in ("cbor.mpy", "coap_msg.mpy", "SIZES.txt"):
        (tmp_path / n).write_bytes(b"M")
    cmds = device_cmd.deploy_commands("a0", str(tmp_path))
    assert cmds == [["mpremote", "connect", "a0", "fs", "cp", str(tmp_path / "cbor.mpy"),
                     str(tmp_path / "coap_msg.mpy"), ":"]]
    cmds = device_cmd.deploy_commands("a0", str(tmp_path), [("x/hg_device.mpy", ":"), ("x/main.py", ":main.py")])
    assert cmds[1] == ["mpremote", "connect", "a0", "fs", "cp", "x/hg_device.mpy", ":"]
    assert cmds[2] == ["mpremote", "connect", "a0", "fs", "cp", "x/main.py", ":main.py"]


@needs_device
def test_app_bundle(tmp_path):
    # the device application compiled for stock firmware, and a main.py that starts it
    files = device_cmd.app_bundle(str(tmp_path))
    names = sorted(os.path.basename(f) for f, _ in files)
    assert names == ["default_app.mpy", "hg_device.mpy", "hg_main.mpy", "main.py"]
    for f, dest in files:
        data = open(f, "rb").read()
        if f.endswith(".mpy"):
            assert data[:2] == b"M\x06" and dest == ":"
        else:
            assert dest == ":main.py" and "hg_main.main()" in data.decode()


def _cli(argv, capsys):
    try:
        rc = cli.main(argv)
    except SystemExit as e:
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("action", ["provision", "list", "show", "status", "reset", "credentials", "update",
                                    "attest", "run", "deploy", "flash", "repl"])
def test_every_action_has_help(action, capsys):
    rc, out, _ = _cli(["device", action, "--help"], capsys)
    assert rc == 0 and "usage: hourglass device " + action in out


def test_cli_errors(home, tmp_path, capsys):
    assert _cli(["device"], capsys)[0] == 2
    assert _cli(["device", "update", "x"], capsys)[0] == 2  # --app or --envelope required
    assert _cli(["device", "provision", "--state", "a", "--port", "b"], capsys)[0] == 2
    rc, _, err = _cli(["device", "status", "nosuch"], capsys)
    assert rc == 1 and "no device 'nosuch' in the inventory" in err
    rc, _, err = _cli(["device", "provision", "--state", str(tmp_path / "s"), "--name", "../x"], capsys)
    assert rc == 2 and "bad device name" in err
    rc, _, err = _cli(["device", "flash", "--board", "esp32", "--port", "/dev/null",
                       "--firmware", str(tmp_path / "no.bin")], capsys)
    assert rc == 1 and "no.bin not found" in err
    rc, _, err = _cli(["device", "repl", "--port", "/dev/nonexistent-tty"], capsys)
    assert rc == 1 and "not found" in err
    rc, out, _ = _cli(["device", "list"], capsys)
    assert rc == 0 and out == ""


def test_readme_commands_exist():
    # every `hourglass X [action]` and `make target` the README shows exists
    import re

    text = open(os.path.join(ROOT, "README.md")).read()
    parser = cli.build_parser()
    top = next(a for a in parser._actions if a.dest == "command").choices
    seen = 0
    for cmd, action in re.findall(r"hourglass (\w+)(?: ([a-z][\w-]*))?", text):
        if cmd not in top:
            continue  # prose: "the hourglass command", "hourglass inventory"
        seen += 1
        subs = [a for a in top[cmd]._actions if a.__class__.__name__ == "_SubParsersAction"]
        if subs and action and not action.startswith(("coap", "http")):
            assert action in subs[0].choices, "README shows `hourglass %s %s`" % (cmd, action)
    assert seen > 20
    makefile = open(os.path.join(ROOT, "Makefile")).read()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    for t in re.findall(r"`make ([a-z][\w-]*)", text):
        assert t in targets, "README shows `make %s`" % t


def test_provision_board_failure_removes_the_config(home, monkeypatch):
    calls = []

    class R:
        def __init__(self, rc=0, out=""):
            self.returncode, self.stdout, self.stderr = rc, out, "" if rc == 0 else "could not enter raw repl"

    def fake(cmd, timeout=300):
        calls.append(cmd[3:])
        if cmd[-1] == device_cmd.BOARD_KEYGEN:
            return R(0, json.dumps({"ueid": "01" + "cd" * 32, "eat_pub": "11" * 60, "leaves": 9}))
        if cmd[3:5] == ["fs", "cp"]:
            return R(1)
        return R()

    monkeypatch.setattr(device_cmd, "_run_tool", fake)
    monkeypatch.setattr(device_cmd, "find_tool", lambda name, fix: name)
    with pytest.raises(device_cmd.DeviceError, match="copying config.json.*could not enter raw repl"):
        device_cmd.provision("b1", port="a0", home=str(home))
    assert "os.remove(f)" in calls[-1][1] and "/hg/config.json.tmp" in calls[-1][1]
    assert os.listdir(home / "devices") == []


def test_update_encrypted(home, tmp_path, monkeypatch):
    # --encrypt: the payload in the envelope is not the app's text, and the
    # device's processor (with the provisioned KEK) installs the plaintext
    import hgcrypto
    import hgstore
    import lms
    import suit_envelope
    import suit_processor
    from suit_slots import SlotPlatform

    _fake_entry(tmp_path, monkeypatch, "print(json.dumps({'ueid': '01' + '00' * 32, 'eat_pub': '00', "
                                       "'leaves': 1}))\n")
    inv = device_cmd.provision("k1", state=str(tmp_path / "dev"), home=str(home), micropython=sys.executable,
                               kek=True)
    cfg = json.loads((tmp_path / "dev" / "config.json").read_text())
    app = tmp_path / "app.py"
    src = b'VERSION = "3.0.0"\n' + b"# secret sauce\n" * 20
    app.write_bytes(src)
    env, seq, _, _ = device_cmd.build_update(inv, str(app), encrypt=True)
    assert b"secret sauce" not in env
    assert not (home / "devices" / "k1" / "kek.bin").exists()
    lms.register_cose()
    e = suit_envelope.authenticate(env, [suit_envelope.sign1_verifier(bytes.fromhex(cfg["suit"]["trust"][0]), -46)])
    s = cfg["suit"]
    kek = bytes.fromhex(s["kek"])
    comps = [([bytes.fromhex(p) for p in c["id"]], c["name"], c["max_size"]) for c in s["components"]]
    pf = SlotPlatform(hgstore.MemoryStorage(), comps, {"vendor_id": bytes.fromhex(s["vendor_id"]),
                                                       "class_id": bytes.fromhex(s["class_id"])},
                      keks=lambda kid, alg: kek)
    suit_processor.process_update(e, pf)
    assert pf.stored_sequence() == seq
    assert [i for i in pf.state["app"][5] if i is not None][-1][0] == hgcrypto.sha256_digest(src)


def test_update_staged_by_a_lean_device_then_its_report(home, tmp_path, monkeypatch, capsys):
    # a board that installs at its restart answers 2.01 with no report; the
    # tool waits for the report of THIS envelope on /suit/report
    import suit_envelope
    import suit_report

    _inventory(home, tmp_path, monkeypatch)
    app = tmp_path / "app.py"
    app.write_text('VERSION = "1.1.0"\n')
    sent = {}

    def push(inv, env, uri=None, timeout=120.0, quiet=False, block_size=None):
        sent["env"], sent["block_size"] = env, block_size
        return 0x41, b""

    class Obj:
        pass

    def report_for(env):
        d = suit_envelope.decode_envelope(env).digest
        r = suit_report.Report([d[0], bytes(d[1])])
        r.success()
        return r.encode()

    answers = []

    def request(inv, method, path, **kw):
        assert (method, path) == (1, "suit/report")
        a = answers.pop(0) if len(answers) > 1 else answers[0]  # the last one stays
        if a is None:
            raise device_cmd.DeviceError("no answer (restarting)")
        ex = Obj()
        ex.response = Obj()
        ex.response.code, ex.response.payload = 0x45, a
        return ex

    monkeypatch.setattr(device_cmd, "push_envelope", push)
    monkeypatch.setattr(device_cmd, "request", request)
    old = report_for(device_cmd.build_update(device_cmd.load_device("u1"), str(app))[0])
    answers[:] = [None, old]  # down, then still the report of an earlier update
    rc = cli.main(["device", "update", "u1", "--app", str(app), "--block-size", "256", "--timeout", "1.5"])
    out = capsys.readouterr().out
    assert rc == 1 and sent["block_size"] == 256
    assert "2.01 Created: authenticated and staged" in out and "no report of this update" in out

    answers[:] = [None]
    real_push = push

    def push_then_report(inv, env, *a, **k):
        answers.append(report_for(env))
        return real_push(inv, env, *a, **k)

    monkeypatch.setattr(device_cmd, "push_envelope", push_then_report)
    rc = cli.main(["device", "update", "u1", "--app", str(app), "--timeout", "10"])
    out = capsys.readouterr().out
    assert rc == 0 and sent["block_size"] is None, out
    assert "after the restart: SUIT report: success" in out
    assert "the device restarted into the new app" in out


def test_block_sizes():
    assert [device_cmd.block_szx(16 << n) for n in range(7)] == list(range(7))
    for bad in (0, 100, 2048):
        with pytest.raises(device_cmd.DeviceError, match="one of 16, 32"):
            device_cmd.block_szx(bad)
    assert device_cmd.BOARD_BLOCK_SIZE["qemu_an386"] == 512
