# A few trials of each power-cut soak scenario (make soak runs 200 per
# scenario): the unix-port device is SIGKILLed at random instants
#   suit:   during a SUIT update, its trial boot and confirmation; after
#           every restart it boots an accepted image whose slot bytes match
#           and the stored sequence number never went backwards;
#   oscore: the OSCORE demo server and its clients, every datagram captured
#           by a relay; no AEAD nonce protects two different ciphertexts,
#           and a request gets through after the restarts (Echo);
#   attest: while it signs EAT tokens; every token verifies and no LMS
#           one-time key (leaf, at any level) is used twice.
# Each checker is also shown to fail: on made-up input, and (oscore,
# attest) on a device that loses its state at every restart.
import binascii
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOAK = os.path.join(ROOT, "tools", "soak", "soak.py")


def _binaries():
    out = []
    for p in (os.path.join(ROOT, "build", "unix", "micropython"), os.path.join(ROOT, ".venv", "bin", "micropython")):
        if os.path.exists(p):
            out.append(p)
    return out


def _soak():
    sys.path.insert(0, os.path.dirname(SOAK))
    try:
        import soak
    finally:
        sys.path.pop(0)
    return soak


def _run(scenario, trials, mp, *extra):
    r = subprocess.run([sys.executable, SOAK, scenario, "--trials", str(trials), "--seed", "4242", "--micropython",
                        mp] + list(extra), capture_output=True, text=True, timeout=300)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "%d/%d trials passed" % (trials, trials) in r.stdout
    return r.stdout


@pytest.mark.parametrize("mp", _binaries() or [None])
def test_suit_power_cuts(mp):
    if mp is None:
        pytest.skip("no MicroPython binary (make unix / make bootstrap)")
    _run("suit", 6, mp, "--size", "65536")


@pytest.mark.parametrize("mp", _binaries() or [None])
def test_suit_power_cuts_during_coap_fetch(mp):
    if mp is None:
        pytest.skip("no MicroPython binary (make unix / make bootstrap)")
    out = _run("suit", 5, mp, "--size", "131072", "--fetch")
    assert "payload fetched over CoAP" in out


@pytest.mark.parametrize("mp", _binaries() or [None])
def test_oscore_power_cuts(mp):
    if mp is None:
        pytest.skip("no MicroPython binary (make unix / make bootstrap)")
    out = _run("oscore", 5, mp)
    assert "no nonce reused: yes" in out
    assert "after restart 5/5" in out


@pytest.mark.parametrize("mp", _binaries() or [None])
def test_attest_power_cuts(mp):
    if mp is None:
        pytest.skip("no MicroPython binary (make unix / make bootstrap)")
    out = _run("attest", 5, mp)
    assert "no leaf used twice: yes" in out
    assert "kills 30 " in out  # six killed runs per trial


def test_soak_detects_a_bad_device(tmp_path):
    # the checker must be able to fail: a device that reports an image no
    # manifest describes is caught
    soak = _soak()
    chk = soak.Checker(str(tmp_path), {"ab" * 32: 1})
    chk.boot(soak.Run(["BOOT active 0 " + "cd" * 32 + " 1"], False, 0, 0.1), "x")
    assert any("no accepted manifest" in e for e in chk.errors)
    chk = soak.Checker(str(tmp_path), {"ab" * 32: 1})
    chk.max_seq = 2
    chk.boot(soak.Run(["BOOT active 0 " + "ab" * 32 + " 1"], False, 0, 0.1), "y")
    assert any("went backwards" in e for e in chk.errors)
    assert any("unreadable" in e for e in chk.errors)  # no slot file in tmp_path


# ------------------------------------------------------------------ oscore


def _dgram(mtype, code, mid, token, piv=None, kid=None, payload=b"", observe=None):
    import coap_msg
    import oscore

    opts = []
    if observe is not None:
        opts.append((coap_msg.OBSERVE, coap_msg.uint_encode(observe)))
    opts.append((coap_msg.OSCORE, oscore.encode_option(piv=piv, kid=kid)))
    return coap_msg.Message(mtype, code, mid, token, opts, payload).encode()


