# CoAP client core for hourglass (sans-I/O; attaches to coap_ep.Endpoint):
# GET/POST/PUT/DELETE/FETCH with block-wise transfers both ways (RFC 7959),
# Observe (RFC 7641) including block-wise notifications, Echo retries
# (RFC 9175), token matching and NSTART=1 per peer (RFC 7252 4.7).
#
#   cl = Client(ep)
#   ex = cl.request(peer, GET, "big", now=now)   # queues datagrams
#   out = ep.drain()  ... feed ep.receive()/ep.poll() ...
#   ex.done / ex.response (payload = the whole body) / ex.error
#
# Every request uses a fresh random token; block continuations too (RFC
# 9175 section 4). A Block2 body is assembled up to max_body bytes into a
# bytearray preallocated from Size2 (or streamed to `sink.write(chunk)`);
# an ETag change in the middle restarts the download once - with a sink it
# ends the exchange ("representation changed during transfer"): what the
# sink was given cannot be taken back. A request body over one block goes
# block-wise with Size1 and follows the server's smaller block size. A 4.01
# carrying Echo is retried (at most twice) with that Echo value: the
# request from its start, or in the middle of a Block2 body just the block
# asked for. Observe: an Echo retry of a registration has a fresh token too,
# and the server files the observation under it, so that is the token
# notifications are taken on; notifications are ordered per RFC 7641 3.4; a
# block-wise notification's remaining blocks are fetched with plain GETs;
# cancel() deregisters with GET Observe=1 on the registration's token (Echo
# retries included), or forgets the token, so the next notification is
# answered with RST.
#
# Events: callback(ex, kind) with kind "progress" (ex.sent/ex.received,
# ex.total), "notify" (ex.notifications[-1]) or "done".
#
# Caps: max_exchanges 8 live exchanges, max_notifications 4 kept per
# observation (oldest dropped), max_body 1 MiB per body, NON requests count
# as outstanding for NSTART for at most NON_HOLD_MS 2000.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from coap_msg import (
    ACCEPT,
    BLOCK1,
    BLOCK2,
    CONTENT_FORMAT,
    CONTINUE,
    ECHO,
    ETAG,
    GET,
    OBSERVE,
    REQUEST_TAG,
    SIZE1,
    SIZE2,
    UNAUTHORIZED,
    URI_PATH,
    URI_QUERY,
    CoAPError,
    CoAPLimitError,
    Message,
    uint_decode,
)
from coap_ep import MAX_TRANSMIT_WAIT, tadd, tdiff

NON_HOLD_MS = const(2000)

_M_MAIN = const(0)  # the request itself (and its Block1/Block2 continuation)
_M_NFETCH = const(1)  # fetching the rest of a block-wise notification
_M_DEREG = const(2)  # GET Observe=1
_M_PING = const(3)
_M_IDLE = const(4)  # observing, nothing in flight


class Exchange:
    """One client operation. Read done, response, error, notifications."""

    def __init__(self, peer, method, opts, payload, con, observe, callback, sink, max_body,
                 szx, deadline, timeout):
        self.peer = peer
        self.method = method
        self.opts = opts
        self.payload = payload
        self.con = con
        self.observe = observe
        self.callback = callback
        self.sink = sink
        self.max_body = max_body
        self.done = False
        self.response = None
        self.error = None
        self.notifications = []
        self.observing = False
        self.token = None
        self.sent = 0
        self.received = 0
        self.total = len(payload) if payload else 0
        self.size2 = None
        self._szx1 = szx
        self._szx2 = szx
        self._b1 = False
        self._b1_end = 0
        self._b2buf = None
        self._b2first = None
        self._b2etag = None
        self._b2restart = False
        self._mode = _M_MAIN
        self._waiting = False
        self._echo = None
        self._echo_tries = 0
        self._obs_token = None
        self._seq = None
        self._seq_t = 0
        self._deadline = deadline
        self._timeout = timeout
        self._non_until = None

    def __repr__(self):
        return "<Exchange %s done=%s err=%r>" % (self.method, self.done, self.error)


def _first_block_of(payload, szx):
    return len(payload) > (16 << szx)


