# CoAP endpoint: the sans-I/O message layer (RFC 7252 section 4) for
# hourglass. Datagrams and the time go in, datagrams come out; sockets,
# serial lines and clocks stay in the transport.
#
#   ep = Endpoint(server=Server(...))        # and/or Client(ep)
#   out = ep.receive(datagram, peer, now_ms) # -> ((data, peer), ...)
#   out = ep.poll(now_ms)                    # retransmissions, timeouts
#   out = ep.drain()                         # after app calls (notify, request)
#   ms  = ep.next_timeout_ms(now_ms)         # None: nothing scheduled
#
# A transport loop: send every (data, peer) that receive()/poll()/drain()
# return, in order; call poll() once next_timeout_ms() has elapsed (0 =
# now); call drain() after the application notified or requested. The
# results are tuples of (data, peer); data is a bytes-like copy (bytes or
# bytearray) the caller may keep. Events reach the application through the
# server's handlers and the client's Exchange callbacks, not through here.
#
# A peer is any hashable address (a UDP sockaddr, or one fixed value for a
# serial link). Times are ints in ms; only their low 30 bits are used, so
# MicroPython's wrapping ticks_ms() works directly (intervals < 2^29 ms).
#
# What it does: CON retransmission with exponential back-off (ACK_TIMEOUT
# 2 s, ACK_RANDOM_FACTOR 1.5, MAX_RETRANSMIT 4), message-ID allocation,
# piggybacked and separate responses, duplicate detection, RST handling,
# empty-CON ping -> RST, rejection of malformed CON with RST (section 4.2)
# and silent drop of malformed NON/ACK/RST. Token matching and NSTART=1
# live in the client (coap_client), resources in the server (coap_server).
#
# Duplicate detection (same peer, MID and type): a duplicate of an
# idempotent request (GET, PUT, DELETE, FETCH, iPATCH) is simply processed
# again, which RFC 7252 section 4.5 allows; POST/PATCH, any Block1 request,
# any request with an OSCORE option (whatever its code: a second pass
# through the replay window would answer "Replay detected", RFC 8613 7.4)
# and deferred (separate) requests are remembered for EXCHANGE_LIFETIME
# (247 s; NON_LIFETIME 145 s for NON) with their response, so a CON
# duplicate gets the same answer and a NON duplicate is ignored. A CON
# duplicate whose response was evicted by the byte budget gets an empty ACK.
# CON responses are remembered too, so a duplicate is ACKed (or RST) again.
# Caps (constructor arguments):
#   dedup_cap    32  remembered requests (oldest evicted first)
#   dedup_bytes 4096 bytes of remembered responses (oldest evicted first)
#   max_con      16  outstanding CON messages we sent (send_con fails beyond)
#   mtu        1280  largest datagram we encode (ep.mtu; layers above read it)
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from coap_msg import CoAPError, CoAPLimitError, Message, decode, empty

# coap_msg's values (private consts take no RAM; host_tests/test_const_sync.py
# checks they match)
_ACK = const(2)
_BLOCK1 = const(27)
_CON = const(0)
_NON = const(1)
_OSCORE = const(9)
_PATCH = const(6)
_POST = const(2)
_RST = const(3)
_BAD_REQUEST = const(128)


_ACK_TIMEOUT = const(2000)
_ACK_RANDOM_SPAN = const(1000)  # ACK_TIMEOUT * (ACK_RANDOM_FACTOR - 1)
_MAX_RETRANSMIT = const(4)
_EXCHANGE_LIFETIME = const(247000)
_NON_LIFETIME = const(145000)
_MAX_TRANSMIT_WAIT = const(93000)

_TMASK = const(0x3FFFFFFF)
_THALF = const(0x20000000)

# transmission record fields (a list per outstanding CON)
_T_PEER = const(0)
_T_MID = const(1)
_T_DATA = const(2)
_T_DEADLINE = const(3)
_T_TIMEOUT = const(4)
_T_RETRIES = const(5)
_T_OWNER = const(6)
_T_TAG = const(7)

