"""`hourglass bridge`: make a device that speaks CoAP over SLIP on a serial
line (lib/coap/coap_serial.py) reachable as a CoAP/UDP endpoint on the host.

    hourglass bridge --qemu build/qemu_an386/firmware.elf
    hourglass bridge --serial /dev/ttyACM0 [--baud 115200]
    aiocoap-client coap://127.0.0.1/.well-known/core

Each UDP datagram that arrives on --listen (default 127.0.0.1:5683) goes to
the device as one SLIP frame; each CoAP frame from the device goes back over
UDP. Return address: an ACK or RST goes to the peer whose CON/NON carried
that Message ID, anything else to the peer that last sent that token, and
failing both to the peer that spoke last. The device sees every client as
one peer, so several clients at once work only while their message IDs and
tokens do not collide: this is a test bench, not a multiplexer.

Start-up: --qemu starts qemu-system-arm (machine mps2-an386, UART0 on
pipes); then, unless --no-boot, the bridge enters the raw REPL and runs
--boot (default: the frozen demo server, coap_serial_demo.run()), and waits
for the link's "ready" frame. On a real board the same happens over
--serial; a loop left running by an earlier bridge is stopped first with
the link's exit frame. On Ctrl-C or SIGTERM the bridge stops the device loop
(serial: back to the REPL) or kills qemu, and prints the device's link
statistics (heap free, frame counters) to stderr.

Exit status: 0 after Ctrl-C/SIGTERM, 1 if the device failed to start or
went away, 2 usage error."""
import argparse
import collections
import os
import selectors
import signal
import socket
import subprocess
import sys
import time

_PROG = "hourglass bridge"
DEFAULT_LISTEN = "127.0.0.1:5683"
DEFAULT_BOOT = "import coap_serial_demo; coap_serial_demo.run()"
QEMU_ARGS = ["-machine", "mps2-an386", "-nographic", "-monitor", "null", "-semihosting", "-serial", "stdio"]
_MAP_SIZE = 256  # remembered message IDs and tokens
_UDP_MAX = 2048


class BridgeError(Exception):
    pass


