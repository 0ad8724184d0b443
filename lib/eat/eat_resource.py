# The CoAP /attest resource for hourglass: POST a nonce, get an EAT.
#
#   res = AttestResource(attester)
#   res.add_to(osrv)                 # oscore_server.OSCOREServer (or a plain
#                                    # coap_server.Server, e.g. in tests)
#
# Request: POST with the nonce (8..64 bytes) as the payload, either
#   Content-Format 60 (application/cbor): one CBOR bstr holding the nonce, or
#   Content-Format 42 (application/octet-stream) or none: the raw nonce.
# Response: 2.05 Content, Content-Format 263 (application/eat+cwt, RFC 9782)
# and an ETag; 4.00 for a bad nonce, 4.15 for another Content-Format (the
# Server checks ct_in), 4.06 for an Accept other than 263, 5.03 when the
# attester cannot sign (key exhausted, storage error) or the heap runs out
# (reading the nonce or making the token).
#
# Block-wise: an HSS-LMS token (~2.4-5 KB) is larger than one block, and
# coap_server runs the handler again for every Block2 request, whose POST
# carries no payload (coap_client, RFC 7959 2.5). So the last token per
# client (OSCORE kid, else address) is kept, at most `max_cache` of them:
# a Block2 request with num > 0 and no payload gets that token again, and a
# block-0 request repeating the nonce it was made for gets it too (a
# retransmitted or repeated request does not burn another LMS leaf). A
# continuation with nothing cached gets 4.08.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import cbor
from coap_msg import (
    BAD_REQUEST,
    CONTENT,
    ETAG,
    REQUEST_ENTITY_INCOMPLETE,
    SERVICE_UNAVAILABLE,
    CoAPResponseError,
    response,
)
from eat import CF_CBOR, CF_EAT_CWT, CF_OCTET_STREAM, EATError, check_nonce

_M_POST = const(4)  # coap_server.M_POST (not imported: keeps this module light)
_E_CLIENT = const(0)
_E_NONCE = const(1)
_E_TOKEN = const(2)
_E_ETAG = const(3)


def _client_of(req):
    b = getattr(req, "oscore", None)
    if b is not None:
        return b"k" + bytes(b.kid)
    return req.peer


def nonce_of(req):
    """The nonce carried by a request (see the top); EATError otherwise."""
    cf = req.opt_uint(12)
    pl = bytes(req.payload)
    if cf == CF_CBOR:
        try:
            v = cbor.loads(pl, strict=True, max_depth=1, max_items=1)
        except ValueError:
            raise EATError(-4, "nonce is not CBOR")
        if not isinstance(v, (bytes, bytearray)):
            raise EATError(-4, "nonce is not a CBOR bstr")
        pl = bytes(v)
    return check_nonce(pl)


class AttestResource:
    def __init__(self, attester, max_cache=2):
        self.attester = attester
        self.max_cache = max_cache
        self._cache = []  # [client, nonce, token, etag], newest last
        self._n = 0
        self.tokens = 0  # tokens signed (figures, tests)

    def add_to(self, srv, path="attest"):
        """Register on a Server / OSCOREServer (OSCOREServer.add marks the
        resource as needing OSCORE)."""
        return srv.add(path, self.handler, methods=_M_POST, ct=CF_EAT_CWT,
                       ct_in=(CF_CBOR, CF_OCTET_STREAM, None), max_body=256)

    def _find(self, client):
        for e in self._cache:
            if e[_E_CLIENT] == client:
                return e
        return None

    def _reply(self, e):
        r = response(CONTENT, e[_E_TOKEN], CF_EAT_CWT)
        r.add(ETAG, e[_E_ETAG])
        return r

    def handler(self, req):
        client = _client_of(req)
        b2 = req.block2()
        if b2 is not None and b2[0] > 0 and not req.payload:
            e = self._find(client)
            if e is None:
                raise CoAPResponseError(REQUEST_ENTITY_INCOMPLETE, "no token in progress")
            return self._reply(e)
        try:
            nonce = nonce_of(req)
        except EATError as err:
            raise CoAPResponseError(BAD_REQUEST, str(err))
        except MemoryError:
            # cbor lets it through: a busy heap is not a bad nonce (4.00)
            raise CoAPResponseError(SERVICE_UNAVAILABLE, "out of memory")
        e = self._find(client)
        if e is not None and e[_E_NONCE] == nonce:
            return self._reply(e)
        try:
            token = self.attester.attest(nonce)
        except EATError as err:
            raise CoAPResponseError(SERVICE_UNAVAILABLE, str(err))
        except (ValueError, OSError):
            # LMSError (key exhausted, self-check), storage errors: no token
            raise CoAPResponseError(SERVICE_UNAVAILABLE, "cannot attest")
        except MemoryError:
            # a small board's heap is busy (the token needs one 2.8-5.6 KB
            # block): a client may retry later, as for the errors above
            raise CoAPResponseError(SERVICE_UNAVAILABLE, "out of memory")
        self.tokens += 1
        self._n = (self._n + 1) & 0xFFFFFFFF
        if e is not None:
            self._cache.remove(e)
        elif len(self._cache) >= self.max_cache:
            self._cache.pop(0)
        e = [client, nonce, token, self._n.to_bytes(4, "big")]
        self._cache.append(e)
        return self._reply(e)
