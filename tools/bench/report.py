#!/usr/bin/env python3
"""Run the benchmarks and turn their recorded rows into BENCHMARKS.md.

    report.py run [--micropython EXE] [--qemu-elf ELF] [--only NAME ...] [--quick]
        run every bench of BENCHES below with HG_BENCH_RESULTS set to a fresh
        build/bench/results.jsonl (each bench's output is shown and kept in
        build/bench/<name>.log), then write the report as below
    report.py [--results JSONL] [--json OUT] [--md OUT] [--plots DIR]
        only write the report from an existing results.jsonl

The report: build/bench/results.json (machine, commit, date, the benches'
status and every row) and BENCHMARKS.md at the repository root, one table
per section with the value, its anchor, the ratio, the goal and whether it
is met, and PNG plots (matplotlib) in docs/bench/ linked from it. Without
matplotlib the report says the plots were skipped.

To add a bench: write tools/bench/bench_<x>.py that calls
results.record(...) at each figure it prints, and add a line to BENCHES.
A bench whose script does not exist yet is listed as "not run".
"""
import argparse
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
import results  # noqa: E402

BUILD = os.path.join(ROOT, "build", "bench")
DEFAULT_JSONL = os.path.join(BUILD, "results.jsonl")
DEFAULT_JSON = os.path.join(BUILD, "results.json")
DEFAULT_MD = os.path.join(ROOT, "BENCHMARKS.md")
DEFAULT_PLOTS = os.path.join(ROOT, "docs", "bench")

# name, command (placeholders: {py} {unix_mp} {qemu_elf}; paths relative to
# the repository root), extra arguments under --quick, timeout in seconds.
BENCHES = [
    ("cbor", ["{py}", "tools/bench/run_cbor_bench.py", "--micropython", "{unix_mp}"],
     ["--budget", "0.3"], 1800),
    ("lms", ["{py}", "tools/bench/bench_lms.py"], ["--quick"], 3600),
    ("coap", ["{py}", "tools/bench/bench_coap.py", "--micropython", "{unix_mp}"],
     ["--requests", "5000", "--rounds", "3"], 3600),
    ("oscore", ["{py}", "tools/bench/bench_oscore.py", "--qemu-elf", "{qemu_elf}"],
     ["--requests", "1000"], 3600),
    ("sizes", ["{py}", "tools/bench/bench_sizes.py", "--qemu-elf", "{qemu_elf}"], [], 600),
    # added by the SUIT and EAT work; "not run" until their scripts exist
    ("suit", ["{py}", "tools/bench/bench_suit.py"], [], 1800),
    ("eat", ["{py}", "tools/bench/bench_eat.py"], [], 1800),
    ("e2e", ["{py}", "tools/bench/bench_e2e.py"], [], 900),
]

# Section titles, in report order; sections not listed follow, sorted.
SECTIONS = [
    ("cbor", "CBOR codec (lib/cbor) vs cbor2"),
    ("lms", "LMS/HSS verify and sign (C core) vs pyhsslms and the SHA-256 bound"),
    ("coap", "CoAP server vs aiocoap and libcoap"),
    ("oscore", "OSCORE server vs aiocoap"),
    ("heap", "MicroPython heap per operation"),
    ("sizes", ".mpy size per package, Cortex-M4 image and C module sizes"),
    ("suit", "SUIT"),
    ("eat", "EAT"),
    ("e2e", "64 KiB end-to-end"),
]

# Plots: rows of `section` with `unit` and an anchor. "grouped": one group of
# bars per row name (the value and each anchor of that name); "flat": one bar
# per row (its value) plus one per distinct anchor.
PLOTS = [
    {"file": "lms_verify_ns.png", "section": "lms", "unit": "ns/compression", "mode": "grouped",
     "ours": "C core", "log": True,
     "title": "LMS verify: wall time per SHA-256 compression (lower is better)"},
    {"file": "lms_verify_ir.png", "section": "lms", "unit": "Ir", "mode": "grouped",
     "ours": "one verify", "log": False,
     "title": "LMS verify vs the same number of bare SHA-256 compressions (callgrind)"},
    {"file": "coap_cpu.png", "section": "coap", "unit": "us CPU/request", "mode": "flat",
     "log": True, "title": "CoAP server CPU per small GET (lower is better)"},
    {"file": "oscore_cpu.png", "section": "oscore", "unit": "us CPU/request", "mode": "flat",
     "log": True, "title": "OSCORE server CPU per protected GET (lower is better)"},
]

