# `hourglass attest` against a virtual device on loopback: host_tests/
# eat_device.py (lib/coap + lib/oscore + lib/eat, on the MicroPython unix
# port when there is one) serves the OSCORE-protected /attest; the host
# sends fresh nonces, verifies the HSS-LMS tokens (our lms and pyhsslms)
# and keeps its LMS leaf log. The device is killed with SIGKILL between
# attestations: after the restart its tokens must use leaves never used
# before (the leaf log would flag a reuse), and everything still verifies.
import json
import os
import subprocess
import sys
import time


from hourglass import oscore_cmd
from procs import free_udp_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICE = os.path.join(ROOT, "host_tests", "eat_device.py")
CHUNK = 8  # the device's leaf reservation chunk


def _interpreter():
    # the PyPI MicroPython first: build/unix/micropython has lib/ frozen from
    # the last build, which would shadow changes to lib/
    for p in (os.environ.get("HG_MICROPYTHON"), os.path.join(ROOT, ".venv", "bin", "micropython")):
        if p and os.path.exists(p):
            return p
    return sys.executable


class Device:
    def __init__(self, tmp, prov, port):
        self.args = [_interpreter(), DEVICE, "--state", str(tmp / "dev"), "--provision", str(prov),
                     "--port", str(port), "--host", "127.0.0.1", "--pub-out", str(tmp / "dev.key"),
                     "--chunk", str(CHUNK), "--levels", "2", "--lms-height", "5"]
        self.log = str(tmp / "device.log")
        self.proc = None
        self.starts = 0

    def start(self):
        self.out = open(self.log, "a")
        self.proc = subprocess.Popen(self.args, stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            with open(self.log) as f:
                if f.read().count("serving") >= self.starts + 1:
                    self.starts += 1
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("device did not start: " + open(self.log).read())

    def kill9(self):
        self.proc.kill()  # SIGKILL: no clean shutdown, no close() of the signer
        self.proc.wait()
        self.out.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.kill9()


def _hourglass(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tools"))
    r = subprocess.run([sys.executable, "-m", "hourglass"] + [str(a) for a in args], env=env,
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def test_attest_over_oscore_survives_kill9(tmp_path):
    params = oscore_cmd.new_context(name="dev", device_id=b"\xd1", peer_id=b"\xc1")
    prov = tmp_path / "prov.json"
    prov.write_text(json.dumps(params))
    port = free_udp_port()
    dev = Device(tmp_path, prov, port)
    uri = "coap://127.0.0.1:%d/attest" % port
    leaves = tmp_path / "leaves.json"
    common = ["--provision", prov, "--key", tmp_path / "dev.key", "--state", tmp_path / "host",
              "--leaf-state", leaves, "--json"]
    results = []
    try:
        dev.start()
        for boot in (1, 1, 2, 2):
            if boot == 2 and dev.starts == 1:
                dev.kill9()
                dev.start()
            save = tmp_path / ("token%d.cwt" % len(results))
            rc, out, err = _hourglass("attest", uri, "--save", save, *common)
            assert rc == 0, (out, err, open(dev.log).read())
            res = json.loads(out)
            assert res["valid"] and res["leaf_state"] == "new"
            assert res["lms_check"] == {"lib_lms": True, "pyhsslms": True}
            c = res["claims"]
            assert c["eat_nonce"] == res["nonce"] and len(res["nonce"]) == 64
            assert c["bootcount"] == boot and c["dbgstat"] == 1
            assert c["ueid"] == res["kid"] and c["ueid"].startswith("01") and len(c["ueid"]) == 66
            assert c["swversion"] == ["0.1.0", 16384]
            assert sorted(c["submods"]) == ["boot"]
            assert c["measurements"][0]["content_format"] == 258
            results.append((res, save))
        # the saved raw token verifies with `hourglass eat verify` (the leaf
        # log has it already: the same message is no reuse)
        res0, save0 = results[0]
        rc, out, err = _hourglass("eat", "verify", save0, "--key", tmp_path / "dev.key", "--nonce",
                                  res0["nonce"], "--leaf-state", leaves)
        assert rc == 0, err
        # and not with another nonce
        rc, out, err = _hourglass("eat", "verify", save0, "--key", tmp_path / "dev.key", "--nonce",
                                  results[1][0]["nonce"], "--no-leaf-state")
        assert rc == 1 and "nonce mismatch" in err
        # plain CoAP to the resource is refused (it needs OSCORE)
        rc, out, err = _hourglass("coap", "post", uri, "--payload", "0123456789abcdef", "--timeout", "10")
        assert rc == 1 and "4.01" in err, (out, err)
    finally:
        dev.stop()
    leafs = [tuple(r["leaf"]) for r, _ in results]
    assert len(set(leafs)) == 4, leafs
    # bottom tree 0 (made by top leaf 0); the first boot reserved leaves
    # 0..CHUNK-1 and used two; after the kill -9 the device resumed at the
    # reserved bound, never below a leaf it may have used
    assert leafs == [(0, 0), (0, 1), (0, CHUNK), (0, CHUNK + 1)], leafs
    state = json.loads(leaves.read_text())
    assert len(state["devices"][results[0][0]["kid"]]) == 4
    sizes = [r["token_size"] for r, _ in results]
    assert 4000 < min(sizes) and max(sizes) < 6000, sizes
