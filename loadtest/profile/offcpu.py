#!/usr/bin/env python3
"""Where a thread waits: reads `perf script` output of `perf record -e sched:sched_switch -g`
and sums, per blocking call stack, how long the thread was off the CPU after switching out
(until it was next switched in). Runnable-but-preempted time shows as stacks without a blocking
call (prev_state=R). Used by `loadtest/profile/run --off-cpu`.

    perf script -i perf.data | offcpu.py THREAD_NAME [--top N]
"""
import collections
import re
import sys

HEADER = re.compile(r"^\s*(\S.*?)\s+(\d+)(?:/(\d+))?\s+\[\d+\]\s+([\d.]+):\s+sched:sched_switch:\s+(.*)$")
FIELDS = re.compile(r"prev_comm=(.*?) prev_pid=(\d+) .*?prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)")


def frames_to_key(frames, state):
    # Keep Sluice/librdkafka/libc frames that name something, innermost first, a few deep.
    names = []
    for frame in frames:
        parts = frame.split(None, 1)
        if len(parts) < 2:
            continue
        if frame.endswith("([kernel.kallsyms])"):
            continue  # the switch itself, the syscall: the caller in user space says why
        name = parts[1].split(" (")[0]
        if name.startswith("[unknown]"):
            continue
        names.append(name[:110])
        if len(names) == 6:
            break
    return f"[{state}] " + " <- ".join(names)


def main():
    thread = sys.argv[1]
    top = int(sys.argv[sys.argv.index("--top") + 1]) if "--top" in sys.argv else 12
    waiting = {}  # tid -> (start, key)
    totals = collections.Counter()
    event = None
    frames = []

    def finish():
        if event is None:
            return
        time, fields = event
        match = FIELDS.search(fields)
        if not match:
            return
        prev_comm, prev_pid, state, next_comm, next_pid = match.groups()
        if prev_comm == thread:
            waiting[prev_pid] = (time, frames_to_key(frames, state))
        if next_comm == thread and next_pid in waiting:
            start, key = waiting.pop(next_pid)
            totals[key] += time - start

    for line in sys.stdin:
        header = HEADER.match(line)
        if header:
            finish()
            event = (float(header.group(4)), header.group(5))
            frames = []
        elif line.strip():
            frames.append(line.strip())
    finish()
    total = sum(totals.values())
    print(f"{thread}: {total:.2f} s off the CPU, by stack at the switch (R = preempted while runnable)")
    for key, seconds in totals.most_common(top):
        print(f"  {seconds:7.2f} s  {key}")


if __name__ == "__main__":
    main()
