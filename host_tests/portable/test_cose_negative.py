# Malformed COSE structures must raise COSEError (never anything else, never
# succeed). Built by hand around the cose-wg HMAC-01 Mac0 and AES-CCM-ENC-01
# Encrypt0 examples. Portable: pytest + MicroPython.
from hgtest import h, raises

import cose

KEY = h("849b57219dae48de646d07dbb533566e976686457c1491be3a76dcea6c427188")
P = "54546869732069732074686520636f6e74656e742e"  # bstr "This is the content."
T = "5820a1a848d3471f9d61ee49018d244c824772f223ad4f935293f1789fc3a08d8c58"
GOOD_MAC0 = "d18443a10105a0" + P + T
ENC_KEY = h("849b57219dae48de646d07dbb533566e")
IV = "4d89f52f65a1c580933b5261a72f"
CT = "581c6899da0a132bd2d2b9b10915743ee1f7b92a4680e7c51bdbc1b320ea"
GOOD_ENC0 = "d08343a1010aa105" + IV + CT

M, E, S = cose.TAG_MAC0, cose.TAG_ENCRYPT0, cose.TAG_SIGN1

# (name, message hex, COSE type given to decode)
MALFORMED = (
    ("empty input", "", M),
    ("array of 3", "d18343a10105a0" + P, M),
    ("array of 5", "d18443a10105a0" + P + T + "f6", M),
    ("array of 5 (header)", "d18543a10105a0" + P + T + "f6", M),
    ("not an array", "d1a0", M),
    ("protected is a map", "d184a10105a0" + P + T, M),
    ("protected is an int", "d18401a0" + P + T, M),
    ("protected is nil", "d184f6a0" + P + T, M),
    ("protected bstr holds an int", "d1844101a0" + P + T, M),
    ("protected bstr holds an array", "d1844180a0" + P + T, M),
    ("protected bstr truncated", "d18442a101a0" + P + T, M),
    ("protected bstr trailing byte", "d18444a1010500a0" + P + T, M),
    ("unprotected is an array", "d18443a1010580" + P + T, M),
    ("unprotected is nil", "d18443a10105f6" + P + T, M),
    ("label in both buckets", "d18443a10105a10105" + P + T, M),
    ("duplicate label in unprotected", "d18440a201050105" + P + T, M),
    ("duplicate label in protected", "d18445a201050105a0" + P + T, M),
    ("unknown critical label", "d1844aa3010502811863186300a0" + P + T, M),
    ("crit label not in protected", "d18447a2010502811863a0" + P + T, M),
    ("crit empty", "d18445a201050280a0" + P + T, M),
    ("crit not an array", "d18446a20105021863a0" + P + T, M),
    ("crit holds a bstr", "d18446a20105028140a0" + P + T, M),
    ("crit in unprotected", "d18443a10105a1028101" + P + T, M),
    ("alg is a bstr", "d18444a1014105a0" + P + T, M),
    ("alg is nil", "d18443a101f6a0" + P + T, M),
    ("kid is a tstr", "d18443a10105a1046178" + P + T, M),
    ("label is a bstr", "d18443a10105a1410101" + P + T, M),
    ("label is a float", "d18443a10105a1f93e0001" + P + T, M),
    ("content type negative", "d18443a10105a10320" + P + T, M),
    ("payload is a tstr", "d18443a10105a06474657374" + T, M),
    ("payload is an int", "d18443a10105a001" + T, M),
    ("tag is nil", "d18443a10105a0" + P + "f6", M),
    ("tag is an int", "d18443a10105a0" + P + "00", M),
    ("trailing byte after message", GOOD_MAC0 + "00", M),
    ("Sign1 tag given as Mac0", "d2" + GOOD_MAC0[2:], M),
    ("Encrypt0 tag given as Mac0", "d0" + GOOD_MAC0[2:], M),
    ("tag 992", "d903e0" + GOOD_MAC0[2:], M),
    ("CWT tag without cwt", "d83d" + GOOD_MAC0, M),
    ("nested COSE tag", "d1" + GOOD_MAC0, M),
    ("untagged, no type given", GOOD_MAC0[2:], None),
    ("Mac0 read as Encrypt0", GOOD_MAC0, E),
    ("IV and Partial IV", "d08343a1010aa205" + IV + "064261a7" + CT, E),
    ("IV is an int", "d08343a1010aa10501" + CT, E),
    ("Partial IV is a tstr", "d08343a1010aa1066161" + CT, E),
    ("Encrypt0 array of 4", "d08443a1010aa105" + IV + CT + "40", E),
    ("Encrypt0 detached ciphertext", "d08343a1010aa105" + IV + "f6", E),
    ("Encrypt0 ciphertext tstr", "d08343a1010aa105" + IV + "6161", E),
    ("invalid CBOR (reserved ai)", "d1841c", M),
    ("invalid CBOR (break)", "ff", M),
)


