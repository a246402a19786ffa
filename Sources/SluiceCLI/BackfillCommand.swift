import ArgumentParser
import Foundation
import Logging
import SluiceEngine

struct BackfillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Point-in-time feature rows for every event of a JSONL file (file order = log order), for training sets.")

    @Option(help: "Topology file.") var topology: String
    @Option(help: "Input events, one JSON object per line.") var input: String
    @Option(help: "Output CSV: event_id,user_id,event_time,late,<features>.") var output: String
    @Option(help: "CSV of invalid lines (line,code,reason); default: <output>.invalid.csv.") var invalid: String?

    func run() throws {
        Logging.bootstrapOnce(level: "warning")
        let loaded = try Topology.load(path: topology)
        let started = Date()
        let isTerminal = isatty(STDERR_FILENO) != 0
        let result = try Backfill(topology: loaded).run(input: input, output: output, invalidOutput: invalid ?? output + ".invalid.csv") { progress in
            if isTerminal { FileHandle.standardError.write(Data("\rbackfill: \(progress.rows) rows".utf8)) }
        }
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
        let seconds = Date().timeIntervalSince(started)
        emit("backfill: \(result.rows) rows (\(result.late) late), \(result.invalid) invalid lines, \(result.entities) entities, "
            + "\(Int(Double(result.lines) / max(seconds, 1e-9))) events/s")
    }
}
