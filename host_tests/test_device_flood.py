"""Bounded loopback flood of the device application (issue #9 "Load").

firmware/hg_unix.py (the device: OSCORE resources, SUIT, EAT) runs under a
MicroPython binary (HG_MICROPYTHON, else build/unix/micropython, else the
PyPI .venv/bin/micropython; skipped, visibly, when there is none) with a
HEAP-sized heap, provisioned the way host_tests/test_device.py does it
(keygen on the device, an OSCORE context from the host tool's
oscore_cmd.new_context, a config.json). The host holds the peer side of that OSCORE context; every
protected request below takes a fresh Sender Sequence Number from it.

For FLOOD_S seconds, SOURCES sockets (and a replay socket) send RATE
datagrams/s in all, a seeded mix of:
  valid     OSCORE CON GETs of /status and /sensors/temperature (text and
            CBOR); plain CoAP GETs of /.well-known/core (CON and NON) and a
            plain GET of the protected /status (4.01)
  malformed random bytes, truncated headers, a wrong version, TKL 9-15, bad
            option encodings, a payload marker without payload, an unknown
            critical option, too many options, reserved code classes; and
            bad OSCORE: reserved flag bits, a 6-byte Partial IV, a non-
            minimal Partial IV, a kid context running past the end, no kid,
            no ciphertext (all 4.02), an unknown kid (4.01), garbage
            ciphertext under the valid kid with a fresh Partial IV, one
            ciphertext byte flipped, a truncated ciphertext (all 4.00)
  replayed  requests the device already answered with a protected response:
            the exact datagram from another port (the replay socket), the
            same OSCORE payload under a new Message ID (from its own port or
            the replay socket, some with a new token): each must be answered
            4.01 "Replay detected", never with a protected or 2.xx response
  dups      the exact datagram again from its own port (a CoAP duplicate).
            A young one (at most YOUNG answered OSCORE requests since the
            original's answer) may get the remembered response (the
            same bytes), an empty ACK (response evicted by the byte budget)
            or "Replay detected"; an old one (OLD or more: every answered
            OSCORE request is remembered, so the original left the
            Endpoint's 32-entry duplicate cache) must get "Replay detected":
            that is the cap of the duplicate cache seen from outside. Never
            a protected response other than the original one.
Responses are matched to requests by (port, Message ID) for ACKs and by
token for NON responses, and their token checked.

Meanwhile a probe sends a protected GET /status every PROBE_MS ms and
verifies each answer (unprotect_response, 2.05); at most MAX_LOSS may go
unanswered within PROBE_TIMEOUT_S, and p50/p99 are reported (print; pytest
-s shows it, and record_property keeps it). No 5.xx anywhere, the process
alive, and no traceback or MemoryError on its console.

Heap: /status says gc.mem_free() WITHOUT a collection (hg_device.status()
runs heap_free(), which collects, only in lean mode), so one reading is the
free heap minus whatever garbage has piled up since the last automatic
collection. With a small heap (HEAP) the collector runs every dozen or so
/status requests (each allocates 12-18 KB), and the largest of HEAP_READS
readings is one taken soon after a collection; 0-3 plain requests (a few
hundred bytes each) before each reading shift where the collections fall,
so that the best reading does not depend on the free heap being a lucky
multiple of one request. Each series starts with the same settling
requests (Flood.settle: one of each kind, fixed order), so what the code
paths leave behind on the C stack (gc scans it conservatively; without
this, two series differed by 10 KB once) is the same each time, and its
readings leave the duplicate cache (32 entries, 4096 bytes) holding the
same kind of entries. The baseline is taken after a WARMUP_S warm-up with
the same traffic (every bounded cache is full then: a full cache is no
leak, growth is), twice, and so is the reading after the flood; the best
of each pair is compared and must be within HEAP_SLACK bytes. In six runs
(build/unix and PyPI micropython) the two series of a pair agreed within
1.6 KB and the best of each pair within 416 bytes; HEAP_SLACK (4 KB)
covers that and is far below what the flood leaves behind if any state
is kept per request: it sends about 3700 valid, 2400 bad-OSCORE and 1700
replayed protected requests, so one 16-byte block kept per request is
over 100 KB, and a device that kept 8 bytes on every tenth temperature
reading was caught at +20 KB.

Caches: the device does not show the Endpoint's usage(), the OSCORE
server's bindings and kept responses, its observers, Block1 sinks or OSCORE
stats (only a debug readout like coap_demo's /heap would), so they are not
sampled here; what is seen from outside is checked: the duplicate cache's
cap through the old duplicates, the replay window through the replays.
"""
import json
import os
import random
import select
import socket
import statistics
import subprocess
import sys
import time

