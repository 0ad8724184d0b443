# OSCORE security state: the replay window, the persisted Sender Sequence
# Number (Appendix B.1.1, power cuts at every write), the context record and
# the Echo recovery of the replay window (Appendix B.1.2).
import coap_msg
import oscore
from hgtest import raises
from hgstore import MemoryStorage, PowerCut

MS = b"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"
SALT = b"\x9e\x7c\xa9\x22\x23\x78\x63\x40"
DEV = {"master_secret": "0102030405060708090a0b0c0d0e0f10", "master_salt": "9e7ca92223786340",
       "device_id": "01", "peer_id": "", "replay_window": 32}


def _pair():
    cl = oscore.SecurityContext(MS, b"", b"\x01", SALT)
    sv = oscore.SecurityContext(MS, b"\x01", b"", SALT)
    return cl, sv


def _get(path="x", mid=1):
    return coap_msg.Message(coap_msg.CON, coap_msg.GET, mid, b"\x11\x22", None).set_path(path)


# ---------------------------------------------------------------- window


def test_window_any_order_inside():
    w = oscore.ReplayWindow(32)
    order = [5, 0, 3, 31, 1, 2, 4, 30, 6, 7]
    for v in order:
        assert w.check(v), v
        w.mark(v)
    for v in order:
        assert not w.check(v), v
    for v in range(8, 30):
        assert w.check(v), v
    w.mark(40)  # slides: 8 is now 32 behind
    assert not w.check(8)
    assert w.check(9) and w.check(39) and w.check(41)
    assert not w.check(40) and not w.check(31)


def test_window_big_jump_and_sizes():
    w = oscore.ReplayWindow(64)
    w.mark(0)
    w.mark(1000)
    assert not w.check(1000) and not w.check(936) and w.check(937) and w.check(999)
    assert raises(oscore.OSCOREError, oscore.ReplayWindow, 31)
    assert raises(oscore.OSCOREError, oscore.ReplayWindow, 4096)


def test_window_uninitialised_until_lower_bound():
    w = oscore.ReplayWindow(32, initialized=False)
    assert not w.check(0) and not w.check(100)
    w.set_lower_bound(100)
    assert not w.check(100) and not w.check(99) and not w.check(50)
    assert w.check(101)


def test_window_check_never_changes_state():
    w = oscore.ReplayWindow(32)
    for v in (3, 9, 100, 2, 0):
        w.check(v)
    assert w.top == -1 and w.check(3)


# ---------------------------------------------------------------- storage


def test_provision_load_continue_at_reservation():
    st = MemoryStorage()
    assert oscore.provision(st, "c", DEV) == 0
    ctx = oscore.load(st, "c")
    assert ctx.sender_id == b"\x01" and ctx.recipient_id == b"" and ctx.ssn == 0
    assert not ctx.window.initialized
    used = [ctx.next_piv()[0] for _ in range(20)]
    assert used == list(range(20))
    assert ctx.writes == 2  # reserved 16, then 32 more
    ctx2 = oscore.load(st.reboot(), "c")
    assert ctx2.ssn == 48 and ctx2.ssn > used[-1]
    # a clean shutdown gives the rest back
    ctx.close()
    assert oscore.load(st, "c").ssn == 20


def test_provision_twice_never_rewinds():
    st = MemoryStorage()
    oscore.provision(st, "c", DEV)
    ctx = oscore.load(st, "c")
    for _ in range(5):
        ctx.next_piv()
    assert oscore.provision(st, "c", DEV) == 16
    assert oscore.load(st, "c").ssn == 16
    other = dict(DEV)
    other["master_secret"] = "ff" * 16
    assert oscore.provision(st, "c", other) == 0  # new keys: starts at 0


