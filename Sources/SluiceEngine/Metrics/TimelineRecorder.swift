import Foundation

/// Writes a run's time series to a JSON Lines file (`sluice run --timeline PATH`), for load-test
/// reports and plots (`loadtest/plot.py`): one sample a second, then one summary line.
///
/// A sample: `{"t", "unix_ms", "records_in", "rate", "decided", "p50_ms", "p95_ms", "p99_ms",
/// "p999_ms", "max_ms", "lag", "rss_mb"}`: seconds since start, wall clock, records committed
/// so far and per second over the interval, decisions so far, event-to-decision percentiles of
/// the records committed in the interval (input record timestamp to their transaction's commit),
/// total consumer lag of the assigned partitions, resident memory; and the two parts of the
/// latency of the records committed in the interval: `poll_p50_ms`, `poll_p99_ms` (record
/// timestamp to the poll that returned it: producer, broker, fetch) and `engine_p99_ms` (that
/// poll to the commit: Sluice's own part).
/// The summary, over the run after the warm-up: `{"summary": true, "warmup_s", "count", "records_in", "first_record_unix_ms",
/// "last_commit_unix_ms", "p50_ms", …, "cdf": [[ms, quantile], …], "poll": {"p50_ms", …}, "engine":
/// {"p50_ms", …}}` over the run.
///
/// Threading: pipeline thread only.
final class TimelineRecorder {
    private let handle: FileHandle
    private let startedAtNanos: UInt64
    private var lastSampleNanos: UInt64
    private var lastRecords = 0
    /// Latency of the records committed since the last sample.
    private var interval = LatencyPartHistograms()
    /// Records committed in the first `warmupNanos` after the first record consumed are left out
    /// of the summary (not of the samples): connection set-up, first transaction, cold caches.
    private let warmupNanos: UInt64
    private var steady = LatencyPartHistograms()

    init(path: String, startedAtNanos: UInt64, warmupSeconds: Double = 0) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw StreamPipeline.Failure(description: "cannot write the timeline file \(path)")
        }
        self.handle = handle
        self.startedAtNanos = startedAtNanos
        lastSampleNanos = startedAtNanos
        warmupNanos = UInt64(max(0, warmupSeconds) * 1e9)
    }

    deinit { try? handle.close() }

    /// Whether records committed at `now` count in the summary.
    func isPastWarmup(now: UInt64, firstRecordAt: UInt64) -> Bool { now - firstRecordAt >= warmupNanos }

    /// Latency of a record whose outputs were just committed.
    func recordCommitted(_ latency: LatencyParts, pastWarmup: Bool) {
        interval.record(latency)
        if pastWarmup { steady.record(latency) }
    }

    /// Writes a sample if a second has passed since the last one.
    func sampleIfDue(now: UInt64, statistics: RunStatistics, lag: Int64) {
        guard now - lastSampleNanos >= 1_000_000_000 else { return }
        let seconds = Double(now - lastSampleNanos) / 1e9
        var json = JSONWriter(capacity: 256)
        json.beginObject()
        json.key("t"); json.number((Double(now - startedAtNanos) / 1e8).rounded() / 10)
        json.key("unix_ms"); json.integer(Int64(Date().timeIntervalSince1970 * 1000))
        json.key("records_in"); json.integer(Int64(statistics.recordsIn))
        json.key("rate"); json.number((Double(statistics.recordsIn - lastRecords) / seconds).rounded())
        json.key("decided"); json.integer(Int64(statistics.decisions))
        writePercentiles(of: interval.total, into: &json)
        json.key("poll_p50_ms"); json.number(Double(interval.toPoll.percentile(0.5)) / 1000)
        json.key("poll_p99_ms"); json.number(Double(interval.toPoll.percentile(0.99)) / 1000)
        json.key("engine_p99_ms"); json.number(Double(interval.sincePoll.percentile(0.99)) / 1000)
        json.key("lag"); json.integer(lag)
        json.key("rss_mb"); json.number((Self.residentMegabytes() * 10).rounded() / 10)
        json.endObject()
        write(json)
        lastSampleNanos = now
        lastRecords = statistics.recordsIn
        interval = LatencyPartHistograms()
    }

    /// The closing line: whole-run percentiles and the latency distribution.
    func finish(statistics: RunStatistics) {
        let all = steady.total
        var json = JSONWriter(capacity: 4096)
        json.beginObject()
        json.key("summary"); json.bool(true)
        json.key("warmup_s"); json.number(Double(warmupNanos) / 1e9)
        json.key("count"); json.integer(Int64(all.count))
        json.key("records_in"); json.integer(Int64(statistics.recordsIn))
        // Wall clock of the first record consumed and the last commit, to add up instances.
        let uptimeToUnixMs = Date().timeIntervalSince1970 * 1000 - Double(DispatchTime.now().uptimeNanoseconds) / 1e6
        if let first = statistics.firstRecordAtNanos, let last = statistics.lastCommitAtNanos {
            json.key("first_record_unix_ms"); json.integer(Int64(uptimeToUnixMs + Double(first) / 1e6))
            json.key("last_commit_unix_ms"); json.integer(Int64(uptimeToUnixMs + Double(last) / 1e6))
        }
        writePercentiles(of: all, into: &json)
        json.key("cdf")
        json.beginArray()
        for (micros, quantile) in all.distribution() {
            json.beginArray()
            json.number(Double(micros) / 1000)
            json.number(quantile)
            json.endArray()
        }
        json.endArray()
        json.key("poll")
        json.beginObject()
        writePercentiles(of: steady.toPoll, into: &json)
        json.endObject()
        json.key("engine")
        json.beginObject()
        writePercentiles(of: steady.sincePoll, into: &json)
        json.endObject()
        json.endObject()
        write(json)
    }

    private func writePercentiles(of histogram: LatencyHistogram, into json: inout JSONWriter) {
        for (name, q) in [("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99), ("p999_ms", 0.999)] {
            json.key(name); json.number(Double(histogram.percentile(q)) / 1000)
        }
        json.key("max_ms"); json.number(Double(histogram.max) / 1000)
    }

    private func write(_ json: JSONWriter) {
        handle.write(Data(json.bytes + [UInt8(ascii: "\n")]))
    }

    /// Resident set size from /proc/self/statm (pages); 0 where there is none.
    static func residentMegabytes() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return 0 }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
    }
}
