# CoAP server core for hourglass (sans-I/O; plugged into coap_ep.Endpoint):
# a resource table, block-wise transfers (RFC 7959), Observe (RFC 7641),
# Echo and Request-Tag (RFC 9175) and /.well-known/core (RFC 6690).
#
#   srv = Server()
#   srv.add("hello", hello_handler, rt="greeting", ct=CF_TEXT)
#   srv.add("store", store_handler, methods=M_GET | M_PUT | M_POST,
#           sink=make_sink, max_body=65536)
#   srv.add("counter", counter_handler, observable=True)
#   ep = Endpoint(server=srv)
#   ... srv.notify("counter", now); out = ep.drain()
#
# A handler takes the request Message (req.peer is the client address;
# req.payload may be a memoryview into the datagram) and returns a fresh
# Message (coap_msg.response(code, payload, cf) builds one), or SEPARATE to
# answer later with srv.respond(req, resp, now) (the client gets an empty
# ACK now). Each Block2 request runs the handler again and sends the slice
# asked for (a block past the end -> 4.02, SZX 7 -> 4.00).
# It may raise CoAPResponseError(code, text); any other exception becomes
# 5.00 and never leaves the server. A response payload may be bytes or any
# object with __len__ and read_block(offset, n): larger than the block size
# (or asked for with Block2) it is sent block-wise; representations that
# span blocks should carry an ETag so clients notice changes.
#
# Request processing order: unknown critical options -> 4.02 (Proxy-Uri /
# Proxy-Scheme -> 5.05); no resource -> 4.04; method not allowed -> 4.05;
# If-Match/If-None-Match on a resource not declared `conditional` -> 4.02;
# Accept not matching the resource's ct -> 4.06; a Content-Format outside
# the resource's ct_in -> 4.15; a resource marked `fresh` and a request
# without a fresh Echo -> 4.01 with a new Echo value (RFC 9175 2.4).
#
# Block1 (uploads) stream into a sink: `sink(req, size1_or_None)` returns an
# object with write(chunk) and abort(). Blocks are delivered in order, once;
# the handler runs after the last block with req.sink set, so the resource
# changes atomically (RFC 7959 2.5). An out-of-order block -> 4.08; a body
# over the resource's max_body (or a Size1 announcing one) -> 4.13 with
# Size1; an operation is keyed by client, path and Request-Tag, so tagged
# concurrent uploads to one resource stay apart. A Block1 request to a
# resource without a sink must fit in one block, else 4.13.
#
# Observe: GET (not FETCH) with Observe=0 on an `observable` resource registers
# (client, token); Observe=1, an RST to a notification, a notification that
# is not acknowledged, an error response, or the application calling
# srv.cancel_observation(peer, token) deregisters. Notifications
# carry a 24-bit sequence number; they are NON except every con_interval_ms
# (default 24 h, RFC 7641 4.5) or for `con_notify` resources, and a newer
# notification replaces a CON one still in flight. A representation over
# one block is notified as block 0 (Block2 + ETag); the client fetches the
# rest with ordinary GETs.
#
# Caps (constructor arguments): max_observers 8, max_block1 2 concurrent
# uploads (the least recently active is aborted for a new one),
# block1_timeout_ms 60000 of inactivity, max_echo 4 outstanding Echo values
# valid echo_window_ms 10000, block_szx 6 (1024-byte blocks).
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from coap_msg import (
    CoAPError,
    CoAPLimitError,
    CoAPResponseError,
    Message,
    uint_decode,
    uint_encode,
)

# coap_msg's values (private consts take no RAM; host_tests/test_const_sync.py
# checks they match)
_ACK = const(2)
_BLOCK1 = const(27)
_BLOCK2 = const(23)
_CONTINUE = const(95)
_ECHO = const(252)
_GET = const(1)
_OBSERVE = const(6)
_SIZE1 = const(60)
_SIZE2 = const(28)
_BAD_OPTION = const(130)
_BAD_REQUEST = const(128)
_INTERNAL_SERVER_ERROR = const(160)
_METHOD_NOT_ALLOWED = const(133)
_NOT_ACCEPTABLE = const(134)
_NOT_FOUND = const(132)
_PROXYING_NOT_SUPPORTED = const(165)
_REQUEST_ENTITY_INCOMPLETE = const(136)
_REQUEST_ENTITY_TOO_LARGE = const(141)
_UNAUTHORIZED = const(129)
_UNSUPPORTED_CONTENT_FORMAT = const(143)
_CF_LINK_FORMAT = const(40)