def _log(msg):
    try:
        print(_PROG + ": " + msg, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # stderr gone (the parent died): keep going, clean up


def _die_with_parent():
    """In the qemu child (Linux): SIGTERM when the bridge dies, even by
    SIGKILL, so no orphaned qemu keeps running."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def parse_hostport(spec, default_port=5683):
    """'HOST:PORT', '[v6]:PORT', 'HOST' or ':PORT' -> (host, port)."""
    s = spec.strip()
    if s.startswith("["):
        end = s.find("]")
        if end < 0:
            raise ValueError("bad address: " + spec)
        host, rest = s[1:end], s[end + 1:]
        port = rest[1:] if rest.startswith(":") else ""
    elif s.count(":") == 1:
        host, port = s.split(":")
    else:
        host, port = s, ""
    host = host or "127.0.0.1"
    try:
        port = int(port) if port else default_port
    except ValueError:
        raise ValueError("bad port in " + spec)
    if not 0 <= port <= 65535:
        raise ValueError("bad port in " + spec)
    return host, port


def looks_like_coap(dg):
    """Header sanity only: version 1, a token length the datagram holds."""
    return len(dg) >= 4 and dg[0] >> 6 == 1 and (dg[0] & 15) <= 8 and len(dg) >= 4 + (dg[0] & 15)


def summarize(dg):
    """One-line summary of a CoAP datagram for the --verbose log."""
    dg = bytes(dg)
    if len(dg) < 4 or dg[0] >> 6 != 1:
        return "non-CoAP %dB %s" % (len(dg), dg[:16].hex())
    t = ("CON", "NON", "ACK", "RST")[(dg[0] >> 4) & 3]
    tkl = dg[0] & 15
    code = dg[1]
    mid = (dg[2] << 8) | dg[3]
    tok = dg[4:4 + tkl].hex() if tkl <= 8 else "?"
    return "%s %d.%02d mid=%d tok=%s %dB" % (t, code >> 5, code & 31, mid, tok or "-", len(dg))


class PeerMap:
    """Where a device frame goes back to (see the module docstring)."""

    def __init__(self, size=_MAP_SIZE):
        self.size = size
        self.by_mid = collections.OrderedDict()
        self.by_token = collections.OrderedDict()
        self.last = None

    def _put(self, table, key, peer):
        table.pop(key, None)
        table[key] = peer
        while len(table) > self.size:
            table.popitem(last=False)

    def from_host(self, dg, peer):
        self.last = peer
        mtype = (dg[0] >> 4) & 3
        tkl = dg[0] & 15
        mid = (dg[2] << 8) | dg[3]
        if mtype in (0, 1):  # CON, NON: the device may ACK/RST this MID
            self._put(self.by_mid, mid, peer)
        if dg[1] != 0 and tkl <= 8:
            self._put(self.by_token, bytes(dg[4:4 + tkl]), peer)

    def to_host(self, dg):
        mtype = (dg[0] >> 4) & 3
        tkl = dg[0] & 15
        mid = (dg[2] << 8) | dg[3]
        if mtype in (2, 3):
            peer = self.by_mid.get(mid)
            if peer is not None:
                return peer
        if tkl <= 8 and dg[1] != 0:
            peer = self.by_token.get(bytes(dg[4:4 + tkl]))
            if peer is not None:
                return peer
        return self.last


# ---------------------------------------------------------------- device lines
class QemuLine:
    """qemu-system-arm with the image's UART0 on a pair of pipes."""

    name = "qemu"

    def __init__(self, elf, qemu_bin="qemu-system-arm", extra=()):
        if not os.path.isfile(elf):
            raise BridgeError("%s not found (build it with `make qemu`)" % elf)
        cmd = [qemu_bin] + QEMU_ARGS + list(extra) + ["-kernel", elf]
        self.cmd = cmd
        try:
            # own session: a Ctrl-C in the terminal reaches the bridge only,
            # which then stops qemu itself
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, bufsize=0, start_new_session=True,
                                         preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        except OSError as e:
            raise BridgeError("cannot start %s: %s" % (qemu_bin, e))
        self._in = self.proc.stdout.fileno()
        os.set_blocking(self._in, False)

    def fileno(self):
        return self._in

    def read(self):
        try:
            data = os.read(self._in, 4096)
        except BlockingIOError:
            return b""
        if not data:
            raise BridgeError("qemu exited (status %s)%s" % (self.proc.poll(), self._stderr()))
        return data

    def write(self, data):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise BridgeError("qemu exited (status %s)%s" % (self.proc.poll(), self._stderr()))

    def _stderr(self):
        if self.proc.poll() is None:
            return ""
        try:
            err = self.proc.stderr.read().decode("utf-8", "replace").strip()
        except OSError:
            err = ""
        return (": " + err) if err else ""

    def stop_device(self):
        pass  # qemu is killed in close()

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


class SerialLine:
    """A board on a serial port (pyserial)."""

    name = "serial"

    def __init__(self, port, baud):
        try:
            import serial
        except ImportError:
            raise BridgeError("pyserial is not installed (pip install pyserial)")
        try:
            self.ser = serial.Serial(port, baud, timeout=0, write_timeout=5)
        except (serial.SerialException, OSError) as e:
            raise BridgeError("cannot open %s: %s" % (port, e))

    def fileno(self):
        return self.ser.fileno()

    def read(self):
        try:
            return self.ser.read(max(1, self.ser.in_waiting))
        except Exception as e:
            raise BridgeError("serial port: %s" % e)

    def write(self, data):
        try:
            self.ser.write(data)
        except Exception as e:
            raise BridgeError("serial port: %s" % e)

    def stop_device(self):
        """Leave the board at its REPL: end a running serial loop."""
        import coap_slip

        try:
            self.ser.write(coap_slip.encode(b"\x00exit"))
            self.ser.flush()
        except Exception:
            pass

    def close(self):
        try:
            self.ser.close()
        except Exception:
            pass


# ---------------------------------------------------------------- the bridge
class Bridge:
    def __init__(self, line, sock, verbose=False):
        import coap_slip

        self.slip = coap_slip
        self.line = line
        self.sock = sock
        self.verbose = verbose
        self.decoder = coap_slip.Decoder(coap_slip.MAX_FRAME)
        self.peers = PeerMap()
        self.stopping = False
        self.stat_line = None
        self.ponged = False
        self.to_device = 0
        self.to_host = 0
        self.dropped = 0

    def log(self, msg):
        if self.verbose:
            _log(msg)

    # -- start-up
    def _read_until(self, marker, timeout, seen):
        end = time.monotonic() + timeout
        sel = selectors.DefaultSelector()
        sel.register(self.line, selectors.EVENT_READ)
        try:
            while marker not in seen:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                if sel.select(min(left, 0.2)):
                    seen += self.line.read()
            return True
        finally:
            sel.close()

    def boot(self, command, timeout):
        """Run `command` in the raw REPL; wait for the link's ready frame."""
        line = self.line
        seen = bytearray()
        line.write(b"\r\x03\x03")
        time.sleep(0.05)
        line.write(b"\x01")
        if not self._read_until(b"raw REPL; CTRL-B to exit\r\n>", timeout, seen):
            raise BridgeError("no raw REPL from the device within %.0f s (seen: %r)"
                              % (timeout, bytes(seen[-200:])))
        seen.clear()
        line.write(command.encode() + b"\x04")
        if not self._read_until(b"OK", timeout, seen):
            raise BridgeError("the raw REPL did not accept the boot command (seen: %r)"
                              % bytes(seen[-200:]))
        rest = bytes(seen[seen.find(b"OK") + 2:])
        self.wait_ready(timeout, rest)

    def wait_ready(self, timeout, pending=b""):
        """Discard line output until the device's ready frame; fail early if
        the boot command ended (the raw REPL's end-of-output marks)."""
        self.decoder.reset()
        seen = bytearray()
        end = time.monotonic() + timeout
        sel = selectors.DefaultSelector()
        sel.register(self.line, selectors.EVENT_READ)
        data = pending
        try:
            while True:
                seen += data
                for f in self.decoder.feed(data):
                    if f.startswith(b"\x00ready"):
                        _log("device ready: " + f[1:].decode("ascii", "replace"))
                        return
                if seen.count(b"\x04") >= 2:
                    break  # the command returned or raised
                left = end - time.monotonic()
                if left <= 0:
                    break
                data = self.line.read() if sel.select(min(left, 0.2)) else b""
        finally:
            sel.close()
        raw = bytes(seen).replace(b"\x04", b"\n").decode("utf-8", "replace").strip(" \r\n>")
        raise BridgeError("the device loop did not start%s"
                          % ((":\n" + raw[-800:]) if raw else " (no output)"))

    # -- relay
    def from_udp(self):
        try:
            dg, peer = self.sock.recvfrom(_UDP_MAX)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionError:
            return  # ICMP port unreachable from an earlier sendto
        if not looks_like_coap(dg):
            self.dropped += 1
            self.log("udp %s:%d -> dropped (not CoAP): %s" % (peer[0], peer[1], summarize(dg)))
            return
        if len(dg) > self.decoder.max_frame:
            self.dropped += 1
            self.log("udp %s:%d -> dropped (%d bytes > link MTU %d)"
                     % (peer[0], peer[1], len(dg), self.decoder.max_frame))
            return
        self.peers.from_host(dg, peer)
        self.to_device += 1
        self.log("udp %s:%d -> device  %s" % (peer[0], peer[1], summarize(dg)))
        self.line.write(self.slip.encode(dg))

    def from_line(self):
        data = self.line.read()
        for f in self.decoder.feed(data):
            if f[0] == 0:
                self.control(f)
                continue
            if not looks_like_coap(f):
                self.dropped += 1
                _log("device output outside a frame: %r" % f[:200])
                continue
            peer = self.peers.to_host(f)
            if peer is None:
                self.dropped += 1
                self.log("device -> dropped (no UDP peer yet)  %s" % summarize(f))
                continue
            self.to_host += 1
            self.log("device -> udp %s:%d  %s" % (peer[0], peer[1], summarize(f)))
            try:
                self.sock.sendto(f, peer)
            except OSError as e:
                self.log("sendto %s:%d failed: %s" % (peer[0], peer[1], e))

    def control(self, frame):
        text = frame[1:].decode("ascii", "replace")
        if text.startswith("stat"):
            self.stat_line = text
        elif text == "pong":
            self.ponged = True
        self.log("device control: " + text)

    def wait_pong(self, timeout):
        """--no-boot: check that a serial loop answers (ping every second)."""
        self.ponged = False
        end = time.monotonic() + timeout
        sel = selectors.DefaultSelector()
        sel.register(self.line, selectors.EVENT_READ)
        try:
            while not self.ponged:
                now = time.monotonic()
                if now >= end:
                    raise BridgeError("no answer to the link's ping within %.0f s: is the device's"
                                      " serial loop running (else drop --no-boot)?" % timeout)
                self.line.write(self.slip.encode(b"\x00ping"))
                stop = min(end, now + 1.0)
                while not self.ponged and time.monotonic() < stop:
                    if sel.select(0.1):
                        self.from_line()
        finally:
            sel.close()
        _log("device answers (--no-boot)")

    def serve(self):
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ, self.from_udp)
        sel.register(self.line, selectors.EVENT_READ, self.from_line)
        try:
            while not self.stopping:
                for key, _ in sel.select(0.5):
                    key.data()
        finally:
            sel.close()

    def query_stat(self, timeout=2.0):
        """Ask the device for its link statistics (heap free etc.)."""
        self.stat_line = None
        self.line.write(self.slip.encode(b"\x00stat"))
        end = time.monotonic() + timeout
        sel = selectors.DefaultSelector()
        sel.register(self.line, selectors.EVENT_READ)
        try:
            while self.stat_line is None and time.monotonic() < end:
                if sel.select(0.1):
                    self.from_line()
        finally:
            sel.close()
        return self.stat_line


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__
    dev = parser.add_mutually_exclusive_group(required=True)
    dev.add_argument("--serial", metavar="DEV", help="serial port of a board (e.g. /dev/ttyACM0)")
    dev.add_argument("--qemu", metavar="ELF", help="start qemu-system-arm (mps2-an386) with this image")
    parser.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                        help="UDP address to serve CoAP on (default %s)" % DEFAULT_LISTEN)
    parser.add_argument("--baud", type=int, default=115200, help="serial baud rate (default 115200)")
    parser.add_argument("--boot", default=DEFAULT_BOOT, metavar="CODE",
                        help="Python run in the raw REPL to start the device loop (default: %r)" % DEFAULT_BOOT)
    parser.add_argument("--no-boot", action="store_true",
                        help="the device already runs the serial loop: only check that it answers")
    parser.add_argument("--boot-timeout", type=float, default=20.0, metavar="S",
                        help="seconds to wait for the REPL and the ready frame (default 20)")
    parser.add_argument("--qemu-bin", default="qemu-system-arm", help="qemu executable")
    parser.add_argument("--qemu-arg", action="append", default=[], metavar="ARG",
                        help="extra qemu argument (repeatable), e.g. --qemu-arg=-icount --qemu-arg=shift=0")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every frame")


