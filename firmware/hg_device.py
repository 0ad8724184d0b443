# The hourglass device application (issue #8): configuration, resources,
# SUIT updates, EAT attestation and the trial-boot flow, on top of lib/.
# Portable (CPython, MicroPython unix port, boards); sans-I/O towards the
# network: the transport (firmware/hg_unix.py, firmware/hg_main.py) moves
# datagrams through dev.ep and calls dev.tick(now_ms) every TICK_MS.
#
#   dev = Device(state_dir, hw=None, safe=False).start()
#   dev = Device(None, storage=fn, config=text_or_dict, safe=False).start()
#   ... transport loop: ep = dev.ep; dev.tick(now) ...
#   dev.exit_code: None while serving; EXIT_RESTART (3) once a restart is
#   due (update installed, POST /reset, trial not confirmed in time)
#   dev.close()
#
# State folder (DIR; /hg on boards), all records through hgstore.FileStorage:
#   config.json     written by host provisioning (tmp + rename); read here
#   oscore.<name>   the OSCORE context and its sequence reservation
#   eat, eat.*      the EAT identity and HSS key (made ON the device: keygen)
#   suit.suit.*     SUIT slots, state and anti-rollback sequence (suit_slots)
#   hg.boots        boot count          hg.report   the last SUIT report
#   hg.update       (lean) an envelope staged for the next boot, or empty
#   SAFE            (a file) safe mode: no app, only /status
# Without a filesystem (the qemu board, firmware/hg_qemu.py): state_dir None,
# storage=fn(sub) -> a storage object (hgstore interface) for each of the
# subs "hg", "oscore", "eat", "suit" (the names above without DIR/), and
# config= the config.json text or an already parsed dict. .mpy apps need a
# folder (they are imported from one) and fail to load there.
#
# lean=True (the 64 KiB qemu board): the modules of SUIT and EAT (about 20 KB
# of heap once imported, frozen or not: function and class objects, module
# dicts) are imported only while they work and dropped from sys.modules
# afterwards (LEAN_DROP), so their heap comes back: the SUIT platform
# exists at boot, during an update and until a trial is confirmed (/status
# and the EAT measurements use what it said last); the EAT signer is loaded
# for each token and closed (its leaf reservation given back); the /attest
# resource (eat_resource) is made for each request and keeps its one cached
# token here for the Block2 continuations (only a token larger than one
# block, until its last block went out; blocks are 512 bytes); the SUIT verifiers are made for each update and unloaded before it
# is processed (_authenticate_lean). GET /status adds "heap_block", the
# largest free block (fragmentation, not only the total, decides whether a
# request fits) and "heap_total".
# upload=: a preallocated bytearray that /suit/manifest bodies (and fetched
# envelopes) go into instead of a heap buffer per update; larger ones get
# 4.13. The qemu board passes a staging area outside the heap (hg_qemu).
#
# Boot: config -> SUIT Boot.select() (trial / rollback) -> app -> serve ->
# Boot.confirm() once the app has run health_ms (HEALTH_MS) or answered an
# OSCORE request, whichever comes first. A trial not confirmed by the end
# of its window, or an app that fails to load during a trial, restarts
# (the next select() counts the trial down and rolls back).
#
# Config problems (missing file, bad JSON, a missing or mistyped field, no
# EAT key, a UEID that is not the key's): provisioning mode. The console
# says what is wrong; only /.well-known/core and /status (plain CoAP,
# {"mode": "unprovisioned", "problem": ...}) answer.
#
# The app: the ACTIVE slot of component "app", Python source whose top
# level sets VERSION = "x.y.z" and may define setup(device) (device: an
# AppContext: add(path, handler, **kw) an OSCORE resource, log(text),
# on_tick(fn(now_ms)), notify(path)); exec'd into a fresh dict. A slot
# that starts with the .mpy magic b"M" is imported from DIR/hgapp.mpy.
# The first boot seeds slot 0 of "app" with FACTORY_IMAGE, which stands for
# the frozen default_app module: the factory app is then an ordinary
# installed image, so an update of it runs as a trial and can roll back.
#
# Resources (OSCORE-protected but /.well-known/core):
#   /status               GET  CBOR map (Accept 50: JSON)
#   /sensors/temperature  GET, observable; text/plain "21.7" (Accept 60: CBOR)
#   /led                  GET/PUT "0"/"1"
#   /attest               POST nonce -> EAT (eat_resource)
#   /suit/manifest        POST an envelope (CF 42, 60 or none; Block1 up to
#                         MAX_ENVELOPE) or text/plain (CF 0) the coap:// URI of
#                         one; answered separately once processed (below)
#   /suit/report          GET the last SUIT report (CBOR), 4.04 if none
#   /reset                POST 2.04, then restart
# /suit/manifest answers 2.04 + the SUIT report (CBOR) when the update is
# installed (then restarts into the trial), else the report with:
#   4.00 malformed/unsupported manifest, a payload that does not match
#   4.01 authentication failed (no trusted signature, manifest digest)
#   4.03 not for this device (vendor/class condition), update refused
#        while a trial is not confirmed
#   4.09 sequence number not greater than the installed one
#   4.13 too large (envelope or image over a cap)
#   5.02 a payload or the envelope URI could not be fetched
#   5.00 anything else (write failed, ...)
#   5.03 another update is being processed
# lean=True: 2.01 Created (no payload, Location-Path suit/report) instead of
# 2.04 once the envelope is authenticated, newer than the installed one and
# no trial is running: it is kept in the state ("hg.update") and installed
# at the restart that follows, before anything else takes heap (the 64 KiB
# board cannot process it next to the servers); the report of that install
# is at /suit/report after the restart. Refusals answer as above, at once.
import gc
import sys

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import binascii
import json

import cbor
from coap_msg import (
    BLOCK1,
    CF_CBOR,
    CF_JSON,
    CF_OCTET_STREAM,
    CF_TEXT,
    CHANGED,
    CONTENT,
    CREATED,
    BAD_REQUEST,
    UNAUTHORIZED,
    FORBIDDEN,
    NOT_FOUND,
    NOT_ACCEPTABLE,
    CONFLICT,
    REQUEST_ENTITY_TOO_LARGE,
    INTERNAL_SERVER_ERROR,
    SERVICE_UNAVAILABLE,
    CoAPResponseError,
    response,
)
from coap_server import M_GET, M_POST, M_PUT, SEPARATE, Server

