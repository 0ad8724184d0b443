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


# HG_QEMU_ELF: another image (a private build) instead of the `make qemu` one
QEMU_ELF = os.environ.get("HG_QEMU_ELF") or os.path.join(ROOT, "build", "qemu_an386", "firmware.elf")


def test_make_run_qemu_needs_the_image(tmp_path):
    r = _demo(["--board", "qemu_an386", "--elf", str(tmp_path / "none.elf"), "--micropython", _micropython(),
               "--dir", str(tmp_path / "run")], timeout=60)
    assert r.returncode == 1
    assert "none.elf is missing (build it with `make qemu`)" in r.stderr


def test_make_run_unknown_board():
    r = _demo(["--board", "esp32"], timeout=60)
    assert r.returncode == 2
    assert "unknown BOARD 'esp32'" in r.stderr


def test_make_run_qemu_story(tmp_path):
    # `make run BOARD=qemu_an386`: the same story on the 64 KiB Cortex-M4
    # image through the bridge (boards/qemu_an386/README.md), every step.
    # The lean device answers the update 2.01 (staged), installs it at the
    # restart and shows the report afterwards.
    import shutil

    if not shutil.which("qemu-system-arm"):
        pytest.skip("qemu-system-arm is not installed")
    if not os.path.exists(QEMU_ELF):
        pytest.skip("%s is missing (make qemu)" % QEMU_ELF)
    r = _demo(["--board", "qemu_an386", "--micropython", _micropython(), "--dir", str(tmp_path / "run"),
               "--port", str(free_udp_port()), "--elf", QEMU_ELF], timeout=900)
    out = r.stdout
    assert r.returncode == 0, out[-6000:] + r.stderr[-2000:]
    assert "Summary: 10 of 10 steps passed" in out
    assert "make run: every step passed" in out
    assert "device| hg: demo: normal mode, app 1.0.0, boot 1" in out
    assert "4.01 Unauthorized - refused" in out
    assert out.count("notification ") >= 3
    assert out.count("HMAC-SHA256 (COSE_Mac0), verified with the device's key") == 2
    assert "2.01 Created: authenticated and staged" in out
    assert "GET /suit/report after the restart: SUIT report: success" in out
    assert "device| hg: boot app: slot 1 trial" in out
    assert "hello from app 1.1.0" in out
    assert "app measurement changed" in out
    assert "4.09 Conflict: SUIT report: failed, SUIT_ERR_SEQUENCE_NUMBER (-5)" in out
    assert "device heap free (GET /status after each step): 2: " in out
    assert "100%" in r.stderr  # the upload progress bar
    log = (tmp_path / "run" / "device.log").read_text()
    assert "hg: heap free" in log and "after start-up" in log
    assert "update: installing the staged envelope" in log
