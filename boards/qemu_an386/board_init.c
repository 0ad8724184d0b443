// Early board set-up for the mps2-an386 image: enable the FPU (CP10/CP11 full
// access in CPACR) before anything can execute a float instruction.
#include <stdint.h>

void __real_uart_init(void);

void __wrap_uart_init(void) {
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm volatile ("dsb\n isb" ::: "memory");
    __real_uart_init();
}
