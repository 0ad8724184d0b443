# OSCORE server layer for hourglass: sits between coap_ep.Endpoint and a
# coap_server.Server without changing either.
#
#   srv = Server()
#   osrv = OSCOREServer(srv, contexts)           # contexts: oscore.Contexts / list
#   osrv.add("secret", handler, oscore=True, ...) # = srv.add + "requires OSCORE"
#   osrv.require("other/path")                   # mark an existing resource
#   ep = Endpoint(server=osrv)
#
# To the Endpoint it is the server (handle_request, rst_received, poll,
# next_deadline); to the Server it is the endpoint (send_con, send_non,
# replace_con, cancel_con, send_response, rand): every message the Server
# sends for an OSCORE exchange (separate responses, notifications) is
# protected on the way out, with the binding of its request.
#
# Requests with an OSCORE option are verified (oscore.unprotect_request) and
# the decrypted request goes to the Server, which does resources, inner
# block-wise, Observe and Echo as for plain CoAP; its answer is protected
# (oscore.protect_response). req.oscore is the RequestBinding (req.oscore.ctx
# the SecurityContext) for handlers that authorise by client. Verification
# failures get unprotected 4.02 / 4.01 / 4.00 with the RFC's fixed
# diagnostic ("Failed to decode COSE", "Security context not found",
# "Replay detected", "Decryption failed"; diagnostics=False sends none) and
# change no state. A plain request to a resource that requires OSCORE gets
# 4.01 with no payload. A context whose replay window is not initialised
# (after a restart) answers its first verified request with a protected
# 4.01 + Echo (Appendix B.1.2; coap_client and aiocoap repeat the request
# with it).
#
# Outer Block1 (an OSCORE request fragmented by a proxy, RFC 8613 4.1.3.4.2)
# is reassembled before verification, up to max_unfragmented bytes (default
# 2048; beyond: 4.13 and the message is dropped), one reassembly per client
# (the newest wins); intermediate blocks get an unprotected 2.31 Continue.
#
# Outer Block2 (RFC 8613 4.1.3.4.2 with RFC 7959): the Server's inner
# block-wise keeps a response body to block_szx, but a protected message
# can still be too large for the link - a small ep.mtu (serial, 6LoWPAN),
# or outer_szx set, or a request carrying an Outer Block2 that asks for
# smaller blocks. Such a protected response (piggybacked, separate or a
# notification) is then sent in blocks of the OSCORE message: slices of
# the ciphertext with Outer Block2, Outer Size2 on block 0 and its other
# Outer options (Observe and Block1 on block 0 only). Block size: 16 <<
# outer_szx, the request's if smaller, and without outer_szx the largest
# whose block fits ep.mtu. The whole protected message is kept, at most
# max_outer of them (default 2, the oldest goes first), until its last
# block was sent or outer_lifetime_ms (default 60000) passed, under
# (client, the request's OSCORE option value). Later blocks are asked for
# the way aiocoap and RFC 7959 3.3 do it: the same OSCORE request again
# (same OSCORE option) with Outer Block2 num > 0 and no payload, any token.
# These are not verified (the Partial IV was used; the client verifies the
# reassembled response) and never reach the Server: a kept message answers
# them, otherwise 4.08 unprotected. A block of a notification replaced by
# a newer one in between fails verification at the client (RFC 7959 2.6).
#
# Bindings (the request's context, kid and Partial IV) are kept per (peer,
# token) for observations and separate responses, at most max_bindings
# (default 16); when one has to go, its observation is cancelled in the
# Server so nothing is ever sent for it unprotected. A message the Server
# sends for a token without a binding that was never an OSCORE exchange
# goes out as is. If protecting fails (storage error while reserving
# sequence numbers), handle_request answers 5.00 unprotected and a
# notification is not sent (the exception propagates to notify()).
import oscore
from coap_ep import tadd, tdiff
from coap_msg import CoAPError, Message, block_decode, block_encode

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