import pytest

import cbor
import coap_msg as m
import oscore
from hgstore import MemoryStorage
from hourglass import oscore_cmd
from floodgen import malformed_coap
from procs import free_udp_port, stop_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HG_UNIX = os.path.join(ROOT, "firmware", "hg_unix.py")
VENDOR = "fa6b4a53d5ad5fdfbe9de663e4d41ffe"
CLASS = "1492af1425695e48bf429b2d51f2ab45"

FLOOD_S = 8.0
WARMUP_S = 2.0
RATE = 1500  # flood datagrams per second, all sources together
SOURCES = 4
PROBE_MS = 20
PROBE_TIMEOUT_S = 1.0
MAX_LOSS = 0.01
HEAP = "512K"  # the PyPI micropython (lib/ as source, not frozen) does not boot in 256K
HEAP_READS = 600
HEAP_SLACK = 4096
YOUNG = 4  # answered OSCORE requests since the original: a young duplicate
OLD = 48  # ... an old one (the duplicate cache holds 32)

OSCORE_OPT = 9
ECHO = 252
KID = b"\xc1"  # the host's Sender ID (the device's Recipient ID)
REPLAY_TEXT = b"Replay detected"


def _micropython():
    for p in (os.environ.get("HG_MICROPYTHON"), os.path.join(ROOT, "build", "unix", "micropython"),
              os.path.join(ROOT, ".venv", "bin", "micropython")):
        if p and os.path.exists(p):
            return p
    return None


def _sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.setblocking(False)
    return s


def _is_success(data):
    """A response the device made for an accepted request: any protected
    message (outer 2.04/2.05 with an OSCORE option) or any 2.xx."""
    try:
        r = m.decode(data)
    except m.CoAPError:
        return False
    return r.opt(OSCORE_OPT) is not None or r.code >> 5 == 2


def _retoken(data, tok):
    """The datagram with its token replaced by one of the same length (the
    token is not part of OSCORE's AAD, so an attacker may change it)."""
    tkl = data[0] & 15
    return data[:4] + tok[:tkl].ljust(tkl, b"\0") + data[4 + tkl:]


class Req:
    """One request sent (or its duplicate, which shares the original's key)."""

    def __init__(self, kind, token, data, binding=None, expect=None, counted=False, what=None):
        self.kind = kind
        self.what = what  # the path of a valid request (for messages)
        self.token = token
        self.data = data
        self.binding = binding
        self.expect = expect  # malformed OSCORE: the code it must get
        self.counted = counted  # its answer adds an entry to the duplicate cache
        self.answer = None  # the first protected response (valid requests)
        self.stamp = None  # oscore answers counted when it was answered
        self.dup = None  # "young" / "old" once a duplicate was sent
        self.answers = 0


