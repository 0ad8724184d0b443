// _board: ticks and raw UART access for the mps2-an386 image.
//
// The 1.25 qemu port has no `time` module and its stdout is cooked (LF goes
// out as CR LF), so binary protocols on the serial line need their own path:
//   ticks_ms() ticks_us() ticks_diff(a, b) ticks_add(t, d)   like time.*
//   sleep_ms(n) sleep_us(n)     wait (WFI between SysTick interrupts)
//   idle()                      one WFI: returns at the next interrupt (<= 1 ms)
//   time()                      whole seconds since the clock was started
//   uart_write(buf)             raw bytes to UART0, no LF -> CR LF cooking
//   uart_readinto(buf) -> n     what the UART holds now (0 if nothing), never blocks
//   uart_any() -> 0/1           a received byte is waiting
//   CLOCK_HZ                    the system clock (CPU, SysTick): 25 MHz
//
// Time: the FPGA's 32-bit COUNTER at 1 MHz (see below), extended to
// milliseconds and seconds by a 1 kHz SysTick interrupt. The port's vector
// table points at a SysTick_Handler that reports a fault; mpconfigboard.mk
// links with -Wl,--wrap=SysTick_Handler so the table holds
// __wrap_SysTick_Handler below instead (the table's reference is an
// undefined symbol in startup.o, which is exactly what --wrap redirects).
// Without -icount qemu's virtual time follows the host clock; with
// -icount shift=0 one instruction is one nanosecond, so ticks_us
// differences count executed instructions / 1000.
//
// The clock starts on the first call into this module (time.py imports it),
// not at reset: the port gives boards no init hook short of wrapping one of
// its calls, and board_init.c already wraps uart_init for the FPU.
//
// UART0 is the CMSDK APB UART at 0x40004000 (DATA, STATE, CTRL, ...), the
// same one the port's uart.c drives for the REPL. Its receiver holds one
// byte; qemu holds back further input until the guest reads DATA, so nothing
// is lost while nobody reads, and hands over the next byte through its I/O
// thread some 50 us later (about 20 KB/s when the guest polls without pause).

#include <stdint.h>

#include "py/runtime.h"
#include "py/mphal.h"
#include "py/smallint.h"

// qemu's mps2 system clock: the CPU, SysTick (CLKSOURCE=1) and the FPGA
// counter's prescaler all run from it.
#define BOARD_CLOCK_HZ (25000000u)
#define BOARD_SYSTICK_RATE (1000u)

#define FPGAIO_COUNTER (*(volatile uint32_t *)0x40028018u)
#define FPGAIO_PRESCALE (*(volatile uint32_t *)0x4002801Cu)

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SCB_SHPR3 (*(volatile uint32_t *)0xE000ED20u)

#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)

typedef struct {
    volatile uint32_t DATA;
    volatile uint32_t STATE;
    volatile uint32_t CTRL;
    volatile uint32_t INTSTATUS;
    volatile uint32_t BAUDDIV;
} board_uart_t;

#define BOARD_UART0 ((board_uart_t *)0x40004000u)
#define UART_STATE_TXFULL (1u << 0)
#define UART_STATE_RXFULL (1u << 1)

#define TICKS_PERIOD ((mp_uint_t)MICROPY_PY_TIME_TICKS_PERIOD)
#define TICKS_MASK (TICKS_PERIOD - 1)
#define TICKS_HALF (TICKS_PERIOD / 2)

// The time base is the MPS2 FPGA's free-running COUNTER, prescaled from the
// 25 MHz system clock to 1 MHz: a 32-bit microsecond count since start that
// qemu computes from its virtual clock at every read. The SysTick interrupt
// (1 kHz) folds it into milliseconds and seconds before it can wrap (every
// 71.6 minutes) and wakes WFI. Counting SysTick interrupts alone is not a
// clock under qemu: when the host deschedules the vCPU thread, reloads whose
// interrupt is still pending merge, and 1-10 % of the ticks were lost in our
// measurements, while this counter kept host time.
// All of it is 32-bit arithmetic: a 64-bit division would pull libgcc's
// unwinder tables (.ARM.exidx) into the link, which the linker script omits.
static volatile uint32_t board_seq;        // bumped by every SysTick interrupt
static volatile uint32_t board_last_us;    // COUNTER at the last interrupt
static volatile uint32_t board_ms;         // ms since start up to board_last_us - carry
static volatile uint32_t board_carry_us;   // us not yet folded into board_ms
static volatile uint32_t board_sec;        // whole seconds since start
static volatile uint32_t board_ms_in_sec;  // ms not yet folded into board_sec

