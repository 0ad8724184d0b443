#!/usr/bin/env python3
"""Power-cut soak: SIGKILL the unix-port device at random instants and check,
after every restart, what must survive a power cut.

  tools/soak/soak.py suit|oscore|attest [--trials N] [--seed S] [--micropython PATH]
                     [--size BYTES] [--quiet]

Scenario `suit` (issue #6): the device (tools/soak/suit_device.py) runs an
image of version 1 (manifest sequence 1, installed and confirmed before the
trials). Version 2's payload is integrated in its envelope, or with --fetch
served by a CoAP server in this process and fetched block-wise by the
device (so kills also land mid-transfer). Each trial copies that state and then
  A. installs the version-2 envelope, killed at a random instant (during
     authentication, the payload streaming into the staging slot, the
     commit, or not at all);
  B. restarts the device up to four times, each run randomly retrying the
     update or just booting (trial boot, confirm), each killed at a random
     instant with probability 1/2;
  C. boots without a kill, retries the update, boots again.
After every run that printed its BOOT line, and at the end:
  - the image it booted has the digest of an image a manifest it accepted
    describes (version 1 or 2), and the bytes in that slot, hashed here
    independently, have that digest;
  - the stored sequence number never went backwards (and is 1 or 2);
  - no run ended in safe mode;
  - after C the device runs version 2 with sequence 2, or version 1 with
    sequence 2 when the trial boot of version 2 was killed before it
    confirmed max_trials times and the device rolled back (it printed
    "rolled-back"; the same manifest is then refused as a replay).

Scenario `oscore` (issue #9): the device is lib/oscore/oscore_demo.py
server with a persisted state folder, the client lib/oscore/oscore_demo.py
client processes with their own (one at a time: they share the client's
sequence numbers). One context for the whole soak. A UDP relay between
them captures every datagram both ways (and duplicates 5% of them). Each
trial runs four clients (GET /hello, or Observe /counter for 2-4
notifications with server-generated Partial IVs); around each one the
server is SIGKILLed at a random instant with probability 1/2 (at least once
a trial) and restarted on the same state - what is sent meanwhile is lost
or, 70% of the time, held and delivered to the new boot - and the client
is SIGKILLed with probability 1/4 (or when it waits past its deadline for
an answer a dead server never sends). After half the restarts the relay
replays an earlier captured request to the new boot. Checks, after every
trial over everything captured since the start:
  - no AEAD nonce protected two different ciphertexts: the nonce is fixed
    by (sender ID, Partial IV): a request's kid and Partial IV (client
    key), a response or notification with a Partial IV (the device's
    Sender ID), a response without one (its request's nonce under the
    device's key); the same datagram again is a retransmission, not a
    reuse - across every kill of the server and the client;
  - after the restarts a GET /hello gets through (Echo, RFC 8613 B.1.2);
  - a client that was not killed and whose server was not killed during
    its request succeeded; neither process printed a traceback.

Scenario `attest` (issue #9): the device (tools/soak/attest_device.py) is
provisioned once (eat.provision, HSS of LMS H5/W4 levels, enough leaves
for the trials, 4 bottom leaves reserved per state write) and keeps its
identity and key in one state folder for the whole soak. Each trial runs it
six times with 1-12 random nonces on its stdin, each run SIGKILLed at a
random instant (start-up, loading the key, signing, reserving leaves,
building the next lower tree, or idle), then once cleanly. Every token any
run printed (a torn last line of a killed run excepted) must:
  - verify (eat.verify) against the provisioned COSE_Key and answer the
    nonce sent for it, in order;
  - use a bottom LMS leaf (q at every level) no earlier token used, and
    each upper-level leaf always with the same signature of the same lower
    public key (an upper leaf signing another key is a reuse too);
  - after a clean shutdown, use the very next leaf (close() gives the
    reserved rest back).
Leaves skipped because a killed run had reserved them are counted (wasted).
A run that crashes (a traceback: e.g. a key file a kill left unloadable)
fails its trial; when even the clean run cannot start, the soak stops and
names the kill that came before the first such start-up.

Exit 0 when every trial passed. Kills are spread over the run's measured
duration; the summary counts where they landed.
"""
import argparse
import binascii
import hashlib
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEVICE = os.path.join(ROOT, "tools", "soak", "suit_device.py")
HOURGLASS = [sys.executable, "-m", "hourglass"]


def _default_micropython():
    for p in (os.path.join(ROOT, "build", "unix", "micropython"), os.path.join(ROOT, ".venv", "bin", "micropython")):
        if os.path.exists(p):
            return p
    return None


class Run:
    """One device process: its output lines and whether it was killed."""

    def __init__(self, lines, killed, rc, dt):
        self.lines = lines
        self.killed = killed
        self.rc = rc
        self.dt = dt

    def first(self, word):
        for ln in self.lines:
            if ln.split(" ", 1)[0] == word:
                return ln.split()
        return None


def _start(mp, state, pub, envelope):
    args = [mp, DEVICE, state, pub] + ([envelope] if envelope else [])
    env = dict(os.environ)
    env.pop("MICROPYPATH", None)
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def time_run(mp, state, pub, envelope=None):
    """(seconds until the BOOT line, seconds until exit) of an uninterrupted run."""
    t0 = time.monotonic()
    p = _start(mp, state, pub, envelope)
    t_boot = None
    for raw in p.stdout:
        if t_boot is None and raw.startswith(b"BOOT"):
            t_boot = time.monotonic() - t0
    p.wait()
    total = time.monotonic() - t0
    return (total if t_boot is None else t_boot), total