# coap_msg's values (private consts take no RAM; host_tests/test_const_sync.py
# checks they match)
_ACK = const(2)
_BLOCK1 = const(27)
_BLOCK2 = const(23)
_CONTINUE = const(95)
_OBSERVE = const(6)
_OSCORE = const(9)
_REQUEST_TAG = const(292)
_SIZE1 = const(60)
_SIZE2 = const(28)
_URI_PATH = const(11)
_BAD_OPTION = const(130)
_BAD_REQUEST = const(128)
_INTERNAL_SERVER_ERROR = const(160)
_REQUEST_ENTITY_INCOMPLETE = const(136)
_REQUEST_ENTITY_TOO_LARGE = const(141)
_UNAUTHORIZED = const(129)


_MAX_UNFRAG = const(2048)
_OUTER_LIFETIME = const(60000)

# kept protected response (Outer Block2) fields
_X_PEER = const(0)
_X_OPT = const(1)  # the request's OSCORE option value
_X_MSG = const(2)  # the whole protected Message
_X_SZX = const(3)
_X_EXPIRY = const(4)


def _err(code, text=None):
    m = Message(_ACK, code)
    if text:
        m.payload = text.encode()
    return m


class OSCOREServer:
    def __init__(self, server, contexts, protected=(), max_bindings=16, diagnostics=True,
                 max_unfragmented=_MAX_UNFRAG, outer_szx=None, max_outer=2,
                 outer_lifetime_ms=_OUTER_LIFETIME):
        self.server = server
        self.contexts = contexts
        self._protected = set()
        for p in protected:
            self.require(p)
        self._bind = {}  # (peer, token) -> RequestBinding
        self._order = []  # keys, oldest first
        self._max_bind = max_bindings
        self._diag = diagnostics
        self._max_unfrag = max_unfragmented
        self._frag = None  # [peer, rtag, bytearray, next block number, outer message]
        if outer_szx is not None and not 0 <= outer_szx <= 6:
            raise ValueError("outer_szx")
        self._outer_szx = outer_szx
        self._outer = []  # kept protected responses (Outer Block2), oldest first
        self._max_outer = max_outer
        self._outer_life = outer_lifetime_ms
        self.ep = None
        self.rand = None
        self.stats = [0, 0, 0]  # verified, rejected, echo challenges

    # ------------------------------------------------------------ setup
    def add(self, path, handler, oscore=True, **kw):
        """Server.add() plus: oscore=True makes plain requests to it 4.01
        (and adds the "osc" hint to its link, RFC 8613 section 9)."""
        if oscore:
            kw["attrs"] = tuple(kw.get("attrs", ())) + (("osc", None),)
        res = self.server.add(path, handler, **kw)
        if oscore:
            self.require(path)
        return res

    def require(self, path):
        self._protected.add(path.strip("/").encode())

    def attach(self, ep):
        self.ep = ep
        self.rand = ep.rand
        self.server.attach(self)

    # ------------------------------------------------------------ endpoint side
    def handle_request(self, msg, now):
        try:
            optval = msg.opt(_OSCORE)
            if optval is None:
                if self._protected and self._path_key(msg) in self._protected:
                    return _err(_UNAUTHORIZED)
                return self.server.handle_request(msg, now)
            optval = bytes(optval)
            b2 = msg.opt(_BLOCK2)
            rszx = None
            if b2 is not None:
                r = self._outer_block2(msg, optval, b2)
                if not isinstance(r, int):
                    return r  # a block of a kept response, or an error
                rszx = r
            if msg.opt(_BLOCK1) is not None:
                msg = self._outer_block1(msg)
                if not isinstance(msg, tuple):
                    return msg  # 2.31 Continue or an error
                msg, b1 = msg
            else:
                b1 = None
            try:
                plain, b = oscore.unprotect_request(self.contexts, msg)
            except oscore.ProtectionInvalid as e:
                self.stats[1] += 1
                return _err(e.code, str(e) if self._diag else None)
            self.stats[0] += 1
            b.optval = optval
            if b.echo_needed:
                self.stats[2] += 1
                resp = oscore.echo_challenge(b)
            else:
                resp = self.server.handle_request(plain, now)
                key = (msg.peer, bytes(msg.token))
                if resp is None:  # separate response follows
                    self._keep(key, b)
                    return None
                if b.observe and resp.opt(_OBSERVE) is not None:
                    self._keep(key, b)
                elif key in self._bind and not b.observe:
                    self._drop(key)
            out = oscore.protect_response(b, resp)
            if b1 is not None:
                out.add(_BLOCK1, b1)
            return self._fragment(out, msg.peer, optval, rszx, len(msg.token), now)
        except Exception as e:  # never raise into the endpoint
            self.server.errors += 1
            self.server.last_error = e
            return _err(_INTERNAL_SERVER_ERROR)

    def rst_received(self, peer, mid, now):
        return self.server.rst_received(peer, mid, now)

    def poll(self, now):
        kept = self._outer
        i = len(kept)
        while i:
            i -= 1
            x = kept[i]
            if x[_X_EXPIRY] is None:  # kept where the time was not known
                x[_X_EXPIRY] = tadd(now, self._outer_life)
            elif tdiff(now, x[_X_EXPIRY]) >= 0:
                kept.pop(i)
        self.server.poll(now)

    def next_deadline(self, now):
        best = self.server.next_deadline(now)
        for x in self._outer:
            d = 0 if x[_X_EXPIRY] is None else tdiff(x[_X_EXPIRY], now)
            if best is None or d < best:
                best = d
        return best

    # ------------------------------------------------------------ server side
    def send_con(self, msg, peer, now, owner, tag):
        return self.ep.send_con(self._protect(msg, peer, msg.token, now), peer, now, owner, tag)

    def send_non(self, msg, peer):
        return self.ep.send_non(self._protect(msg, peer, msg.token, None), peer)

    def replace_con(self, mid, peer, msg):
        return self.ep.replace_con(mid, peer, self._protect(msg, peer, msg.token, None))

    def cancel_con(self, owner, tag):
        return self.ep.cancel_con(owner, tag)

    def send_response(self, resp, req_mtype, token, peer, now, owner, tag):
        resp.token = token
        out = self._protect(resp, peer, token, now)
        return self.ep.send_response(out, req_mtype, token, peer, now, owner, tag)

    def ping(self, peer, now, owner, tag):
        return self.ep.ping(peer, now, owner, tag)

    def _protect(self, msg, peer, token, now):
        key = (peer, bytes(token))
        b = self._bind.get(key)
        if b is None:
            return msg
        if not b.observe or msg.opt(_OBSERVE) is None or not 0x40 <= msg.code < 0x60:
            self._drop(key)  # the last message of this exchange
        out = oscore.protect_response(b, msg)
        out.token = token
        optval = getattr(b, "optval", None)
        if optval is None:
            return out
        return self._fragment(out, peer, optval, None, len(token), now)

    # ------------------------------------------------------------ helpers
    def _keep(self, key, b):
        if key in self._bind:
            self._order.remove(key)
        elif len(self._order) >= self._max_bind:
            old = self._order.pop(0)
            ob = self._bind.pop(old)
            if ob.observe:
                self.server.cancel_observation(old[0], old[1])
        self._bind[key] = b
        self._order.append(key)

    def _drop(self, key):
        if self._bind.pop(key, None) is not None:
            self._order.remove(key)

    def bindings(self):
        return len(self._bind)

    def kept(self):
        """Protected responses kept for Outer Block2 (at most max_outer)."""
        return len(self._outer)

    # ------------------------------------------------------------ Outer Block2
    def _outer_block2(self, msg, optval, b2):
        """A request with OSCORE and Outer Block2: the block asked for of a
        kept response, an error, or (a new request) the block size it asks
        for, an int."""
        try:
            num, _, szx = block_decode(b2)
        except CoAPError:
            return _err(_BAD_OPTION, "block" if self._diag else None)
        if szx == 7:
            return _err(_BAD_REQUEST, "szx 7" if self._diag else None)
        peer = msg.peer
        for x in self._outer:
            if x[_X_PEER] == peer and x[_X_OPT] == optval:
                if num or not msg.payload:
                    return self._block(x, num, szx)
                break
        if num:
            return _err(_REQUEST_ENTITY_INCOMPLETE)
        return szx

    def _fragment(self, out, peer, optval, rszx, tkl, now):
        """`out` (a protected message, sent with a token of tkl bytes) as it
        is, or its block 0 with the whole message kept for the rest (until
        now + outer_lifetime_ms; now None: from the next poll)."""
        n = len(out.payload)
        szx = self._outer_szx
        if rszx is not None and (szx is None or rszx < szx):
            szx = rszx
        if szx is None or n <= (16 << szx):
            mtu = self.ep.mtu if self.ep is not None else 1280
            size = out.encoded_size() - len(out.token) + tkl
            if size <= mtu:
                return out
            # Block2 and Size2 (each <= 5 bytes with its header) come on top
            room = mtu - (size - n) - 10
            szx = 6 if szx is None else szx
            while szx and (16 << szx) > room:
                szx -= 1
        kept = self._outer
        for i in range(len(kept)):
            if kept[i][_X_PEER] == peer and kept[i][_X_OPT] == optval:
                kept.pop(i)
                break
        if len(kept) >= self._max_outer:
            kept.pop(0)
        x = [peer, optval, out, szx, None if now is None else tadd(now, self._outer_life)]
        kept.append(x)
        return self._block(x, 0, szx)

    def _block(self, x, num, rszx):
        """Block `num` of kept response x (block size 16 << rszx or the
        kept one if smaller, RFC 7959 2.4); forgets x after its last block."""
        out = x[_X_MSG]
        body = out.payload
        size = len(body)
        szx = x[_X_SZX]
        if rszx < szx:
            szx = rszx
        else:
            num = (num << (rszx + 4)) >> (szx + 4)
        off = num << (szx + 4)
        if off >= size and num:
            return _err(_BAD_OPTION, "block out of range" if self._diag else None)
        end = off + (16 << szx)
        more = end < size
        if not more:
            end = size
            try:
                self._outer.remove(x)
            except ValueError:
                pass
        opts = [(n, v) for n, v in out.opts
                if n != _BLOCK2 and n != _SIZE2 and (num == 0 or (n != _OBSERVE and n != _BLOCK1))]
        m = Message(out.mtype, out.code, out.mid, out.token, opts, memoryview(body)[off:end])
        m.peer = out.peer
        m.add(_BLOCK2, block_encode(num, more, szx))
        if num == 0:
            m.add(_SIZE2, size)
        return m

    def _path_key(self, msg):
        segs = [bytes(v) for n, v in msg.opts if n == _URI_PATH]
        return b"/".join(segs)

    def _outer_block1(self, msg):
        """Reassemble an OSCORE request fragmented with Outer Block1."""
        try:
            num, more, szx = block_decode(msg.opt(_BLOCK1))
        except CoAPError:
            return _err(0x82)
        peer = msg.peer
        rtag = msg.opt(_REQUEST_TAG)
        st = self._frag
        if num == 0:
            st = self._frag = [peer, rtag, bytearray(), 0, None]
        elif st is None or st[0] != peer or st[1] != rtag or st[3] != num:
            return _err(_REQUEST_ENTITY_INCOMPLETE)
        buf = st[2]
        pl = msg.payload
        if len(buf) + len(pl) > self._max_unfrag:
            self._frag = None
            r = _err(_REQUEST_ENTITY_TOO_LARGE)
            r.add(_SIZE1, self._max_unfrag)
            return r
        if more and len(pl) != (16 << szx):
            self._frag = None
            return _err(0x80)
        buf.extend(pl)
        if more:
            st[3] = num + 1
            r = Message(_ACK, _CONTINUE)
            r.add(_BLOCK1, block_encode(num, 1, szx))
            return r
        self._frag = None
        opts = [(n, v) for n, v in msg.opts if n != _BLOCK1 and n != _SIZE1 and n != _BLOCK2]
        whole = Message(msg.mtype, msg.code, msg.mid, msg.token, opts, bytes(buf))
        whole.peer = peer
        return whole, block_encode(num, 0, szx)
