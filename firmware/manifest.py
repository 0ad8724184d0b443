# The device packages every board freezes. Board manifests include this file
# after their port's own manifest (asyncio etc.). Each lib/<pkg>/manifest.py
# carries its own metadata(), so packages are pulled in with require().
add_library("hourglass", "../lib")
for _pkg in ("hgcrypto", "cbor", "cose", "hgstore", "lms", "coap", "oscore", "suit", "eat"):
    require(_pkg, library="hourglass")
# The device application (firmware/hg_device.py)
# and the factory app it falls back to.
module("hg_device.py", opt=1)
module("default_app.py", opt=1)
# The board entry point (main.py on ESP32/nRF calls hg_main.main()).
module("hg_main.py", opt=1)
