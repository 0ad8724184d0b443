metadata(version="0.1.0", description="EAT (RFC 9711): attestation claims, HSS-LMS / HMAC-signed CWT tokens, verification, the CoAP /attest resource.")

# eat.py is the sans-I/O core (needs cbor, cose and hgcrypto; lms and
# hgstore-style storage for HSS-LMS signing); eat_resource.py the /attest
# handler for lib/coap's Server (needs coap). firmware/manifest.py
# require()s the packages from "hourglass".
module("eat.py", opt=1)
module("eat_resource.py", opt=1)