def test_nonce_checker_detects_reuse():
    soak = _soak()
    cli = ("127.0.0.1", 1000)
    req = _dgram(0, 2, 1, b"t1", piv=b"\x05", kid=b"\xc1", payload=b"AAAA")
    log = [("S", cli, req), ("S", cli, req),  # a retransmission: no reuse
           ("C", cli, _dgram(2, 0x44, 1, b"t1", payload=b"RESP")),  # the request's nonce
           ("C", cli, _dgram(2, 0x44, 1, b"t1", payload=b"RESP")),
           ("C", cli, _dgram(1, 0x45, 7, b"t1", piv=b"\x01", payload=b"N1", observe=1))]
    chk = soak.NonceChecker(b"\xd1")
    chk.check(log, "ok")
    assert chk.errors == []
    assert chk.counts == {"client": 1, "device": 1, "device (request nonce)": 1}
    # the client's Partial IV 5 again for another request (a restarted
    # client that forgot its sequence numbers)
    log.append(("S", ("127.0.0.1", 1001), _dgram(0, 1, 2, b"t2", piv=b"\x05", kid=b"\xc1", payload=b"BBBB")))
    # the device's Partial IV 1 again (a restarted device that forgot)
    log.append(("C", cli, _dgram(2, 0x44, 3, b"t9", piv=b"\x01", payload=b"ECHO")))
    # a second answer under the request's nonce with other bytes (a replayed
    # request answered again)
    log.append(("C", cli, _dgram(2, 0x44, 1, b"t1", payload=b"DIFF")))
    chk.check(log, "bad")
    assert len([e for e in chk.errors if "nonce reused" in e]) == 3, chk.errors
    assert any("client id c1 Partial IV 5" in e for e in chk.errors)
    assert any("device id d1 Partial IV 1" in e for e in chk.errors)
    assert any("device (request nonce)" in e for e in chk.errors)


def _in_process(soak, capsys, argv):
    rc = soak.main(argv)
    return rc, capsys.readouterr().out


def test_oscore_soak_fails_for_a_forgetful_device(monkeypatch, capsys):
    # a server that loses its sequence number reservations at every restart
    # sends Partial IVs it already used: the soak must say so and exit 1
    mps = _binaries()
    if not mps:
        pytest.skip("no MicroPython binary (make unix / make bootstrap)")
    soak = _soak()
    start = soak.OscoreDevice.start

    def forgetful(self):
        shutil.rmtree(self.args[self.args.index("--state") + 1], ignore_errors=True)
        return start(self)

    monkeypatch.setattr(soak.OscoreDevice, "start", forgetful)
    rc, out = _in_process(soak, capsys, ["oscore", "--trials", "2", "--seed", "5", "--micropython", mps[0]])
    print(out)
    assert rc == 1
    assert "nonce reused: device id d1" in out
    assert "no nonce reused: NO" in out


# ------------------------------------------------------------------ attest


def _tokens(signer_storage, ident, nonces):
    import eat

    signer = eat.load_signer(signer_storage, ident)
    att = eat.Attester(ident, signer)
    return signer, [binascii.hexlify(att.attest(n)).decode() for n in nonces]


def _text(nonces, toks, done=True):
    lines = ["READY 1"] + ["TOKEN %s %s" % (binascii.hexlify(n).decode(), t) for n, t in zip(nonces, toks)]
    return "\n".join(lines + (["DONE"] if done else [])) + "\n"


