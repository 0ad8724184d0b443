"""The `hourglass` command. Each subcommand lives in its own module and is
registered in COMMANDS; protocol issues add theirs there."""
import argparse
import sys

from . import __version__, use_device_lib
from . import cbor_cmd, coap_cmd, lms_cmd
from . import bridge_cmd
from . import oscore_cmd
from . import suit_cmd
from . import attest_cmd, eat_cmd
from . import device_cmd

# name -> (module with add_arguments(parser) and run(args) -> exit code, one-line help)
COMMANDS = {
    "cbor": (cbor_cmd, "decode CBOR to diagnostic notation or JSON"),
    "bridge": (bridge_cmd, "relay CoAP/UDP to a device speaking CoAP over SLIP on a serial line or qemu"),
    "lms": (lms_cmd, "HSS/LMS hash-based signatures: keygen, sign, verify, inspect"),
    "coap": (coap_cmd, "CoAP: decode datagrams; get/put/post/delete/fetch/observe over UDP"),
    "suit": (suit_cmd, "SUIT envelopes: create (sign/MAC, encrypt), inspect, verify"),
    "oscore": (oscore_cmd, "OSCORE contexts: new-context, to-aiocoap (client/server credentials), device-record"),
    "eat": (eat_cmd, "Entity Attestation Tokens (RFC 9711): verify (key, nonce, policy, LMS leaf log), inspect"),
    "attest": (attest_cmd, "ask a device for an attestation token over OSCORE and verify it"),
    "device": (device_cmd, "devices: provision, status, update (SUIT), attest, run the virtual device, flash/deploy boards"),
}

EPILOG = """Exit codes: 0 success, 1 failure (invalid input or a failed check, reason on
stderr), 2 usage error. See README.md."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="hourglass",
        description="Host tools for hourglass: secure CoAP/OSCORE/SUIT/EAT on MicroPython boards.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version="hourglass " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv=None):
    use_device_lib()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    module = COMMANDS[args.command][0]
    try:
        return module.run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
