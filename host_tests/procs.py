# Helpers for host tests that start peers (our demo servers, aiocoap, libcoap)
# on loopback: a free UDP port, and stopping a process without leaving it behind.
import socket
import subprocess


def free_udp_port():
    """A UDP port on 127.0.0.1 that nothing is bound to right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop_process(proc, timeout=5):
    """SIGTERM, then SIGKILL if it has not exited within timeout seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
