metadata(version="0.1.0", description="OSCORE (RFC 8613): security context, protect/unprotect, replay window, persisted sequence numbers, CoAP server/client layers.")

# oscore.py is the sans-I/O core (needs hgcrypto and coap's coap_msg);
# oscore_server.py / oscore_client.py the layers on lib/coap's Server and
# Client. firmware/manifest.py require()s the packages from "hourglass".
module("oscore.py", opt=1)
module("oscore_server.py", opt=1)
module("oscore_client.py", opt=1)
