# The device application (firmware/hg_unix.py + firmware/hg_device.py) as a
# process on loopback, driven the way a fleet operator would: a state folder
# provisioned directly (keygen on the device, then config.json), our OSCORE
# client (lib/coap + lib/oscore under CPython) for the requests, the host
# tools for the update envelopes (`hourglass lms keygen`, `hourglass suit
# create`) and lib/eat for the tokens.
#
# One scenario (each step needs the state the previous one left):
#   factory app 1.0.0 -> /status, /.well-known/core, plain request refused,
#   Observe /sensors/temperature, /led, /attest (token verified) ->
#   update to 1.1.0 (2.04 + report, exit 3) -> restart: 1.1.0 in trial ->
#   confirmed -> the same envelope again: 4.09, report says sequence number ->
#   a forged envelope: 4.01 -> an app that fails to start: trial restarts
#   until the roll-back to 1.1.0 -> /reset -> damaged config: provisioning.
# Plus: a config.json missing a field; keygen idempotence.
import asyncio
import json
import os
import subprocess
import sys
import time

import cbor2
import pytest

import cbor
import coap_udp
import eat
import lms
import oscore
import suit_report
from coap_client import Client
from coap_ep import Endpoint
from hgstore import MemoryStorage
from hourglass import oscore_cmd
from oscore_client import OSCOREClient
from procs import free_udp_port, stop_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HG_UNIX = os.path.join(ROOT, "firmware", "hg_unix.py")
VENDOR = "fa6b4a53d5ad5fdfbe9de663e4d41ffe"
CLASS = "1492af1425695e48bf429b2d51f2ab45"
GET, POST, PUT = 1, 2, 3


def _interpreter():
    for p in (os.environ.get("HG_MICROPYTHON"), os.path.join(ROOT, "build", "unix", "micropython"),
              os.path.join(ROOT, ".venv", "bin", "micropython")):
        if p and os.path.exists(p):
            return p
    return sys.executable


