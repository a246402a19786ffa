#!/usr/bin/env python3
"""Plot load-test timelines written by `sluice run --timeline PATH`.

    python3 loadtest/plot.py --out DIR --prefix NAME [--label LABEL ...] [--align] [--sum] TIMELINE [TIMELINE ...]

Each TIMELINE is JSON Lines: one sample per second
({"t", "records_in", "rate", "decided", "p50_ms".."max_ms", "lag", "rss_mb"}), optionally
followed by one summary line ({"summary": true, "count", "cdf": [[latency_ms, quantile], ...],
"p50_ms".."max_ms"}). Give several timelines to compare them (one per load level, or one per
instance of a scale-out run); --label names them in order (repeat it once per timeline),
otherwise the file stem is used. --align puts them on one wall clock (unix_ms). --sum adds the total rate across timelines, aligned by t
rounded to the second (a timeline with no sample at some second counts 0 there).

Writes into DIR, skipping any plot no timeline has data for:
    NAME-throughput.png   committed records/s over time
    NAME-latency-cdf.png  event-to-decision latency distribution from the summary lines
                          (log latency vs. percentile on a 1 - q log axis, HdrHistogram style)
    NAME-lag.png          total consumer lag over time
    NAME-rss.png          resident memory over time
    NAME-p99.png          per-second p99 latency over time (dotted: record timestamp to poll;
                          dashed: poll to commit)
and prints the path of each file written, one per line. Needs matplotlib
(python3 -m pip install -q matplotlib).
"""
import argparse
import json
import math
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter, FuncFormatter, LogLocator, NullFormatter, NullLocator
except ImportError:
    plt = None

SIZE, DPI = (8, 4.5), 100
LATENCY_FIELDS = {"p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms", "poll_p50_ms", "poll_p99_ms", "engine_p99_ms"}


def fail(msg):
    sys.exit(f"plot.py: {msg}")


