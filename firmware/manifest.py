# The device packages every board freezes. Board manifests include this file
# after their port's own manifest (asyncio etc.). Each lib/<pkg>/manifest.py
# carries its own metadata(), so packages are pulled in with require().
add_library("hourglass", "../lib")
for _pkg in ("hgcrypto", "cbor", "cose", "hgstore", "lms", "coap", "oscore", "suit", "eat"):
    require(_pkg, library="hourglass")