_NUM = r"[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
# "ratio <= 1/4", "value <= 1024", "<= 1.10" (ratio if the row has one, else value)
_GOAL = re.compile(r"^\s*(ratio|value)?\s*(<=|>=|==|<|>)\s*(%s)(?:\s*/\s*(%s))?\s*$" % (_NUM, _NUM))


# ---------------------------------------------------------------- reading rows


def load(path):
    """(meta, runs, rows) from a results.jsonl; bad lines are skipped and counted."""
    meta, runs, rows, bad = {}, [], [], 0
    if not os.path.exists(path):
        return meta, runs, rows, bad
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                d = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if not isinstance(d, dict):
                bad += 1
            elif d.get("kind") == "meta":
                meta = d
            elif d.get("kind") == "run":
                runs.append(d)
            elif "section" in d and "name" in d:
                rows.append(d)
            else:
                bad += 1
    return meta, runs, rows, bad


def goal_met(r):
    """True / False when the row has a goal that can be checked, else None."""
    g = r.get("goal")
    if not g:
        return None
    m = _GOAL.match(str(g))
    if not m:
        return None
    target, op, lim = m.group(1), m.group(2), float(m.group(3))
    if m.group(4) is not None:
        if not float(m.group(4)):
            return None
        lim /= float(m.group(4))
    if target is None:
        target = "ratio" if r.get("ratio") is not None else "value"
    x = r.get(target)
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return {"<=": x <= lim, ">=": x >= lim, "<": x < lim, ">": x > lim, "==": x == lim}[op]


# ---------------------------------------------------------------- formatting


def fmt(x):
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return "{:,}".format(x)
    if isinstance(x, float):
        a = abs(x)
        if a >= 1000:
            return "{:,.0f}".format(x)
        if a >= 10:
            return "%.1f" % x
        if a >= 1 or a == 0:
            return "%.2f" % x
        return "%.3g" % x
    return str(x)


def fmt_ratio(x):
    if x is None:
        return "-"
    return ("%.2fx" % x) if abs(x) >= 0.01 else ("%.3gx" % x)


def _cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def _value(r):
    v = fmt(r.get("value"))
    return v + (" " + r["unit"] if r.get("unit") and r.get("value") is not None else "")


def _anchor(r):
    if not r.get("anchor_name") and r.get("anchor_value") is None:
        return "-"
    v = fmt(r.get("anchor_value"))
    if r.get("anchor_value") is not None and r.get("unit"):
        v += " " + r["unit"]
    return "%s: %s" % (r.get("anchor_name") or "anchor", v) if r.get("anchor_name") else v


def _met(r):
    m = goal_met(r)
    if m is None:
        return "-" if not r.get("goal") else "?"
    return "met" if m else "**NOT met**"


def section_order(rows, runs):
    names = [s for s, _ in SECTIONS]
    extra = sorted({r["section"] for r in rows} - set(names))
    return names + extra


