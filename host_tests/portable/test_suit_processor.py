# SUIT command-sequence processor (lib/suit/suit_processor.py) on the RAM
# FakePlatform: the draft-37 examples 0-5, end-to-end updates with real
# bytes, a RIOT-style negative table, A/B selection, reports, encrypted
# payloads. Portable: CPython, MicroPython unix port, qemu image.
import gc
import sys

import cbor
import hgcrypto

import suit_envelope as se
import suit_processor as sp
import suit_report as sr
from hgtest import h, raises, read_binary, skip
from suittest import FakePlatform, accept, envelope, fill_digest, image_digest, load, manifest, seq

VENDOR = h("fa6b4a53d5ad5fdfbe9de663e4d41ffe")  # draft examples: UUID5(DNS, "arm.com")
CLASS = h("1492af1425695e48bf429b2d51f2ab45")
D0 = h("00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210")
D1 = h("0123456789abcdeffedcba987654321000112233445566778899aabbccddeeff")
S0 = 34768
S1 = 76834
C0 = [b"\x00"]
C1 = [b"\x01"]
C2 = [b"\x02"]

# our own device and images
DEV = h("11111111222233334444555555555555")
OTHER = h("99999999888877776666555555555555")
OLD = b"old firmware " * 8
IMG = bytes(range(256)) * 3
URI = "coap://[::1]/fw/app.bin"


def _example(i):
    gc.collect()
    return se.authenticate(read_binary("suit/example%d_signed.suit" % i), [accept])


def _ex_platform(seq_no=-1):
    return FakePlatform(VENDOR, CLASS, seq=seq_no)


def _roundtrip(report):
    return sr.decode(report.encode())


# ------------------------------------------------------------ draft examples


def test_example0_boot_and_update():
    env = _example(0)
    f = _ex_platform()
    f.add(C0).preset(C0, D0, S0)
    r = sr.Report(env)
    sp.process_boot(env, f, r)
    assert f.invoked == [(C0, None)]
    assert _roundtrip(r)["result"] is True
    # an update of a manifest without payload sections only raises the sequence
    sp.process_update(env, f)
    assert f.commits == [(0, [])] and f.stored == 0
    e = raises(se.SuitError, sp.process_update, env, f)
    assert e.code == se.SUIT_ERR_SEQUENCE_NUMBER and f.aborts == 1
    # the image is not the one the manifest names
    f2 = _ex_platform()
    f2.add(C0).preset(C0, D1, S0)
    e = raises(se.SuitError, sp.process_boot, env, f2)
    assert e.code == se.SUIT_ERR_DIGEST_MISMATCH and f2.invoked == []


def test_example1_fetch_and_install():
    env = _example(1)
    f = _ex_platform(0)
    f.add(C0, keep=False).preset(C0, D0, S0)
    f.fetches["http://example.com/file.bin"] = (0x5A, S0)
    r = sr.Report(env)
    sp.process_update(env, f, r)
    assert f.fetched == ["http://example.com/file.bin"]
    assert f.commits == [(1, [C0])] and f.aborts == 0
    assert f.pending(C0) == 1 and f.active_slot(C0) == 0
    assert f.writers[0].size == S0 and f.writers[0].sha == fill_digest(0x5A, S0)
    assert _roundtrip(r)["result"] is True
    sp.process_boot(env, f)  # validate only: no invoke section
    assert f.invoked == []


def test_example1_wrong_identity():
    env = _example(1)
    for vendor, cls in ((DEV, CLASS), (VENDOR, DEV), (None, CLASS)):
        f = FakePlatform(vendor, cls)
        f.add(C0, keep=False).preset(C0, D0, S0)
        f.fetches["http://example.com/file.bin"] = (0x5A, S0)
        r = sr.Report(env)
        e = raises(se.SuitError, sp.process_update, env, f, r)
        assert e.code == se.SUIT_ERR_COND
        assert f.fetched == [] and f.commits == [] and f.aborts == 1
        res = _roundtrip(r)["result"]
        assert res["code"] == se.SUIT_ERR_COND and res["reason"] == sr.REASON_CONDITION_FAILED
        assert res["record"][1] == 3  # in the shared sequence


