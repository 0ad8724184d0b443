# An Observe registration over OSCORE to a server that has just rebooted:
# the first registration is answered with a protected 4.01 + Echo
# (RFC 8613 Appendix B.1.2), the client registers again with the Echo and
# a fresh token, and the notifications must reach it on that token (they
# used to be answered with RST: the client kept the first token).
import coap_msg as m
import oscore
from coap_client import Client
from coap_ep import Endpoint
from coap_server import Server
from coaptest import DictStorage, MemoryLink, seq_rand
from oscore_client import OSCOREClient
from oscore_server import OSCOREServer

MS = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff"
DEV = {"master_secret": "00112233445566778899aabbccddeeff", "device_id": "d0", "peer_id": "c1"}


class _Net(MemoryLink):
    """OSCORE client "C" and a just-booted OSCORE server "S" (its context
    loaded from storage: replay window not initialised, so it asks for Echo)."""

    def __init__(self):
        st = DictStorage()
        oscore.provision(st, "dev", DEV)
        self.sctx = oscore.load(st, "dev")
        self.srv = Server(rand=seq_rand(9))
        self.osrv = OSCOREServer(self.srv, oscore.Contexts([self.sctx]))
        self.counter = 0
        self.osrv.add("obs", lambda req: m.response(m.CONTENT, ("n%d" % self.counter).encode()),
                      observable=True)
        self.sep = Endpoint(server=self.osrv, rand=seq_rand(7), dedup_bytes=1200)
        self.cep = Endpoint(rand=seq_rand(3), dedup_bytes=1200)
        self.oc = OSCOREClient(self.cep)
        self.oc.add_peer("S", oscore.SecurityContext(MS, b"\xc1", b"\xd0"))
        self.client = Client(self.oc)
        self.wire = []

    def seen(self, dst, data):
        msg = m.decode(data)
        msg.payload = b""  # keep the header and options only
        self.wire.append((dst, msg))

    def to(self, dst):
        return [x for d, x in self.wire if d == dst]


def test_observe_after_echo_challenge_gets_notifications():
    net = _Net()
    ex = net.request(m.GET, "obs", observe=True)
    assert ex.observing and ex.error is None, ex.error
    assert bytes(ex.notifications[-1].payload) == b"n0"
    assert net.osrv.stats[2] == 1  # one Echo challenge
    regs = net.to("S")
    assert len(regs) == 2 and regs[0].token != regs[1].token
    # the retry is a new OSCORE request: its own Partial IV (nonce)
    pivs = [oscore.decode_option(r.opt(m.OSCORE))[0] for r in regs]
    assert pivs[0] != pivs[1]
    assert ex.token == bytes(regs[1].token)
    assert net.srv.observers("obs") == 1
    # the challenged registration left nothing behind on either side
    assert net.oc.bindings() == 1 and net.osrv.bindings() == 1
    assert list(net.client._tokens) == [ex.token]
    for i in range(1, 4):
        net.counter = i
        assert net.srv.notify("obs", net.now) == 1
        net.flush()
    assert [bytes(x.payload) for x in ex.notifications] == [b"n0", b"n1", b"n2", b"n3"]
    assert [x for x in net.to("S") if x.mtype == m.RST] == []
    assert net.srv.observers("obs") == 1 and ex.observing
    # deregistration goes on the token the server filed the observation under
    net.client.cancel(ex, net.now)
    net.flush()
    dereg = net.to("S")[-1]
    assert dereg.token == regs[1].token and dereg.opt(m.OSCORE) is not None
    assert ex.done and ex.error is None
    assert net.srv.observers("obs") == 0 and net.osrv.bindings() == 0 and net.oc.bindings() == 0
