# The contract between the SUIT command processor (suit_processor) and the
# device it runs on. The processor interprets authenticated manifests; it
# never touches storage, sockets or clocks itself. A Platform gives it:
#
#   identity       vendor / class / device UUIDs the conditions compare
#   components     which component IDs exist, and the slot each one targets
#   staging        a Writer into the slot an update writes (never the
#                  running one), digest computed while the bytes stream in
#   fetch          bytes from a URI streamed into a Writer (CoAP block-wise
#                  on the device; integrated payloads are resolved by the
#                  processor and never reach fetch())
#   keys           key-encryption keys for A256KW (encrypted payloads)
#   state          the stored anti-rollback sequence number; commit() of a
#                  finished update (slots marked pending, sequence raised),
#                  abort() of a failed one
#
# A component ID is a list of bytes (SUIT_Component_Identifier). Every
# method raises SuitError (suit_envelope) with a SUIT_ERR_* code on failure;
# any other exception escaping a platform is a bug in the platform.
#
# Phases. The processor calls begin_update(env) before the first command
# of an update (payload-fetch, install, validate) and then exactly one of
# commit_update(env, cids) or abort_update(); begin_boot(env) before the
# commands of a boot (validate, load, invoke). During an update, slot(cid)
# is the staging slot of cid (the one an install writes, never the running
# one), so an A/B manifest's condition-component-slot picks the right
# alternative; digest(cid) and reader(cid) refer to the staged content of
# components written so far in this update and to the active content of the
# others. During a boot, all three refer to the active slot.
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from suit_envelope import SuitError

# suit_envelope's values (private consts take no RAM; host_tests/test_const_sync.py
# checks they match)
_SUIT_ERR_UNSUPPORTED = const(-2)


DIGEST_CHUNK = const(512)  # read size when a slot has to be re-hashed


class Writer:
    """Streams one image into a staging slot.

    write(buf): append (any bytes-like; the Writer copies what it keeps).
        Raises SuitError(SUIT_ERR_NO_MEM) once more than `limit` bytes
        (given to open_writer) would be written: nothing past the limit
        reaches storage.
    size: bytes written so far.
    digest(): SHA-256 of everything written (computed while streaming;
        the writer may be finished or not).
    finish(): the image is complete: flush it to the staging slot (durable
        when it returns). Bytes are not visible to digest(cid)/reader(cid)
        before finish().
    discard(): drop what was written; the staging slot holds nothing valid.
    """

    size = 0

    def write(self, buf):
        raise SuitError(_SUIT_ERR_UNSUPPORTED, "write")

    def digest(self):
        raise SuitError(_SUIT_ERR_UNSUPPORTED, "digest")

    def finish(self):
        raise SuitError(_SUIT_ERR_UNSUPPORTED, "finish")

    def discard(self):
        pass


class Platform:
    """Base class: everything unsupported until a platform says otherwise."""

    # identity: 16-byte UUIDs, or None where the device has none
    vendor_id = None
    class_id = None
    device_id = None

    def has_component(self, cid):
        """True if the device knows component `cid` (list of bytes)."""
        return False

    def slot(self, cid):
        """The slot number (int) `cid` targets in the current phase (see the
        top), or None for a component without slots."""
        return None

    def capacity(self, cid):
        """Most bytes `cid` can hold (int), or None: bounds fetch/copy when
        a manifest gives no image-size."""
        return None

    def open_writer(self, cid, limit):
        """A Writer into the staging slot of `cid` (truncated), accepting at
        most `limit` bytes. Only valid during an update."""
        raise SuitError(_SUIT_ERR_UNSUPPORTED, "write to component")

    def digest(self, cid):
        """(sha256 bytes, size) of the content `cid` currently targets, or
        None when it holds nothing valid."""
        return None

    def reader(self, cid):
        """An iterable of bytes chunks (bounded size) of that content, for
        copy and check-content; None when it holds nothing valid."""
        return None

    def fetch(self, uri, writer):
        """Stream the resource `uri` (str) into `writer` with write() calls
        (not finish()). SuitError(SUIT_ERR_UNSUPPORTED) for a scheme the
        device cannot fetch, SuitError(SUIT_ERR_FETCH) when it fails."""
        raise SuitError(_SUIT_ERR_UNSUPPORTED, "fetch")

    def kek(self, kid, alg):
        """The key-encryption key (bytes) for recipient `kid` (bytes or
        None) and COSE algorithm `alg` (A256KW = -5), or None."""
        return None

    def invoke(self, cid, args):
        """Hand control to `cid` (args: bytes or None). On the device this
        records what to start after processing; it returns."""
        raise SuitError(_SUIT_ERR_UNSUPPORTED, "invoke")

    # -------------------------------------------------------------- state

    def stored_sequence(self):
        """The sequence number of the last installed manifest (int; -1 when
        none was ever installed)."""
        return -1

    def begin_update(self, env):
        pass

    def commit_update(self, env, cids):
        """The update procedure of the authenticated envelope `env` succeeded
        for components `cids` (list of component IDs written). Make it
        durable, in an order that survives a power cut at any instant: mark
        the staged slots pending (trial boot), then raise the stored
        sequence number to env.sequence_number."""
        raise SuitError(_SUIT_ERR_UNSUPPORTED, "install")

    def abort_update(self):
        """The update failed: discard every staging slot opened since
        begin_update(). The active slots were never written."""

    def begin_boot(self, env):
        pass