def test_example2_severable():
    env = _example(2)
    assert env.reference_uri == "https://git.io/JJYoj"
    f = _ex_platform(1)
    f.add(C0, keep=False).preset(C0, D0, S0)
    f.fetches["http://example.com/very/long/path/to/file/file.bin"] = (0x5A, S0)
    r = sr.Report(env)
    sp.process_update(env, f, r)
    assert f.commits == [(2, [C0])]
    dec = _roundtrip(r)
    assert dec["uri"] == "https://git.io/JJYoj" and dec["digest"] == [-16, bytes(env.digest[1])]
    sp.process_boot(env, f)
    assert f.invoked == [(C0, None)]
    # severed: the install sequence is gone, so no update; boot still works
    gc.collect()
    env = se.authenticate(read_binary("suit/example2_signed_severed.suit"), [accept])
    f = _ex_platform(1)
    f.add(C0).preset(C0, D0, S0)
    r = sr.Report(env)
    e = raises(se.SuitError, sp.process_update, env, f, r)
    assert e.code == se.SUIT_ERR_INVALID_MANIFEST and f.commits == [] and f.aborts == 1
    res = _roundtrip(r)["result"]
    assert res["reason"] == sr.REASON_SEVERING_UNSUPPORTED and res["record"][1] == se.M_INSTALL
    sp.process_boot(env, f)
    assert f.invoked == [(C0, None)]


def test_example3_ab_running_a():
    # running from slot A (0): the update targets slot B, so the slot-1 build
    env = _example(3)
    f = _ex_platform(2)
    f.add(C0, active=0, keep=False).preset(C0, D1, S1)
    f.fetches["http://example.com/file2.bin"] = (0x22, S1)
    sp.process_update(env, f)
    assert f.fetched == ["http://example.com/file2.bin"]
    assert f.commits == [(3, [C0])] and f.pending(C0) == 1
    assert f.writers[0].size == S1
    f.boot_pending()
    sp.process_boot(env, f)  # slot B is active now: the B digest applies


def test_example3_ab_running_b():
    env = _example(3)
    f = _ex_platform(2)
    f.add(C0, active=1, keep=False).preset(C0, D0, S0)
    f.fetches["http://example.com/file1.bin"] = (0x11, S0)
    sp.process_update(env, f)
    assert f.fetched == ["http://example.com/file1.bin"]
    assert f.commits == [(3, [C0])] and f.pending(C0) == 0
    # booting slot B against the slot-A digest fails
    f2 = _ex_platform(2)
    f2.add(C0, active=1, keep=False).preset(C0, D0, S0)
    e = raises(se.SuitError, sp.process_boot, env, f2)
    assert e.code == se.SUIT_ERR_COND and f2.invoked == []


def test_example4_load_from_external_storage():
    env = _example(4)
    # [h'00'] internal flash, [h'02'] download area (bounded by its capacity:
    # payload-fetch sets no image-size), [h'01'] RAM that load copies into
    f = _ex_platform(3)
    f.add(C0, keep=False).add(C2, slots=1, capacity=4096).add(C1, slots=1, ram=True)
    f.preset(C0, D0, S0)
    f.preset(C2, D0, 300)
    f.fetches["http://example.com/file.bin"] = b"\xa5" * 300
    sp.process_update(env, f)
    assert f.fetched == ["http://example.com/file.bin"]
    assert f.commits == [(4, [C2, C0])]
    assert f.writers[1].size == 300  # install copied the download area
    # boot: validate [h'00'], load it into RAM, invoke from RAM
    g = _ex_platform(4)
    g.add(C0).add(C2, slots=1).add(C1, slots=1, ram=True)
    g.set_image(C0, b"\x5a" * 200)
    g.preset(C0, D0, S0)
    g.preset(C1, D1, S1)
    sp.process_boot(env, g)
    assert g.image(C1) == b"\x5a" * 200
    assert g.invoked == [(C1, None)]
    # the download area without a capacity: the fetch is unbounded, refused
    f = _ex_platform(3)
    f.add(C0, keep=False).add(C2, slots=1).add(C1, slots=1, ram=True)
    f.fetches["http://example.com/file.bin"] = b"\xa5" * 300
    e = raises(se.SuitError, sp.process_update, env, f)
    assert e.code == se.SUIT_ERR_POLICY_FORBIDDEN and f.fetched == [] and f.commits == []


def test_example5_two_images():
    env = _example(5)
    f = _ex_platform(4)
    f.add(C0, keep=False).add(C1, keep=False)
    f.preset(C0, D0, S0)
    f.preset(C1, D1, S1)
    f.fetches["http://example.com/file1.bin"] = (0x01, S0)
    f.fetches["http://example.com/file2.bin"] = (0x02, S1)
    sp.process_update(env, f)
    assert f.fetched == ["http://example.com/file1.bin", "http://example.com/file2.bin"]
    assert f.commits == [(5, [C0, C1])]
    sp.process_boot(env, f)
    assert f.invoked == [(C0, None)]
    # a device without the second component refuses the manifest
    g = _ex_platform(4)
    g.add(C0)
    r = sr.Report(env)
    e = raises(se.SuitError, sp.process_update, env, g, r)
    assert e.code == se.SUIT_ERR_UNSUPPORTED and g.aborts == 1
    res = _roundtrip(r)["result"]
    assert res["reason"] == sr.REASON_COMPONENT_UNSUPPORTED and res["record"][3] == 1