from coap_ep import tadd, tdiff

_M_GET = const(2)
_M_POST = const(4)
_M_PUT = const(8)
_M_DELETE = const(16)
_M_FETCH = const(32)
_M_PATCH = const(64)
_M_IPATCH = const(128)
_BODY_METHODS = const(0xEC)  # POST PUT FETCH PATCH iPATCH

_CON_INTERVAL = const(86400000)  # 24 h
_BUFFERS = (bytes, bytearray, memoryview)


class _Separate:
    def __repr__(self):
        return "SEPARATE"


SEPARATE = _Separate()

# observer record fields
_O_PEER = const(0)
_O_TOKEN = const(1)
_O_RES = const(2)
_O_OPTS = const(3)
_O_LASTCON = const(4)
_O_TXMID = const(5)
_O_NONMID = const(6)
_O_B2 = const(7)

# block1 operation fields
_B_KEY = const(0)
_B_SINK = const(1)
_B_NEXT = const(2)
_B_LASTOFF = const(3)
_B_LASTNUM = const(4)
_B_EXPIRY = const(5)


def _err(code, text=""):
    m = Message(_ACK, code)
    if text:
        m.payload = text.encode()
    return m


class Resource:
    def __init__(self, path, handler, methods, attrs, observable, sink, max_body, ct, ct_in,
                 fresh, conditional, con_notify, hidden):
        self.path = path
        self.handler = handler
        self.methods = methods
        self.attrs = attrs
        self.observable = observable
        self.sink = sink
        self.max_body = max_body
        self.ct = ct
        self.ct_in = ct_in
        self.fresh = fresh
        self.conditional = conditional
        self.con_notify = con_notify
        self.hidden = hidden
        self.slow = fresh or sink is not None  # needs the full request checks


