# OSCORE client layer for hourglass: sits between a coap_client.Client and
# its coap_ep.Endpoint without changing either.
#
#   ep = Endpoint()
#   oc = OSCOREClient(ep)
#   oc.add_peer(peer, ctx)          # requests to `peer` are protected
#   cl = Client(oc)                 # the Client attaches to the layer
#   ex = cl.request(peer, GET, "secret", now=now) ... as with plain CoAP
#
# Every request the Client sends to a peer with a context - block-wise
# continuations, Observe registrations and cancellations, Echo retries
# included - is protected with a new Partial IV (oscore.protect_request);
# responses and notifications for those tokens are verified
# (oscore.unprotect_response) before the Client sees them, so block-wise
# (inner), Observe and the Echo retry of a protected 4.01 (Appendix B.1.2
# recovery by the server) work as for plain CoAP. resp.oscore is the
# RequestBinding of a verified response. A response that fails verification
# is dropped (counted in stats; a CON one is still acknowledged so a forger
# cannot cancel an observation with it). An unprotected response to a
# protected request is passed on only if it is an error (4.xx/5.xx: the
# server's OSCORE errors are unprotected by design; they are not
# authenticated, resp.oscore is absent); anything else unprotected is
# dropped. Requests to peers without a context go out as they are.
# Bindings are kept per token, at most max_bindings (oldest dropped).
# A storage error while reserving sequence numbers propagates from the
# call that sent the request.
#
# Outer Block2 (RFC 8613 4.1.3.4.2 with RFC 7959; oscore_server sends it for
# protected responses that do not fit a datagram): a protected response,
# separate response or notification carrying an Outer Block2 is reassembled
# here before verification. The rest of the OSCORE message is asked for as
# aiocoap does: the protected request again - same Outer code and Outer
# options, so the same OSCORE option - minus Observe, with Outer Block2 and
# no payload, as CON with a fresh 5-byte token (Client tokens have 4, so
# they never collide). Size2 presizes the buffer. Then the whole message is
# verified as any other and handed on: the Client never sees outer blocks.
# Caps: max_unfragmented (default 2048) bytes per message - a larger one
# is dropped - and max_outer (default 2) reassemblies at a time, the
# oldest abandoned for a new one. A reassembly that fails (block out of
# order, no answer, the server's unprotected 4.08) ends the request: the
# Client gets the server's unprotected error, else _tx_failed; for a
# separate response or a notification it is only dropped (counted).
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import oscore
from coap_msg import (
    BLOCK1,
    BLOCK2,
    OBSERVE,
    OSCORE,
    SIZE1,
    SIZE2,
    CoAPError,
    CoAPLimitError,
    Message,
    block_decode,
    block_encode,
)

_MAX_UNFRAG = const(2048)


class _Outer:
    """One Outer Block2 reassembly."""

    def __init__(self, key, peer, tag, first, code, opts, buf):
        self.key = key  # the token of the request (its binding)
        self.peer = peer
        self.tag = tag  # the Client's tag if block 0 came piggybacked, else None
        self.first = first  # block 0's (type, code, Outer options but Block2/Size2)
        self.code = code  # Outer code of the request
        self.opts = opts  # Outer options of the request, without Observe
        self.buf = buf
        self.size = 0
        self.szx = 0
        self.token = None  # of the block request in flight


