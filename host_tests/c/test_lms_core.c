// Host test of the portable LMS/HSS core (firmware/cmodules/lms/core), built
// with ASan+UBSan by tools/build/test_lms_c.sh, which flattens the JSON
// vectors of host_tests/vectors/lms/ into a line file given as argv[1]:
//   V name kind expect pub msg sig          verify (kind hss|lms; expect valid|
//                                           invalid|malformed|unsupported|fail)
//   K name lms_type ots_type I seed pub     keygen known answer
//   S name lms_type ots_type I seed q msg expected sig|sha256   sign known answer
//   B name botan_private_key msg sig        Botan HSS sign KAT (derive + re-sign)
// Hex "-" is the empty string. Prints "lms-c: N passed, N failed".
// Built with -DLMS_SHA256_X86_SHANI (x86-64) it also compares the SHA-NI
// compression with the portable one (test_shani).
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lms.h"

static int passed, failed;

#define CHECK(cond, ...) do { \
        if (cond) { passed++; } else { \
            failed++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); \
        } \
} while (0)

typedef struct {
    uint8_t *b;
    size_t n;
} buf_t;

static buf_t unhex(const char *h) {
    buf_t r = {NULL, 0};
    if (strcmp(h, "-") == 0) {
        r.b = malloc(1);
        return r;
    }
    r.n = strlen(h) / 2;
    r.b = malloc(r.n + 1);
    for (size_t i = 0; i < r.n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        r.b[i] = (uint8_t)v;
    }
    return r;
}

static uint32_t get32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int code_of(const char *e) {
    if (!strcmp(e, "valid")) {
        return 0;
    } else if (!strcmp(e, "invalid")) {
        return LMS_ERR_INVALID;
    } else if (!strcmp(e, "malformed")) {
        return LMS_ERR_MALFORMED;
    } else if (!strcmp(e, "unsupported")) {
        return LMS_ERR_UNSUPPORTED;
    }
    return 99;  // "fail": any error
}

static int verify_kind(int hss, const buf_t *p, const buf_t *m, const buf_t *s) {
    return hss ? lms_hss_verify(p->b, p->n, m->b, m->n, s->b, s->n)
               : lms_verify(p->b, p->n, m->b, m->n, s->b, s->n);
}

static int verify_stream(int hss, const buf_t *p, const buf_t *m, const buf_t *s, size_t chunk) {
    lms_hss_verify_ctx_t ctx;
    if (hss) {
        lms_hss_verify_init(&ctx, p->b, p->n, s->b, s->n);
    } else {
        lms_verify_init(&ctx, p->b, p->n, s->b, s->n);
    }
    for (size_t off = 0; off < m->n; off += chunk) {
        size_t k = m->n - off < chunk ? m->n - off : chunk;
        lms_hss_verify_update(&ctx, m->b + off, k);
    }
    return lms_hss_verify_final(&ctx);
}

static void test_verify(const char *name, const char *kind, const char *expect,
    buf_t p, buf_t m, buf_t s) {
    int hss = !strcmp(kind, "hss");
    int want = code_of(expect);
    int got = verify_kind(hss, &p, &m, &s);
    if (want == 99) {
        CHECK(got != 0, "%s: expected failure, got %d", name, got);
    } else {
        CHECK(got == want, "%s: expected %d (%s), got %d", name, want, expect, got);
    }
    if (want != 0) {
        return;
    }
    static const size_t chunks[] = {1, 3, 55, 64, 1000};
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        CHECK(verify_stream(hss, &p, &m, &s, chunks[i]) == 0, "%s: streaming chunk %zu", name, chunks[i]);
    }
    // Another message must fail with the generic INVALID code.
    buf_t m2 = {malloc(m.n + 1), m.n + 1};
    memcpy(m2.b, m.b, m.n);
    m2.b[m.n] = 0;
    CHECK(verify_kind(hss, &p, &m2, &s) == LMS_ERR_INVALID, "%s: appended message byte", name);
    if (m.n) {
        m2.n = m.n;
        m2.b[0] ^= 1;
        CHECK(verify_kind(hss, &p, &m2, &s) == LMS_ERR_INVALID, "%s: flipped message bit", name);
    }
    free(m2.b);
    // The other encoding must not parse as this one.
    CHECK(verify_kind(!hss, &p, &m, &s) != 0, "%s: accepted under the other encoding", name);
}

