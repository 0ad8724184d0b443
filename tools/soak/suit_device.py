# The device side of the SUIT power-cut soak (tools/soak/soak.py): a unix-port
# MicroPython process (CPython works too) that boots like the device does
# and, given an envelope, installs it. The harness SIGKILLs it at random
# instants and restarts it.
#
#   micropython tools/soak/suit_device.py STATE_DIR TRUST_PUB [ENVELOPE]
#
# Every run: SlotPlatform on FileStorage(STATE_DIR/suit), Boot.select()
# (trial boot / rollback), then prints
#   BOOT <status> <slot> <sha256 hex of the booted image or -> <stored seq>
# With ENVELOPE: authenticate (HSS-LMS, TRUST_PUB = raw HSS public key),
# process the update (integrated payload, or one fetched over CoAP with a
# "FETCH <bytes>" line per 32 KiB, streamed into the staging slot),
# print "INSTALLED <seq>" or "REJECTED <code> <message>". Without: confirm
# the running trial, print "CONFIRMED". Lines are flushed as printed so the
# harness sees how far a killed run got.
import sys

try:
    import suit_envelope  # noqa: F401  (frozen into build/unix/micropython)
except ImportError:
    _here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
    for _p in ("cbor", "coap", "cose", "hgcrypto", "hgstore", "lms", "suit"):
        sys.path.append(_here + "/../../lib/" + _p)

import binascii

import hgstore
import lms
import suit_envelope as se
import suit_processor
from suit_boot import Boot
from suit_fetch import CoapFetcher
from suit_slots import SlotPlatform

COMPONENTS = [([b"\x00"], "app", 1 << 20)]
# vendor "arm.com", class "suit" (docs/suit-spec.md: UUID5 derivation)
IDENTITY = {
    "vendor_id": binascii.unhexlify("fa6b4a53d5ad5fdfbe9de663e4d41ffe"),
    "class_id": binascii.unhexlify("1492af1425695e48bf429b2d51f2ab45"),
}


def say(*words):
    print(" ".join(str(w) for w in words))
    try:
        sys.stdout.flush()
    except AttributeError:
        pass


_next_report = [0]


def _progress(done, total):
    # one line per 32 KiB, so the harness sees a kill land mid-transfer
    if done >= _next_report[0]:
        say("FETCH", done)
        _next_report[0] = done + 32768


def main(argv):
    if len(argv) not in (2, 3):
        say("usage: suit_device.py STATE_DIR TRUST_PUB [ENVELOPE]")
        return 2
    with open(argv[1], "rb") as f:
        pub = f.read()
    pf = SlotPlatform(hgstore.FileStorage(argv[0] + "/suit"), COMPONENTS, IDENTITY,
                      fetcher=CoapFetcher(timeout_ms=20000, progress=_progress))
    boot = Boot(pf)
    try:
        sel = boot.select()
    except se.SuitError as e:
        say("SAFE-MODE", e.code, e)
        return 1
    app = sel[0] if isinstance(sel, list) else sel
    digest = "-"
    for i in pf.installed():
        if i["name"] == "app" and i["digest"] is not None:
            digest = binascii.hexlify(i["digest"]).decode()
    say("BOOT", app.get("status"), app.get("slot"), digest, pf.stored_sequence())
    if len(argv) == 2:
        boot.confirm()
        say("CONFIRMED")
        return 0
    with open(argv[2], "rb") as f:
        data = f.read()
    lms.register_cose()
    try:
        env = se.authenticate(data, [se.sign1_verifier(pub, -46)])
        suit_processor.process_update(env, pf)
    except se.SuitError as e:
        say("REJECTED", e.code, e)
        return 1
    say("INSTALLED", env.sequence_number)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
