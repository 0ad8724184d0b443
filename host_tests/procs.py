# Helpers for host tests that start peers (our demo servers, aiocoap, libcoap)
# on loopback: a free UDP port, waiting until a demo server answers, and
# stopping a process without leaving it behind.
import socket
import subprocess
import time


def free_udp_port():
    """A UDP port on 127.0.0.1 that nothing is bound to right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def coap_ready(port, timeout=20.0):
    """True once GET /hello on 127.0.0.1:port answers 2.05 (raw CoAP over a
    CPython socket: firmware/coap_demo.py's resource)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    req = bytes([0x41, 0x01, 0x00, 0x01, 0x55, 0xB5]) + b"hello"
    end = time.time() + timeout
    try:
        while time.time() < end:
            s.sendto(req, ("127.0.0.1", port))
            try:
                data, _ = s.recvfrom(2048)
                if data[1] == 0x45:
                    return True
            except (socket.timeout, ConnectionRefusedError):
                time.sleep(0.05)
        return False
    finally:
        s.close()


def stop_process(proc, timeout=5):
    """SIGTERM, then SIGKILL if it has not exited within timeout seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
