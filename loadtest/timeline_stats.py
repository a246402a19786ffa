#!/usr/bin/env python3
"""Numbers for load-test reports, from timelines written by `sluice run --timeline PATH`
(format: Sources/SluiceEngine/Metrics/TimelineRecorder.swift). Prints `key=value` pairs.

    timeline_stats.py latency TIMELINE
        the run's event-to-decision percentiles (summary line): count p50 p95 p99 p999 max, and
        of the record timestamp to the poll that returned it: poll_p50 poll_p99, and of the poll to
        the commit (Sluice's own part): engine_p50 engine_p99
    timeline_stats.py committed TIMELINE [TIMELINE ...]
        records committed so far, summed over instances (last sample of each)
    timeline_stats.py throughput TIMELINE [TIMELINE ...]
        all instances' records / (last commit - first record consumed), wall clock
    timeline_stats.py soak TIMELINE --warmup S
        RSS after the warm-up and at the end (growth %), lag (max, at the end), p99 in the
        first and last minute after the warm-up
"""
import json
import sys


def load(path):
    samples, summary = [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill
            if obj.get("summary"):
                summary = obj
            else:
                samples.append(obj)
    return samples, summary


def fmt(value):
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def emit(**pairs):
    print(" ".join(f"{k}={fmt(v)}" for k, v in pairs.items()))


def latency(path):
    _, summary = load(path)
    if not summary:
        sys.exit(f"{path}: no summary line (did the run end cleanly?)")
    poll, engine = summary.get("poll", {}), summary.get("engine", {})
    emit(count=summary["count"], p50=summary["p50_ms"], p95=summary["p95_ms"], p99=summary["p99_ms"],
         p999=summary["p999_ms"], max=summary["max_ms"], poll_p50=poll.get("p50_ms", "-"), poll_p99=poll.get("p99_ms", "-"),
         engine_p50=engine.get("p50_ms", "-"), engine_p99=engine.get("p99_ms", "-"))


def committed(paths):
    total = 0
    for path in paths:
        samples, summary = load(path)
        if summary:
            total += summary["records_in"]
        elif samples:
            total += samples[-1]["records_in"]
    print(total)


def throughput(paths):
    records, firsts, lasts = 0, [], []
    for path in paths:
        _, summary = load(path)
        if not summary or "first_record_unix_ms" not in summary:
            sys.exit(f"{path}: no summary with commit times")
        records += summary["records_in"]
        firsts.append(summary["first_record_unix_ms"])
        lasts.append(summary["last_commit_unix_ms"])
    seconds = (max(lasts) - min(firsts)) / 1000
    emit(records=records, seconds=seconds, rate=round(records / seconds))


def soak(path, warmup):
    samples, _ = load(path)
    after = [s for s in samples if s["t"] >= warmup]
    if len(after) < 120:
        sys.exit(f"{path}: fewer than 120 s of samples after the warm-up")
    busy = [s for s in after if s.get("p99_ms", 0) > 0]
    first = [s["p99_ms"] for s in busy[:60]]
    last = [s["p99_ms"] for s in busy[-60:]]
    rss0, rss1 = after[0]["rss_mb"], after[-1]["rss_mb"]
    # Growth over the last two minutes, once windows have had time to fill: medians of 20 s
    # around each end, so one sample's jitter (±10 MB here) does not decide it.
    end = after[-1]["t"]

    def rss_median(centre):
        values = sorted(s["rss_mb"] for s in after if abs(s["t"] - centre) <= 10)
        return values[len(values) // 2]

    rss_2min_ago, rss_now = rss_median(end - 130), rss_median(end - 10)
    longest, run = 0, 0
    for s in after:
        run = run + 1 if s["lag"] > 0 else 0
        longest = max(longest, run)
    emit(seconds=round(after[-1]["t"] - after[0]["t"]), rss_after_warmup_mb=rss0, rss_end_mb=rss1,
         rss_max_mb=max(s["rss_mb"] for s in after), rss_growth_pct=100 * (rss1 - rss0) / rss0,
         rss_last_2min_growth_pct=100 * (rss_now - rss_2min_ago) / rss_2min_ago,
         lag_max=max(s["lag"] for s in after), lag_end=after[-1]["lag"],
         lag_zero_share=sum(1 for s in after if s["lag"] == 0) / len(after), lag_longest_nonzero_s=longest,
         p99_first_minute_ms=max(first), p99_last_minute_ms=max(last),
         p99_median_second_ms=sorted(s["p99_ms"] for s in busy)[len(busy) // 2])


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    command, args = sys.argv[1], sys.argv[2:]
    if command == "latency":
        latency(args[0])
    elif command == "committed":
        committed(args)
    elif command == "throughput":
        throughput(args)
    elif command == "soak" and len(args) == 3 and args[1] == "--warmup":
        soak(args[0], float(args[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
