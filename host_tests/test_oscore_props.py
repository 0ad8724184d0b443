# CPython-only OSCORE checks: an independent oracle (cryptography's AESCCM,
# its HKDF and cbor2) for random contexts and messages, round trips,
# hypothesis fuzzing of unprotect (only ProtectionInvalid may escape, and a
# failure changes no state), and power cuts at every storage write of a
# client/server session with notifications and Echo recovery: no (key,
# nonce) pair is ever used twice.
import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import coap_msg
import oscore
from fuzzing import examples
from hgstore import MemoryStorage, PowerCut

FUZZ = settings(max_examples=examples(150), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

ids = st.binary(min_size=0, max_size=7)
opt_value = st.binary(min_size=0, max_size=20)


def _hkdf(ms, salt, info, n):
    return HKDF(hashes.SHA256(), n, salt or None, info).derive(ms)


def _oracle_keys(ms, salt, sid, rid, idc):
    def info(i, kind, n):
        return cbor2.dumps([i, idc, 10, kind, n])

    return (_hkdf(ms, salt, info(sid, "Key", 16), 16), _hkdf(ms, salt, info(rid, "Key", 16), 16),
            _hkdf(ms, salt, info(b"", "IV", 13), 13))


def _oracle_nonce(civ, ident, piv):
    raw = bytes([len(ident)]) + ident.rjust(7, b"\0") + piv.rjust(5, b"\0")
    return bytes(a ^ b for a, b in zip(raw, civ))


@st.composite
def contexts(draw):
    ms = draw(st.binary(min_size=1, max_size=40))
    salt = draw(st.binary(max_size=16))
    sid = draw(ids)
    rid = draw(ids.filter(lambda r: r != sid))
    idc = draw(st.one_of(st.none(), st.binary(max_size=12)))
    ssn = draw(st.integers(0, 2**40 - 1))
    return ms, salt, sid, rid, idc, ssn


@st.composite
def requests(draw):
    code = draw(st.sampled_from([1, 2, 3, 4, 5, 7]))
    m = coap_msg.Message(coap_msg.CON, code, draw(st.integers(0, 0xFFFF)),
                         draw(st.binary(max_size=8)), None, draw(st.binary(max_size=300)))
    for seg in draw(st.lists(st.text(min_size=0, max_size=10), max_size=4)):
        m.add(coap_msg.URI_PATH, seg)
    if draw(st.booleans()):
        m.add(coap_msg.URI_HOST, "example.com")
    if draw(st.booleans()):
        m.add(coap_msg.URI_QUERY, "a=1")
    if draw(st.booleans()):
        m.add(coap_msg.BLOCK1, coap_msg.block_encode(draw(st.integers(0, 100)), 1, 6))
    if draw(st.booleans()):
        m.add(65000 + 2 * draw(st.integers(0, 200)), draw(st.binary(max_size=5)))  # unknown: Class E
    return m


@FUZZ
@given(contexts(), requests(), st.booleans())
def test_oracle_request(c, msg, send_ctx):
    ms, salt, sid, rid, idc, ssn = c
    ctx = oscore.SecurityContext(ms, sid, rid, salt, idc, ssn=ssn)
    skey, rkey, civ = _oracle_keys(ms, salt, sid, rid, idc)
    assert (ctx.sender_key, ctx.recipient_key, ctx.common_iv) == (skey, rkey, civ)
    outer, b = oscore.protect_request(ctx, msg, kid_context=send_ctx and idc is not None)
    piv, kid, kctx = oscore.decode_option(outer.opt(coap_msg.OSCORE))
    assert int.from_bytes(piv, "big") == ssn and kid == sid
    assert kctx == (idc if send_ctx and idc is not None else None)
    aad = cbor2.dumps(["Encrypt0", b"", cbor2.dumps([1, [10], sid, piv, b""])])
    pt = AESCCM(skey, 8).decrypt(_oracle_nonce(civ, sid, piv), bytes(outer.payload), aad)
    assert pt[0] == msg.code
    # Class U stays outside, everything else inside; the outer code is POST
    assert outer.code == coap_msg.POST
    assert outer.opt_all(coap_msg.URI_HOST) == msg.opt_all(coap_msg.URI_HOST)
    assert not outer.opt_all(coap_msg.URI_PATH) and not outer.opt_all(coap_msg.BLOCK1)
    # and the server side gets the original back
    srv = oscore.SecurityContext(ms, rid, sid, salt, idc)
    plain, sb = oscore.unprotect_request([srv], outer)
    assert plain.encode() == msg.encode()
    resp = coap_msg.Message(coap_msg.ACK, coap_msg.CONTENT, msg.mid, msg.token, None, b"r" * (ssn % 50))
    out = oscore.protect_response(sb, resp)
    # the response reuses the request nonce with the server's sender key
    rpt = AESCCM(rkey, 8).decrypt(_oracle_nonce(civ, sid, piv), bytes(out.payload), aad)
    assert rpt[0] == coap_msg.CONTENT
    assert oscore.unprotect_response(b, out).encode() == resp.encode()


@FUZZ
@given(st.binary(max_size=24))
def test_decode_option_fuzz(value):
    try:
        piv, kid, kctx = oscore.decode_option(value)
    except oscore.DecodeError:
        return
    assert oscore.encode_option(piv, kid, kctx) == value


def _snapshot(ctx):
    w = ctx.window
    return (w.top, bytes(w._ring), w.initialized, ctx.ssn, ctx.echo, ctx.failed)


def _mutate(draw, msg):
    opts = list(msg.opts)
    payload = bytes(msg.payload)
    what = draw(st.integers(0, 5))
    if what == 0 and payload:
        i = draw(st.integers(0, len(payload) - 1))
        payload = payload[:i] + bytes([payload[i] ^ draw(st.integers(1, 255))]) + payload[i + 1:]
    elif what == 1:
        payload = draw(st.binary(max_size=40))
    elif what == 2:
        opts = [(n, v) for n, v in opts if n != coap_msg.OSCORE] + [(coap_msg.OSCORE, draw(opt_value))]
    elif what == 3:
        ov = bytearray(msg.opt(coap_msg.OSCORE))
        if ov:
            i = draw(st.integers(0, len(ov) - 1))
            ov[i] ^= draw(st.integers(1, 255))
        opts = [(n, v) for n, v in opts if n != coap_msg.OSCORE] + [(coap_msg.OSCORE, bytes(ov))]
    elif what == 4:
        payload = payload[:draw(st.integers(0, len(payload)))]
    else:
        opts = opts + [(draw(st.integers(1, 300)), draw(opt_value))]
    opts.sort(key=lambda o: o[0])
    return coap_msg.Message(msg.mtype, draw(st.sampled_from([msg.code, 1, 2, 5, 0x44])), msg.mid,
                            msg.token, opts, payload)


@FUZZ
@given(st.data())
def test_fuzz_unprotect_request_state(data):
    cl = oscore.SecurityContext(b"secret", b"\x01", b"\x02", ssn=data.draw(st.integers(0, 1000)))
    sv = oscore.SecurityContext(b"secret", b"\x02", b"\x01")
    good, _ = oscore.protect_request(cl, data.draw(requests()))
    bad = _mutate(data.draw, good)
    before = _snapshot(sv)
    try:
        plain, _ = oscore.unprotect_request([sv], bad)
    except oscore.ProtectionInvalid as e:
        assert e.code in (coap_msg.BAD_OPTION, coap_msg.UNAUTHORIZED, coap_msg.BAD_REQUEST)
        assert _snapshot(sv) == before
        return
    # accepted: only when the protected parts are untouched
    assert bytes(bad.payload) == bytes(good.payload)
    assert bad.opt(coap_msg.OSCORE) == good.opt(coap_msg.OSCORE)


@FUZZ
@given(st.data())
def test_fuzz_unprotect_response_state(data):
    cl = oscore.SecurityContext(b"secret", b"\x01", b"\x02")
    sv = oscore.SecurityContext(b"secret", b"\x02", b"\x01")
    req, cb = oscore.protect_request(cl, coap_msg.Message(coap_msg.CON, 1, 1, b"t", None).set_path("a"))
    _, sb = oscore.unprotect_request([sv], req)
    resp = oscore.protect_response(sb, coap_msg.response(coap_msg.CONTENT, data.draw(st.binary(max_size=50))),
                                   new_piv=data.draw(st.booleans()))
    bad = _mutate(data.draw, resp)
    before = (cb.nonce_used, cb.done, cb.notification_number)
    try:
        oscore.unprotect_response(cb, bad)
    except oscore.ProtectionInvalid:
        assert (cb.nonce_used, cb.done, cb.notification_number) == before
        return
    assert bytes(bad.payload) == bytes(resp.payload) and bad.opt(coap_msg.OSCORE) == resp.opt(coap_msg.OSCORE)


# ---------------------------------------------------------------- power cuts

DEV = {"master_secret": "00112233445566778899aabbccddeeff", "master_salt": "", "device_id": "d0",
       "peer_id": "c1", "replay_window": 32}
HOST = dict(DEV, device_id="c1", peer_id="d0")  # the same context seen from the client


class _NonceLog:
    def __init__(self, monkeypatch):
        self.seen = set()
        self.count = 0
        real = oscore.hgcrypto.aes_ccm_encrypt

        def spy(key, nonce, pt, aad=b"", tag_len=8):
            k = (bytes(key._key), bytes(nonce))
            assert k not in self.seen, "AEAD nonce reused"
            self.seen.add(k)
            self.count += 1
            return real(key, nonce, pt, aad, tag_len)

        monkeypatch.setattr(oscore.hgcrypto, "aes_ccm_encrypt", spy)


def _session(sst, cst, steps, log):
    """Client/server exchanges over the core API; a PowerCut on either side
    reboots that side from its durable storage. Returns the reboot count."""
    server = oscore.load(sst, "dev")
    client = oscore.load(cst, "host")
    observation = None
    reboots = 0
    step = 0
    while step < steps:
        step += 1
        try:
            if step % 7 == 3 and observation is None:
                msg = coap_msg.Message(coap_msg.CON, coap_msg.GET, step, b"o").set_path("obs")
                msg.add(coap_msg.OBSERVE, 0)
            else:
                msg = coap_msg.Message(coap_msg.CON, coap_msg.POST, step, b"r", None, b"x" * (step % 9))
            echo = None
            for _attempt in range(2):
                if echo is not None:
                    msg.set(coap_msg.ECHO, echo)
                req, cb = oscore.protect_request(client, msg)
                plain, sb = oscore.unprotect_request([server], req)
                if sb.echo_needed:
                    resp = oscore.protect_response(sb, oscore.echo_challenge(sb))
                    got = oscore.unprotect_response(cb, resp)
                    echo = got.opt(coap_msg.ECHO)
                    continue
                r = coap_msg.response(coap_msg.CHANGED)
                if plain.opt(coap_msg.OBSERVE) is not None:
                    r.add(coap_msg.OBSERVE, 1)
                    observation = (sb, cb)
                oscore.unprotect_response(cb, oscore.protect_response(sb, r))
                break
            if observation is not None:
                for i in range(step % 3):
                    n = coap_msg.response(coap_msg.CONTENT, b"n")
                    n.add(coap_msg.OBSERVE, step + i)
                    oscore.unprotect_response(observation[1], oscore.protect_response(observation[0], n))
        except PowerCut:
            reboots += 1
            if sst.cut_at is not None and sst.writes >= sst.cut_at:
                sst = sst.reboot()
                server = oscore.load(sst, "dev")
                observation = None  # the server forgot its observers
            else:
                cst = cst.reboot()
                client = oscore.load(cst, "host")
                observation = None  # B.1.3: the client re-registers
    return reboots


@pytest.mark.parametrize("side", ["server", "client"])
def test_power_cut_at_every_write_session(monkeypatch, side):
    log = _NonceLog(monkeypatch)
    s0 = MemoryStorage()
    c0 = MemoryStorage()
    oscore.provision(s0, "dev", DEV)
    oscore.provision(c0, "host", HOST)
    # count the writes of an uninterrupted session first
    sst = MemoryStorage(data=s0.durable)
    cst = MemoryStorage(data=c0.durable)
    assert _session(sst, cst, 60, log) == 0
    total = sst.writes if side == "server" else cst.writes
    assert total >= 3
    for k in range(1, total + 1):
        log.seen.clear()
        sst = MemoryStorage(cut_at=k if side == "server" else None, data=s0.durable)
        cst = MemoryStorage(cut_at=k if side == "client" else None, data=c0.durable)
        assert _session(sst, cst, 60, log) == 1, k
    assert log.count > 100
