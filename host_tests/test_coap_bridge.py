# `hourglass bridge` end to end: the qemu Cortex-M4F image (64 KiB RAM)
# serving CoAP over SLIP on its UART, reached through the bridge over UDP
# with aiocoap as the client: a GET, a Block2 download, a POST whose payload
# needs SLIP escapes, the heap while serving, and the echo stand-in at the
# link level. Needs build/qemu_an386/firmware.elf (make qemu; else the
# qemu-test image; HG_QEMU_ELF=... for another) with lib/coap frozen in, and
# qemu-system-arm; says SKIP when either is missing. Prints the latency and heap figures (-s).
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def _pick_elf():
    # the plain image (make qemu), else the test image (make qemu-test):
    # same board, same RAM, both freeze lib/coap
    if os.environ.get("HG_QEMU_ELF"):
        return os.environ["HG_QEMU_ELF"]
    for build in ("qemu_an386", "qemu_an386_test"):
        elf = os.path.join(ROOT, "build", build, "firmware.elf")
        if os.path.isfile(elf):
            return elf
    return os.path.join(ROOT, "build", "qemu_an386", "firmware.elf")


ELF = _pick_elf()
BOOT_TIMEOUT = 60


def _image_problem():
    if not shutil.which("qemu-system-arm"):
        return "qemu-system-arm not installed"
    if not os.path.isfile(ELF):
        return "%s missing (make qemu)" % ELF
    with open(ELF, "rb") as f:
        image = f.read()
    for mod in (b"coap_serial_demo", b"coap_serial", b"coap_server"):
        if mod not in image:
            return "%s has no frozen %s (lib/coap not in the image's manifest)" % (ELF, mod.decode())
    return None


def _free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _bridge_cmd(*args):
    return [sys.executable, "-m", "hourglass", "bridge"] + list(args)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(ROOT, "tools") + os.pathsep + env.get("PYTHONPATH", "")
    return env


class Bridge:
    """A running `hourglass bridge --qemu` on a free loopback port."""

    def __init__(self, *extra):
        self.port = _free_udp_port()
        self.proc = subprocess.Popen(
            _bridge_cmd("--qemu", ELF, "--listen", "127.0.0.1:%d" % self.port, *extra),
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=_env())
        self.log = []
        end = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < end:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            if "serving CoAP on" in line:
                return
        self.stop()
        pytest.fail("bridge did not come up:\n" + "".join(self.log))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rest = self.proc.communicate(timeout=20)[1]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest = self.proc.communicate()[1]
        self.log.append(rest or "")
        return self.proc.returncode, "".join(self.log)


@pytest.fixture(scope="module")
def demo():
    why = _image_problem()
    if why:
        pytest.skip(why)
    b = Bridge()
    yield b
    b.stop()


def _run(coro):
    return asyncio.run(coro)


async def _client_session(fn):
    import aiocoap

    ctx = await aiocoap.Context.create_client_context()
    try:
        return await fn(ctx, aiocoap)
    finally:
        await ctx.shutdown()


def _uri(bridge, path):
    return "coap://127.0.0.1:%d/%s" % (bridge.port, path)


def test_get_hello(demo):
    async def go(ctx, aiocoap):
        r = await ctx.request(aiocoap.Message(code=aiocoap.GET, uri=_uri(demo, "hello"))).response
        assert r.code == aiocoap.CONTENT
        assert r.payload == b"hello from hourglass"
        assert r.opt.content_format == 0
        wk = await ctx.request(aiocoap.Message(code=aiocoap.GET, uri=_uri(demo, ".well-known/core"))).response
        assert b"</big>" in wk.payload and b"</hello>" in wk.payload
        missing = await ctx.request(aiocoap.Message(code=aiocoap.GET, uri=_uri(demo, "nope"))).response
        assert missing.code == aiocoap.NOT_FOUND

    _run(_client_session(go))


def test_block2_download(demo):
    import coap_serial_demo

    async def go(ctx, aiocoap):
        # the first block by hand: 1024 bytes, more to come, Size2 and ETag
        first = await ctx.request(aiocoap.Message(code=aiocoap.GET, uri=_uri(demo, "big")),
                                  handle_blockwise=False).response
        assert first.code == aiocoap.CONTENT
        b2 = first.opt.block2
        assert (b2.block_number, b2.more, b2.size_exponent) == (0, True, 6)
        assert first.opt.size2 == coap_serial_demo.BIG_SIZE
        assert first.opt.etag == b"hgbig001"
        assert first.payload == coap_serial_demo.big_body()[:1024]
        # then the whole representation, reassembled by aiocoap
        t = time.perf_counter()
        whole = await ctx.request(aiocoap.Message(code=aiocoap.GET, uri=_uri(demo, "big"))).response
        dt = time.perf_counter() - t
        assert whole.code == aiocoap.CONTENT
        assert whole.payload == coap_serial_demo.big_body()
        print("\nBlock2 download of %d bytes (6 blocks): %.1f ms" % (len(whole.payload), dt * 1e3))
        # a smaller block size asked by the client (szx 4: 256 bytes)
        small = aiocoap.Message(code=aiocoap.GET, uri=_uri(demo, "big"))
        small.opt.block2 = aiocoap.optiontypes.BlockOption.BlockwiseTuple(3, False, 4)
        r = await ctx.request(small, handle_blockwise=False).response
        assert r.payload == coap_serial_demo.big_body()[768:1024]

    _run(_client_session(go))