class Flood:
    """The flood's datagrams and the checks on their answers."""

    def __init__(self, seed, ctx, sources, replay_sock, addr):
        self.rng = random.Random(seed)
        self.ctx = ctx
        self.socks = sources
        self.rsock = replay_sock
        self.addr = addr
        # disjoint Message ID ranges (a run sends < 5000 per port): a key is one request
        self.mids = [0x2000 * i for i in range(len(sources))]
        self.rmid = 0x8000
        self.tok = 0
        self.sent = {}  # (socket index, mid) -> Req; index len(sources): the replay socket
        self.by_token = {}  # token -> Req (NON responses)
        self.history = []  # answered valid Reqs with their (socket index, mid), newest last
        self.osc_answered = 0  # answers to requests the duplicate cache remembers
        self.c = {}  # name -> count (printed with the result)
        self.errors = []

    def count(self, name, n=1):
        self.c[name] = self.c.get(name, 0) + n

    def fail(self, text):
        if len(self.errors) < 20:
            self.errors.append(text)
        self.count("violations")

    # ------------------------------------------------------------ sending
    def _token(self, prefix):
        self.tok += 1
        return prefix + self.tok.to_bytes(4, "big")

    def _mid(self, i):
        if i == len(self.socks):
            self.rmid = (self.rmid + 1) & 0xFFFF
            return self.rmid
        self.mids[i] = (self.mids[i] + 1) & 0xFFFF
        return self.mids[i]

    def _send(self, i, data):
        s = self.rsock if i == len(self.socks) else self.socks[i]
        try:
            s.sendto(data, self.addr)
        except OSError:
            self.count("send_errors")

    def _put(self, i, mid, req):
        self.sent[(i, mid)] = req
        self.by_token[req.token] = req

    def _protected(self, i, path, accept=None):
        mid = self._mid(i)
        tok = self._token(b"v")
        x = m.Message(m.CON, m.GET, mid, tok)
        x.set_path(path)
        if accept is not None:
            x.add(m.ACCEPT, m.uint_encode(accept))
        outer, b = oscore.protect_request(self.ctx, x)
        data = outer.encode()
        self._put(i, mid, Req("valid", tok, data, b, counted=True, what=path))
        self.count("valid_sent")
        return data

    def _valid(self, i, k=None):
        r = self.rng
        k = r.randrange(10) if k is None else k
        if k < 4:
            return self._protected(i, "status")
        if k < 6:
            return self._protected(i, "sensors/temperature")
        if k == 6:
            return self._protected(i, "sensors/temperature", 60)
        mid = self._mid(i)
        tok = self._token(b"p")
        if k == 9:  # plain request to a protected resource: 4.01
            x = m.Message(m.CON, m.GET, mid, tok)
            x.set_path("status")
            self._put(i, mid, Req("plain_status", tok, None))
        else:
            x = m.Message(m.CON if k == 7 else m.NON, m.GET, mid, tok)
            x.set_path(".well-known/core")
            self._put(i, mid, Req("plain_wk", tok, None))
        self.count("plain_sent")
        return x.encode()

    def _bad_coap(self, i, k=None):
        r = self.rng
        mid = self._mid(i)
        good = m.Message(m.CON, m.GET, mid, b"\x01\x02")
        good.set_path("status")
        good = good.encode()
        k = r.randrange(10) if k is None else k
        if k == 7:  # unknown critical option
            x = m.Message(m.CON, m.GET, mid, b"\x03")
            x.set_path("status")
            x.add(2049, b"z")
            return x.encode()
        if k == 8:  # more options than the decoder takes
            x = m.Message(m.CON, m.GET, mid, b"\x04")
            x.set_path("status")
            for _ in range(40):
                x.add(m.URI_QUERY, b"q")
            return x.encode()
        return malformed_coap(r, good, k, mid)

    def _bad_oscore(self, i, k=None):
        """A CON POST whose OSCORE part is wrong in one way, and the code
        it must be answered with (oscore_server: 4.02 / 4.01 / 4.00)."""
        r = self.rng
        k = r.randrange(10) if k is None else k
        piv = oscore.piv_bytes(self.ctx.ssn + r.randrange(1, 1000))  # fresh, never used
        ct = bytes(r.getrandbits(8) for _ in range(r.randint(9, 40)))
        if k == 0:
            opt, code = bytes([0x20 | len(piv)]) + piv + KID, 0x82  # reserved flag bit
        elif k == 1:
            opt, code = b"\x0e" + b"\x01" * 6 + KID, 0x82  # 6-byte Partial IV (n=6 reserved)
        elif k == 2:
            opt, code = b"\x0a\x00\x05" + KID, 0x82  # non-minimal Partial IV
        elif k == 3:
            opt, code = bytes([0x19]) + piv[:1] + b"\xc8" + KID, 0x82  # kid context past the end
        elif k == 4:
            opt, code = bytes([len(piv)]) + piv, 0x82  # no kid
        elif k == 5:
            opt, code, ct = bytes([0x08 | len(piv)]) + piv + KID, 0x82, b""  # no ciphertext
        elif k == 6:
            opt, code = bytes([0x08 | len(piv)]) + piv + b"\x77", 0x81  # unknown kid
        elif k == 7:
            opt, code = bytes([0x08 | len(piv)]) + piv + KID, 0x80  # garbage ciphertext
        else:  # a real protected request, damaged: tag check fails
            x = m.Message(m.CON, m.GET, 0, b"")
            x.set_path("status")
            outer, _ = oscore.protect_request(self.ctx, x)
            pl = bytearray(outer.payload)
            if k == 8:
                pl[r.randrange(len(pl))] ^= 1 << r.randrange(8)
            else:
                pl = pl[: r.randint(1, len(pl) - 1)]
            opt, code, ct = outer.opt(OSCORE_OPT), 0x80, bytes(pl)
        mid = self._mid(i)
        tok = self._token(b"b")
        data = m.Message(m.CON, m.POST, mid, tok, [(OSCORE_OPT, opt)], ct).encode()
        self._put(i, mid, Req("bad_oscore", tok, data, expect=code, counted=True))
        self.count("bad_oscore_sent")
        return data

    def _replay(self):
        """(socket index, datagram) replaying or duplicating an answered
        protected request; None when there is nothing suitable yet."""
        r = self.rng
        h = self.history
        if not h:
            return None
        q = r.random()
        if q < 0.3:  # duplicate: exact datagram, own port
            young = r.random() < 0.5
            cands = [e for e in h[-8:] if e[1].dup is None
                     and self.osc_answered - e[1].stamp <= YOUNG] if young else \
                [e for e in h[:-OLD] if e[1].dup is None and self.osc_answered - e[1].stamp >= OLD]
            if not cands:
                return None
            (i, mid), req = r.choice(cands)
            req.dup = "young" if young else "old"
            self.count("dup_%s_sent" % req.dup)
            return i, req.data
        (i, mid), req = r.choice(h)
        if q < 0.6:  # the exact datagram from another port
            j = len(self.socks)
            self.sent[(j, mid)] = Req("replay_exact", req.token, req.data)
            self.count("replay_sent")
            return j, req.data
        # the same OSCORE payload under a new Message ID, some with a new token
        j = i if q < 0.8 else len(self.socks)
        nmid = self._mid(j)
        data = req.data[:2] + bytes([nmid >> 8, nmid & 255]) + req.data[4:]
        tok = req.token
        if r.random() < 0.5:
            tok = self._token(b"r")
            data = _retoken(data, tok)
        self.sent[(j, nmid)] = Req("replay_mid", tok, data, counted=True)
        self.count("replay_sent")
        return j, data

    def send_one(self):
        r = self.rng
        p = r.random()
        out = None
        if p < 0.2:
            out = self._replay()
        if out is None:
            i = r.randrange(len(self.socks))
            if p < 0.35:
                data = self._bad_coap(i)
                self.count("bad_coap_sent")
            elif p < 0.55:
                data = self._bad_oscore(i)
            else:
                data = self._valid(i)
            out = i, data
        self._send(*out)

    # ------------------------------------------------------------ receiving
    def received(self, i, data):
        self.count("responses")
        if i == len(self.socks) and _is_success(data):
            self.fail("replay socket got a success response: %r" % bytes(data[:40]))
        try:
            resp = m.decode(data)
        except m.CoAPError:
            self.fail("undecodable datagram from the device: %r" % bytes(data[:40]))
            return
        if resp.code >> 5 == 5:
            self.fail("server error %s" % m.code_str(resp.code))
        if resp.mtype == m.ACK:
            req = self.sent.get((i, resp.mid))
        else:
            req = self.by_token.get(bytes(resp.token))
        if req is None:
            self.count("unmatched")  # answers to random bytes etc.
            return
        if resp.code == 0:
            if resp.mtype == m.RST:
                self.count("rsts")  # a malformed CON
            elif req.kind == "valid" and req.dup == "young":
                self.count("dup_young_empty")  # remembered, its response evicted (byte budget)
            elif req.kind == "valid" and req.dup == "old":
                self.fail("old duplicate found in the duplicate cache (cap not kept)")
            else:
                self.count("empty_acks")
            return
        if bytes(resp.token) != req.token:
            self.count("foreign")  # random bytes that hit a used Message ID
            return
        req.answers += 1
        if req.counted and req.answers == 1:
            self.osc_answered += 1
        getattr(self, _DISPATCH[req.kind])(i, req, resp, data)

    def _answer_valid(self, i, req, resp, data):
        if req.answer is None:
            try:
                plain = oscore.unprotect_response(req.binding, resp)
            except oscore.ProtectionInvalid as e:
                self.fail("GET /%s not answered with a verified response: %s %s"
                          % (req.what, m.code_str(resp.code), e))
                return
            if plain.code != m.CONTENT:
                self.fail("GET /%s answered %s %r" % (req.what, m.code_str(plain.code),
                                                     bytes(plain.payload[:60])))
                return
            req.answer = bytes(data)
            req.stamp = self.osc_answered
            self.count("valid_ok")
            self.history.append(((i, resp.mid), req))
            if len(self.history) > 256:
                self.history.pop(0)
            return
        # a later answer under the same key: to its duplicate
        if bytes(data) == req.answer:
            self.count("dup_%s_cached" % req.dup)
            if req.dup == "old":
                self.fail("old duplicate answered from the duplicate cache (cap not kept)")
        elif resp.opt(OSCORE_OPT) is not None or resp.code >> 5 == 2:
            self.fail("duplicate answered afresh: %s" % m.code_str(resp.code))
        elif resp.code == m.UNAUTHORIZED and bytes(resp.payload) == REPLAY_TEXT:
            self.count("dup_%s_replay" % req.dup)
        else:
            self.fail("duplicate answered %s %r" % (m.code_str(resp.code), bytes(resp.payload)))

    def _replay_any(self, i, req, resp, data):
        if _is_success(data):
            self.fail("replay answered with %s (protected: %s)"
                      % (m.code_str(resp.code), resp.opt(OSCORE_OPT) is not None))
        elif resp.code == m.UNAUTHORIZED and bytes(resp.payload) == REPLAY_TEXT:
            self.count("replay_rejected")
        else:
            self.fail("replay answered %s %r" % (m.code_str(resp.code), bytes(resp.payload)))

    def _answer_bad_oscore(self, i, req, resp, data):
        if resp.opt(OSCORE_OPT) is not None or resp.code != req.expect:
            self.fail("bad OSCORE answered %s, want %s"
                      % (m.code_str(resp.code), m.code_str(req.expect)))
        else:
            self.count("bad_oscore_rejected")

    def _answer_plain_wk(self, i, req, resp, data):
        if resp.code == m.CONTENT and b"</status>" in bytes(resp.payload):
            self.count("plain_wk_ok")
        else:
            self.fail("/.well-known/core answered %s" % m.code_str(resp.code))

    def _answer_plain_status(self, i, req, resp, data):
        if resp.code == m.UNAUTHORIZED and resp.opt(OSCORE_OPT) is None:
            self.count("plain_status_refused")
        else:
            self.fail("plain /status answered %s" % m.code_str(resp.code))

    def settle(self):
        """One request of each kind, in a fixed order, answered: what the
        device's code paths last left behind (a stale pointer in a deep C
        stack frame keeps its object alive: gc scans the stack
        conservatively) is then the same before each heap reading."""
        for k in range(10):
            for gen in (self._valid, self._bad_coap, self._bad_oscore):
                self._send(0, gen(0, k))
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            select.select([self.socks[0]], [], [], 0.02)
            self.drain(0, self.socks[0])

    def drain(self, i, s):
        while True:
            try:
                data = s.recv(2048)
            except BlockingIOError:
                return
            self.received(i, data)