static void test_keygen(const char *name, uint32_t lt, uint32_t ot, buf_t I, buf_t seed, buf_t pub) {
    uint8_t out[LMS_PUB_LEN(32)];
    int r = lms_keygen(out, sizeof(out), lt, ot, I.b, seed.b, seed.n);
    CHECK(r == 0 && pub.n == lms_pub_len(lt) && memcmp(out, pub.b, pub.n) == 0, "%s: keygen (ret %d)", name, r);
    lms_tree_param_t t;
    lms_tree_param(lt, &t);
    if (t.h <= 10) {
        size_t nl = LMS_TREE_NODES_LEN(t.m, t.h);
        uint8_t *nodes = malloc(nl);
        r = lms_tree_nodes(nodes, nl, lt, ot, I.b, seed.b, seed.n);
        CHECK(r == 0 && memcmp(nodes + t.m, pub.b + 24, t.m) == 0, "%s: tree root", name);
        uint32_t qs[3] = {0, 1u << (t.h - 1), (1u << t.h) - 1};
        for (int k = 0; k < 3; k++) {
            uint8_t path[LMS_MAX_H * LMS_MAX_N], root[LMS_MAX_N];
            r = lms_auth_path(path, sizeof(path), root, lt, ot, I.b, seed.b, seed.n, qs[k]);
            int ok = r == 0 && memcmp(root, pub.b + 24, t.m) == 0;
            uint32_t node = (1u << t.h) + qs[k];
            for (uint32_t i = 0; ok && i < t.h; i++, node >>= 1) {
                ok = memcmp(path + i * t.m, nodes + (size_t)(node ^ 1) * t.m, t.m) == 0;
            }
            CHECK(ok, "%s: treehash auth path of leaf %u", name, qs[k]);
        }
        free(nodes);
    }
}

static void sha256(uint8_t out[32], const uint8_t *d, size_t n) {
    lms_sha256_ctx_t c;
    lms_sha256_init(&c);
    lms_sha256_update(&c, d, n);
    lms_sha256_final(&c, out);
}

// Sign at q with and without a node buffer; compare with the expected bytes
// (or their SHA-256) and verify under pub.
static void test_sign(const char *name, uint32_t lt, uint32_t ot, buf_t I, buf_t seed, uint32_t q,
    buf_t msg, buf_t expected, const char *mode, buf_t pub) {
    size_t sl = lms_sig_len(lt, ot);
    lms_tree_param_t t;
    lms_tree_param(lt, &t);
    uint8_t *sig = malloc(sl), *sig2 = malloc(sl);
    int r = lms_sign(sig, sl, lt, ot, I.b, seed.b, seed.n, q, msg.b, msg.n, NULL, 0);
    CHECK(r == 0, "%s: sign ret %d", name, r);
    if (!strcmp(mode, "sig")) {
        CHECK(expected.n == sl && memcmp(sig, expected.b, sl) == 0, "%s: signature bytes", name);
    } else {
        uint8_t d[32];
        sha256(d, sig, sl);
        CHECK(expected.n == 32 && memcmp(d, expected.b, 32) == 0, "%s: SHA-256 of signature", name);
    }
    size_t nl = LMS_TREE_NODES_LEN(t.m, t.h);
    uint8_t *nodes = malloc(nl);
    lms_tree_nodes(nodes, nl, lt, ot, I.b, seed.b, seed.n);
    r = lms_sign(sig2, sl, lt, ot, I.b, seed.b, seed.n, q, msg.b, msg.n, nodes, nl);
    CHECK(r == 0 && memcmp(sig, sig2, sl) == 0, "%s: sign with nodes == treehash", name);
    CHECK(lms_verify(pub.b, pub.n, msg.b, msg.n, sig, sl) == 0, "%s: own signature verifies", name);
    free(nodes);
    free(sig);
    free(sig2);
}

// Botan / cisco hash-sigs "SECRET_METHOD 2" child derivation, from RFC 8554
// App. A's PRF: child SEED = H(I||u32(q)||u16(0xfffe)||0xff||SEED),
// child I = first 16 bytes of H(I||u32(q)||u16(0xffff)||0xff||SEED).
static void derive_child(uint8_t seed_out[32], uint8_t I_out[16], const uint8_t *I,
    uint32_t q, const uint8_t *seed) {
    uint8_t b[55], d[32];
    memcpy(b, I, 16);
    put32(b + 16, q);
    b[22] = 0xff;
    memcpy(b + 23, seed, 32);
    b[20] = 0xff;
    b[21] = 0xfe;
    sha256(seed_out, b, sizeof(b));
    b[21] = 0xff;
    sha256(d, b, sizeof(b));
    memcpy(I_out, d, 16);
}