def test_post_with_slip_specials(demo):
    body = bytes(range(256)) + b"\xc0\xdb\xc0\xdb\xdc\xdd"

    async def go(ctx, aiocoap):
        r = await ctx.request(aiocoap.Message(code=aiocoap.POST, uri=_uri(demo, "echo"), payload=body)).response
        assert r.code == aiocoap.CHANGED
        assert r.payload == body

    _run(_client_session(go))


def test_latency_and_heap(demo):
    async def go(ctx, aiocoap):
        times = []
        for _ in range(30):
            t = time.perf_counter()
            r = await ctx.request(aiocoap.Message(code=aiocoap.GET, uri=_uri(demo, "hello"))).response
            times.append(time.perf_counter() - t)
            assert r.code == aiocoap.CONTENT
        times.sort()
        heap = await ctx.request(aiocoap.Message(code=aiocoap.GET, uri=_uri(demo, "heap"))).response
        return times, heap.payload.decode()

    times, heap = _run(_client_session(go))
    median = times[len(times) // 2]
    print("\nGET /hello through the bridge: median %.2f ms, min %.2f ms, max %.2f ms"
          % (median * 1e3, times[0] * 1e3, times[-1] * 1e3))
    print("heap while serving: " + heap)
    fields = dict(kv.split("=") for kv in heap.split())
    assert int(fields["free"]) > 16384  # of the 51 KiB heap
    assert median < 1.0  # generous: qemu on a loaded CI box


def test_shutdown_reports_device_stats():
    why = _image_problem()
    if why:
        pytest.skip(why)
    b = Bridge("--verbose")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(10)
    s.sendto(b"\x40\x01\x00\x01\xb5hello", ("127.0.0.1", b.port))  # CON GET /hello
    reply = s.recv(2048)
    s.close()
    assert reply[:4] == b"\x60\x45\x00\x01"  # ACK 2.05, same MID
    code, log = b.stop()
    assert code == 0, log
    assert "device stat heap_free=" in log
    assert "udp 127.0.0.1:" in log and "-> device" in log  # --verbose frame log


def test_echo_stand_in_link_level():
    # the serial loop with the echo endpoint: raw datagrams (even non-CoAP
    # bodies after a CoAP-looking first byte) come back byte for byte
    why = _image_problem()
    if why:
        pytest.skip(why)
    b = Bridge("--boot", "import coap_serial; coap_serial.run_echo()")
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(10)
        for dg in (b"\x40\x01\xc0\xdb", b"\x50\x02\x00\x01" + bytes(range(256)) * 4):
            s.sendto(dg, ("127.0.0.1", b.port))
            assert s.recv(4096) == dg
        s.close()
    finally:
        code, log = b.stop()
    assert code == 0, log


# ---------------------------------------------------------------- --serial
class _PtyIO:
    """The device end of a pty pair, for coap_serial.SerialLink (CPython)."""

    console = False

    def __init__(self, fd):
        self.fd = fd

    def readinto(self, buf):
        try:
            data = os.read(self.fd, len(buf))
        except (BlockingIOError, OSError):
            return 0
        buf[: len(data)] = data
        return len(data)

    def write(self, data):
        os.write(self.fd, bytes(data))

    def idle(self):
        time.sleep(0.001)


def test_serial_line_on_a_pty():
    # --serial through pyserial, with the device loop (echo stand-in) run by
    # CPython on the other end of a pty; --no-boot (no REPL there). The
    # bridge's shutdown sends the exit frame, which ends the device loop.
    import pty
    import threading

    import coap_serial

    import tty

    master, slave = pty.openpty()
    tty.setraw(slave)  # no echo or line editing before pyserial opens it
    os.set_blocking(master, False)
    link = coap_serial.SerialLink(coap_serial.EchoEndpoint(), _PtyIO(master))
    device = threading.Thread(target=link.run, daemon=True)
    device.start()
    port = _free_udp_port()
    proc = subprocess.Popen(
        _bridge_cmd("--serial", os.ttyname(slave), "--baud", "115200", "--no-boot",
                    "--listen", "127.0.0.1:%d" % port),
        stderr=subprocess.PIPE, text=True, env=_env())
    try:
        assert "device answers" in proc.stderr.readline()  # the --no-boot ping
        line = proc.stderr.readline()
        assert "serving CoAP on" in line, line
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(10)
        for dg in (b"\x40\x01\x00\x01\xc0\x03\xdb", b"\x50\x02\x00\x02" + bytes(range(256)) * 2):
            s.sendto(dg, ("127.0.0.1", port))
            assert s.recv(4096) == dg
        s.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=20)[1]
        device.join(10)
        os.close(slave)
        os.close(master)
    assert proc.returncode == 0, err
    assert "device stat heap_free=-1" in err and "rx=2 tx=2" in err
    assert not device.is_alive()  # the exit frame ended the loop