def test_attest_checker_detects_leaf_reuse():
    import eat
    import hgstore
    import lms

    soak = _soak()
    st = hgstore.MemoryStorage()
    params = [(lms.LMS_SHA256_M32_H5, lms.LMOTS_SHA256_N32_W4)] * 2
    ident = eat.provision(st, mode="lms", lms_params=params, chunk=4)
    key = ident["cose_key"]
    ident = eat.load_identity(st)
    chk = soak.AttestChecker(key)
    n1 = [b"\x11" * 16, b"\x12" * 16]
    clone = hgstore.MemoryStorage(data=st.durable)  # a copy of the key: the cardinal sin
    s, toks = _tokens(st, ident, n1)
    s.close()
    chk.run(soak.AttestRun(n1, _text(n1, toks), False, 0, 0.1), "a")
    assert chk.errors == [] and chk.tokens == 2 and chk.wasted() == 0
    # the next run continues at the next leaf (close() gave the rest back)
    n2 = [b"\x21" * 16]
    s, toks = _tokens(st, ident, n2)
    chk.run(soak.AttestRun(n2, _text(n2, toks, done=False), True, -9, 0.1), "b")
    assert chk.errors == []
    # that run was killed after reserving leaves 2-5: the next one starts at 6
    n3 = [b"\x31" * 16]
    s, toks = _tokens(st, ident, n3)
    s.close()
    chk.run(soak.AttestRun(n3, _text(n3, toks), False, 0, 0.1), "c")
    assert chk.errors == [] and chk.wasted() == 3
    # a "clean" run that did not give its reservation back is caught
    n4 = [b"\x41" * 16]
    s, toks = _tokens(st, ident, n4)  # no close()
    chk.run(soak.AttestRun(n4, _text(n4, toks), False, 0, 0.1), "d")
    assert chk.errors == []
    n5 = [b"\x51" * 16]
    s, toks = _tokens(st, ident, n5)
    chk.run(soak.AttestRun(n5, _text(n5, toks, done=False), True, -9, 0.1), "e")
    assert len(chk.errors) == 1 and "was not given back" in chk.errors[0], chk.errors
    # the copy of the key signs with leaf 0 again
    n6 = [b"\x61" * 16]
    s, toks = _tokens(clone, ident, n6)
    chk.run(soak.AttestRun(n6, _text(n6, toks, done=False), True, -9, 0.1), "f")
    assert "LMS leaf (0, 0) used twice (first by a token 1)" in chk.errors[-1], chk.errors
    # an upper-level leaf that signed something else before
    chk.upper[(0,)] = b"another lower tree"
    n7 = [b"\x71" * 16]
    s, toks = _tokens(st, ident, n7)
    chk.run(soak.AttestRun(n7, _text(n7, toks, done=False), True, -9, 0.1), "g")
    assert "upper leaf (0,) signed two different things" in chk.errors[-1], chk.errors
    # a token that does not verify, one for another nonce, a torn line in a
    # run that was not killed, a clean run that did not say DONE
    n8 = [b"\x81" * 16, b"\x82" * 16]
    s, toks = _tokens(st, ident, n8)
    bad = toks[0][:-4] + ("0000" if toks[0][-4:] != "0000" else "1111")
    before = len(chk.errors)
    chk.run(soak.AttestRun(n8, _text(n8, [bad, toks[1]]), False, 0, 0.1), "h")
    assert "h token 1: does not verify" in chk.errors[before], chk.errors[before:]
    chk.run(soak.AttestRun(n8[::-1], _text(n8, toks), True, -9, 0.1), "i")
    assert "i: token 1 answers another nonce" in chk.errors[-2:][0], chk.errors[before:]
    before = len(chk.errors)
    chk.run(soak.AttestRun(n8, "READY 1\nTOKEN 00", False, 0, 0.1), "j")
    assert any("without a newline" in e for e in chk.errors[before:])
    assert any("did not shut down" in e for e in chk.errors[before:])
    # a crash is one error, named by the traceback's last line
    before = len(chk.errors)
    tb = 'Traceback (most recent call last):\n  File "eat.py", line 1, in load_signer\nEATError: LMS key: bad key file\n'
    assert chk.run(soak.AttestRun(n8, tb, False, 1, 0.1), "l") == "crashed at start-up"
    assert chk.errors[before:] == ["l: the device crashed at start-up: EATError: LMS key: bad key file"]
    # a killed run's torn last line is not an error
    before = len(chk.errors)
    chk.run(soak.AttestRun(n8, "READY 1\nTOKEN 81818181", True, -9, 0.1), "k")
    assert chk.errors[before:] == [] and chk.torn == 1


def test_attest_soak_fails_for_a_forgetful_device(monkeypatch, capsys):
    # a device whose key-state writes never reach the flash (every run
    # starts from the provisioned state) signs with the same leaves again
    mps = _binaries()
    if not mps:
        pytest.skip("no MicroPython binary (make unix / make bootstrap)")
    soak = _soak()
    run = soak.attest_run

    def forgetful(mp, state, *a, **kw):
        if not os.path.exists(state + ".orig"):
            shutil.copytree(state, state + ".orig")
        shutil.rmtree(state)
        shutil.copytree(state + ".orig", state)
        return run(mp, state, *a, **kw)

    monkeypatch.setattr(soak, "attest_run", forgetful)
    rc, out = _in_process(soak, capsys, ["attest", "--trials", "1", "--seed", "5", "--micropython", mps[0]])
    print(out)
    assert rc == 1
    assert "LMS leaf (0, 0) used twice (first by setup 0 token 1)" in out  # caught already in the setup runs
