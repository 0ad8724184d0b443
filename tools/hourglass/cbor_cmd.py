"""`hourglass cbor decode`: show CBOR (hex, a file, or stdin) as RFC 8949
diagnostic notation or JSON, using the device's own decoder."""
import json
import math
import sys

from .inputs import read_input


def add_arguments(parser):
    sub = parser.add_subparsers(dest="cbor_command", metavar="ACTION", required=True)
    dec = sub.add_parser("decode", help="decode one CBOR item",
                         description="Decode one CBOR item and print it.")
    dec.add_argument("input", help="hex string, @FILE for a binary file, or - for binary stdin")
    dec.add_argument("--json", action="store_true", help="print JSON (bytes as hex strings)")
    dec.add_argument("--strict", action="store_true",
                     help="reject indefinite lengths and non-preferred encodings")


def diag(value):
    import cbor

    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if value is cbor.UNDEFINED:
        return "undefined"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "h'" + bytes(value).hex() + "'"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(diag(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(diag(k) + ": " + diag(v) for k, v in value.items()) + "}"
    if isinstance(value, cbor.Tag):
        return "%d(%s)" % (value.tag, diag(value.value))
    if isinstance(value, cbor.Simple):
        return "simple(%d)" % value.value
    return repr(value)


def to_json(value):
    import cbor

    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(to_json(k)) if not isinstance(k, str) else k: to_json(v) for k, v in value.items()}
    if isinstance(value, cbor.Tag):
        return {"tag": value.tag, "value": to_json(value.value)}
    if isinstance(value, cbor.Simple):
        return {"simple": value.value}
    if value is cbor.UNDEFINED:
        return None
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    return value


def run(args):
    import cbor

    try:
        data = read_input(args.input)
        value = cbor.loads(data, strict=args.strict)
    except (ValueError, OSError) as e:
        print("hourglass cbor: " + str(e), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(to_json(value), indent=2))
    else:
        print(diag(value))
    return 0