class Client:
    def __init__(self, ep, szx=6, max_body=1 << 20, max_exchanges=8, max_notifications=4,
                 timeout_ms=MAX_TRANSMIT_WAIT):
        self.ep = ep
        ep.client = self
        self.szx = szx
        self.max_body = max_body
        self.max_exchanges = max_exchanges
        self.max_notifications = max_notifications
        self.timeout_ms = timeout_ms
        self._tokens = {}
        self._busy = {}
        self._queue = []
        self._live = []

    # ------------------------------------------------------------ API
    def request(self, peer, method, path="", payload=b"", cf=None, query=(), accept=None,
                observe=False, con=True, opts=(), now=0, timeout_ms=None, szx=None,
                callback=None, request_tag=None, sink=None, max_body=None):
        """Start a request; returns its Exchange (datagrams via ep.drain())."""
        if len(self._live) >= self.max_exchanges:
            raise CoAPLimitError("too many exchanges")
        base = Message()
        if isinstance(path, str):
            path = [s for s in path.split("/") if s]
        for seg in path:
            base.add(URI_PATH, seg)
        for q in query:
            base.add(URI_QUERY, q)
        if cf is not None:
            base.add(CONTENT_FORMAT, cf)
        if accept is not None:
            base.add(ACCEPT, accept)
        if request_tag is not None:
            base.add(REQUEST_TAG, request_tag)
        for n, v in opts:
            base.add(n, v)
        if isinstance(payload, str):
            payload = payload.encode()
        t = self.timeout_ms if timeout_ms is None else timeout_ms
        ex = Exchange(peer, method, base.opts, payload, con, observe, callback, sink,
                      self.max_body if max_body is None else max_body,
                      self.szx if szx is None else szx, tadd(now, t), t)
        self._live.append(ex)
        self._send_main(ex, 0, now)
        return ex

    def ping(self, peer, now=0, callback=None):
        """Empty CON; done with error None when the peer answers RST."""
        ex = Exchange(peer, 0, [], b"", True, False, callback, None, 0, 0,
                      tadd(now, MAX_TRANSMIT_WAIT), MAX_TRANSMIT_WAIT)
        ex._mode = _M_PING
        self._live.append(ex)
        self.ep.ping(peer, now, self, ex)
        return ex

    def cancel(self, ex, now=0, proactive=True):
        """End an observation (GET with Observe=1 if proactive) or abandon
        a pending request."""
        if ex.observing and proactive:
            ex.observing = False
            ex._mode = _M_DEREG
            ex._echo_tries = 0  # a request of its own: its own Echo retries
            ex._deadline = tadd(now, ex._timeout)
            self._send_dereg(ex, ex._echo, now)
            return
        self._end(ex, now, "cancelled" if not ex.done else ex.error)

    # ------------------------------------------------------------ sending
    def _new_token(self):
        while True:
            t = bytes(self.ep.rand(4))
            if t not in self._tokens:
                return t

    def _build(self, ex, echo):
        m = Message(0, ex.method if ex._mode != _M_DEREG else GET, 0, b"", list(ex.opts))
        if echo is not None:
            m.add(ECHO, echo)
        return m

    def _send_main(self, ex, off, now):
        """(Re)send the request; with a body over one block, the block at `off`."""
        m = self._build(ex, ex._echo)
        pl = ex.payload
        szx = ex._szx1
        if pl and (ex._b1 or _first_block_of(pl, szx)):
            ex._b1 = True
            bs = 16 << szx
            end = off + bs
            more = end < len(pl)
            if not more:
                end = len(pl)
            m.add(BLOCK1, ((off >> (szx + 4)) << 4) | (8 if more else 0) | szx)
            if off == 0:
                m.add(SIZE1, len(pl))
            m.payload = memoryview(pl)[off:end]
            ex._b1_end = end
        else:
            m.payload = pl
        reg = ex.observe and not ex._b1
        if reg:
            m.add(OBSERVE, 0)
        ex._mode = _M_MAIN
        self._transmit(ex, m, now, None, reg)

    def _send_dereg(self, ex, echo, now):
        # on the registration's token: that is how the server knows it
        m = self._build(ex, echo)
        m.add(OBSERVE, 1)
        self._transmit(ex, m, now, ex._obs_token)

    def _send_block2(self, ex, num, szx, now):
        m = self._build(ex, ex._echo)
        if ex.method == 5 and ex._mode == _M_MAIN:
            m.payload = ex.payload  # FETCH: the body is part of the request key
        m.add(BLOCK2, (num << 4) | szx)
        self._transmit(ex, m, now, None)

    def _transmit(self, ex, m, now, token, reg=False):
        """Send m for ex on `token` (None: a fresh one); reg: m is an Observe
        registration, so notifications will come on its token."""
        if token is None:
            token = self._new_token()
        tokens = self._tokens
        old = ex.token
        if old is not None and old != token and old != ex._obs_token:
            tokens.pop(old, None)
        if reg:
            # A registration repeated with a fresh token (the Echo retry,
            # RFC 9175) replaces the one before: the server files the one it
            # accepts, under that token; a challenged one was never filed.
            prev = ex._obs_token
            if prev is not None and prev != token and tokens.get(prev) is ex:
                del tokens[prev]
            ex._obs_token = token
        ex.token = token
        m.token = token
        tokens[token] = ex
        ex._waiting = True
        peer = ex.peer
        busy = self._busy.get(peer)
        if busy is not None and busy is not ex:
            self._queue.append((ex, m))
            return
        self._go(ex, m, now)

    def _go(self, ex, m, now):
        self._busy[ex.peer] = ex
        if ex.con:
            try:
                self.ep.send_con(m, ex.peer, now, self, ex)
            except CoAPLimitError:
                del self._busy[ex.peer]
                self._end(ex, now, "too many CON messages in flight")
        else:
            self.ep.send_non(m, ex.peer)
            ex._non_until = tadd(now, NON_HOLD_MS)

    def _release(self, ex, now):
        peer = ex.peer
        if self._busy.get(peer) is ex:
            del self._busy[peer]
        ex._non_until = None
        q = self._queue
        for i in range(len(q)):
            nxt = q[i]
            if nxt[0].peer == peer:
                q.pop(i)
                self._go(nxt[0], nxt[1], now)
                return

    # ------------------------------------------------------------ endpoint callbacks
    def _tx_acked(self, ex, msg, now):
        self._release(ex, now)
        if msg is None:
            return  # empty ACK: the response comes separately
        if bytes(msg.token) != ex.token:
            self._end(ex, now, "token mismatch")
            return
        self._on_response(ex, msg, now)

    def _tx_reset(self, ex, now):
        self._release(ex, now)
        if ex._mode == _M_PING:
            self._end(ex, now, None)
        else:
            self._end(ex, now, "reset by peer")

    def _tx_failed(self, ex, now):
        self._release(ex, now)
        self._end(ex, now, "no acknowledgement" if ex._mode != _M_PING else "no answer")

    def handle_response(self, msg, peer, now):
        """A CON/NON response or notification: True if it is ours."""
        token = bytes(msg.token)
        ex = self._tokens.get(token)
        if ex is None or ex.peer != peer:
            return False
        if ex._waiting and token == ex.token:
            if not ex.con:
                self._release(ex, now)
            self._on_response(ex, msg, now)
            return True
        if ex.observing and token == ex._obs_token:
            self._on_notification(ex, msg, now)
            return True
        return False

    # ------------------------------------------------------------ responses
    def _on_response(self, ex, msg, now):
        ex._waiting = False
        code = msg.code
        mode = ex._mode
        if code == UNAUTHORIZED and ex._echo_tries < 2:
            echo = msg.opt(ECHO)
            if echo is not None:
                ex._echo = bytes(echo)
                ex._echo_tries += 1
                if mode == _M_DEREG:
                    # a `fresh` resource checks the deregistration too
                    self._send_dereg(ex, ex._echo, now)
                    return
                if ex._b2first is not None:
                    # in the middle of a Block2 body: that block again, with
                    # the Echo (a sink cannot take the body from 0 again)
                    self._send_block2(ex, ex.received >> (ex._szx2 + 4), ex._szx2, now)
                    return
                ex.sent = 0
                self._send_main(ex, 0, now)
                return
        if mode == _M_DEREG:
            self._end(ex, now, None)
            return
        if mode == _M_MAIN and ex._b1:
            b1 = msg.block1()
            if code == CONTINUE:
                if b1 is None:
                    self._end(ex, now, "2.31 without Block1")
                    return
                num, more, szx = b1
                if szx == 7:
                    self._end(ex, now, "bad Block1 in response")
                    return
                ex.sent = ex._b1_end
                if szx < ex._szx1:
                    ex._szx1 = szx
                self._event(ex, "progress")
                if ex._b1_end >= len(ex.payload):
                    self._end(ex, now, "2.31 after the last block")
                    return
                self._send_main(ex, ex._b1_end, now)
                return
            ex.sent = ex._b1_end
            ex._b1 = False
            self._event(ex, "progress")
        if 0x40 <= code < 0x60:
            b2 = msg.block2()
            if b2 is not None:
                if not self._block2(ex, msg, b2, now):
                    return
                msg = ex._b2first
                ex._b2first = None
                ex._b2buf = None
        if mode == _M_NFETCH:
            ex._mode = _M_IDLE
            self._deliver(ex, msg, now)
            return
        if ex.observe and mode == _M_MAIN:
            seq = msg.opt(OBSERVE)
            if seq is not None and 0x40 <= code < 0x60:
                ex.observing = True
                ex._seq = uint_decode(seq)
                ex._seq_t = now
                ex._mode = _M_IDLE
                ex.response = msg
                self._deliver(ex, msg, now)
                return
        ex.response = msg
        self._end(ex, now, None)

    def _block2(self, ex, msg, b2, now):
        """Handle one Block2 response; True when the body is complete (then
        ex._b2first holds the first message with the whole body)."""
        num, more, szx = b2
        if szx == 7:
            self._end(ex, now, "bad Block2 in response")
            return False
        etag = msg.opt(ETAG)
        etag = None if etag is None else bytes(etag)
        off = num << (szx + 4)
        if ex._b2first is None or (num == 0 and ex.sink is None):
            if num != 0:
                self._end(ex, now, "Block2 did not start at 0")
                return False
            ex._b2first = msg
            ex._b2etag = etag
            ex.received = 0
            ex.size2 = msg.opt_uint(SIZE2)
            ex._b2buf = None
            if ex.sink is None:
                # one allocation when Size2 is known (no doubling while growing)
                s2 = ex.size2
                ex._b2buf = bytearray(s2) if s2 and s2 <= ex.max_body else bytearray()
            if ex._mode != _M_NFETCH:
                ex.total = ex.size2 or 0
        elif etag != ex._b2etag:
            # with a sink the blocks so far are gone: it cannot be rewound
            if ex._b2restart or ex.sink is not None:
                self._end(ex, now, "representation changed during transfer")
                return False
            ex._b2restart = True
            ex._b2first = None
            self._send_block2(ex, 0, szx, now)
            return False
        if off != ex.received:
            self._end(ex, now, "Block2 out of order")
            return False
        pl = msg.payload
        if ex.received + len(pl) > ex.max_body:
            self._end(ex, now, "body too large")
            return False
        end = ex.received + len(pl)
        if ex.sink is not None:
            ex.sink.write(pl)
        else:
            buf = ex._b2buf
            if end <= len(buf):
                buf[ex.received : end] = pl
            else:
                if ex.received < len(buf):  # Size2 was too small: a rare copy
                    buf = ex._b2buf = buf[: ex.received]
                buf.extend(pl)
        ex.received = end
        if more:
            if not pl:
                self._end(ex, now, "empty block with more")
                return False
            ex._szx2 = szx
            if ex._mode != _M_NFETCH:
                self._event(ex, "progress")
            self._send_block2(ex, ex.received >> (szx + 4), szx, now)
            return False
        first = ex._b2first
        body = ex._b2buf
        if body is None:
            body = b""
        elif len(body) > ex.received:
            body = body[: ex.received]  # Size2 was an overestimate
        first = Message(first.mtype, first.code, first.mid, first.token,
                        [(n, v) for n, v in first.opts if n != BLOCK2], body)
        first.peer = msg.peer
        sec = getattr(msg, "oscore", None)
        if sec is not None:  # oscore_client verified every block: so is the whole
            first.oscore = sec
        ex._b2first = first
        if ex._mode != _M_NFETCH:
            self._event(ex, "progress")
        return True

    # ------------------------------------------------------------ Observe
    def _fresh(self, ex, seq, now):
        """RFC 7641 3.4: is notification `seq` newer than the last one?"""
        v1 = ex._seq
        if v1 is None:
            return True
        if (v1 < seq and seq - v1 < 0x800000) or (v1 > seq and v1 - seq > 0x800000):
            return True
        return tdiff(now, ex._seq_t) > 128000

    def _on_notification(self, ex, msg, now):
        code = msg.code
        seq = msg.opt(OBSERVE)
        if not (0x40 <= code < 0x60) or seq is None:
            ex.observing = False  # a final response ends the observation
            ex.response = msg
            self._deliver(ex, msg, now)
            self._end(ex, now, None)
            return
        seq = uint_decode(seq)
        if not self._fresh(ex, seq, now):
            return
        ex._seq = seq
        ex._seq_t = now
        b2 = msg.block2()
        if b2 is not None and b2[1]:
            if b2[0] != 0:
                return
            # fetch the rest with plain GETs (fresh tokens, no Observe)
            if ex._mode == _M_NFETCH and ex.token is not None:
                self._tokens.pop(ex.token, None)
                self.ep.cancel_con(self, ex)
                self._release(ex, now)
            ex._mode = _M_NFETCH
            ex._b2first = None
            ex._b2restart = False
            ex._deadline = tadd(now, ex._timeout)
            self._block2(ex, msg, b2, now)
            return
        if b2 is not None:
            msg.remove(BLOCK2)
        self._deliver(ex, msg, now)

    def _deliver(self, ex, msg, now):
        if isinstance(msg.payload, memoryview):
            msg.payload = bytes(msg.payload)
        n = ex.notifications
        n.append(msg)
        if len(n) > self.max_notifications:
            n.pop(0)
        self._event(ex, "notify")

    # ------------------------------------------------------------ end
    def _event(self, ex, kind):
        cb = ex.callback
        if cb is not None:
            cb(ex, kind)

    def _end(self, ex, now, error):
        if ex.done and not ex.observing:
            return
        ex.observing = False
        ex.done = True
        ex.error = error
        ex._waiting = False
        if ex.response is not None and isinstance(ex.response.payload, memoryview):
            ex.response.payload = bytes(ex.response.payload)
        for t in (ex.token, ex._obs_token):
            if t is not None and self._tokens.get(t) is ex:
                del self._tokens[t]
        self.ep.cancel_con(self, ex)
        q = self._queue
        i = len(q)
        while i:
            i -= 1
            if q[i][0] is ex:
                q.pop(i)
        self._release(ex, now)
        try:
            self._live.remove(ex)
        except ValueError:
            pass
        self._event(ex, "done")

    # ------------------------------------------------------------ timers
    def poll(self, now):
        for ex in list(self._live):
            if ex._non_until is not None and tdiff(now, ex._non_until) >= 0:
                self._release(ex, now)
            if ex._waiting and tdiff(now, ex._deadline) >= 0:
                self._end(ex, now, "timeout")

    def next_deadline(self, now):
        best = None
        for ex in self._live:
            for t in (ex._non_until, ex._deadline if ex._waiting else None):
                if t is not None:
                    d = tdiff(t, now)
                    if best is None or d < best:
                        best = d
        return best


