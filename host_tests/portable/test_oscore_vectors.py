# RFC 8613 Appendix C: every key derivation (C.1-C.3, both roles) and every
# protection case (C.4-C.8), protected and verified, on every runtime.
import cbor
import coap_msg
import oscore
from hgtest import h, hx, vectors

_DER = "oscore/rfc8613_c1_c3_derivation.json"
_PROT = "oscore/rfc8613_c4_c8_protection.json"


def _opt(v):
    return None if v is None else h(v)


def _ctx(inp, ssn=0):
    return oscore.SecurityContext(
        h(inp["master_secret"]), h(inp["sender_id"]), h(inp["recipient_id"]),
        master_salt=_opt(inp["master_salt"]) or b"", id_context=_opt(inp["id_context"]),
        alg=inp["aead_alg"], ssn=ssn)


def _derivations():
    return vectors(_DER)["key_derivation"]


def _by_id(ident):
    for v in _derivations():
        if v["id"] == ident:
            return v
    raise KeyError(ident)


def test_derivation_info_encoding():
    for v in _derivations():
        inp = v["inputs"]
        mi = v["intermediate"]
        idc = _opt(inp["id_context"])
        alg = inp["aead_alg"]
        assert hx(cbor.dumps([h(inp["sender_id"]), idc, alg, "Key", 16])) == mi["info_sender_key"], v["id"]
        assert hx(cbor.dumps([h(inp["recipient_id"]), idc, alg, "Key", 16])) == mi["info_recipient_key"], v["id"]
        assert hx(cbor.dumps([b"", idc, alg, "IV", 13])) == mi["info_common_iv"], v["id"]


def test_derivation_keys_iv_nonces():
    n = 0
    for v in _derivations():
        ctx = _ctx(v["inputs"])
        out = v["outputs"]
        assert hx(ctx.sender_key) == out["sender_key"], v["id"]
        assert hx(ctx.recipient_key) == out["recipient_key"], v["id"]
        assert hx(ctx.common_iv) == out["common_iv"], v["id"]
        assert hx(ctx.sender_nonce(0)) == out["sender_nonce_piv0"], v["id"]
        assert hx(ctx.recipient_nonce(0)) == out["recipient_nonce_piv0"], v["id"]
        n += 1
    assert n == 6


def _case(ident):
    for v in vectors(_PROT)["message_protection"]:
        if v["id"] == ident:
            return v
    raise KeyError(ident)


_REQ = (("C.4", "C.1.1", "C.1.2"), ("C.5", "C.2.1", "C.2.2"), ("C.6", "C.3.1", "C.3.2"))


def _request_case(cid, client_id, server_id):
    v = _case(cid)
    client = _ctx(_by_id(client_id)["inputs"], ssn=v["sender_context"]["sender_sequence_number"])
    server = _ctx(_by_id(server_id)["inputs"])
    plain = coap_msg.decode(h(v["unprotected_coap_message"]))
    cose = v["cose"]
    assert hx(client.aad(client.sender_id, h(cose["partial_iv"]))) == cose["aad"]
    assert hx(client.sender_nonce(20)) == cose["nonce"]
    outer, b = oscore.protect_request(client, plain, kid_context=cose["kid_context"] is not None)
    assert hx(outer.opt(coap_msg.OSCORE)) == v["oscore_option_value"], cid
    assert hx(outer.payload) == v["ciphertext"], cid
    assert hx(outer.encode()) == v["protected_coap_message"], cid
    assert client.ssn == 21
    # server side: verify it back to the unprotected message
    got, sb = oscore.unprotect_request([server], coap_msg.decode(h(v["protected_coap_message"])))
    assert not sb.echo_needed
    assert hx(got.encode()) == v["unprotected_coap_message"], cid
    assert sb.piv == b.piv and sb.kid == b.kid and sb.nonce == b.nonce
    return client, server, b, sb


def test_c4_c5_c6_requests():
    for cid, c, s in _REQ:
        _request_case(cid, c, s)


def test_c7_response_request_nonce():
    v = _case("C.7")
    client, server, b, sb = _request_case("C.4", "C.1.1", "C.1.2")
    resp = coap_msg.decode(h(v["unprotected_coap_message"]))
    outer = oscore.protect_response(sb, resp)
    assert hx(outer.encode()) == v["protected_coap_message"]
    assert server.ssn == 0  # request nonce reused: no sequence number spent
    got = oscore.unprotect_response(b, coap_msg.decode(h(v["protected_coap_message"])))
    assert hx(got.encode()) == v["unprotected_coap_message"]


def test_c8_response_with_partial_iv():
    v = _case("C.8")
    client, server, b, sb = _request_case("C.4", "C.1.1", "C.1.2")
    resp = coap_msg.decode(h(v["unprotected_coap_message"]))
    outer = oscore.protect_response(sb, resp, new_piv=True)
    assert hx(outer.opt(coap_msg.OSCORE)) == v["oscore_option_value"]
    assert hx(outer.encode()) == v["protected_coap_message"]
    assert server.ssn == 1
    got = oscore.unprotect_response(b, coap_msg.decode(h(v["protected_coap_message"])))
    assert hx(got.encode()) == v["unprotected_coap_message"]