# ------------------------------------------------------------ our manifests


def _shared(extra=None):
    p = {1: VENDOR, 2: CLASS, 3: image_digest(IMG), 14: len(IMG)}
    if extra:
        for k in extra:
            p[k] = extra[k]
    return [20, p, 1, 15, 2, 15]


def _install(uri=URI):
    return [20, {21: uri}, 21, 2, 3, 15]


def _env(install=None, validate=None, seq_no=6, shared=None, comps=None, extra=None, payloads=None,
         boot=None):
    # install/validate: a list of items, or the sequence bytes themselves
    sections = {}
    if install is not None:
        sections[20] = install if isinstance(install, bytes) else seq(*install)
    if isinstance(validate, bytes):
        sections[7] = validate
    else:
        sections[7] = seq(*(validate if validate is not None else [3, 15]))
    if boot is not None:
        sections[9] = seq(*boot)
    if extra:
        for k in extra:
            sections[k] = extra[k]
    sh = _shared() if shared is None else shared
    m = manifest(seq_no, comps or [C0], seq(*sh) if sh else None, sections)
    return load(envelope(m, payloads))


def _device():
    f = FakePlatform(VENDOR, CLASS, DEV, seq=5)
    f.add(C0)
    f.set_image(C0, OLD)
    f.fetches[URI] = IMG
    return f


def test_update_then_boot_real_bytes():
    env = _env(_install(), boot=[20, {23: b"--verbose"}, 23, 0])
    f = _device()
    r = sr.Report(env, nonce=b"n0")
    sp.process_update(env, f, r)
    assert f.commits == [(6, [C0])] and f.stored == 6
    assert f.image(C0) == OLD and f.image(C0, 1) == IMG
    dec = _roundtrip(r)
    assert dec["result"] is True and dec["nonce"] == b"n0"
    f.boot_pending()
    sp.process_boot(env, f)
    assert f.invoked == [(C0, b"--verbose")]
    # replaying the same manifest is refused before any command runs
    e = raises(se.SuitError, sp.process_update, env, f)
    assert e.code == se.SUIT_ERR_SEQUENCE_NUMBER and f.fetched == [URI]
    # booting an older manifest (its image may still sit in a slot) is a rollback
    old_env = _env(None, seq_no=5, boot=[23, 0])
    r = sr.Report(old_env)
    e = raises(se.SuitError, sp.process_boot, old_env, f, r)
    assert e.code == se.SUIT_ERR_SEQUENCE_NUMBER and len(f.invoked) == 1
    assert r.result[1][1] == 2  # reported against manifest-sequence-number


def test_check_update_refuses_what_process_update_refuses_first():
    # the lean device's check before it stages an envelope (no platform)
    env = _env(_install(), seq_no=6)
    sp.check_update(env, 5)
    sp.check_update(env, -1, False, sr.Report(env))
    for stored in (6, 7):
        r = sr.Report(env)
        e = raises(se.SuitError, sp.check_update, env, stored, False, r)
        assert e.code == se.SUIT_ERR_SEQUENCE_NUMBER
        dec = _roundtrip(r)
        assert dec["result"]["code"] == se.SUIT_ERR_SEQUENCE_NUMBER and dec["result"]["record"][1] == 2
        # process_update reports the same refusal the same way
        f = _device()
        f.stored = stored
        r2 = sr.Report(env)
        raises(se.SuitError, sp.process_update, env, f, r2)
        assert _roundtrip(r2)["result"] == dec["result"] and f.commits == []
    r = sr.Report(env)
    e = raises(se.SuitError, sp.check_update, env, 5, True, r)
    assert e.code == se.SUIT_ERR_POLICY_FORBIDDEN and _roundtrip(r)["result"]["code"] == e.code


def test_integrated_payload_and_write():
    env = _env(_install("#app"), payloads={"#app": IMG})
    f = _device()
    sp.process_update(env, f)
    assert f.fetched == [] and f.image(C0, 1) == IMG
    # write: content from the manifest, bounded by its length
    cfg = b"mode=fast\n"
    sh = [20, {1: VENDOR, 2: CLASS, 3: image_digest(cfg)}, 1, 15, 2, 15]
    env = _env([20, {18: cfg}, 18, 0], validate=[3, 15, 6, 0], shared=sh)
    f = _device()
    sp.process_update(env, f)
    assert f.image(C0, 1) == cfg and f.commits == [(6, [C0])]
    # an integrated payload the envelope lacks
    env = _env(_install("#gone"))
    f = _device()
    e = raises(se.SuitError, sp.process_update, env, f)
    assert e.code == se.SUIT_ERR_FETCH and f.commits == []


