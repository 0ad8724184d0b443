# SUIT command-sequence processor (draft-ietf-suit-manifest-37 section 8).
#
# process_update(env, platform, report=None): anti-rollback check, then
#   payload-fetch, install, validate (each preceded by the shared sequence);
#   platform.commit_update(env, written) on success, platform.abort_update()
#   on any failure, and the SuitError is re-raised.
# check_update(env, stored_sequence, in_trial=False, report=None): the
#   anti-rollback and trial checks alone, before an envelope is kept.
# process_boot(env, platform, report=None): rollback check (a manifest older
#   than platform.stored_sequence() is refused), then validate, load, invoke.
#
# env must come from suit_envelope.authenticate(). The device is reached only
# through the Platform contract (suit_platform); images are streamed through
# Writers chunk by chunk and never held in RAM. Commands are read one at a
# time from the command-sequence bstr (byte offsets kept for the report);
# parameter values are zero-copy views of the manifest.
#
# Semantics: parameters are per component; override-parameters overwrites,
# set-parameters only fills unset ones. set-component-index takes a uint, an
# array of uints or true; a command then runs once per selected component
# (try-each/run-sequence too, with that single index inside; the outer index
# is restored after them). A failed condition ends the sequence: inside
# try-each (soft-failure defaults to true) the next alternative runs, inside
# run-sequence with soft-failure true the run-sequence ends quietly,
# anywhere else the procedure aborts. A failed directive always aborts.
# strict-order false is accepted; commands still run in order.
#
# Bounds: _MAX_SEQ commands per sequence, _MAX_NEST levels of try-each /
# run-sequence, _MAX_STEPS command executions per procedure, _MAX_TRY
# alternatives; every writer is limited by image-size (or the component's
# capacity when the platform has a capacity(cid) method); fetch/copy with
# neither are refused (SUIT_ERR_POLICY_FORBIDDEN).
#
# Error codes: conditions SUIT_ERR_COND (image-match digest:
# SUIT_ERR_DIGEST_MISMATCH, condition-abort: SUIT_ERR_ABORT); unknown
# commands, parameters, components, dependencies, swap: SUIT_ERR_UNSUPPORTED;
# malformed sequences, arguments or missing parameters:
# SUIT_ERR_INVALID_MANIFEST; caps: SUIT_ERR_NO_MEM; fetch failures and
# payloads shorter than image-size: SUIT_ERR_FETCH; a failed copy/write:
# SUIT_ERR_ABORT. Runs on CPython and MicroPython; needs cbor, hgcrypto,
# suit_envelope (suit_crypt only for encrypted payloads).
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


import cbor
import hgcrypto

from suit_envelope import SuitError, member

# suit_envelope's values (private consts take no RAM; host_tests/test_const_sync.py
# checks they match)
_ALG_SHA256 = const(-16)
_SHA256_LEN = const(32)
_MAX_COMPONENTS = const(16)
_SUIT_ERR_INVALID_MANIFEST = const(-1)
_SUIT_ERR_UNSUPPORTED = const(-2)
_SUIT_ERR_COND = const(-4)
_SUIT_ERR_SEQUENCE_NUMBER = const(-5)
_SUIT_ERR_AUTHENTICATION = const(-6)
_SUIT_ERR_DIGEST_MISMATCH = const(-7)
_SUIT_ERR_POLICY_FORBIDDEN = const(-8)
_SUIT_ERR_NO_MEM = const(-9)
_SUIT_ERR_FETCH = const(-11)
_SUIT_ERR_ABORT = const(-12)


# Manifest / common keys this module looks at (beyond suit_envelope's)
_M_SEQUENCE_NUMBER = const(2)
_M_COMMON = const(3)
_M_VALIDATE = const(7)
_M_LOAD = const(8)
_M_INVOKE = const(9)
_M_DEPENDENCY_RESOLUTION = const(15)
_M_PAYLOAD_FETCH = const(16)
_M_INSTALL = const(20)
_MANIFEST_KEYS = const((1, 2, 3, 4, 7, 8, 9, 16, 20, 23))
_C_DEPENDENCIES = const(1)
_C_COMPONENTS = const(2)
_C_SHARED_SEQUENCE = const(4)

