"""Replays host_tests/corpus/lms-c/ through the LMS C fuzz target without
libFuzzer: tools/fuzz/replay_lms.c + fuzz_lms.c + the core, built with the
host C compiler under ASan/UBSan. Every saved input (the seeds, and each
input `make fuzz` ever found crashing) must run without a crash, sanitizer
report or failed harness check; the seeds must also give the verify result
their name states."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(ROOT, "firmware", "cmodules", "lms", "core")
FUZZ = os.path.join(ROOT, "tools", "fuzz")
CORPUS = os.path.join(ROOT, "host_tests", "corpus", "lms-c")
EXPECT = {"ok": [0], "invalid": [-1], "malformed": [-2], "unsupported": [-3], "fail": [-1, -2, -3]}


def _cc():
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    cc = _cc()
    if not cc:
        pytest.skip("no C compiler (apt-get install build-essential)")
    exe = str(tmp_path_factory.mktemp("fuzz") / "replay_lms")
    cmd = [cc, "-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
           "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-DFUZZ_LMS_NO_LIBFUZZER",
           "-I" + CORE, "-I" + FUZZ, os.path.join(FUZZ, "fuzz_lms.c"), os.path.join(FUZZ, "replay_lms.c"),
           os.path.join(CORE, "lms.c"), os.path.join(CORE, "lms_sha256.c"), "-o", exe]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return exe


def _run(exe, files):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0", UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    return subprocess.run([exe] + files, capture_output=True, text=True, env=env, timeout=300)


def _corpus():
    return sorted(os.path.join(CORPUS, f) for f in os.listdir(CORPUS))


def test_corpus_has_seeds():
    names = os.listdir(CORPUS)
    seeds = [n for n in names if n.startswith("seed-")]
    # at least one input of each expected outcome, so the replay checks all paths
    assert {n.rsplit("-", 1)[1] for n in seeds} >= {"ok", "invalid", "malformed", "unsupported"}


def test_replay_every_saved_input(replay):
    files = _corpus()
    p = _run(replay, files)
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-4000:])
    assert p.stdout.strip().splitlines()[-1] == "replay: %d files" % len(files)
    got = dict(line.rsplit(" ", 1) for line in p.stdout.strip().splitlines()[:-1])
    checked = 0
    for path in files:
        name = os.path.basename(path)
        if name.startswith("seed-"):
            want = EXPECT[name.rsplit("-", 1)[1]]
            assert int(got[path]) in want, (name, got[path], want)
            checked += 1
    assert checked >= 4


# Stand-ins for the core, to show the harness catches what it claims to:
# a streaming result that differs from the one-shot one, and a read one
# byte past the signature (caught because each part is an exact-size copy).
_STUB = r"""
#include "lms.h"
int lms_hss_verify(const uint8_t *p, size_t pl, const uint8_t *m, size_t ml, const uint8_t *s, size_t sl) {
    (void)p; (void)pl; (void)m; (void)ml;
#ifdef STUB_OVERREAD
    return s[sl] == 0x5a ? LMS_ERR_INVALID : LMS_ERR_MALFORMED;
#else
    (void)s; (void)sl;
    return LMS_ERR_MALFORMED;
#endif
}
int lms_verify(const uint8_t *p, size_t pl, const uint8_t *m, size_t ml, const uint8_t *s, size_t sl) {
    return lms_hss_verify(p, pl, m, ml, s, sl);
}
int lms_hss_verify_init(lms_hss_verify_ctx_t *c, const uint8_t *p, size_t pl, const uint8_t *s, size_t sl) {
    (void)p; (void)pl; (void)s; (void)sl; c->status = 1;
    return LMS_OK;
}
int lms_verify_init(lms_hss_verify_ctx_t *c, const uint8_t *p, size_t pl, const uint8_t *s, size_t sl) {
    return lms_hss_verify_init(c, p, pl, s, sl);
}
void lms_hss_verify_update(lms_hss_verify_ctx_t *c, const uint8_t *m, size_t n) { (void)c; (void)m; (void)n; }
int lms_hss_verify_final(lms_hss_verify_ctx_t *c) {
    c->status = LMS_ERR_INVALID;
    return LMS_ERR_INVALID;  /* one-shot said MALFORMED: the harness must abort */
}
"""


def _build_stub(tmp_path, overread):
    cc = _cc()
    if not cc:
        pytest.skip("no C compiler (apt-get install build-essential)")
    src = tmp_path / "stub_core.c"
    src.write_text(_STUB)
    exe = str(tmp_path / ("replay_stub_over" if overread else "replay_stub"))
    cmd = [cc, "-std=c99", "-O0", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
           "-DFUZZ_LMS_NO_LIBFUZZER", "-I" + CORE, "-I" + FUZZ, os.path.join(FUZZ, "fuzz_lms.c"),
           os.path.join(FUZZ, "replay_lms.c"), str(src), "-o", exe]
    if overread:
        cmd.insert(1, "-DSTUB_OVERREAD")
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return exe


def test_harness_aborts_when_streaming_differs(tmp_path):
    exe = _build_stub(tmp_path, overread=False)
    seed = os.path.join(CORPUS, "seed-rfc8554_tc1-ok")
    p = _run(exe, [seed])
    assert p.returncode != 0
    assert "streaming and one-shot results differ" in p.stderr


def test_harness_catches_a_read_past_the_signature(tmp_path):
    exe = _build_stub(tmp_path, overread=True)
    p = _run(exe, [os.path.join(CORPUS, "seed-rfc8554_tc1-ok")])
    assert p.returncode != 0
    assert "heap-buffer-overflow" in p.stderr


def test_replay_rejects_an_unreadable_file(replay, tmp_path):
    p = _run(replay, [str(tmp_path / "missing")])
    assert p.returncode == 2
    assert "cannot open" in p.stderr


def test_seeds_match_the_vectors(tmp_path):
    # committed seeds are exactly what make_lms_seeds.py makes from the vectors
    import sys

    sys.path.insert(0, FUZZ)
    try:
        import make_lms_seeds
    finally:
        sys.path.remove(FUZZ)
    seeds = [n for n in os.listdir(CORPUS) if n.startswith("seed-")]
    names = [n[len("seed-"):].rsplit("-", 1)[0] for n in seeds]
    out = tmp_path / "seeds"
    sel = []
    for n in names:
        sel += ["--select", n]
    assert make_lms_seeds.main(["--out", str(out)] + sel) == 0
    for n in seeds:
        with open(os.path.join(CORPUS, n), "rb") as a, open(str(out / n), "rb") as b:
            assert a.read() == b.read(), n