def run_device(mp, state, pub, envelope=None, kill_after=None):
    t0 = time.monotonic()
    p = _start(mp, state, pub, envelope)
    killed = False
    if kill_after is not None:
        try:
            p.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            killed = True
    out, _ = p.communicate(timeout=120)
    dt = time.monotonic() - t0
    return Run(out.decode(errors="replace").splitlines(), killed, p.returncode, dt)


def _make_image(rng, n):
    return bytes(rng.getrandbits(8) for _ in range(n))


def _spec(path, seq, image, uri=None):
    import json

    comp = {"id": ["00"], "file": image, "slots": True}
    if uri:
        comp["uri"] = uri
    else:
        comp["integrated"] = True
    with open(path, "w") as f:
        json.dump({"sequence-number": seq, "vendor": {"domain": "arm.com"}, "class": {"model": "suit"},
                   "components": [comp]}, f)


def _hourglass(*args):
    r = subprocess.run(HOURGLASS + list(args), cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tools")))
    if r.returncode != 0:
        raise SystemExit("soak: hourglass %s failed: %s" % (" ".join(args), r.stderr.strip()))


class Checker:
    def __init__(self, state, digests):
        self.state = state
        self.digests = digests  # hex digest -> version
        self.max_seq = 1
        self.errors = []

    def fail(self, msg):
        self.errors.append(msg)

    def boot(self, run, what):
        if run.first("SAFE-MODE"):
            self.fail("%s: safe mode: %s" % (what, " ".join(run.first("SAFE-MODE"))))
            return None
        b = run.first("BOOT")
        if b is None:
            if not run.killed:
                self.fail("%s: no BOOT line (rc %s): %s" % (what, run.rc, run.lines[-3:]))
            return None
        _, status, slot, digest, seq = b[:5]
        seq = int(seq)
        if digest not in self.digests:
            self.fail("%s: booted an image no accepted manifest describes (%s, %s)" % (what, status, digest))
        else:
            path = os.path.join(self.state, "suit.suit.app." + slot)
            try:
                with open(path, "rb") as f:
                    if hashlib.sha256(f.read()).hexdigest() != digest:
                        self.fail("%s: slot %s bytes do not hash to the booted digest" % (what, slot))
            except OSError as e:
                self.fail("%s: slot %s unreadable: %s" % (what, slot, e))
        if seq < self.max_seq:
            self.fail("%s: stored sequence went backwards: %d after %d" % (what, seq, self.max_seq))
        if seq not in (1, 2):
            self.fail("%s: stored sequence %d" % (what, seq))
        self.max_seq = max(self.max_seq, seq)
        return self.digests.get(digest), seq


def phase_of(run):
    """Where a killed run was: by the last line it printed."""
    if not run.killed:
        return "completed"
    if not run.lines:
        return "start/boot"
    last = run.lines[-1].split(" ", 1)[0]
    return {"BOOT": "update/confirm", "FETCH": "fetch"}.get(last, "after " + last)


def suit(args):
    mp = args.micropython or _default_micropython()
    if not mp:
        print("soak: no MicroPython binary (make unix, or make bootstrap for .venv/bin/micropython)")
        return 2
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="hg-soak-")
    server = None
    try:
        key, pub = os.path.join(work, "suit.key"), os.path.join(work, "suit.pub")
        _hourglass("lms", "keygen", "--out", key, "--pub", pub, "--levels", "1", "--lms", "H5", "--ots", "W4",
                   "--chunk", "4")
        digests = {}
        envs = {}
        images = {}
        for v in (1, 2):
            images[v] = _make_image(rng, args.size)
        if args.fetch:
            # version 2's payload is fetched over CoAP block-wise, so kills
            # also land in the middle of the transfer
            sys.path.insert(0, os.path.join(ROOT, "host_tests"))
            from procs import ImageServer  # the tests' aiocoap update server

            server = ImageServer({"app2.bin": images[2]})
        for v in (1, 2):
            img = os.path.join(work, "app%d.bin" % v)
            with open(img, "wb") as f:
                f.write(images[v])
            digests[hashlib.sha256(images[v]).hexdigest()] = v
            spec = os.path.join(work, "v%d.json" % v)
            uri = "coap://127.0.0.1:%d/app2.bin" % server.port if args.fetch and v == 2 else None
            _spec(spec, v, img, uri)
            envs[v] = os.path.join(work, "v%d.suit" % v)
            _hourglass("suit", "create", spec, "--key", key, "--out", envs[v])
        template = os.path.join(work, "template")
        os.mkdir(template)
        r = run_device(mp, template, pub, envs[1])
        if not r.first("INSTALLED"):
            print("soak: setup install failed: %s" % r.lines)
            return 1
        r = run_device(mp, template, pub)
        if not r.first("CONFIRMED"):
            print("soak: setup boot failed: %s" % r.lines)
            return 1
        # calibrate: how long an update run and a boot run take here
        cal = os.path.join(work, "cal")
        shutil.copytree(template, cal)
        upd = time_run(mp, cal, pub, envs[2])
        boot = time_run(mp, cal, pub)
        print("soak suit: %s, image %d bytes, update run %.0f ms (booted at %.0f ms), boot run %.0f ms, "
              "%d trials, seed %s" % (os.path.relpath(mp, ROOT), args.size, upd[1] * 1e3, upd[0] * 1e3,
                                      boot[1] * 1e3, args.trials, args.seed))

        def kill_time(t):
            # most kills after the BOOT line (install, commit, slot switch,
            # confirm), the rest anywhere (start-up, boot selection)
            if rng.random() < 0.75:
                return rng.uniform(t[0], t[1] * 1.05)
            return rng.uniform(0, t[0])
        landed = {}
        failed = 0
        for k in range(args.trials):
            state = os.path.join(work, "t%d" % k)
            shutil.copytree(template, state)
            chk = Checker(state, digests)
            runs = []
            r = run_device(mp, state, pub, envs[2], kill_after=kill_time(upd))
            runs.append(r)
            chk.boot(r, "A")
            for j in range(4):
                with_env = rng.random() < 0.5
                kill = kill_time(upd if with_env else boot) if rng.random() < 0.5 else None
                r = run_device(mp, state, pub, envs[2] if with_env else None, kill_after=kill)
                runs.append(r)
                chk.boot(r, "B%d" % j)
            r = run_device(mp, state, pub)
            runs.append(r)
            chk.boot(r, "C0")
            if not r.first("CONFIRMED"):
                chk.fail("C0: boot did not confirm: %s" % r.lines[-2:])
            r = run_device(mp, state, pub, envs[2])
            runs.append(r)
            chk.boot(r, "C1")
            rej = r.first("REJECTED")
            if not r.first("INSTALLED") and not (rej and rej[1] == "-5"):
                chk.fail("C1: retry neither installed nor refused as a replay: %s" % r.lines[-2:])
            r = run_device(mp, state, pub)
            runs.append(r)
            got = chk.boot(r, "C2")
            # version 2 unless its trial boot was killed max_trials times
            # before confirming: then the device rolled back to version 1
            # and keeps sequence 2 (the same manifest is refused)
            rolled = any((x.first("BOOT") or [None, None])[1] == "rolled-back" for x in runs)
            if got != (2, 2) and not (rolled and got == (1, 2)):
                chk.fail("C2: final state %s, want version 2 with sequence 2" % (got,))
            if rolled:
                landed["(rolled back)"] = landed.get("(rolled back)", 0) + 1
            for r in runs:
                if r.killed:
                    landed[phase_of(r)] = landed.get(phase_of(r), 0) + 1
            if chk.errors:
                failed += 1
                print("trial %d FAILED:" % k)
                for e in chk.errors:
                    print("  " + e)
            elif not args.quiet:
                print("trial %d ok" % k)
            shutil.rmtree(state, ignore_errors=True)
        print("soak suit%s: %d/%d trials passed; kills landed: %s" % (
            " (payload fetched over CoAP)" if args.fetch else "", args.trials - failed, args.trials,
            ", ".join("%s %d" % kv for kv in sorted(landed.items())) or "none"))
        return 0 if failed == 0 else 1
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------ helpers


