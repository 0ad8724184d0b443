// libFuzzer target for the LMS/HSS verifier (firmware/cmodules/lms/core).
// Built by tools/fuzz/run_c_fuzz.sh with clang -fsanitize=fuzzer,address,
// undefined; tools/fuzz/replay_lms.c links the same file without libFuzzer
// to replay saved inputs (host_tests/test_fuzz_regressions.py).
//
// Input: mode(1) chunk(1) pub_len(2, big endian) msg_len(2) pub msg sig
//   mode bit 0: 1 = HSS encodings (lms_hss_verify), 0 = bare LMS (lms_verify)
//   chunk: the streaming API is fed the message chunk+1 bytes at a time
// pub_len/msg_len are clipped to what is left; sig is the rest. Each part
// is copied into its own exact-size heap block, so ASan catches a read one
// byte past any of them (inside the fuzzer's buffer it would not).
//
// Checked on every input, beyond "no crash, no UB, no hang":
//   - the result is LMS_OK or one of the documented LMS_ERR_* codes;
//   - the streaming API (init/update.../final) gives the one-shot result;
//   - a second final() gives LMS_ERR_INVALID;
//   - a valid signature stops verifying when the message changes.
// A failed check abort()s, which libFuzzer saves as a crash.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lms.h"
#include "fuzz_lms.h"

#define HDR_LEN (6)

static uint8_t *dup_exact(const uint8_t *p, size_t n) {
    // malloc(0) may return NULL: keep a valid pointer for empty parts
    uint8_t *b = malloc(n ? n : 1);
    if (b == NULL) {
        abort();
    }
    if (n) {
        memcpy(b, p, n);
    }
    return b;
}

static void fail(const char *what, int a, int b) {
    fprintf(stderr, "fuzz_lms: %s (%d vs %d)\n", what, a, b);
    abort();
}

static int known_code(int r) {
    return r == LMS_OK || r == LMS_ERR_INVALID || r == LMS_ERR_MALFORMED || r == LMS_ERR_UNSUPPORTED;
}

int fuzz_lms_run(const uint8_t *data, size_t size) {
    if (size < HDR_LEN) {
        return LMS_ERR_ARG;  // not an input of this format: nothing to verify
    }
    int hss = data[0] & 1;
    size_t chunk = (size_t)data[1] + 1;
    size_t left = size - HDR_LEN;
    size_t pub_len = ((size_t)data[2] << 8) | data[3];
    size_t msg_len = ((size_t)data[4] << 8) | data[5];
    if (pub_len > left) {
        pub_len = left;
    }
    left -= pub_len;
    if (msg_len > left) {
        msg_len = left;
    }
    left -= msg_len;
    const uint8_t *p = data + HDR_LEN;
    uint8_t *pub = dup_exact(p, pub_len);
    uint8_t *msg = dup_exact(p + pub_len, msg_len);
    uint8_t *sig = dup_exact(p + pub_len + msg_len, left);
    size_t sig_len = left;

    int r = hss ? lms_hss_verify(pub, pub_len, msg, msg_len, sig, sig_len)
                : lms_verify(pub, pub_len, msg, msg_len, sig, sig_len);
    if (!known_code(r)) {
        fail("unknown result code", r, 0);
    }

    lms_hss_verify_ctx_t ctx;
    int ri = hss ? lms_hss_verify_init(&ctx, pub, pub_len, sig, sig_len)
                 : lms_verify_init(&ctx, pub, pub_len, sig, sig_len);
    // the context keeps no pointer into pub (documented): release it now
    memset(pub, 0xa5, pub_len);
    free(pub);
    for (size_t off = 0; off < msg_len; off += chunk) {
        size_t n = msg_len - off < chunk ? msg_len - off : chunk;
        lms_hss_verify_update(&ctx, msg + off, n);
    }
    int rs = lms_hss_verify_final(&ctx);
    if (ri != LMS_OK && rs != ri) {
        fail("final() after a failed init() differs from init()", rs, ri);
    }
    if (rs != r) {
        fail("streaming and one-shot results differ", rs, r);
    }
    int again = lms_hss_verify_final(&ctx);
    if (again != LMS_ERR_INVALID) {
        fail("second final() did not fail", again, LMS_ERR_INVALID);
    }
    if (r == LMS_OK) {
        // the signature must bind the message: flip one bit (or add a byte)
        uint8_t *m2 = malloc(msg_len + 1);
        if (m2 == NULL) {
            abort();
        }
        memcpy(m2, msg, msg_len);
        size_t n2 = msg_len;
        if (msg_len) {
            m2[msg_len / 2] ^= 0x01;
        } else {
            m2[0] = 0;
            n2 = 1;
        }
        // a fresh copy of pub is gone: re-derive it from the input
        uint8_t *pub2 = dup_exact(p, pub_len);
        int r2 = hss ? lms_hss_verify(pub2, pub_len, m2, n2, sig, sig_len)
                     : lms_verify(pub2, pub_len, m2, n2, sig, sig_len);
        free(pub2);
        free(m2);
        if (r2 != LMS_ERR_INVALID) {
            fail("valid signature also verifies a changed message", r2, LMS_ERR_INVALID);
        }
    }
    free(msg);
    free(sig);
    return r;
}

#ifndef FUZZ_LMS_NO_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_lms_run(data, size);
    return 0;
}
#endif
