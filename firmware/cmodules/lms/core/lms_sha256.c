// SHA-256 (FIPS 180-4) for the LMS core: small, rolled, caller-owned state.
// Written for this project from the FIPS 180-4 description; constants are
// the standard's (first 32 bits of the fractional parts of the cube roots of
// the first 64 primes, and of the square roots of the first 8 primes).
#include <string.h>

#include "lms_sha256.h"

#ifdef LMS_COUNT_COMPRESSIONS
uint32_t lms_sha256_compressions;
#endif

#ifndef LMS_SHA256_PLATFORM_HEADER

static const uint32_t lms_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t lms_sha256_iv[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static inline uint32_t lms_load32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void lms_store32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

#define BSIG0(x) (ROR(x, 2) ^ ROR(x, 13) ^ ROR(x, 22))
#define BSIG1(x) (ROR(x, 6) ^ ROR(x, 11) ^ ROR(x, 25))
#define SSIG0(x) (ROR(x, 7) ^ ROR(x, 18) ^ ((x) >> 3))
#define SSIG1(x) (ROR(x, 17) ^ ROR(x, 19) ^ ((x) >> 10))
#define CH(e, f, g) ((g) ^ ((e) & ((f) ^ (g))))
#define MAJ(a, b, c) (((a) & (b)) | ((c) & ((a) | (b))))

#ifdef LMS_SHA256_HAVE_SHANI
// The portable compression below becomes lms_sha256_compress_portable; the
// exported lms_sha256_compress (at the end of this section) dispatches.
#define lms_sha256_compress lms_sha256_compress_portable
#endif

#if defined(LMS_SHA256_SMALL) || (defined(__OPTIMIZE_SIZE__) && !defined(LMS_SHA256_FAST))
// -Os builds (MCU ports): one rolled round, the message schedule in a
// 16-word ring (64 bytes of stack, not 256). About 0.5 KB of Thumb-2 code.
void lms_sha256_compress(uint32_t state[8], const uint8_t block[64]) {
    uint32_t w[16];
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    LMS_SHA256_COUNT(1);
    for (int i = 0; i < 64; i++) {
        uint32_t wi;
        if (i < 16) {
            wi = lms_load32(block + 4 * i);
        } else {
            uint32_t w15 = w[(i - 15) & 15], w2 = w[(i - 2) & 15];
            wi = w[i & 15] + w[(i - 7) & 15] + SSIG0(w15) + SSIG1(w2);
        }
        w[i & 15] = wi;
        uint32_t t1 = h + BSIG1(e) + CH(e, f, g) + lms_sha256_k[i] + wi;
        uint32_t t2 = BSIG0(a) + MAJ(a, b, c);
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}
#else
// Speed builds (host library, -O2 ports): eight rounds per loop pass with the
// working variables renamed instead of moved; schedule still in a ring.
#define RND(a, b, c, d, e, f, g, h, k, wv) do { \
        uint32_t t1_ = (h) + BSIG1(e) + CH(e, f, g) + (k) + (wv); \
        (d) += t1_; \
        (h) = t1_ + BSIG0(a) + MAJ(a, b, c); \
} while (0)
#define WS(i) (w[(i) & 15] += SSIG1(w[((i) - 2) & 15]) + w[((i) - 7) & 15] + SSIG0(w[((i) - 15) & 15]))
#define ROUNDS8(i, W) do { \
        RND(a, b, c, d, e, f, g, h, lms_sha256_k[(i) + 0], W((i) + 0)); \
        RND(h, a, b, c, d, e, f, g, lms_sha256_k[(i) + 1], W((i) + 1)); \
        RND(g, h, a, b, c, d, e, f, lms_sha256_k[(i) + 2], W((i) + 2)); \
        RND(f, g, h, a, b, c, d, e, lms_sha256_k[(i) + 3], W((i) + 3)); \
        RND(e, f, g, h, a, b, c, d, lms_sha256_k[(i) + 4], W((i) + 4)); \
        RND(d, e, f, g, h, a, b, c, lms_sha256_k[(i) + 5], W((i) + 5)); \
        RND(c, d, e, f, g, h, a, b, lms_sha256_k[(i) + 6], W((i) + 6)); \
        RND(b, c, d, e, f, g, h, a, lms_sha256_k[(i) + 7], W((i) + 7)); \
} while (0)
#define WL(i) (w[i])

