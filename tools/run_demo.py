#!/usr/bin/env python3
"""`make run`: the whole story on a virtual device (the MicroPython unix port
running firmware/hg_unix.py), told in numbered steps:

   1  provision a fresh device in build/run/ (identity, OSCORE, SUIT trust
      anchor; the device makes its own attestation key)
   2  start it (restarted whenever it exits with code 3, as `make device` does)
   3  discovery: plain GET /.well-known/core
   4  OSCORE GET /status (and a plain GET refused)
   5  three Observe notifications of /sensors/temperature over OSCORE
   6  attestation: an EAT verified on the host, claims summarised
   7  a signed SUIT update to app 1.1.0, pushed block-wise
   8  the device restarts into it: trial boot, then confirmed
   9  attestation again: the app measurement changed
  10  the old manifest replayed: refused (sequence number)

Exit 0 only if every step passed, else 1 naming the failed steps.

--board qemu_an386 (`make run BOARD=qemu_an386`) tells the same story on the
emulated 64 KiB Cortex-M4 (build/qemu_an386/firmware.elf, `make qemu`),
through the bridge (tools/hourglass/bridge_cmd.py, run in this process):
qemu-system-arm is started, the host provisions the device (EAT: --eat hmac,
the default, a key in the config; --eat hss, the device makes an LMS H5/W4
key in the raw REPL first, seeded with this host's entropy: the emulated
board has no TRNG), boots `hg_qemu.run(CONFIG_JSON)` (firmware/hg_qemu.py;
state in the board's SSRAM "flash" for the qemu session: there is no
filesystem), and relays UDP on 127.0.0.1:PORT to CoAP over SLIP on the UART.
The SUIT signing key made for it is one HSS level of LMS H10 / LM-OTS W8 (a
1456-byte signature, an envelope of about 2 KB instead of 5.7 KB with the
default two H10/W4 levels). The device console arrives as link control
frames; "restart" is a warm restart in the same qemu (state kept). The
device's free heap and largest free block (GET /status) are shown after
every step. Requests go in 512-byte blocks; the update is answered 2.01
(staged) and installed at the next boot, and step 8 reads its report from
/suit/report after the restart (boards/qemu_an386/README.md).

  tools/run_demo.py [--micropython BIN] [--dir build/run] [--port 5783] [--board unix|qemu_an386]
                    [--elf build/qemu_an386/firmware.elf] [--qemu-bin qemu-system-arm] [--eat hmac|hss]"""
import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from hourglass import device_cmd, use_device_lib  # noqa: E402

APP_1_1_0 = '''# app 1.1.0 for the `make run` story: adds /hello (OSCORE) and says so
from coap_msg import CF_TEXT, CONTENT, response

VERSION = "1.1.0"


def setup(device):
    device.add("hello", lambda req: response(CONTENT, b"hello from app " + VERSION.encode(), CF_TEXT),
               rt="hg.app", ct=CF_TEXT)
    device.log("app " + VERSION + " is running")
'''


def _show(path):
    """A path relative to the repository when it is inside it."""
    if path.startswith(ROOT + os.sep):
        return os.path.relpath(path, ROOT)
    return path


class StepFailed(Exception):
    pass


class _ConsoleLog:
    """The device console in a log file (both runners): the lines written
    since the last look, or all of it. _lock also guards the writers."""

    def __init__(self, log_path):
        self.log_path = log_path
        self._lock = threading.Lock()
        self._pos = 0

    def new_lines(self):
        """Console lines written since the last call."""
        with self._lock:
            try:
                with open(self.log_path) as f:
                    f.seek(self._pos)
                    text = f.read()
                    self._pos = f.tell()
            except OSError:
                return []
        return [ln for ln in text.splitlines() if ln.strip()]

    def log_text(self):
        with self._lock:
            try:
                with open(self.log_path) as f:
                    return f.read()
            except OSError:
                return ""