def render(meta, runs, rows, plots, plot_note, bad=0, raw_json="build/bench/results.json"):
    """BENCHMARKS.md text."""
    machines = sorted({r.get("machine") for r in rows if r.get("machine")})
    machine = meta.get("machine") or (machines[0] if len(machines) == 1 else results.machine())
    out = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (tools/bench/report.py) from a real run; do not edit by hand.",
        "",
        "- Machine: %s" % machine,
        "- Commit: %s" % meta.get("commit", "unknown"),
        "- Date: %s" % meta.get("date", "unknown"),
        "- Raw numbers: %s (one row per figure below)" % raw_json,
        "",
        "Each row: the figure, where it was measured (\"host\" = the machine above), its value,",
        "the anchor it is compared with, ratio = value / anchor, the goal and whether it is met.",
    ]
    if len(machines) > 1:
        out.append("Rows come from %d machines: see the machine column." % len(machines))
    if bad:
        out.append("")
        out.append("%d unreadable line(s) in results.jsonl were skipped." % bad)
    if runs:
        out += ["", "## Benches", "", "| bench | status | rows | seconds | command |",
                "|---|---|---:|---:|---|"]
        for run in runs:
            n = sum(1 for r in rows if r.get("bench_run") == run["name"])
            out.append("| %s | %s | %s | %s | `%s` |" % (
                run["name"], _cell(run.get("status", "?")), n if n else "-",
                fmt(run.get("seconds")), _cell(run.get("command", ""))))
    by_section = {}
    for r in rows:
        by_section.setdefault(r["section"], []).append(r)
    titles = dict(SECTIONS)
    run_status = {run["name"]: run.get("status", "?") for run in runs}
    for sec in section_order(rows, runs):
        srows = by_section.get(sec, [])
        if not srows and sec not in run_status:
            if sec in titles:
                out += ["", "## %s" % titles[sec], "", "Not run (no bench recorded rows for it)."]
            continue
        out += ["", "## %s" % titles.get(sec, sec), ""]
        if not srows:
            st = run_status.get(sec, "no rows")
            out.append("The bench ran but recorded no rows (see build/bench/%s.log)." % sec
                       if st == "ok" else "Not run: %s." % st)
            continue
        multi = len(machines) > 1
        head = "| figure | where | value | anchor | ratio | goal | met | note |"
        sep = "|---|---|---:|---|---:|---|---|---|"
        if multi:
            head = head[:-1] + " machine |"
            sep += "---|"
        out += [head, sep]
        for r in srows:
            line = "| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                _cell(r["name"]), _cell(r.get("runtime") or "host"), _cell(_value(r)),
                _cell(_anchor(r)), fmt_ratio(r.get("ratio")), _cell(r.get("goal") or "-"), _met(r),
                _cell(r.get("note") or ""))
            if multi:
                line += " %s |" % _cell(r.get("machine") or "?")
            out.append(line)
        for title, rel in plots:
            if rel.get("section") == sec:
                out += ["", "![%s](%s)" % (title, rel["path"])]
    out += ["", "## Plots", ""]
    if plot_note:
        out.append(plot_note)
    if plots:
        for title, rel in plots:
            out.append("- [%s](%s)" % (title, rel["path"]))
    elif not plot_note:
        out.append("No plot had data in this run.")
    met = [goal_met(r) for r in rows]
    out += ["", "Goals: %d met, %d not met, %d rows without a checkable goal." % (
        met.count(True), met.count(False), met.count(None)), ""]
    return "\n".join(out)


# ---------------------------------------------------------------- plots


def _series(spec, rows):
    """grouped: [(group name, [(label, value)])]; flat: [(number of our bars,
    [(label, value)])]; [] when nothing to plot."""
    sel = [r for r in rows if r["section"] == spec["section"] and r.get("unit") == spec["unit"]
           and isinstance(r.get("value"), (int, float))]
    if spec["mode"] == "grouped":
        groups = {}
        order = []
        for r in sel:
            if r.get("anchor_value") is None:
                continue
            if r["name"] not in groups:
                groups[r["name"]] = [(spec.get("ours", "ours"), r["value"])]
                order.append(r["name"])
            g = groups[r["name"]]
            if r.get("anchor_name") not in [lab for lab, _ in g]:
                g.append((r.get("anchor_name") or "anchor", r["anchor_value"]))
        return [(n, groups[n]) for n in order]
    bars, seen = [], set()
    for r in sel:
        if r["name"] not in seen:  # one row per anchor may share a name
            bars.append((r["name"], r["value"]))
            seen.add(r["name"])
    n_ours = len(bars)
    for r in sel:
        a = r.get("anchor_name")
        if a and r.get("anchor_value") is not None and a not in seen:
            bars.append((a, r["anchor_value"]))
            seen.add(a)
    if not bars or not any(r.get("anchor_value") is not None for r in sel):
        return []
    return [(n_ours, bars)]


