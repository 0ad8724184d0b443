"""The armv7emsp natmods (make natmod ARCH=armv7emsp), as a board on stock
MicroPython would load them, imported and run on the Cortex-M4F qemu image.

The image has no filesystem, so the .mpy files ride in the script inside a
read-only user VFS. They are imported under other names (_hgcore_nm, _lms_nm)
because the image also has the same modules built in."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NATMOD_DIR = os.path.join(ROOT, "build", "natmod", "armv7emsp")
ELF = os.path.join(ROOT, "build", "qemu_an386_test", "firmware.elf")

SCRIPT = """
import io, os, sys
FILES = %(files)r
class ReadOnlyVFS:
    def mount(self, readonly, mkfs):
        pass
    def umount(self):
        pass
    def chdir(self, path):
        pass
    def getcwd(self):
        return ""
    def stat(self, path):
        name = path.lstrip("/")
        if name in FILES:
            return (0x8000, 0, 0, 0, 0, 0, len(FILES[name]), 0, 0, 0)
        if not name:
            return (0x4000, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        raise OSError(2)
    def ilistdir(self, path):
        for name in FILES:
            yield (name, 0x8000, 0, len(FILES[name]))
    def open(self, path, mode):
        return io.BytesIO(FILES[path.lstrip("/")])
os.mount(ReadOnlyVFS(), "/nm")
sys.path.append("/nm")
import _hgcore_nm, _lms_nm
pub, msg, sig = %(pub)r, %(msg)r, %(sig)r
bad = bytearray(sig)
bad[len(bad) // 2] ^= 1
print("RESULT", _hgcore_nm.ct_equal(b"ab", b"ab"), _hgcore_nm.ct_equal(b"ab", b"ac"),
      _lms_nm.verify(pub, msg, sig), _lms_nm.verify(pub, msg, bytes(bad)),
      _lms_nm.verify(pub, msg, sig + b"x"), _lms_nm.ERR_INVALID, _lms_nm.ERR_MALFORMED)
"""


def test_armv7emsp_natmods_run_on_the_cortex_m4_image():
    mods = [os.path.join(NATMOD_DIR, n + ".mpy") for n in ("_hgcore", "_lms")]
    missing = [p for p in mods + [ELF] if not os.path.exists(p)]
    if missing:
        pytest.skip("not built (make natmod ARCH=armv7emsp; make qemu-test): " + ", ".join(missing))
    with open(os.path.join(ROOT, "host_tests", "vectors", "lms", "cases", "rfc9858_tc1.json")) as f:
        case = json.load(f)
    files = {}
    for path, name in zip(mods, ("_hgcore_nm.mpy", "_lms_nm.mpy")):
        with open(path, "rb") as f:
            files[name] = f.read()
    script = SCRIPT % {
        "files": files,
        "pub": bytes.fromhex(case["public_key"]),
        "msg": bytes.fromhex(case["message"]),
        "sig": bytes.fromhex(case["signature"]),
    }
    script_path = os.path.join(ROOT, "build", "natmod", "qemu_natmod_check.py")
    with open(script_path, "w") as f:
        f.write(script)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_qemu.py"), "--elf", ELF,
                           "--timeout", "120", script_path],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")]
    assert proc.returncode == 0 and lines, proc.stdout
    ok, differ, valid, flipped, trailing, err_invalid, err_malformed = lines[0].split()[1:]
    assert (ok, differ) == ("True", "False")
    assert int(valid) == 0
    assert int(flipped) == int(err_invalid)
    assert int(trailing) == int(err_malformed)