class Runner(_ConsoleLog):
    """The device process: started again whenever it exits with code 3; its
    console goes to a log file whose new "hg:" lines the story shows."""

    def __init__(self, cmd, log_path):
        _ConsoleLog.__init__(self, log_path)
        self.cmd = cmd
        self.starts = 0
        self.exits = []
        self.proc = None
        self._stop = False
        self._thread = None

    def start(self):
        open(self.log_path, "w").close()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop:
            with open(self.log_path, "a") as log:
                with self._lock:
                    if self._stop:
                        return
                    self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT)
                    self.starts += 1
                rc = self.proc.wait()
            self.exits.append(rc)
            if rc != device_cmd.EXIT_RESTART:
                return

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        with self._lock:
            self._stop = True
            p = self.proc
        if p is not None and p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        if self._thread is not None:
            self._thread.join(5)


class QemuRunner(_ConsoleLog):
    """The qemu image behind the bridge (Runner's interface): qemu and the
    UDP<->SLIP relay run in this process (bridge_cmd's QemuLine and Bridge,
    the relay in a thread); the device console comes as "\x00log" control
    frames and goes to the log file. starts/exits count the device's warm
    restarts (its "restart requested (exit N)" lines)."""

    def __init__(self, elf, port, log_path, qemu_bin="qemu-system-arm"):
        _ConsoleLog.__init__(self, log_path)
        self.elf = elf
        self.port = port
        self.qemu_bin = qemu_bin
        self.starts = 0
        self.exits = []
        self.error = None
        self.stat = None
        self.line = self.sock = self.bridge = None
        self._thread = None
        self._booted = False

    def open(self):
        from hourglass import bridge_cmd

        runner = self

        class LogBridge(bridge_cmd.Bridge):
            def control(self, frame):
                text = bytes(frame[1:]).decode("utf-8", "replace")
                if text.startswith("log "):
                    runner._console(text[4:])
                else:
                    bridge_cmd.Bridge.control(self, frame)

        open(self.log_path, "w").close()
        self.sock = bridge_cmd._open_socket("127.0.0.1", self.port)
        self.line = bridge_cmd.QemuLine(self.elf, self.qemu_bin)
        self.bridge = LogBridge(self.line, self.sock)
        self._console("(qemu: %s)" % " ".join(_show(c) for c in self.line.cmd))

    def _console(self, text):
        with self._lock:
            with open(self.log_path, "a") as f:
                f.write(text + "\n")
            m = re.match(r"hg: restart requested \(exit (\d+)\)", text)
            if m:
                self.exits.append(int(m.group(1)))
            elif text.startswith("hg: warm restart"):
                self.starts += 1

    def exec_raw(self, code, timeout=120.0):
        """Run code in the raw REPL (before the device loop); its output."""
        b = self.bridge
        seen = bytearray()
        self.line.write(b"\r\x03\x03")
        time.sleep(0.05)
        self.line.write(b"\x01")
        if not b._read_until(b"raw REPL; CTRL-B to exit\r\n>", 20, seen):
            raise StepFailed("no raw REPL from the image (seen %r)" % bytes(seen[-200:]))
        seen.clear()
        self.line.write(code.encode() + b"\x04")
        if not b._read_until(b"OK", 20, seen):
            raise StepFailed("the raw REPL did not take the command (seen %r)" % bytes(seen[-200:]))
        del seen[:seen.find(b"OK") + 2]
        if not b._read_until(b"\x04>", timeout, seen) and seen.count(b"\x04") < 2:
            raise StepFailed("the command did not finish within %.0f s" % timeout)
        out, _, err = bytes(seen).partition(b"\x04")
        err = err.rstrip(b"\x04>")
        if err.strip():
            raise StepFailed("the device raised:\n" + err.decode("utf-8", "replace").strip())
        return out.decode("utf-8", "replace")

    def start(self, config_text, timeout=30.0):
        from hourglass import bridge_cmd

        boot = "import hg_qemu; hg_qemu.run(%r)" % config_text
        try:
            self.bridge.boot(boot, timeout)
        except bridge_cmd.BridgeError as e:
            raise StepFailed(str(e))
        self.starts = 1
        self._booted = True
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        from hourglass import bridge_cmd

        try:
            self.bridge.serve()
        except bridge_cmd.BridgeError as e:
            self.error = str(e)
            self._console("(bridge: %s)" % e)

    def alive(self):
        return self._thread is not None and self._thread.is_alive()

    def stop(self):
        from hourglass import bridge_cmd

        if self.bridge is not None:
            self.bridge.stopping = True
        if self._thread is not None:
            self._thread.join(5)
        if self.bridge is not None and self._booted and self.error is None:
            try:
                self.stat = self.bridge.query_stat()
            except bridge_cmd.BridgeError:
                self.stat = None
        for x in (self.line, self.sock):
            if x is not None:
                try:
                    x.close()
                except OSError:
                    pass
        self.line = self.sock = None


