metadata(version="0.1.0", description="COSE (RFC 9052/9053): Sign1, Mac0, Encrypt0, COSE_Key; HMAC, AES-CCM, HSS-LMS hook, A256KW, A256CTR.")

# Needs the cbor (lib/cbor) and hgcrypto (lib/hgcrypto) modules at runtime.
# They are not require()d here (require() looks in micropython-lib); boards
# include lib/cbor/manifest.py and lib/hgcrypto/manifest.py themselves.
module("cose.py", opt=1)
