# Board entry point of the hourglass device on the emulated Cortex-M4
# (boards/qemu_an386: qemu mps2-an386, 64 KiB RAM, no filesystem). The
# application is firmware/hg_device.py, as on every board; this file adds:
#   - state in "flash": one storage per part of the state ("hg", "oscore",
#     "eat", "suit"), kept in this module for the qemu session. The port
#     has no filesystem, so the records go to the board's SSRAM above the
#     code (0x300000-0x400000, memory-mapped like a small MCU's internal
#     flash, as the 64 KiB end-to-end test does), not to the 51 KiB heap:
#     only a 16-byte handle per record stays there. Records are appended
#     and never rewritten in place (the hgstore contract: a value read
#     stays valid); 1 MiB lasts a demo session ("flash full" otherwise);
#   - the /suit/manifest upload buffer: a 64 KiB staging area in that
#     flash, set aside at the first run (Device upload=), so an envelope
#     never needs a free run of heap that long;
#   - keygen(ENTROPY_HEX): the device's EAT key made ON the device, one LMS
#     level of H5 / LM-OTS W4 (32 tokens: the default 2 x H10 key's node
#     caches are 64 KiB each, more than the whole RAM), printed as one JSON
#     line {"ueid", "eat_pub", "leaves"} (host: device_cmd.parse_keygen).
#     The emulated board has no TRNG: the host's entropy seeds it (_Rand);
#   - the Device in lean mode (hg_device: SUIT and EAT modules imported per
#     use and dropped), its long-lived modules imported first (_CORE);
#   - run(config): the device over CoAP/SLIP on UART0 (coap_serial, the
#     host side is `hourglass bridge`), config = the config.json text the
#     host made (it is in the boot command: there is no file to copy it to);
#   - console lines as link control frames b"\x00log <text>": the UART
#     carries SLIP frames, so plain text would reach the bridge as a bogus
#     datagram ("hg: ..." even passes for a CoAP header);
#   - exit code 3 (update staged or installed, POST /reset, trial not
#     confirmed): a WARM restart - a new Device on the same RAM state, in
#     this process, after dropping every module the old one imported. A
#     real board resets and finds its state in flash; here RAM is the
#     "flash" and survives. A staged update is installed by the Device at
#     the boot that follows (hg_device lean mode), which restarts again.
#
#   raw REPL: import hg_qemu; hg_qemu.keygen('<64 hex digits or more>')
#             import hg_qemu; hg_qemu.run('{"version": 1, ...}')
# Heap (make run BOARD=qemu_an386 prints it): see boards/qemu_an386/README.md.
# run() returns when the link gets its exit control frame (hourglass bridge
# on a serial line sends it at the end), or after logging an error that
# stopped the device.
import gc
import sys

from hgstore import MemoryStorage, check_name

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_TICK_MS = const(100)  # hg_device.TICK_MS
_EXIT_RESTART = const(3)
_MAX_RESTARTS = const(16)  # a device that restarts in a loop stops here
_STABLE_MS = const(10000)  # ... a loop: each boot ended within this time
_MAX_LOG = const(200)  # bytes of one console line
_FLASH_BASE = const(0x00300000)  # the images' code ends below 1.5 MB of the 4 MiB SSRAM
_FLASH_END = const(0x00400000)
_BLOB_MAX = const(65536)  # one blob record (a firmware slot, an LMS node cache)
_UPLOAD = const(65536)  # hg_device.MAX_ENVELOPE
# Modules that live across a warm restart: the RAM state (hgstore objects)
# and the board's own; everything else is imported again by the new Device.
_KEEP = ("hg_qemu", "hgstore", "time", "coap_slip", "coap_serial", "__main__")
# What the Device keeps while it serves, imported before anything else: the
# heap does not move objects, so long-lived ones first (low and together),
# then the on-demand groups above them (hg_device.LEAN_DROP) free as a block.
_CORE = ("coap_msg", "coap_ep", "coap_server", "cbor", "hgcrypto", "oscore", "oscore_server",
         "hg_device", "default_app")

_stores = {}
_upload = None
_fnext = _FLASH_BASE  # the next free byte of the flash area


def _flash(n):
    # n bytes of the flash area (a bytearray over it, no heap but its header)
    global _fnext
    import uctypes

    a = _fnext
    if a + n > _FLASH_END:
        raise OSError(28, "flash full")
    _fnext = (a + n + 3) & ~3
    return uctypes.bytearray_at(a, n)