# ---------------------------------------------------------------- URIs
def _unquote(s):
    if "%" not in s:
        return s
    out = bytearray()
    b = s.encode()
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        if c == 37 and i + 2 < n:
            try:
                out.append(int(b[i + 1 : i + 3], 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(c)
        i += 1
    return bytes(out).decode()


def parse_uri(uri):
    """'coap://host:port/a/b?x=1&y' -> (host, port, [segments], [queries]).
    Raises CoAPError for anything but a coap:// URI."""
    if not uri.startswith("coap://"):
        raise CoAPError("only coap:// URIs")
    rest = uri[7:]
    i = rest.find("#")
    if i >= 0:
        rest = rest[:i]
    i = rest.find("/")
    j = rest.find("?")
    if i < 0 or (0 <= j < i):
        i = j if j >= 0 else len(rest)
    auth = rest[:i]
    rest = rest[i:]
    port = 5683
    if auth.startswith("["):
        k = auth.find("]")
        if k < 0:
            raise CoAPError("bad IPv6 literal")
        host = auth[1:k]
        tail = auth[k + 1 :]
        if tail.startswith(":") and tail[1:]:
            port = int(tail[1:])
    else:
        k = auth.rfind(":")
        if k >= 0:
            host = auth[:k]
            if auth[k + 1 :]:
                port = int(auth[k + 1 :])
        else:
            host = auth
    if not host:
        raise CoAPError("no host")
    query = []
    j = rest.find("?")
    if j >= 0:
        query = [_unquote(q) for q in rest[j + 1 :].split("&") if q]
        rest = rest[:j]
    segs = [_unquote(s) for s in rest.split("/")[1:]] if rest else []
    if segs and segs[-1] == "":
        segs.pop()
    return host, port, segs, query