# ---------------------------------------------------------------- CLI errors
def _cli(*args):
    p = subprocess.run(_bridge_cmd(*args), capture_output=True, text=True, env=_env(), timeout=60)
    return p.returncode, p.stderr + p.stdout


def test_cli_help_and_usage_errors():
    code, out = _cli("--help")
    assert code == 0 and "--qemu ELF" in out and "--listen" in out
    code, out = _cli("--listen", "127.0.0.1:5683")
    assert code == 2 and "one of the arguments --serial --qemu is required" in out
    code, out = _cli("--qemu", "x.elf", "--listen", "127.0.0.1:notaport")
    assert code == 2 and "bad port" in out


def test_cli_missing_image_and_port():
    code, out = _cli("--qemu", "/nonexistent/firmware.elf", "--listen", "127.0.0.1:%d" % _free_udp_port())
    assert code == 1 and "/nonexistent/firmware.elf not found" in out
    code, out = _cli("--serial", "/dev/nonexistent-tty", "--listen", "127.0.0.1:%d" % _free_udp_port())
    assert code == 1 and "cannot open /dev/nonexistent-tty" in out


def test_cli_no_boot_without_a_loop():
    import pty
    import tty

    master, slave = pty.openpty()
    tty.setraw(slave)
    try:
        code, out = _cli("--serial", os.ttyname(slave), "--no-boot", "--boot-timeout", "2",
                         "--listen", "127.0.0.1:%d" % _free_udp_port())
    finally:
        os.close(slave)
        os.close(master)
    assert code == 1 and "no answer to the link's ping" in out


def test_cli_boot_failure_is_reported():
    why = _image_problem()
    if why:
        pytest.skip(why)
    code, out = _cli("--qemu", ELF, "--listen", "127.0.0.1:%d" % _free_udp_port(),
                     "--boot", "import no_such_module", "--boot-timeout", "30")
    assert code == 1
    assert "did not start" in out and "no_such_module" in out


def test_peer_map_and_summary():
    from hourglass.bridge_cmd import PeerMap, looks_like_coap, parse_hostport, summarize

    m = PeerMap(size=2)
    a, b = ("127.0.0.1", 1), ("127.0.0.1", 2)
    m.from_host(b"\x42\x01\x00\x10\xaa\xbb", a)  # CON GET mid 16 token aabb
    m.from_host(b"\x51\x01\x00\x20\xcc", b)  # NON GET mid 32 token cc
    assert m.to_host(b"\x62\x45\x00\x10\xaa\xbb") == a  # piggybacked ACK by MID
    assert m.to_host(b"\x70\x00\x00\x20") == b  # RST by MID
    assert m.to_host(b"\x52\x45\x12\x34\xaa\xbb") == a  # NON response by token
    assert m.to_host(b"\x50\x45\x12\x35") == b  # unknown: last speaker
    m.from_host(b"\x40\x01\x00\x30", a)
    m.from_host(b"\x40\x01\x00\x40", a)
    assert 0x10 not in m.by_mid  # bounded
    assert parse_hostport("[::1]:5684") == ("::1", 5684)
    assert parse_hostport(":7000") == ("127.0.0.1", 7000)
    assert parse_hostport("localhost") == ("localhost", 5683)
    assert summarize(b"\x42\x01\x00\x10\xaa\xbb") == "CON 0.01 mid=16 tok=aabb 6B"
    assert looks_like_coap(b"\x42\x01\x00\x10\xaa\xbb") and looks_like_coap(b"\x60\x00\x00\x01")
    for junk in (b"^@ready", b"\x42\x01\x00\x10\xaa", b"\x80\x01\x00\x00", b"OK", b""):
        assert not looks_like_coap(junk), junk