EXIT_RESTART = const(3)
HEALTH_MS = const(5000)
TICK_MS = const(100)
TEMP_MS = const(2000)  # notification interval of /sensors/temperature
CONFIRM_WINDOW_MS = const(60000)  # trial not confirmed by then: restart
MAX_ENVELOPE = const(65536)
MAX_CONFIG = const(8192)
MAX_APP_TICKS = const(4)
FETCH_TIMEOUT_MS = const(60000)
_EXIT_GRACE_MS = const(300)  # let the last response leave before restarting
_EXIT_MAX_MS = const(5000)  # ... but do not wait for its ACK longer than this
_TMASK = const(0x3FFFFFFF)
_THALF = const(0x20000000)
_CF_SUIT_IN = (None, CF_TEXT, CF_OCTET_STREAM, CF_CBOR)
_BAD_GATEWAY = const(0xA2)  # 5.02
_LOCATION_PATH = const(8)  # coap_msg.LOCATION_PATH
APP = "app"
FACTORY_IMAGE = b"# hourglass factory app (frozen default_app)\n"
_CF_EAT_CWT = const(263)  # eat.CF_EAT_CWT (application/eat+cwt, RFC 9782)
_SEMVER = const(16384)  # CoSWID version-scheme semver (swversion)
_MULTIPART = const(1)  # CoSWID version-scheme multipartnumeric (hwversion)

# Imported only on demand in lean mode and dropped afterwards (see the top).
LEAN_DROP = ("eat", "eat_resource", "cose", "lms", "lms_py", "lms_state", "suit_envelope",
             "suit_platform", "suit_slots", "suit_boot", "suit_report", "suit_processor",
             "suit_fetch", "suit_crypt", "coap_link", "coap_client")

# SUIT_ERR_* -> CoAP code (suit_envelope numbers; see the top)
_SUIT_CODES = {
    -1: BAD_REQUEST, -2: BAD_REQUEST, -3: BAD_REQUEST, -4: FORBIDDEN, -5: CONFLICT,
    -6: UNAUTHORIZED, -7: BAD_REQUEST, -8: FORBIDDEN, -9: REQUEST_ENTITY_TOO_LARGE,
    -10: BAD_REQUEST, -11: _BAD_GATEWAY, -12: INTERNAL_SERVER_ERROR,
}


def now_ms():
    try:
        import time

        return time.ticks_ms() & _TMASK
    except AttributeError:
        import time

        return int(time.monotonic() * 1000) & _TMASK


def tdiff(a, b):
    return ((a - b + _THALF) & _TMASK) - _THALF


def _hex(b):
    return binascii.hexlify(bytes(b)).decode()


def heap_free():
    """(free bytes, largest free block) after a collection, (None, None)
    where the heap is not measured (CPython). The largest block is found by
    trying allocations: it tells fragmentation from a full heap."""
    gc.collect()
    try:
        free = gc.mem_free()
    except AttributeError:
        return None, None
    lo, hi = 0, free
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            b = bytearray(mid)
            b = None
            lo = mid
        except MemoryError:
            hi = mid - 1
    return free, lo