void lms_sha256_compress(uint32_t state[8], const uint8_t block[64]) {
    uint32_t w[16];
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    LMS_SHA256_COUNT(1);
    for (int i = 0; i < 16; i++) {
        w[i] = lms_load32(block + 4 * i);
    }
    for (int i = 0; i < 16; i += 8) {
        ROUNDS8(i, WL);
    }
    for (int i = 16; i < 64; i += 8) {
        ROUNDS8(i, WS);
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}
#endif

#ifdef LMS_SHA256_HAVE_SHANI
#undef lms_sha256_compress
#include <immintrin.h>
#include <cpuid.h>

// x86-64 SHA extensions (host library builds with -DLMS_SHA256_X86_SHANI),
// written from the Intel SDM descriptions of the instructions:
//   SHA256RNDS2 dst(CDGH), src(ABEF), XMM0: two rounds; words are laid out
//     high to low as A,B,E,F in src and C,D,G,H in dst, and the result is
//     the new A,B,E,F. The new C,D,G,H of two rounds later is the old
//     A,B,E,F, so two calls with the operands swapped make four rounds.
//     XMM0 bits 31:0 and 63:32 hold W[t]+K[t] of the two rounds.
//   SHA256MSG1 a(W[t-16..t-13]), b(W[t-12]..): W[t-16+i] + sigma0(W[t-15+i]).
//   SHA256MSG2 a(that + W[t-7..t-4]), b(W[t-4..t-1]): adds sigma1 of
//     W[t-2], W[t-1] and then of the two words it has just produced.
// Vector lane i (bits 32i+31:32i) holds word 4g+i of message group g.

#define LMS_SHANI_TARGET __attribute__((target("sha,sse4.1")))

// Four rounds of group g with its message words m (lane i = W[4g+i]).
#define LMS_SHANI_4ROUNDS(m, g) do { \
        __m128i wk_ = _mm_add_epi32((m), _mm_loadu_si128((const __m128i *)&lms_sha256_k[4 * (g)])); \
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk_);      /* cdgh now holds A,B,E,F */ \
        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk_, 0x0e)); \
} while (0)

// Next message group, replacing m0 (W[t-16..t-13]) by W[t..t+3].
#define LMS_SHANI_SCHEDULE(m0, m1, m2, m3) \
    ((m0) = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32((m0), (m1)), \
        _mm_alignr_epi8((m3), (m2), 4)), (m3)))

LMS_SHANI_TARGET
void lms_sha256_compress_shani(uint32_t state[8], const uint8_t block[64]) {
    // Byte shuffle that turns each little-endian 32-bit lane big-endian.
    const __m128i bswap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    LMS_SHA256_COUNT(1);
    // state[0..3] = a,b,c,d and state[4..7] = e,f,g,h (lane 0 first), to
    // abef = (f,e,b,a) and cdgh = (h,g,d,c) by lane.
    __m128i s0 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)state), 0xb1);        // b,a,d,c
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)(state + 4)), 0x1b);  // h,g,f,e
    __m128i abef = _mm_alignr_epi8(s0, s1, 8);      // f,e,b,a
    __m128i cdgh = _mm_blend_epi16(s1, s0, 0xf0);   // h,g,d,c
    const __m128i abef0 = abef, cdgh0 = cdgh;

    __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)block), bswap);
    __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(block + 16)), bswap);
    __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(block + 32)), bswap);
    __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(block + 48)), bswap);
    LMS_SHANI_4ROUNDS(m0, 0);
    LMS_SHANI_4ROUNDS(m1, 1);
    LMS_SHANI_4ROUNDS(m2, 2);
    LMS_SHANI_4ROUNDS(m3, 3);
    for (int g = 4; g < 16; g += 4) {
        LMS_SHANI_SCHEDULE(m0, m1, m2, m3);
        LMS_SHANI_4ROUNDS(m0, g);
        LMS_SHANI_SCHEDULE(m1, m2, m3, m0);
        LMS_SHANI_4ROUNDS(m1, g + 1);
        LMS_SHANI_SCHEDULE(m2, m3, m0, m1);
        LMS_SHANI_4ROUNDS(m2, g + 2);
        LMS_SHANI_SCHEDULE(m3, m0, m1, m2);
        LMS_SHANI_4ROUNDS(m3, g + 3);
    }
    abef = _mm_add_epi32(abef, abef0);
    cdgh = _mm_add_epi32(cdgh, cdgh0);
    // Back to a,b,c,d / e,f,g,h.
    s0 = _mm_shuffle_epi32(abef, 0x1b);             // a,b,e,f
    s1 = _mm_shuffle_epi32(cdgh, 0xb1);             // g,h,c,d
    _mm_storeu_si128((__m128i *)state, _mm_blend_epi16(s0, s1, 0xf0));          // a,b,c,d
    _mm_storeu_si128((__m128i *)(state + 4), _mm_alignr_epi8(s1, s0, 8));       // e,f,g,h
}