# Conditions
_CND_VENDOR_IDENTIFIER = const(1)
_CND_CLASS_IDENTIFIER = const(2)
_CND_IMAGE_MATCH = const(3)
_CND_COMPONENT_SLOT = const(5)
_CND_CHECK_CONTENT = const(6)
_CND_ABORT = const(14)
_CND_DEVICE_IDENTIFIER = const(24)
# Directives
_DIR_SET_COMPONENT_INDEX = const(12)
_DIR_TRY_EACH = const(15)
_DIR_WRITE = const(18)
_DIR_SET_PARAMETERS = const(19)
_DIR_OVERRIDE_PARAMETERS = const(20)
_DIR_FETCH = const(21)
_DIR_COPY = const(22)
_DIR_INVOKE = const(23)
_DIR_SWAP = const(31)
_DIR_RUN_SEQUENCE = const(32)
# Parameters
_P_VENDOR_ID = const(1)
_P_CLASS_ID = const(2)
_P_IMAGE_DIGEST = const(3)
_P_COMPONENT_SLOT = const(5)
_P_STRICT_ORDER = const(12)
_P_SOFT_FAILURE = const(13)
_P_IMAGE_SIZE = const(14)
_P_CONTENT = const(18)
_P_ENCRYPTION_INFO = const(19)
_P_URI = const(21)
_P_SOURCE_COMPONENT = const(22)
_P_INVOKE_ARGS = const(23)
_P_DEVICE_ID = const(24)

# Reporting policy bits
_POLICY_RECORD_SUCCESS = const(1)
_POLICY_RECORD_FAILURE = const(2)
_POLICY_SYSINFO_SUCCESS = const(4)
_POLICY_SYSINFO_FAILURE = const(8)

# Report reasons used to refine a code (suit_report numbers)
_R_COMMAND = const(5)
_R_COMPONENT = const(6)
_R_PARAMETER = const(8)
_R_SEVERING = const(9)
_R_CONDITION = const(10)
_R_OPERATION = const(11)

# Caps
_MAX_SEQ = const(64)  # commands in one command sequence
_MAX_NEST = const(4)  # try-each / run-sequence nesting
_MAX_STEPS = const(1024)  # command executions per procedure (all components)
_MAX_TRY = const(8)  # try-each alternatives
_MAX_PARAMS = const(16)  # entries of one set/override-parameters map
_CHUNK = const(512)  # bytes per write() of integrated payloads and content
_ARG_DEPTH = const(4)
_ARG_ITEMS = const(64)

# Parameter types, indexed by key (a bytes literal: no heap when frozen):
# 0 bstr, 1 uint, 2 bool, 3 tstr, 255 unsupported. vendor-id 1, class-id 2,
# image-digest 3: bstr; component-slot 5: uint; strict-order 12, soft-failure
# 13: bool; image-size 14: uint; content 18, encryption-info 19: bstr; uri 21:
# tstr; source-component 22: uint; invoke-args 23, device-id 24: bstr.
_PARAM_KINDS = const(b"\xff\x00\x00\x00\xff\x01\xff\xff\xff\xff\xff\xff\x02\x02\x01\xff\xff\xff\x00\x00\xff\x03\x01\x00\x00")


# The commands run per component, and the _Proc method of each (literal
# tuples: no heap when frozen; command() looks the method up by name).
_HANDLER_CMDS = const((
    _CND_VENDOR_IDENTIFIER, _CND_CLASS_IDENTIFIER, _CND_IMAGE_MATCH, _CND_COMPONENT_SLOT,
    _CND_CHECK_CONTENT, _CND_ABORT, _CND_DEVICE_IDENTIFIER, _DIR_WRITE, _DIR_FETCH, _DIR_COPY,
    _DIR_INVOKE,
))
_HANDLER_NAMES = const((
    "c_vendor", "c_class", "c_image_match", "c_slot", "c_check_content", "c_abort", "c_device",
    "d_write", "d_fetch", "d_copy", "d_invoke",
))


