"""suit_fetch.CoapFetcher's request sizing (CPython, pytest): its Endpoint
encodes into a buffer fitted to the URI instead of a 1280-byte MTU, so a
URI whose request cannot fit 1280 bytes is a clear SUIT_ERR_FETCH (it used
to escape as a CoAPLimitError), and every URI that fits is still sent."""
import time

import pytest

from procs import free_udp_port

import suit_envelope as se
from suit_fetch import CoapFetcher


class _Count:
    size = 0

    def write(self, buf):
        self.size += len(buf)


def _fail(uri, timeout_ms=300):
    with pytest.raises(se.SuitError) as e:
        CoapFetcher(timeout_ms=timeout_ms).fetch(uri, _Count())
    assert e.value.code == se.SUIT_ERR_FETCH
    return str(e.value)


def test_uri_too_long_for_one_request():
    port = free_udp_port()
    t0 = time.monotonic()
    assert _fail("coap://127.0.0.1:%d/%s" % (port, "/".join(["s" * 250] * 6))) == "uri too long"
    assert _fail("coap://127.0.0.1:%d/fw?%s" % (port, "&".join(["q" * 40] * 40))) == "uri too long"
    assert time.monotonic() - t0 < 1.0  # refused before anything is sent


@pytest.mark.parametrize("segs", [
    ["s" * 200] * 5,  # 1000 bytes of path in 5 options with extended lengths
    ["a"] * 190,  # many one-byte segments: option headers dominate
    ["%C3%A9" * 100] * 2,  # percent-encoded UTF-8: counted as encoded bytes
])
def test_long_uris_that_fit_are_sent(segs):
    # nothing listens: the request is built and sent, then times out
    port = free_udp_port()
    assert _fail("coap://127.0.0.1:%d/%s" % (port, "/".join(segs))) == "timeout"