def make_plots(rows, outdir, md_dir, subtitle):
    """Write the PNGs; ([(title, {"path", "section"})], note or None)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import ticker
    except ImportError:
        return [], ("Plots skipped: matplotlib is not installed in this Python "
                    "(`.venv/bin/pip install -r tools/requirements.txt`).")
    made = []
    for spec in PLOTS:
        data = _series(spec, rows)
        if not data:
            continue
        os.makedirs(outdir, exist_ok=True)
        path = os.path.join(outdir, spec["file"])
        if spec["mode"] == "grouped":
            labels = []
            for _g, bars in data:
                for lab, _v in bars:
                    if lab not in labels:
                        labels.append(lab)
            n = len(data)
            fig, ax = plt.subplots(figsize=(9, 1.0 + 0.9 * n))
            h = 0.8 / max(len(labels), 1)
            for j, lab in enumerate(labels):
                ys, xs = [], []
                for i, (_g, bars) in enumerate(data):
                    d = dict(bars)
                    if lab in d:
                        ys.append(i + (j - (len(labels) - 1) / 2) * h)
                        xs.append(d[lab])
                ax.barh(ys, xs, height=h, label=lab)
                for y, x in zip(ys, xs):
                    ax.annotate(fmt(x), (x, y), xytext=(3, 0), textcoords="offset points",
                                va="center", fontsize=7)
            ax.set_yticks(range(n))
            ax.set_yticklabels([g for g, _ in data], fontsize=8)
            ax.legend(fontsize=8, loc="best")
        else:
            bars, n_ours = data[0][1], data[0][0]
            fig, ax = plt.subplots(figsize=(9, 1.0 + 0.45 * len(bars)))
            # ours in one colour, the anchors in another
            ax.barh(range(len(bars)), [v for _l, v in bars],
                    color=["C0" if i < n_ours else "C1" for i in range(len(bars))])
            for i, (_l, v) in enumerate(bars):
                ax.annotate(fmt(v), (v, i), xytext=(3, 0), textcoords="offset points", va="center",
                            fontsize=7)
            ax.set_yticks(range(len(bars)))
            ax.set_yticklabels([lab for lab, _v in bars], fontsize=8)
        ax.invert_yaxis()
        values = [v for _g, bars in data for _l, v in bars]
        top = max(values) if values else 1
        if spec.get("log") and min(values) > 0:  # a 0 (below the clock tick) has no log
            ax.set_xscale("log")
            ax.set_xlim(right=top * 2.5)  # room for the value labels
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda x, _p: fmt(x)))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        elif top > 0:
            ax.set_xlim(0, top * 1.2)
        ax.set_xlabel(spec["unit"])
        ax.set_title(spec["title"] + "\n" + "\n".join(textwrap.wrap(subtitle, 100)), fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(fig)
        rel = os.path.relpath(path, md_dir)
        made.append((spec["title"], {"path": rel, "section": spec["section"]}))
    return made, None


# ---------------------------------------------------------------- report


def _rel_md(path, md_out):
    return os.path.relpath(os.path.abspath(path), os.path.dirname(os.path.abspath(md_out)))


def write_report(jsonl, json_out, md_out, plots_dir):
    meta, runs, rows, bad = load(jsonl)
    if not meta:
        meta = {"machine": results.machine(), "commit": results.commit(),
                "date": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    subtitle = "%s; commit %s" % (meta.get("machine", "?"), meta.get("commit", "?"))
    plots, note = make_plots(rows, plots_dir, os.path.dirname(os.path.abspath(md_out)), subtitle)
    for r in rows:
        r["goal_met"] = goal_met(r)
    doc = {"generated_by": "make bench (tools/bench/report.py)", "machine": meta.get("machine"),
           "commit": meta.get("commit"), "date": meta.get("date"), "benches": runs,
           "rows": rows, "plots": [p["path"] for _t, p in plots], "plots_note": note}
    for path, text in ((json_out, json.dumps(doc, indent=1, sort_keys=True) + "\n"),
                       (md_out, render(meta, runs, rows, plots, note, bad, _rel_md(json_out, md_out)))):
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    print("report: %d rows from %d benches -> %s, %s; %s" % (
        len(rows), len(runs), os.path.relpath(md_out), os.path.relpath(json_out),
        note or "%d plot(s) in %s" % (len(plots), os.path.relpath(plots_dir))))
    return doc


# ---------------------------------------------------------------- run


def _expand(cmd, subst):
    out = []
    for a in cmd:
        for k, v in subst.items():
            a = a.replace("{" + k + "}", v)
        out.append(a)
    return out


def _script(cmd):
    for a in cmd[1:]:
        if a.endswith(".py"):
            return a if os.path.isabs(a) else os.path.join(ROOT, a)
    return None


def _append(path, d):
    with open(path, "a") as f:
        f.write(json.dumps(d, sort_keys=True) + "\n")


def run_benches(args):
    os.makedirs(BUILD, exist_ok=True)
    jsonl = os.path.abspath(args.results)
    os.makedirs(os.path.dirname(jsonl), exist_ok=True)
    if os.path.exists(jsonl):
        os.unlink(jsonl)
    _append(jsonl, {"kind": "meta", "machine": results.machine(), "commit": results.commit(),
                    "date": time.strftime("%Y-%m-%d %H:%M:%S %z")})
    subst = {"py": args.python, "unix_mp": args.micropython, "qemu_elf": args.qemu_elf}
    benches = [b for b in BENCHES if not args.only or b[0] in args.only]
    unknown = set(args.only or ()) - {b[0] for b in BENCHES}
    if unknown:
        print("report: unknown bench(es): %s (known: %s)" % (
            ", ".join(sorted(unknown)), ", ".join(b[0] for b in BENCHES)), file=sys.stderr)
        return 2
    failed = 0
    for name, cmd, quick, timeout in BENCHES:
        full = _expand(cmd + (quick if args.quick else []), subst)
        shown = " ".join(os.path.relpath(a, ROOT) if os.path.isabs(a) and a.startswith(ROOT) else a
                         for a in full)
        run = {"kind": "run", "name": name, "command": shown}
        if (name, cmd, quick, timeout) not in benches:
            run["status"] = "not run (not selected)"
            _append(jsonl, run)
            continue
        script = _script(full)
        if script and not os.path.exists(script):
            run["status"] = "not run: %s does not exist" % os.path.relpath(script, ROOT)
            print("== bench %s: %s" % (name, run["status"]))
            _append(jsonl, run)
            continue
        print("== bench %s: %s" % (name, shown), flush=True)
        env = dict(os.environ)
        env[results.ENV] = jsonl
        env["HG_BENCH_NAME"] = name
        log = os.path.join(BUILD, name + ".log")
        t0 = time.time()
        status = None
        timed_out = []

        def _kill():
            timed_out.append(1)
            p.kill()

        with open(log, "w") as lf:
            p = subprocess.Popen(full, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, bufsize=1)
            watchdog = threading.Timer(timeout, _kill)
            watchdog.start()
            try:
                for line in p.stdout:
                    sys.stdout.write(line)
                    lf.write(line)
                p.wait()
            except KeyboardInterrupt:
                p.kill()
                p.wait()
                raise
            finally:
                watchdog.cancel()
        if timed_out:
            status = "timed out after %d s" % timeout
        if status is None:
            status = "ok" if p.returncode == 0 else "failed (exit %d, see build/bench/%s.log)" % (
                p.returncode, name)
        if status != "ok":
            failed += 1
        run.update(status=status, seconds=round(time.time() - t0, 1))
        _append(jsonl, run)
    write_report(jsonl, args.json, args.md, args.plots)
    if failed:
        print("report: %d bench(es) failed; their rows so far are in the report" % failed,
              file=sys.stderr)
    return 1 if failed and args.strict else 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    do_run = bool(argv) and argv[0] == "run"
    if do_run:
        argv = argv[1:]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default=DEFAULT_JSONL, help="results.jsonl (default %(default)s)")
    ap.add_argument("--json", default=DEFAULT_JSON, help="results.json to write")
    ap.add_argument("--md", default=DEFAULT_MD, help="Markdown report to write")
    ap.add_argument("--plots", default=DEFAULT_PLOTS, help="folder for the PNG plots")
    if do_run:
        ap.add_argument("--python", default=sys.executable)
        ap.add_argument("--micropython", default=os.path.join(ROOT, "build", "unix", "micropython"))
        ap.add_argument("--qemu-elf", default=os.path.join(ROOT, "build", "qemu_an386", "firmware.elf"))
        ap.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only this bench (repeatable); the others show as not selected")
        ap.add_argument("--quick", action="store_true", help="each bench's shorter settings")
        ap.add_argument("--strict", action="store_true", help="exit 1 when a bench failed")
    args = ap.parse_args(argv)
    for k in ("results", "json", "md", "plots"):
        setattr(args, k, os.path.abspath(getattr(args, k)))
    if do_run:
        return run_benches(args)
    write_report(args.results, args.json, args.md, args.plots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