def _on_board():
    # the flash area exists only on the qemu board (elsewhere: the heap)
    return sys.platform == "qemu"


def storage(sub):
    """The storage of one part of the device state (Device storage=)."""
    st = _stores.get(sub)
    if st is None:
        st = _FlashStorage() if _on_board() else MemoryStorage()
        _stores[sub] = st
    return st


def upload_buffer():
    """The /suit/manifest staging area (Device upload=)."""
    global _upload
    if _upload is None and _on_board():
        _upload = _flash(_UPLOAD)
    return _upload


class _FlashStorage(MemoryStorage):
    """MemoryStorage (hgstore) whose values live in the flash area: a write
    copies the data to a new record there (the old one stays valid for
    whoever still reads it) and keeps a handle in `durable`."""

    def write(self, name, data):
        check_name(name)
        rec = _flash(len(data))
        rec[:] = data
        self.durable[name] = rec

    def open_blob(self, name):
        return _FlashBlob(self, check_name(name))


class _FlashBlob:
    """A blob record written sequentially into _BLOB_MAX bytes of flash,
    given back down to its length at commit() when nothing came after it."""

    def __init__(self, st, name):
        self._st = st
        self._name = name
        self._at = _fnext
        self._buf = _flash(_BLOB_MAX)
        self._n = 0

    def write(self, data):
        end = self._n + len(data)
        if end > _BLOB_MAX:
            raise OSError(28, "record over %d bytes" % _BLOB_MAX)
        self._buf[self._n:end] = data
        self._n = end

    def commit(self):
        global _fnext
        import uctypes

        if self._buf is None:
            raise OSError(22, "committed")
        self._buf = None
        if _fnext == self._at + _BLOB_MAX:
            _fnext = (self._at + self._n + 3) & ~3
        self._st.durable[self._name] = uctypes.bytearray_at(self._at, self._n)


def free():
    gc.collect()
    try:
        return gc.mem_free()
    except AttributeError:  # CPython
        return -1


def _unload():
    # Module objects (globals, classes, functions) of frozen code still take
    # heap (about 40 KiB for the whole device on this board): drop them so
    # the restarted Device imports what it needs into a clean heap.
    for name in list(sys.modules):
        if name not in _KEEP:
            del sys.modules[name]
    gc.collect()


class _Rand:
    """rand(n) for keygen on a board with no entropy source (the emulated
    mps2-an386 has no TRNG and the 1.25 port no os.urandom): SHA-256 in
    counter mode over a seed = the host's entropy || clock jitter samples.
    NOT a secure source: whoever knows the host's bytes can guess the key.
    It stands in for a real board's TRNG (os.urandom) in the demo only."""

    def __init__(self, entropy):
        import hashlib
        import time

        if len(entropy) < 32:
            raise ValueError("at least 32 bytes of host entropy")
        h = hashlib.sha256(b"hg-qemu-seed")
        h.update(entropy)
        t = bytearray(4)
        for _ in range(64):  # cheap jitter of the 1 MHz clock under qemu
            x = time.ticks_us()
            t[0], t[1], t[2], t[3] = x & 255, (x >> 8) & 255, (x >> 16) & 255, (x >> 24) & 255
            h.update(t)
        self._seed = h.digest()
        self._n = 0

    def __call__(self, n):
        import hashlib

        out = bytearray()
        while len(out) < n:
            self._n += 1
            h = hashlib.sha256(self._seed)
            h.update(self._n.to_bytes(4, "big"))
            out.extend(h.digest())
        return bytes(out[:n])


def keygen(entropy=None):
    """Make the device's EAT key if there is none; print the JSON line.
    entropy: hex of at least 32 random bytes from the host, needed when the
    port has no os.urandom (see _Rand)."""
    import binascii
    import json

    import hg_device
    import lms

    rand = None
    try:
        import os

        os.urandom
    except (ImportError, AttributeError):
        if entropy is None:
            raise ValueError("this port has no os.urandom: keygen(HOST_ENTROPY_HEX)")
        rand = _Rand(binascii.unhexlify(entropy))
    out = hg_device.keygen(None, [(lms.LMS_SHA256_M32_H5, lms.LMOTS_SHA256_N32_W4)], storage("eat"),
                           rand)
    out = json.dumps(out)
    hg_device = lms = rand = None
    _unload()
    print(out)


class _Console:
    """Console lines as SLIP control frames on the link's line."""

    def __init__(self, write):
        import coap_slip

        self._frame = coap_slip.write_frame
        self._write = write

    def __call__(self, text):
        b = text.encode()
        if len(b) > _MAX_LOG:
            b = b[:_MAX_LOG]
        self._frame(self._write, b"\x00log " + b)


