metadata(version="0.1.0", description="LMS/HSS hash-based signatures (RFC 8554, RFC 9858 SHA-256/192): verify, stateful signer, COSE HSS-LMS (RFC 9708).")

# lms.py is the facade (C module _lms when present, else lms_py); lms_py.py
# the pure-Python backend and the parameter table; lms_state.py the signer
# with persisted leaf reservations. Needs hgcrypto and cbor at run time (cose
# only for lms.register_cose / the COSE_Key helpers); firmware/manifest.py
# require()s them from the "hourglass" library it registers.
module("lms.py", opt=1)
module("lms_py.py", opt=1)
module("lms_state.py", opt=1)
