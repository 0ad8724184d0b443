// LMS / HSS (RFC 8554, RFC 9858 SHA-256/192 sets): see lms.h.
// Written for this project from the RFC text; the numbers (typecodes,
// parameter tables, domain-separation constants) are the RFCs'.
//
// Speed: almost all work is Winternitz chain steps
//   tmp = H(I || u32(q) || u16(i) || u8(j) || tmp)      (23 + n <= 55 bytes)
// so the chain code lays out one padded SHA-256 block per signature, rewrites
// only i, j and tmp, and runs exactly one compression per step (no context,
// no buffering, no padding work). The same holds for leaves (22 + n bytes)
// and, when signing, for the private elements (23 + |SEED| bytes).
#include <string.h>

#include "lms.h"

#define D_PBLC (0x8080)
#define D_MESG (0x8181)
#define D_LEAF (0x8282)
#define D_INTR (0x8383)

// Parameter tables, by typecode (RFC 8554 Table 1/2, RFC 9858 sec. 4).
// p and ls follow from n and w (RFC 8554 Appendix B); listed here as data.
static const lms_ots_param_t lms_ots_table[8] = {
    {32, 1, 7, 265}, {32, 2, 6, 133}, {32, 4, 4, 67}, {32, 8, 0, 34},   // typecodes 1..4
    {24, 1, 8, 200}, {24, 2, 6, 101}, {24, 4, 4, 51}, {24, 8, 0, 26},   // typecodes 5..8
};

int lms_ots_param(uint32_t ots_type, lms_ots_param_t *out) {
    if (ots_type < 1 || ots_type > 8) {
        return LMS_ERR_UNSUPPORTED;     // SHAKE256 (9..16), reserved, unassigned
    }
    *out = lms_ots_table[ots_type - 1];
    return LMS_OK;
}

int lms_tree_param(uint32_t lms_type, lms_tree_param_t *out) {
    if (lms_type >= 5 && lms_type <= 9) {
        out->m = 32;
        out->h = (uint8_t)(5 * (lms_type - 4));
    } else if (lms_type >= 10 && lms_type <= 14) {
        out->m = 24;
        out->h = (uint8_t)(5 * (lms_type - 9));
    } else {
        return LMS_ERR_UNSUPPORTED;     // SHAKE256 (15..24), reserved, unassigned
    }
    return LMS_OK;
}

size_t lms_pub_len(uint32_t lms_type) {
    lms_tree_param_t t;
    return lms_tree_param(lms_type, &t) ? 0 : LMS_PUB_LEN(t.m);
}

size_t lms_sig_len(uint32_t lms_type, uint32_t ots_type) {
    lms_tree_param_t t;
    lms_ots_param_t o;
    if (lms_tree_param(lms_type, &t) || lms_ots_param(ots_type, &o)) {
        return 0;
    }
    return LMS_SIG_LEN((size_t)o.n, (size_t)o.p, (size_t)t.m, (size_t)t.h);
}

// ------------------------------------------------------------ helpers

