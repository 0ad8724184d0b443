# Replays host_tests/vectors/cbor/fuzz_corpus.json (written by
# `python host_tests/test_cbor_props.py --write-corpus`): every input must
# decode or raise CBORDecodeError, in every mode, and whatever decodes must
# re-encode to a canonical fixed point.
from cbor import CBORDecodeError, decode_from, dumps, loads
from hgtest import h, vectors

_MODES = ({}, {"strict": True}, {"zero_copy": True}, {"max_depth": 3, "max_items": 8})


def test_fuzz_corpus_replay():
    doc = vectors("cbor/fuzz_corpus.json")
    assert doc["_source"]
    inputs = doc["inputs"]
    assert len(inputs) >= 50
    ok = bad = 0
    for hexs in inputs:
        data = h(hexs)
        for kw in _MODES:
            try:
                v = loads(data, **kw)
            except CBORDecodeError:
                bad += 1
                continue
            ok += 1
            enc = dumps(v)
            assert dumps(loads(enc)) == enc, hexs
        try:
            decode_from(data, 0)
        except CBORDecodeError:
            pass
    assert ok and bad