static void test_botan(const char *name, buf_t sk, buf_t msg, buf_t sig) {
    uint32_t L = get32(sk.b);
    const uint8_t *types = sk.b + 12, *seed0 = sk.b + 12 + 8 * L, *I0 = seed0 + 32;
    uint8_t hpub[4 + LMS_PUB_LEN(32)];
    put32(hpub, L);
    int r = lms_keygen(hpub + 4, sizeof(hpub) - 4, get32(types), get32(types + 4), I0, seed0, 32);
    CHECK(r == 0, "%s: root keygen", name);
    buf_t p = {hpub, 4 + lms_pub_len(get32(types))};
    CHECK(lms_hss_verify(hpub, p.n, msg.b, msg.n, sig.b, sig.n) == 0, "%s: HSS verify (L=%u)", name, L);

    // Re-sign: walk the levels, derive each child key from its parent's leaf,
    // sign with our primitives, assemble, and compare bytes.
    uint8_t seed[32], I[16], cseed[32], cI[16];
    memcpy(seed, seed0, 32);
    memcpy(I, I0, 16);
    size_t off = 4;
    uint8_t *parts[LMS_MAX_LEVELS];
    size_t lens[LMS_MAX_LEVELS];
    const uint8_t *cparts[LMS_MAX_LEVELS];
    uint8_t *bottom = NULL;
    size_t bottom_len = 0;
    for (uint32_t l = 0; l < L; l++) {
        uint32_t lt = get32(types + 8 * l), ot = get32(types + 8 * l + 4);
        uint32_t q = get32(sig.b + off);
        size_t sl = lms_sig_len(lt, ot);
        if (l + 1 < L) {
            uint32_t clt = get32(types + 8 * l + 8), cot = get32(types + 8 * l + 12);
            size_t pl = lms_pub_len(clt);
            derive_child(cseed, cI, I, q, seed);
            parts[l] = malloc(sl + pl);
            lms_keygen(parts[l] + sl, pl, clt, cot, cI, cseed, 32);
            r = lms_sign(parts[l], sl, lt, ot, I, seed, 32, q, parts[l] + sl, pl, NULL, 0);
            lens[l] = sl + pl;
            cparts[l] = parts[l];
            off += sl + pl;
            memcpy(seed, cseed, 32);
            memcpy(I, cI, 16);
        } else {
            bottom = malloc(sl);
            bottom_len = sl;
            r = lms_sign(bottom, sl, lt, ot, I, seed, 32, q, msg.b, msg.n, NULL, 0);
        }
        CHECK(r == 0, "%s: level %u sign", name, l);
    }
    uint8_t *out = malloc(sig.n + 1);
    size_t out_len = 0;
    r = lms_hss_sig_assemble(out, sig.n, &out_len, L, cparts, lens, bottom, bottom_len);
    CHECK(r == 0 && out_len == sig.n && memcmp(out, sig.b, sig.n) == 0,
        "%s: re-signed HSS signature differs (ret %d)", name, r);
    CHECK(lms_hss_sig_assemble(out, sig.n - 1, &out_len, L, cparts, lens, bottom, bottom_len) == LMS_ERR_ARG,
        "%s: assemble into a short buffer", name);
    for (uint32_t l = 0; l + 1 < L; l++) {
        free(parts[l]);
    }
    free(bottom);
    free(out);
}

// ---------------------------------------------------------------- built-in tests