def _io():
    import coap_serial

    return coap_serial.BoardUART()


class _Relay:
    """The link's endpoint: the current Device's (the link, its buffers
    allocated first and low in the heap, outlives the warm restarts).
    Between two Devices a datagram is dropped (the client retransmits)."""

    def __init__(self):
        self.ep = None

    def receive(self, datagram, peer, now_ms):
        return () if self.ep is None else self.ep.receive(datagram, peer, now_ms)

    def poll(self, now_ms):
        return () if self.ep is None else self.ep.poll(now_ms)

    def drain(self):
        return () if self.ep is None else self.ep.drain()

    def next_timeout_ms(self, now_ms):
        return None if self.ep is None else self.ep.next_timeout_ms(now_ms)


def run(config, io=None, hw=None, clock=None):
    """Serve the device on the board's UART (io: a coap_serial I/O object)."""
    import coap_serial
    import coap_slip

    io = io or _io()
    log = _Console(io.write)
    relay = _Relay()
    link = coap_serial.SerialLink(relay, io, clock=clock)
    kbd = None
    try:
        import micropython

        kbd = micropython.kbd_intr
        kbd(-1)  # frames carry 0x03 bytes
    except (ImportError, AttributeError):
        kbd = None
    coap_slip.write_frame(io.write, b"\x00ready hgslip/1 mtu=%d" % coap_slip.MAX_FRAME)
    try:
        restarts = 0
        while True:
            code, ran_ms = _serve(config, link, relay, log, hw, clock)
            if code != _EXIT_RESTART:
                return code
            # an update takes two restarts (staged, installed): only quick
            # ones in a row make a loop
            restarts = restarts + 1 if ran_ms < _STABLE_MS else 1
            log("hg: restart requested (exit %d)" % code)
            if restarts > _MAX_RESTARTS:
                log("hg: %d restarts in a row, each within %d s of the last: stopped"
                    % (restarts, _STABLE_MS // 1000))
                return code
            _unload()
            log("hg: warm restart: a new Device on the same RAM state (a real board resets and"
                " keeps its state in flash); heap free %d" % free())
    except Exception as e:  # the console is the only way out: say what stopped
        log("hg: stopped by %s: %s" % (type(e).__name__, e))
        raise
    finally:
        if kbd is not None:
            kbd(3)


def _serve(config, link, relay, log, hw, clock):
    # One boot of the Device: (its exit code, or None after the link's exit
    # frame; how long it ran, ms).
    for name in _CORE:
        __import__(name)
    import hg_device

    kw = {}
    if clock is not None:
        kw["clock"] = clock
    dev = hg_device.Device(None, storage=storage, config=config, hw=hw, out=log, lean=True,
                           upload=upload_buffer(), **kw)
    t0 = dev.clock()
    try:
        dev.start()
        log("hg: heap free %d after start-up" % free())
        code = dev.exit_code
        if code is None:
            relay.ep = dev.ep
            try:
                code = _loop(dev, link, hg_device.tdiff)
            finally:
                relay.ep = None
        return code, hg_device.tdiff(dev.clock(), t0)
    finally:
        dev.close()


def _loop(dev, link, tdiff):
    link.running = True
    link.poll()
    srv = dev.srv
    errors = srv.errors
    from hg_device import heap_note

    last = dev.clock()
    while dev.exit_code is None:
        if not link.running:
            return None  # exit control frame: back to the REPL
        try:
            frames = link.rx_frames
            if not link.step():
                link.wait()
            if link.rx_frames != frames:
                # a request's garbage goes at once: what the next one keeps
                # (duplicate cache, Observe state) then fills the lowest holes
                # instead of landing above that garbage and splitting the heap
                gc.collect()
                if srv.errors != errors:
                    # answered 5.00 (coap_server catches it, MemoryError too)
                    errors = srv.errors
                    dev.log("request failed: %r (heap: %s)" % (srv.last_error, heap_note()))
            now = dev.clock()
            if tdiff(now, last) >= _TICK_MS:
                last = now
                dev.tick(now)
                link.poll()  # send what tick() queued (notifications, responses)
        except MemoryError:
            # one request too big for the heap (the link drops its frame):
            # the device goes on serving the others
            link.decoder.reset()
            dev.log("out of heap (%d bytes free after collection); request dropped" % free())
    return dev.exit_code