# the check each kind of request's answers get (Req.kind -> Flood method)
_DISPATCH = {"valid": "_answer_valid", "replay_exact": "_replay_any", "replay_mid": "_replay_any",
             "bad_oscore": "_answer_bad_oscore", "plain_wk": "_answer_plain_wk",
             "plain_status": "_answer_plain_status"}


class Probe:
    """Protected CON requests from one port; answers matched by Message ID,
    their token checked and verified (unprotect_response)."""

    def __init__(self, ctx, addr):
        self.sock = _sock()
        self.ctx = ctx
        self.addr = addr
        self.mid = 0x4000
        self.tok = 0
        self.pending = {}  # mid -> (send time, binding, kind, token)
        self.latencies = []
        self.lost = 0
        self.bad = []
        self.answers = {}  # mid -> plain response (kind "call")

    def send(self, path, kind="probe", echo=None, plain=False):
        self.mid = (self.mid + 1) & 0xFFFF
        self.tok += 1
        tok = b"q" + self.tok.to_bytes(4, "big")
        x = m.Message(m.CON, m.GET, self.mid, tok)
        x.set_path(path)
        if echo is not None:
            x.add(ECHO, echo)
        b = None
        if not plain:
            x, b = oscore.protect_request(self.ctx, x)
        self.sock.sendto(x.encode(), self.addr)
        self.pending[self.mid] = (time.monotonic(), b, kind, tok)
        return self.mid

    def receive(self):
        now = time.monotonic()
        while True:
            try:
                data = self.sock.recv(2048)
            except BlockingIOError:
                break
            try:
                resp = m.decode(data)
            except m.CoAPError:
                self.bad.append("undecodable %r" % data[:20])
                continue
            ent = self.pending.pop(resp.mid, None) if resp.mtype == m.ACK else None
            if ent is None:
                continue  # an answer that came after its probe was counted lost
            t, b, kind, tok = ent
            if bytes(resp.token) != tok:
                self.bad.append("token %r for %r" % (bytes(resp.token), tok))
                continue
            if b is None:  # a plain request
                self.answers[resp.mid] = resp
                continue
            try:
                plain = oscore.unprotect_response(b, resp)
            except oscore.ProtectionInvalid as e:
                self.bad.append("%s %s %r" % (m.code_str(resp.code), e, bytes(resp.payload)))
                continue
            if kind == "call":
                self.answers[resp.mid] = plain
            elif plain.code == m.CONTENT:
                self.latencies.append((now - t) * 1000)
            else:
                self.bad.append("probe answered " + m.code_str(plain.code))
        for mid, ent in list(self.pending.items()):
            if ent[2] == "probe" and now - ent[0] > PROBE_TIMEOUT_S:
                del self.pending[mid]
                self.lost += 1

    def probing(self):
        return any(ent[2] == "probe" for ent in self.pending.values())

    def call(self, path, tries=4, plain=False):
        """One request and its verified plain answer (plain: an unprotected
        request and its answer); a 4.01 + Echo (the device's replay window
        after boot, RFC 8613 B.1.2) is answered by repeating the request
        with the Echo value."""
        echo = None
        for _ in range(tries):
            mid = self.send(path, "call", echo, plain)
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                select.select([self.sock], [], [], 0.05)
                self.receive()
                r = self.answers.pop(mid, None)
                if r is None:
                    continue
                if r.code == m.UNAUTHORIZED and r.opt(ECHO) is not None and echo is None:
                    echo = r.opt(ECHO)
                    break
                return r
            self.pending.pop(mid, None)
        raise AssertionError("no answer to GET /%s (probe errors %s)" % (path, self.bad[:3]))