@contextlib.contextmanager
def _device_keygen(output):
    """device_cmd.provision with the keygen output of a device it cannot
    run itself (the qemu image, whose keygen ran in its raw REPL): its
    _run_tool seam answers the keygen command with that output."""
    real = device_cmd._run_tool

    def fake(cmd, timeout=300):
        if cmd[-1:] != ["keygen"]:
            return real(cmd, timeout)
        return subprocess.CompletedProcess(cmd, 0, output, "")

    device_cmd._run_tool = fake
    try:
        yield
    finally:
        device_cmd._run_tool = real


@contextlib.contextmanager
def _small_suit_key():
    """device_cmd.provision making a one-level HSS SUIT key (LMS H10 /
    LM-OTS W8: 1024 manifests) instead of two levels of H10/W4: the
    signature is 1456 bytes instead of 5076, so the envelope a 64 KiB board
    holds in RAM while it authenticates it is about 2 KB instead of 5.7 KB.
    Through its _suit_keygen seam (device_cmd.provision has no option)."""
    real = device_cmd._suit_keygen

    def small(path, pubpath):
        import hgstore
        import lms
        import lms_state

        from hourglass.lms_cmd import _KeyLock

        with _KeyLock(path):
            signer = lms_state.generate(hgstore.FileStorage(path), levels=1, lms_type=lms.LMS_SHA256_M32_H10,
                                        ots_type=lms.LMOTS_SHA256_N32_W8, chunk=16)
        pub = bytes(signer.public_key)
        with open(pubpath, "wb") as f:
            f.write(pub)
        return pub

    device_cmd._suit_keygen = small
    try:
        yield
    finally:
        device_cmd._suit_keygen = real