static inline uint32_t get32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void put16(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

// A parsed LMS public key: pointers into the caller's bytes.
typedef struct {
    const uint8_t *enc;         // type || otstype || I || T
    lms_ots_param_t ots;
    lms_tree_param_t tree;
} lms_key_t;

#define KEY_I(k) ((k)->enc + 8)
#define KEY_T(k) ((k)->enc + 8 + LMS_I_LEN)

// Parse an LMS public key at p (avail bytes there); *used = its length.
static int parse_pub(const uint8_t *p, size_t avail, lms_key_t *k, size_t *used) {
    int ret;
    if (avail < 8) {
        return LMS_ERR_MALFORMED;
    }
    if ((ret = lms_tree_param(get32(p), &k->tree)) != LMS_OK
        || (ret = lms_ots_param(get32(p + 4), &k->ots)) != LMS_OK) {
        return ret;
    }
    if (avail < LMS_PUB_LEN((size_t)k->tree.m)) {
        return LMS_ERR_MALFORMED;
    }
    k->enc = p;
    *used = LMS_PUB_LEN((size_t)k->tree.m);
    return LMS_OK;
}

// Check the structure of an LMS signature at s made with key k; *used = its length.
static int parse_sig(const uint8_t *s, size_t avail, const lms_key_t *k, size_t *used) {
    size_t ots_len = LMS_OTS_SIG_LEN((size_t)k->ots.n, (size_t)k->ots.p);
    size_t total = 4 + ots_len + 4 + (size_t)k->tree.m * k->tree.h;
    // q || otstype, then the LMS typecode after the LM-OTS signature: both
    // must name the key's parameter sets (RFC 8554 Algorithm 6a).
    if (avail < 8 || get32(s + 4) != get32(k->enc + 4)) {
        return LMS_ERR_MALFORMED;
    }
    if (avail < 4 + ots_len + 4 || get32(s + 4 + ots_len) != get32(k->enc)) {
        return LMS_ERR_MALFORMED;
    }
    if (avail < total || get32(s) >= ((uint32_t)1 << k->tree.h)) {
        return LMS_ERR_MALFORMED;
    }
    *used = total;
    return LMS_OK;
}

// Winternitz coefficient i of S (RFC 8554 sec. 3.1.3).
static inline uint32_t coef(const uint8_t *S, uint32_t i, uint32_t w) {
    uint32_t bit = i * w;
    return (S[bit >> 3] >> (8 - w - (bit & 7))) & ((1u << w) - 1);
}

// Append the checksum of the n-byte Q at Q[n], Q[n+1] (RFC 8554 sec. 4.4).
static void put_cksm(uint8_t *Q, const lms_ots_param_t *o) {
    uint32_t max = (1u << o->w) - 1, u = 8u * o->n / o->w, sum = 0;
    for (uint32_t i = 0; i < u; i++) {
        sum += max - coef(Q, i, o->w);
    }
    put16(Q + o->n, sum << o->ls);
}

// The chain block: I || u32(q) || u16(i) || u8(j) || tmp, padded for 23+n bytes.
static void chain_block_init(uint8_t blk[64], const uint8_t *I, const uint8_t *q_be, size_t n) {
    memcpy(blk, I, LMS_I_LEN);
    memcpy(blk + 16, q_be, 4);
    lms_sha256_pad_block(blk, 23 + n);
}

// Run chain steps j = from .. to-1 on the value at blk + 23 (i already set).
static void chain_run(uint8_t blk[64], uint32_t from, uint32_t to, size_t n) {
    for (uint32_t j = from; j < to; j++) {
        blk[22] = (uint8_t)j;
        lms_sha256_block(blk + 23, n, blk, 23 + n);
    }
}

// Start the message hash H(I || u32(q) || D_MESG || C || ...) of LMS sig s.
static void msg_hash_start(lms_sha256_ctx_t *c, const uint8_t *I, const uint8_t *s, size_t n) {
    uint8_t d[2];
    put16(d, D_MESG);
    lms_sha256_init(c);
    lms_sha256_update(c, I, LMS_I_LEN);
    lms_sha256_update(c, s, 4);             // q
    lms_sha256_update(c, d, 2);
    lms_sha256_update(c, s + 8, n);         // C
}

// Finish the LMS check of signature s (structure already checked) under key
// (I, T, parameters) given the message hash context: RFC 8554 Algorithms
// 4b and 6a. LMS_OK or LMS_ERR_INVALID.
static int sig_check(const uint8_t *I, const uint8_t *T, const lms_ots_param_t *o,
    const lms_tree_param_t *t, const uint8_t *s, lms_sha256_ctx_t *msg) {
    uint8_t Q[34], blk[64];
    lms_sha256_ctx_t kc;
    size_t n = o->n, m = t->m;
    uint32_t max = (1u << o->w) - 1;
    const uint8_t *y = s + 8 + n;
    int ret = LMS_ERR_INVALID;

    lms_sha256_final(msg, Q);               // Q = first n bytes, then the checksum
    put_cksm(Q, o);

    chain_block_init(blk, I, s, n);
    lms_sha256_init(&kc);
    lms_sha256_update(&kc, blk, 20);        // I || u32(q)
    put16(blk + 20, D_PBLC);
    lms_sha256_update(&kc, blk + 20, 2);
    for (uint32_t i = 0; i < o->p; i++) {
        put16(blk + 20, i);
        memcpy(blk + 23, y + i * n, n);
        chain_run(blk, coef(Q, i, o->w), max, n);
        lms_sha256_update(&kc, blk + 23, n);
    }
    lms_sha256_final(&kc, Q);               // Q now holds the candidate K

    // Tree: blk already starts with I; hash the leaf in one block, then each
    // interior node through kc (free now); the running node lives in Q.
    uint32_t r = ((uint32_t)1 << t->h) + get32(s);
    const uint8_t *path = y + (size_t)o->p * n + 4;
    put32(blk + 16, r);
    put16(blk + 20, D_LEAF);
    memcpy(blk + 22, Q, n);
    lms_sha256_pad_block(blk, 22 + n);
    lms_sha256_block(Q, m, blk, 22 + n);
    put16(blk + 20, D_INTR);
    for (; r > 1; r >>= 1, path += m) {
        put32(blk + 16, r >> 1);
        lms_sha256_init(&kc);
        lms_sha256_update(&kc, blk, 22);
        lms_sha256_update(&kc, (r & 1) ? path : Q, m);
        lms_sha256_update(&kc, (r & 1) ? Q : path, m);
        lms_sha256_final(&kc, Q);
    }
    // Public data: no need for constant time, but keep it branch-free anyway.
    uint8_t diff = 0;
    for (size_t i = 0; i < m; i++) {
        diff |= Q[i] ^ T[i];
    }
    if (diff == 0) {
        ret = LMS_OK;
    }
    return ret;
}

// ------------------------------------------------------------ verification

static int verify_setup(lms_hss_verify_ctx_t *ctx, const uint8_t *pub, size_t pub_len,
    const uint8_t *sig, size_t sig_len, int hss) {
    lms_key_t key, child;
    size_t used, off, pub_off = 0;
    uint32_t levels = 1;
    int ret;

    // 1. Structure of the public key.
    if (hss) {
        if (pub_len < 4) {
            return LMS_ERR_MALFORMED;
        }
        levels = get32(pub);
        if (levels < 1 || levels > LMS_MAX_LEVELS) {
            return LMS_ERR_MALFORMED;
        }
        pub_off = 4;
    }
    if ((ret = parse_pub(pub + pub_off, pub_len - pub_off, &key, &used)) != LMS_OK) {
        return ret;
    }
    if (used != pub_len - pub_off) {
        return LMS_ERR_MALFORMED;
    }

    // 2. Structure of the whole signature, every level, before any hashing.
    off = 0;
    if (hss) {
        if (sig_len < 4 || get32(sig) != levels - 1) {
            return LMS_ERR_MALFORMED;
        }
        off = 4;
    }
    lms_key_t k = key;
    for (uint32_t l = 0; l < levels; l++) {
        if ((ret = parse_sig(sig + off, sig_len - off, &k, &used)) != LMS_OK) {
            return ret;
        }
        off += used;
        if (l + 1 < levels) {
            if ((ret = parse_pub(sig + off, sig_len - off, &k, &used)) != LMS_OK) {
                return ret;
            }
            off += used;
        }
    }
    if (off != sig_len) {
        return LMS_ERR_MALFORMED;
    }

    // 3. Upper levels: each signs the next level's public key.
    off = hss ? 4 : 0;
    for (uint32_t l = 0; l + 1 < levels; l++) {
        const uint8_t *s = sig + off;
        parse_sig(s, sig_len - off, &key, &used);
        off += used;
        parse_pub(sig + off, sig_len - off, &child, &used);
        msg_hash_start(&ctx->msg, KEY_I(&key), s, key.ots.n);
        lms_sha256_update(&ctx->msg, child.enc, used);
        if (sig_check(KEY_I(&key), KEY_T(&key), &key.ots, &key.tree, s, &ctx->msg) != LMS_OK) {
            return LMS_ERR_INVALID;
        }
        off += used;
        key = child;
    }

    // 4. Bottom level: start the message hash; the rest at final().
    ctx->sig = sig + off;
    memcpy(ctx->I, KEY_I(&key), LMS_I_LEN);
    memcpy(ctx->T, KEY_T(&key), key.tree.m);
    ctx->lms_type = get32(key.enc);
    ctx->ots_type = get32(key.enc + 4);
    msg_hash_start(&ctx->msg, ctx->I, ctx->sig, key.ots.n);
    return LMS_OK;
}

size_t lms_hss_verify_ctx_size(void) {
    return sizeof(lms_hss_verify_ctx_t);
}

static int verify_init(lms_hss_verify_ctx_t *ctx, const uint8_t *pub, size_t pub_len,
    const uint8_t *sig, size_t sig_len, int hss) {
    int ret = LMS_ERR_INVALID;
    ctx->status = LMS_ERR_INVALID;
    if (pub == NULL || sig == NULL) {
        ret = LMS_ERR_MALFORMED;
    } else {
        ret = verify_setup(ctx, pub, pub_len, sig, sig_len, hss);
    }
    // Every failure is one of the three public codes; nothing else escapes.
    if (ret != LMS_OK && ret != LMS_ERR_MALFORMED && ret != LMS_ERR_UNSUPPORTED) {
        ret = LMS_ERR_INVALID;
    }
    ctx->status = (ret == LMS_OK) ? 1 : ret;
    return ret;
}

int lms_hss_verify_init(lms_hss_verify_ctx_t *ctx, const uint8_t *pub, size_t pub_len,
    const uint8_t *sig, size_t sig_len) {
    return verify_init(ctx, pub, pub_len, sig, sig_len, 1);
}

int lms_verify_init(lms_hss_verify_ctx_t *ctx, const uint8_t *pub, size_t pub_len,
    const uint8_t *sig, size_t sig_len) {
    return verify_init(ctx, pub, pub_len, sig, sig_len, 0);
}

void lms_hss_verify_update(lms_hss_verify_ctx_t *ctx, const uint8_t *msg, size_t len) {
    if (ctx->status == 1 && len) {
        lms_sha256_update(&ctx->msg, msg, len);
    }
}

int lms_hss_verify_final(lms_hss_verify_ctx_t *ctx) {
    int ret = LMS_ERR_INVALID;
    if (ctx->status == 1) {
        lms_ots_param_t o;
        lms_tree_param_t t;
        if (lms_ots_param(ctx->ots_type, &o) == LMS_OK
            && lms_tree_param(ctx->lms_type, &t) == LMS_OK
            && sig_check(ctx->I, ctx->T, &o, &t, ctx->sig, &ctx->msg) == LMS_OK) {
            ret = LMS_OK;
        }
    } else if (ctx->status == LMS_ERR_MALFORMED || ctx->status == LMS_ERR_UNSUPPORTED) {
        ret = ctx->status;
    }
    ctx->status = LMS_ERR_INVALID;      // spent
    return ret;
}

int lms_hss_verify(const uint8_t *pub, size_t pub_len, const uint8_t *msg, size_t msg_len,
    const uint8_t *sig, size_t sig_len) {
    lms_hss_verify_ctx_t ctx;
    lms_hss_verify_init(&ctx, pub, pub_len, sig, sig_len);
    lms_hss_verify_update(&ctx, msg, msg_len);
    return lms_hss_verify_final(&ctx);
}

int lms_verify(const uint8_t *pub, size_t pub_len, const uint8_t *msg, size_t msg_len,
    const uint8_t *sig, size_t sig_len) {
    lms_hss_verify_ctx_t ctx;
    lms_verify_init(&ctx, pub, pub_len, sig, sig_len);
    lms_hss_verify_update(&ctx, msg, msg_len);
    return lms_hss_verify_final(&ctx);
}

// ------------------------------------------------------------ signing
#ifdef LMS_ENABLE_SIGN

// Leaf (22 + n bytes: one block) or interior node (22 + 2m bytes).
static void node_hash(uint8_t *out, size_t m, const uint8_t *I, uint32_t r,
    const uint8_t *a, size_t a_len, const uint8_t *b) {
    if (b == NULL) {
        uint8_t blk[64];
        memcpy(blk, I, LMS_I_LEN);
        put32(blk + 16, r);
        put16(blk + 20, D_LEAF);
        memcpy(blk + 22, a, a_len);
        lms_sha256_pad_block(blk, 22 + a_len);
        lms_sha256_block(out, m, blk, 22 + a_len);
    } else {
        lms_sha256_ctx_t c;
        uint8_t hdr[22], d[32];
        memcpy(hdr, I, LMS_I_LEN);
        put32(hdr + 16, r);
        put16(hdr + 20, D_INTR);
        lms_sha256_init(&c);
        lms_sha256_update(&c, hdr, sizeof(hdr));
        lms_sha256_update(&c, a, m);
        lms_sha256_update(&c, b, m);
        lms_sha256_final(&c, d);
        memcpy(out, d, m);
    }
}


static void wipe(void *p, size_t n) {
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n--) {
        *v++ = 0;
    }
}