def _lib_path():
    # the harness checks with the device's own codecs (lib/eat, lib/coap, ...)
    lib = os.path.join(ROOT, "lib")
    for pkg in sorted(os.listdir(lib)):
        p = os.path.join(lib, pkg)
        if os.path.isdir(p) and p not in sys.path:
            sys.path.append(p)
    tools = os.path.join(ROOT, "tools")
    if tools not in sys.path:
        sys.path.append(tools)


def _popen(args, out_path, stdin=None):
    env = dict(os.environ)
    env.pop("MICROPYPATH", None)
    out = open(out_path, "wb")
    try:
        return subprocess.Popen(args, stdin=stdin, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    finally:
        out.close()  # the child has its own descriptor


def _read(path):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")


def _kill(p):
    """SIGKILL p if it still runs; True if it died of this (or any) SIGKILL."""
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGKILL)
        except OSError:
            pass
    p.wait()
    return p.returncode == -signal.SIGKILL


def _count(d, key, n=1):
    d[key] = d.get(key, 0) + n


# ------------------------------------------------------------------ attest

ATTEST_DEVICE = os.path.join(ROOT, "tools", "soak", "attest_device.py")
_ATTEST_KILLED_RUNS = 6  # per trial, then one clean run
_ATTEST_MAX_NONCES = 12  # per killed run
_ATTEST_CHUNK = 4  # bottom leaves reserved per state write: kills land in writes often


def attest_levels(trials):
    """HSS levels of LMS H5 (32 leaves each) for `trials`: room for the worst
    case (every run answers all its nonces and wastes a whole reservation)
    and a quarter more for lower trees a kill cut off. Running out is
    reported, not mistaken for a reuse."""
    need = (64 + trials * (_ATTEST_KILLED_RUNS * (_ATTEST_MAX_NONCES + _ATTEST_CHUNK) + 4)) * 5 // 4
    levels = 2
    while 32 ** levels < need and levels < 8:
        levels += 1
    return levels


