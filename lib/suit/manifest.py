metadata(version="0.2.0", description="SUIT (draft-ietf-suit-manifest-37): envelopes, command processor, A/B slots, trial boot, encrypted payloads, reports.")

# Needs the cbor, hgcrypto and cose packages at run time (lms for HSS-LMS
# signatures on the device).
module("suit_envelope.py", opt=1)
# The contract between the processor and the device.
module("suit_platform.py", opt=1)
# Encrypted payloads (A256KW + A256CTR): needs cbor and hgcrypto.
module("suit_crypt.py", opt=1)
# The device side of SUIT on hgstore: A/B slots, anti-rollback sequence and
# trial-boot state (needs hgstore, cbor, hgcrypto and suit_platform).
module("suit_slots.py", opt=1)
module("suit_boot.py", opt=1)
# Payload fetch over CoAP block-wise (needs the coap package).
module("suit_fetch.py", opt=1)
# ESP32 firmware into the OTA partitions (esp32.Partition); only useful on
# ESP32 boards, imports esp32 only when constructed.
module("suit_esp32.py", opt=1)
# Command-sequence processor and SUIT_Report (suit_crypt only for encrypted payloads).
module("suit_processor.py", opt=1)
module("suit_report.py", opt=1)