def test_record_tamper_refused():
    st = MemoryStorage()
    oscore.provision(st, "c", DEV)
    rec = bytearray(st.read("c"))
    for i in (3, len(rec) // 2, len(rec) - 12, len(rec) - 1):
        bad = bytearray(rec)
        bad[i] ^= 1
        st.write("c", bytes(bad))
        raises(oscore.OSCOREError, oscore.load, st, "c")
    st.write("c", b"")
    raises(oscore.OSCOREError, oscore.load, st, "c")
    raises(oscore.OSCOREError, oscore.load, st, "missing")


def test_bad_provisioning():
    st = MemoryStorage()
    for key, val in (("device_id", "0102030405060708"), ("master_secret", "zz"),
                     ("replay_window", 8), ("algorithm", 1), ("peer_id", "01")):
        bad = dict(DEV)
        bad[key] = val
        raises(oscore.OSCOREError, oscore.provision, st, "c", bad)
    assert st.read("c") is None


def _nonce_log(ctx, n, log):
    for _ in range(n):
        seq, piv = ctx.next_piv()
        nonce = ctx.sender_nonce(seq)
        assert nonce not in log, "nonce reused"
        log.add(nonce)


def test_power_cut_at_every_write_no_nonce_reuse():
    # A sequence of 70 sequence numbers with the power cut at the k-th
    # storage write, for every k; after each cut the device reboots from
    # what was durable and carries on. No nonce may ever repeat.
    base = MemoryStorage()
    oscore.provision(base, "c", DEV)
    k = 0
    while True:
        k += 1
        st = MemoryStorage(cut_at=k, data=base.durable)
        st.writes = 0
        log = set()
        ctx = oscore.load(st, "c")
        cut = False
        try:
            _nonce_log(ctx, 70, log)
        except PowerCut:
            cut = True
            # the failed context refuses to go on
            raises(oscore.OSCOREError, ctx.next_piv)
        if not cut:
            break
        ctx = oscore.load(st.reboot(), "c")
        _nonce_log(ctx, 70, log)
    assert k == 4  # writes at sequence numbers 0, 16, 48 were each cut


# ---------------------------------------------------------------- Echo recovery


def test_echo_recovery_after_restart():
    st = MemoryStorage()
    oscore.provision(st, "dev", DEV)
    server = oscore.load(st, "dev")
    client = oscore.SecurityContext(MS, b"", b"\x01", SALT)
    for _ in range(3):
        client.next_piv()
    old, _ = oscore.protect_request(client, _get(mid=1))  # sent before the reboot
    req, cb = oscore.protect_request(client, _get(mid=2))
    plain, sb = oscore.unprotect_request([server], req)
    assert sb.echo_needed and not server.window.initialized
    ssn0 = server.ssn
    resp = oscore.protect_response(sb, oscore.echo_challenge(sb))
    assert server.ssn == ssn0 + 2  # the Echo value and the challenge each took one
    assert oscore.decode_option(resp.opt(coap_msg.OSCORE))[0] is not None
    got = oscore.unprotect_response(cb, resp)
    assert got.code == coap_msg.UNAUTHORIZED and got.opt(coap_msg.ECHO) == server.echo
    assert not got.payload
    # the client repeats the request with the Echo value
    again = _get(mid=3).set(coap_msg.ECHO, got.opt(coap_msg.ECHO))
    req2, cb2 = oscore.protect_request(client, again)
    plain2, sb2 = oscore.unprotect_request([server], req2)
    assert not sb2.echo_needed and server.window.initialized
    assert plain2.opt(coap_msg.ECHO) is None and plain2.path() == "x"
    out = oscore.protect_response(sb2, coap_msg.response(coap_msg.CONTENT, b"ok"))
    assert oscore.unprotect_response(cb2, out).payload == b"ok"
    # anything from before the Echo round trip is now a replay
    e = raises(oscore.ReplayError, oscore.unprotect_request, [server], old)
    assert e.code == coap_msg.UNAUTHORIZED
    raises(oscore.ReplayError, oscore.unprotect_request, [server], req)
    raises(oscore.ReplayError, oscore.unprotect_request, [server], req2)


def test_echo_wrong_value_keeps_challenging():
    st = MemoryStorage()
    oscore.provision(st, "dev", DEV)
    server = oscore.load(st, "dev")
    client = oscore.SecurityContext(MS, b"", b"\x01", SALT)
    req, _ = oscore.protect_request(client, _get().set(coap_msg.ECHO, b"12345678"))
    _, sb = oscore.unprotect_request([server], req)
    assert sb.echo_needed and not server.window.initialized