// Checked parameters of a signing call.
typedef struct {
    lms_ots_param_t ots;
    lms_tree_param_t tree;
    uint32_t lms_type, ots_type;
    const uint8_t *I;
    const uint8_t *seed;
    size_t seed_len;
} signer_t;

static int signer_init(signer_t *sg, uint32_t lms_type, uint32_t ots_type, const uint8_t *I,
    const uint8_t *seed, size_t seed_len) {
    if (lms_tree_param(lms_type, &sg->tree) || lms_ots_param(ots_type, &sg->ots)) {
        return LMS_ERR_UNSUPPORTED;
    }
    if (I == NULL || seed == NULL || seed_len < 16 || seed_len > 32) {
        return LMS_ERR_ARG;
    }
    sg->lms_type = lms_type;
    sg->ots_type = ots_type;
    sg->I = I;
    sg->seed = seed;
    sg->seed_len = seed_len;
    return LMS_OK;
}

// The PRF block I || u32(q) || u16(i) || u8(0xff) || SEED (one compression).
static void prf_block_init(uint8_t blk[64], const signer_t *sg, uint32_t q) {
    memcpy(blk, sg->I, LMS_I_LEN);
    put32(blk + 16, q);
    blk[22] = 0xff;
    memcpy(blk + 23, sg->seed, sg->seed_len);
    lms_sha256_pad_block(blk, 23 + sg->seed_len);
}

