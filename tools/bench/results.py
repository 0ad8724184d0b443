"""Benchmark results recorder shared by every tools/bench script (CPython only).

    from results import record
    record("coap", "CPU per GET, ours (unix)", 41.2, "us/request",
           anchor_name="aiocoap", anchor_value=160.0, goal="ratio <= 0.25")

record() appends one JSON object per line to the file named by the
environment variable HG_BENCH_RESULTS; when it is unset, record() does
nothing, so a bench run by hand only prints. `make bench` (report.py run)
sets it to a fresh build/bench/results.jsonl and then turns the lines into
BENCHMARKS.md and build/bench/results.json.

Row fields: section, name, value, unit; optional anchor_name/anchor_value
(the figure we compare against: aiocoap, pyhsslms, a bound), ratio
(value / anchor_value unless given), goal ("ratio <= 0.25", "value <= 1024",
or "<= 1.10", which applies to the ratio when there is one, else the
value), note, runtime (where the figure was measured when it is not the
host CPython: "qemu mps2-an386", "build/unix/micropython"). Every row also
carries the host machine() line and the bench script's name.
"""
import json
import os
import platform
import subprocess
import sys
import time

ENV = "HG_BENCH_RESULTS"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_machine = [None]


def machine():
    """One line: CPU model, architecture, cores, OS, Python."""
    if _machine[0] is None:
        cpu = ""
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        cpu = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        cpu = cpu or platform.processor() or "unknown CPU"
        _machine[0] = "%s, %s, %d cores, %s %s, Python %s" % (
            cpu, platform.machine(), os.cpu_count() or 0, platform.system(), platform.release(),
            platform.python_version())
    return _machine[0]


def commit(root=ROOT):
    """git describe --always --dirty of the tree, or "unknown" outside git."""
    try:
        p = subprocess.run(["git", "-C", root, "describe", "--always", "--dirty"],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else "unknown"


def _num(x):
    # JSON has no NaN/inf; bools are not figures
    if isinstance(x, bool) or x is None:
        return x
    if isinstance(x, (int, float)):
        if x != x or x in (float("inf"), float("-inf")):
            return None
        return x
    return x


def row(section, name, value, unit, anchor_name=None, anchor_value=None, ratio=None, goal=None,
        note=None, runtime=None):
    """The dict record() writes (no file I/O)."""
    value, anchor_value, ratio = _num(value), _num(anchor_value), _num(ratio)
    if ratio is None and isinstance(value, (int, float)) and isinstance(anchor_value, (int, float)) \
            and not isinstance(value, bool) and anchor_value:
        ratio = value / anchor_value
    return {
        "section": str(section), "name": str(name), "value": value, "unit": unit,
        "anchor_name": anchor_name, "anchor_value": anchor_value, "ratio": ratio, "goal": goal,
        "note": note, "runtime": runtime, "machine": machine(),
        "bench": os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "?",
        "bench_run": os.environ.get("HG_BENCH_NAME"),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def enabled():
    return bool(os.environ.get(ENV))


def record(section, name, value, unit, anchor_name=None, anchor_value=None, ratio=None,
           goal=None, note=None, runtime=None):
    """Append one result row to $HG_BENCH_RESULTS (no-op when unset)."""
    path = os.environ.get(ENV)
    if not path:
        return None
    r = row(section, name, value, unit, anchor_name, anchor_value, ratio, goal, note, runtime)
    line = json.dumps(r, sort_keys=True) + "\n"
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    # one write() per line in append mode: benches running in parallel
    # (or a bench and its child) do not interleave within a line
    with open(path, "a") as f:
        f.write(line)
    return r
