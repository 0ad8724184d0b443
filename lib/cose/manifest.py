metadata(version="0.1.0", description="COSE (RFC 9052/9053): Sign1, Mac0, Encrypt0, COSE_Key; HMAC, AES-CCM, HSS-LMS hook, A256KW, A256CTR.")

# Needs the cbor and hgcrypto packages at run time; firmware/manifest.py
# require()s all of lib/ from the "hourglass" library it registers.
module("cose.py", opt=1)
