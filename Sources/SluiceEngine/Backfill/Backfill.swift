import Foundation
import SluiceCore

/// Point-in-time feature rows for every event of a JSONL file, taken in file order as the log
/// order: exactly what the stream computes for each event at that moment, through the same
/// `EventScorer`. Invalid lines produce no row and are listed with their line number and reason.
public struct Backfill {
    public struct Result: Sendable {
        public var lines = 0
        public var rows = 0
        public var invalid = 0
        public var late = 0
        public var entities = 0
    }

    public let topology: Topology
    public var batchSize = 4096

    public init(topology: Topology) { self.topology = topology }

    /// Writes `output` (CSV: event_id, user_id, event_time, late, then one column per feature)
    /// and `invalidOutput` (CSV: line, code, reason). `progress` is called after each batch.
    public func run(input: String, output: String, invalidOutput: String, progress: (Result) -> Void = { _ in }) throws -> Result {
        var reader = try LineReader(path: input)
        let rows = try CSVFileWriter(path: output)
        let invalid = try CSVFileWriter(path: invalidOutput)
        try rows.writeRow(["event_id", "user_id", "event_time", "late"] + topology.features.names)
        try invalid.writeRow(["line", "code", "reason"])
        let decoder = EventDecoder()
        var states: [String: EntityState] = [:]
        var result = Result()
        var events: [Event] = []
        events.reserveCapacity(batchSize)

        func flush() throws {
            guard !events.isEmpty else { return }
            let batch = topology.computeFeatures(events, states: &states)
            for (index, event) in events.enumerated() {
                var fields = [CSVFileWriter.escape(event.eventID), CSVFileWriter.escape(event.userID), String(event.eventTime), batch.late[index] ? "1" : "0"]
                for value in batch.features(at: index) { fields.append(value.isNaN ? "" : value.description) }
                try rows.writeRawRow(fields)
                if batch.late[index] { result.late += 1 }
            }
            result.rows += events.count
            events.removeAll(keepingCapacity: true)
            result.entities = states.count
            progress(result)
        }

        while let line = try reader.next() {
            result.lines += 1
            if line.isEmpty { continue }
            switch decoder.decode(line) {
            case .success(let event):
                events.append(event)
                if events.count == batchSize { try flush() }
            case .failure(let rejection):
                result.invalid += 1
                try invalid.writeRow([String(reader.lineNumber), rejection.code.rawValue, rejection.description])
            }
        }
        try flush()
        try rows.close()
        try invalid.close()
        return result
    }
}

/// Buffered CSV output (RFC 4180 quoting).
final class CSVFileWriter {
    private let handle: FileHandle
    private var buffer: [UInt8] = []

    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        self.handle = handle
        buffer.reserveCapacity(1 << 20)
    }

    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    func writeRow(_ fields: [String]) throws { try writeRawRow(fields.map(Self.escape)) }

    /// Writes fields that are already escaped.
    func writeRawRow(_ fields: [String]) throws {
        for (index, field) in fields.enumerated() {
            if index > 0 { buffer.append(UInt8(ascii: ",")) }
            buffer.append(contentsOf: field.utf8)
        }
        buffer.append(0x0A)
        if buffer.count >= 1 << 20 { try drain() }
    }

    private func drain() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        try drain()
        try handle.close()
    }
}
