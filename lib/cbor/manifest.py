metadata(version="0.1.0", description="CBOR (RFC 8949) codec: deterministic encoder, bounded strict/non-strict decoder.")

module("cbor.py", opt=1)