def test_copy_and_component_index_forms():
    # download into [h'02'], copy into [h'00'] and [h'01'] via index arrays/true
    sh = [12, True, 20, {1: VENDOR, 2: CLASS, 3: image_digest(IMG), 14: len(IMG)}, 1, 15, 2, 15]
    install = [12, 2, 20, {21: URI}, 21, 2, 12, [0, 1], 20, {22: 2}, 22, 2, 12, True, 3, 15]
    env = _env(install, validate=[12, True, 3, 15], shared=sh, comps=[C0, C1, C2])
    f = _device()
    f.add(C1).add(C2)
    sp.process_update(env, f)
    assert f.commits == [(6, [C2, C0, C1])]
    for c in (C0, C1, C2):
        assert f.image(c, 1) == IMG
    # a source component that holds nothing
    install = [12, 1, 20, {22: 2}, 22, 2]
    env = _env(install, validate=[12, 0, 3, 0], shared=sh, comps=[C0, C1, C2])
    f = _device()
    f.add(C1).add(C2)
    e = raises(se.SuitError, sp.process_update, env, f)
    assert e.code == se.SUIT_ERR_ABORT and f.commits == []


def test_index_true_runs_try_each_per_component():
    # each component gets its own pass through try-each, with its own index
    sh = [12, True, 20, {1: VENDOR, 2: CLASS, 3: image_digest(IMG), 14: len(IMG)}, 1, 15, 2, 15]
    install = [12, True, 15, [seq(14, 0), seq(20, {21: URI})], 21, 2, 3, 15]
    env = _env(install, validate=[12, [1, 0], 3, 15], shared=sh, comps=[C0, C1])
    f = _device()
    f.add(C1)
    sp.process_update(env, f)
    assert f.fetched == [URI, URI] and f.commits == [(6, [C0, C1])]
    assert f.image(C1, 1) == IMG


def test_set_parameters_does_not_override():
    # set-parameters leaves the shared uri; override-parameters replaces it
    sh = _shared({21: URI})
    env = _env([19, {21: "coap://evil/x"}, 21, 2, 3, 15], shared=sh)
    f = _device()
    f.fetches["coap://evil/x"] = IMG
    sp.process_update(env, f)
    assert f.fetched == [URI]
    env = _env([20, {21: "coap://other/x"}, 21, 2, 3, 15], shared=sh)
    f = _device()
    f.fetches["coap://other/x"] = IMG
    sp.process_update(env, f)
    assert f.fetched == ["coap://other/x"]


def test_try_each_and_run_sequence():
    alt_fail = seq(14, 0)
    alt_ok = seq(20, {21: URI})
    # first alternative fails softly, second sets the uri
    env = _env([15, [alt_fail, alt_ok], 21, 2, 3, 15])
    f = _device()
    sp.process_update(env, f)
    assert f.fetched == [URI]
    # nil at the end: succeed when none did
    env = _env([15, [alt_fail, alt_fail, None], 20, {21: URI}, 21, 2, 3, 15])
    f = _device()
    sp.process_update(env, f)
    # soft-failure set false inside an alternative makes its failure hard
    env = _env([15, [seq(20, {13: False}, 14, 0), alt_ok], 20, {21: URI}, 21, 2, 3, 15])
    f = _device()
    e = raises(se.SuitError, sp.process_update, env, f)
    assert e.code == se.SUIT_ERR_ABORT and f.commits == []
    # run-sequence: soft failure ends it quietly, otherwise it aborts
    env = _env([32, seq(20, {13: True}, 14, 0, 20, {21: "coap://never"}), 20, {21: URI}, 21, 2, 3, 15])
    f = _device()
    sp.process_update(env, f)
    assert f.fetched == [URI]
    env = _env([32, seq(14, 0), 20, {21: URI}, 21, 2, 3, 15])
    f = _device()
    e = raises(se.SuitError, sp.process_update, env, f)
    assert e.code == se.SUIT_ERR_ABORT and f.fetched == []
    # a failed directive inside try-each is never soft
    f = _device()
    f.fetch_fail.add(URI)
    env = _env([15, [seq(20, {21: URI}, 21, 0), alt_ok], 3, 15])
    e = raises(se.SuitError, sp.process_update, env, f)
    assert e.code == se.SUIT_ERR_FETCH and len(f.fetched) == 1


