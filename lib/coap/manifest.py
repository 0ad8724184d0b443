metadata(
    version="0.1.0",
    description="CoAP (RFC 7252, 7959 block-wise, 7641 Observe, 6690 link format, 9175 Echo/"
    "Request-Tag): sans-I/O endpoint, server and client cores, asyncio UDP transport.",
)

# The sans-I/O core: every board.
module("coap_msg.py", opt=1)
module("coap_link.py", opt=1)
module("coap_ep.py", opt=1)
module("coap_server.py", opt=1)
module("coap_client.py", opt=1)
# The UDP transport needs socket + asyncio (unix, ESP32); importing it
# elsewhere fails, freezing it does not.
module("coap_udp.py", opt=1)
# SLIP framing and the serial link (boards without IP: nRF52840, the qemu
# image), and the small demo server that `hourglass bridge --qemu` boots.
module("coap_slip.py", opt=1)
module("coap_serial.py", opt=1)
module("coap_serial_demo.py", opt=1)