def _heap(probe, flood):
    """The best (largest) /status free_heap of HEAP_READS readings (see the
    top: the one taken right after an automatic collection), after the
    settling requests. 0-3 plain GET /status (4.01, a few hundred bytes
    each) before each reading shift where the collections fall, so that
    some reading is taken soon after one."""
    flood.settle()
    rng = random.Random(HEAP_READS)
    best = 0
    for _ in range(HEAP_READS):
        for _ in range(rng.randrange(4)):
            assert probe.call("status", plain=True).code == m.UNAUTHORIZED
        r = probe.call("status")
        assert r.code == m.CONTENT, m.code_str(r.code)
        best = max(best, cbor.loads(bytes(r.payload))["free_heap"])
    return best


def _run(flood, probe, seconds):
    """Flood for `seconds` at RATE, probing every PROBE_MS; returns the
    number of flood datagrams sent."""
    socks = flood.socks + [flood.rsock]
    t0 = time.monotonic()
    end = t0 + seconds
    sent = 0
    next_probe = t0

    def drain(ready):
        for s in ready:
            if s is probe.sock:
                probe.receive()
            else:
                flood.drain(socks.index(s), s)

    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = min(int((now - t0) * RATE) - sent, 64)
        for _ in range(due):
            flood.send_one()
            sent += 1
        if now >= next_probe:
            probe.send("status")
            next_probe += PROBE_MS / 1000
        ready, _, _ = select.select(socks + [probe.sock], [], [], 0.001)
        drain(ready)
    # the last answers (and the probes still out)
    t = time.monotonic()
    while time.monotonic() - t < PROBE_TIMEOUT_S + 0.2:
        ready, _, _ = select.select(socks + [probe.sock], [], [], 0.02)
        drain(ready)
        probe.receive()
        if not probe.probing() and time.monotonic() - t > 0.3:
            break
    return sent


