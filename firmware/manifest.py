# The device packages every board freezes. Board manifests include this file
# after their port's own manifest (asyncio etc.).
for _pkg in ("hgcrypto", "cbor", "cose"):
    include("../lib/%s/manifest.py" % _pkg)
