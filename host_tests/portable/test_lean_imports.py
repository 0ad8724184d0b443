# What the device modules do to keep their import cost off a 64 KiB heap
# (issue #9) must not change what callers see:
#   - public constants served by a module __getattr__ from a literal table
#     (coap_msg, coap_ep, coap_server, cose, eat, lms_py, suit_envelope,
#     suit_processor, suit_slots): attribute access, `from X import NAME`,
#     AttributeError for a name that does not exist;
#   - lms re-exports lms_py's API by __getattr__, not by copies;
#   - hgstore.FileStorage / hgstore.CountingStorage import their modules on
#     first use; eat.CLAIM_NAMES is built on first use;
#   - coap_ep encodes each datagram into a buffer of exactly its size (no
#     MTU-sized buffer per endpoint): same bytes, same MTU rules.
import sys

import coap_msg as m
import cose
import eat
import hgstore
import lms
import lms_py
import suit_envelope as se
from coap_ep import Endpoint
from hgtest import raises


def test_public_constants_by_attribute():
    assert (m.CON, m.ACK, m.GET, m.POST, m.IPATCH) == (0, 2, 1, 2, 7)
    assert (m.CREATED, m.CONTENT, m.NOT_FOUND, m.GATEWAY_TIMEOUT) == (0x41, 0x45, 0x84, 0xA4)
    assert (m.URI_PATH, m.OSCORE, m.ECHO, m.REQUEST_TAG, m.CF_CBOR) == (11, 9, 252, 292, 60)
    assert (cose.ALG_HSS_LMS, cose.TAG_SIGN1, cose.H_KID, cose.KTY_SYMMETRIC) == (-46, 18, 4, 4)
    assert (eat.ALG_HSS_LMS, eat.TAG_CWT, eat.C_NONCE, eat.C_UEID) == (-46, 61, 10, 256)
    assert (eat.EAT_ERR_AUTH, eat.EAT_ERR_POLICY, eat.NONCE_MIN, eat.NONCE_MAX) == (-3, -9, 8, 64)
    assert (se.SUIT_ERR_AUTHENTICATION, se.ALG_SHA256, se.MAX_COMPONENTS) == (-6, -16, 16)
    assert (lms_py.LMS_SHA256_M32_H5, lms_py.LMOTS_SHA256_N32_W8, lms_py.OK) == (5, 4, 0)


def test_public_constants_by_from_import():
    from coap_ep import ACK_TIMEOUT, EXCHANGE_LIFETIME, MAX_TRANSMIT_WAIT
    from coap_msg import CF_LINK_FORMAT, CREATED, MAX_TOKEN, VALID
    from coap_server import M_DELETE, M_GET, M_IPATCH
    from suit_processor import DIR_FETCH, P_URI
    from suit_slots import E_INFO, PHASE_UPDATE

    assert (CREATED, VALID, CF_LINK_FORMAT, MAX_TOKEN) == (0x41, 0x43, 40, 8)
    assert (ACK_TIMEOUT, EXCHANGE_LIFETIME, MAX_TRANSMIT_WAIT) == (2000, 247000, 93000)
    assert M_GET == 2 and M_DELETE != M_GET and M_IPATCH not in (M_GET, M_DELETE)
    assert (DIR_FETCH, P_URI) == (21, 21)
    assert E_INFO == 5 and isinstance(PHASE_UPDATE, int)


def test_unknown_names_still_raise():
    for mod in (m, cose, eat, se, lms_py, hgstore):
        raises(AttributeError, getattr, mod, "NO_SUCH_NAME")
    try:
        from coap_msg import NO_SUCH_NAME  # noqa: F401

        raise AssertionError("imported a name that does not exist")
    except ImportError:
        pass
    except AttributeError:
        # MicroPython lets the module __getattr__'s AttributeError through
        # `from ... import` where CPython turns it into ImportError
        assert sys.implementation.name == "micropython"


