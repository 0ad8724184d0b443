// Portable byte helpers for the crypto seam: no MicroPython headers, no malloc.
#ifndef HG_BYTES_H
#define HG_BYTES_H

#include <stddef.h>
#include <stdint.h>

// 1 if the n bytes at a and b are equal, else 0; time depends only on n.
int hg_ct_equal(const uint8_t *a, const uint8_t *b, size_t n);

// dst[i] = a[i] ^ b[i] for i < n; dst may alias a or b.
void hg_xor(uint8_t *dst, const uint8_t *a, const uint8_t *b, size_t n);

#endif