def _hourglass(*args):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tools"))
    r = subprocess.run([sys.executable, "-m", "hourglass"] + [str(a) for a in args], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _keygen(state):
    r = subprocess.run([_interpreter(), HG_UNIX, "--state", str(state), "keygen", "--lms-height", "5"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


class Device:
    def __init__(self, state, port):
        self.args = [_interpreter(), HG_UNIX, "--state", str(state), "--port", str(port),
                     "--host", "127.0.0.1"]
        self.port = port
        self.log = str(state) + ".log"
        self.proc = None
        self.starts = 0

    def start(self):
        self.out = open(self.log, "a")
        self.proc = subprocess.Popen(self.args, stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.text().count("hg: serving") >= self.starts + 1:
                self.starts += 1
                return
            if self.proc.poll() is not None:
                self.out.close()
                return  # exited at boot (e.g. a failing trial app): the caller checks
            time.sleep(0.05)
        raise RuntimeError("device did not start: " + self.text())

    def text(self):
        with open(self.log) as f:
            return f.read()

    def wait_exit(self, timeout=20):
        rc = self.proc.wait(timeout)
        self.out.close()
        return rc

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            stop_process(self.proc)
            self.out.close()


def _client_ctx(params):
    # the peer's side of the device's provisioning record: IDs swapped
    cp = dict(params, device_id=params["peer_id"], peer_id=params["device_id"], name="peer")
    st = MemoryStorage()
    oscore.provision(st, "peer", cp)
    return oscore.load(st, "peer")


def request(port, path, method=GET, ctx=None, payload=b"", cf=None, accept=None, timeout=60):
    """One request (OSCORE when ctx is given); the response Message."""

    async def run():
        ep = Endpoint()
        oc = OSCOREClient(ep)
        cl = Client(oc)
        t = coap_udp.UDPTransport(ep, "127.0.0.1", 0)
        t.start()
        try:
            if ctx is not None:
                oc.add_peer(t.peer("127.0.0.1", port), ctx)
            ac = coap_udp.AsyncClient(t, cl)
            ex = await asyncio.wait_for(ac.request(method, "127.0.0.1", port, path, payload=payload,
                                                   cf=cf, accept=accept), timeout)
        finally:
            t.close()
        assert ex.error is None, ex.error
        return ex.response

    return asyncio.run(run())


def observe(port, path, ctx, count):
    async def run():
        ep = Endpoint()
        oc = OSCOREClient(ep)
        cl = Client(oc)
        t = coap_udp.UDPTransport(ep, "127.0.0.1", 0)
        t.start()
        got = []
        try:
            oc.add_peer(t.peer("127.0.0.1", port), ctx)
            ac = coap_udp.AsyncClient(t, cl)
            await asyncio.wait_for(ac.observe("127.0.0.1", port, path, count=count,
                                              on_notify=lambda ex, m: got.append(m)), 30)
        finally:
            t.close()
        return got

    return asyncio.run(run())


def _code(m):
    return "%d.%02d" % (m.code >> 5, m.code & 31)


def _status(port, ctx):
    r = request(port, "status", ctx=ctx)
    assert _code(r) == "2.05" and r.opt_uint(12) == 60
    return cbor.loads(bytes(r.payload))


def _write_config(state, params, key, trust_pub, **over):
    cfg = {
        "version": 1, "name": "dev-1", "ueid": key["ueid"], "oemid": "a1b2c3",
        "hwmodel": "virtual-unix", "hwversion": "1.0", "oscore": params,
        "suit": {"trust": [trust_pub], "kek": None, "vendor_id": VENDOR, "class_id": CLASS,
                 "components": [{"id": ["00"], "name": "app", "max_size": 16384}]},
        "eat": {"mode": "hss", "mac_key": None}, "update_server": None,
    }
    cfg.update(over)
    tmp = os.path.join(str(state), "config.json.tmp")
    with open(tmp, "w") as f:
        json.dump(cfg, f)
    os.rename(tmp, os.path.join(str(state), "config.json"))
    return cfg


def _envelope(tmp, key, seq, version, extra=""):
    src = tmp / ("app-%s.py" % version)
    src.write_text('VERSION = "%s"\n%s\n'
                   'from coap_msg import CF_TEXT, CONTENT, response\n\n\n'
                   'def setup(device):\n'
                   '    device.add("hello", lambda req: response(CONTENT, b"hello from %s", CF_TEXT))\n'
                   % (version, extra, version))
    spec = tmp / ("spec-%s.json" % version)
    spec.write_text(json.dumps({
        "sequence-number": seq, "vendor-id": VENDOR, "class-id": CLASS,
        "components": [{"id": ["00"], "file": src.name, "integrated": True, "slots": True}]}))
    out = tmp / ("app-%s.suit" % version)
    _hourglass("suit", "create", spec, "--key", key, "--out", out)
    return out.read_bytes()


def _forge(envelope):
    """The envelope with one byte of its COSE_Sign1 signature flipped."""
    env = cbor2.loads(envelope)
    m = dict(env.value if isinstance(env, cbor2.CBORTag) else env)
    aw = list(cbor2.loads(m[2]))
    sign1 = cbor2.loads(aw[1])
    parts = list(sign1.value)
    sig = bytearray(parts[3])
    sig[len(sig) // 2] ^= 1
    parts[3] = bytes(sig)
    aw[1] = cbor2.dumps(cbor2.CBORTag(sign1.tag, parts))
    m[2] = cbor2.dumps(aw)
    return cbor2.dumps(cbor2.CBORTag(107, m))


@pytest.fixture
def world(tmp_path):
    state = tmp_path / "state"
    key = _keygen(state)
    params = oscore_cmd.new_context(name="dev", device_id=b"\xd1", peer_id=b"\xc1")
    trust = tmp_path / "trust.key"
    _hourglass("lms", "keygen", "--out", trust, "--pub", tmp_path / "trust.pub", "--levels", "2",
               "--lms", "H5", "--ots", "W4")
    pub = (tmp_path / "trust.pub").read_bytes().hex()
    _write_config(state, params, key, pub)
    dev = Device(state, free_udp_port())
    yield {"tmp": tmp_path, "state": state, "key": key, "params": params, "trust": trust,
           "pub": pub, "dev": dev}
    dev.stop()


def test_device_lifecycle(world):
    dev = world["dev"]
    tmp = world["tmp"]
    port = dev.port
    ctx = _client_ctx(world["params"])
    dev.start()

    # -- factory app
    st = _status(port, ctx)
    assert st["version"] == "1.0.0" and st["mode"] == "normal" and st["name"] == "dev-1"
    assert st["slots"][0]["name"] == "app" and st["slots"][0]["active_slot"] == 0
    assert st["slots"][0]["trial"] is False and st["suit_sequence"] == -1 and st["bootcount"] == 1
    r = request(port, "status", ctx=ctx, accept=50)
    assert r.opt_uint(12) == 50 and json.loads(bytes(r.payload))["version"] == "1.0.0"
    assert _code(request(port, "status", ctx=ctx, accept=0)) == "4.06"
    assert _code(request(port, "status")) == "4.01"  # plain CoAP to a protected resource
    wk = bytes(request(port, ".well-known/core").payload).decode()
    for p in ("</status>", "</sensors/temperature>", "</led>", "</attest>", "</suit/manifest>",
              "</suit/report>", "</reset>", "</hello>"):
        assert p in wk, wk
    assert 'rt="hg.status"' in wk and "ct=263" in wk and ";obs" in wk
    assert bytes(request(port, "hello", ctx=ctx).payload) == b"hello from app 1.0.0"

    # -- sensors and LED
    notes = observe(port, "sensors/temperature", ctx, 2)
    assert len(notes) >= 2
    for m in notes:
        assert 19.9 <= float(bytes(m.payload).decode()) <= 23.1
    r = request(port, "sensors/temperature", ctx=ctx, accept=60)
    assert isinstance(cbor.loads(bytes(r.payload)), float)
    assert _code(request(port, "led", PUT, ctx=ctx, payload=b"1")) == "2.04"
    assert bytes(request(port, "led", ctx=ctx).payload) == b"1"
    assert _code(request(port, "led", PUT, ctx=ctx, payload=b"7")) == "4.00"
    assert "hg: led on" in dev.text()

    # -- attestation
    nonce = os.urandom(16)
    r = request(port, "attest", POST, ctx=ctx, payload=nonce, cf=42)
    assert _code(r) == "2.05" and r.opt_uint(12) == eat.CF_EAT_CWT
    ueid = bytes.fromhex(world["key"]["ueid"])
    cose_key = lms.encode_cose_key(bytes.fromhex(world["key"]["eat_pub"]), kid=ueid)
    tok = eat.verify(bytes(r.payload), cose_key, nonce)
    assert tok.claims[eat.C_UEID] == ueid
    assert tok.claims[eat.C_SWVERSION] == ["1.0.0", 16384]
    assert tok.claims[eat.C_HWMODEL] == b"virtual-unix" and tok.claims[eat.C_BOOTCOUNT] == 1
    assert "app" in eat.components(tok.claims)
    with pytest.raises(eat.EATError):
        eat.verify(bytes(r.payload), cose_key, os.urandom(16))

    # -- update to 1.1.0 (integrated payload, Block1 upload, separate response)
    env11 = _envelope(tmp, world["trust"], 1, "1.1.0")
    assert len(env11) > 1024  # more than one block
    r = request(port, "suit/manifest", POST, ctx=ctx, payload=env11, cf=42)
    assert _code(r) == "2.04", bytes(r.payload)
    rep = suit_report.decode(bytes(r.payload))
    assert rep["result"] is True
    assert dev.wait_exit() == 3
    assert "update installed: sequence 1" in dev.text()

    # -- restart: the new app runs as a trial, then is confirmed
    dev.start()
    st = _status(port, ctx)
    assert st["version"] == "1.1.0" and st["bootcount"] == 2 and st["suit_sequence"] == 1
    slot = st["slots"][0]
    assert slot["active_slot"] == 1 and slot["trial"] is True and slot["sequence"] == 1
    assert bytes(request(port, "hello", ctx=ctx).payload) == b"hello from 1.1.0"
    deadline = time.time() + 10
    while "trial confirmed" not in dev.text() and time.time() < deadline:
        time.sleep(0.1)
    st = _status(port, ctx)
    assert st["slots"][0]["trial"] is False and st["slots"][0]["active_slot"] == 1

    # -- the same envelope again: anti-rollback
    r = request(port, "suit/manifest", POST, ctx=ctx, payload=env11, cf=42)
    assert _code(r) == "4.09"
    rep = suit_report.decode(bytes(r.payload))
    assert rep["result"]["code"] == -5  # SUIT_ERR_SEQUENCE_NUMBER
    r = request(port, "suit/report", ctx=ctx)
    assert suit_report.decode(bytes(r.payload))["result"]["code"] == -5

    # -- a forged envelope (one signature byte flipped): not authentic
    r = request(port, "suit/manifest", POST, ctx=ctx, payload=_forge(_envelope(tmp, world["trust"], 2, "1.1.1")),
                cf=42)
    assert _code(r) == "4.01"
    assert suit_report.decode(bytes(r.payload))["result"]["code"] == -6
    assert _status(port, ctx)["version"] == "1.1.0"

    # -- an app that does not start: the trial restarts until the roll-back
    env12 = _envelope(tmp, world["trust"], 3, "1.2.0", extra='raise ValueError("broken on purpose")')
    r = request(port, "suit/manifest", POST, ctx=ctx, payload=env12, cf=42)
    assert _code(r) == "2.04"
    assert dev.wait_exit() == 3
    for _ in range(6):
        dev.start()
        if dev.proc.poll() is None or dev.wait_exit() != 3:
            break
    text = dev.text()
    assert "app failed in trial" in text and "rolled-back" in text
    st = _status(port, ctx)
    assert st["version"] == "1.1.0" and st["slots"][0]["active_slot"] == 1
    assert st["slots"][0]["trial"] is False and st["suit_sequence"] == 3

    # -- /reset
    assert _code(request(port, "reset", POST, ctx=ctx)) == "2.04"
    assert dev.wait_exit() == 3

    # -- damaged config: provisioning mode, only /status (plain)
    (world["state"] / "config.json").write_text('{"version": 1, "name": ')
    dev.start()
    st = cbor.loads(bytes(request(port, "status").payload))
    # MicroPython 1.25's json.loads takes a truncated object without an
    # error: then the first field it lacks is named instead
    assert st["mode"] == "unprovisioned"
    assert st["problem"] in ("config.json is not JSON", "missing field name"), st["problem"]
    assert _code(request(port, "led")) == "4.04"
    assert "hg: provisioning mode: " + st["problem"] in dev.text()


def test_missing_field_and_keygen_idempotent(world):
    key2 = _keygen(world["state"])
    assert key2["ueid"] == world["key"]["ueid"] and key2["eat_pub"] == world["key"]["eat_pub"]
    assert key2["leaves"] == 1024
    cfg = _write_config(world["state"], world["params"], world["key"], world["pub"])
    del cfg["suit"]["trust"]
    with open(os.path.join(str(world["state"]), "config.json"), "w") as f:
        json.dump(cfg, f)
    dev = world["dev"]
    dev.start()
    st = cbor.loads(bytes(request(dev.port, "status").payload))
    assert st["mode"] == "unprovisioned" and st["problem"] == "missing field suit.trust"
    assert "hg: provisioning mode: missing field suit.trust" in dev.text()
    dev.stop()
    # a UEID that is not the device key's
    _write_config(world["state"], world["params"], world["key"], world["pub"], ueid="01" + "00" * 32)
    dev.start()
    st = cbor.loads(bytes(request(dev.port, "status").payload))
    assert st["problem"] == "ueid does not match the device's EAT key"


class _Store:
    """firmware/coap_demo.py as a plain CoAP file server: /store holds what
    was PUT there."""

    def __init__(self, tmp, name):
        self.port = free_udp_port()
        self.log = open(str(tmp / (name + ".log")), "w")
        self.proc = subprocess.Popen([_interpreter(), os.path.join(ROOT, "firmware", "coap_demo.py"),
                                      "--host", "127.0.0.1", "--port", str(self.port), "--quiet"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.uri = "coap://127.0.0.1:%d/store" % self.port

    def put(self, data):
        deadline = time.time() + 20
        while True:
            try:
                r = request(self.port, "store", PUT, payload=data, timeout=2)
                assert _code(r) == "2.04"
                return
            except asyncio.TimeoutError:
                if time.time() > deadline:
                    raise

    def stop(self):
        stop_process(self.proc)
        self.log.close()


def test_update_pulled_over_coap(world):
    """The envelope by URI (text/plain) and its payload from a coap:// URI
    in the manifest: both fetched block-wise by the device (CoapFetcher)."""
    tmp = world["tmp"]
    payload_srv = _Store(tmp, "payload")
    envelope_srv = _Store(tmp, "envelope")
    dev = world["dev"]
    ctx = _client_ctx(world["params"])
    try:
        app = ('VERSION = "2.0.0"\n# padding so the payload spans several blocks\n'
               + "#" * 3000 + "\n")
        (tmp / "app2.py").write_text(app)
        payload_srv.put(app.encode())
        (tmp / "spec2.json").write_text(json.dumps({
            "sequence-number": 5, "vendor-id": VENDOR, "class-id": CLASS,
            "components": [{"id": ["00"], "file": "app2.py", "uri": payload_srv.uri, "slots": True}]}))
        _hourglass("suit", "create", tmp / "spec2.json", "--key", world["trust"], "--out", tmp / "app2.suit")
        envelope_srv.put((tmp / "app2.suit").read_bytes())
        dev.start()
        r = request(dev.port, "suit/manifest", POST, ctx=ctx, payload=envelope_srv.uri.encode(), cf=0)
        assert _code(r) == "2.04", bytes(r.payload)
        assert suit_report.decode(bytes(r.payload))["result"] is True
        assert dev.wait_exit() == 3
        assert "update: fetching " + envelope_srv.uri in dev.text()
        dev.start()
        # no request yet: the trial is confirmed by the health time alone
        deadline = time.time() + 15
        while "trial confirmed (app), app 2.0.0" not in dev.text() and time.time() < deadline:
            time.sleep(0.1)
        st = _status(dev.port, ctx)
        assert st["version"] == "2.0.0" and st["suit_sequence"] == 5
        assert st["slots"][0]["trial"] is False and st["slots"][0]["active_slot"] == 1
        # a URI that answers 4.04: 5.02 and a report
        r = request(dev.port, "suit/manifest", POST, ctx=ctx, payload=b"coap://127.0.0.1:%d/nothing"
                    % envelope_srv.port, cf=0)
        assert _code(r) == "5.02"
        assert suit_report.decode(bytes(r.payload))["result"]["code"] == -11
    finally:
        payload_srv.stop()
        envelope_srv.stop()


def test_hmac_attestation_then_safe_mode(world):
    mac_key = os.urandom(32)
    cfg = _write_config(world["state"], world["params"], world["key"], world["pub"],
                        eat={"mode": "hmac", "mac_key": mac_key.hex()})
    dev = world["dev"]
    dev.start()
    ctx = _client_ctx(world["params"])
    nonce = os.urandom(32)
    r = request(dev.port, "attest", POST, ctx=ctx, payload=cbor.dumps(nonce), cf=60)
    assert _code(r) == "2.05"
    ueid = bytes.fromhex(cfg["ueid"])
    tok = eat.verify(bytes(r.payload), eat.mac_cose_key(mac_key, eat.ALG_HMAC_256_256, ueid), nonce)
    assert tok.alg == eat.ALG_HMAC_256_256 and tok.claims[eat.C_SWVERSION] == ["1.0.0", 16384]
    with pytest.raises(eat.EATError):
        eat.verify(bytes(r.payload), eat.mac_cose_key(os.urandom(32), eat.ALG_HMAC_256_256, ueid), nonce)
    # safe mode (DIR/SAFE): no app, only /status (OSCORE)
    dev.stop()
    (world["state"] / "SAFE").write_text("")
    dev.start()
    st = _status(dev.port, ctx)
    assert st["mode"] == "safe" and st["version"] is None
    assert _code(request(dev.port, "led", ctx=ctx)) == "4.04"
    assert _code(request(dev.port, "hello", ctx=ctx)) == "4.04"