void __wrap_SysTick_Handler(void) {
    uint32_t now = FPGAIO_COUNTER;
    uint32_t d = now - board_last_us + board_carry_us;
    uint32_t ms = d / 1000u;
    board_last_us = now;
    board_carry_us = d - ms * 1000u;
    board_ms = board_ms + ms;
    uint32_t m = board_ms_in_sec + ms;
    if (m >= 1000u) {
        board_sec = board_sec + m / 1000u;
        m %= 1000u;
    }
    board_ms_in_sec = m;
    board_seq = board_seq + 1u;
}

static void board_clock_start(void) {
    if (SYST_CSR & SYST_CSR_ENABLE) {
        return;  // already running (also across soft reboots)
    }
    FPGAIO_PRESCALE = BOARD_CLOCK_HZ / 1000000u - 1u;
    FPGAIO_COUNTER = 0;
    board_last_us = 0;
    SYST_RVR = BOARD_CLOCK_HZ / BOARD_SYSTICK_RATE - 1u;
    SYST_CVR = 0;
    SCB_SHPR3 = (SCB_SHPR3 & 0x00ffffffu) | (0x80u << 24);
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
}

// Microseconds since start, modulo 2**32.
static uint32_t board_now_us(void) {
    board_clock_start();
    return FPGAIO_COUNTER;
}

// Milliseconds and whole seconds since start: the last interrupt's figures
// plus what the counter moved since, read consistently (retry if an
// interrupt ran in between).
static uint32_t board_now_ms_sec(uint32_t *sec_out) {
    board_clock_start();
    uint32_t seq, ms, d, sec, msis;
    do {
        seq = board_seq;
        ms = board_ms;
        sec = board_sec;
        msis = board_ms_in_sec;
        d = FPGAIO_COUNTER - board_last_us + board_carry_us;
    } while (seq != board_seq);
    d /= 1000u;
    if (sec_out) {
        *sec_out = sec + (msis + d) / 1000u;
    }
    return ms + d;
}

static mp_obj_t board_ticks_ms(void) {
    return MP_OBJ_NEW_SMALL_INT(board_now_ms_sec(NULL) & TICKS_MASK);
}
static MP_DEFINE_CONST_FUN_OBJ_0(board_ticks_ms_obj, board_ticks_ms);

static mp_obj_t board_ticks_us(void) {
    return MP_OBJ_NEW_SMALL_INT(board_now_us() & TICKS_MASK);
}
static MP_DEFINE_CONST_FUN_OBJ_0(board_ticks_us_obj, board_ticks_us);

static mp_obj_t board_ticks_diff(mp_obj_t end_in, mp_obj_t start_in) {
    mp_uint_t start = MP_OBJ_SMALL_INT_VALUE(start_in);
    mp_uint_t end = MP_OBJ_SMALL_INT_VALUE(end_in);
    mp_int_t diff = ((end - start + TICKS_HALF) & TICKS_MASK) - TICKS_HALF;
    return MP_OBJ_NEW_SMALL_INT(diff);
}
static MP_DEFINE_CONST_FUN_OBJ_2(board_ticks_diff_obj, board_ticks_diff);

static mp_obj_t board_ticks_add(mp_obj_t ticks_in, mp_obj_t delta_in) {
    mp_uint_t ticks = MP_OBJ_SMALL_INT_VALUE(ticks_in);
    mp_uint_t delta = mp_obj_get_int(delta_in);
    if (delta + TICKS_HALF - 1 >= TICKS_PERIOD - 1) {
        mp_raise_msg(&mp_type_OverflowError, MP_ERROR_TEXT("ticks interval overflow"));
    }
    return MP_OBJ_NEW_SMALL_INT((ticks + delta) & TICKS_MASK);
}
static MP_DEFINE_CONST_FUN_OBJ_2(board_ticks_add_obj, board_ticks_add);

static inline void board_wfi(void) {
    __asm volatile ("wfi" ::: "memory");
}

// Wait `us` microseconds (< 2**32), handling pending exceptions
// (KeyboardInterrupt, scheduled callbacks); WFI while at least a millisecond
// remains, so the next SysTick interrupt cannot overshoot the deadline.
static void board_wait_us(uint32_t us) {
    uint32_t start = board_now_us();
    for (;;) {
        uint32_t elapsed = board_now_us() - start;
        if (elapsed >= us) {
            break;
        }
        mp_handle_pending(true);
        if (us - elapsed >= 1000u) {
            board_wfi();
        }
    }
}

