# _board and the frozen time shim of the qemu mps2-an386 image
# (boards/qemu_an386/modboard.c, time.py). Elsewhere: visible skip.
import hgtest

try:
    import _board
except ImportError:
    _board = None


def _need():
    if _board is None:
        hgtest.skip("_board only exists on the qemu mps2-an386 image")


def test_ticks_advance_and_agree():
    _need()
    ms0 = _board.ticks_ms()
    us0 = _board.ticks_us()
    _board.sleep_ms(30)
    dms = _board.ticks_diff(_board.ticks_ms(), ms0)
    dus = _board.ticks_diff(_board.ticks_us(), us0)
    assert 30 <= dms <= 300, dms
    assert 30000 <= dus <= 300000, dus
    assert abs(dus // 1000 - dms) <= 2, (dus, dms)


def test_ticks_monotonic():
    _need()
    prev_us = _board.ticks_us()
    prev_ms = _board.ticks_ms()
    for _ in range(2000):
        us = _board.ticks_us()
        ms = _board.ticks_ms()
        assert _board.ticks_diff(us, prev_us) >= 0
        assert _board.ticks_diff(ms, prev_ms) >= 0
        prev_us, prev_ms = us, ms


def test_ticks_arithmetic_wraps_at_2_30():
    _need()
    top = (1 << 30) - 1
    assert _board.ticks_add(top, 2) == 1
    assert _board.ticks_diff(1, top) == 2
    assert _board.ticks_diff(top, 1) == -2
    assert _board.ticks_add(5, -10) == (1 << 30) - 5
    hgtest.raises(OverflowError, _board.ticks_add, 0, 1 << 29)


def test_sleep_us_and_idle():
    _need()
    t = _board.ticks_us()
    _board.sleep_us(1500)
    assert _board.ticks_diff(_board.ticks_us(), t) >= 1500
    t = _board.ticks_us()
    _board.idle()  # returns at the next SysTick interrupt
    assert _board.ticks_diff(_board.ticks_us(), t) <= 20000


def test_time_shim():
    _need()
    import time

    assert time.ticks_ms is _board.ticks_ms
    t = time.ticks_ms()
    time.sleep(0.02)
    time.sleep_ms(10)
    assert time.ticks_diff(time.ticks_ms(), t) >= 30
    assert isinstance(time.time(), int) and time.time() >= 0


def test_uart_calls_do_not_block():
    _need()
    assert _board.uart_any() in (0, 1)
    buf = bytearray(8)
    n = _board.uart_readinto(buf)
    assert 0 <= n <= 8
    assert _board.uart_write(b"") == 0
    assert _board.CLOCK_HZ == 25000000
