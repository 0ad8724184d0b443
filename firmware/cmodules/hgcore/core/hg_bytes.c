#include "hg_bytes.h"

int hg_ct_equal(const uint8_t *a, const uint8_t *b, size_t n) {
    // Accumulate every difference; no early exit, no data-dependent branch.
    volatile uint8_t diff = 0;
    for (size_t i = 0; i < n; i++) {
        diff |= (uint8_t)(a[i] ^ b[i]);
    }
    return (int)((((uint32_t)diff) - 1u) >> 31);
}

void hg_xor(uint8_t *dst, const uint8_t *a, const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        dst[i] = (uint8_t)(a[i] ^ b[i]);
    }
}
