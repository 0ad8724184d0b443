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


class ImageServer:
    """An aiocoap server in a thread serving bytes at coap://127.0.0.1:PORT/PATH
    ({"fw/image.bin": data, ...}; the ETag of each is the first 4 bytes of
    its SHA-256): the update server a device fetches payloads from,
    block-wise. close() stops it."""

    def __init__(self, files, port=None):
        import asyncio
        import hashlib
        import threading

        import aiocoap
        import aiocoap.resource as aio_resource

        class _File(aio_resource.Resource):
            def __init__(self, data):
                super().__init__()
                self.data = data

            async def render_get(self, request):
                return aiocoap.Message(payload=self.data, etag=hashlib.sha256(self.data).digest()[:4])

        self.port = port or free_udp_port()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._stop = None

        async def serve():
            site = aio_resource.Site()
            for path, data in files.items():
                site.add_resource(path.split("/"), _File(data))
            ctx = await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", self.port))
            self._stop = asyncio.Event()
            ready.set()
            await self._stop.wait()
            await ctx.shutdown()

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(serve()), daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("the aiocoap image server did not start on port %d" % self.port)

    def close(self):
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)
        self.loop.close()