class AttestRun:
    """One attest_device.py process: what was sent, printed, and how it ended."""

    def __init__(self, sent, text, killed, rc, dt):
        self.sent = sent  # nonces (bytes) written to its stdin, in order
        self.text = text
        self.killed = killed
        self.rc = rc
        self.dt = dt


class AttestChecker:
    """Every token printed in every run, in order: it verifies against the
    provisioned key, answers the run's next nonce, and its one-time keys are
    new: the bottom leaf (q at every level) never seen before, and each
    upper-level leaf always with the same signature of the same lower
    public key (an upper leaf signing a second key is a reuse too)."""

    def __init__(self, key):
        _lib_path()
        import eat
        import lms

        self.eat = eat
        self.lms = lms
        self.key = key
        self.errors = []
        self.leaves = {}  # leaf tuple -> where it was first used
        self.upper = {}  # leaf prefix (an upper leaf) -> the bytes it signed with
        self.tokens = 0
        self.torn = 0
        self.first = None  # global index of the first leaf seen
        self.last_index = None
        self.top = -1
        self.after_clean = None  # last index before a clean shutdown
        self.crashed = None  # the last line of the last run's traceback

    def fail(self, msg):
        self.errors.append(msg)

    def _index(self, sig):
        # the leaf's position in the whole HSS key (levels top first), and
        # the (prefix, signed bytes) of every upper level
        lms = self.lms
        desc = lms.describe_sig(sig)
        idx = 0
        uppers = []
        off = 4
        prefix = ()
        for i, (lt, ot, q) in enumerate(desc):
            idx = (idx << lms.LMS_PARAMS[lt][3]) | q
            prefix = prefix + (q,)
            if i + 1 < len(desc):
                n = lms.lms_sig_len(lt, ot) + lms.lms_pub_len(desc[i + 1][0])
                uppers.append((prefix, bytes(sig[off:off + n])))
                off += n
        return prefix, idx, uppers

    def run(self, r, what):
        lines = r.text.split("\n")
        torn = lines.pop()  # "" when the output ended with a newline
        if torn:
            if r.killed:
                self.torn += 1  # the kill cut a line: that token never fully left
            else:
                self.fail("%s: output ends without a newline: %r" % (what, torn[:60]))
        clean_before = self.after_clean
        self.after_clean = None
        answered = 0
        ready = done = False
        self.crashed = None
        for ln in lines:
            w = ln.split(" ")
            if ln.startswith("Traceback"):
                # one error per crash: its last line says what
                self.crashed = ([x for x in lines if x.strip()] or [ln])[-1].strip()
                self.fail("%s: the device crashed%s: %s" % (what, "" if ready else " at start-up", self.crashed))
                break
            if w[0] == "READY" and not ready and answered == 0:
                ready = True
            elif w[0] == "TOKEN" and ready and len(w) == 3 and not done:
                if answered >= len(r.sent):
                    self.fail("%s: a token for a nonce never sent" % what)
                    continue
                nonce = r.sent[answered]
                answered += 1
                if w[1] != binascii.hexlify(nonce).decode():
                    self.fail("%s: token %d answers another nonce" % (what, answered))
                    continue
                self._token(w[2], nonce, "%s token %d" % (what, answered), clean_before)
                clean_before = None
            elif w[0] == "DONE" and ready and not done:
                done = True
            else:
                self.fail("%s: unexpected line %r" % (what, ln[:80]))
        if self.crashed is not None:
            return "crashed" if ready else "crashed at start-up"
        if not r.killed:
            if not done or r.rc != 0:
                self.fail("%s: clean run did not shut down (rc %s): %s" % (what, r.rc, lines[-2:]))
            elif answered != len(r.sent):
                self.fail("%s: %d of %d nonces answered" % (what, answered, len(r.sent)))
            else:
                self.after_clean = self.last_index
        return "start-up" if not ready else ("signing" if answered < len(r.sent) else "idle")

    def _token(self, hx, nonce, what, clean_before):
        eat = self.eat
        try:
            tok = eat.verify(binascii.unhexlify(hx), self.key, nonce)
            leaf, idx, uppers = self._index(tok.message.tag_or_signature)
        except (ValueError, TypeError) as e:  # EATError, LMSError, bad hex
            self.fail("%s: does not verify: %s" % (what, e))
            return
        self.tokens += 1
        if tuple(leaf) != tuple(tok.leaf()):
            self.fail("%s: leaf %s, eat says %s" % (what, leaf, tok.leaf()))
        if leaf in self.leaves:
            self.fail("%s: LMS leaf %s used twice (first by %s)" % (what, leaf, self.leaves[leaf]))
            return
        self.leaves[leaf] = what
        for prefix, signed in uppers:
            old = self.upper.setdefault(prefix, signed)
            if old != signed:
                self.fail("%s: upper leaf %s signed two different things" % (what, prefix))
        if clean_before is not None and idx != clean_before + 1:
            self.fail("%s: leaf %d after a clean shutdown at %d: the reservation was not given back"
                      % (what, idx, clean_before))
        if self.first is None:
            self.first = idx
        self.last_index = idx
        self.top = max(self.top, idx)

    def wasted(self):
        """Leaves skipped (reserved by a run that was killed before using
        them, or a lower tree cut off): the span used minus the tokens."""
        if self.first is None:
            return 0
        return self.top - self.first + 1 - len(self.leaves)


