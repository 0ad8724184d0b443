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
import oscore
from coap_msg import OSCORE


class OSCOREClient:
    def __init__(self, ep, max_bindings=16):
        self.ep = ep
        self.rand = ep.rand
        self.client = None
        ep.client = self
        self._peers = {}
        self._bind = {}  # token -> (RequestBinding, peer)
        self._order = []
        self._max = max_bindings
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
        self._bind[key] = (b, peer)
        self._order.append(key)
        return out

    # ------------------------------------------------------------ Endpoint side
    def _tx_acked(self, tag, msg, now):
        if msg is not None:
            msg = self._unprotect(msg, msg.peer)
        self.client._tx_acked(tag, msg, now)

    def _tx_reset(self, tag, now):
        self.client._tx_reset(tag, now)

    def _tx_failed(self, tag, now):
        self.client._tx_failed(tag, now)

    def handle_response(self, msg, peer, now):
        key = bytes(msg.token)
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