class Story:
    def __init__(self, args):
        self.args = args
        self.dir = os.path.abspath(args.dir)
        self.state = os.path.join(self.dir, "device")
        self.home = os.path.join(self.dir, "home")
        self.address = "coap://127.0.0.1:%d" % args.port
        self.results = []
        self.runner = None
        self.inv = None
        self.first_env = None
        self.staged = None  # the envelope of a 2.01 (installed at the restart)
        self.digest0 = None
        self.total = 10
        self.qemu = args.board == "qemu_an386"
        self.heap = []  # (step, free heap) on qemu
        self.heap_total = None

    # ------------------------------------------------------------ output
    def say(self, text=""):
        print(text)
        sys.stdout.flush()

    def detail(self, text):
        self.say("      " + text)

    def console(self):
        if self.runner is None:
            return
        for ln in self.runner.new_lines():
            self.say("      device| " + ln)

    def step(self, n, title, fn):
        self.say("")
        self.say("[%d/%d] %s" % (n, self.total, title))
        try:
            fn()
        except (StepFailed, device_cmd.DeviceError, OSError, ValueError) as e:
            self.console()
            self.say("      FAILED: %s" % e)
            self.results.append((n, title, False))
            return False
        self.console()
        self.heap_after(n)
        self.say("      ok")
        self.results.append((n, title, True))
        return True

    def heap_after(self, n):
        """qemu: the device's free heap now (GET /status), recorded per step."""
        if not self.qemu or self.inv is None or self.runner is None or not self.runner.alive():
            return
        try:
            st = self.status()
        except (device_cmd.DeviceError, OSError, ValueError) as e:
            self.detail("heap: GET /status failed (%s)" % e)
            return
        free = st.get("free_heap")
        self.heap_total = st.get("heap_total")
        self.heap.append((n, free, st.get("heap_block")))
        self.detail("device heap free after this step: %s of %s bytes (largest free block %s)"
                    % (free, self.heap_total, st.get("heap_block")))

    # ------------------------------------------------------------ helpers
    def wait_ready(self, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.runner is not None and not self.runner.alive() and self.runner.exits and \
                    self.runner.exits[-1] != device_cmd.EXIT_RESTART:
                raise StepFailed("the device exited with code %d:\n%s" % (
                    self.runner.exits[-1], self.runner.log_text()[-1500:]))
            try:
                ex = device_cmd.request(self.inv, 1, ".well-known/core", plain=True, timeout=1.0)
                if ex.response is not None and ex.response.code == 0x45:
                    return bytes(ex.response.payload).decode()
            except device_cmd.DeviceError:
                pass
            time.sleep(0.2)
        raise StepFailed("the device did not answer within %.0f s" % timeout)

    def status(self):
        return device_cmd.status(self.inv, timeout=15)

    def app_slot(self, st):
        for s in st.get("slots") or []:
            if s.get("name") == "app":
                return s
        raise StepFailed("/status lists no app component")

    # ------------------------------------------------------------ steps
    def s_provision(self):
        import shutil

        for p in (self.state, self.home):
            shutil.rmtree(p, ignore_errors=True)
        os.makedirs(self.dir, exist_ok=True)
        if self.qemu:
            return self.s_provision_qemu()
        self.inv = device_cmd.provision("demo", state=self.state, home=self.home, address=self.address,
                                        micropython=self.args.micropython)
        self.detail("UEID %s... (type 0x01, random, made by the device with its key)" % self.inv["ueid"][:18])
        self.detail("OSCORE context (AES-CCM-16-64-128): device side in %s," % _show(
            os.path.join(self.state, "config.json")))
        self.detail("  host side in the inventory %s" % _show(self.inv["dir"]))
        self.detail("SUIT trust anchor: HSS-LMS public key %s... (private key stays on the host)"
                    % self.inv["suit_pub"][:24])
        self.detail("EAT key: HSS-LMS, generated ON the device; public key %s..." % self.inv["eat_pub"][:24])

    def s_provision_qemu(self):
        # as on a board: (hss) the device makes its key in the raw REPL, the
        # host then writes the config; the config goes to the device in the
        # boot command (step 2), build/run/device/config.json is the host's copy
        self.runner = QemuRunner(self.args.elf, self.args.port, os.path.join(self.dir, "device.log"),
                                 self.args.qemu_bin)
        try:
            self.runner.open()
        except Exception as e:  # BridgeError: qemu missing, port taken
            raise StepFailed(str(e))
        self.detail("qemu-system-arm mps2-an386 started: %s" % _show(self.args.elf))
        if self.args.eat == "hmac":
            with _small_suit_key():
                self.inv = device_cmd.provision("demo", state=self.state, home=self.home, address=self.address,
                                                micropython=self.args.micropython, board="qemu_an386",
                                                eat_mode="hmac")
            self.detail("UEID %s... (type 0x01, random, made on this host)" % self.inv["ueid"][:18])
            self.detail("EAT key: HMAC-SHA256 (COSE_Mac0), a 32-byte secret made on this host and given to")
            self.detail("  the device in its config (--eat hss: an HSS-LMS key made on the device;")
            self.detail("  see boards/qemu_an386/README.md)")
        else:
            out = self.runner.exec_raw("import hg_qemu; hg_qemu.keygen(%r)" % os.urandom(32).hex())
            with _device_keygen(out), _small_suit_key():
                self.inv = device_cmd.provision("demo", state=self.state, home=self.home, address=self.address,
                                                micropython=self.args.micropython, board="qemu_an386")
            self.detail("UEID %s... (type 0x01, made by the device with its key)" % self.inv["ueid"][:18])
            self.detail("EAT key: HSS-LMS, one level H5/W4 (%s tokens), generated ON the device from"
                        % self.inv.get("eat_leaves"))
            self.detail("  host entropy + clock jitter (no TRNG on the emulated board: demo only);")
            self.detail("  public key %s..." % self.inv["eat_pub"][:24])
        self.detail("OSCORE context (AES-CCM-16-64-128) and SUIT trust anchor (HSS-LMS public key")
        self.detail("  %s...) in the config, %s; host side in %s" % (
            self.inv["suit_pub"][:24], _show(os.path.join(self.state, "config.json")), _show(self.inv["dir"])))

    def s_start_qemu(self):
        with open(os.path.join(self.state, "config.json")) as f:
            config = json.dumps(json.load(f), separators=(",", ":"))
        self.detail("raw REPL: import hg_qemu; hg_qemu.run(CONFIG_JSON)   (%d bytes of config)" % len(config))
        self.detail("bridge: UDP %s <-> CoAP over SLIP on the emulated UART0" % self.address)
        self.runner.start(config)
        self.wait_ready()

    def s_start(self):
        if self.qemu:
            return self.s_start_qemu()
        cmd = device_cmd.device_command(self.args.micropython, self.state, "127.0.0.1", self.args.port)
        self.detail("$ " + " ".join(_show(c) for c in cmd))
        self.runner = Runner(cmd, os.path.join(self.dir, "device.log"))
        self.runner.start()
        self.wait_ready()

    def s_discovery(self):
        ex = device_cmd.request(self.inv, 1, ".well-known/core", plain=True, timeout=10)
        r = device_cmd._response(ex, "GET /.well-known/core")
        links = bytes(r.payload).decode()
        for link in links.split(","):
            self.detail(link)
        for need in ("</status>", "</sensors/temperature>", "</attest>", "</suit/manifest>"):
            if need not in links:
                raise StepFailed("%s is not listed" % need)

    def s_status(self):
        ex = device_cmd.request(self.inv, 1, "status", plain=True, timeout=10)
        r = device_cmd._response(ex, "plain GET /status")
        self.detail("plain GET /status (no OSCORE): %s - refused" % device_cmd.code_text(r.code))
        if r.code == 0x45:
            raise StepFailed("the device answered /status without OSCORE")
        st = self.status()
        self.detail("OSCORE GET /status:")
        for ln in device_cmd.format_status(st).splitlines():
            self.detail("  " + ln)
        if not st.get("version"):
            raise StepFailed("no app version in /status (mode %s)" % st.get("mode"))
        self.version0 = st["version"]

    def s_observe(self):
        seen = []

        def note(ex, msg):
            v = device_cmd.decode_payload(msg)
            seen.append(v)
            self.detail("notification %d: %s C (Observe %s)" % (len(seen), v, msg.opt_uint(6)))

        ex = device_cmd.request(self.inv, 1, "sensors/temperature", observe=3, on_notify=note, timeout=20)
        if ex.error and len(seen) < 3:
            raise StepFailed(ex.error)
        if len(seen) < 3:
            raise StepFailed("%d of 3 notifications" % len(seen))
        try:
            [float(v) for v in seen]
        except (TypeError, ValueError):
            raise StepFailed("notifications are not temperatures: %r" % seen)

    def attest(self):
        res = device_cmd.attest(self.inv, timeout=30)
        if not res["valid"]:
            raise StepFailed("token invalid: %s (code %s)" % (res["reason"], res["code"]))
        lc = res.get("lms_check") or {}
        algs = {-46: "HSS-LMS", 5: "HMAC-SHA256 (COSE_Mac0)", 4: "HMAC-SHA256/64 (COSE_Mac0)"}
        self.detail("token %d bytes, %s, verified with the device's key from the inventory%s" % (
            res["token_size"], algs.get(res.get("alg"), "alg %s" % res.get("alg")),
            " (lib/lms and pyhsslms both accept it)" if lc.get("lib_lms") and lc.get("pyhsslms") else ""))
        for ln in device_cmd.claims_summary(res):
            self.detail(ln)
        app = device_cmd.measurements(res).get("app")
        if app is None:
            raise StepFailed("no measurement of the app")
        return res, app

    def s_attest1(self):
        res, app = self.attest()
        self.digest0 = app["digest"]

    def s_update(self):
        path = os.path.join(self.dir, "app-1.1.0.py")
        with open(path, "w") as f:
            f.write(APP_1_1_0)
        env, seq, version, saved = device_cmd.build_update(self.inv, path)
        self.first_env = saved
        self.detail("app 1.1.0 (%d bytes) in a SUIT envelope of %d bytes, sequence number %d," % (
            len(APP_1_1_0), len(env), seq))
        self.detail("signed with the host's HSS-LMS key%s; POST /suit/manifest over OSCORE, block-wise:"
                    % (" (one level, H10/W8)" if self.qemu else ""))
        self.restarts_before = self.runner.starts
        code, rep = device_cmd.push_envelope(self.inv, env, timeout=120, quiet=False)
        self.staged = env if code == 0x41 else None
        if self.staged is not None:
            # a board that installs at its restart (hg_device lean mode)
            self.detail("%s: authenticated and staged; the device installs it as it restarts"
                        % device_cmd.code_text(code))
            return
        ok, text = device_cmd.describe_report(rep) if rep else (False, "no report")
        self.detail("%s: %s" % (device_cmd.code_text(code), text))
        if code != 0x44 or not ok:
            raise StepFailed("update refused")

    def s_restart(self):
        deadline = time.time() + 30
        while self.runner.starts <= self.restarts_before and time.time() < deadline:
            time.sleep(0.1)
        if self.runner.starts <= self.restarts_before:
            raise StepFailed("the device did not restart after the update")
        self.detail("the device exited with code %d (restart requested); started again" % self.runner.exits[-1])
        self.wait_ready()
        self.console()
        if self.staged is not None:
            rep = device_cmd.staged_report(self.inv, self.staged, timeout=30)
            ok, text = device_cmd.describe_report(rep) if rep else (False, "no report of this update")
            self.detail("GET /suit/report after the restart: %s" % text)
            if not ok:
                raise StepFailed("the staged update was not installed")
        log = self.runner.log_text()
        if "trial" not in log.split("restart requested")[-1]:
            raise StepFailed("no trial boot on the console")
        st = None
        deadline = time.time() + 30
        while time.time() < deadline:
            st = self.status()
            if not self.app_slot(st).get("trial"):
                break
            time.sleep(0.5)
        for ln in device_cmd.format_status(st).splitlines():
            self.detail("  " + ln)
        if st.get("version") != "1.1.0":
            raise StepFailed("the device runs app %s, not 1.1.0" % st.get("version"))
        if self.app_slot(st).get("trial"):
            raise StepFailed("the trial was not confirmed")
        ex = device_cmd.request(self.inv, 1, "hello", timeout=10)
        r = device_cmd._response(ex, "GET /hello")
        self.detail("OSCORE GET /hello (added by the new app): %s" % bytes(r.payload).decode())

    def s_attest2(self):
        res, app = self.attest()
        if app["digest"] == self.digest0:
            raise StepFailed("the app measurement did not change")
        self.detail("app measurement changed: %s... -> %s..." % (self.digest0[:16], app["digest"][:16]))
        sw = (res.get("claims") or {}).get("swversion")
        if sw and sw[0] != "1.1.0":
            raise StepFailed("swversion is %s, not 1.1.0" % sw[0])

    def s_replay(self):
        if not self.first_env:
            raise StepFailed("no earlier manifest to replay (the update step failed)")
        with open(self.first_env, "rb") as f:
            env = f.read()
        self.detail("POST the sequence-1 envelope again (%s)" % _show(self.first_env))
        starts = self.runner.starts
        code, rep = device_cmd.push_envelope(self.inv, env, timeout=60, quiet=True)
        ok, text = device_cmd.describe_report(rep) if rep else (False, "no report")
        self.detail("%s: %s" % (device_cmd.code_text(code), text))
        if code != 0x89 or device_cmd.report_code(rep) != -5:
            raise StepFailed("expected 4.09 Conflict with SUIT_ERR_SEQUENCE_NUMBER")
        st = self.status()
        if st.get("version") != "1.1.0" or self.runner.starts != starts:
            raise StepFailed("the device changed after a refused manifest")
        self.detail("the device still runs app 1.1.0")

    # ------------------------------------------------------------ all
    def run(self):
        if self.qemu:
            self.say("hourglass: make run BOARD=qemu_an386 - the device on an emulated Cortex-M4 with 64 KiB")
            self.say("RAM (firmware/hg_qemu.py), reached through the bridge: provisioned, queried over OSCORE,")
            self.say("attested (EAT) and updated (SUIT) from this host.")
            self.say("image: %s" % _show(self.args.elf))
        else:
            self.say("hourglass: make run - a virtual device (MicroPython unix port, firmware/hg_unix.py)")
            self.say("provisioned, queried over OSCORE, attested (EAT) and updated (SUIT) from this host.")
            self.say("interpreter: %s" % self.args.micropython)
        steps = [
            ("provision a fresh device in %s" % _show(self.dir), self.s_provision),
            ("start the device on %s" % self.address, self.s_start),
            ("discovery: GET /.well-known/core (plain CoAP)", self.s_discovery),
            ("OSCORE-protected GET /status", self.s_status),
            ("Observe /sensors/temperature: three notifications over OSCORE", self.s_observe),
            ("attestation: POST /attest with a fresh nonce, token verified on the host", self.s_attest1),
            ("signed SUIT update to app 1.1.0, pushed block-wise", self.s_update),
            ("the device restarts into app 1.1.0: trial boot, then confirmed", self.s_restart),
            ("attestation again: the new measurement", self.s_attest2),
            ("an old manifest replayed: refused", self.s_replay),
        ]
        self.total = len(steps)
        try:
            for i, (title, fn) in enumerate(steps):
                ok = self.step(i + 1, title, fn)
                if not ok and i < 2:
                    break  # nothing else can run without a device
        finally:
            if self.runner is not None:
                self.runner.stop()
                self.console()
        return self.summary()

    def summary(self):
        passed = [r for r in self.results if r[2]]
        failed = [r for r in self.results if not r[2]]
        skipped = self.total - len(self.results)
        self.say("")
        self.say("Summary: %d of %d steps passed%s" % (len(passed), self.total,
                                                       ", %d not run" % skipped if skipped else ""))
        for n, title, ok in self.results:
            self.say("  %s %2d. %s" % ("PASS" if ok else "FAIL", n, title))
        self.say("device console: %s; inventory: %s" % (_show(os.path.join(self.dir, "device.log")),
                                                         _show(self.home)))
        if self.qemu:
            if self.heap:
                self.say("device heap free (GET /status after each step): %s; lowest %d of %s bytes" % (
                    ", ".join("%d: %s" % h[:2] for h in self.heap), min(h[1] for h in self.heap),
                    self.heap_total))
                self.say("largest free block (same steps): %s" % ", ".join("%d: %s" % (h[0], h[2]) for h in self.heap))
            if self.runner is not None and self.runner.stat:
                self.say("device link at the end: %s" % self.runner.stat)
        if failed or skipped:
            self.say("make run: FAILED at step %s" % ", ".join("%d (%s)" % (n, t) for n, t, _ in failed)
                     if failed else "make run: FAILED (steps not run)")
            return 1
        self.say("make run: every step passed")
        return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--micropython", help="device interpreter (default build/unix/micropython, else "
                    ".venv/bin/micropython)")
    ap.add_argument("--dir", default=os.path.join(ROOT, "build", "run"), help="work folder (default build/run)")
    ap.add_argument("--port", type=int, default=int(os.environ.get("HG_RUN_PORT", "5783")),
                    help="UDP port of the device (default 5783, or $HG_RUN_PORT)")
    ap.add_argument("--board", default="unix", help="unix (default) or qemu_an386")
    ap.add_argument("--elf", default=os.path.join(ROOT, "build", "qemu_an386", "firmware.elf"),
                    help="--board qemu_an386: the image (default build/qemu_an386/firmware.elf)")
    ap.add_argument("--qemu-bin", default="qemu-system-arm", help="--board qemu_an386: qemu executable")
    ap.add_argument("--eat", choices=("hmac", "hss"), default="hmac",
                    help="--board qemu_an386: the EAT key, HMAC from the host config (default) or HSS-LMS "
                    "H5/W4 made on the device")
    args = ap.parse_args(argv)
    if args.board == "qemu":
        args.board = "qemu_an386"
    if args.board not in ("unix", "qemu_an386"):
        print("make run: unknown BOARD %r (unix, qemu_an386; real boards: see README.md)" % args.board,
              file=sys.stderr)
        return 2
    use_device_lib()
    try:
        args.micropython = device_cmd.find_micropython(args.micropython)
    except device_cmd.DeviceError as e:
        print("make run: %s" % e, file=sys.stderr)
        return 1
    if args.board == "qemu_an386":
        import shutil

        if not os.path.exists(args.elf):
            print("make run BOARD=qemu_an386: %s is missing (build it with `make qemu`)" % _show(args.elf),
                  file=sys.stderr)
            return 1
        if not shutil.which(args.qemu_bin):
            print("make run BOARD=qemu_an386: %s is not installed" % args.qemu_bin, file=sys.stderr)
            return 1
    if not os.path.exists(device_cmd.device_entry()):
        print("make run: %s is missing (the device application is not in this tree)" % device_cmd.device_entry(),
              file=sys.stderr)
        return 1
    return Story(args).run()


if __name__ == "__main__":
    sys.exit(main())
