# `make run` (tools/run_demo.py): the whole story against a fresh virtual
# device on loopback - provisioning, discovery, OSCORE /status, Observe, EAT,
# a SUIT update with its restart and trial boot, a refused replay - must pass
# every step and exit 0. The device runs on the PyPI MicroPython (lib/ as it
# is in the tree; build/unix/micropython would run the lib/ frozen at its
# last build).
import os
import subprocess
import sys

import pytest

from procs import free_udp_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, "tools", "run_demo.py")
ENTRY = os.path.join(ROOT, "firmware", "hg_unix.py")


def _micropython():
    p = os.path.join(ROOT, ".venv", "bin", "micropython")
    return p if os.path.exists(p) else sys.executable


def _demo(args, timeout=300):
    return subprocess.run([sys.executable, DEMO] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


def test_make_run_story(tmp_path):
    if not os.path.exists(ENTRY):
        pytest.skip("the device entry point firmware/hg_unix.py is not in the tree yet")
    r = _demo(["--micropython", _micropython(), "--dir", str(tmp_path / "run"), "--port", str(free_udp_port())])
    out = r.stdout
    assert r.returncode == 0, out[-4000:] + r.stderr[-2000:]
    assert "Summary: 10 of 10 steps passed" in out
    assert "make run: every step passed" in out
    # what the story claims, seen in its output
    assert "4.01 Unauthorized - refused" in out  # /status needs OSCORE
    assert out.count("notification ") >= 3
    assert "2.04 Changed: SUIT report: success" in out
    assert "hello from app 1.1.0" in out
    assert "app measurement changed" in out
    assert "4.09 Conflict: SUIT report: failed, SUIT_ERR_SEQUENCE_NUMBER (-5)" in out
    assert "device| hg: boot app: slot 1 trial" in out
    assert "100%" in r.stderr  # the upload progress bar
    log = (tmp_path / "run" / "device.log").read_text()
    assert "restart requested (exit 3)" in log


def test_make_run_fails_and_names_the_step(tmp_path):
    # a port another socket holds: the device cannot serve, so the story
    # must stop at "start" and exit 1 saying so
    if not os.path.exists(ENTRY):
        pytest.skip("the device entry point firmware/hg_unix.py is not in the tree yet")
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    try:
        r = _demo(["--micropython", _micropython(), "--dir", str(tmp_path / "run"),
                   "--port", str(s.getsockname()[1])], timeout=120)
    finally:
        s.close()
    assert r.returncode == 1
    assert "FAIL  2. start the device" in r.stdout
    assert "make run: FAILED at step 2" in r.stdout


def test_make_run_qemu_not_supported_yet():
    r = _demo(["--board", "qemu_an386"], timeout=60)
    assert r.returncode == 1
    assert "not yet supported" in r.stderr
