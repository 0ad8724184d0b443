"""Input helpers shared by the hourglass subcommands."""
import binascii
import sys


def read_input(spec):
    """Bytes from a hex string, @FILE or - (stdin); ValueError with a reason otherwise."""
    if spec == "-":
        return sys.stdin.buffer.read()
    if spec.startswith("@"):
        with open(spec[1:], "rb") as f:
            return f.read()
    try:
        return binascii.unhexlify("".join(spec.split()))
    except (binascii.Error, ValueError):
        raise ValueError("input is neither hex nor @FILE")