def _fresh(x):
    """A copy of x (lists, tuples, dicts, bytes, str) made now."""
    if isinstance(x, dict):
        return {_fresh(k): _fresh(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        y = [_fresh(v) for v in x]
        return y if isinstance(x, list) else tuple(y)
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(memoryview(x))  # (bytes(x) of bytes is x itself)
    if isinstance(x, str):
        return "%s" % x
    return x


def heap_note():
    """heap_free() as text, for the console."""
    return "free %s, largest block %s" % heap_free()


def _exists(path):
    import os

    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _mkdir(path):
    import os

    try:
        os.mkdir(path)
    except OSError:
        pass


# ---------------------------------------------------------------- config


class ConfigError(ValueError):
    pass


def _field(d, key, path, kinds, none_ok=False):
    if not isinstance(d, dict) or key not in d:
        raise ConfigError("missing field " + path)
    v = d[key]
    if v is None and none_ok:
        return None
    if not isinstance(v, kinds) or isinstance(v, bool) != (kinds is bool):
        raise ConfigError("bad field " + path)
    return v


def _unhex(v, path, sizes=None):
    if not isinstance(v, str):
        raise ConfigError("bad field " + path)
    try:
        b = binascii.unhexlify(v)
    except (ValueError, TypeError):
        raise ConfigError("bad field " + path + " (not hex)")
    if sizes is not None and len(b) not in sizes:
        raise ConfigError("bad field %s (%d bytes)" % (path, len(b)))
    return b


def _uuid(s, key):
    return _unhex(_field(s, key, "suit." + key, str), "suit." + key, (16,))


def parse_config(text):
    """The validated config (dict, hex fields as bytes) from config.json
    text; ConfigError naming the first missing or bad field."""
    try:
        c = json.loads(text)
    except ValueError:
        raise ConfigError("config.json is not JSON")
    if not isinstance(c, dict):
        raise ConfigError("config.json is not an object")
    if _field(c, "version", "version", int) != 1:
        raise ConfigError("unsupported config version")
    out = {"name": _field(c, "name", "name", str)}
    ueid = _unhex(_field(c, "ueid", "ueid", str), "ueid", (33,))
    if ueid[0] != 1:
        raise ConfigError("bad field ueid (type must be 0x01)")
    out["ueid"] = ueid
    out["oemid"] = _unhex(_field(c, "oemid", "oemid", str), "oemid", (3, 16))
    out["hwmodel"] = _field(c, "hwmodel", "hwmodel", str)
    if not 0 < len(out["hwmodel"]) <= 32:
        raise ConfigError("bad field hwmodel")
    out["hwversion"] = _field(c, "hwversion", "hwversion", str)
    out["oscore"] = _field(c, "oscore", "oscore", dict)
    s = _field(c, "suit", "suit", dict)
    trust = _field(s, "trust", "suit.trust", list)
    if not 0 < len(trust) <= 4:
        raise ConfigError("bad field suit.trust (1 to 4 keys)")
    kek = _field(s, "kek", "suit.kek", str, True)
    comps = []
    clist = _field(s, "components", "suit.components", list)
    if not 0 < len(clist) <= 4:
        raise ConfigError("bad field suit.components (1 to 4)")
    for i in range(len(clist)):
        p = "suit.components[%d]" % i
        ids = _field(clist[i], "id", p + ".id", list)
        if not 0 < len(ids) <= 8:
            raise ConfigError("bad field " + p + ".id")
        cid = [_unhex(x, p + ".id") for x in ids]
        size = _field(clist[i], "max_size", p + ".max_size", int)
        if size <= 0:
            raise ConfigError("bad field " + p + ".max_size")
        comps.append((cid, _field(clist[i], "name", p + ".name", str), size))
    out["suit"] = {
        "trust": [_unhex(t, "suit.trust") for t in trust],
        "kek": None if kek is None else _unhex(kek, "suit.kek", (32,)),
        "vendor_id": _uuid(s, "vendor_id"),
        "class_id": _uuid(s, "class_id"),
        "components": comps,
    }
    e = _field(c, "eat", "eat", dict)
    mode = _field(e, "mode", "eat.mode", str)
    if mode not in ("hss", "hmac"):
        raise ConfigError("bad field eat.mode (hss or hmac)")
    mk = _field(e, "mac_key", "eat.mac_key", str, True)
    if mode == "hmac" and mk is None:
        raise ConfigError("missing field eat.mac_key (mode hmac)")
    mk = None if mk is None else _unhex(mk, "eat.mac_key", (32,))
    out["eat"] = {"mode": mode, "mac_key": mk}
    out["update_server"] = _field(c, "update_server", "update_server", str, True)
    w = c.get("wifi")  # boards (hg_main): {"ssid", "password"}; optional
    out["wifi"] = w if isinstance(w, dict) else None
    return out


def read_config(state_dir, text=None):
    """(config, None) or (None, what is wrong). text: the config given
    directly (str, or a dict as json.loads makes it) instead of the file."""
    if isinstance(text, dict):
        text = json.dumps(text)  # one validation path, with the same caps
    if text is None:
        path = state_dir + "/config.json"
        try:
            with open(path) as f:
                text = f.read(MAX_CONFIG + 1)
        except OSError:
            return None, "no " + path
    if len(text) > MAX_CONFIG:
        return None, "config.json over %d bytes" % MAX_CONFIG
    try:
        return parse_config(text), None
    except ConfigError as e:
        return None, str(e)


# ---------------------------------------------------------------- helpers


class _Buf:
    """A bounded in-RAM body: the Block1 sink of /suit/manifest and the
    Writer an envelope URI is fetched into. Allocated once when the size
    is announced (Size1), else grown by doubling up to cap; or (buf) the
    device's preallocated upload buffer, never grown (cap = its size)."""

    def __init__(self, cap, size=None, buf=None, sink=False):
        self.sink = sink  # overflow: 4.13 to the CoAP client, else a SuitError
        if buf is not None:
            cap = len(buf)
            if size is not None and size > cap:
                raise CoAPResponseError(REQUEST_ENTITY_TOO_LARGE, "envelope over %d bytes" % cap)
        else:
            buf = bytearray(size if size is not None and 0 < size <= cap else 1024)
        self.cap = cap
        self.buf = buf
        self.size = 0

    def write(self, chunk):
        n = len(chunk)
        end = self.size + n
        if end > self.cap:
            if self.sink:
                raise CoAPResponseError(REQUEST_ENTITY_TOO_LARGE, "envelope over %d bytes" % self.cap)
            from suit_envelope import SuitError, SUIT_ERR_NO_MEM

            raise SuitError(SUIT_ERR_NO_MEM, "envelope too large")
        if end > len(self.buf):
            grown = bytearray(min(self.cap, max(end, 2 * len(self.buf))))
            grown[:self.size] = memoryview(self.buf)[:self.size]
            self.buf = grown
        self.buf[self.size:end] = chunk
        self.size = end

    def data(self):
        return memoryview(self.buf)[:self.size]

    def abort(self):
        self.buf = bytearray(0)
        self.size = 0


class AppContext:
    """What an app's setup(device) gets."""

    def __init__(self, dev):
        self._dev = dev
        self.name = dev.cfg["name"] if dev.cfg else None

    def add(self, path, handler, **kw):
        """An OSCORE-protected resource (oscore_server.OSCOREServer.add)."""
        return self._dev.osrv.add(path, handler, **kw)

    def notify(self, path):
        self._dev.srv.notify(path, now_ms())

    def log(self, text):
        self._dev.log("app: " + str(text))

    def on_tick(self, fn):
        if len(self._dev.app_ticks) >= MAX_APP_TICKS:
            raise ValueError("too many tick functions")
        self._dev.app_ticks.append(fn)


class SimHW:
    """Simulated hardware (unix, qemu): a sine-wave temperature around
    21.5 C and an LED that is a console line."""

    def __init__(self, log):
        self._log = log

    def temperature(self, t_ms):
        try:
            import math

            return 21.5 + 1.5 * math.sin(t_ms * 6.283185 / 60000)
        except ImportError:
            return 21.5

    def led(self, on):
        self._log("led " + ("on" if on else "off"))


# ---------------------------------------------------------------- device


class Device:
    def __init__(self, state_dir, hw=None, safe=None, quiet=False, health_ms=HEALTH_MS,
                 confirm_window_ms=CONFIRM_WINDOW_MS, fetch_timeout_ms=FETCH_TIMEOUT_MS,
                 feed=None, clock=None, out=None, storage=None, config=None, lean=False,
                 upload=None):
        if state_dir is None and storage is None:
            raise ValueError("state_dir or storage")
        self.dir = state_dir
        self._storage = storage
        self._config = config
        self.lean = lean
        self._upload = upload  # the preallocated envelope buffer (bytearray) or None
        self._summary = None  # lean: ([status slots], sequence, installed()) of the last platform
        self._att_cache = []  # lean: the /attest token cache (AttestResource's)
        self._trial_names = None  # lean: the dropped Boot's trial() and deadline
        self._deadline = None
        self.quiet = quiet
        self._out = out
        self.clock = clock or now_ms
        self.hw = hw if hw is not None else SimHW(self.log)
        if safe is None:
            safe = state_dir is not None and _exists(state_dir + "/SAFE")
        self.safe = safe
        self.health_ms = health_ms
        self.window = confirm_window_ms
        self.fetch_timeout = fetch_timeout_ms
        self.feed = feed  # watchdog feed, also called during long updates
        self.cfg = None
        self.problem = None
        self.mode = "unprovisioned"
        self.ctx = None
        self.pf = None
        self.boot = None
        self.boot_report = None
        self.signer = None
        self.version = None
        self.app_error = None
        self.app_ticks = []
        self.led = 0
        self.bootcount = 0
        self.exit_code = None
        self._exit_at = None
        self._upd = None  # (request, kind, bytes) waiting for tick()
        self._upd_req = None  # the request whose update tick() is running
        self._t0 = self.clock()
        self._last_temp = self._t0
        self._confirmed = False
        self._verifiers = None
        self.srv = None
        self.osrv = None
        self.ep = None

    def store(self, sub):
        """The storage of one part of the state (see the top)."""
        if self._storage is not None:
            return self._storage(sub)
        from hgstore import FileStorage

        return FileStorage(self.dir + "/" + sub)

    # ------------------------------------------------------------ console
    def log(self, text):
        if self._out is not None:
            self._out("hg: " + text)
            return
        print("hg: " + text)
        try:
            sys.stdout.flush()
        except AttributeError:
            pass

    # ------------------------------------------------------------ boot
    def start(self):
        """Boot (see the top); returns self. Never raises for bad state:
        the device ends up in provisioning or safe mode instead."""
        from coap_ep import Endpoint

        if self.dir is not None:
            _mkdir(self.dir)
        self.hg = self.store("hg")
        self._count_boot()
        # lean: 512-byte blocks (a token over that goes by Block2), so that
        # protecting a response never needs a free run of 1 KiB
        self.srv = Server(max_observers=4, max_block1=1, block_szx=5 if self.lean else 6)
        cfg, problem = read_config(self.dir, self._config)
        if cfg is not None and self.lean and not self.safe:
            self.cfg = cfg
            if self._install_staged():
                # and boot again: the install has scattered what it kept
                # (report, logs, module leftovers) over the heap, and the
                # servers' long-lived objects would land in its holes
                self.exit_code = EXIT_RESTART
                return self
        if cfg is not None:
            try:
                problem = self._provisioned(cfg)
            except Exception as e:  # a damaged record must not stop the console
                problem = "%s: %s" % (type(e).__name__, e)
        if problem is not None:
            self.problem = problem
            self.mode = "unprovisioned"
            self.log("provisioning mode: " + problem)
            self._close_state()
            self.pf = self.boot = None
            self._release()
            self.srv.add("status", self._status, ct_in=None, rt="hg.status", if_="core.rp")
            self.ep = Endpoint(server=self.srv)
            return self
        self.cfg = cfg
        self._resources()
        if self.lean:
            # a smaller duplicate-response cache: one large response
            self.ep = Endpoint(server=self.osrv, dedup_cap=8, dedup_bytes=1024)
        else:
            self.ep = Endpoint(server=self.osrv)
        # the app last: what compiling it keeps then sits above the device's
        # own long-lived objects, not between them (lean: fewer holes)
        if self.mode == "normal":
            self._load_app()
        if self.exit_code is not None:
            return self  # the trial app failed to start: restart at once
        self._drop_suit()
        gc.collect()
        self.log("%s: %s mode, app %s, boot %d" % (cfg["name"], self.mode, self.version,
                                                   self.bootcount))
        return self

    # ------------------------------------------------------------ lean mode
    def _release(self, keep=None):
        # lean: forget the on-demand modules (but keep); their heap comes
        # back once the objects made from them are gone
        if not self.lean:
            return
        for name in LEAN_DROP:
            if name != keep and name in sys.modules:
                del sys.modules[name]
        gc.collect()

    def _drop_suit(self):
        # lean: remember what /status and the EAT measurements need, then let
        # the SUIT platform go (_platform() makes it again)
        if not self.lean:
            return
        keep = None
        if self.pf is not None:
            keep = self._slot_summary() + (self.pf.installed(),)
        if self.boot is not None:
            self._trial_names = self.boot.trial()
            self._deadline = self.boot.deadline
        self.pf = None
        self.boot = None
        self._release()
        if keep is not None:
            # copied now that the modules are gone: the copy fills low holes
            # instead of staying above theirs and splitting the free heap
            self._summary = None
            self._summary = _fresh(keep)

    def _trial(self):
        """Names of the components in an unconfirmed trial (lean: as the
        dropped Boot said)."""
        if self.boot is not None:
            return self.boot.trial()
        return self._trial_names

    def _expired(self, now):
        if self.boot is not None:
            return self.boot.expired(now)
        return self._deadline is not None and tdiff(now, self._deadline) >= 0

    def _confirm(self):
        b = self.boot
        if b is None:
            from suit_boot import Boot

            b = Boot(self._platform(), clock=self.clock, confirm_window_ms=self.window)
        names = b.confirm()
        self._trial_names = None
        self._drop_suit()
        return names

    def _platform(self):
        if self.pf is None:
            self._make_platform(self.cfg)
        return self.pf

    def _verifiers_now(self):
        if self._verifiers is not None:
            return self._verifiers
        import lms
        from suit_envelope import sign1_verifier

        lms.register_cose()
        return [sign1_verifier(k, -46) for k in self.cfg["suit"]["trust"]]

    def _count_boot(self):
        raw = self.hg.read("boots")
        n = 0
        if raw is not None:
            try:
                n = int(bytes(raw).decode())
            except ValueError:
                n = 0
        self.bootcount = n + 1
        self.hg.write("boots", str(self.bootcount).encode())

    def _provisioned(self, cfg):
        """Set up OSCORE, EAT and SUIT from cfg; a problem text or None."""
        import oscore

        try:
            ost = self.store("oscore")
            name = cfg["oscore"].get("name", "dev")
            oscore.provision(ost, name, cfg["oscore"])
            self.ctx = oscore.load(ost, name)
        except (ValueError, KeyError, TypeError) as e:
            return "bad field oscore: " + str(e)
        p = self._eat_identity(cfg)
        self._release()  # lean: one group of modules at a time
        if p is not None:
            return p
        try:
            import lms

            for k in cfg["suit"]["trust"]:
                lms.parse_hss_pub(k)
            if not self.lean:
                from suit_envelope import sign1_verifier

                lms.register_cose()
                self._verifiers = [sign1_verifier(k, -46) for k in cfg["suit"]["trust"]]
        except ValueError:
            return "bad field suit.trust (not HSS public keys)"
        lms = None
        self._release()
        self.mode = "safe" if self.safe else "normal"
        self._suit(cfg)
        return None

    def _eat_identity(self, cfg):
        import eat

        if cfg["eat"]["mode"] == "hmac":
            key = cfg["eat"]["mac_key"]
            self._ident = {"ueid": cfg["ueid"], "alg": eat.ALG_HMAC_256_256, "mac_key": key}
            self.signer = key
            return None
        est = self.store("eat")
        try:
            ident = eat.load_identity(est)
        except eat.EATError:
            return "no EAT key (run keygen)"
        if ident["ueid"] != cfg["ueid"]:
            return "ueid does not match the device's EAT key"
        self._ident = ident
        if self.lean:
            # the key is loaded for each token (_DeviceAttester); a damaged
            # key shows there (5.03), not here
            return None
        try:
            self.signer = eat.load_signer(est, ident)
        except eat.EATError as e:
            return "EAT key: " + str(e)
        return None

    def _make_platform(self, cfg):
        from suit_slots import SlotPlatform

        if not self.lean:
            from suit_fetch import CoapFetcher

        s = cfg["suit"]
        kek = s["kek"]
        self.pf = SlotPlatform(
            self.store("suit"), s["components"],
            {"vendor_id": s["vendor_id"], "class_id": s["class_id"]},
            fetcher=_LazyFetcher(self) if self.lean else CoapFetcher(
                timeout_ms=self.fetch_timeout, progress=self._progress),
            keks=None if kek is None else (lambda kid, alg: kek), clock=self.clock)

    def _suit(self, cfg):
        from suit_boot import Boot
        from suit_envelope import SuitError

        try:
            self._make_platform(cfg)
            self._seed_factory()
            self.boot = Boot(self.pf, clock=self.clock, confirm_window_ms=self.window)
            self.boot_report = self.boot.select()
        except SuitError as e:
            # damaged SUIT state or no image that verifies: safe mode
            self.log("SUIT state: %s (code %d); safe mode" % (e, e.code))
            self.mode = "safe"
            self.boot = None
            return
        for r in self.boot_report:
            self.log("boot %s: slot %s %s" % (r["name"], r["slot"], r["status"]))

    def _seed_factory(self):
        # The factory app as slot 0 of "app" on the first boot (see the top):
        # the blob first, then the state naming it (a cut in between leaves
        # an unreferenced blob, redone at the next boot).
        pf = self.pf
        if APP not in pf.names():
            return
        e = pf.state[APP]
        if e[0] is not None or e[1] is not None or e[5][0] is not None or e[5][1] is not None:
            return
        import hgcrypto

        b = pf.st.open_blob(pf.record(APP, 0))
        b.write(FACTORY_IMAGE)
        b.commit()
        info = [hgcrypto.sha256_digest(FACTORY_IMAGE), len(FACTORY_IMAGE), b"", 0]
        pf.state[APP] = [0, None, None, 0, None, [info, None]]
        pf.save_state()
        self.log("factory app installed in slot 0")

    # ------------------------------------------------------------ the app
    def _load_app(self):
        ctx = AppContext(self)
        try:
            g = self._app_module()
            v = g.get("VERSION") if isinstance(g, dict) else getattr(g, "VERSION", None)
            if not isinstance(v, str) or not 0 < len(v) <= 32:
                raise ValueError("app has no VERSION")
            setup = g.get("setup") if isinstance(g, dict) else getattr(g, "setup", None)
            self._pre_app()
            if setup is not None:
                setup(ctx)
            self.version = v
            return
        except Exception as e:
            self.app_error = "%s: %s" % (type(e).__name__, e)
        gc.collect()
        if self._trial():
            # a new image that does not start: restart, the trial counts down
            self.log("app failed in trial (%s): restarting" % self.app_error)
            self.exit_code = EXIT_RESTART
            return
        self.log("app failed (%s): factory app" % self.app_error)
        import default_app

        self._pre_app()
        default_app.setup(ctx)
        self.version = default_app.VERSION

    def _pre_app(self):
        # the app may add resources: the servers must exist before setup()
        if self.osrv is None:
            import oscore
            from oscore_server import OSCOREServer

            self.osrv = OSCOREServer(self.srv, oscore.Contexts([self.ctx]))

    def _app_module(self):
        if self.pf is None or APP not in self.pf.names():
            import default_app

            return default_app
        rd = self.pf.reader(self.pf.cid(APP))
        if rd is None:
            raise ValueError("no app image")
        cap = self.pf.capacity(self.pf.cid(APP))
        src = bytearray()
        for chunk in rd:
            if len(src) + len(chunk) > cap:
                raise ValueError("app image too large")
            src.extend(chunk)
        rd = None
        self._drop_suit()  # lean: before the app takes its share of the heap
        if src == FACTORY_IMAGE:
            import default_app

            return default_app
        if src[:1] == b"M":
            return self._import_mpy(src)
        g = {"__name__": "hgapp"}
        code = bytes(src).decode()
        src = None
        gc.collect()
        exec(code, g)
        return g

    def _import_mpy(self, data):
        # bytecode cannot be exec'd from bytes: import it from the state folder
        if self.dir is None:
            raise ValueError(".mpy app without a state folder")
        with open(self.dir + "/hgapp.mpy", "wb") as f:
            f.write(data)
        if self.dir not in sys.path:
            sys.path.append(self.dir)
        sys.modules.pop("hgapp", None)
        return __import__("hgapp")

    # ------------------------------------------------------------ resources
    def _resources(self):
        self._pre_app()
        osrv = self.osrv
        osrv.add("status", self._status, rt="hg.status", if_="core.rp")
        if self.mode != "normal":
            return
        osrv.add("sensors/temperature", self._temperature, rt="hg.temperature", if_="core.s",
                 observable=True)
        osrv.add("led", self._led, methods=M_GET | M_PUT, rt="hg.led", if_="core.a", ct=CF_TEXT)
        osrv.add("suit/manifest", self._suit_post, methods=M_POST, rt="hg.suit.manifest",
                 sink=self._suit_sink, max_body=MAX_ENVELOPE, ct_in=_CF_SUIT_IN)
        osrv.add("suit/report", self._suit_report, rt="hg.suit.report", ct=CF_CBOR)
        osrv.add("reset", self._reset, methods=M_POST, rt="hg.reset")
        if self.lean:
            # AttestResource.add_to's registration (without importing eat),
            # with a handler that makes the resource per request
            osrv.add("attest", self._attest_lean, methods=M_POST, ct=_CF_EAT_CWT,
                     ct_in=(CF_CBOR, CF_OCTET_STREAM, None), max_body=256)
            return
        from eat_resource import AttestResource

        AttestResource(_DeviceAttester(self)).add_to(osrv)

    def _attester(self, signer):
        from eat import Attester

        cfg = self.cfg
        if self.pf is not None:
            measure = self.pf.installed
        elif self._summary is not None:
            measure = self._installed
        else:
            measure = None
        return Attester(
            self._ident, signer, measure=measure,
            bootcount=self.bootcount, uptime=self.uptime_s, oemid=cfg["oemid"],
            hwmodel=cfg["hwmodel"].encode(), hwversion=[cfg["hwversion"], _MULTIPART],
            swname="hourglass", swversion=[self.version or "0", _SEMVER], report=self._last_report,
            # a firmware image measured apart from the app (ESP32's "fw" OTA
            # component) is reported as its own submodule (RFC 9711 4.2.18)
            submods={"firmware": ["fw"]})

    def _installed(self):
        return self._summary[2]

    def _attest_lean(self, req):
        # the garbage of the last requests goes first, so that the modules
        # land in the lowest holes and the token finds one free run
        gc.collect()
        try:
            from eat_resource import AttestResource

            res = AttestResource(_DeviceAttester(self), max_cache=1)
            res._cache = self._att_cache  # the token a Block2 continuation asks for again
            return res.handler(req)
        except MemoryError:  # importing it (its handler answers its own)
            self.log("attest: out of heap importing (%s)" % heap_note())
            raise CoAPResponseError(SERVICE_UNAVAILABLE, "out of memory")
        finally:
            res = None
            self._release()
            # a token is kept only while blocks of it remain to be asked
            # for: once this answer carried its last block, a continuation
            # is not needed (a retransmission is the duplicate cache's).
            # What stays is copied now that the modules are gone, so it sits
            # low in the heap rather than in the middle of their hole
            try:
                b2 = req.block2()
            except Exception:  # malformed: the server answered it already
                b2 = None
            szx = self.srv.block_szx if b2 is None else min(b2[2], self.srv.block_szx)
            sent = ((0 if b2 is None else b2[0]) + 1) << (szx + 4)
            self._att_cache[:] = [_fresh(e) for e in self._att_cache if len(e[2]) > sent]
            gc.collect()

    def uptime_s(self):
        return tdiff(self.clock(), self._t0) // 1000

    def _accept(self, req, default, allowed):
        a = req.opt_uint(17)
        if a is None:
            return default
        if a not in allowed:
            raise CoAPResponseError(NOT_ACCEPTABLE, "")
        return a

    def _slot_summary(self):
        # ([/status slot maps], SUIT sequence): from the platform, else (lean)
        # what it said when it was dropped
        if self.pf is None:
            if self._summary is not None:
                return self._summary[0], self._summary[1]
            return [], -1
        slots = []
        for name in self.pf.names():
            e = self.pf.state[name]
            a = e[0]
            info = e[5][a] if a is not None else None
            slots.append({"name": name, "active_slot": a, "pending": e[1],
                          "trial": e[2] is not None,
                          "digest": _hex(info[0]) if info else None,
                          "sequence": info[3] if info else None})
        try:
            seq = self.pf.stored_sequence()
        except ValueError:
            seq = None
        return slots, seq

    def status(self):
        """The /status map (also what tests and the console use)."""
        slots, seq = self._slot_summary()
        block = None
        if self.lean:
            # what is really free (not what garbage hides), and in one piece
            free, block = heap_free()
        else:
            try:
                free = gc.mem_free()
            except AttributeError:
                free = None
        st = {"name": self.cfg["name"] if self.cfg else None, "mode": self.mode,
              "version": self.version, "slots": slots, "uptime_s": self.uptime_s(),
              "free_heap": free, "bootcount": self.bootcount, "suit_sequence": seq}
        if block is not None:
            st["heap_block"] = block
            st["heap_total"] = gc.mem_free() + gc.mem_alloc()
        if self.problem is not None:
            st["problem"] = self.problem
        if self.app_error is not None:
            st["app_error"] = self.app_error
        return st

    def _status(self, req):
        cf = self._accept(req, CF_CBOR, (CF_CBOR, CF_JSON))
        st = self.status()
        if cf == CF_JSON:
            return response(CONTENT, json.dumps(st).encode(), CF_JSON)
        return response(CONTENT, cbor.dumps(st), CF_CBOR)

    def temperature(self):
        t = self.hw.temperature(tdiff(self.clock(), self._t0))
        return None if t is None else int(t * 10 + 0.5) / 10

    def _temperature(self, req):
        cf = self._accept(req, CF_TEXT, (CF_TEXT, CF_CBOR))
        t = self.temperature()
        if cf == CF_CBOR:
            return response(CONTENT, cbor.dumps(t), CF_CBOR)
        return response(CONTENT, ("%.1f" % t).encode(), CF_TEXT)

    def _led(self, req):
        if req.code == 1:
            return response(CONTENT, b"1" if self.led else b"0", CF_TEXT)
        v = bytes(req.payload)
        if v not in (b"0", b"1"):
            raise CoAPResponseError(BAD_REQUEST, "0 or 1")
        self.led = 1 if v == b"1" else 0
        self.hw.led(self.led)
        return response(CHANGED)

    def _reset(self, req):
        self.log("reset requested")
        self._restart(self.clock())
        return response(CHANGED)

    def _restart(self, now):
        if self._exit_at is None:
            self._exit_at = now

    # ------------------------------------------------------------ SUIT
    def _suit_sink(self, req, size):
        if self._upd is not None or self._upd_req is not None:
            # (the preallocated buffer still holds the envelope being processed)
            raise CoAPResponseError(SERVICE_UNAVAILABLE, "update in progress")
        return _Buf(MAX_ENVELOPE, size, self._upload, True)

    def _suit_post(self, req):
        if self._upd is not None or self._exit_at is not None:
            raise CoAPResponseError(SERVICE_UNAVAILABLE, "update in progress")
        body = req.sink.data()
        req.sink = None  # the update owns the body now (freed after authentication)
        if not body:
            raise CoAPResponseError(BAD_REQUEST, "empty")
        if req.opt_uint(12) == CF_TEXT:
            uri = bytes(body).decode()
            if not uri.startswith("coap://"):
                raise CoAPResponseError(BAD_REQUEST, "coap:// URI expected")
            self._upd = (req, "uri", uri)
        else:
            self._upd = (req, "env", body)
        return SEPARATE  # processed in tick(), after the empty ACK went out

    def _suit_report(self, req):
        r = self._last_report()
        if r is None:
            raise CoAPResponseError(NOT_FOUND, "no report")
        return response(CONTENT, r, CF_CBOR)

    def _last_report(self):
        # as stored (on the qemu board a view of flash: no heap copy)
        return self.hg.read("report")

    def _progress(self, done, total):
        if self.feed is not None:
            self.feed()
        if not self.quiet:
            self.log("update: %d of %s bytes" % (done, "?" if total is None else total))

    def apply_update(self, data):
        """Authenticate and install envelope bytes: (CoAP code, report
        bytes). The report is persisted (GET /suit/report, EAT)."""
        return self._apply([data])

    def _apply(self, box):
        # box: [envelope bytes], emptied here so that once authenticated (and
        # detached: the Envelope keeps its own copies of the manifest) the
        # envelope's RAM can go before the payload streams in; only
        # integrated payloads keep it alive.
        # (lean: the processor, the report and the platform are imported
        # only once the envelope is authenticated and its bytes are gone)
        from suit_envelope import SuitError, SUIT_ERR_ABORT, authenticate

        data = box.pop()
        gc.collect()
        try:
            if self.lean:
                env = self._authenticate_lean(data)
            else:
                env = authenticate(data, self._verifiers_now(), detach=True)
        except SuitError as e:
            return self._rejected(data, e)
        data = None
        gc.collect()
        from suit_processor import process_update
        from suit_report import Report

        rep = Report(env)
        self.log("update: manifest sequence %d authenticated" % env.sequence_number)
        try:
            process_update(env, self._platform(), rep)
        except SuitError as e:
            self.log("update failed: %s (code %d)" % (e, e.code))
            return self._reported(_SUIT_CODES.get(e.code, INTERNAL_SERVER_ERROR), rep)
        except Exception as e:  # a platform bug: never committed (process_update)
            self.log("update failed: %s" % e)
            rep.fail(SuitError(SUIT_ERR_ABORT, "internal error"), 0, 0, 0)
            return self._reported(INTERNAL_SERVER_ERROR, rep)
        self.log("update installed: sequence %d" % env.sequence_number)
        return self._reported(CHANGED, rep)

    def _rejected(self, data, e):
        from suit_report import Report

        self.log("update rejected: %s (code %d)" % (e, e.code))
        # a manifest that does not match its signed digest is not authentic
        code = UNAUTHORIZED if e.code == -7 else _SUIT_CODES.get(e.code, BAD_REQUEST)
        return self._reported(code, Report.for_envelope_error(data, e))

    def _stage(self, box):
        # lean: an update is checked now (authentic, newer than the
        # installed one, no trial running) and answered 2.01, and the
        # envelope is kept in the state; it is installed at the restart
        # that follows (_install_staged), before the servers, OSCORE and
        # the app take their share of the heap: on this board, processing
        # it next to them does not fit. process_update checks it all again.
        from suit_envelope import SuitError

        data = box.pop()
        gc.collect()
        try:
            env = self._authenticate_lean(data)
        except SuitError as e:
            return self._rejected(data, e)
        from suit_processor import check_update
        from suit_report import Report

        rep = Report(env)
        seq = self._slot_summary()[1]
        try:
            check_update(env, -1 if seq is None else seq, bool(self._trial()), rep)
        except SuitError as e:
            self.log("update refused: %s (code %d)" % (e, e.code))
            return self._reported(_SUIT_CODES.get(e.code, INTERNAL_SERVER_ERROR), rep)
        seq = env.sequence_number
        env = rep = None
        self._release()
        try:
            self.hg.write("update", data)
        except OSError as e:
            self.log("update not staged: %s" % e)
            return INTERNAL_SERVER_ERROR, b""
        self.log("update: manifest sequence %d authenticated and staged (%d bytes); it is installed"
                 " at the restart" % (seq, len(data)))
        return CREATED, b""

    def _install_staged(self):
        # lean: install what _stage kept, first thing at boot. The record is
        # cleared before the install starts, so an envelope that stops the
        # device is not tried again at every boot; a power cut during the
        # install loses the update, never the image in use (process_update
        # commits last). The report is at /suit/report as usual.
        # True when there was one (installed or not).
        data = self.hg.read("update")
        if not data:
            return False
        try:
            self.hg.write("update", b"")
        except OSError as e:
            self.log("staged update not cleared (%s): not installed" % e)
            return False
        self.log("update: installing the staged envelope (%d bytes)" % len(data))
        try:
            code = self._apply([data])[0]
            if code == CHANGED:
                self.log("update: installed; restarting into the trial")
            else:
                self.log("update: not installed; restarting")
        except Exception as e:  # the device boots whatever happened
            self.log("update: internal error %s" % e)
        data = None
        self.pf = None
        self._release()
        return True

    def _authenticate_lean(self, data):
        # Two passes over the same envelope bytes, so that the HSS-LMS
        # verifier (lms, lms_py and their cose registration: ~3 KB) is gone
        # before the update runs: the first checks the signature and keeps
        # the signed SUIT_Digest bytes; the second, with lms unloaded,
        # accepts a block only over those exact bytes. Nothing runs in
        # between (no I/O, no other request) and the buffer is not written
        # while an update is in progress (_suit_sink), so the second pass
        # sees what the first verified. The second pass compares digests
        # only (signed=): cose (~3 KB) is not loaded again either.
        from suit_envelope import authenticate

        signed = authenticate(data, self._verifiers_now(), detach=True).digest_bytes
        # suit_envelope stays (it imports cose only while it verifies): the
        # caller's SuitError is still the class that the second pass raises
        self._release("suit_envelope")
        return authenticate(data, (), detach=True, signed=signed)

    def _reported(self, code, rep):
        data = rep.encode()
        try:
            self.hg.write("report", data)
        except OSError:
            self.log("report not saved")
        return code, data

    def _fetch_envelope(self, uri):
        from suit_envelope import SuitError
        from suit_report import Report

        buf = _Buf(MAX_ENVELOPE, None, self._upload)
        self.log("update: fetching " + uri)
        try:
            self._platform().fetcher.fetch(uri, buf)
        except SuitError as e:
            self.log("envelope fetch failed: %s" % e)
            return None, self._reported(_SUIT_CODES.get(e.code, _BAD_GATEWAY),
                                        Report.for_envelope_error(b"", e))
        return buf.data(), None

    def _run_update(self, now):
        req, kind, arg = self._upd
        self._upd = None  # the body is only referenced by box from here on
        self._upd_req = req
        box = [arg]
        arg = None
        res = None
        if kind == "uri":
            body, res = self._fetch_envelope(box.pop())
            box.append(body)
            body = None
        if res is None:
            res = self._stage(box) if self.lean else self._apply(box)
        self._upd_req = None
        code, rep = res
        if code == CREATED:  # lean: staged; the report follows the restart
            resp = response(code)
            resp.add(_LOCATION_PATH, b"suit")  # where the report will be
            resp.add(_LOCATION_PATH, b"report")
        else:
            resp = response(code, rep, CF_CBOR)
        b1 = req.opt_uint(BLOCK1)
        if b1 is not None:
            resp.add(BLOCK1, b1 & ~8)
        now = self.clock()
        self.srv.respond(req, resp, now)
        if code == CHANGED or code == CREATED:
            self.log("restarting into the new image" if code == CHANGED else
                     "restarting to install the update")
            self._restart(now)
        else:
            self._drop_suit()
        gc.collect()

    # ------------------------------------------------------------ loop
    def tick(self, now):
        """Called by the transport every TICK_MS (and after datagrams)."""
        if self.feed is not None:
            self.feed()
        if self.exit_code is not None:
            return
        if self._upd is not None:
            try:
                self._run_update(now)
            except Exception as e:  # never leave the request unanswered
                self.log("update: internal error %s" % e)
                req = self._upd_req
                self._upd = self._upd_req = None
                self._drop_suit()  # lean: the update's modules go, as after any update
                if req is not None:
                    self.srv.respond(req, response(INTERNAL_SERVER_ERROR), self.clock())
            now = self.clock()
        if self._exit_at is not None:
            dt = tdiff(now, self._exit_at)
            if dt >= _EXIT_MAX_MS or (dt >= _EXIT_GRACE_MS and not self.ep.outstanding()):
                self.exit_code = EXIT_RESTART
            return
        if self.mode != "normal":
            return
        if tdiff(now, self._last_temp) >= TEMP_MS:
            self._last_temp = now
            if self.srv.observers("sensors/temperature"):
                self.srv.notify("sensors/temperature", now)
        for fn in self.app_ticks:
            try:
                fn(now)
            except Exception as e:
                self.log("app tick: %s" % e)
        if not self._confirmed and self._trial():
            st = self.osrv.stats
            if tdiff(now, self._t0) >= self.health_ms or st[0] - st[2] > 0:
                names = self._confirm()
                self._confirmed = True
                self.log("trial confirmed (%s), app %s" % (",".join(names), self.version))
            elif self._expired(now):
                self.log("trial not confirmed in time: restarting")
                self._restart(now)

    def close(self):
        self._close_state()

    def _close_state(self):
        for x in (self.ctx, self.signer):
            c = getattr(x, "close", None)
            if c is not None:
                try:
                    c()
                except Exception:
                    pass
        self.ctx = None
        if not isinstance(self.signer, (bytes, bytearray)):
            self.signer = None


class _LazyFetcher:
    """lean: the platform's fetcher, suit_fetch.CoapFetcher made (and its
    module imported) only when a payload or an envelope is fetched."""

    def __init__(self, dev):
        self._dev = dev

    def fetch(self, uri, writer):
        from suit_fetch import CoapFetcher

        dev = self._dev
        return CoapFetcher(timeout_ms=dev.fetch_timeout, progress=dev._progress).fetch(uri, writer)


class _DeviceAttester:
    """What AttestResource calls: an Attester made for each token, so that
    it tells what runs now (the app's version is known only once the app
    has started, after the resources exist). lean: an HSS signer is loaded
    for this token and closed again (the unused leaves of its reservation
    go back)."""

    def __init__(self, dev):
        self._dev = dev

    def attest(self, nonce):
        dev = self._dev
        signer = dev.signer  # the HMAC key, or the HSS signer (not lean)
        own = signer is None
        if own:
            import eat

            signer = eat.load_signer(dev.store("eat"), dev._ident)
        try:
            return dev._attester(signer).attest(nonce)
        except MemoryError as e:  # AttestResource answers 5.03; the console says why
            dev.log("attest: out of heap making the token: %s (%s)" % (e, heap_note()))
            raise
        finally:
            c = getattr(signer, "close", None) if own else None
            if c is not None:
                c()


# ---------------------------------------------------------------- keygen


def keygen(state_dir, lms_params=None, storage=None, rand=None):
    """The device's EAT HSS key, generated here if there is none:
    {"ueid": hex, "eat_pub": hex raw HSS public key, "leaves": int}.
    storage: the "eat" storage itself (no state folder; state_dir None).
    rand(n) -> n random bytes, for a port without os.urandom."""
    import eat
    import lms_state

    if storage is not None:
        est = storage
    else:
        from hgstore import FileStorage

        _mkdir(state_dir)
        est = FileStorage(state_dir + "/eat")
    if est.read("eatid") is None:
        eat.provision(est, rand=rand, mode="lms", lms_params=lms_params, overwrite=True)
    ident = eat.load_identity(est)
    signer = lms_state.load(est)
    out = {"ueid": _hex(ident["ueid"]), "eat_pub": _hex(signer.public_key),
           "leaves": signer.remaining()}
    signer.close()
    return out
