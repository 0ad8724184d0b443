# Malformed CoAP datagrams shared by the flood tests (test_coap_flood.py
# against the demo server, test_device_flood.py against the device).


def malformed_coap(rng, good, k, mid):
    """Kind k of malformed datagram made from `good` (an encoded CON
    request): 0 random bytes, 1 a truncated header, 2 a wrong version,
    3 token length 9-15, 4 option delta nibble 15, 5 an option running past
    the end, 6 a payload marker without payload, anything else an empty
    message with a reserved code class and Message ID `mid`. The callers
    add their own kinds 7 and 8 (an unknown critical option, too many
    options), which need their resource's path."""
    if k == 0:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 60)))
    if k == 1:
        return good[: rng.randint(0, 3)]  # truncated header
    if k == 2:
        return bytes([(good[0] & 0x3F) | (rng.choice((0, 2, 3)) << 6)]) + good[1:]  # version
    if k == 3:
        return bytes([(good[0] & 0xF0) | rng.randint(9, 15)]) + good[1:]  # TKL 9-15
    if k == 4:  # option delta nibble 15 (not the payload marker)
        return good[:6] + bytes([0xF1, 0x00]) + good[6:]
    if k == 5:  # option length running past the end
        return good[:6] + bytes([0xBD, 0x40]) + b"ab"
    if k == 6:  # payload marker with no payload
        return good + b"\xff"
    return bytes([0x40, rng.choice((0x20, 0x3F, 0xC1, 0xE0)), mid >> 8 & 255, mid & 255])