class OSCOREClient:
    def __init__(self, ep, max_bindings=16, max_unfragmented=_MAX_UNFRAG, max_outer=2):
        self.ep = ep
        self.rand = ep.rand
        self.client = None
        ep.client = self
        self._peers = {}
        self._bind = {}  # token -> (RequestBinding, peer, Outer code, Outer options)
        self._order = []
        self._max = max_bindings
        self._max_unfrag = max_unfragmented
        self._outer = []  # Outer Block2 reassemblies, oldest first
        self._outer_tok = {}  # token of a block request -> its _Outer
        self._max_outer = max_outer
        self.stats = [0, 0, 0]  # protected, verified, dropped

    def add_peer(self, peer, ctx, kid_context=None):
        """Protect requests to `peer` with ctx; kid_context (default: when
        the context has an ID Context) sends the ID Context in requests."""
        if kid_context is None:
            kid_context = ctx.id_context is not None
        self._peers[peer] = (ctx, kid_context)

    def context(self, peer):
        ent = self._peers.get(peer)
        return None if ent is None else ent[0]

    # ------------------------------------------------------------ Client side
    def send_con(self, msg, peer, now, owner, tag):
        return self.ep.send_con(self._protect(msg, peer), peer, now, self, tag)

    def send_non(self, msg, peer):
        return self.ep.send_non(self._protect(msg, peer), peer)

    def cancel_con(self, owner, tag):
        for st in list(self._outer):
            if st.tag is tag:
                self._outer_forget(st)
        return self.ep.cancel_con(self, tag)

    def ping(self, peer, now, owner, tag):
        return self.ep.ping(peer, now, self, tag)

    def outstanding(self):
        return self.ep.outstanding()

    def drain(self):
        return self.ep.drain()

    def _protect(self, msg, peer):
        ent = self._peers.get(peer)
        if ent is None:
            return msg
        out, b = oscore.protect_request(ent[0], msg, ent[1])
        self.stats[0] += 1
        key = bytes(msg.token)
        if key in self._bind:
            self._order.remove(key)
        elif len(self._order) >= self._max:
            self._bind.pop(self._order.pop(0), None)
        self._bind[key] = (b, peer, out.code, out.opts)  # (filtered when used: no copy)
        self._order.append(key)
        return out

    # ------------------------------------------------------------ Endpoint side
    def _tx_acked(self, tag, msg, now):
        if isinstance(tag, _Outer):
            if msg is not None:  # (an empty ACK: the block comes separately)
                self._outer_block(tag, msg, now)
            return
        if msg is not None:
            if _outer_b2(msg) and self._outer_start(msg, msg.peer, tag, now):
                return
            msg = self._unprotect(msg, msg.peer)
        self.client._tx_acked(tag, msg, now)

    def _tx_reset(self, tag, now):
        if isinstance(tag, _Outer):
            self._outer_fail(tag, now, None)
            return
        self.client._tx_reset(tag, now)

    def _tx_failed(self, tag, now):
        if isinstance(tag, _Outer):
            self._outer_fail(tag, now, None)
            return
        self.client._tx_failed(tag, now)

    def handle_response(self, msg, peer, now):
        key = bytes(msg.token)
        st = self._outer_tok.get(key)
        if st is not None and st.peer == peer:
            self._outer_block(st, msg, now)
            return True
        if _outer_b2(msg) and self._outer_start(msg, peer, None, now):
            return True
        plain = self._unprotect(msg, peer)
        if plain is None:
            return key in self._bind
        return self.client.handle_response(plain, peer, now)

    def poll(self, now):
        self.client.poll(now)

    def next_deadline(self, now):
        return self.client.next_deadline(now)

    def _unprotect(self, msg, peer):
        key = bytes(msg.token)
        ent = self._bind.get(key)
        if ent is None or ent[1] != peer:
            if msg.opt(OSCORE) is not None:
                self.stats[2] += 1
                return None
            return msg  # not an OSCORE exchange
        b = ent[0]
        if msg.opt(OSCORE) is None:
            if msg.code >= 0x80:
                if not b.observe:
                    self._drop(key)
                return msg  # unprotected (unauthenticated) error
            self.stats[2] += 1
            return None
        try:
            plain = oscore.unprotect_response(b, msg)
        except oscore.ProtectionInvalid:
            self.stats[2] += 1
            return None
        self.stats[1] += 1
        if b.done:
            self._drop(key)
        return plain

    def _drop(self, key):
        if self._bind.pop(key, None) is not None:
            self._order.remove(key)

    def bindings(self):
        return len(self._bind)

    def reassembling(self):
        """Outer Block2 reassemblies in progress (at most max_outer)."""
        return len(self._outer)

    # ------------------------------------------------------------ Outer Block2
    def _outer_start(self, msg, peer, tag, now):
        """Block 0 of a protected message with Outer Block2; False if it is
        not for a request of ours (then it goes the usual way: dropped)."""
        key = bytes(msg.token)
        ent = self._bind.get(key)
        if ent is None or ent[1] != peer:
            return False
        try:
            num, more, szx = block_decode(msg.opt(BLOCK2))
            size2 = msg.opt_uint(SIZE2)
        except CoAPError:
            num = szx = 7
            size2 = None
        pl = msg.payload
        cap = self._max_unfrag
        ok = not num and szx != 7 and len(pl) <= cap and (not more or len(pl) == (16 << szx))
        if size2 is not None and size2 > cap:
            ok = False  # announced too large: do not even start
        buf = bytearray(size2) if ok and size2 and len(pl) <= size2 else bytearray()
        opts = [(n, v) for n, v in ent[3]
                if n != OBSERVE and n != BLOCK1 and n != BLOCK2 and n != SIZE1 and n != SIZE2]
        # copies: nothing may point into the datagram (it would stay alive)
        first = (msg.mtype, msg.code, [(n, bytes(v)) for n, v in msg.opts if n != BLOCK2 and n != SIZE2])
        st = _Outer(key, peer, tag, first, ent[2], opts, buf)
        if not ok:
            self._outer_fail(st, now, None)
            return True
        self._outer_add(st, pl)
        if not more:
            self._outer_done(st, now)
            return True
        if len(self._outer) >= self._max_outer:
            self._outer_fail(self._outer[0], now, None)
        self._outer.append(st)
        st.szx = szx
        self._outer_request(st, now)
        return True

    def _outer_add(self, st, pl):
        end = st.size + len(pl)
        buf = st.buf
        if end <= len(buf):
            buf[st.size : end] = pl
        else:
            if st.size < len(buf):  # Size2 was too small
                buf = st.buf = buf[: st.size]
            buf.extend(pl)
        st.size = end

    def _outer_request(self, st, now):
        tok = bytes(self.rand(5))
        if st.token is not None:
            self._outer_tok.pop(st.token, None)
        st.token = tok
        self._outer_tok[tok] = st
        m = Message(0, st.code, 0, tok, list(st.opts))
        m.add(BLOCK2, block_encode(st.size >> (st.szx + 4), 0, st.szx))
        try:
            self.ep.send_con(m, st.peer, now, self, st)
        except CoAPLimitError:
            self._outer_fail(st, now, None)

    def _outer_block(self, st, msg, now):
        """The answer to a block request of reassembly st."""
        if st not in self._outer:
            return
        b2 = msg.opt(BLOCK2)
        if msg.opt(OSCORE) is None or b2 is None:
            self._outer_fail(st, now, msg if msg.code >= 0x80 and msg.opt(OSCORE) is None else None)
            return
        try:
            num, more, szx = block_decode(b2)
        except CoAPError:
            num = szx = 7
        pl = msg.payload
        bs = 16 << szx
        if (szx == 7 or num * bs != st.size or len(pl) > bs or (more and len(pl) != bs)
                or st.size + len(pl) > self._max_unfrag):
            self._outer_fail(st, now, None)
            return
        self._outer_add(st, pl)
        if more:
            st.szx = szx
            self._outer_request(st, now)
            return
        self._outer_forget(st)
        self._outer_done(st, now)

    def _outer_done(self, st, now):
        mtype, code, opts = st.first
        body = st.buf
        if len(body) > st.size:
            body = body[: st.size]
        whole = Message(mtype, code, 0, st.key, opts, body)
        whole.peer = st.peer
        plain = self._unprotect(whole, st.peer)
        if st.tag is not None:
            self.client._tx_acked(st.tag, plain, now)
        elif plain is not None:
            self.client.handle_response(plain, st.peer, now)

    def _outer_forget(self, st):
        try:
            self._outer.remove(st)
        except ValueError:
            pass
        if st.token is not None:
            self._outer_tok.pop(st.token, None)
            st.token = None
        self.ep.cancel_con(self, st)

    def _outer_fail(self, st, now, err):
        """End reassembly st; its request fails (with the server's
        unprotected error `err` when there is one)."""
        self._outer_forget(st)
        self.stats[2] += 1
        if st.tag is None:
            return
        if err is not None:
            e = Message(err.mtype, err.code, err.mid, st.key, err.opts, err.payload)
            e.peer = st.peer
            self._unprotect(e, st.peer)  # an unprotected error: ends the binding
            self.client._tx_acked(st.tag, e, now)
        else:
            self.client._tx_failed(st.tag, now)


def _outer_b2(msg):
    return msg.opt(BLOCK2) is not None and msg.opt(OSCORE) is not None