static mp_obj_t board_sleep_ms(mp_obj_t ms_in) {
    mp_int_t ms = mp_obj_get_int(ms_in);
    while (ms > 0) {
        mp_int_t chunk = ms > 1000000 ? 1000000 : ms;
        board_wait_us((uint32_t)chunk * 1000u);
        ms -= chunk;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(board_sleep_ms_obj, board_sleep_ms);

static mp_obj_t board_sleep_us(mp_obj_t us_in) {
    mp_int_t us = mp_obj_get_int(us_in);
    if (us > 0) {
        board_wait_us((uint32_t)us);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(board_sleep_us_obj, board_sleep_us);

static mp_obj_t board_idle(void) {
    board_clock_start();
    board_wfi();
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_0(board_idle_obj, board_idle);

static mp_obj_t board_time(void) {
    uint32_t sec;
    board_now_ms_sec(&sec);
    return mp_obj_new_int_from_uint(sec);
}
static MP_DEFINE_CONST_FUN_OBJ_0(board_time_obj, board_time);

static mp_obj_t board_uart_write(mp_obj_t buf_in) {
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(buf_in, &bufinfo, MP_BUFFER_READ);
    const uint8_t *p = bufinfo.buf;
    board_uart_t *uart = BOARD_UART0;
    for (size_t i = 0; i < bufinfo.len; ++i) {
        while (uart->STATE & UART_STATE_TXFULL) {
        }
        uart->DATA = p[i];
    }
    return MP_OBJ_NEW_SMALL_INT(bufinfo.len);
}
static MP_DEFINE_CONST_FUN_OBJ_1(board_uart_write_obj, board_uart_write);

static mp_obj_t board_uart_readinto(mp_obj_t buf_in) {
    mp_buffer_info_t bufinfo;
    mp_get_buffer_raise(buf_in, &bufinfo, MP_BUFFER_WRITE);
    uint8_t *p = bufinfo.buf;
    board_uart_t *uart = BOARD_UART0;
    size_t n = 0;
    while (n < bufinfo.len && (uart->STATE & UART_STATE_RXFULL)) {
        p[n++] = (uint8_t)uart->DATA;
    }
    return MP_OBJ_NEW_SMALL_INT(n);
}
static MP_DEFINE_CONST_FUN_OBJ_1(board_uart_readinto_obj, board_uart_readinto);

static mp_obj_t board_uart_any(void) {
    return MP_OBJ_NEW_SMALL_INT((BOARD_UART0->STATE & UART_STATE_RXFULL) ? 1 : 0);
}
static MP_DEFINE_CONST_FUN_OBJ_0(board_uart_any_obj, board_uart_any);

static const mp_rom_map_elem_t board_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR__board) },
    { MP_ROM_QSTR(MP_QSTR_CLOCK_HZ), MP_ROM_INT(BOARD_CLOCK_HZ) },
    { MP_ROM_QSTR(MP_QSTR_ticks_ms), MP_ROM_PTR(&board_ticks_ms_obj) },
    { MP_ROM_QSTR(MP_QSTR_ticks_us), MP_ROM_PTR(&board_ticks_us_obj) },
    { MP_ROM_QSTR(MP_QSTR_ticks_diff), MP_ROM_PTR(&board_ticks_diff_obj) },
    { MP_ROM_QSTR(MP_QSTR_ticks_add), MP_ROM_PTR(&board_ticks_add_obj) },
    { MP_ROM_QSTR(MP_QSTR_sleep_ms), MP_ROM_PTR(&board_sleep_ms_obj) },
    { MP_ROM_QSTR(MP_QSTR_sleep_us), MP_ROM_PTR(&board_sleep_us_obj) },
    { MP_ROM_QSTR(MP_QSTR_idle), MP_ROM_PTR(&board_idle_obj) },
    { MP_ROM_QSTR(MP_QSTR_time), MP_ROM_PTR(&board_time_obj) },
    { MP_ROM_QSTR(MP_QSTR_uart_write), MP_ROM_PTR(&board_uart_write_obj) },
    { MP_ROM_QSTR(MP_QSTR_uart_readinto), MP_ROM_PTR(&board_uart_readinto_obj) },
    { MP_ROM_QSTR(MP_QSTR_uart_any), MP_ROM_PTR(&board_uart_any_obj) },
};
static MP_DEFINE_CONST_DICT(board_module_globals, board_module_globals_table);

const mp_obj_module_t board_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&board_module_globals,
};

MP_REGISTER_MODULE(MP_QSTR__board, board_module);
