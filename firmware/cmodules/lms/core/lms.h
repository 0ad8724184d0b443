// LMS / HSS hash-based signatures (RFC 8554) with the SHA-256/192 parameter
// sets of RFC 9858: verification (one-shot and streaming) and, under
// LMS_ENABLE_SIGN, stateless signing primitives for a caller-managed state.
//
// Portable C99: no MicroPython headers, no malloc; every buffer is the
// caller's or on the stack (verify worst case < 1 KB of stack).
//
// Parameter sets (typecodes, RFC 8554 sec. 4.1/5.1 and RFC 9858 sec. 4):
//   LMS   SHA-256   M32 H5..H25 = 5..9     SHA-256/192 M24 H5..H25 = 10..14
//   LMOTS SHA-256   N32 W1..W8  = 1..4     SHA-256/192 N24 W1..W8  = 5..8
//   SHAKE256 sets (LMS 15..24, LM-OTS 9..16) and every other typecode give
//   LMS_ERR_UNSUPPORTED.
//
// Return codes: 0 = valid / success, otherwise one of:
//   LMS_ERR_INVALID      the encodings are well formed, the signature does not
//                        verify (any hash check failed: one generic code);
//   LMS_ERR_MALFORMED    structure: a length is wrong (short, or trailing
//                        bytes), L not in 1..8, Nspk != L-1, a typecode in a
//                        signature differs from the key's, q >= 2^h;
//   LMS_ERR_UNSUPPORTED  a key (the public key or a signed child key) names a
//                        parameter set this code does not implement;
//   LMS_ERR_ARG          signing API only: bad argument or output too small.
// Verification checks the whole structure before hashing anything, so the
// code does not depend on where in the signature a corruption sits: a
// structural error always wins over INVALID.
#ifndef LMS_H
#define LMS_H

#include <stddef.h>
#include <stdint.h>

#include "lms_sha256.h"

#define LMS_OK (0)
#define LMS_ERR_INVALID (-1)
#define LMS_ERR_MALFORMED (-2)
#define LMS_ERR_UNSUPPORTED (-3)
#define LMS_ERR_ARG (-4)

// LMS typecodes
#define LMS_SHA256_M32_H5 (5)
#define LMS_SHA256_M32_H10 (6)
#define LMS_SHA256_M32_H15 (7)
#define LMS_SHA256_M32_H20 (8)
#define LMS_SHA256_M32_H25 (9)
#define LMS_SHA256_M24_H5 (10)
#define LMS_SHA256_M24_H10 (11)
#define LMS_SHA256_M24_H15 (12)
#define LMS_SHA256_M24_H20 (13)
#define LMS_SHA256_M24_H25 (14)
// LM-OTS typecodes
#define LMOTS_SHA256_N32_W1 (1)
#define LMOTS_SHA256_N32_W2 (2)
#define LMOTS_SHA256_N32_W4 (3)
#define LMOTS_SHA256_N32_W8 (4)
#define LMOTS_SHA256_N24_W1 (5)
#define LMOTS_SHA256_N24_W2 (6)
#define LMOTS_SHA256_N24_W4 (7)
#define LMOTS_SHA256_N24_W8 (8)

#define LMS_I_LEN (16)
#define LMS_MAX_N (32)          // largest n and m
#define LMS_MAX_H (25)
#define LMS_MAX_P (265)         // LMOTS_SHA256_N32_W1
#define LMS_MAX_LEVELS (8)      // HSS: 1 <= L <= 8

// Sizes from the parameters (n, p of LM-OTS; m, h of LMS):
#define LMS_OTS_SIG_LEN(n, p) (4 + (n) * ((p) + 1))
#define LMS_SIG_LEN(n, p, m, h) (4 + LMS_OTS_SIG_LEN(n, p) + 4 + (m) * (h))
#define LMS_PUB_LEN(m) (4 + 4 + LMS_I_LEN + (m))   // type || otstype || I || T[1]
#define LMS_HSS_PUB_LEN(m) (4 + LMS_PUB_LEN(m))    // u32(L) || LMS public key

typedef struct {
    uint8_t n;      // hash output bytes (32 or 24)
    uint8_t w;      // Winternitz width (1, 2, 4, 8)
    uint8_t ls;     // checksum left shift
    uint16_t p;     // number of chains
} lms_ots_param_t;

typedef struct {
    uint8_t m;      // node bytes (32 or 24)
    uint8_t h;      // tree height (5..25)
} lms_tree_param_t;

// Parameter look-ups: LMS_OK, or LMS_ERR_UNSUPPORTED for any other typecode.
int lms_ots_param(uint32_t ots_type, lms_ots_param_t *out);
int lms_tree_param(uint32_t lms_type, lms_tree_param_t *out);
// Encoded sizes, 0 if a typecode is unsupported.
size_t lms_pub_len(uint32_t lms_type);
size_t lms_sig_len(uint32_t lms_type, uint32_t ots_type);

// ------------------------------------------------------------ verification

// Streaming verification context. init() checks the whole structure of pub
// and sig and verifies the upper HSS levels (the signed child public keys);
// update() hashes message bytes; final() finishes the bottom-level check.
// The context keeps a pointer into sig (the bottom LMS signature): the
// caller keeps sig alive and unchanged until final(). pub may be released
// after init() (the bottom key's I and T[1] are copied in).
// init() returns its status, which final() returns again when it is an
// error (update() is then a no-op), so a caller may check only final().
// final() may be called once; later calls return LMS_ERR_INVALID.
typedef struct {
    lms_sha256_ctx_t msg;       // H(I || u32(q) || D_MESG || C || message...)
    const uint8_t *sig;         // bottom-level LMS signature, inside the caller's sig
    uint8_t I[LMS_I_LEN];       // bottom-level key
    uint8_t T[LMS_MAX_N];
    uint32_t lms_type;
    uint32_t ots_type;
    int status;                 // 1 while running, else the result to report
} lms_hss_verify_ctx_t;

