# The device side of the attestation power-cut soak (tools/soak/soak.py
# attest): a unix-port MicroPython process (CPython works too) that signs
# EAT tokens with its HSS-LMS key, kept in a FileStorage state folder the
# way the board keeps it in flash. The harness SIGKILLs it at random
# instants and restarts it.
#
#   micropython tools/soak/attest_device.py provision STATE_DIR LEVELS CHUNK
#   micropython tools/soak/attest_device.py run STATE_DIR
#
# provision: eat.provision() (mode "lms", LEVELS levels of LMS H5 / LM-OTS
# W4: small trees, so building the next lower tree takes a moment, not a
# second; CHUNK bottom leaves reserved per state write), prints
#   PROVISIONED <public COSE_Key hex>
# run: eat.load_identity, eat.load_signer, eat.Attester, prints
#   READY <signatures remaining>
# then reads nonces (hex, one a line) from stdin, as a verifier would send
# them, and answers each with
#   TOKEN <nonce hex> <token hex>
# At the end of stdin: a clean shutdown (signer.close(), which gives the
# unused reserved leaves back) and "DONE". A key that runs out prints
# "EXHAUSTED"; a nonce eat refuses prints "BAD-NONCE <code>". Lines are
# flushed as printed: a killed run shows every token that left the device,
# and at most its last line is torn.
import sys

try:
    import eat  # noqa: F401  (frozen into build/unix/micropython)
except ImportError:
    _here = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
    for _p in ("cbor", "cose", "hgcrypto", "hgstore", "lms", "eat"):
        sys.path.append(_here + "/../../lib/" + _p)

import binascii

import eat
import hgstore
import lms
import lms_state


def say(*words):
    print(" ".join(str(w) for w in words))
    try:
        sys.stdout.flush()
    except AttributeError:
        pass


def _hex(b):
    return binascii.hexlify(bytes(b)).decode()


def _storage(state):
    try:
        import os

        os.mkdir(state)
    except OSError:
        pass
    return hgstore.FileStorage(state + "/eat")


def provision(state, levels, chunk):
    params = [(lms.LMS_SHA256_M32_H5, lms.LMOTS_SHA256_N32_W4)] * levels
    ident = eat.provision(_storage(state), mode="lms", lms_params=params, chunk=chunk)
    say("PROVISIONED", _hex(ident["cose_key"]))
    return 0


def run(state):
    st = _storage(state)
    ident = eat.load_identity(st)
    signer = eat.load_signer(st, ident)
    att = eat.Attester(ident, signer, swname="hourglass-soak")
    say("READY", signer.remaining())
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        try:
            nonce = binascii.unhexlify(line)
            token = att.attest(nonce)
        except lms_state.KeyExhausted:
            say("EXHAUSTED")
            return 1
        except eat.EATError as e:
            say("BAD-NONCE", e.code)
            continue
        except lms.LMSError:
            raise  # a failed signer: the harness sees the traceback
        except ValueError:
            say("BAD-NONCE", "hex")
            continue
        say("TOKEN", line, _hex(token))
    signer.close()
    say("DONE")
    return 0


def main(argv):
    if len(argv) == 4 and argv[0] == "provision":
        return provision(argv[1], int(argv[2]), int(argv[3]))
    if len(argv) == 2 and argv[0] == "run":
        return run(argv[1])
    say("usage: attest_device.py provision STATE_DIR LEVELS CHUNK | run STATE_DIR")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
