# suit_boot: trial boot of images installed by SUIT (sans-I/O; the clock
# is injected). Runs on suit_slots.SlotPlatform's state record.
#
#   boot = Boot(platform, clock=now_ms)
#   report = boot.select()    # at every boot, BEFORE the application runs
#   ... start the images report[i]["slot"] ...
#   boot.confirm()            # the application is healthy
#   if boot.expired(): reset  # not confirmed in time: the next select()
#                             # rolls back
#
# select(), per component, on a copy of the state, persisted in ONE atomic
# write before it returns (no write when nothing changed):
#   - an unconfirmed trial from an earlier boot: rolled back to the previous
#     slot once it has booted max_trials times or its deadline has passed
#     (status "rolled-back"; the failed image's info is dropped), otherwise
#     booted again with one trial less ("trial");
#   - a pending slot (commit_update): verified, then booted as a trial:
#     active = pending, previous = the old active, trials_left =
#     max_trials - 1, deadline = now + confirm_window_ms ("trial"); a first
#     install (no previous image) becomes active at once ("installed"); a
#     pending slot whose bytes do not match is dropped ("rejected");
#   - otherwise the active slot ("active"; "empty" when there is none).
# Before a slot is returned its bytes are re-hashed and compared with the
# digest and size recorded for it: a slot that fails is never booted; the
# other slot is used if it verifies ("recovered"), else SuitError
# (SUIT_ERR_DIGEST_MISMATCH) tells the caller to enter safe mode. A power
# cut at any write leaves the previous or the new state, both of which
# name only verified or re-verifiable slots; the decrement happens before
# the trial image runs, so a crash loop ends in a roll-back.
#
# Deadlines: clock() returns ms. With clock_survives_reset=False (ticks
# that restart at every reset, wrapping as MicroPython's ticks_ms) the
# deadline only bounds the current boot (expired()); the persisted deadline
# is then ignored at boot and max_trials alone bounds the trial. With True
# (an RTC, never wrapping), a deadline that passed before a boot also rolls
# back. The rolled-back image's sequence number stays stored: the same
# manifest cannot be installed again, a newer one can.
#
# Components that a bootloader selects itself (suit_esp32's firmware):
# platform.boot_managed(name) True makes select() record what runs
# (platform.running_slot(name)): the pending slot -> "trial" (or
# "installed"), the previous one while a trial was recorded ->
# "rolled-back" (the bootloader's rollback), the active one -> "active" /
# "trial", anything else -> "unknown" (flashed by other means; no info).
# The bootloader verifies those images; confirm() calls
# platform.confirm_managed(name) (cancels the bootloader's rollback).
try:
    from micropython import const
except ImportError:

    def const(x):
        return x


from suit_envelope import SuitError

# suit_envelope's values (private consts take no RAM; host_tests/test_const_sync.py
# checks they match)
_SUIT_ERR_DIGEST_MISMATCH = const(-7)


# suit_slots's values (private consts take no RAM; host_tests/test_const_sync.py
# checks they match)
_E_ACTIVE = const(0)
_E_DEADLINE = const(4)
_E_INFO = const(5)
_E_PENDING = const(1)
_E_PREVIOUS = const(2)
_E_TRIALS = const(3)


_TMASK = const(0x3FFFFFFF)
_THALF = const(0x20000000)
_DEFAULT_WINDOW_MS = const(300000)
_DEFAULT_TRIALS = const(3)


def _copy(state):
    out = {}
    for name in state:
        e = state[name]
        out[name] = [e[0], e[1], e[2], e[3], e[4], list(e[_E_INFO])]
    return out