// OTS public key hash K of leaf q (RFC 8554 Algorithm 1), n bytes into K.
static void ots_pub(uint8_t K[32], const signer_t *sg, uint32_t q) {
    uint8_t prf[64], blk[64], d[2];
    lms_sha256_ctx_t kc;
    size_t n = sg->ots.n;
    uint32_t max = (1u << sg->ots.w) - 1;
    prf_block_init(prf, sg, q);
    chain_block_init(blk, sg->I, prf + 16, n);
    lms_sha256_init(&kc);
    lms_sha256_update(&kc, blk, 20);
    put16(d, D_PBLC);
    lms_sha256_update(&kc, d, 2);
    for (uint32_t i = 0; i < sg->ots.p; i++) {
        put16(prf + 20, i);
        put16(blk + 20, i);
        lms_sha256_block(blk + 23, n, prf, 23 + sg->seed_len);     // x_q[i]
        chain_run(blk, 0, max, n);
        lms_sha256_update(&kc, blk + 23, n);
    }
    lms_sha256_final(&kc, K);
    wipe(prf, sizeof(prf));
    wipe(blk, sizeof(blk));
}

static void leaf_node(uint8_t *out, const signer_t *sg, uint32_t q) {
    uint8_t K[32];
    ots_pub(K, sg, q);
    node_hash(out, sg->tree.m, sg->I, ((uint32_t)1 << sg->tree.h) + q, K, sg->ots.n, NULL);
}