_NOTHING = const(())
_K_RESP = const(9)  # dedup entry kind of a CON response (requests use CON/NON)


def tdiff(a, b):
    """a - b in ms for 30-bit wrapping times (|a - b| < 2^29)."""
    return ((a - b + _THALF) & _TMASK) - _THALF


def tadd(a, d):
    return (a + d) & _TMASK


def default_rand():
    """A random-bytes function: os.urandom where present, else `random`."""
    try:
        import os

        if hasattr(os, "urandom"):
            return os.urandom
    except ImportError:
        pass
    try:
        import random

        def _r(n):
            return bytes([random.getrandbits(8) for _ in range(n)])

        return _r
    except ImportError:
        pass
    state = [0x2545F491]

    def _xs(n):  # last resort (qemu): NOT unpredictable, pass rand= there
        out = bytearray(n)
        x = state[0]
        for i in range(n):
            x ^= (x << 13) & 0xFFFFFFFF
            x ^= x >> 17
            x ^= (x << 5) & 0xFFFFFFFF
            out[i] = x & 255
        state[0] = x
        return bytes(out)

    return _xs


def _encode(msg, mtype, mid, tok, mtu):
    # msg with these header fields, into a bytearray of exactly its size
    # (no MTU-sized buffer kept per endpoint: each datagram is a fresh
    # object anyway); None if it exceeds the MTU or cannot be encoded
    try:
        n = msg.encoded_size() - len(msg.token) + len(tok)
        if n > mtu:
            return None
        buf = bytearray(n)
        end = msg.encode_reply_into(buf, 0, mtype, mid, tok)
    except (IndexError, ValueError, TypeError):
        return None
    if end > mtu:
        return None
    return buf if end == len(buf) else buf[:end]