class Boot:
    """Trial-boot selection over a SlotPlatform (see the top)."""

    def __init__(self, platform, clock=None, confirm_window_ms=_DEFAULT_WINDOW_MS,
                 max_trials=_DEFAULT_TRIALS, clock_survives_reset=False):
        if max_trials < 1 or max_trials > 255 or confirm_window_ms <= 0:
            raise ValueError("bad trial parameters")
        self.pf = platform
        self.clock = clock if clock is not None else platform.clock
        self.window = confirm_window_ms
        self.max_trials = max_trials
        self.rtc = clock_survives_reset
        self.deadline = None  # this boot's confirmation deadline (ms)
        self.report = None

    def _now(self):
        return None if self.clock is None else self.clock()

    def _passed(self, now, deadline):
        if now is None or deadline is None:
            return False
        if self.rtc:
            return now >= deadline
        return ((now - deadline) & _TMASK) < _THALF

    def _valid(self, name, slot):
        return slot is not None and self.pf.verify_slot(name, slot)

    def _drop(self, e, slot):
        e[_E_INFO][slot] = None
        if e[_E_PENDING] == slot:
            e[_E_PENDING] = None

    def _end_trial(self, e):
        e[_E_PREVIOUS] = None
        e[_E_TRIALS] = 0
        e[_E_DEADLINE] = None

    def _select_one(self, name, e, now):
        """Decide one component on entry e (a copy); returns a status."""
        pf = self.pf
        if pf.boot_managed(name):
            return self._managed(name, e, now)
        status = None
        prev = e[_E_PREVIOUS]
        if prev is not None:
            # a trial that an earlier boot started and nobody confirmed
            late = self.rtc and self._passed(now, e[_E_DEADLINE])
            if e[_E_TRIALS] <= 0 or late or not self._valid(name, e[_E_ACTIVE]):
                if self._valid(name, prev):
                    self._drop(e, e[_E_ACTIVE])
                    e[_E_ACTIVE] = prev
                    self._end_trial(e)
                    return "rolled-back"
                # nothing to go back to: keep the trial image if it is sound
                self._drop(e, prev)
                self._end_trial(e)
                status = "kept"
            else:
                e[_E_TRIALS] -= 1
                return "trial"
        p = e[_E_PENDING]
        if status is None and p is not None:
            e[_E_PENDING] = None
            if p != e[_E_ACTIVE] and self._valid(name, p):
                if e[_E_ACTIVE] is None or e[_E_INFO][e[_E_ACTIVE]] is None:
                    e[_E_ACTIVE] = p  # first install: nothing to roll back to
                    return "installed"
                e[_E_PREVIOUS] = e[_E_ACTIVE]
                e[_E_ACTIVE] = p
                e[_E_TRIALS] = self.max_trials - 1
                e[_E_DEADLINE] = None if now is None else now + self.window
                return "trial"
            if p != e[_E_ACTIVE]:
                e[_E_INFO][p] = None
            status = "rejected"
        a = e[_E_ACTIVE]
        if a is None:
            return status or "empty"
        if self._valid(name, a):
            return status or "active"
        other = 1 - a
        if self._valid(name, other):
            e[_E_INFO][a] = None
            e[_E_ACTIVE] = other
            self._end_trial(e)
            return "recovered"
        raise SuitError(_SUIT_ERR_DIGEST_MISMATCH, "no valid image: " + name)

    def _managed(self, name, e, now):
        # the bootloader chose the slot (and runs its own trial/rollback):
        # bring the record in line with what runs
        run = self.pf.running_slot(name)
        a = e[_E_ACTIVE]
        if run is not None and run == e[_E_PENDING] and run != a:
            e[_E_PENDING] = None
            if a is None or e[_E_INFO][a] is None:
                e[_E_ACTIVE] = run
                return "installed"
            e[_E_PREVIOUS] = a
            e[_E_ACTIVE] = run
            e[_E_TRIALS] = 0
            e[_E_DEADLINE] = None if now is None else now + self.window
            return "trial"
        if run is not None and run == e[_E_PREVIOUS]:
            # the bootloader rolled back an unconfirmed image
            self._drop(e, a)
            e[_E_ACTIVE] = run
            self._end_trial(e)
            return "rolled-back"
        if run == a:
            return "trial" if e[_E_PREVIOUS] is not None else "active"
        # an image the record does not know (flashed by other means)
        e[_E_ACTIVE] = run
        self._end_trial(e)
        if run is not None:
            e[_E_INFO][run] = None
            if e[_E_PENDING] == run:
                e[_E_PENDING] = None
        return "unknown"

    def select(self):
        """Choose the slot of every component (see the top); persisted
        before it returns. Returns [{name, cid, slot, status}]."""
        pf = self.pf
        now = self._now()
        new = _copy(pf.state)
        out = []
        for name in pf.names():
            e = new[name]
            status = self._select_one(name, e, now)
            out.append({"name": name, "cid": pf.cid(name), "slot": e[_E_ACTIVE],
                        "status": status})
        if new != pf.state:
            old = pf.state
            pf.state = new
            try:
                pf.save_state()
            except Exception:
                pf.state = old
                raise
        self.deadline = None
        for name in pf.names():
            e = new[name]
            if e[_E_PREVIOUS] is not None:
                d = e[_E_DEADLINE] if self.rtc else (
                    None if now is None else (now + self.window) & _TMASK)
                if d is not None and (self.deadline is None or d < self.deadline):
                    self.deadline = d
        pf.begin_boot(None)
        self.report = out
        return out

    def trial(self):
        """Names of the components running an unconfirmed trial."""
        return self.pf.in_trial()

    def confirm(self):
        """The application is healthy: make every trial permanent (persisted
        when it returns). Returns the names confirmed."""
        pf = self.pf
        names = pf.in_trial()
        for name in pf.names():
            if pf.boot_managed(name):
                pf.confirm_managed(name)
        if not names:
            return names
        new = _copy(pf.state)
        for name in names:
            self._end_trial(new[name])
        old = pf.state
        pf.state = new
        try:
            pf.save_state()
        except Exception:
            pf.state = old
            raise
        self.deadline = None
        return names

    def expired(self, now=None):
        """True once the confirmation deadline of a running trial passed
        (the application should reset; the next select() rolls back)."""
        if self.deadline is None or not self.pf.in_trial():
            return False
        if now is None:
            now = self._now()
        return self._passed(now, self.deadline)