// Treehash over all leaves with h+1 nodes of stack; collects the auth path
// of leaf q (q >= 2^h: none) and the root.
static void treehash(const signer_t *sg, uint32_t q, uint8_t *path, uint8_t *root) {
    uint8_t stack[LMS_MAX_H + 1][LMS_MAX_N];
    uint8_t height[LMS_MAX_H + 1];
    uint32_t index[LMS_MAX_H + 1];
    uint32_t h = sg->tree.h, m = sg->tree.m, leaves = (uint32_t)1 << h;
    int top = -1;
    for (uint32_t l = 0; l < leaves; l++) {
        top++;
        leaf_node(stack[top], sg, l);
        height[top] = 0;
        index[top] = l;
        for (;;) {
            uint32_t k = height[top];
            if (q < leaves && index[top] == ((q >> k) ^ 1)) {
                memcpy(path + (size_t)k * m, stack[top], m);
            }
            if (top < 1 || height[top - 1] != k) {
                break;
            }
            // Combine left (top-1) and right (top) into their parent.
            uint32_t pi = index[top - 1] >> 1;
            node_hash(stack[top - 1], m, sg->I, (leaves >> (k + 1)) + pi, stack[top - 1], m,
                stack[top]);
            height[top - 1] = (uint8_t)(k + 1);
            index[top - 1] = pi;
            top--;
        }
    }
    if (root != NULL) {
        memcpy(root, stack[0], m);
    }
}

