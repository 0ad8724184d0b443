// SHA-256 for the LMS core, with prefixed names (MicroPython already exports
// global sha256_init/update/final from lib/crypto-algorithms).
//
// Platform hook: build with -DLMS_SHA256_PLATFORM_HEADER='"my_sha.h"' to
// replace this implementation (e.g. by ESP32 hardware SHA or mbedTLS). That
// header must provide, with these exact signatures:
//
//     typedef ... lms_sha256_ctx_t;
//     void lms_sha256_init(lms_sha256_ctx_t *ctx);
//     void lms_sha256_update(lms_sha256_ctx_t *ctx, const uint8_t *data, size_t len);
//     void lms_sha256_final(lms_sha256_ctx_t *ctx, uint8_t out[32]);
//
// and may provide (if it can run one compression on a caller-padded block)
//
//     #define LMS_SHA256_HAVE_BLOCK 1
//     void lms_sha256_block(uint8_t *out, size_t out_len, const uint8_t block[64], size_t msg_len);
//
// otherwise lms_sha256.c supplies lms_sha256_block() from init/update/final.
// Example mapping to mbedTLS (2.28/3.x):
//
//     #include "mbedtls/sha256.h"
//     typedef mbedtls_sha256_context lms_sha256_ctx_t;
//     #define lms_sha256_init(c)        (mbedtls_sha256_init(c), (void)mbedtls_sha256_starts((c), 0))
//     #define lms_sha256_update(c, d, n) ((void)mbedtls_sha256_update((c), (d), (n)))
//     #define lms_sha256_final(c, o)    ((void)mbedtls_sha256_finish((c), (o)))
//
// Compression counter: with -DLMS_COUNT_COMPRESSIONS every 64-byte
// compression of the built-in implementation increments
// lms_sha256_compressions (benchmarks: "compressions per verify").
#ifndef LMS_SHA256_H
#define LMS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef LMS_SHA256_PLATFORM_HEADER
#include LMS_SHA256_PLATFORM_HEADER
#else

typedef struct {
    uint32_t state[8];
    uint32_t nbytes_lo;     // total length in bytes (64-bit, split for C99 M0 friendliness)
    uint32_t nbytes_hi;
    uint8_t buf[64];
} lms_sha256_ctx_t;

void lms_sha256_init(lms_sha256_ctx_t *ctx);
void lms_sha256_update(lms_sha256_ctx_t *ctx, const uint8_t *data, size_t len);
// Writes the digest and wipes the context.
void lms_sha256_final(lms_sha256_ctx_t *ctx, uint8_t out[32]);

// One SHA-256 compression: state = F(state, block), block as 64 bytes.
void lms_sha256_compress(uint32_t state[8], const uint8_t block[64]);

#define LMS_SHA256_HAVE_BLOCK 1

// x86-64 SHA extensions: with -DLMS_SHA256_X86_SHANI (GCC/clang, x86-64
// only; the CPython host library turns it on) lms_sha256_compress uses the
// SHA-NI instructions when CPUID reports them (checked once) and the portable
// code otherwise. Both are also exported for tests. Without the macro nothing
// changes.
#if defined(LMS_SHA256_X86_SHANI) && defined(__x86_64__) && defined(__GNUC__)
#define LMS_SHA256_HAVE_SHANI 1
void lms_sha256_compress_portable(uint32_t state[8], const uint8_t block[64]);
// Only on a CPU for which lms_sha256_shani_available() is true.
void lms_sha256_compress_shani(uint32_t state[8], const uint8_t block[64]);
int lms_sha256_shani_available(void);
#endif
#endif

// SHA-256 of a message of msg_len <= 55 bytes that the caller has already
// laid out and padded in block (msg || 0x80 || zeros || 64-bit bit length):
// exactly one compression, no buffering. Writes the first out_len (<= 32)
// bytes of the digest to out, which may point inside block (the block is
// fully read before out is written).
void lms_sha256_block(uint8_t *out, size_t out_len, const uint8_t block[64], size_t msg_len);

// Lay out the SHA-256 padding for a msg_len-byte (<= 55) one-block message.
void lms_sha256_pad_block(uint8_t block[64], size_t msg_len);

#ifdef LMS_COUNT_COMPRESSIONS
extern uint32_t lms_sha256_compressions;
#define LMS_SHA256_COUNT(n) (lms_sha256_compressions += (n))
#else
#define LMS_SHA256_COUNT(n) ((void)0)
#endif

#endif // LMS_SHA256_H