def test_ab_choice_follows_platform_slot():
    # example 3's pattern with real images: each slot has its own build
    img_a = b"A" * 700
    img_b = b"B" * 900
    sh = [20, {1: VENDOR, 2: CLASS}, 1, 15, 2, 15,
          15, [seq(20, {5: 0}, 5, 5, 20, {3: image_digest(img_a), 14: len(img_a)}),
               seq(20, {5: 1}, 5, 5, 20, {3: image_digest(img_b), 14: len(img_b)})]]
    install = [15, [seq(20, {5: 0}, 5, 5, 20, {21: "coap://fw/a"}),
                    seq(20, {5: 1}, 5, 5, 20, {21: "coap://fw/b"})], 21, 2, 3, 15]
    env = _env(install, shared=sh)
    # the update writes the other slot: the build for that slot is fetched
    for active, uri, img in ((0, "coap://fw/b", img_b), (1, "coap://fw/a", img_a)):
        f = FakePlatform(VENDOR, CLASS, seq=5)
        f.add(C0, active=active)
        f.fetches["coap://fw/a"] = img_a
        f.fetches["coap://fw/b"] = img_b
        sp.process_update(env, f)
        assert f.fetched == [uri]
        assert f.image(C0, 1 - active) == img and f.pending(C0) == 1 - active
    # a component without slots matches no alternative
    f = FakePlatform(VENDOR, CLASS, seq=5)
    f.add(C0, slots=1)
    e = raises(se.SuitError, sp.process_update, env, f)
    assert e.code == se.SUIT_ERR_COND and f.commits == []


def test_device_identifier_and_custom_parameter():
    env = _env(_install(), shared=_shared({24: DEV, -300: 7}) + [24, 15])
    f = _device()
    sp.process_update(env, f)
    assert f.commits == [(6, [C0])]
    f = _device()
    f.device_id = None  # a device without an identity cannot match
    e = raises(se.SuitError, sp.process_update, env, f)
    assert e.code == se.SUIT_ERR_COND


# ------------------------------------------------------------ negative table


def _set(attr, value):
    def fn(f):
        setattr(f, attr, value)

    return fn


def _fetch_as(data):
    def fn(f):
        f.fetches[URI] = data

    return fn


def _fail_fetch(f):
    f.fetch_fail.add(URI)


def _nest(depth):
    s = seq(14, 0)
    for _ in range(depth):
        s = seq(32, s)
    return s


def _bad_img():
    return IMG[:-1] + b"\x00"