int lms_keygen(uint8_t *pub, size_t pub_cap, uint32_t lms_type, uint32_t ots_type,
    const uint8_t I[LMS_I_LEN], const uint8_t *seed, size_t seed_len) {
    signer_t sg;
    int ret = signer_init(&sg, lms_type, ots_type, I, seed, seed_len);
    if (ret != LMS_OK) {
        return ret;
    }
    if (pub == NULL || pub_cap < LMS_PUB_LEN((size_t)sg.tree.m)) {
        return LMS_ERR_ARG;
    }
    put32(pub, lms_type);
    put32(pub + 4, ots_type);
    memcpy(pub + 8, I, LMS_I_LEN);
    treehash(&sg, UINT32_MAX, NULL, pub + 8 + LMS_I_LEN);
    return LMS_OK;
}

int lms_tree_nodes(uint8_t *nodes, size_t nodes_len, uint32_t lms_type, uint32_t ots_type,
    const uint8_t I[LMS_I_LEN], const uint8_t *seed, size_t seed_len) {
    signer_t sg;
    int ret = signer_init(&sg, lms_type, ots_type, I, seed, seed_len);
    if (ret != LMS_OK) {
        return ret;
    }
    size_t m = sg.tree.m;
    uint32_t leaves = (uint32_t)1 << sg.tree.h;
    if (nodes == NULL || nodes_len < LMS_TREE_NODES_LEN(m, sg.tree.h)) {
        return LMS_ERR_ARG;
    }
    memset(nodes, 0, m);
    for (uint32_t r = 2 * leaves - 1; r >= 1; r--) {
        if (r >= leaves) {
            leaf_node(nodes + r * m, &sg, r - leaves);
        } else {
            node_hash(nodes + r * m, m, I, r, nodes + 2 * r * m, m, nodes + (2 * r + 1) * m);
        }
    }
    return LMS_OK;
}

int lms_auth_path(uint8_t *path, size_t path_cap, uint8_t *root, uint32_t lms_type,
    uint32_t ots_type, const uint8_t I[LMS_I_LEN], const uint8_t *seed, size_t seed_len,
    uint32_t q) {
    signer_t sg;
    int ret = signer_init(&sg, lms_type, ots_type, I, seed, seed_len);
    if (ret != LMS_OK) {
        return ret;
    }
    if (path == NULL || path_cap < (size_t)sg.tree.m * sg.tree.h
        || q >= ((uint32_t)1 << sg.tree.h)) {
        return LMS_ERR_ARG;
    }
    treehash(&sg, q, path, root);
    return LMS_OK;
}

