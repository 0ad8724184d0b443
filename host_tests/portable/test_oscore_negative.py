# Bad input to OSCORE verification: each case gets the right error (and the
# CoAP code a server answers with) and leaves every piece of state as it was.
import coap_msg
import hgcrypto
import oscore
from hgtest import raises

MS = b"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"
SALT = b"\x9e\x7c\xa9\x22\x23\x78\x63\x40"
IDC = b"\x37\xcb\xf3\x21\x00\x17\xa2\xd3"

DEC = (oscore.DecodeError, coap_msg.BAD_OPTION)
NOCTX = (oscore.ContextNotFound, coap_msg.UNAUTHORIZED)
REPLAY = (oscore.ReplayError, coap_msg.UNAUTHORIZED)
CRYPT = (oscore.DecryptError, coap_msg.BAD_REQUEST)


def _pair(idc=None):
    cl = oscore.SecurityContext(MS, b"\x0c", b"\x05", SALT, idc, ssn=7)
    sv = oscore.SecurityContext(MS, b"\x05", b"\x0c", SALT, idc)
    return cl, sv


def _req(mid=1, observe=None, payload=b"", path="x"):
    m = coap_msg.Message(coap_msg.CON, coap_msg.GET if not payload else coap_msg.POST, mid,
                         b"\xaa\xbb", None, payload).set_path(path)
    if observe is not None:
        m.add(coap_msg.OBSERVE, observe)
    return m


def _state(ctx):
    w = ctx.window
    return (w.top, bytes(w._ring), w.initialized, ctx.ssn, ctx.echo, ctx.failed)


def _bstate(b):
    return (b.nonce_used, b.done, b.notification_number, b.echo_needed)


def _copy(msg, opts=None, payload=None, code=None):
    m = coap_msg.Message(msg.mtype, msg.code if code is None else code, msg.mid, msg.token,
                         list(msg.opts) if opts is None else opts,
                         msg.payload if payload is None else payload)
    return m


def _with_option(msg, value):
    opts = [(n, v) for n, v in msg.opts if n != coap_msg.OSCORE]
    opts.append((coap_msg.OSCORE, value))
    opts.sort(key=lambda o: o[0])
    return _copy(msg, opts)


def _flip(b, i):
    b = bytearray(b)
    b[i] ^= 0x01
    return bytes(b)


def _expect_request(contexts, msg, err, ctx):
    before = _state(ctx)
    e = raises(err[0], oscore.unprotect_request, contexts, msg)
    assert e.code == err[1], (str(e), e.code)
    assert _state(ctx) == before
    return e


def test_request_negative_table():
    cl, sv = _pair()
    good, _ = oscore.protect_request(cl, _req(payload=b"hello world"))
    ov = good.opt(coap_msg.OSCORE)  # 09 07 0c: PIV 7, kid 0c
    ct = bytes(good.payload)
    cases = (
        ("ciphertext byte", _copy(good, payload=_flip(ct, 0)), CRYPT),
        ("tag byte", _copy(good, payload=_flip(ct, len(ct) - 1)), CRYPT),
        ("truncated tag", _copy(good, payload=ct[:-1]), CRYPT),
        ("only a tag", _copy(good, payload=ct[-8:]), CRYPT),
        ("payload shorter than a tag", _copy(good, payload=ct[:5]), CRYPT),
        ("other partial iv", _with_option(good, b"\x09\x08\x0c"), CRYPT),
        ("unknown kid", _with_option(good, b"\x09\x07\x0d"), NOCTX),
        ("empty kid", _with_option(good, b"\x09\x07"), NOCTX),
        ("kid context not provisioned", _with_option(good, b"\x19\x07\x02\xca\xfe\x0c"), NOCTX),
        ("partial iv too long (6)", _with_option(good, b"\x0e\x00\x00\x00\x00\x00\x07\x0c"), DEC),
        ("partial iv length 7", _with_option(good, b"\x0f" + b"\x01" * 7 + b"\x0c"), DEC),
        ("reserved flag bit 5", _with_option(good, b"\x29\x07\x0c"), DEC),
        ("extension flag bit 7", _with_option(good, b"\x89\x07\x0c"), DEC),
        ("lone zero flag byte", _with_option(good, b"\x00"), DEC),
        ("truncated partial iv", _with_option(good, b"\x0b\x07"), DEC),
        ("truncated kid context", _with_option(good, b"\x19\x07\x05\x01\x02"), DEC),
        ("missing kid context length", _with_option(good, b"\x11\x07"), DEC),
        ("trailing bytes without kid flag", _with_option(good, b"\x01\x07\x0c"), DEC),
        ("non-minimal partial iv", _with_option(good, b"\x0a\x00\x07\x0c"), DEC),
        ("no partial iv in a request", _with_option(good, b"\x08\x0c"), DEC),
        ("no kid in a request", _with_option(good, b"\x01\x07"), DEC),
        ("empty option in a request", _with_option(good, b""), DEC),
        ("no payload", _copy(good, payload=b""), DEC),
        ("no oscore option", _copy(good, opts=[(11, b"x")]), DEC),
    )
    for name, msg, err in cases:
        try:
            _expect_request([sv], msg, err, sv)
        except AssertionError as e:
            raise AssertionError(name + ": " + str(e))
    # and the genuine message still verifies afterwards, once
    plain, _ = oscore.unprotect_request([sv], good)
    assert bytes(plain.payload) == b"hello world"
    _expect_request([sv], good, REPLAY, sv)


