metadata(version="0.1.0", description="SUIT (draft-ietf-suit-manifest-37): envelope decoding and authentication.")

# Needs the cbor, hgcrypto and cose packages at run time (lms for HSS-LMS
# signatures on the device).
module("suit_envelope.py", opt=1)
# Encrypted payloads (A256KW + A256CTR): needs cbor and hgcrypto.
module("suit_crypt.py", opt=1)