def test_malformed_table_decode():
    bad = []
    for name, hexs, t in MALFORMED:
        try:
            cose.decode(h(hexs), t)
            bad.append(name + ": accepted")
        except cose.COSEError:
            pass
        except Exception as e:
            bad.append(name + ": " + type(e).__name__)
    assert not bad, bad


def test_malformed_table_verify():
    bad = []
    for name, hexs, t in MALFORMED:
        if t is None:
            continue  # the verify functions always name their type
        try:
            if t == E:
                cose.encrypt0_decrypt(ENC_KEY, h(hexs))
            elif t == S:
                cose.sign1_verify(b"", h(hexs))
            else:
                cose.mac0_verify(KEY, h(hexs))
            bad.append(name + ": accepted")
        except cose.COSEError:
            pass
        except Exception as e:
            bad.append(name + ": " + type(e).__name__)
    assert not bad, bad


def test_good_messages_decode():
    # the table's base messages are valid: the failures above are the mutations
    assert cose.mac0_verify(KEY, h(GOOD_MAC0)).payload == b"This is the content."
    assert cose.encrypt0_decrypt(ENC_KEY, h(GOOD_ENC0)).payload == b"This is the content."
    # an encoded empty map (h'a0') is accepted as an empty protected bucket
    m = cose.decode(h("d18441a0a10105" + P + T), M)
    assert m.protected == {} and m.protected_bytes == b""
    # known labels listed in crit are fine
    m = cose.decode(h("d18446a20105028101a0" + P + T), M)
    assert m.protected[cose.H_CRIT] == [1]
    # an unknown critical label is fine when the caller says it processes it
    data = h("d1844aa3010502811863186300a0" + P + T)
    m = cose.decode(data, M, understood=(99,))
    assert m.protected[99] == 0


def test_every_truncation_is_a_cose_error():
    for good, t in ((GOOD_MAC0, M), (GOOD_ENC0, E)):
        data = h(good)
        for n in range(len(data)):
            try:
                cose.decode(data[:n], t)
            except cose.COSEError:
                continue
            raise AssertionError("truncated to %d accepted" % n)


def test_bad_argument_types():
    raises(cose.COSEError, cose.decode, "d18443", M)
    raises(cose.COSEError, cose.decode, None, M)
    # same shape as a Sign1, but alg 5 is no signature algorithm
    raises(cose.COSEError, cose.sign1_verify, b"", h(GOOD_MAC0[2:]))
    raises(cose.COSEError, cose.mac0_verify, "key", h(GOOD_MAC0))
    raises(cose.COSEError, cose.mac0_verify, None, h(GOOD_MAC0))
    raises(cose.COSEError, cose.mac0_create, KEY, "text payload")
    raises(cose.COSEError, cose.mac0_create, KEY, b"p", alg=cose.ALG_AES_CCM_16_64_128)
    raises(cose.COSEError, cose.mac0_create, KEY, b"p", alg=999)
    raises(cose.COSEError, cose.mac0_create, KEY, b"p", alg="HS256")
    raises(cose.COSEError, cose.mac0_create, KEY, b"p", protected={1: 5})  # alg mismatch
    raises(cose.COSEError, cose.mac0_create, KEY, b"p", protected={4: b"k"}, unprotected={4: b"k"})
    raises(cose.COSEError, cose.mac0_create, KEY, b"p", unprotected={2: [1]})
    raises(cose.COSEError, cose.mac0_create, KEY, b"p", protected={2: [7]})
    raises(cose.COSEError, cose.mac0_create, KEY, b"p", protected=[1, 2])
    raises(cose.COSEError, cose.encrypt0_create, ENC_KEY, b"p")  # no IV
    raises(cose.COSEError, cose.encrypt0_create, ENC_KEY, b"p", iv=bytes(12))
    raises(cose.COSEError, cose.encrypt0_create, bytes(32), b"p", iv=bytes(13))
    raises(cose.COSEError, cose.encrypt0_create, ENC_KEY, b"p", iv=bytes(13), unprotected={5: bytes(13), 6: b"\x01"})