def _negative():
    # (name, env kwargs, platform set-up or None, expected code); built on
    # demand so that the 64 KiB board does not hold it between tests
    return (
        ("sequence not newer", {"install": _install(), "seq_no": 5}, None, se.SUIT_ERR_SEQUENCE_NUMBER),
        ("sequence older", {"install": _install(), "seq_no": 0}, None, se.SUIT_ERR_SEQUENCE_NUMBER),
        ("wrong vendor", {"install": _install()}, _set("vendor_id", OTHER), se.SUIT_ERR_COND),
        ("wrong class", {"install": _install()}, _set("class_id", OTHER), se.SUIT_ERR_COND),
        ("wrong device", {"install": _install(), "shared": _shared({24: OTHER}) + [24, 15]},
         None, se.SUIT_ERR_COND),
        ("digest mismatch", {"install": _install()}, _fetch_as(_bad_img()), se.SUIT_ERR_DIGEST_MISMATCH),
        ("size mismatch", {"install": _install(), "validate": [20, {14: len(IMG) + 1}, 3, 15]},
         None, se.SUIT_ERR_COND),
        ("fetch overflow", {"install": _install()}, _fetch_as(IMG + b"x"), se.SUIT_ERR_NO_MEM),
        ("truncated payload", {"install": _install()}, _fetch_as(IMG[:-10]), se.SUIT_ERR_FETCH),
        ("unknown command", {"install": [99, 15]}, None, se.SUIT_ERR_UNSUPPORTED),
        ("custom command", {"install": [-300, 0]}, None, se.SUIT_ERR_UNSUPPORTED),
        ("unknown parameter", {"install": [20, {99: 1}] + _install()}, None, se.SUIT_ERR_UNSUPPORTED),
        ("fetch-arguments", {"install": [20, {25: b"x"}] + _install()}, None, se.SUIT_ERR_UNSUPPORTED),
        ("dependency-resolution", {"install": _install(), "extra": {15: seq(14, 0)}},
         None, se.SUIT_ERR_UNSUPPORTED),
        ("swap", {"install": [20, {22: 0}, 31, 0]}, None, se.SUIT_ERR_UNSUPPORTED),
        ("index out of range", {"install": [12, 1] + _install()}, None, se.SUIT_ERR_INVALID_MANIFEST),
        ("index false", {"install": [12, False] + _install()}, None, se.SUIT_ERR_INVALID_MANIFEST),
        ("condition-abort", {"install": _install() + [14, 0]}, None, se.SUIT_ERR_ABORT),
        ("try-each exhausted", {"install": [15, [seq(20, {5: 7}, 5, 0), seq(14, 0)]] + _install()},
         None, se.SUIT_ERR_ABORT),
        ("try-each exhausted cond", {"install": [15, [seq(14, 0), seq(20, {5: 7}, 5, 0)]] + _install()},
         None, se.SUIT_ERR_COND),
        ("nesting too deep", {"install": [32, _nest(4)] + _install()}, None, se.SUIT_ERR_NO_MEM),
        # built by hand: encoding long lists costs the 64 KiB board too much heap
        ("too many commands", {"install": b"\x98\x82" + b"\x03\x00" * 65}, None, se.SUIT_ERR_NO_MEM),
        ("check-content mismatch", {"install": _install(), "validate": [20, {18: IMG[:-1] + b"\x01"}, 6, 0]},
         None, se.SUIT_ERR_COND),
        ("check-content short", {"install": _install(), "validate": [20, {18: IMG[:-1]}, 6, 0]},
         None, se.SUIT_ERR_COND),
        ("component-slot mismatch", {"install": [20, {5: 0}, 5, 0] + _install()}, None, se.SUIT_ERR_COND),
        ("nesting at the cap", {"install": [32, _nest(3)] + _install()}, None, se.SUIT_ERR_ABORT),
        ("missing uri", {"install": [21, 2, 3, 15]}, None, se.SUIT_ERR_INVALID_MANIFEST),
        ("fetch failure", {"install": _install()}, _fail_fetch, se.SUIT_ERR_FETCH),
        ("unknown uri", {"install": _install("coap://nowhere/x")}, None, se.SUIT_ERR_FETCH),
        ("no image-size",
         {"install": _install(), "shared": [20, {1: VENDOR, 2: CLASS, 3: image_digest(IMG)}, 1, 15]},
         None, se.SUIT_ERR_POLICY_FORBIDDEN),
        ("soft-failure outside", {"install": [20, {13: True}] + _install()},
         None, se.SUIT_ERR_INVALID_MANIFEST),
        ("invoke in update", {"install": _install() + [23, 0]}, None, se.SUIT_ERR_UNSUPPORTED),
        ("image-digest unset", {"install": _install(), "shared": [20, {1: VENDOR, 14: len(IMG)}, 1, 15]},
         None, se.SUIT_ERR_COND),
        ("bad policy", {"install": _install()[:-1] + [-1]}, None, se.SUIT_ERR_INVALID_MANIFEST),
        ("bad parameter type", {"install": [20, {21: b"bytes"}, 21, 2]}, None, se.SUIT_ERR_INVALID_MANIFEST),
    )


def _check_rejected(name, env, f, code):
    r = sr.Report(env)
    e = raises(se.SuitError, sp.process_update, env, f, r)
    assert e.code == code, (name, e.code, str(e))
    assert f.commits == [], name
    assert f.aborts == 1, name
    assert f.active_slot(C0) == 0 and f.image(C0) == OLD, name
    assert f.image(C0, 1) is None, name  # the staging slot was discarded
    assert f.stored == 5, name
    res = _roundtrip(r)["result"]
    assert res["code"] == code, name
    return res


def _run_negative(lo, hi):
    cases = _negative()[lo:hi]
    gc.collect()
    for name, kw, setup, code in cases:
        gc.collect()
        env = _env(**kw)
        f = _device()
        if setup is not None:
            setup(f)
        _check_rejected(name, env, f, code)


def test_negative_table_1():
    _run_negative(0, 9)


def test_negative_table_2():
    _run_negative(9, 18)


def test_negative_table_3():
    _run_negative(18, 27)


def test_negative_table_4():
    _run_negative(27, 99)
    assert len(_negative()) > 27


