# Shared pieces of the portable CoAP/OSCORE tests: a seeded byte source for
# Endpoint/Server `rand`, a storage for OSCORE contexts, a sink that checks a
# body as it streams, and the in-memory link between a client endpoint "C"
# and a server endpoint "S".


def seq_rand(seed=1):
    """rand(n) -> n bytes from a fixed LCG: repeatable message IDs, tokens, ETags."""
    state = [seed]

    def r(n):
        out = bytearray(n)
        x = state[0]
        for i in range(n):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            out[i] = (x >> 16) & 255
        state[0] = x
        return bytes(out)

    return r


class DictStorage:
    """The part of hgstore's storage interface oscore uses (read, atomic
    write). Importing hgstore for MemoryStorage would cost ~3.5 KB of heap
    (64-bit unix, frozen), about half that on the 64 KiB image."""

    def __init__(self):
        self.d = {}

    def read(self, name):
        return self.d.get(name)

    def write(self, name, data):
        self.d[name] = bytes(data)


class Check:
    """A sink (server uploads, client downloads) that compares what it is
    given with `ref` and keeps nothing: no buffer the size of the body to
    find room for on the 64 KiB image's fragmented heap."""

    def __init__(self, ref):
        self.ref = ref
        self.n = 0
        self.ok = True

    def write(self, chunk):
        ref = self.ref
        n = self.n
        if n + len(chunk) > len(ref):
            self.ok = False
        else:
            for i in range(len(chunk)):
                if chunk[i] != ref[n + i]:
                    self.ok = False
                    break
        self.n = n + len(chunk)

    def abort(self):
        self.ok = False


class MemoryLink:
    """Delivers datagrams between self.cep (peer "C") and self.sep (peer "S")
    until both are quiet, on one clock (self.now). Subclasses build the
    endpoints and self.client. tamper(dst, data) may rewrite a datagram or
    drop it (None); seen(dst, data) is called for every delivered one."""

    now = 0
    tamper = None

    def seen(self, dst, data):
        pass

    def _deliver(self, out, to):
        queue = [(d, to) for d, _ in out]
        while queue:
            data, dst = queue.pop(0)
            if self.tamper is not None:
                data = self.tamper(dst, data)
                if data is None:
                    continue
            self.seen(dst, data)
            if dst == "S":
                queue.extend([(d, "C") for d, _ in self.sep.receive(data, "C", self.now)])
            else:
                queue.extend([(d, "S") for d, _ in self.cep.receive(data, "S", self.now)])

    def flush(self):
        self._deliver(self.cep.drain(), "S")
        self._deliver(self.sep.drain(), "C")

    def request(self, method, path, **kw):
        ex = self.client.request("S", method, path, now=self.now, **kw)
        self.flush()
        return ex