int lms_sign(uint8_t *sig, size_t sig_cap, uint32_t lms_type, uint32_t ots_type,
    const uint8_t I[LMS_I_LEN], const uint8_t *seed, size_t seed_len, uint32_t q,
    const uint8_t *msg, size_t msg_len, const uint8_t *nodes, size_t nodes_len) {
    signer_t sg;
    int ret = signer_init(&sg, lms_type, ots_type, I, seed, seed_len);
    if (ret != LMS_OK) {
        return ret;
    }
    size_t n = sg.ots.n, m = sg.tree.m, h = sg.tree.h;
    uint32_t leaves = (uint32_t)1 << h;
    if (sig == NULL || sig_cap < LMS_SIG_LEN(n, (size_t)sg.ots.p, m, h) || q >= leaves
        || (msg == NULL && msg_len != 0)
        || (nodes != NULL && nodes_len < LMS_TREE_NODES_LEN(m, h))) {
        return LMS_ERR_ARG;
    }
    uint8_t *y = sig + 8 + n;
    uint8_t *tail = y + (size_t)sg.ots.p * n;       // LMS typecode, then the path

    // Path first: the long part (treehash) touches no secret of leaf q.
    put32(tail, lms_type);
    if (nodes != NULL) {
        uint32_t r = leaves + q;
        for (size_t k = 0; k < h; k++, r >>= 1) {
            memcpy(tail + 4 + k * m, nodes + (size_t)(r ^ 1) * m, m);
        }
    } else {
        treehash(&sg, q, tail + 4, NULL);
    }

    // LM-OTS signature (RFC 8554 Algorithm 3) with the derived randomizer C.
    uint8_t prf[64], blk[64], Q[34];
    lms_sha256_ctx_t mc;
    put32(sig, q);
    put32(sig + 4, ots_type);
    prf_block_init(prf, &sg, q);
    put16(prf + 20, 0xfffd);
    lms_sha256_block(sig + 8, n, prf, 23 + seed_len);          // C
    msg_hash_start(&mc, I, sig, n);
    if (msg_len) {
        lms_sha256_update(&mc, msg, msg_len);
    }
    lms_sha256_final(&mc, Q);
    put_cksm(Q, &sg.ots);
    chain_block_init(blk, I, sig, n);
    for (uint32_t i = 0; i < sg.ots.p; i++) {
        put16(prf + 20, i);
        put16(blk + 20, i);
        lms_sha256_block(blk + 23, n, prf, 23 + seed_len);     // x_q[i]
        chain_run(blk, 0, coef(Q, i, sg.ots.w), n);
        memcpy(y + i * n, blk + 23, n);
    }
    wipe(prf, sizeof(prf));
    wipe(blk, sizeof(blk));
    return LMS_OK;
}

int lms_hss_sig_assemble(uint8_t *out, size_t cap, size_t *out_len, uint32_t levels,
    const uint8_t *const signed_pub[], const size_t signed_pub_len[],
    const uint8_t *lms_sig, size_t lms_sig_len) {
    size_t total = 4 + lms_sig_len;
    if (levels < 1 || levels > LMS_MAX_LEVELS || lms_sig == NULL || out == NULL) {
        return LMS_ERR_ARG;
    }
    for (uint32_t i = 0; i + 1 < levels; i++) {
        if (signed_pub == NULL || signed_pub[i] == NULL) {
            return LMS_ERR_ARG;
        }
        total += signed_pub_len[i];
    }
    if (cap < total) {
        return LMS_ERR_ARG;
    }
    put32(out, levels - 1);
    size_t off = 4;
    for (uint32_t i = 0; i + 1 < levels; i++) {
        memcpy(out + off, signed_pub[i], signed_pub_len[i]);
        off += signed_pub_len[i];
    }
    memcpy(out + off, lms_sig, lms_sig_len);
    *out_len = total;
    return LMS_OK;
}

#endif // LMS_ENABLE_SIGN