int lms_sha256_shani_available(void) {
    // 0: not checked yet, 1: yes, -1: no. Relaxed atomics: concurrent first
    // callers at worst both run CPUID and store the same value.
    static int cached;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v == 0) {
        unsigned a, b, c, d;
        // SHA: CPUID.(EAX=7,ECX=0):EBX bit 29; the code also uses SSSE3 and
        // SSE4.1 (CPUID.1:ECX bits 9 and 19), present on every SHA CPU.
        int sha = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
        int sse = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 9)) && (c & (1u << 19));
        v = (sha && sse) ? 1 : -1;
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v > 0;
}

void lms_sha256_compress(uint32_t state[8], const uint8_t block[64]) {
    if (lms_sha256_shani_available()) {
        lms_sha256_compress_shani(state, block);
    } else {
        lms_sha256_compress_portable(state, block);
    }
}
#endif // LMS_SHA256_HAVE_SHANI

void lms_sha256_init(lms_sha256_ctx_t *ctx) {
    memcpy(ctx->state, lms_sha256_iv, sizeof(ctx->state));
    ctx->nbytes_lo = 0;
    ctx->nbytes_hi = 0;
}

void lms_sha256_update(lms_sha256_ctx_t *ctx, const uint8_t *data, size_t len) {
    size_t used = ctx->nbytes_lo & 63;
    uint32_t lo = ctx->nbytes_lo + (uint32_t)len;
    // size_t may be 64-bit: carry every bit above 32 into the high word.
    ctx->nbytes_hi += (uint32_t)(((uint64_t)len) >> 32) + (lo < ctx->nbytes_lo);
    ctx->nbytes_lo = lo;
    if (used) {
        size_t take = 64 - used;
        if (take > len) {
            take = len;
        }
        memcpy(ctx->buf + used, data, take);
        data += take;
        len -= take;
        if (used + take < 64) {
            return;
        }
        lms_sha256_compress(ctx->state, ctx->buf);
    }
    while (len >= 64) {
        lms_sha256_compress(ctx->state, data);
        data += 64;
        len -= 64;
    }
    memcpy(ctx->buf, data, len);
}

void lms_sha256_final(lms_sha256_ctx_t *ctx, uint8_t out[32]) {
    size_t used = ctx->nbytes_lo & 63;
    uint32_t bits_hi = (ctx->nbytes_hi << 3) | (ctx->nbytes_lo >> 29);
    uint32_t bits_lo = ctx->nbytes_lo << 3;
    ctx->buf[used++] = 0x80;
    if (used > 56) {
        memset(ctx->buf + used, 0, 64 - used);
        lms_sha256_compress(ctx->state, ctx->buf);
        used = 0;
    }
    memset(ctx->buf + used, 0, 56 - used);
    lms_store32(ctx->buf + 56, bits_hi);
    lms_store32(ctx->buf + 60, bits_lo);
    lms_sha256_compress(ctx->state, ctx->buf);
    for (int i = 0; i < 8; i++) {
        lms_store32(out + 4 * i, ctx->state[i]);
    }
    // The context may have held secret material (seeds, chain values).
    volatile uint8_t *p = (volatile uint8_t *)ctx;
    for (size_t i = 0; i < sizeof(*ctx); i++) {
        p[i] = 0;
    }
}

void lms_sha256_block(uint8_t *out, size_t out_len, const uint8_t block[64], size_t msg_len) {
    uint32_t st[8];
    (void)msg_len;
    memcpy(st, lms_sha256_iv, sizeof(st));
    lms_sha256_compress(st, block);
    size_t i = 0;
    for (; i + 4 <= out_len; i += 4) {
        lms_store32(out + i, st[i / 4]);
    }
    for (; i < out_len; i++) {
        out[i] = (uint8_t)(st[i / 4] >> (24 - 8 * (i & 3)));
    }
}

#else // LMS_SHA256_PLATFORM_HEADER

#ifndef LMS_SHA256_HAVE_BLOCK
// Generic fallback: hash the msg_len message bytes (the platform pads).
void lms_sha256_block(uint8_t *out, size_t out_len, const uint8_t block[64], size_t msg_len) {
    lms_sha256_ctx_t ctx;
    uint8_t d[32];
    lms_sha256_init(&ctx);
    lms_sha256_update(&ctx, block, msg_len);
    lms_sha256_final(&ctx, d);
    LMS_SHA256_COUNT(1);
    memcpy(out, d, out_len);
}
#endif

#endif // LMS_SHA256_PLATFORM_HEADER

void lms_sha256_pad_block(uint8_t block[64], size_t msg_len) {
    uint32_t bits = (uint32_t)msg_len * 8;
    block[msg_len] = 0x80;
    memset(block + msg_len + 1, 0, 62 - msg_len - 1);
    block[62] = (uint8_t)(bits >> 8);
    block[63] = (uint8_t)bits;
}