class Endpoint:
    """The message layer. `server` handles requests (coap_server.Server);
    a coap_client.Client attaches itself as `client`."""

    def __init__(self, server=None, rand=None, dedup_cap=32, dedup_bytes=4096, max_con=16,
                 mtu=1280):
        self.rand = rand or default_rand()
        self.server = server
        self.client = None
        self._out = []
        r = self.rand(2)
        self._mid = (r[0] << 8) | r[1]
        self._tx = []
        self._max_con = max_con
        self._dd = {}
        self._dd_ring = [None] * dedup_cap
        self._dd_pos = 0
        self._dd_bytes = 0
        self._dd_max_bytes = dedup_bytes
        self.mtu = mtu
        self.stats = [0, 0, 0]  # datagrams received, retransmissions, dropped
        if server is not None:
            server.attach(self)

    # ------------------------------------------------------------ outputs
    def drain(self):
        """Datagrams queued by app calls since the last receive/poll/drain
        (a tuple of (data, peer); the outbox list itself is reused)."""
        out = self._out
        if not out:
            return _NOTHING
        res = tuple(out)
        out.clear()
        return res

    def next_mid(self):
        self._mid = (self._mid + 1) & 0xFFFF
        return self._mid

    def encode(self, msg):
        """Encode `msg`: a fresh bytearray of its size. Raises
        CoAPLimitError if it is larger than the MTU."""
        data = _encode(msg, msg.mtype, msg.mid, msg.token, self.mtu)
        if data is None:
            raise CoAPLimitError("message larger than the MTU")
        return data

    def send_non(self, msg, peer):
        """Queue `msg` as NON with a new MID; returns the MID."""
        msg.mtype = _NON
        mid = msg.mid = self.next_mid()
        self._out.append((self.encode(msg), peer))
        return mid

    def send_con(self, msg, peer, now, owner, tag):
        """Queue `msg` as CON with a new MID and retransmit it until an ACK
        or RST. `owner` gets _tx_acked(tag, msg_or_None, now),
        _tx_reset(tag, now) or _tx_failed(tag, now). Returns the MID."""
        if len(self._tx) >= self._max_con:
            raise CoAPLimitError("too many outstanding CON")
        msg.mtype = _CON
        mid = msg.mid = self.next_mid()
        data = self.encode(msg)
        r = self.rand(2)
        timeout = _ACK_TIMEOUT + ((r[0] << 8) | r[1]) % (_ACK_RANDOM_SPAN + 1)
        self._tx.append([peer, mid, data, tadd(now, timeout), timeout, 0, owner, tag])
        self._out.append((data, peer))
        return mid

    def replace_con(self, mid, peer, msg):
        """Swap the content of an outstanding CON (RFC 7641 section 4.5.2:
        a newer notification replaces one still in flight; it keeps the
        retransmission counter and timer). Returns the new MID or None."""
        for rec in self._tx:
            if rec[_T_MID] == mid and rec[_T_PEER] == peer:
                msg.mtype = _CON
                new = msg.mid = self.next_mid()
                rec[_T_MID] = new
                rec[_T_DATA] = self.encode(msg)
                return new
        return None

    def cancel_con(self, owner, tag):
        """Stop retransmitting everything `owner` sent for `tag`."""
        tx = self._tx
        i = len(tx)
        while i:
            i -= 1
            if tx[i][_T_OWNER] is owner and tx[i][_T_TAG] is tag:
                tx.pop(i)

    def ping(self, peer, now, owner, tag):
        """Empty CON; the peer answers RST (owner._tx_reset) if alive."""
        mid = self.next_mid()
        data = empty(_CON, mid)
        r = self.rand(1)
        timeout = _ACK_TIMEOUT + (r[0] * 4) % (_ACK_RANDOM_SPAN + 1)
        self._tx.append([peer, mid, data, tadd(now, timeout), timeout, 0, owner, tag])
        self._out.append((data, peer))
        return mid

    def outstanding(self):
        return len(self._tx)

    def usage(self):
        """(remembered messages, bytes of remembered responses, outstanding
        CON): what dedup_cap, dedup_bytes and max_con bound."""
        return len(self._dd), self._dd_bytes, len(self._tx)

    # ------------------------------------------------------------ input
    def receive(self, data, peer, now):
        """Process one datagram; returns the datagrams to send."""
        self.stats[0] += 1
        n = len(data)
        if n < 4:
            return self._drop()
        b0 = data[0]
        if b0 & 0xC0 != 0x40:
            return self._drop()  # unknown version: silently ignore (section 3)
        mtype = (b0 >> 4) & 3
        code = data[1]
        if code == 0:
            mid = (data[2] << 8) | data[3]
            if n != 4 or b0 & 15:
                if mtype == _CON:
                    self._out.append((empty(_RST, mid), peer))
                    return self.drain()
                return self._drop()
            self._empty(mtype, mid, peer, now)
            return self.drain()
        cls = code >> 5
        if cls == 1 or cls == 3 or cls >= 6:
            return self._reject(mtype, (data[2] << 8) | data[3], peer)
        try:
            msg = decode(data, True)
        except CoAPLimitError as e:
            hdr = e.hdr
            if code < 32 and hdr is not None and (mtype == _CON or mtype == _NON):
                self._reply_error(hdr, peer, _BAD_REQUEST, str(e))
                return self.drain()
            return self._reject(mtype, (data[2] << 8) | data[3], peer)
        except CoAPError:
            return self._reject(mtype, (data[2] << 8) | data[3], peer)
        msg.peer = peer
        if code < 32:
            if mtype == _ACK or mtype == _RST:
                return self._drop()
            self._request(msg, peer, now)
        else:
            if mtype == _RST:
                return self._drop()
            self._response(msg, peer, now)
        return self.drain()

    def _drop(self):
        self.stats[2] += 1
        return self.drain()

    def _reject(self, mtype, mid, peer):
        if mtype == _CON:
            self._out.append((empty(_RST, mid), peer))
        else:
            self.stats[2] += 1
        return self.drain()

    def _reply_error(self, hdr, peer, code, text):
        mtype, _, mid, token = hdr
        m = Message(_ACK, code, mid, token, None, text.encode())
        if mtype == _NON:
            m.mtype = _NON
            m.mid = self.next_mid()
        self._out.append((self.encode(m), peer))

    def _find_tx(self, peer, mid):
        tx = self._tx
        for i in range(len(tx)):
            rec = tx[i]
            if rec[_T_MID] == mid and rec[_T_PEER] == peer:
                return tx.pop(i)
        return None

    def _empty(self, mtype, mid, peer, now):
        if mtype == _CON:
            self._out.append((empty(_RST, mid), peer))  # ping (section 4.3)
            return
        if mtype == _NON:
            self.stats[2] += 1
            return
        rec = self._find_tx(peer, mid)
        if rec is None:
            srv = self.server
            if mtype == _RST and srv is not None and srv.rst_received(peer, mid, now):
                return
            self.stats[2] += 1
            return
        if mtype == _ACK:
            rec[_T_OWNER]._tx_acked(rec[_T_TAG], None, now)
        else:
            rec[_T_OWNER]._tx_reset(rec[_T_TAG], now)

    # ------------------------------------------------------------ dedup
    def _dd_get(self, peer, mid, now, kind):
        """The remembered entry for a message of `kind` (the request type
        CON/NON, or _K_RESP for a CON response) from peer with mid."""
        ent = self._dd.get((peer, mid))
        if ent is None or ent[2] != kind:
            return None
        if tdiff(now, ent[0]) >= 0:
            return None
        return ent

    def _dd_put(self, peer, mid, now, lifetime, data, kind):
        key = (peer, mid)
        ring = self._dd_ring
        if not ring:
            return
        pos = self._dd_pos
        old = ring[pos]
        if old is not None:
            ent = self._dd.pop(old, None)
            if ent is not None and ent[1] is not None:
                self._dd_bytes -= len(ent[1])
        ring[pos] = key
        self._dd_pos = (pos + 1) % len(ring)
        prev = self._dd.get(key)
        if prev is not None and prev[1] is not None:
            self._dd_bytes -= len(prev[1])
        self._dd[key] = [tadd(now, lifetime), data, kind]
        if data is not None:
            self._dd_bytes += len(data)
            # over the byte budget: drop the oldest remembered responses
            i = self._dd_pos
            while self._dd_bytes > self._dd_max_bytes:
                k = ring[i]
                if k is not None and k != key:
                    ent = self._dd.get(k)
                    if ent is not None and ent[1] is not None:
                        self._dd_bytes -= len(ent[1])
                        ent[1] = None
                i = (i + 1) % len(ring)
                if i == self._dd_pos:
                    break

    def _dd_set(self, peer, mid, data):
        ent = self._dd.get((peer, mid))
        if ent is not None:
            if ent[1] is not None:
                self._dd_bytes -= len(ent[1])
            ent[1] = data
            if data is not None:
                self._dd_bytes += len(data)

    # ------------------------------------------------------------ requests
    def _request(self, msg, peer, now):
        mtype = msg.mtype
        mid = msg.mid
        if self._dd:
            ent = self._dd_get(peer, mid, now, mtype)
            if ent is not None:
                # a duplicate (same peer and MID): CON gets the same answer
                # again, NON is silently ignored (RFC 7252 4.5)
                if mtype == _CON:
                    self._out.append((empty(_ACK, mid) if ent[1] is None else ent[1], peer))
                return
        server = self.server
        if server is None:
            if mtype == _CON:
                self._out.append((empty(_RST, mid), peer))
            return
        code = msg.code
        remember = (code == _POST or code == _PATCH or (code != 1 and msg.opt(_BLOCK1) is not None)
                    or msg.opt(_OSCORE) is not None)
        resp = server.handle_request(msg, now)
        if resp is None or not isinstance(resp, Message):
            # deferred (separate response follows) or no response at all
            if mtype == _CON:
                self._out.append((empty(_ACK, mid), peer))
            self._dd_put(peer, mid, now, _EXCHANGE_LIFETIME if mtype == _CON else _NON_LIFETIME, None,
                         mtype)
            return
        rtype = _ACK if mtype == _CON else _NON
        rmid = mid if mtype == _CON else self.next_mid()
        data = _encode(resp, rtype, rmid, msg.token, self.mtu)
        if data is None:
            # the handler's response does not fit the MTU (or is not encodable)
            data = _encode(Message(_ACK, 0xA0), rtype, rmid, msg.token, self.mtu)
        self._out.append((data, peer))
        if remember:
            self._dd_put(peer, mid, now, _EXCHANGE_LIFETIME if mtype == _CON else _NON_LIFETIME, data,
                         mtype)

    def send_response(self, resp, req_mtype, token, peer, now, owner, tag):
        """Separate response to a request whose empty ACK went out already:
        CON for a CON request (retransmitted), NON for a NON request."""
        resp.token = token
        if req_mtype == _CON:
            return self.send_con(resp, peer, now, owner, tag)
        return self.send_non(resp, peer)

    # ------------------------------------------------------------ responses
    def _response(self, msg, peer, now):
        mtype = msg.mtype
        if mtype == _ACK:
            rec = self._find_tx(peer, msg.mid)
            if rec is None:
                self.stats[2] += 1
                return
            rec[_T_OWNER]._tx_acked(rec[_T_TAG], msg, now)
            return
        # CON or NON: separate response or notification
        mid = msg.mid
        if mtype == _CON and self._dd:
            ent = self._dd_get(peer, mid, now, _K_RESP)
            if ent is not None:
                self._out.append((empty(_ACK if ent[1] is None else _RST, mid), peer))
                return
        client = self.client
        ok = client is not None and client.handle_response(msg, peer, now)
        if mtype == _CON:
            self._out.append((empty(_ACK if ok else _RST, mid), peer))
            self._dd_put(peer, mid, now, _EXCHANGE_LIFETIME, None if ok else b"", _K_RESP)
        elif not ok:
            self._out.append((empty(_RST, mid), peer))

    # ------------------------------------------------------------ timers
    def poll(self, now):
        """Retransmit/expire CONs and run the server/client timers."""
        tx = self._tx
        i = 0
        while i < len(tx):
            rec = tx[i]
            if tdiff(now, rec[_T_DEADLINE]) < 0:
                i += 1
                continue
            if rec[_T_RETRIES] >= _MAX_RETRANSMIT:
                tx.pop(i)
                rec[_T_OWNER]._tx_failed(rec[_T_TAG], now)
                continue
            rec[_T_RETRIES] += 1
            t = rec[_T_TIMEOUT] * 2
            rec[_T_TIMEOUT] = t
            rec[_T_DEADLINE] = tadd(now, t)
            self._out.append((rec[_T_DATA], rec[_T_PEER]))
            self.stats[1] += 1
            i += 1
        if self.server is not None:
            self.server.poll(now)
        if self.client is not None:
            self.client.poll(now)
        return self.drain()

    def next_timeout_ms(self, now):
        """ms until poll() has work (0 = now), or None if nothing is due."""
        best = None
        for rec in self._tx:
            d = tdiff(rec[_T_DEADLINE], now)
            if best is None or d < best:
                best = d
        part = self.server
        if part is not None:
            d = part.next_deadline(now)
            if d is not None and (best is None or d < best):
                best = d
        part = self.client
        if part is not None:
            d = part.next_deadline(now)
            if d is not None and (best is None or d < best):
                best = d
        if best is not None and best < 0:
            best = 0
        return best


# The public constants (module.NAME, `from coap_ep import NAME`): a literal table
# (ROM when frozen) read by __getattr__, instead of a slot each in this
# module's globals (heap). Inside the module the private names fold away.
_PUBLIC = const((
    ("ACK_TIMEOUT", _ACK_TIMEOUT), ("MAX_RETRANSMIT", _MAX_RETRANSMIT),
    ("EXCHANGE_LIFETIME", _EXCHANGE_LIFETIME), ("MAX_TRANSMIT_WAIT", _MAX_TRANSMIT_WAIT),
))


def __getattr__(name):
    for k, v in _PUBLIC:
        if k == name:
            return v
    raise AttributeError(name)