static void test_sha256(void) {
    static const struct { const char *msg; const char *hex; } kat[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (size_t i = 0; i < 3; i++) {
        uint8_t d[32];
        buf_t want = unhex(kat[i].hex);
        sha256(d, (const uint8_t *)kat[i].msg, strlen(kat[i].msg));
        CHECK(memcmp(d, want.b, 32) == 0, "SHA-256 FIPS 180 example %zu", i);
        free(want.b);
    }
    // One million 'a' in odd pieces (FIPS 180-2 example 3).
    uint8_t chunk[997], d[32];
    memset(chunk, 'a', sizeof(chunk));
    lms_sha256_ctx_t c;
    lms_sha256_init(&c);
    size_t left = 1000000;
    while (left) {
        size_t k = left < sizeof(chunk) ? left : sizeof(chunk);
        lms_sha256_update(&c, chunk, k);
        left -= k;
    }
    lms_sha256_final(&c, d);
    buf_t want = unhex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    CHECK(memcmp(d, want.b, 32) == 0, "SHA-256 of 10^6 'a'");
    free(want.b);
    // The one-block path equals the general one for every length 0..55.
    for (size_t n = 0; n <= 55; n++) {
        uint8_t blk[64], a[32], b[32];
        for (size_t i = 0; i < n; i++) {
            blk[i] = (uint8_t)(i * 7 + n);
        }
        sha256(a, blk, n);
        lms_sha256_pad_block(blk, n);
        lms_sha256_block(b, 32, blk, n);
        CHECK(memcmp(a, b, 32) == 0, "one-block SHA-256, length %zu", n);
    }
}

#ifdef LMS_SHA256_HAVE_SHANI
// x86-64 SHA-NI compression (built with -DLMS_SHA256_X86_SHANI) against the
// portable one: pseudo-random states and blocks (also misaligned), the
// FIPS 180-2 "abc" one-block example, the dispatcher and the counter.
static uint64_t xs_state = 0x9e3779b97f4a7c15u;

static uint32_t xs32(void) {
    xs_state ^= xs_state << 13;
    xs_state ^= xs_state >> 7;
    xs_state ^= xs_state << 17;
    return (uint32_t)(xs_state >> 16);
}

static void test_shani(void) {
    int have = lms_sha256_shani_available();
    printf("lms-c: SHA-NI compression %s\n", have ? "available (CPUID), compared with the portable code"
                                                  : "not reported by CPUID: dispatcher must use the portable code");
    CHECK(lms_sha256_shani_available() == have, "SHA-NI check is stable");
    uint8_t raw[64 + 16];
    int mismatches = 0, dispatch_bad = 0;
    for (int it = 0; it < 4096; it++) {
        uint32_t p[8], x[8], d[8];
        uint8_t *blk = raw + (it & 15);
        for (int i = 0; i < 8; i++) {
            p[i] = x[i] = d[i] = xs32();
        }
        for (int i = 0; i < 64; i++) {
            blk[i] = (uint8_t)xs32();
        }
        if (it < 8) {   // extremes: all-zero / all-one words
            memset(blk, (it & 1) ? 0xff : 0, 64);
            for (int i = 0; i < 8; i++) {
                p[i] = x[i] = d[i] = (it & 2) ? 0xffffffffu : 0;
            }
        }
        lms_sha256_compress_portable(p, blk);
        lms_sha256_compress(d, blk);
        dispatch_bad += memcmp(p, d, sizeof(p)) != 0;
        if (have) {
            lms_sha256_compress_shani(x, blk);
            mismatches += memcmp(p, x, sizeof(p)) != 0;
        }
    }
    CHECK(mismatches == 0, "SHA-NI vs portable: %d of 4096 random compressions differ", mismatches);
    CHECK(dispatch_bad == 0, "dispatcher vs portable: %d of 4096 differ", dispatch_bad);
    // FIPS 180-2 example 1, "abc": one padded block from the IV.
    static const uint32_t iv[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    };
    static const uint32_t abc[8] = {
        0xba7816bf, 0x8f01cfea, 0x414140de, 0x5dae2223, 0xb00361a3, 0x96177a9c, 0xb410ff61, 0xf20015ad,
    };
    uint8_t blk[64];
    memcpy(blk, "abc", 3);
    lms_sha256_pad_block(blk, 3);
    uint32_t st[8];
    memcpy(st, iv, sizeof(st));
    lms_sha256_compress_portable(st, blk);
    CHECK(memcmp(st, abc, sizeof(st)) == 0, "portable compress: FIPS 180-2 \"abc\"");
    memcpy(st, iv, sizeof(st));
    lms_sha256_compress(st, blk);
    CHECK(memcmp(st, abc, sizeof(st)) == 0, "dispatched compress: FIPS 180-2 \"abc\"");
    if (have) {
        memcpy(st, iv, sizeof(st));
        lms_sha256_compress_shani(st, blk);
        CHECK(memcmp(st, abc, sizeof(st)) == 0, "SHA-NI compress: FIPS 180-2 \"abc\"");
    }
#ifdef LMS_COUNT_COMPRESSIONS
    // Each compression counts once, whichever implementation runs it.
    uint32_t c0 = lms_sha256_compressions;
    lms_sha256_compress(st, blk);
    CHECK(lms_sha256_compressions - c0 == 1, "dispatcher counts 1, got %u", lms_sha256_compressions - c0);
    c0 = lms_sha256_compressions;
    lms_sha256_compress_portable(st, blk);
    CHECK(lms_sha256_compressions - c0 == 1, "portable counts 1, got %u", lms_sha256_compressions - c0);
    if (have) {
        c0 = lms_sha256_compressions;
        lms_sha256_compress_shani(st, blk);
        CHECK(lms_sha256_compressions - c0 == 1, "SHA-NI counts 1, got %u", lms_sha256_compressions - c0);
    }
    c0 = lms_sha256_compressions;
    lms_sha256_block(blk, 32, blk, 3);
    CHECK(lms_sha256_compressions - c0 == 1, "one-block hash counts 1, got %u", lms_sha256_compressions - c0);
#endif
}
#endif

static void test_params(void) {
    static const uint16_t p[8] = {265, 133, 67, 34, 200, 101, 51, 26};
    static const uint8_t ls[8] = {7, 6, 4, 0, 8, 6, 4, 0};
    for (uint32_t t = 1; t <= 8; t++) {
        lms_ots_param_t o;
        CHECK(lms_ots_param(t, &o) == 0 && o.p == p[t - 1] && o.ls == ls[t - 1], "ots params %u", t);
        // p and ls from n and w (RFC 8554 App. B) agree with the table.
        uint32_t u = (8u * o.n + o.w - 1) / o.w, max = ((1u << o.w) - 1) * u, bits = 0;
        while ((max >> bits) > 1) {
            bits++;
        }
        uint32_t v = (bits + 1 + o.w - 1) / o.w;
        CHECK(u + v == o.p && 16 - v * o.w == o.ls, "ots params %u from App. B", t);
    }
    for (uint32_t t = 0; t < 64; t++) {
        lms_ots_param_t o;
        lms_tree_param_t tr;
        int ok_ots = t >= 1 && t <= 8, ok_lms = t >= 5 && t <= 14;
        CHECK((lms_ots_param(t, &o) == 0) == ok_ots, "ots typecode %u", t);
        CHECK((lms_tree_param(t, &tr) == 0) == ok_lms, "lms typecode %u", t);
        if (!ok_ots) {
            CHECK(lms_ots_param(t, &o) == LMS_ERR_UNSUPPORTED, "ots typecode %u code", t);
        }
    }
    CHECK(lms_sig_len(6, 4) == 1452 && lms_sig_len(5, 4) == 1292 && lms_pub_len(6) == 56
        && lms_pub_len(10) == 48 && lms_sig_len(15, 4) == 0 && lms_sig_len(5, 9) == 0,
        "sizes");
}

static void test_api_edges(void) {
    uint8_t dummy[64] = {0};
    lms_hss_verify_ctx_t ctx;
    CHECK(lms_hss_verify(NULL, 0, NULL, 0, NULL, 0) == LMS_ERR_MALFORMED, "NULL pub/sig");
    CHECK(lms_hss_verify(dummy, 0, NULL, 0, dummy, 0) == LMS_ERR_MALFORMED, "empty pub");
    CHECK(lms_hss_verify_init(&ctx, dummy, 3, dummy, 10) == LMS_ERR_MALFORMED, "short pub init");
    lms_hss_verify_update(&ctx, dummy, 10);
    CHECK(lms_hss_verify_final(&ctx) == LMS_ERR_MALFORMED, "final repeats the init error");
    CHECK(lms_hss_verify_final(&ctx) == LMS_ERR_INVALID, "second final");
    uint8_t I[16] = {1}, seed[32] = {2}, out[64];
    CHECK(lms_keygen(out, sizeof(out), 15, 4, I, seed, 32) == LMS_ERR_UNSUPPORTED, "keygen SHAKE");
    CHECK(lms_keygen(out, 10, 5, 4, I, seed, 32) == LMS_ERR_ARG, "keygen short out");
    CHECK(lms_keygen(out, sizeof(out), 5, 4, I, seed, 15) == LMS_ERR_ARG, "keygen short seed");
    CHECK(lms_keygen(out, sizeof(out), 5, 4, I, seed, 33) == LMS_ERR_ARG, "keygen long seed");
    uint8_t sig[2000];
    CHECK(lms_sign(sig, sizeof(sig), 5, 4, I, seed, 32, 32, NULL, 0, NULL, 0) == LMS_ERR_ARG, "sign q = 2^h");
    CHECK(lms_sign(sig, 100, 5, 4, I, seed, 32, 0, NULL, 0, NULL, 0) == LMS_ERR_ARG, "sign short out");
    CHECK(lms_sign(sig, sizeof(sig), 5, 4, I, seed, 32, 0, NULL, 0, dummy, 64) == LMS_ERR_ARG, "sign short nodes");
    CHECK(lms_auth_path(sig, 10, NULL, 5, 4, I, seed, 32, 0) == LMS_ERR_ARG, "auth path short out");
}

// Every supported (LMS H5, LM-OTS) pair incl. mixed n/m: keygen, sign at
// several q, verify, tamper; HSS chains of L = 1..8 assembled and verified.
static void test_roundtrip(void) {
    static const uint32_t lms_types[2] = {LMS_SHA256_M32_H5, LMS_SHA256_M24_H5};
    uint8_t I[16], seed[32], pub[LMS_PUB_LEN(32)], msg[100];
    for (int i = 0; i < 16; i++) {
        I[i] = (uint8_t)(0xa0 + i);
    }
    for (int i = 0; i < 32; i++) {
        seed[i] = (uint8_t)(i * 3);
    }
    for (int i = 0; i < 100; i++) {
        msg[i] = (uint8_t)i;
    }
    for (int a = 0; a < 2; a++) {
        for (uint32_t ot = 1; ot <= 8; ot++) {
            uint32_t lt = lms_types[a];
            size_t sl = lms_sig_len(lt, ot), pl = lms_pub_len(lt);
            uint8_t *sig = malloc(sl);
            int r = lms_keygen(pub, sizeof(pub), lt, ot, I, seed, 24);
            CHECK(r == 0, "keygen %u/%u", lt, ot);
            uint32_t qs[3] = {0, 13, 31};
            for (int k = 0; k < 3; k++) {
                r = lms_sign(sig, sl, lt, ot, I, seed, 24, qs[k], msg, 1 + qs[k], NULL, 0);
                CHECK(r == 0 && lms_verify(pub, pl, msg, 1 + qs[k], sig, sl) == 0,
                    "roundtrip %u/%u q=%u", lt, ot, qs[k]);
                sig[sl / 2] ^= 4;
                CHECK(lms_verify(pub, pl, msg, 1 + qs[k], sig, sl) == LMS_ERR_INVALID,
                    "tampered %u/%u q=%u", lt, ot, qs[k]);
            }
            free(sig);
        }
    }
    // HSS: level l uses LMS H5 and LM-OTS type (l % 8) + 1 (mixed n and w).
    for (uint32_t L = 1; L <= LMS_MAX_LEVELS; L++) {
        uint8_t hpub[4 + LMS_PUB_LEN(32)], key_I[LMS_MAX_LEVELS][16];
        uint8_t *parts[LMS_MAX_LEVELS], *bottom = NULL;
        const uint8_t *cparts[LMS_MAX_LEVELS];
        size_t lens[LMS_MAX_LEVELS], bottom_len = 0;
        for (uint32_t l = 0; l < L; l++) {
            memcpy(key_I[l], I, 16);
            key_I[l][0] = (uint8_t)l;
        }
        uint32_t lt0 = (L & 1) ? LMS_SHA256_M32_H5 : LMS_SHA256_M24_H5;
        put32(hpub, L);
        lms_keygen(hpub + 4, sizeof(hpub) - 4, lt0, 1 + (0 % 8), key_I[0], seed, 32);
        for (uint32_t l = 0; l < L; l++) {
            uint32_t lt = (l == 0) ? lt0 : LMS_SHA256_M32_H5, ot = 1 + (l % 8);
            size_t sl = lms_sig_len(lt, ot);
            uint32_t q = (7 * l + L) % 32;
            if (l + 1 < L) {
                uint32_t clt = LMS_SHA256_M32_H5, cot = 1 + ((l + 1) % 8);
                size_t cpl = lms_pub_len(clt);
                parts[l] = malloc(sl + cpl);
                lms_keygen(parts[l] + sl, cpl, clt, cot, key_I[l + 1], seed, 32);
                lms_sign(parts[l], sl, lt, ot, key_I[l], seed, 32, q, parts[l] + sl, cpl, NULL, 0);
                lens[l] = sl + cpl;
                cparts[l] = parts[l];
            } else {
                bottom = malloc(sl);
                bottom_len = sl;
                lms_sign(bottom, sl, lt, ot, key_I[l], seed, 32, q, msg, sizeof(msg), NULL, 0);
            }
        }
        uint8_t *hs = malloc(60000);
        size_t hl = 0;
        int r = lms_hss_sig_assemble(hs, 60000, &hl, L, cparts, lens, bottom, bottom_len);
        size_t hpl = 4 + lms_pub_len(lt0);
        CHECK(r == 0 && lms_hss_verify(hpub, hpl, msg, sizeof(msg), hs, hl) == 0, "HSS L=%u verifies", L);
        CHECK(lms_hss_verify(hpub, hpl, msg, sizeof(msg) - 1, hs, hl) == LMS_ERR_INVALID, "HSS L=%u other msg", L);
        if (L > 1) {
            // Tamper with the top level's signature of the child key: init fails.
            hs[4 + 8 + 3] ^= 1;
            lms_hss_verify_ctx_t ctx;
            CHECK(lms_hss_verify_init(&ctx, hpub, hpl, hs, hl) == LMS_ERR_INVALID, "HSS L=%u upper level", L);
            CHECK(lms_hss_verify_final(&ctx) == LMS_ERR_INVALID, "HSS L=%u final after failed init", L);
        }
        for (uint32_t l = 0; l + 1 < L; l++) {
            free(parts[l]);
        }
        free(bottom);
        free(hs);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s vectors.txt (made by tools/build/test_lms_c.sh)\n", argv[0]);
        return 2;
    }
    test_sha256();
#ifdef LMS_SHA256_HAVE_SHANI
    test_shani();
#endif
    test_params();
    test_api_edges();
    test_roundtrip();
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    int records = 0;
    while (getline(&line, &cap, f) > 0) {
        char *tok[12];
        int nt = 0;
        for (char *t = strtok(line, " \n"); t && nt < 12; t = strtok(NULL, " \n")) {
            tok[nt++] = t;
        }
        if (nt == 0) {
            continue;
        }
        records++;
        if (tok[0][0] == 'V' && nt == 7) {
            buf_t p = unhex(tok[4]), m = unhex(tok[5]), s = unhex(tok[6]);
            test_verify(tok[1], tok[2], tok[3], p, m, s);
            free(p.b); free(m.b); free(s.b);
        } else if (tok[0][0] == 'K' && nt == 7) {
            buf_t I = unhex(tok[4]), seed = unhex(tok[5]), pub = unhex(tok[6]);
            test_keygen(tok[1], (uint32_t)atol(tok[2]), (uint32_t)atol(tok[3]), I, seed, pub);
            free(I.b); free(seed.b); free(pub.b);
        } else if (tok[0][0] == 'S' && nt == 11) {
            buf_t I = unhex(tok[4]), seed = unhex(tok[5]), msg = unhex(tok[7]), exp = unhex(tok[8]);
            buf_t pub = unhex(tok[10]);
            test_sign(tok[1], (uint32_t)atol(tok[2]), (uint32_t)atol(tok[3]), I, seed,
                (uint32_t)atol(tok[6]), msg, exp, tok[9], pub);
            free(I.b); free(seed.b); free(msg.b); free(exp.b); free(pub.b);
        } else if (tok[0][0] == 'B' && nt == 5) {
            buf_t sk = unhex(tok[2]), msg = unhex(tok[3]), sig = unhex(tok[4]);
            test_botan(tok[1], sk, msg, sig);
            free(sk.b); free(msg.b); free(sig.b);
        } else {
            CHECK(0, "bad vector line starting %.40s", tok[0]);
        }
    }
    free(line);
    fclose(f);
    CHECK(records > 600, "vector file has %d records", records);
    printf("lms-c: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
