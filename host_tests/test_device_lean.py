# The lean device (hg_device lean=True, the 64 KiB qemu board) in process on
# CPython: an update is checked and staged (2.01) instead of installed next
# to the servers, installed at the boot that follows (which then restarts
# again), and its report read afterwards. Refusals answer at once and stage
# nothing; a staged envelope is cleared before its install, so one that
# stops the device is not tried at every boot. The state is what the board
# keeps in flash: one MemoryStorage per part, shared across the "restarts".
import os
import sys

import pytest

import suit_report
from hgstore import MemoryStorage
from hourglass import device_cmd, oscore_cmd
from test_device import CLASS, VENDOR, _envelope, _forge, _hourglass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.join(ROOT, "firmware") not in sys.path:
    sys.path.append(os.path.join(ROOT, "firmware"))  # hg_device imports default_app on demand
import hg_device  # noqa: E402

CREATED, CHANGED = 0x41, 0x44
FORBIDDEN, UNAUTHORIZED, CONFLICT = 0x83, 0x81, 0x89


class Board:
    """A lean Device on state that survives its restarts."""

    def __init__(self, config):
        self.config = config
        self.stores = {}
        self.lines = []
        self.now = 1000

    def storage(self, sub):
        return self.stores.setdefault(sub, MemoryStorage())

    def boot(self):
        dev = hg_device.Device(None, storage=self.storage, config=self.config, lean=True,
                               out=self.lines.append, clock=lambda: self.now, health_ms=10 ** 9)
        return dev.start()

    def text(self):
        return "\n".join(self.lines)


@pytest.fixture(autouse=True)
def _modules_back():
    # the lean device drops its on-demand modules from sys.modules; the
    # other tests in this process keep the ones they imported
    saved = {n: sys.modules.get(n) for n in hg_device.LEAN_DROP}
    yield
    for n, m in saved.items():
        if m is None:
            sys.modules.pop(n, None)
        else:
            sys.modules[n] = m


@pytest.fixture
def board(tmp_path):
    trust = tmp_path / "trust.key"
    _hourglass("lms", "keygen", "--out", trust, "--pub", tmp_path / "trust.pub", "--levels", "1",
               "--lms", "H5", "--ots", "W4")
    pub = (tmp_path / "trust.pub").read_bytes()
    params = oscore_cmd.new_context(name="dev", device_id=b"\xd1", peer_id=b"\xc1")
    cfg = device_cmd.make_config("lean", b"\x01" + os.urandom(32), params, [pub], eat_mode="hmac",
                                 mac_key=os.urandom(32))
    cfg["suit"]["vendor_id"] = VENDOR
    cfg["suit"]["class_id"] = CLASS
    cfg["suit"]["components"] = [{"id": ["00"], "name": "app", "max_size": 16384}]
    return Board(cfg), trust, tmp_path


def _report(board):
    raw = board.storage("hg").read("report")
    return None if raw is None else suit_report.decode(bytes(raw))


def test_update_is_staged_then_installed_at_the_next_boot(board):
    b, key, tmp = board
    dev = b.boot()
    assert dev.mode == "normal" and dev.version == "1.0.0" and dev.exit_code is None
    env = _envelope(tmp, key, 1, "1.1.0")

    code, rep = dev._stage([env])
    assert (code, rep) == (CREATED, b"")
    assert bytes(b.storage("hg").read("update")) == env
    assert _report(b) is None  # nothing processed yet
    assert "authenticated and staged" in b.text()

    # the install boot: installs, reports, and asks for another restart
    dev = b.boot()
    assert dev.exit_code == hg_device.EXIT_RESTART and dev.ep is None
    assert bytes(b.storage("hg").read("update")) == b""
    rep = _report(b)
    assert rep["result"] is True
    assert "update: installed; restarting into the trial" in b.text()

    # the next boot runs the new app in trial; the same envelope is now old
    dev = b.boot()
    assert dev.exit_code is None and dev.version == "1.1.0" and dev._trial() == ["app"]
    assert "boot app: slot 1 trial" in b.text()
    dev._confirm()
    code, rep = dev._stage([env])
    assert code == CONFLICT and suit_report.decode(rep)["result"]["code"] == -5
    assert bytes(b.storage("hg").read("update")) == b""  # nothing staged
    st = dev.status()
    assert st["suit_sequence"] == 1 and st["version"] == "1.1.0"


def test_refusals_answer_at_once_and_stage_nothing(board):
    b, key, tmp = board
    dev = b.boot()
    env1 = _envelope(tmp, key, 1, "1.1.0")

    code, rep = dev._stage([_forge(env1)])
    assert code == UNAUTHORIZED and suit_report.decode(rep)["result"]["code"] == -6
    assert b.storage("hg").read("update") is None

    code, _ = dev._stage([env1])
    assert code == CREATED
    dev = b.boot()  # install
    dev = b.boot()  # trial of 1.1.0, not confirmed yet
    env2 = _envelope(tmp, key, 2, "1.2.0")
    code, rep = dev._stage([env2])
    assert code == FORBIDDEN and suit_report.decode(rep)["result"]["code"] == -8
    assert bytes(b.storage("hg").read("update")) == b""


def test_a_staged_envelope_that_stops_the_install_is_not_tried_again(board, monkeypatch):
    b, key, tmp = board
    dev = b.boot()
    assert dev._stage([_envelope(tmp, key, 1, "1.1.0")])[0] == CREATED

    def boom(*a, **k):
        raise RuntimeError("power cut")

    monkeypatch.setattr(hg_device.Device, "_apply", boom)
    dev = b.boot()
    assert dev.exit_code == hg_device.EXIT_RESTART
    assert "update: internal error power cut" in b.text()
    monkeypatch.undo()
    dev = b.boot()  # no loop: the record was cleared first
    assert dev.exit_code is None and dev.version == "1.0.0"
    assert dev.status()["suit_sequence"] == -1


def test_lean_attest_keeps_a_token_only_until_its_last_block(board):
    # 512-byte blocks on this board; a token over that is kept for the
    # Block2 continuations and dropped once its last block has gone out
    import cbor
    import eat
    from coap_msg import BLOCK2, Message

    b, _key, _tmp = board
    dev = b.boot()
    assert dev.srv.block_szx == 5
    b.storage("hg").write("report", cbor.dumps({99: [[-16, bytes(32)]], 3: [b"r" * 600], 4: True}))

    def post(num=None, payload=b""):
        m = Message(code=2, payload=payload)
        m.add(12, 42)
        if num is not None:
            m.add(BLOCK2, (num << 4) | 5)
        m.peer = ("10.0.0.1", 5683)
        return dev._attest_lean(m)

    nonce = os.urandom(16)
    r = post(payload=nonce)
    token = bytes(r.payload)
    assert 1024 < len(token) <= 1536 and len(dev._att_cache) == 1
    assert bytes(post(1).payload) == token and len(dev._att_cache) == 1
    assert bytes(post(2).payload) == token and dev._att_cache == []
    # the COSE_Key the host keeps for this device (device_cmd: eat.key)
    key = cbor.dumps({1: 4, 2: bytes.fromhex(b.config["ueid"]), 3: 5,
                      -1: bytes.fromhex(b.config["eat"]["mac_key"])})
    claims = eat.verify(token, key, nonce).claims
    assert [eat.CF_HG_SUIT_REPORT, bytes(b.storage("hg").read("report"))] in claims[eat.C_MEASUREMENTS]
    # a short token is not kept at all
    b.storage("hg").write("report", b"")
    r = post(payload=os.urandom(16))
    assert len(r.payload) <= 512 and dev._att_cache == []