def test_negative_structure():
    # malformed command sequences and common members
    cases = (
        ({7: b"\x80"}, se.SUIT_ERR_INVALID_MANIFEST),  # empty sequence
        ({7: cbor.dumps([3])}, se.SUIT_ERR_INVALID_MANIFEST),  # odd length
        ({7: cbor.dumps([3, 15]) + b"\x00"}, se.SUIT_ERR_INVALID_MANIFEST),  # trailing byte
        ({7: b"\x9f\x03\x0f\xff"}, se.SUIT_ERR_INVALID_MANIFEST),  # indefinite array
        ({7: cbor.dumps({3: 15})}, se.SUIT_ERR_INVALID_MANIFEST),
        ({7: cbor.dumps([3, 15])[:-1]}, se.SUIT_ERR_INVALID_MANIFEST),
        ({7: cbor.dumps(["x", 15])}, se.SUIT_ERR_INVALID_MANIFEST),
        ({7: seq(15, [])}, se.SUIT_ERR_INVALID_MANIFEST),
        ({7: seq(15, [None])}, se.SUIT_ERR_INVALID_MANIFEST),
        ({7: seq(15, [None, seq(3, 15)])}, se.SUIT_ERR_INVALID_MANIFEST),
        ({7: seq(15, [seq(3, 15)] * 9)}, se.SUIT_ERR_INVALID_MANIFEST),
        ({7: seq(32, [3, 15])}, se.SUIT_ERR_INVALID_MANIFEST),
        ({7: seq(20, [1, 2])}, se.SUIT_ERR_INVALID_MANIFEST),
        ({7: seq(3, 15), 5: b"\x80"}, se.SUIT_ERR_UNSUPPORTED),  # unknown manifest member
    )
    for sections, code in cases:
        m = manifest(6, [C0], seq(*_shared()), sections)
        env = load(envelope(m))
        f = _device()
        e = raises(se.SuitError, sp.process_update, env, f)
        assert e.code == code, (sections, e.code)
        assert f.commits == [] and f.aborts == 1
        e = raises(se.SuitError, sp.process_boot, env, _device())
        assert e.code == code
    # SUIT_Common with dependencies / unknown members
    for common, code in (
        ({1: {}, 2: [C0]}, se.SUIT_ERR_UNSUPPORTED),
        ({2: [C0], 9: 1}, se.SUIT_ERR_UNSUPPORTED),
        ({2: [C0], 4: 5}, se.SUIT_ERR_INVALID_MANIFEST),
    ):
        m = {1: 1, 2: 6, 3: cbor.dumps(common), 7: seq(3, 15)}
        env = load(envelope(m))
        f = _device()
        e = raises(se.SuitError, sp.process_update, env, f)
        assert e.code == code and f.aborts == 1
    # not authenticated
    env = se.decode_envelope(envelope(manifest(6, [C0], None, {7: seq(3, 15)})))
    f = _device()
    e = raises(se.SuitError, sp.process_update, env, f)
    assert e.code == se.SUIT_ERR_AUTHENTICATION and f.aborts == 1
    e = raises(se.SuitError, sp.process_boot, env, f)
    assert e.code == se.SUIT_ERR_AUTHENTICATION


def test_step_cap():
    # 16 components x 64 commands per pass exceeds the execution budget
    comps = [[bytes((i,))] for i in range(16)]
    sh = [12, True, 20, {1: VENDOR}, 1, 0]
    body = b"\x98\x80\x0c\xf5" + b"\x01\x00" * 63  # [12, true, 63 x (1, 0)]
    env = _env(None, validate=body, shared=sh, comps=comps)
    body = sh = None
    f = FakePlatform(VENDOR, CLASS, seq=5)
    for c in comps:
        f.add(c)
    gc.collect()
    e = raises(se.SuitError, sp.process_boot, env, f)
    assert e.code == se.SUIT_ERR_NO_MEM


# ------------------------------------------------------------ reports


def test_report_records_and_offsets():
    sh = _shared()
    install = [20, {21: URI}, 21, 1, 15, [seq(5, 2), seq(20, {5: 1}, 5, 1)], 3, 0]
    env = _env(install, shared=sh)
    f = _device()
    r = sr.Report(env)
    sp.process_update(env, f, r)
    recs = _roundtrip(r)["records"]
    body = seq(*install)
    # offsets: the fetch command, then inside try-each: the failed slot
    # condition (always recorded) and the successful one (policy 1)
    off_fetch = len(seq(20, {21: URI}))  # both array heads are one byte
    assert body[off_fetch] == 21
    alt1 = seq(5, 2)
    alt2 = seq(20, {5: 1}, 5, 1)
    off_alt1 = body.index(alt1)
    off_alt2 = body.index(alt2)
    in_alt2 = len(seq(20, {5: 1}))
    assert alt2[in_alt2] == 5
    wanted = [
        [[], 20, off_fetch, 0, {21: URI, 14: len(IMG)}],
        [[], 20, off_alt1 + 1, 0, {5: 1}],
        [[], 20, off_alt2 + in_alt2, 0, {5: 1}],
    ]
    got = [x for x in recs if isinstance(x, list) and x[1] == 20]
    assert got == wanted, got