class Server:
    def __init__(self, rand=None, max_observers=8, max_block1=2, block1_timeout_ms=60000,
                 max_echo=4, echo_window_ms=10000, block_szx=6, con_interval_ms=_CON_INTERVAL,
                 well_known=True):
        self.ep = None
        self.rand = rand
        self._res = {}
        self._order = []
        self._obs = []
        self._max_obs = max_observers
        self._b1 = []
        self._max_b1 = max_block1
        self._b1_timeout = block1_timeout_ms
        self._echo = []
        self._max_echo = max_echo
        self._echo_window = echo_window_ms
        self.block_szx = block_szx
        self.con_interval = con_interval_ms
        self._seq = 1
        self.errors = 0
        self.last_error = None
        if well_known:
            self.add(".well-known/core", self._well_known, ct=_CF_LINK_FORMAT, hidden=True)

    def attach(self, ep):
        self.ep = ep
        if self.rand is None:
            self.rand = ep.rand

    # ------------------------------------------------------------ resources
    def add(self, path, handler, methods=_M_GET, rt=None, if_=None, ct=None, title=None, sz=None,
            observable=False, sink=None, max_body=1024, ct_in=None, fresh=False,
            conditional=False, con_notify=False, hidden=False, attrs=()):
        """Register a resource at `path` ('a/b', no leading slash)."""
        path = path.strip("/")
        link = []
        if rt is not None:
            link.append(("rt", rt))
        if if_ is not None:
            link.append(("if", if_))
        if ct is not None:
            link.append(("ct", ct))
        if sz is not None:
            link.append(("sz", sz))
        if title is not None:
            link.append(("title", title))
        if observable:
            link.append(("obs", None))
        for a in attrs:
            link.append(a)
        res = Resource(path, handler, methods, tuple(link), observable, sink, max_body, ct,
                       ct_in, fresh, conditional, con_notify, hidden)
        key = path.encode()
        if key not in self._res:
            self._order.append(res)
        else:
            self._order[self._order.index(self._res[key])] = res
        self._res[key] = res
        return res

    def resource(self, path):
        return self._res.get(path.strip("/").encode())

    def _well_known(self, req):
        from coap_link import link_format

        links = [(r.path, r.attrs) for r in self._order if not r.hidden]
        doc = link_format(links, req.query())
        m = Message(_ACK, 0x45, 0, b"", None, doc.encode())
        m.add(12, _CF_LINK_FORMAT)
        return m

    # ------------------------------------------------------------ requests
    def handle_request(self, req, now):
        """Answer one request: a Message, or None for SEPARATE (the
        endpoint then sends an empty ACK). Never raises."""
        try:
            # fast path: only URI options, no payload, a plain resource
            seg = None
            segs = None
            slow = False
            for n, v in req.opts:
                if n == 11:
                    if seg is None:
                        seg = v
                    elif segs is None:
                        segs = [seg, v]
                    else:
                        segs.append(v)
                    if len(v) > 255:
                        slow = True
                elif n != 15 and n != 3 and n != 7 and n != 12 and n != 60 and n != 28:
                    slow = True
            if slow or req.payload:
                return self._dispatch_full(req, now)
            if segs is not None:
                key = b"/".join(segs)
            else:
                key = b"" if seg is None else seg
            res = self._res.get(key)
            if res is None:
                return _err(_NOT_FOUND)
            if res.slow:
                return self._dispatch_full(req, now)
            if not (res.methods >> req.code) & 1:
                return _err(_METHOD_NOT_ALLOWED)
            resp = res.handler(req)
            if resp is SEPARATE:
                return None
            pl = resp.payload
            if not pl:
                if not isinstance(resp, Message):
                    raise TypeError("handler result")
                return resp
            if type(pl) is bytes and len(pl) <= (16 << self.block_szx):
                return resp
            if not isinstance(resp, Message):
                raise TypeError("handler result")
            return self._block2(resp, None)
        except CoAPResponseError as e:
            return _err(e.code, e.args[0] if e.args else "")
        except CoAPError as e:
            return _err(_BAD_REQUEST, e.args[0] if e.args else "")
        except Exception as e:  # a handler bug must not stop the server
            self.errors += 1
            self.last_error = e
            return _err(_INTERNAL_SERVER_ERROR)

    def _dispatch_full(self, req, now):
        seg = None
        segs = None
        crit = 0
        obs = b2 = b1 = accept = cf = echo = rtag = None
        cond = False
        for n, v in req.opts:
            if n == 11:
                if len(v) > 255:
                    crit = 11
                if seg is None:
                    seg = v
                elif segs is None:
                    segs = [seg, v]
                else:
                    segs.append(v)
            elif n == 23:
                b2 = v
            elif n == 27:
                b1 = v
            elif n == 6:
                obs = v
            elif n == 15 or n == 3 or n == 7 or n == 4 or n == 12 or n == 60 or n == 28:
                if n == 12:
                    cf = v
            elif n == 17:
                accept = v
            elif n == 252:
                echo = v
            elif n == 292:
                rtag = v if rtag is None else rtag + b"\x00" + v
            elif n == 1 or n == 5:
                cond = True
            elif n & 1 and not crit:
                crit = n
        if crit:
            if crit == 35 or crit == 39:
                return _err(_PROXYING_NOT_SUPPORTED)
            return _err(_BAD_OPTION, "option %d" % crit)
        if segs is not None:
            key = b"/".join(segs)
        else:
            key = b"" if seg is None else seg
        res = self._res.get(key)
        if res is None:
            return _err(_NOT_FOUND)
        code = req.code
        if not (res.methods >> code) & 1:
            return _err(_METHOD_NOT_ALLOWED)
        if cond and not res.conditional:
            return _err(_BAD_OPTION, "conditional")
        if (b1 is not None and len(b1) > 3) or (b2 is not None and len(b2) > 3):
            return _err(_BAD_OPTION, "block")
        if accept is not None:
            if len(accept) > 2:
                return _err(_BAD_OPTION, "accept")
            if res.ct is not None and uint_decode(accept) != res.ct:
                return _err(_NOT_ACCEPTABLE)
        if res.ct_in is not None and req.payload:
            c = None if cf is None or len(cf) > 2 else uint_decode(cf)
            if c not in res.ct_in:
                return _err(_UNSUPPORTED_CONTENT_FORMAT)
        if res.fresh and (b1 is None or uint_decode(b1) >> 4 == 0):
            if echo is None or not self._echo_ok(echo, req.peer, now):
                return self._echo_challenge(req.peer, now)
        if (res.sink is not None and (_BODY_METHODS >> code) & 1) or b1 is not None:
            return self._body(req, res, key, b1, rtag, b2, now)
        reg = False
        if obs is not None and code == _GET and len(obs) <= 3:
            o = uint_decode(obs)
            if o == 1:
                self.cancel_observation(req.peer, req.token)
            elif o == 0 and res.observable:
                reg = True
        resp = res.handler(req)
        if resp is SEPARATE:
            return None
        if not isinstance(resp, Message):
            raise TypeError("handler result")
        if reg and 0x40 <= resp.code < 0x60:
            if self._register(req, res, b2, now):
                resp.add(_OBSERVE, self._next_seq())
        if not resp.payload:
            return resp
        return self._block2(resp, b2)

    def _next_seq(self):
        s = self._seq
        self._seq = (s + 1) & 0xFFFFFF
        return s

    # ------------------------------------------------------------ Block2
    def _block2(self, resp, b2):
        body = resp.payload
        if isinstance(body, str):
            body = body.encode()
        size = len(body)
        szx = self.block_szx
        if b2 is None:
            if size <= (16 << szx):
                if not isinstance(body, _BUFFERS):
                    resp.payload = body.read_block(0, size)
                return resp
            num = 0
            size2 = True
        else:
            v = uint_decode(b2)
            num = v >> 4
            rszx = v & 7
            if rszx == 7:
                return _err(_BAD_REQUEST, "szx 7")
            if rszx < szx:
                szx = rszx
            else:
                num = (num << (rszx + 4)) >> (szx + 4)
            size2 = num == 0
        bs = 16 << szx
        off = num * bs
        if off >= size and num:
            return _err(_BAD_OPTION, "block out of range")
        end = off + bs
        more = end < size
        if not more:
            end = size
        if isinstance(body, _BUFFERS):
            resp.payload = memoryview(body)[off:end]
        else:
            resp.payload = body.read_block(off, end - off)
        resp.set(_BLOCK2, (num << 4) | (8 if more else 0) | szx)
        if size2:
            resp.set(_SIZE2, size)
        return resp

    # ------------------------------------------------------------ Block1
    def _find_b1(self, key):
        for op in self._b1:
            if op[_B_KEY] == key:
                return op
        return None

    def _drop_b1(self, op, abort):
        try:
            self._b1.remove(op)
        except ValueError:
            pass
        if abort:
            try:
                op[_B_SINK].abort()
            except Exception as e:
                self.errors += 1
                self.last_error = e

    def _too_large(self, limit):
        r = _err(_REQUEST_ENTITY_TOO_LARGE)
        r.add(_SIZE1, limit)
        return r

    def _final(self, req, res, sink, b2):
        req.sink = sink
        try:
            resp = res.handler(req)
        except BaseException:
            try:
                sink.abort()
            except Exception:
                pass
            raise
        if resp is SEPARATE:
            return None
        if not isinstance(resp, Message):
            raise TypeError("handler result")
        if resp.payload:
            return self._block2(resp, b2)
        return resp

    def _body(self, req, res, key, b1, rtag, b2, now):
        payload = req.payload
        plen = len(payload)
        limit = res.max_body
        if res.sink is None:
            # no streaming sink: the body must come in one message
            if b1 is not None:
                v = uint_decode(b1)
                if v >> 4 or v & 8:
                    return self._too_large(16 << self.block_szx)
            resp = self._final(req, res, None, b2)
            if resp is not None and b1 is not None:
                resp.add(_BLOCK1, uint_decode(b1) & 7)
            return resp
        if b1 is None:
            if plen > limit:
                return self._too_large(limit)
            sink = res.sink(req, plen)
            if plen:
                sink.write(payload)
            return self._final(req, res, sink, b2)
        v = uint_decode(b1)
        num = v >> 4
        more = v & 8
        szx = v & 7
        if szx == 7:
            return _err(_BAD_REQUEST, "szx 7")
        bs = 16 << szx
        if plen > bs or (more and plen != bs):
            return _err(_BAD_REQUEST, "block size")
        off = num * bs
        opkey = (req.peer, key, rtag)
        op = self._find_b1(opkey)
        if num == 0:
            if op is not None:
                self._drop_b1(op, True)
            size1 = req.opt(_SIZE1)
            size1 = None if size1 is None else uint_decode(size1)
            if size1 is not None and size1 > limit:
                return self._too_large(limit)
            sink = res.sink(req, size1)
            if len(self._b1) >= self._max_b1:
                oldest = self._b1[0]
                for o in self._b1:
                    if tdiff(o[_B_EXPIRY], oldest[_B_EXPIRY]) < 0:
                        oldest = o
                self._drop_b1(oldest, True)
            op = [opkey, sink, 0, -1, -1, 0]
            self._b1.append(op)
        else:
            if op is None:
                return _err(_REQUEST_ENTITY_INCOMPLETE)
            if off == op[_B_LASTOFF] and num == op[_B_LASTNUM] and off + plen == op[_B_NEXT]:
                # the same block again (a retry with a new MID): answer again
                r = Message(_ACK, _CONTINUE)
                r.add(_BLOCK1, (num << 4) | 8 | szx)
                return r
            if off != op[_B_NEXT]:
                self._drop_b1(op, True)
                return _err(_REQUEST_ENTITY_INCOMPLETE)
        if op[_B_NEXT] + plen > limit:
            self._drop_b1(op, True)
            return self._too_large(limit)
        if plen:
            op[_B_SINK].write(payload)
        op[_B_NEXT] += plen
        op[_B_LASTOFF] = off
        op[_B_LASTNUM] = num
        op[_B_EXPIRY] = tadd(now, self._b1_timeout)
        if more:
            out_szx = szx
            if num == 0 and self.block_szx < szx:
                out_szx = self.block_szx  # ask for smaller blocks (RFC 7959 2.3)
            r = Message(_ACK, _CONTINUE)
            r.add(_BLOCK1, (num << 4) | 8 | out_szx)
            return r
        self._drop_b1(op, False)
        resp = self._final(req, res, op[_B_SINK], b2)
        if resp is not None:
            resp.set(_BLOCK1, (num << 4) | szx)
        return resp

    # ------------------------------------------------------------ Echo
    def _echo_ok(self, value, peer, now):
        for ent in self._echo:
            if ent[0] == value and ent[2] == peer:
                return tdiff(now, ent[1]) < 0
        return False

    def _echo_challenge(self, peer, now):
        value = bytes(self.rand(8))
        ring = self._echo
        if len(ring) >= self._max_echo:
            ring.pop(0)
        ring.append((value, tadd(now, self._echo_window), peer))
        r = _err(_UNAUTHORIZED)
        r.add(_ECHO, value)
        return r

    # ------------------------------------------------------------ Observe
    def _register(self, req, res, b2, now):
        peer = req.peer
        token = bytes(req.token)
        obs = self._obs
        opts = tuple([(n, v) for n, v in req.opts if n != 6 and n != 23 and n != 252])
        for ob in obs:
            if ob[_O_PEER] == peer and ob[_O_TOKEN] == token:
                ob[_O_RES] = res
                ob[_O_OPTS] = opts
                ob[_O_LASTCON] = now
                ob[_O_B2] = b2
                return True
        if len(obs) >= self._max_obs:
            # make room only by dropping this client's older entry for the resource
            for ob in obs:
                if ob[_O_PEER] == peer and ob[_O_RES] is res:
                    self._remove_observer(ob)
                    break
            else:
                return False
        obs.append([peer, token, res, opts, now, None, None, b2])
        return True

    def _remove_observer(self, ob):
        try:
            self._obs.remove(ob)
        except ValueError:
            return
        if ob[_O_TXMID] is not None and self.ep is not None:
            self.ep.cancel_con(self, ob)

    def cancel_observation(self, peer, token):
        """End the observation that `peer` registered with `token`, as a GET
        with Observe=1 would: no further notifications, and a CON
        notification still in flight is no longer retransmitted. Nothing is
        sent: to the client the notifications just stop (RFC 7641 3.3.1: it
        re-registers once the last one's Max-Age has passed). For servers
        that must shed an observation (a cap, a revoked client, the OSCORE
        layer dropping the request binding). Returns True if there was one."""
        token = bytes(token)
        for ob in self._obs:
            if ob[_O_PEER] == peer and ob[_O_TOKEN] == token:
                self._remove_observer(ob)
                return True
        return False

    def usage(self):
        """(observers, Block1 uploads in progress, outstanding Echo values):
        what max_observers, max_block1 and max_echo bound."""
        return len(self._obs), len(self._b1), len(self._echo)

    def observers(self, path=None):
        """Number of observers (of `path`, or in total)."""
        if path is None:
            return len(self._obs)
        res = self.resource(path)
        return len([ob for ob in self._obs if ob[_O_RES] is res])

    def notify(self, path, now):
        """Send the current representation of `path` (or a Resource) to its
        observers; call ep.drain() afterwards. Returns how many were sent."""
        res = path if isinstance(path, Resource) else self.resource(path)
        if res is None:
            return 0
        sent = 0
        for ob in list(self._obs):
            if ob[_O_RES] is res:
                self._notify_one(ob, res, now)
                sent += 1
        return sent

    def _notify_one(self, ob, res, now):
        ep = self.ep
        peer = ob[_O_PEER]
        req = Message(0, _GET, 0, ob[_O_TOKEN], list(ob[_O_OPTS]))
        req.peer = peer
        try:
            resp = res.handler(req)
            if resp is SEPARATE or not isinstance(resp, Message):
                return
        except CoAPResponseError as e:
            resp = _err(e.code)
        except Exception as e:
            self.errors += 1
            self.last_error = e
            resp = _err(_INTERNAL_SERVER_ERROR)
        ok = 0x40 <= resp.code < 0x60
        if ok:
            resp.add(_OBSERVE, self._next_seq())
            if resp.payload:
                b2 = ob[_O_B2]
                resp = self._block2(resp, None if b2 is None else uint_encode(uint_decode(b2) & 7))
        resp.token = ob[_O_TOKEN]
        con = res.con_notify or tdiff(now, ob[_O_LASTCON]) >= self.con_interval
        if ob[_O_TXMID] is not None:
            new = ep.replace_con(ob[_O_TXMID], peer, resp)
            if new is not None:
                ob[_O_TXMID] = new
                if not ok:
                    self._obs.remove(ob)
                return
            ob[_O_TXMID] = None
        if con:
            try:
                ob[_O_TXMID] = ep.send_con(resp, peer, now, self, ob)
                con = False
            except CoAPLimitError:
                pass  # too many CON in flight: this one goes NON
        if con or ob[_O_TXMID] is None:
            ob[_O_NONMID] = ep.send_non(resp, peer)
        if not ok:
            # an error notification ends the observation; stop retransmitting it too
            try:
                self._obs.remove(ob)
            except ValueError:
                pass

    def rst_received(self, peer, mid, now):
        """An RST that matched no CON: maybe the answer to a NON notification."""
        for ob in self._obs:
            if ob[_O_NONMID] == mid and ob[_O_PEER] == peer:
                self._remove_observer(ob)
                return True
        return False

    # ------------------------------------------------------------ separate
    def respond(self, req, resp, now):
        """Send the separate response to `req`, for which the handler
        returned SEPARATE; call ep.drain() afterwards."""
        if resp.payload:
            resp = self._block2(resp, req.opt(_BLOCK2))
        return self.ep.send_response(resp, req.mtype, bytes(req.token), req.peer, now, self, req)

    # ------------------------------------------------------------ endpoint callbacks
    def _tx_acked(self, tag, msg, now):
        if isinstance(tag, list):
            tag[_O_TXMID] = None
            tag[_O_LASTCON] = now

    def _tx_reset(self, tag, now):
        if isinstance(tag, list):
            self._remove_observer(tag)

    def _tx_failed(self, tag, now):
        if isinstance(tag, list):
            self._remove_observer(tag)

    def poll(self, now):
        b1 = self._b1
        i = len(b1)
        while i:
            i -= 1
            if tdiff(now, b1[i][_B_EXPIRY]) >= 0:
                self._drop_b1(b1[i], True)

    def next_deadline(self, now):
        if not self._b1:
            return None
        best = None
        for op in self._b1:
            d = tdiff(op[_B_EXPIRY], now)
            if best is None or d < best:
                best = d
        return best


# The public constants (module.NAME, `from coap_server import NAME`): a literal table
# (ROM when frozen) read by __getattr__, instead of a slot each in this
# module's globals (heap). Inside the module the private names fold away.
_PUBLIC = const((
    ("M_GET", _M_GET), ("M_POST", _M_POST), ("M_PUT", _M_PUT), ("M_DELETE", _M_DELETE),
    ("M_FETCH", _M_FETCH), ("M_PATCH", _M_PATCH), ("M_IPATCH", _M_IPATCH),
    ("CON_INTERVAL", _CON_INTERVAL),
))


def __getattr__(name):
    for k, v in _PUBLIC:
        if k == name:
            return v
    raise AttributeError(name)
