# Board entry point of the hourglass device: what main.py on an ESP32 or
# nRF52840 board runs (`import hg_main; hg_main.main()`). The application
# is firmware/hg_device.py (frozen); this file only adds the board:
#   - state folder /hg on the board's filesystem (config.json written by
#     host provisioning, e.g. `mpremote cp config.json :/hg/config.json`)
#   - safe mode: the file /hg/SAFE exists, or the button (BUTTON_PIN,
#     active low) is held at boot: no app, only /status
#   - watchdog (machine.WDT, WDT_MS; once provisioned) fed by the main loop and during long
#     SUIT fetches (the device's feed hook)
#   - ESP32: Wi-Fi station from config.json's optional "wifi": {"ssid",
#     "password"}, then CoAP over UDP port 5683
#   - nRF52840 (no IP stack): CoAP over SLIP on the USB-CDC console line
#     (coap_serial.StdioIO); the host runs `hourglass bridge`. Console lines
#     are switched off there (quiet): they would share the line.
#   - exit code 3 (restart requested: update installed, POST /reset,
#     trial not confirmed) -> machine.reset(); the bootloader then starts
#     the same firmware, and hg_device's trial boot picks the new app.
# Nothing here runs on the unix port (firmware/hg_unix.py is that entry).
import sys

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


STATE = "/hg"
WDT_MS = const(10000)
BUTTON_PIN = None  # board pin of a safe-mode button (e.g. 0: ESP32 BOOT), None: none
LED_PIN = None  # board pin of the /led LED, None: console line only
WIFI_TIMEOUT_MS = const(20000)
PORT = const(5683)


class BoardHW:
    """LED on LED_PIN; temperature from the ESP32's internal sensor or the
    nRF's TEMP peripheral where the port exposes one, else simulated."""

    def __init__(self, log):
        self._log = log
        self._pin = None
        self._sim = None
        if LED_PIN is not None:
            try:
                import machine

                self._pin = machine.Pin(LED_PIN, machine.Pin.OUT)
            except (ImportError, ValueError, OSError):
                self._pin = None

    def led(self, on):
        if self._pin is not None:
            self._pin.value(1 if on else 0)
        else:
            self._log("led " + ("on" if on else "off"))

    def temperature(self, t_ms):
        try:
            import esp32

            return esp32.mcu_temperature()  # deg C (ESP32-S2/S3/C3 ports)
        except (ImportError, AttributeError, OSError):
            pass
        if self._sim is None:
            import hg_device

            self._sim = hg_device.SimHW(self._log)
        return self._sim.temperature(t_ms)


def _button_held():
    if BUTTON_PIN is None:
        return False
    try:
        import machine

        return machine.Pin(BUTTON_PIN, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0
    except (ImportError, ValueError, OSError):
        return False


def _wdt():
    try:
        import machine

        return machine.WDT(timeout=WDT_MS)
    except (ImportError, AttributeError, ValueError, OSError):
        return None


def _is_esp32():
    return sys.platform.startswith("esp32")


def wifi_up(cfg, feed, log):
    """Connect the station interface; True when it has an address."""
    import time

    import network

    w = (cfg or {}).get("wifi") or {}
    ssid = w.get("ssid")
    if not ssid:
        log("no wifi in config.json")
        return False
    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    if not sta.isconnected():
        sta.connect(ssid, w.get("password", ""))
        t0 = time.ticks_ms()
        while not sta.isconnected():
            if time.ticks_diff(time.ticks_ms(), t0) > WIFI_TIMEOUT_MS:
                log("wifi: no connection to " + ssid)
                return False
            feed()
            time.sleep_ms(100)
    log("wifi: " + sta.ifconfig()[0])
    return True


def serve_udp(dev):
    import coap_udp

    t = coap_udp.UDPTransport(dev.ep, "0.0.0.0", PORT)
    dev.log("serving on port %d" % PORT)

    def tick(now):
        dev.tick(now)
        if dev.exit_code is not None:
            t.close()

    try:
        t.serve(tick, 100)
    finally:
        t.close()


def serve_serial(dev):
    import time

    import coap_serial

    link = coap_serial.SerialLink(dev.ep, coap_serial.default_io())
    link.running = True
    link.poll()
    last = time.ticks_ms()
    while dev.exit_code is None:
        if not link.step():
            link.wait()
        now = time.ticks_ms()
        if time.ticks_diff(now, last) >= 100:
            last = now
            dev.tick(now & 0x3FFFFFFF)
            link.poll()  # send what tick() queued (notifications, responses)


def main():
    import gc

    import hg_device

    wdt = [None]  # started once provisioned: an unprovisioned board keeps its REPL

    def feed():
        if wdt[0] is not None:
            wdt[0].feed()

    serial = not _is_esp32()
    log = (lambda text: None) if serial else None
    safe = _button_held() or hg_device._exists(STATE + "/SAFE")
    dev = hg_device.Device(STATE, hw=BoardHW(print if log is None else log), safe=safe,
                           quiet=serial, feed=feed, out=log)
    dev.start()
    if dev.mode != "unprovisioned":
        wdt[0] = _wdt()
    gc.collect()
    try:
        if dev.exit_code is None:
            if serial:
                serve_serial(dev)
            elif wifi_up(dev.cfg, feed, dev.log):
                serve_udp(dev)
            else:
                dev.log("no network: serving nothing; fix config.json and reset")
                import time

                while True:  # Ctrl-C reaches the REPL; the WDT stays fed until then
                    feed()
                    time.sleep_ms(1000)
    finally:
        dev.close()
    if dev.exit_code == hg_device.EXIT_RESTART:
        import machine

        machine.reset()
