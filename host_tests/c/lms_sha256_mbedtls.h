// Test of the LMS_SHA256_PLATFORM_HEADER hook (core/lms_sha256.h): the LMS
// core on mbedTLS's SHA-256 instead of its own. tools/build/test_lms_c.sh
// builds the C test a second time with
//   -DLMS_SHA256_PLATFORM_HEADER='"lms_sha256_mbedtls.h"' ... -lmbedcrypto
// It does not define LMS_SHA256_HAVE_BLOCK, so the generic one-block
// fallback of lms_sha256.c is exercised too. An ESP32 port would map the
// same four names to its hardware SHA driver.
#ifndef LMS_SHA256_MBEDTLS_H
#define LMS_SHA256_MBEDTLS_H

#include <stddef.h>
#include <stdint.h>

#include "mbedtls/sha256.h"
#include "mbedtls/version.h"

typedef mbedtls_sha256_context lms_sha256_ctx_t;

static inline void lms_sha256_init(lms_sha256_ctx_t *c) {
    mbedtls_sha256_init(c);
    #if MBEDTLS_VERSION_MAJOR < 3
    (void)mbedtls_sha256_starts_ret(c, 0);
    #else
    (void)mbedtls_sha256_starts(c, 0);
    #endif
}

static inline void lms_sha256_update(lms_sha256_ctx_t *c, const uint8_t *d, size_t n) {
    #if MBEDTLS_VERSION_MAJOR < 3
    (void)mbedtls_sha256_update_ret(c, d, n);
    #else
    (void)mbedtls_sha256_update(c, d, n);
    #endif
}

static inline void lms_sha256_final(lms_sha256_ctx_t *c, uint8_t out[32]) {
    #if MBEDTLS_VERSION_MAJOR < 3
    (void)mbedtls_sha256_finish_ret(c, out);
    #else
    (void)mbedtls_sha256_finish(c, out);
    #endif
    mbedtls_sha256_free(c);
}

#endif
