# `time` for the mps2-an386 image: MicroPython 1.25's qemu port builds
# without its time module (MICROPY_PY_TIME is fixed at 0 in the port), so
# portable code that does `import time` gets this shim over the board's
# SysTick module instead. Same names and semantics as MicroPython's time:
#   ticks_ms() ticks_us() ticks_cpu()   periodic, wrap at 2**30; compare
#   ticks_diff(a, b) ticks_add(t, d)    only through these two
#   sleep_ms(n) sleep_us(n) sleep(s)    wait (WFI between SysTick interrupts)
#   time()                              seconds since SysTick started (first import)
# No calendar (localtime, mktime): the board has no RTC.
from _board import ticks_ms, ticks_us, ticks_diff, ticks_add, sleep_ms, sleep_us
from _board import time

ticks_cpu = ticks_us


def sleep(seconds):
    sleep_ms(int(seconds * 1000))