def _open_socket(host, port):
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)
    except socket.gaierror as e:
        raise BridgeError("bad --listen host %s: %s" % (host, e))
    fam, _, _, _, addr = infos[0]
    sock = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        raise BridgeError("cannot listen on %s:%d: %s" % (host, port, e))
    sock.setblocking(False)
    return sock


def run(args):
    try:
        host, port = parse_hostport(args.listen)
    except ValueError as e:
        _log(str(e))
        return 2

    def on_term(signum, frame):
        raise KeyboardInterrupt

    old_term = signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)  # also when started with SIGINT ignored
    line = sock = bridge = None
    status = 0
    try:
        sock = _open_socket(host, port)
        if args.qemu:
            line = QemuLine(args.qemu, args.qemu_bin, args.qemu_arg)
        else:
            line = SerialLine(args.serial, args.baud)
        bridge = Bridge(line, sock, args.verbose)
        if not args.no_boot:
            if args.serial:
                line.stop_device()  # a loop left by an earlier bridge
                time.sleep(0.2)
            bridge.boot(args.boot, args.boot_timeout)
        else:
            bridge.wait_pong(args.boot_timeout)
        bound = sock.getsockname()
        _log("serving CoAP on %s:%d for the %s device" % (bound[0], bound[1], line.name))
        bridge.serve()
    except KeyboardInterrupt:
        pass
    except BridgeError as e:
        _log(str(e))
        status = 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            if bridge is not None and status == 0:
                try:
                    stat = bridge.query_stat()
                    _log("device %s" % (stat or "stat: no answer"))
                except BridgeError:
                    pass
                _log("relayed %d datagrams to the device, %d back; %d dropped"
                     % (bridge.to_device, bridge.to_host, bridge.dropped))
        finally:
            if line is not None:
                line.stop_device()
                line.close()
            if sock is not None:
                sock.close()
            signal.signal(signal.SIGTERM, old_term)
            signal.signal(signal.SIGINT, signal.default_int_handler)
    return status