def test_wrong_id_context():
    cl, _ = _pair(IDC)
    _, sv = _pair(b"\x01\x02")
    _, sv0 = _pair()
    req, _ = oscore.protect_request(cl, _req(), kid_context=True)
    _expect_request([sv], req, NOCTX, sv)
    _expect_request([sv0], req, NOCTX, sv0)
    # without 'kid context' the kid finds the context, whose ID Context is
    # part of the keys: the tag fails
    req2, _ = oscore.protect_request(cl, _req(mid=2))
    _expect_request([sv], req2, CRYPT, sv)


def test_replay_and_window():
    cl, sv = _pair()
    msgs = [oscore.protect_request(cl, _req(mid=i))[0] for i in range(40)]
    order = [3, 0, 2, 1, 39, 20, 10, 8]
    for i in order:
        oscore.unprotect_request([sv], msgs[i])
    for i in order:
        _expect_request([sv], msgs[i], REPLAY, sv)
    # 0..7 (Partial IVs 7..14) are now more than 32 behind Partial IV 46
    for i in (4, 5, 6, 7):
        _expect_request([sv], msgs[i], REPLAY, sv)
    for i in (9, 11, 38):
        oscore.unprotect_request([sv], msgs[i])


def _plaintext_attack(cl, sv, pt):
    # a correctly encrypted request whose plaintext is malformed
    seq, piv = cl.next_piv()
    nonce = cl.sender_nonce(seq)
    ct = hgcrypto.aes_ccm_encrypt(cl.sender_key, nonce, pt, cl.aad(cl.sender_id, piv), 8)
    opts = [(coap_msg.OSCORE, oscore.encode_option(piv, cl.sender_id))]
    return coap_msg.Message(coap_msg.CON, coap_msg.POST, 9, b"\x01", opts, ct)


def test_malformed_plaintext():
    cl, sv = _pair()
    for pt in (b"", b"\x01\xff", b"\x01\xf0", b"\x01\xbd", b"\x01\x93\x01", b"\x01\x90",
               b"\x00", b"\x45", b"\x01" + b"\x10" * 17):
        _expect_request([sv], _plaintext_attack(cl, sv, pt), DEC, sv)


