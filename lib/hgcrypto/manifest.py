metadata(version="0.1.0", description="hourglass crypto seam: SHA-256, HMAC, HKDF, AES (cryptolib ECB), CTR, CCM, key wrap.")
module("hgcrypto.py", opt=1)