def attest_run(mp, state, nonces, kill_after=None, out_path=None):
    """One device run answering `nonces`; killed after kill_after seconds
    (None: stdin is closed after the nonces and the run shuts down)."""
    t0 = time.monotonic()
    p = _popen([mp, ATTEST_DEVICE, "run", state], out_path, stdin=subprocess.PIPE)
    try:
        p.stdin.write(b"".join(binascii.hexlify(n) + b"\n" for n in nonces))
        p.stdin.flush()
        if kill_after is None:
            p.stdin.close()
    except OSError:
        pass  # it died already: its output says why
    killed = False
    if kill_after is not None:
        delay = kill_after - (time.monotonic() - t0)
        if delay > 0:
            time.sleep(delay)
        killed = _kill(p)
    else:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            _kill(p)
    dt = time.monotonic() - t0
    try:
        p.stdin.close()
    except OSError:
        pass
    return AttestRun(list(nonces), _read(out_path), killed, p.returncode, dt)


def attest(args):
    mp = args.micropython or _default_micropython()
    if not mp:
        print("soak: no MicroPython binary (make unix, or make bootstrap for .venv/bin/micropython)")
        return 2
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="hg-soak-attest-")
    try:
        state = os.path.join(work, "device")
        out = os.path.join(work, "out.txt")
        levels = attest_levels(args.trials)
        r = subprocess.run([mp, ATTEST_DEVICE, "provision", state, str(levels), str(_ATTEST_CHUNK)],
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
        words = r.stdout.split()
        if r.returncode != 0 or len(words) != 2 or words[0] != "PROVISIONED":
            print("soak: provisioning failed: %s %s" % (r.stdout[-300:], r.stderr[-300:]))
            return 1
        chk = AttestChecker(binascii.unhexlify(words[1]))

        def nonces(n):
            return [bytes(rng.getrandbits(8) for _ in range(16)) for _ in range(n)]

        # calibrate (clean runs, checked like the rest): start-up and per token
        r0 = attest_run(mp, state, nonces(4), out_path=out)
        chk.run(r0, "setup 0")
        r1 = attest_run(mp, state, nonces(32), out_path=out)
        chk.run(r1, "setup 1")
        t_tok = max(r1.dt - r0.dt, 0.001) / 28
        t_start = max(r0.dt - 4 * t_tok, 0.001)
        print("soak attest: %s, HSS %d levels of LMS H5/W4 (%d leaves), chunk %d, start-up %.0f ms, "
              "%.1f ms per token, %d trials, seed %s" % (
                  os.path.relpath(mp, ROOT), levels, 32 ** levels, _ATTEST_CHUNK, t_start * 1e3, t_tok * 1e3,
                  args.trials, args.seed))
        if chk.errors:
            print("setup FAILED:\n  " + "\n  ".join(chk.errors))
            return 1
        landed = {}
        kills = 0
        failed = 0
        last_kill = None  # where the last kill landed before a run that could not start
        bricked = None
        for k in range(args.trials):
            n_err = len(chk.errors)
            exhausted = False
            for j in range(_ATTEST_KILLED_RUNS):
                n = rng.randint(1, _ATTEST_MAX_NONCES)
                # anywhere from the exec to a little after the last answer:
                # start-up, loading the key, signing, reserving leaves,
                # building the next lower tree
                kill = rng.uniform(0, t_start + n * t_tok)
                r = attest_run(mp, state, nonces(n), kill, out)
                phase = chk.run(r, "trial %d run %d" % (k, j))
                if phase == "crashed at start-up" and bricked is None:
                    bricked = "after the kill in %s" % (last_kill or "no run")
                if r.killed:
                    kills += 1
                    _count(landed, phase)
                    if phase != "start-up":  # it had loaded the key: it may have written it
                        last_kill = "trial %d run %d (at %.1f ms, %s, after %d tokens)" % (
                            k, j, kill * 1e3, phase, r.text.count("\nTOKEN "))
                if "EXHAUSTED" in r.text:
                    exhausted = True
                    break
            if not exhausted:
                r = attest_run(mp, state, nonces(rng.randint(1, 4)), None, out)
                if chk.run(r, "trial %d clean run" % k) == "crashed at start-up" and bricked is None:
                    bricked = "after the kill in %s" % (last_kill or "no run")
            if len(chk.errors) > n_err:
                failed += 1
                print("trial %d FAILED:" % k)
                for e in chk.errors[n_err:]:
                    print("  " + e)
            elif not args.quiet:
                print("trial %d ok (%d tokens so far)" % (k, chk.tokens))
            if exhausted:
                print("soak attest: key exhausted after trial %d (raise attest_levels)" % k)
                failed += args.trials - k - 1
                break
            if chk.crashed is not None and bricked is not None:
                # even the clean run cannot start: every later run would too
                print("soak attest: the device no longer starts (%s), first %s; stopping" % (chk.crashed, bricked))
                failed += args.trials - k - 1
                break
        print("soak attest: %d/%d trials passed; %d tokens verified, no leaf used twice: %s; kills %d "
              "(landed: %s), torn last lines %d; leaves wasted by reservations %d (%.1f per kill)" % (
                  args.trials - failed, args.trials, chk.tokens,
                  "yes" if not any("twice" in e or "signed two" in e for e in chk.errors) else "NO",
                  kills, ", ".join("%s %d" % kv for kv in sorted(landed.items())) or "none", chk.torn,
                  chk.wasted(), chk.wasted() / float(max(kills, 1))))
        return 0 if failed == 0 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------ oscore

OSCORE_DEMO = os.path.join(ROOT, "lib", "oscore", "oscore_demo.py")
_OSCORE_STEPS = 4  # client runs per trial before the final check
_OSCORE_INTERVAL = 40  # ms between /counter notifications


class Relay(threading.Thread):
    """UDP relay between the clients and the device that records every
    datagram: log entries (direction, client, bytes), direction "S" to the
    device, "C" to a client; client = the client's address (a replay gets a
    name of its own). One socket towards the device per client, so the
    answers find their way back. dup: probability of sending a datagram
    twice (what a retransmission or a duplicating network does)."""

    def __init__(self, device_port, rng, dup=0.0):
        threading.Thread.__init__(self, daemon=True)
        self.device = ("127.0.0.1", device_port)
        self.rng = rng
        self.dup = dup
        self.log = []
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.port = self.front.getsockname()[1]
        self.backs = {}  # client -> socket towards the device
        self.owner = {}  # socket -> client
        self.order = []  # clients, oldest first (old sockets are closed)
        self.replays = 0
        self.held = None
        self.stop = False
        self.lock = threading.Lock()

    def _back(self, client):
        s = self.backs.get(client)
        if s is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            self.backs[client] = s
            self.owner[s] = client
            self.order.append(client)
            while len(self.order) > 16:
                old = self.order.pop(0)
                o = self.backs.pop(old)
                del self.owner[o]
                o.close()
        return s

    def _to_device(self, client, data):
        with self.lock:
            if self.held is not None:
                self.held.append((client, data))
                return
            s = self._back(client)
            n = 2 if self.rng.random() < self.dup else 1
            for _ in range(n):
                self.log.append(("S", client, data))
                s.sendto(data, self.device)

    def hold(self):
        """Queue what goes to the device (it is restarting) instead of losing
        it: the request then meets the new boot without a 2 s retransmission."""
        with self.lock:
            self.held = []

    def release(self):
        with self.lock:
            held = self.held
            self.held = None
        for client, data in held or ():
            self._to_device(client, data)

    def replay(self):
        """Send an earlier protected request to the device again, from a new
        address (an attacker's replay). Returns False if none was captured."""
        with self.lock:
            reqs = [d for t, _c, d in self.log if t == "S" and len(d) > 4 and 0 < d[1] < 32]
        if not reqs:
            return False
        self.replays += 1
        self._to_device("replay-%d" % self.replays, self.rng.choice(reqs))
        return True

    def run(self):
        while not self.stop:
            with self.lock:
                socks = [self.front] + list(self.owner)
            try:
                ready, _, _ = select.select(socks, [], [], 0.05)
            except (OSError, ValueError):
                continue  # a socket closed under us: take the new list
            for s in ready:
                try:
                    data, addr = s.recvfrom(2048)
                except OSError:
                    continue
                if s is self.front:
                    self._to_device(addr, data)
                    continue
                with self.lock:
                    client = self.owner.get(s)
                    if client is None:
                        continue
                    n = 2 if self.rng.random() < self.dup else 1
                    for _ in range(n):
                        self.log.append(("C", client, data))
                        if isinstance(client, tuple):
                            self.front.sendto(data, client)

    def close(self):
        self.stop = True
        self.join(2)
        self.front.close()
        for s in list(self.owner):
            s.close()


class NonceChecker:
    """Every OSCORE-protected datagram captured, in order: the AEAD nonce is
    fixed by (sender ID, Partial IV) under that sender's key. A request
    carries the client's kid and its Partial IV; a response or notification
    with a Partial IV uses the device's Sender ID; one without reuses its
    request's nonce under the device's key. No nonce may protect two
    different ciphertexts (the same datagram again is a retransmission)."""

    def __init__(self, device_id):
        _lib_path()
        import coap_msg
        import oscore

        self.coap_msg = coap_msg
        self.oscore = oscore
        self.device_id = device_id
        self.seen = {}  # (key, id, partial IV) -> (ciphertext, where)
        self.requests = {}  # (client, token) -> (kid, partial IV) of the last request
        self.pos = 0
        self.errors = []
        self.echo = 0  # protected responses with a Partial IV (Echo challenges)
        self.counts = {"client": 0, "device": 0, "device (request nonce)": 0}

    def check(self, log, what):
        coap_msg = self.coap_msg
        end = len(log)
        for i in range(self.pos, end):
            to, client, data = log[i]
            try:
                msg = coap_msg.decode(data)
                ov = msg.opt(coap_msg.OSCORE)
                if ov is None:
                    continue
                piv, kid, _ = self.oscore.decode_option(ov)
            except ValueError as e:  # CoAPError, DecodeError
                self.errors.append("%s: undecodable datagram %s: %s" % (what, binascii.hexlify(data[:16]), e))
                continue
            tk = (client, bytes(msg.token))
            if to == "S":
                if piv is None or kid is None:
                    self.errors.append("%s: request without Partial IV or kid" % what)
                    continue
                self.requests[tk] = (bytes(kid), int.from_bytes(piv, "big"))
                key = ("client", bytes(kid), int.from_bytes(piv, "big"))
            elif piv is not None:
                key = ("device", self.device_id, int.from_bytes(piv, "big"))
                if msg.opt(coap_msg.OBSERVE) is None:
                    self.echo += 1
            else:
                req = self.requests.get(tk)
                if req is None:
                    self.errors.append("%s: response without Partial IV to no captured request" % what)
                    continue
                key = ("device (request nonce)",) + req
            if not msg.payload:
                continue
            ct = bytes(msg.payload)
            old = self.seen.get(key)
            if old is None:
                self.seen[key] = (ct, what)
                self.counts[key[0]] += 1
            elif old[0] != ct:
                self.errors.append("%s: nonce reused: %s id %s Partial IV %d protected two different "
                                   "ciphertexts (first in %s)" % (what, key[0], binascii.hexlify(key[1]).decode(),
                                                                  key[2], old[1]))
        self.pos = end


class OscoreDevice:
    """The OSCORE demo server, restarted on the same state folder and port."""

    def __init__(self, mp, state, prov, port, log_path):
        self.args = [mp, OSCORE_DEMO, "server", "--state", state, "--provision", prov, "--host", "127.0.0.1",
                     "--port", str(port), "--interval", str(_OSCORE_INTERVAL)]
        self.log_path = log_path
        self.proc = None
        self.starts = 0
        self.output = []  # what each run printed

    def start(self):
        self.proc = _popen(self.args, self.log_path)
        self.starts += 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if "serving" in _read(self.log_path):
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.001)
        return False

    def kill(self):
        killed = _kill(self.proc)
        self.output.append(_read(self.log_path))
        return killed


