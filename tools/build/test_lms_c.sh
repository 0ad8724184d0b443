#!/usr/bin/env bash
# C test of the LMS/HSS core under ASan + UBSan:
#   tools/build/test_lms_c.sh            build, flatten the vectors, run
# The JSON vectors of host_tests/vectors/lms/ (cases, keygen, sign, the
# negative table applied to its bases) are flattened into one line file the
# C test reads; see host_tests/c/test_lms_core.c for the format.
# Then the same test again on mbedTLS's SHA-256 through the platform hook
# (LMS_SHA256_PLATFORM_HEADER, host_tests/c/lms_sha256_mbedtls.h) when
# libmbedtls-dev is installed. On x86-64 also with the SHA-NI compression
# (LMS_SHA256_X86_SHANI), which the test compares with the portable code.
# Closing line of each run: "lms-c: N passed, N failed"; exit 1 on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT="$ROOT/build/host"
CORE="$ROOT/firmware/cmodules/lms/core"
CC=${CC:-cc}
PY=${PYTHON:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3
command -v "$CC" >/dev/null || { echo "test_lms_c: no C compiler ($CC); install build-essential" >&2; exit 1; }
mkdir -p "$OUT"

"$CC" -std=c99 -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined -fno-sanitize-recover=all \
    -fno-omit-frame-pointer -DLMS_ENABLE_SIGN -DLMS_COUNT_COMPRESSIONS -I"$CORE" \
    "$ROOT/host_tests/c/test_lms_core.c" "$CORE/lms.c" "$CORE/lms_sha256.c" -o "$OUT/test_lms_core"

"$PY" - "$ROOT/host_tests/vectors/lms" "$OUT/lms_c_vectors.txt" <<'PYEOF'
import json, os, sys
vec, out = sys.argv[1], sys.argv[2]
def hx(s):
    return s if s else "-"
def load(rel):
    with open(os.path.join(vec, rel)) as f:
        return json.load(f)
lines = []
for e in load("index.json")["cases"]:
    c = load(e["file"][len("lms/"):])
    if e["kind"] == "botan_hss_sig":
        lines.append("B %s %s %s %s" % (c["name"], c["private_key_botan_format"], hx(c["message"]), c["signature"]))
    else:
        lines.append("V %s %s %s %s %s %s" % (c["name"], c["kind"], c["expect"] if c["expect"] != "invalid" or e["name"].startswith("neg") else "fail",
                                            c["public_key"], hx(c["message"]), c["signature"]))
for c in load("keygen.json")["cases"]:
    lines.append("K %s %d %d %s %s %s" % (c["name"], c["lms_type"], c["ots_type"], c["I"], c["seed"], c["public_key"]))
for c in load("sign.json")["cases"]:
    exp, mode = (c["signature"], "sig") if "signature" in c else (c["sha256_of_signature"], "sha256")
    lines.append("S %s %d %d %s %s %d %s %s %s %s" % (c["name"], c["lms_type"], c["ots_type"], c["I"], c["seed"], c["q"],
                                                   hx(c["message"]), exp, mode, c["public_key"]))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(vec))), "tools", "fuzz"))
from make_lms_seeds import negative_vectors  # the same rows the fuzz seeds use
for name, kind, expect, pub, msg, sig in negative_vectors():
    lines.append("V %s %s %s %s %s %s" % (name, kind, expect, hx(pub.hex()), hx(msg.hex()), hx(sig.hex())))
with open(out, "w") as fo:
    fo.write("\n".join(lines) + "\n")
print("test_lms_c: %d vector records -> %s" % (len(lines), out))
PYEOF

# ASan's leak checker needs ptrace, which some containers forbid.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
"$OUT/test_lms_core" "$OUT/lms_c_vectors.txt" || status=1

# x86-64: again with the SHA-NI compression (-DLMS_SHA256_X86_SHANI, as in
# the CPython host library); test_shani compares it with the portable code.
if [ "$(uname -m)" = x86_64 ]; then
    echo "test_lms_c: again with the x86-64 SHA-NI compression (LMS_SHA256_X86_SHANI)"
    "$CC" -std=c99 -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined -fno-sanitize-recover=all \
        -fno-omit-frame-pointer -DLMS_ENABLE_SIGN -DLMS_COUNT_COMPRESSIONS -DLMS_SHA256_X86_SHANI -I"$CORE" \
        "$ROOT/host_tests/c/test_lms_core.c" "$CORE/lms.c" "$CORE/lms_sha256.c" -o "$OUT/test_lms_core_shani"
    "$OUT/test_lms_core_shani" "$OUT/lms_c_vectors.txt" || status=1
fi

# The platform SHA-256 hook (LMS_SHA256_PLATFORM_HEADER), on mbedTLS, when
# its headers are installed (Debian: libmbedtls-dev).
if echo '#include "mbedtls/sha256.h"' | "$CC" -E -x c - >/dev/null 2>&1; then
    echo "test_lms_c: again with the SHA-256 platform hook (mbedTLS)"
    "$CC" -std=c99 -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined -fno-sanitize-recover=all \
        -DLMS_ENABLE_SIGN -DLMS_SHA256_PLATFORM_HEADER='"lms_sha256_mbedtls.h"' \
        -I"$CORE" -I"$ROOT/host_tests/c" \
        "$ROOT/host_tests/c/test_lms_core.c" "$CORE/lms.c" "$CORE/lms_sha256.c" \
        -o "$OUT/test_lms_core_mbedtls" -lmbedcrypto
    "$OUT/test_lms_core_mbedtls" "$OUT/lms_c_vectors.txt" || status=1
else
    echo "test_lms_c: SKIP platform-hook build (no mbedtls/sha256.h; apt-get install libmbedtls-dev)"
fi
exit $status