def test_lms_reexports_lms_py():
    # one table, one set of classes: the names are lms_py's own objects
    assert lms.LMS_PARAMS is lms_py.LMS_PARAMS and lms.OTS_PARAMS is lms_py.OTS_PARAMS
    assert lms.LMSError is lms_py.LMSError and lms.explain is lms_py.explain
    assert lms.LMS_SHA256_M32_H5 == lms_py.LMS_SHA256_M32_H5 == 5
    assert (lms.OK, lms.ERR_INVALID, lms.ERR_MALFORMED) == (0, -1, -2)
    from lms import I_LEN, LMOTS_SHA256_N32_W4

    assert (I_LEN, LMOTS_SHA256_N32_W4) == (16, 3)
    assert lms.verify(b"", b"msg", b"") is False  # malformed: False, never raises


def test_storages_load_on_first_use():
    fs = hgstore.FileStorage
    assert fs.__name__ == "FileStorage" and hgstore.FileStorage is fs
    cs = hgstore.CountingStorage()
    cs.write("a", b"xyz")
    assert bytes(cs.read("a")) == b"xyz" and (cs.writes, cs.write_bytes, cs.reads) == (1, 3, 1)
    assert isinstance(cs.inner, hgstore.MemoryStorage)
    from hgstore import CountingStorage

    assert CountingStorage is type(cs)


def test_claim_names_built_on_use():
    names = eat.CLAIM_NAMES
    assert names[eat.C_NONCE] == "eat_nonce" and names[eat.C_UEID] == "ueid"
    assert names[7] == "cti" and names[275] == "intuse" and len(names) == 28
    assert eat.CLAIM_NAMES is names  # made once


class _OneAnswer:
    # the server side of an Endpoint: answers every request with `resp`
    def __init__(self, resp):
        self.resp = resp

    def attach(self, ep):
        pass

    def handle_request(self, msg, now):
        return self.resp


def _get(mid, token):
    req = m.Message(m.CON, m.GET, mid, token)
    req.set_path("x")
    return req.encode()


def test_endpoint_reply_is_exact():
    resp = m.response(m.CONTENT, b"hello", m.CF_CBOR)
    ep = Endpoint(server=_OneAnswer(resp), mtu=64)
    out = ep.receive(_get(7, b"\x01\x02"), "p", 0)
    assert len(out) == 1
    data = bytes(out[0][0])
    want = m.Message(m.ACK, m.CONTENT, 7, b"\x01\x02", None, b"hello")
    want.add(m.CONTENT_FORMAT, m.CF_CBOR)
    assert data == want.encode()
    r = m.decode(data)
    assert (r.mtype, r.mid, r.token, bytes(r.payload)) == (m.ACK, 7, b"\x01\x02", b"hello")
    # the handler's Message is not changed by answering with it
    assert resp.mid == 0 and resp.token == b""


def test_endpoint_reply_over_mtu_is_500():
    big = m.response(m.CONTENT, b"x" * 80)
    ep = Endpoint(server=_OneAnswer(big), mtu=64)
    out = ep.receive(_get(9, b"\x05"), "p", 0)
    r = m.decode(bytes(out[0][0]))
    assert (r.mtype, r.code, r.mid, r.token) == (m.ACK, m.INTERNAL_SERVER_ERROR, 9, b"\x05")
    assert not r.payload
    # exactly at the MTU still goes out as it is
    # header 4 + token 1 + payload marker 1 + 58 = 64
    fit = m.response(m.CONTENT, b"y" * 58)
    ep = Endpoint(server=_OneAnswer(fit), mtu=64)
    out = ep.receive(_get(10, b"\x05"), "p", 0)
    assert len(out[0][0]) == 64 and m.decode(bytes(out[0][0])).code == m.CONTENT


def test_endpoint_send_over_mtu_raises():
    ep = Endpoint(mtu=32)
    raises(m.CoAPLimitError, ep.send_non, m.Message(m.NON, m.POST, 0, b"", None, b"z" * 40), "p")
    assert ep.drain() == ()
    mid = ep.send_non(m.Message(m.NON, m.POST, 0, b"", None, b"z" * 20), "p")
    out = ep.drain()
    assert len(out) == 1 and len(out[0][0]) == 4 + 1 + 20
    r = m.decode(bytes(out[0][0]))
    assert (r.mtype, r.mid, bytes(r.payload)) == (m.NON, mid, b"z" * 20)
