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
# Outer Block2 is not offered: protected responses are kept under one
# datagram by the Server's inner block-wise (block_szx).
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
from coap_msg import (
    ACK,
    BLOCK1,
    BLOCK2,
    CONTINUE,
    OBSERVE,
    OSCORE,
    REQUEST_TAG,
    SIZE1,
    URI_PATH,
    INTERNAL_SERVER_ERROR,
    REQUEST_ENTITY_INCOMPLETE,
    REQUEST_ENTITY_TOO_LARGE,
    UNAUTHORIZED,
    CoAPError,
    Message,
    block_decode,
    block_encode,
)

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_MAX_UNFRAG = const(2048)


def _err(code, text=None):
    m = Message(ACK, code)
    if text:
        m.payload = text.encode()
    return m


class OSCOREServer:
    def __init__(self, server, contexts, protected=(), max_bindings=16, diagnostics=True,
                 max_unfragmented=_MAX_UNFRAG):
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
            if msg.opt(OSCORE) is None:
                if self._protected and self._path_key(msg) in self._protected:
                    return _err(UNAUTHORIZED)
                return self.server.handle_request(msg, now)
            if msg.opt(BLOCK1) is not None:
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
            if b.echo_needed:
                self.stats[2] += 1
                resp = oscore.echo_challenge(b)
            else:
                resp = self.server.handle_request(plain, now)
                key = (msg.peer, bytes(msg.token))
                if resp is None:  # separate response follows
                    self._keep(key, b)
                    return None
                if b.observe and resp.opt(OBSERVE) is not None:
                    self._keep(key, b)
                elif key in self._bind and not b.observe:
                    self._drop(key)
            out = oscore.protect_response(b, resp)
            if b1 is not None:
                out.add(BLOCK1, b1)
            return out
        except Exception as e:  # never raise into the endpoint
            self.server.errors += 1
            self.server.last_error = e
            return _err(INTERNAL_SERVER_ERROR)

    def rst_received(self, peer, mid, now):
        return self.server.rst_received(peer, mid, now)

    def poll(self, now):
        self.server.poll(now)

    def next_deadline(self, now):
        return self.server.next_deadline(now)

    # ------------------------------------------------------------ server side
    def send_con(self, msg, peer, now, owner, tag):
        return self.ep.send_con(self._protect(msg, peer, msg.token), peer, now, owner, tag)

    def send_non(self, msg, peer):
        return self.ep.send_non(self._protect(msg, peer, msg.token), peer)

    def replace_con(self, mid, peer, msg):
        return self.ep.replace_con(mid, peer, self._protect(msg, peer, msg.token))

    def cancel_con(self, owner, tag):
        return self.ep.cancel_con(owner, tag)

    def send_response(self, resp, req_mtype, token, peer, now, owner, tag):
        resp.token = token
        out = self._protect(resp, peer, token)
        return self.ep.send_response(out, req_mtype, token, peer, now, owner, tag)

    def ping(self, peer, now, owner, tag):
        return self.ep.ping(peer, now, owner, tag)

    def _protect(self, msg, peer, token):
        key = (peer, bytes(token))
        b = self._bind.get(key)
        if b is None:
            return msg
        if not b.observe or msg.opt(OBSERVE) is None or not 0x40 <= msg.code < 0x60:
            self._drop(key)  # the last message of this exchange
        out = oscore.protect_response(b, msg)
        out.token = token
        return out

    # ------------------------------------------------------------ helpers
    def _keep(self, key, b):
        if key in self._bind:
            self._order.remove(key)
        elif len(self._order) >= self._max_bind:
            old = self._order.pop(0)
            ob = self._bind.pop(old)
            if ob.observe:
                self.server._deregister(old[0], old[1])
        self._bind[key] = b
        self._order.append(key)

    def _drop(self, key):
        if self._bind.pop(key, None) is not None:
            self._order.remove(key)

    def bindings(self):
        return len(self._bind)

    def _path_key(self, msg):
        segs = [bytes(v) for n, v in msg.opts if n == URI_PATH]
        return b"/".join(segs)

    def _outer_block1(self, msg):
        """Reassemble an OSCORE request fragmented with Outer Block1."""
        try:
            num, more, szx = block_decode(msg.opt(BLOCK1))
        except CoAPError:
            return _err(0x82)
        peer = msg.peer
        rtag = msg.opt(REQUEST_TAG)
        st = self._frag
        if num == 0:
            st = self._frag = [peer, rtag, bytearray(), 0, None]
        elif st is None or st[0] != peer or st[1] != rtag or st[3] != num:
            return _err(REQUEST_ENTITY_INCOMPLETE)
        buf = st[2]
        pl = msg.payload
        if len(buf) + len(pl) > self._max_unfrag:
            self._frag = None
            r = _err(REQUEST_ENTITY_TOO_LARGE)
            r.add(SIZE1, self._max_unfrag)
            return r
        if more and len(pl) != (16 << szx):
            self._frag = None
            return _err(0x80)
        buf.extend(pl)
        if more:
            st[3] = num + 1
            r = Message(ACK, CONTINUE)
            r.add(BLOCK1, block_encode(num, 1, szx))
            return r
        self._frag = None
        opts = [(n, v) for n, v in msg.opts if n != BLOCK1 and n != SIZE1 and n != BLOCK2]
        whole = Message(msg.mtype, msg.code, msg.mid, msg.token, opts, bytes(buf))
        whole.peer = peer
        return whole, block_encode(num, 0, szx)
