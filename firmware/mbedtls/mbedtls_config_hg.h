// Minimal mbedTLS configuration: only what hashlib.sha256 and cryptolib.aes need.
#ifndef HG_MBEDTLS_CONFIG_HG_H
#define HG_MBEDTLS_CONFIG_HG_H

#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_AES_FEWER_TABLES
#define MBEDTLS_CIPHER_MODE_CBC
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA256_SMALLER

#endif