def _client_ctx(params):
    # the peer's side of the device's provisioning record: IDs swapped
    cp = dict(params, device_id=params["peer_id"], peer_id=params["device_id"], name="peer")
    st = MemoryStorage()
    oscore.provision(st, "peer", cp)
    return oscore.load(st, "peer")


@pytest.fixture
def device(tmp_path):
    mp = _micropython()
    if mp is None:
        pytest.skip("no MicroPython binary (make unix, or the PyPI micropython in .venv)")
    state = tmp_path / "state"
    r = subprocess.run([mp, HG_UNIX, "--state", str(state), "keygen", "--lms-height", "5"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    key = json.loads(r.stdout.strip().splitlines()[-1])
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tools"))
    r = subprocess.run([sys.executable, "-m", "hourglass", "lms", "keygen",
                        "--out", str(tmp_path / "trust.key"), "--pub", str(tmp_path / "trust.pub"),
                        "--levels", "2", "--lms", "H5", "--ots", "W4"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    params = oscore_cmd.new_context(name="dev", device_id=b"\xd1", peer_id=KID)
    cfg = {
        "version": 1, "name": "flood-1", "ueid": key["ueid"], "oemid": "a1b2c3",
        "hwmodel": "virtual-unix", "hwversion": "1.0", "oscore": params,
        "suit": {"trust": [(tmp_path / "trust.pub").read_bytes().hex()], "kek": None,
                 "vendor_id": VENDOR, "class_id": CLASS,
                 "components": [{"id": ["00"], "name": "app", "max_size": 16384}]},
        "eat": {"mode": "hss", "mac_key": None}, "update_server": None,
    }
    (state / "config.json").write_text(json.dumps(cfg))
    port = free_udp_port()
    log_path = tmp_path / "device.log"
    log = open(str(log_path), "w")
    proc = subprocess.Popen([mp, "-X", "heapsize=" + HEAP, HG_UNIX, "--state", str(state), "--host",
                             "127.0.0.1", "--port", str(port), "--quiet"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "hg: serving" not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("device did not start: " + log_path.read_text())
            time.sleep(0.05)
        yield {"port": port, "proc": proc, "params": params, "log": log_path, "mp": mp}
    finally:
        stop_process(proc)
        log.close()


def test_device_flood(device, record_property):
    addr = ("127.0.0.1", device["port"])
    ctx = _client_ctx(device["params"])
    probe = Probe(ctx, addr)
    sources = [_sock() for _ in range(SOURCES)]
    rsock = _sock()
    try:
        st = cbor.loads(bytes(probe.call("status").payload))
        assert st["mode"] == "normal" and st["name"] == "flood-1", st
        flood = Flood(0x5EED, ctx, sources, rsock, addr)
        start = _heap(probe, flood)
        _run(flood, probe, WARMUP_S)  # the same traffic: every cache full
        assert not flood.errors, flood.errors
        warm = dict(flood.c)
        base1 = _heap(probe, flood)
        base2 = _heap(probe, flood)
        flood.c = {}
        probe.latencies = []
        probe.lost = 0
        sent = _run(flood, probe, FLOOD_S)
        assert cbor.loads(bytes(probe.call("status").payload))["mode"] == "normal"
        time.sleep(0.3)
        after1 = _heap(probe, flood)
        after2 = _heap(probe, flood)
    finally:
        for s in sources + [rsock, probe.sock]:
            s.close()
    proc = device["proc"]
    text = device["log"].read_text()
    c = flood.c
    n = len(probe.latencies) + probe.lost
    lat = sorted(probe.latencies) or [float("nan")]
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    base = max(base1, base2)
    after = max(after1, after2)
    delta = base - after  # bytes the free heap shrank by
    report = ("device flood (%s, heap %s): %d datagrams in %.1f s (%d/s) from %d+1 ports; probe: %d "
              "sent, %d lost, p50 %.2f ms, p99 %.2f ms, max %.2f ms; free heap: %d at start, baseline "
              "%d / %d, after %d / %d (%+d bytes used); counts %s; warm-up %s" % (
                  os.path.relpath(device["mp"], ROOT), HEAP, sent, FLOOD_S, sent / FLOOD_S, SOURCES,
                  n, probe.lost, p50, p99, lat[-1], start, base1, base2, after1, after2, delta,
                  json.dumps(c, sort_keys=True), json.dumps(warm, sort_keys=True)))
    print("\n" + report)
    record_property("probe_p99_ms", round(p99, 2))
    record_property("heap_delta_bytes", delta)
    record_property("flood_counts", json.dumps(c, sort_keys=True))
    assert not flood.errors, (flood.errors, report)
    assert not probe.bad, (probe.bad[:5], report)
    assert proc.poll() is None, text[-2000:]
    assert "Traceback" not in text and "MemoryError" not in text, text[-2000:]
    # the flood really ran, mixed as intended
    assert sent >= RATE * FLOOD_S * 0.9, report
    for k in ("valid_sent", "plain_sent", "bad_coap_sent", "bad_oscore_sent", "replay_sent"):
        assert c.get(k, 0) >= 100, (k, report)
    for k in ("dup_young_sent", "dup_old_sent"):
        assert c.get(k, 0) >= 10, (k, report)
    # the device kept answering valid requests
    assert n >= FLOOD_S * 1000 / PROBE_MS * 0.9, report
    assert probe.lost <= n * MAX_LOSS, report
    assert c.get("valid_ok", 0) >= c["valid_sent"] * 0.95, report
    assert c.get("plain_wk_ok", 0) > 0 and c.get("plain_status_refused", 0) > 0, report
    # replays rejected by the replay window (never a success: flood.errors),
    # malformed OSCORE by its checks, old duplicates no longer remembered
    assert c.get("replay_rejected", 0) >= c["replay_sent"] * 0.9, report
    assert c.get("bad_oscore_rejected", 0) >= c["bad_oscore_sent"] * 0.9, report
    assert c.get("dup_old_replay", 0) >= c["dup_old_sent"] * 0.9, report
    young = sum(c.get("dup_young_" + k, 0) for k in ("cached", "empty", "replay"))
    assert young >= c["dup_young_sent"] * 0.9, report
    # the heap came back
    assert delta <= HEAP_SLACK, report