class ConditionFailed(SuitError):
    """A condition did not hold (soft-failure may absorb it)."""


def _err(code, msg, reason=None):
    e = SuitError(code, msg)
    if reason is not None:
        e.reason = reason
    return e


def _invalid(msg):
    return SuitError(_SUIT_ERR_INVALID_MANIFEST, msg)


def _cond(msg, code=_SUIT_ERR_COND):
    e = ConditionFailed(code, msg)
    e.reason = _R_CONDITION
    return e


def _is_bytes(x):
    return isinstance(x, (bytes, bytearray, memoryview))


def _is_uint(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _array_head(buf, off):
    """(item count, offset of the first item) of the definite-length CBOR
    array at buf[off] (shortest-form length only)."""
    n = len(buf)
    if off >= n:
        raise _invalid("truncated command sequence")
    b = buf[off]
    if b >> 5 != 4:
        raise _invalid("command sequence not an array")
    ai = b & 31
    if ai < 24:
        return ai, off + 1
    if ai == 24 and off + 2 <= n and buf[off + 1] >= 24:
        return buf[off + 1], off + 2
    if ai == 25 and off + 3 <= n:
        v = (buf[off + 1] << 8) | buf[off + 2]
        if v > 0xFF:
            return v, off + 3
    raise _invalid("bad array length")


def _decode(buf, off, depth, items):
    try:
        return cbor.decode_from(buf, off, strict=True, zero_copy=True, max_depth=depth, max_items=items)
    except MemoryError:
        raise SuitError(_SUIT_ERR_NO_MEM, "out of memory")
    except ValueError:
        raise _invalid("bad command sequence")


def write_chunks(write, data, chunk=_CHUNK):
    """write(piece) for data cut into memoryview pieces of at most `chunk`
    bytes (no copies): whatever the payload size, a writer never gets more
    at once. Also suit_crypt's DecryptingWriter."""
    mv = memoryview(data)
    n = len(mv)
    pos = 0
    while pos < n:
        end = pos + chunk
        if end > n:
            end = n
        write(mv[pos:end])
        pos = end


class _Proc:
    def __init__(self, env, platform, report, update):
        if not getattr(env, "authenticated", False):
            raise SuitError(_SUIT_ERR_AUTHENTICATION, "envelope not authenticated")
        self.env = env
        self.pf = platform
        self.report = report
        self.update = update
        self.comps = env.components
        self.params = [{} for _ in self.comps]
        self.index = [0]
        self.soft = False
        self.soft_code = _SUIT_ERR_COND
        self.depth = 0
        self.steps = 0
        self.written = []
        # where the current command is, for the report
        self.section = _M_COMMON
        self.base = 0  # offset of the running sequence inside the section
        self.offset = 0
        self.cur = 0
        self.props = None
        self.policy = 0

    # ---------------------------------------------------------- structure

    def check_manifest(self):
        m = self.env.manifest_map
        for k in m:
            if k == _M_DEPENDENCY_RESOLUTION:
                self.section = k
                raise _err(_SUIT_ERR_UNSUPPORTED, "dependency-resolution not supported", _R_COMMAND)
            if k not in _MANIFEST_KEYS:
                self.section = k
                raise _err(_SUIT_ERR_UNSUPPORTED, "unknown manifest member", _R_COMMAND)
        self.section = _M_COMMON
        for k in self.env.common:
            if k == _C_DEPENDENCIES:
                raise _err(_SUIT_ERR_UNSUPPORTED, "dependencies not supported", _R_COMPONENT)
            if k != _C_COMPONENTS and k != _C_SHARED_SEQUENCE:
                raise _err(_SUIT_ERR_UNSUPPORTED, "unknown common member", _R_COMMAND)
        shared = self.env.common.get(_C_SHARED_SEQUENCE)
        if shared is not None and not _is_bytes(shared):
            raise _invalid("bad shared sequence")
        for i in range(len(self.comps)):
            if not self.pf.has_component(self.comps[i]):
                self.cur = i
                raise _err(_SUIT_ERR_UNSUPPORTED, "unknown component", _R_COMPONENT)

    def run_section(self, key):
        seq = member(self.env, key)
        if seq is None:
            if key in self.env.manifest_map:
                self.section = key
                self.cur = 0
                raise _err(_SUIT_ERR_INVALID_MANIFEST, "severed command sequence missing", _R_SEVERING)
            return
        shared = self.env.common.get(_C_SHARED_SEQUENCE)
        if shared is not None:
            self.section = _M_COMMON
            self.index = [0]
            self.base = 0
            self.run_seq(shared)
        self.section = key
        self.index = [0]
        self.base = 0
        self.run_seq(seq)

    # ---------------------------------------------------------- sequences

    def run_seq(self, seq):
        """Run one command sequence (bstr). True when it completed, False
        when a condition failed under soft-failure (the sequence ended)."""
        count, off = _array_head(seq, 0)
        if count == 0 or count & 1:
            raise _invalid("bad command sequence")
        if count > 2 * _MAX_SEQ:
            raise SuitError(_SUIT_ERR_NO_MEM, "too many commands in a sequence")
        # the whole sequence must be well-formed before its first command
        # runs (no invoke ahead of a malformed tail)
        end = off
        for _ in range(count):
            end = _decode(seq, end, _ARG_DEPTH, _ARG_ITEMS)[1]
        if end != len(seq):
            raise _invalid("trailing bytes in command sequence")
        for _ in range(count // 2):
            cmd_off = off
            cmd, off = _decode(seq, off, 1, 1)
            if not isinstance(cmd, int) or isinstance(cmd, bool):
                raise _invalid("bad command")
            try:
                off = self.command(cmd, seq, cmd_off, off)
            except SuitError as e:
                if getattr(e, "where", None) is None:
                    self.offset = self.base + cmd_off
                    e.where = (self.section, self.offset, self.cur, self.props)
                    self.note_failure(e)
                if isinstance(e, ConditionFailed) and self.soft:
                    self.soft_code = e.code
                    return False
                raise
        return True

    def nested(self, seq, start, i, soft):
        """Run the nested sequence `seq` (which starts at byte `start` of the
        running sequence) for component i with its own soft-failure."""
        if self.depth >= _MAX_NEST:
            raise SuitError(_SUIT_ERR_NO_MEM, "sequences nested too deep")
        saved = (self.index, self.soft, self.base, self.offset, self.cur)
        self.depth += 1
        self.index = [i]
        self.soft = soft
        self.base += start
        try:
            return self.run_seq(seq)
        finally:
            self.depth -= 1
            self.index, self.soft, self.base, self.offset, self.cur = saved
            self.props = None
            self.policy = 0

    def step(self):
        self.steps += 1
        if self.steps > _MAX_STEPS:
            raise SuitError(_SUIT_ERR_NO_MEM, "too many commands executed")

    def command(self, cmd, seq, cmd_off, off):
        """Execute the command whose argument starts at seq[off]; return the
        offset after the argument."""
        self.offset = self.base + cmd_off
        self.cur = self.index[0]
        self.props = None
        self.policy = 0
        if cmd == _DIR_TRY_EACH:
            alts, off = self.try_each_arg(seq, off)
            for i in list(self.index):
                self.step()
                self.cur = i
                self.try_each(alts, i)
            return off
        arg, off = _decode(seq, off, _ARG_DEPTH, _ARG_ITEMS)
        if cmd == _DIR_SET_COMPONENT_INDEX:
            self.step()
            self.set_index(arg)
            return off
        if cmd == _DIR_OVERRIDE_PARAMETERS or cmd == _DIR_SET_PARAMETERS:
            self.step()
            self.set_params(arg, cmd == _DIR_OVERRIDE_PARAMETERS)
            return off
        if cmd == _DIR_RUN_SEQUENCE:
            if not _is_bytes(arg):
                raise _invalid("run-sequence argument not bstr")
            for i in list(self.index):
                self.step()
                self.cur = i
                self.nested(arg, off - len(arg), i, False)  # a soft ending just continues
            return off
        if cmd == _DIR_SWAP:
            raise _err(_SUIT_ERR_UNSUPPORTED, "swap not supported", _R_COMMAND)
        if cmd not in _HANDLER_CMDS:
            raise _err(_SUIT_ERR_UNSUPPORTED, "unsupported command", _R_COMMAND)
        fn = getattr(_Proc, _HANDLER_NAMES[_HANDLER_CMDS.index(cmd)])
        if not _is_uint(arg):
            raise _invalid("bad reporting policy")
        self.policy = arg
        for i in list(self.index):
            self.step()
            self.cur = i
            self.props = None
            fn(self, i)
            self.note_success(i)
        return off

    def try_each_arg(self, seq, off):
        n, off = _array_head(seq, off)
        if n < 1 or n > _MAX_TRY:
            raise _invalid("bad try-each argument")
        alts = []
        for k in range(n):
            v, off = _decode(seq, off, 1, 1)
            if v is None:
                if k != n - 1 or k == 0:
                    raise _invalid("bad try-each argument")
                alts.append((None, 0))
            elif not _is_bytes(v):
                raise _invalid("bad try-each argument")
            else:
                alts.append((v, off - len(v)))
        return alts, off

    def try_each(self, alts, i):
        for seq, start in alts:
            if seq is None:
                return  # final nil: succeed although no alternative did
            if self.nested(seq, start, i, True):
                return
        raise _cond("no try-each alternative succeeded", self.soft_code)

    # ---------------------------------------------------------- report

    def _cid(self, i):
        return self.comps[i]

    def note_success(self, i):
        r = self.report
        if r is None or not self.policy & (_POLICY_RECORD_SUCCESS | _POLICY_SYSINFO_SUCCESS):
            return
        if self.policy & _POLICY_RECORD_SUCCESS:
            r.record(self.section, self.offset, i, self.props)
        if self.policy & _POLICY_SYSINFO_SUCCESS and self.props:
            r.sysinfo(self._cid(i), self.props)

    def note_failure(self, e):
        # every failed command is recorded, whatever its policy says
        r = self.report
        if r is None:
            return
        r.record(self.section, self.offset, self.cur, self.props)
        if self.policy & _POLICY_SYSINFO_FAILURE and self.props:
            r.sysinfo(self._cid(self.cur), self.props)

    # ---------------------------------------------------------- parameters

    def set_index(self, arg):
        n = len(self.comps)
        if arg is True:
            self.index = list(range(n))
        elif _is_uint(arg):
            if arg >= n:
                raise _invalid("component index out of range")
            self.index = [arg]
        elif isinstance(arg, list) and arg and len(arg) <= _MAX_COMPONENTS:
            idx = []
            for a in arg:
                if not _is_uint(a) or a >= n:
                    raise _invalid("component index out of range")
                idx.append(a)
            self.index = idx
        else:
            raise _invalid("bad component index")

    def set_params(self, arg, override):
        if not isinstance(arg, dict) or len(arg) > _MAX_PARAMS:
            raise _invalid("bad parameters")
        for k in arg:
            v = arg[k]
            if not isinstance(k, int) or isinstance(k, bool):
                raise _invalid("bad parameter key")
            kind = _PARAM_KINDS[k] if 0 <= k < len(_PARAM_KINDS) else 255
            if kind == 255:
                if k < 0:
                    continue  # custom parameter: a hint, never required
                raise _err(_SUIT_ERR_UNSUPPORTED, "unsupported parameter", _R_PARAMETER)
            if kind == 0:
                ok = _is_bytes(v)
            elif kind == 1:
                ok = _is_uint(v)
            elif kind == 2:
                ok = isinstance(v, bool)
            else:
                ok = isinstance(v, str)
            if not ok:
                raise _invalid("bad parameter value")
            if k == _P_SOFT_FAILURE:
                # processor-scoped, only inside try-each / run-sequence;
                # set-parameters never changes it (it always has a value)
                if self.depth == 0:
                    raise _invalid("soft-failure outside try-each/run-sequence")
                if override:
                    self.soft = v
                continue
            if k == _P_STRICT_ORDER:
                continue  # we always run in order, which every value allows
            for i in self.index:
                p = self.params[i]
                if override or k not in p:
                    p[k] = v

    def need(self, i, key):
        v = self.params[i].get(key)
        if v is None:
            raise _err(_SUIT_ERR_INVALID_MANIFEST, "parameter not set", _R_OPERATION)
        return v

    # ---------------------------------------------------------- conditions

    def c_identifier(self, i, key, have):
        want = self.params[i].get(key)
        self.props = {key: have} if have is not None else None
        if want is None or have is None:
            raise _cond("identifier not set")
        if bytes(want) != bytes(have):  # public identifiers: no timing concern
            raise _cond("identifier mismatch")

    def c_vendor(self, i):
        self.c_identifier(i, _P_VENDOR_ID, self.pf.vendor_id)

    def c_class(self, i):
        self.c_identifier(i, _P_CLASS_ID, self.pf.class_id)

    def c_device(self, i):
        self.c_identifier(i, _P_DEVICE_ID, self.pf.device_id)

    def c_image_match(self, i):
        want = self.params[i].get(_P_IMAGE_DIGEST)
        if want is None:
            raise _cond("image-digest not set")
        try:
            d = cbor.loads(want, strict=True, max_depth=2, max_items=3)
        except ValueError:
            raise _invalid("bad image-digest")
        if not isinstance(d, list) or len(d) != 2 or not _is_bytes(d[1]):
            raise _invalid("bad image-digest")
        if d[0] != _ALG_SHA256 or isinstance(d[0], bool):
            raise _err(_SUIT_ERR_UNSUPPORTED, "digest algorithm", 3)
        got = self.pf.digest(self._cid(i))
        if got is None:
            raise _cond("component holds no image")
        sha, size = got
        self.props = {_P_IMAGE_DIGEST: cbor.dumps([_ALG_SHA256, bytes(sha)]), _P_IMAGE_SIZE: size}
        want_size = self.params[i].get(_P_IMAGE_SIZE)
        if want_size is not None and want_size != size:
            raise _cond("image size mismatch")
        if len(d[1]) != _SHA256_LEN or not hgcrypto.ct_equal(bytes(sha), bytes(d[1])):
            raise _cond("image digest mismatch", _SUIT_ERR_DIGEST_MISMATCH)

    def c_slot(self, i):
        want = self.params[i].get(_P_COMPONENT_SLOT)
        have = self.pf.slot(self._cid(i))
        self.props = {_P_COMPONENT_SLOT: have} if have is not None else None
        if want is None or have is None or want != have:
            raise _cond("component slot mismatch")

    def c_check_content(self, i):
        want = self.params[i].get(_P_CONTENT)
        if want is None:
            raise _cond("content not set")
        rd = self.pf.reader(self._cid(i))
        if rd is None:
            raise _cond("component holds no image")
        want = memoryview(want)
        n = len(want)
        pos = 0
        bad = 0
        # no early exit: the whole component is read and compared
        for chunk in rd:
            k = len(chunk)
            if pos + k <= n:
                if not hgcrypto.ct_equal(bytes(chunk), bytes(want[pos : pos + k])):
                    bad = 1
            else:
                bad = 1
            pos += k
        if bad or pos != n:
            raise _cond("content mismatch")

    def c_abort(self, i):
        raise _cond("condition-abort", _SUIT_ERR_ABORT)

    # ---------------------------------------------------------- directives

    def limit(self, i, size):
        cap = getattr(self.pf, "capacity", None)
        cap = cap(self._cid(i)) if cap is not None else None
        if size is None:
            if cap is None:
                raise _err(_SUIT_ERR_POLICY_FORBIDDEN, "image-size needed to bound the write", _R_OPERATION)
            return cap
        if cap is not None and size > cap:
            raise _err(_SUIT_ERR_NO_MEM, "image larger than the component", _R_OPERATION)
        return size

    def open(self, i, limit):
        w = self.pf.open_writer(self._cid(i), limit)
        if w is None:
            raise _err(_SUIT_ERR_UNSUPPORTED, "component not writable", _R_COMPONENT)
        enc = self.params[i].get(_P_ENCRYPTION_INFO)
        if enc is None:
            return w
        try:
            try:
                import suit_crypt
            except ImportError:
                raise _err(_SUIT_ERR_UNSUPPORTED, "encrypted payloads not supported", _R_PARAMETER)
            return suit_crypt.decrypting_writer(enc, self.pf, w)
        except Exception:
            w.discard()
            raise

    def written_ok(self, i):
        if i not in self.written:
            self.written.append(i)

    def d_fetch(self, i):
        uri = self.need(i, _P_URI)
        size = self.params[i].get(_P_IMAGE_SIZE)
        self.props = {_P_URI: uri}
        w = self.open(i, self.limit(i, size))
        try:
            payload = self.env.payloads.get(uri)
            if payload is not None:
                write_chunks(w.write, payload)
            elif uri.startswith("#"):
                raise _err(_SUIT_ERR_FETCH, "integrated payload missing", _R_OPERATION)
            else:
                self.pf.fetch(uri, w)
            self.props[_P_IMAGE_SIZE] = w.size
            if size is not None and w.size != size:
                raise _err(_SUIT_ERR_FETCH, "payload shorter than image-size", _R_OPERATION)
            w.finish()
        except Exception:
            w.discard()
            raise
        self.written_ok(i)

    def d_copy(self, i):
        src = self.need(i, _P_SOURCE_COMPONENT)
        if src >= len(self.comps) or src == i:
            raise _invalid("bad source-component")
        self.props = {_P_SOURCE_COMPONENT: src}
        rd = self.pf.reader(self._cid(src))
        if rd is None:
            raise _err(_SUIT_ERR_ABORT, "source component holds no image", _R_OPERATION)
        # image-size bounds the copy; whether the result is right is for
        # image-match to say (a load may copy into a differently sized slot)
        w = self.open(i, self.limit(i, self.params[i].get(_P_IMAGE_SIZE)))
        try:
            for chunk in rd:
                w.write(chunk)
            self.props[_P_IMAGE_SIZE] = w.size
            w.finish()
        except Exception:
            w.discard()
            raise
        self.written_ok(i)

    def d_write(self, i):
        content = self.need(i, _P_CONTENT)
        n = len(content)
        size = self.params[i].get(_P_IMAGE_SIZE)
        if size is not None and size != n:
            raise _err(_SUIT_ERR_ABORT, "content length differs from image-size", _R_OPERATION)
        w = self.open(i, self.limit(i, n))
        try:
            write_chunks(w.write, content)
            w.finish()
        except Exception:
            w.discard()
            raise
        self.props = {_P_IMAGE_SIZE: n}
        self.written_ok(i)

    def d_invoke(self, i):
        if self.update:
            raise _err(_SUIT_ERR_UNSUPPORTED, "invoke during an update", _R_COMMAND)
        args = self.params[i].get(_P_INVOKE_ARGS)
        if args is not None:
            args = bytes(args)
            self.props = {_P_INVOKE_ARGS: args}
        self.pf.invoke(self._cid(i), args)




def _fail(p, report, e):
    if report is None:
        return
    where = getattr(e, "where", None)
    if where is None:
        where = (p.section, p.offset, p.cur, None) if p is not None else (0, 0, 0, None)
    report.fail(e, where[0], where[1], where[2], where[3])


def _check_newer(p, env, stored):
    if env.sequence_number <= stored:
        p.section = _M_SEQUENCE_NUMBER
        p.cur = 0
        raise _err(_SUIT_ERR_SEQUENCE_NUMBER, "sequence number not newer", _R_CONDITION)


def check_update(env, stored_sequence, in_trial=False, report=None):
    """What process_update refuses before it touches a slot, for a device
    that decides whether to keep an envelope before it installs it (the
    lean device stages it and installs at restart): SuitError (report
    filled as process_update fills it) when the sequence number is not
    greater than stored_sequence, or while a trial boot is not confirmed.
    process_update checks both again."""
    p = None
    try:
        p = _Proc(env, None, report, True)
        _check_newer(p, env, stored_sequence)
        if in_trial:
            raise SuitError(_SUIT_ERR_POLICY_FORBIDDEN, "trial boot not confirmed")
    except SuitError as e:
        _fail(p, report, e)
        raise


def process_update(env, platform, report=None):
    """Run the update procedure of an authenticated Envelope. Returns after
    platform.commit_update(); raises SuitError after platform.abort_update()."""
    p = None
    try:
        p = _Proc(env, platform, report, True)
        p.check_manifest()
        _check_newer(p, env, platform.stored_sequence())
        platform.begin_update(env)
        for key in (_M_PAYLOAD_FETCH, _M_INSTALL, _M_VALIDATE):
            p.run_section(key)
        platform.commit_update(env, [p.comps[i] for i in p.written])
    except SuitError as e:
        _fail(p, report, e)
        platform.abort_update()
        raise
    except MemoryError:
        platform.abort_update()
        e = SuitError(_SUIT_ERR_NO_MEM, "out of memory")
        _fail(p, report, e)
        raise e
    except Exception:
        platform.abort_update()  # a platform bug: still never commit
        raise
    if report is not None:
        report.success()


def process_boot(env, platform, report=None):
    """Run the invocation procedure (validate, load, invoke) of an
    authenticated Envelope; SuitError when it fails."""
    p = None
    try:
        p = _Proc(env, platform, report, False)
        p.check_manifest()
        # an older manifest may still match an old image left in a slot:
        # booting it would be a rollback
        if env.sequence_number < platform.stored_sequence():
            p.section = _M_SEQUENCE_NUMBER
            p.cur = 0
            raise _err(_SUIT_ERR_SEQUENCE_NUMBER, "manifest older than the installed one", _R_CONDITION)
        platform.begin_boot(env)
        for key in (_M_VALIDATE, _M_LOAD, _M_INVOKE):
            p.run_section(key)
    except SuitError as e:
        _fail(p, report, e)
        raise
    except MemoryError:
        e = SuitError(_SUIT_ERR_NO_MEM, "out of memory")
        _fail(p, report, e)
        raise e
    if report is not None:
        report.success()


# The public constants (module.NAME, `from suit_processor import NAME`): a literal table
# (ROM when frozen) read by __getattr__, instead of a slot each in this
# module's globals (heap). Inside the module the private names fold away.
_PUBLIC = const((
    ("DIR_TRY_EACH", _DIR_TRY_EACH), ("DIR_FETCH", _DIR_FETCH), ("DIR_INVOKE", _DIR_INVOKE),
    ("P_URI", _P_URI),
))


def __getattr__(name):
    for k, v in _PUBLIC:
        if k == name:
            return v
    raise AttributeError(name)