def load(path):
    """(samples, summary-or-None) of one timeline. A malformed last line (a run killed mid-write)
    is skipped with a warning; a malformed line anywhere else is an error."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = [(n, s.strip()) for n, s in enumerate(f, 1) if s.strip()]
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")
    samples, summary = [], None
    for i, (n, text) in enumerate(lines):
        try:
            obj = json.loads(text)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            if i == len(lines) - 1:
                print(f"plot.py: warning: {path}:{n}: skipping truncated last line", file=sys.stderr)
                break
            fail(f"{path}:{n}: bad JSON line: {e}")
        if obj.get("summary"):
            summary = obj
        elif isinstance(obj.get("t"), (int, float)):
            samples.append(obj)
    samples.sort(key=lambda s: s["t"])
    return samples, summary


def series(samples, field):
    """(ts, values) for `field`; missing values (and 0 for latencies: no records committed
    that second) become NaN so the line breaks instead of dropping to zero."""
    ts, vs = [], []
    for s in samples:
        v = s.get(field)
        if not isinstance(v, (int, float)) or (field in LATENCY_FIELDS and v <= 0):
            v = math.nan
        ts.append(s["t"])
        vs.append(float(v))
    return ts, vs


def has_data(values):
    return any(not math.isnan(v) for v in values)


def align_by_wall_clock(runs):
    """Re-bases every sample's t on the earliest engine start among the timelines (from
    unix_ms), so instances started at different times line up."""
    starts = [s["unix_ms"] / 1000 - s["t"] for _, samples, _ in runs for s in samples[:1] if "unix_ms" in s]
    if len(starts) != len(runs):
        fail("--align needs unix_ms in every timeline")
    origin = min(starts)
    for (_, samples, _), start in zip(runs, starts):
        for s in samples:
            s["t"] = s["t"] + start - origin


def summed_rate(runs):
    """Total rate per whole second across all timelines."""
    total = {}
    for _, samples, _ in runs:
        per_second = {}
        for s in samples:
            if isinstance(s.get("rate"), (int, float)):
                per_second[round(s["t"])] = s["rate"]  # last sample wins if two round alike
        for t, r in per_second.items():
            total[t] = total.get(t, 0.0) + r
    ts = sorted(total)
    return ts, [total[t] for t in ts]


def save(fig, path, written):
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    written.append(path)


def time_plot(runs, field, title, ylabel, path, written, extra=None, formatter=None, log=False, parts=()):
    """One line per timeline of `field` over t; `extra` is an optional (label, ts, vs) line;
    `parts` (field, label suffix, line style) add a line per timeline in the same colour."""
    lines = [(label, samples, *series(samples, field)) for label, samples, _ in runs]
    lines = [ln for ln in lines if has_data(ln[3])]
    if not lines:
        return
    fig, ax = plt.subplots(figsize=SIZE)
    for label, samples, ts, vs in lines:
        line, = ax.plot(ts, vs, label=label, linewidth=1.2)
        for part_field, suffix, style in parts:
            pts, pvs = series(samples, part_field)
            if has_data(pvs):
                ax.plot(pts, pvs, label=f"{label}{suffix}", linewidth=1.0, linestyle=style, color=line.get_color())
    if extra:
        ax.plot(extra[1], extra[2], label=extra[0], color="black", linewidth=1.6, linestyle="--")
    ax.set_title(title)
    ax.set_xlabel("time since engine start (s)")
    ax.set_ylabel(ylabel)
    if log:
        # Latency spans milliseconds to seconds across load levels.
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    if formatter:
        ax.yaxis.set_major_formatter(formatter)
    ax.grid(True, alpha=0.3)
    if len(lines) > 1 or extra or parts:
        ax.legend()
    save(fig, path, written)
    plt.close(fig)


def percent_label(tail):
    """Tick label for 1 - q = tail: 0.5 -> '50%', 0.001 -> '99.9%'."""
    q = 100.0 * (1.0 - tail)
    return f"{q:.{max(0, round(-math.log10(tail)) - 2)}f}%"


def cdf_plot(runs, path, written):
    curves = []
    floor = 1.0
    for label, _, summary in runs:
        if not summary or not summary.get("cdf"):
            continue
        count = summary.get("count") or 0
        # q = 1.0 (the max) has no 1 - q on a log axis: pin it just past the last record.
        pin = 0.5 / count if count > 0 else 1e-6
        xs, ys = [], []
        for point in summary["cdf"]:
            lat, q = float(point[0]), float(point[1])
            if lat > 0:
                xs.append(lat)
                ys.append(max(1.0 - q, pin))
        if xs:
            p99 = summary.get("p99_ms")
            if isinstance(p99, (int, float)) and p99 > 0:
                label = f"{label} (p99 {p99:.0f} ms)"
            curves.append((label, xs, ys))
            floor = min(floor, min(ys))
    if not curves:
        return
    fig, ax = plt.subplots(figsize=SIZE)
    for label, xs, ys in curves:
        ax.plot(xs, ys, label=label, linewidth=1.4)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_yscale("log")
    ticks = [0.5] + [10.0 ** -k for k in range(1, 1 - math.floor(math.log10(floor)))]
    ticks = [t for t in ticks if t >= floor * 0.999]
    ax.set_yticks(ticks)
    ax.set_yticklabels([percent_label(t) for t in ticks])
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_ylim(1.0, floor)  # inverted: the tail grows upwards
    ax.set_title("Event-to-decision latency distribution")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("percentile")
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", axis="x", alpha=0.1)
    ax.legend()
    save(fig, path, written)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="directory to write the PNGs into")
    ap.add_argument("--prefix", required=True, help="file name prefix, e.g. run name")
    ap.add_argument("--label", action="append", default=[],
                    help="name of a timeline in the legends; repeat once per timeline, in order")
    ap.add_argument("--sum", action="store_true",
                    help="also plot the total rate across timelines (by whole second)")
    ap.add_argument("--plots", default="throughput,latency-cdf,lag,rss,p99",
                    help="comma-separated subset of: throughput, latency-cdf, lag, rss, p99")
    ap.add_argument("--align", action="store_true",
                    help="put all timelines on one wall clock (unix_ms): for instances started apart")
    ap.add_argument("timelines", nargs="+", metavar="TIMELINE")
    args = ap.parse_args()
    if args.label and len(args.label) != len(args.timelines):
        fail(f"{len(args.label)} --label for {len(args.timelines)} timelines; give one per timeline or none")
    labels = args.label or [os.path.splitext(os.path.basename(p))[0] for p in args.timelines]
    if plt is None:
        fail("matplotlib is not installed; run: python3 -m pip install -q matplotlib")

    runs = [(label, *load(path)) for label, path in zip(labels, args.timelines)]
    if args.align:
        align_by_wall_clock(runs)
    os.makedirs(args.out, exist_ok=True)
    out = lambda kind: os.path.join(args.out, f"{args.prefix}-{kind}.png")
    written = []
    total = None
    if args.sum and len(runs) > 1:
        ts, vs = summed_rate(runs)
        total = ("sum", ts, vs) if ts else None
    wanted = set(args.plots.split(","))
    unknown = wanted - {"throughput", "latency-cdf", "lag", "rss", "p99"}
    if unknown:
        fail(f"unknown plot(s): {', '.join(sorted(unknown))}")
    if "throughput" in wanted:
        time_plot(runs, "rate", "Throughput (committed records)", "records/s",
                  out("throughput"), written, extra=total, formatter=EngFormatter())
    if "latency-cdf" in wanted:
        cdf_plot(runs, out("latency-cdf"), written)
    if "lag" in wanted:
        time_plot(runs, "lag", "Consumer lag (all partitions)", "records behind",
                  out("lag"), written, formatter=EngFormatter())
    if "rss" in wanted:
        time_plot(runs, "rss_mb", "Resident memory", "RSS (MB)", out("rss"), written)
    if "p99" in wanted:
        time_plot(runs, "p99_ms", "p99 event-to-decision latency per second, and its two parts",
                  "p99 latency (ms, log scale)", out("p99"), written, log=True,
                  parts=(("poll_p99_ms", ", timestamp→poll", ":"), ("engine_p99_ms", ", poll→commit", "--")))
    if not written:
        fail("nothing to plot: no timeline has samples or a summary line")
    print("\n".join(written))


if __name__ == "__main__":
    main()
