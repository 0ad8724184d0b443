# How hard the hypothesis fuzz and property tests push: `make test` runs them
# briefly (scale 1); `make fuzz` sets HG_FUZZ_SCALE (default there: 50).
import os

SCALE = max(1, int(os.environ.get("HG_FUZZ_SCALE", "1")))


def examples(n):
    """max_examples for a test whose CI budget is n examples."""
    return n * SCALE