def test_response_negatives():
    cl, sv = _pair()
    req, cb = oscore.protect_request(cl, _req())
    _, sb = oscore.unprotect_request([sv], req)
    resp = oscore.protect_response(sb, coap_msg.response(coap_msg.CONTENT, b"data"))
    ct = bytes(resp.payload)
    cases = (
        (_copy(resp, payload=_flip(ct, 1)), oscore.DecryptError),
        (_copy(resp, payload=_flip(ct, len(ct) - 1)), oscore.DecryptError),
        (_with_option(resp, b"\x01\x00"), oscore.DecryptError),
        (_with_option(resp, b"\x08\x0d"), oscore.DecodeError),
        (_with_option(resp, b"\x10\x02\xca\xfe"), oscore.DecodeError),
        (_with_option(resp, b"\x0e\x01\x02\x03\x04\x05\x06"), oscore.DecodeError),
        (_copy(resp, payload=b""), oscore.DecodeError),
        (_copy(resp, opts=[]), oscore.DecodeError),
    )
    for msg, err in cases:
        before = _bstate(cb)
        raises(err, oscore.unprotect_response, cb, msg)
        assert _bstate(cb) == before
    plain = oscore.unprotect_response(cb, resp)
    assert plain.code == coap_msg.CONTENT and bytes(plain.payload) == b"data"
    # a second response to the same request is a replay
    raises(oscore.ReplayError, oscore.unprotect_response, cb, resp)
    # Observe in a response to a non-Observe request
    req2, cb2 = oscore.protect_request(cl, _req(mid=2))
    _, sb2 = oscore.unprotect_request([sv], req2)
    r2 = coap_msg.response(coap_msg.CONTENT, b"n")
    r2.add(coap_msg.OBSERVE, 5)
    raises(oscore.DecodeError, oscore.unprotect_response, cb2, oscore.protect_response(sb2, r2))
    assert not cb2.done


def test_notification_replay_and_order():
    cl, sv = _pair()
    req, cb = oscore.protect_request(cl, _req(observe=0))
    assert req.code == coap_msg.FETCH and req.opt(coap_msg.OBSERVE) == b""
    plain, sb = oscore.unprotect_request([sv], req)
    assert plain.code == coap_msg.GET and plain.opt(coap_msg.OBSERVE) == b"" and sb.observe
    notes = []
    for i in range(4):
        r = coap_msg.response(coap_msg.CONTENT, ("v%d" % i).encode())
        r.add(coap_msg.OBSERVE, 100 + i)
        n = oscore.protect_response(sb, r)
        assert n.code == coap_msg.CONTENT
        piv = oscore.decode_option(n.opt(coap_msg.OSCORE))[0]
        # Outer Observe = the low bytes of the Partial IV
        assert coap_msg.uint_decode(n.opt(coap_msg.OBSERVE)) == int.from_bytes(piv, "big")
        notes.append(n)
    got = oscore.unprotect_response(cb, notes[1])
    assert bytes(got.payload) == b"v1" and not cb.done
    assert got.opt_uint(coap_msg.OBSERVE) == int.from_bytes(oscore.decode_option(notes[1].opt(coap_msg.OSCORE))[0], "big")
    for old in (notes[0], notes[1]):
        before = _bstate(cb)
        raises(oscore.ReplayError, oscore.unprotect_response, cb, old)
        assert _bstate(cb) == before
    assert bytes(oscore.unprotect_response(cb, notes[3]).payload) == b"v3"
    raises(oscore.ReplayError, oscore.unprotect_response, cb, notes[2])


def test_protect_refuses():
    cl, _ = _pair()
    m = _req()
    m.add(coap_msg.OSCORE, b"")
    raises(oscore.OSCOREError, oscore.protect_request, cl, m)
    m = _req()
    m.add(coap_msg.PROXY_URI, "coap://h/x")
    raises(oscore.OSCOREError, oscore.protect_request, cl, m)
    ssn = cl.ssn
    assert ssn == 7
    raises(oscore.OSCOREError, oscore.SecurityContext, MS, b"\x01", b"\x01")
    raises(oscore.OSCOREError, oscore.SecurityContext, b"", b"\x01", b"\x02")
    raises(oscore.OSCOREError, oscore.SecurityContext, MS, b"\x01", b"\x02", alg=3)
    raises(oscore.OSCOREError, oscore.SecurityContext, MS, b"\x01\x02", b"\x02", alg=12)


def test_sequence_exhausted():
    cl = oscore.SecurityContext(MS, b"\x0c", b"\x05", SALT, ssn=oscore.MAX_SSN)
    oscore.protect_request(cl, _req())
    raises(oscore.SequenceExhausted, oscore.protect_request, cl, _req())