def test_report_failure_and_sysinfo():
    env = _env(_install(), validate=[3, 10])
    f = _device()
    f.fetches[URI] = _bad_img()
    r = sr.Report(env, max_records=3)
    raises(se.SuitError, sp.process_update, env, f, r)
    dec = _roundtrip(r)
    res = dec["result"]
    assert res["code"] == se.SUIT_ERR_DIGEST_MISMATCH and res["reason"] == sr.REASON_CONDITION_FAILED
    rec = res["record"]
    assert rec[1] == 20 and rec[3] == 0
    actual = cbor.loads(rec[4][3])
    assert actual == [-16, hgcrypto.sha256_digest(_bad_img())] and rec[4][14] == len(IMG)
    assert len(dec["records"]) == 3 and r.dropped > 0


def test_report_no_records_without_policy():
    sh = [20, {1: VENDOR, 2: CLASS, 3: image_digest(IMG), 14: len(IMG)}, 1, 0, 2, 0]
    env = _env([20, {21: URI}, 21, 0, 3, 0], validate=[3, 0], shared=sh)
    f = _device()
    r = sr.Report(env)
    sp.process_update(env, f, r)
    assert r.records == [] and r.result is True


# ------------------------------------------------------------ encryption


_KEK = bytes(range(32))
_CEK = bytes(range(100, 132))
_IV = bytes(range(16))


def _crypt():
    try:
        import suit_crypt  # noqa: F401
    except ImportError:
        skip("suit_crypt not available")


def _enc_info(kek=_KEK, kid=b"kid-1"):
    wrapped = hgcrypto.aes_key_wrap(kek, _CEK)
    return cbor.dumps(cbor.Tag(96, [b"", {1: -65532, 5: _IV}, None, [[b"", {1: -5, 4: kid}, wrapped]]]))


def test_encrypted_fetch():
    _crypt()
    ct = hgcrypto.aes_ctr(_CEK, _IV, IMG)
    env = _env([20, {21: URI, 19: _enc_info()}, 21, 2, 3, 15])
    f = _device()
    f.fetches[URI] = ct
    f.keks[b"kid-1"] = _KEK
    sp.process_update(env, f)
    assert f.image(C0, 1) == IMG and f.commits == [(6, [C0])]
    # integrated encrypted payload, and write of encrypted content
    env = _env([20, {21: "#c", 19: _enc_info()}, 21, 2, 3, 15], payloads={"#c": ct})
    f = _device()
    f.keks[b"kid-1"] = _KEK
    sp.process_update(env, f)
    assert f.image(C0, 1) == IMG


def test_encrypted_failures():
    _crypt()
    ct = hgcrypto.aes_ctr(_CEK, _IV, IMG)
    for kek, info, code in (
        (bytes(32), _enc_info(), se.SUIT_ERR_AUTHENTICATION),  # wrong KEK: unwrap fails
        (None, _enc_info(), se.SUIT_ERR_UNSUPPORTED),  # not a recipient
        (_KEK, b"\x01", se.SUIT_ERR_INVALID_MANIFEST),
    ):
        env = _env([20, {21: URI, 19: info}, 21, 2, 3, 15])
        f = _device()
        f.fetches[URI] = ct
        if kek is not None:
            f.keks[b"kid-1"] = kek
        _check_rejected("enc", env, f, code)
        assert f.fetched == []
    # right key, tampered ciphertext: image-match over the plaintext catches it
    bad = bytearray(ct)
    bad[5] ^= 1
    env = _env([20, {21: URI, 19: _enc_info()}, 21, 2, 3, 15])
    f = _device()
    f.fetches[URI] = bytes(bad)
    f.keks[b"kid-1"] = _KEK
    _check_rejected("enc tamper", env, f, se.SUIT_ERR_DIGEST_MISMATCH)


def test_platform_is_only_touched_through_contract():
    # MemoryError inside the platform still aborts the update, never commits
    class Boom(FakePlatform):
        def fetch(self, uri, writer):
            raise MemoryError()

    f = Boom(VENDOR, CLASS, DEV, seq=5)
    f.add(C0)
    f.set_image(C0, OLD)
    env = _env(_install())
    r = sr.Report(env)
    e = raises(se.SuitError, sp.process_update, env, f, r)
    assert e.code == se.SUIT_ERR_NO_MEM and f.aborts == 1 and f.commits == []
    assert r.result[0] == se.SUIT_ERR_NO_MEM
    if sys.platform == "qemu":
        gc.collect()