// HSS encodings: pub = u32(L) || LMS pub; sig = u32(Nspk) || signed pubs || LMS sig.
// sizeof(lms_hss_verify_ctx_t), for FFI callers that allocate it themselves.
size_t lms_hss_verify_ctx_size(void);

int lms_hss_verify_init(lms_hss_verify_ctx_t *ctx, const uint8_t *pub, size_t pub_len,
    const uint8_t *sig, size_t sig_len);
void lms_hss_verify_update(lms_hss_verify_ctx_t *ctx, const uint8_t *msg, size_t len);
int lms_hss_verify_final(lms_hss_verify_ctx_t *ctx);
int lms_hss_verify(const uint8_t *pub, size_t pub_len, const uint8_t *msg, size_t msg_len,
    const uint8_t *sig, size_t sig_len);

// Bare LMS encodings (no L / Nspk words; NIST SP 800-208 / ACVP style):
// lms_verify_init() sets up the same context (continue with
// lms_hss_verify_update/final).
int lms_verify_init(lms_hss_verify_ctx_t *ctx, const uint8_t *pub, size_t pub_len,
    const uint8_t *sig, size_t sig_len);
int lms_verify(const uint8_t *pub, size_t pub_len, const uint8_t *msg, size_t msg_len,
    const uint8_t *sig, size_t sig_len);

// ------------------------------------------------------------ signing
#ifdef LMS_ENABLE_SIGN
// Stateless primitives: the caller's state layer owns the leaf index q,
// persists q+1 BEFORE releasing a signature for leaf q, and never reuses a
// q. Nothing here picks or advances q.
//
// Keys follow RFC 8554 Appendix A: the private element
//   x_q[i] = H(I || u32(q) || u16(i) || u8(0xff) || SEED)
// and the signature randomizer (as in cisco/hash-sigs and Botan, so the
// RFC 8554 App. F TC2 signature is reproduced byte for byte)
//   C = H(I || u32(q) || u16(0xfffd) || u8(0xff) || SEED),
// truncated to n bytes. SEED is 16..32 bytes (normally n). Secret values
// held in stack buffers are wiped before return.
//
// Cost and memory (one "leaf" = one LM-OTS public key = p * 2^w + a few
// compressions, 8.7k for W8/N32):
//  * lms_tree_nodes(): all 2^(h+1)-1 nodes into a caller buffer of
//    LMS_TREE_NODES_LEN(m, h) bytes (64 KiB for M32/H10): 2^h leaves, once.
//    Then lms_sign(..., nodes) costs one LM-OTS signature (<= p*2^w
//    compressions) and no tree work. The host signer's choice.
//  * lms_sign(..., nodes = NULL) / lms_auth_path(): treehash over the whole
//    tree with h+1 nodes on the stack (~0.9 KB for H25): 2^h leaves per
//    signature, no tree buffer. The device/low-RAM choice; fine for small h.
//  * lms_keygen(): the root by treehash (2^h leaves, O(h) memory).
#define LMS_TREE_NODES_LEN(m, h) (((size_t)2 << (h)) * (m))

// LMS public key (type || otstype || I || T[1]) into pub (LMS_PUB_LEN(m)).
int lms_keygen(uint8_t *pub, size_t pub_cap, uint32_t lms_type, uint32_t ots_type,
    const uint8_t I[LMS_I_LEN], const uint8_t *seed, size_t seed_len);

// Every node T[r], r = 1 .. 2^(h+1)-1, at nodes + r*m (the first m bytes are
// unused). nodes_len >= LMS_TREE_NODES_LEN(m, h).
int lms_tree_nodes(uint8_t *nodes, size_t nodes_len, uint32_t lms_type, uint32_t ots_type,
    const uint8_t I[LMS_I_LEN], const uint8_t *seed, size_t seed_len);

// Authentication path of leaf q (h nodes of m bytes, leaf sibling first) by
// bounded-memory treehash; also writes the root T[1] if root != NULL.
int lms_auth_path(uint8_t *path, size_t path_cap, uint8_t *root, uint32_t lms_type,
    uint32_t ots_type, const uint8_t I[LMS_I_LEN], const uint8_t *seed, size_t seed_len,
    uint32_t q);

// LMS signature for leaf q (q < 2^h) over msg into sig (lms_sig_len() bytes).
// nodes: NULL (treehash) or a buffer filled by lms_tree_nodes() for the same
// key (not checked: a wrong buffer gives a signature that fails verify).
int lms_sign(uint8_t *sig, size_t sig_cap, uint32_t lms_type, uint32_t ots_type,
    const uint8_t I[LMS_I_LEN], const uint8_t *seed, size_t seed_len, uint32_t q,
    const uint8_t *msg, size_t msg_len, const uint8_t *nodes, size_t nodes_len);

// HSS signature: u32(L-1) || signed_pub[0] || ... || signed_pub[L-2] || lms_sig,
// where signed_pub[i] = LMS sig by level i of level i+1's LMS public key ||
// that public key. Writes *out_len; LMS_ERR_ARG if L is not 1..8 or cap is
// too small. Pure concatenation (verify the result to check it).
int lms_hss_sig_assemble(uint8_t *out, size_t cap, size_t *out_len, uint32_t levels,
    const uint8_t *const signed_pub[], const size_t signed_pub_len[],
    const uint8_t *lms_sig, size_t lms_sig_len);
#endif // LMS_ENABLE_SIGN

#endif // LMS_H