def _oscore_client(mp, state, prov, uri, extra, out_path):
    return _popen([mp, OSCORE_DEMO, "client", "--state", state, "--provision", prov, uri] + extra, out_path)


def oscore(args):
    mp = args.micropython or _default_micropython()
    if not mp:
        print("soak: no MicroPython binary (make unix, or make bootstrap for .venv/bin/micropython)")
        return 2
    _lib_path()
    import json

    from hourglass import oscore_cmd

    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="hg-soak-oscore-")
    dev = relay = None
    try:
        dev_prov = os.path.join(work, "dev.json")
        _hourglass("oscore", "new-context", "--out", dev_prov, "--name", "dev", "--device-id", "d1",
                   "--peer-id", "c1")
        with open(dev_prov) as f:
            params = json.load(f)
        # the client's side of the same context: the IDs swapped
        cli_prov = os.path.join(work, "cli.json")
        oscore_cmd._write(cli_prov, dict(params, name="cli", device_id=params["peer_id"],
                                         peer_id=params["device_id"]), private=True)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        dev = OscoreDevice(mp, os.path.join(work, "device"), dev_prov, port, os.path.join(work, "device.log"))
        relay = Relay(port, random.Random(rng.getrandbits(32)), dup=0.05)  # its own: it runs in a thread
        relay.start()
        chk = NonceChecker(binascii.unhexlify(params["device_id"]))
        cli_state = os.path.join(work, "client")
        cli_out = os.path.join(work, "client.log")
        base = "coap://127.0.0.1:%d/" % relay.port
        if not dev.start():
            print("soak: the device did not start: %s" % _read(dev.log_path)[-300:])
            return 1

        def client(uri, extra, deadline):
            t0 = time.monotonic()
            p = _oscore_client(mp, cli_state, cli_prov, uri, extra, cli_out)
            try:
                p.wait(timeout=deadline)
            except subprocess.TimeoutExpired:
                _kill(p)
            return p.returncode, _read(cli_out), time.monotonic() - t0

        # calibrate: GETs (the first one with the Echo round trip) and an
        # Observe of 3 notifications
        times = []
        for _ in range(3):
            rc, text, t = client(base + "hello", [], 10)
            times.append(t)
            if rc != 0:
                print("soak: setup GET failed: %r" % text)
                return 1
        t_get = sorted(times)[1]
        rc, text, t_obs = client(base + "counter", ["--observe", "3"], 10)
        chk.check(relay.log, "setup")
        if rc != 0 or chk.errors:
            print("soak: setup Observe failed: %r %s" % (text, chk.errors))
            return 1
        print("soak oscore: %s, GET %.0f ms, Observe of 3 %.0f ms, notifications every %d ms, "
              "%d trials, seed %s" % (os.path.relpath(mp, ROOT), t_get * 1e3, t_obs * 1e3, _OSCORE_INTERVAL,
                                      args.trials, args.seed))
        st = {"server kills": 0, "client kills": 0, "client timeouts": 0, "replays": 0}
        ok = {"GET": [0, 0], "Observe": [0, 0], "after restart": [0, 0]}
        stalled = {}  # timed out though the device was not killed during the request
        failed = 0
        n_end = 0
        for k in range(args.trials):
            errs = []
            n_err = len(chk.errors)
            server_killed = False
            for j in range(_OSCORE_STEPS):
                observe = rng.random() < 0.4
                what = "Observe" if observe else "GET"
                extra = ["--observe", str(rng.randint(2, 4))] if observe else []
                est = t_obs if observe else t_get
                # the server dies somewhere around this request (before it,
                # during the Echo round trip, the answer or a notification),
                # at least once per trial; the client sometimes too
                force = j == _OSCORE_STEPS - 1 and not server_killed
                t_srv = rng.uniform(0, est * 1.2) if force or rng.random() < 0.5 else None
                srv_now = t_srv is not None
                t_cli = rng.uniform(0, est * 1.2) if rng.random() < 0.25 else None
                t0 = time.monotonic()
                p = _oscore_client(mp, cli_state, cli_prov, base + ("counter" if observe else "hello"), extra,
                                   cli_out)
                # a request lost with a dying server waits for a CoAP
                # retransmission (2-3 s): give up on it sooner (a kill too)
                deadline = max(0.3, est * 4)
                cli_killed = False
                while True:
                    now = time.monotonic() - t0
                    if t_srv is not None and now >= t_srv:
                        t_srv = None
                        server_killed = True
                        # what is sent meanwhile: lost, or delivered to the new boot
                        held = rng.random() < 0.7
                        if held:
                            relay.hold()
                        st["server kills"] += 1 if dev.kill() else 0
                        if rng.random() < 0.5:
                            time.sleep(rng.uniform(0, 0.02))  # the device stays down a little
                        started = dev.start()
                        relay.release()
                        if not started:
                            errs.append("step %d: the device did not restart: %s" % (j, _read(dev.log_path)[-200:]))
                            _kill(p)
                            break
                        if rng.random() < 0.5 and relay.replay():
                            st["replays"] += 1
                    if p.poll() is not None and t_srv is None:
                        break
                    if t_cli is not None and now >= t_cli:
                        t_cli = None
                        if _kill(p):
                            cli_killed = True
                            st["client kills"] += 1
                    if p.poll() is None and now >= deadline:
                        if _kill(p):
                            cli_killed = True
                            st["client timeouts"] += 1
                            if not srv_now:
                                _count(stalled, what)
                    time.sleep(0.0005)
                p.wait()
                text = _read(cli_out)
                if "Traceback" in text:
                    errs.append("step %d: the client crashed: %s" % (j, text[-300:]))
                ok[what][1] += 1
                if p.returncode == 0:
                    ok[what][0] += 1
                elif not cli_killed and not srv_now:
                    errs.append("step %d: %s failed with nothing killed: %r" % (j, what, text[-200:]))
            # after the restarts: a request must get through (Echo recovery)
            rc, text, _ = client(base + "hello", [], 10)
            ok["after restart"][1] += 1
            if rc == 0 and "Hello, OSCORE!" in text:
                ok["after restart"][0] += 1
            else:
                errs.append("no request succeeded after the restarts: %r" % text[-200:])
            time.sleep(0.01)  # the last answers reach the relay
            chk.check(relay.log, "trial %d" % k)
            for out in dev.output:
                if "Traceback" in out:
                    errs.append("the device crashed: %s" % out[-300:])
            dev.output = []
            errs += chk.errors[n_err:]
            n_end = len(chk.errors)
            if errs:
                failed += 1
                print("trial %d FAILED:" % k)
                for e in errs:
                    print("  " + e)
            elif not args.quiet:
                print("trial %d ok" % k)
        dev.kill()
        relay.close()
        chk.check(relay.log, "end")
        late = chk.errors[n_end:] + ["the device crashed: " + o[-300:] for o in dev.output if "Traceback" in o]
        if late and not failed:
            failed = 1
            print("after the trials: " + "; ".join(late))
        print("soak oscore: %d/%d trials passed; nonces checked: %s (%d datagrams, no nonce reused: %s); "
              "%s; Echo challenges %d; requests ok: %s; timed out with the device up: %s" % (
                  args.trials - failed, args.trials,
                  ", ".join("%s %d" % kv for kv in sorted(chk.counts.items())), len(relay.log),
                  "yes" if not any("reused" in e for e in chk.errors) else "NO",
                  ", ".join("%s %d" % kv for kv in sorted(st.items())), chk.echo,
                  ", ".join("%s %d/%d" % (kk, v[0], v[1]) for kk, v in sorted(ok.items())),
                  ", ".join("%s %d" % kv for kv in sorted(stalled.items())) or "none"))
        return 0 if failed == 0 else 1
    finally:
        if dev is not None and dev.proc is not None:
            _kill(dev.proc)
        if relay is not None and not relay.stop:
            relay.close()
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog="See the top of tools/soak/soak.py for what each scenario checks.")
    ap.add_argument("scenario", choices=["suit", "oscore", "attest"], help="what to cut the power under")
    ap.add_argument("--trials", type=int, default=200, help="trials (default 200)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock, printed)")
    ap.add_argument("--micropython", help="device binary (default build/unix/micropython, else .venv's)")
    ap.add_argument("--size", type=int, default=256 * 1024, help="suit: image size in bytes (default 262144)")
    ap.add_argument("--fetch", action="store_true",
                    help="suit: version 2's payload is fetched over CoAP block-wise (default: integrated)")
    ap.add_argument("--quiet", action="store_true", help="print only failed trials and the summary")
    args = ap.parse_args(argv)
    if args.seed is None:
        args.seed = int(time.time()) & 0xFFFFFF
    return {"suit": suit, "oscore": oscore, "attest": attest}[args.scenario](args)


if __name__ == "__main__":
    sys.exit(main())
