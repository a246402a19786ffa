import Foundation

/// MLflow model directories: `LoadedModel.load(contentsOf:)` given a directory reads its `MLmodel`
/// file, finds the model file a flavor points to and loads it like any model file (format detected from
/// the content, so `format` is that file's: "xgboost-json", "lightgbm-text" or "onnx"; `contentHash`
/// is the hash of that file).
///
/// Flavors are tried in this order: `xgboost`, `lightgbm`, `onnx` (each with `data: <file>`), then
/// `python_function` (`data:` or the older `model_path:`). A `sklearn` flavor (a pickle) and anything
/// else is refused with the list of flavors found. Paths must stay inside the directory.
///
/// `MLmodel` is YAML as MLflow writes it (`yaml.safe_dump`, block style); this reads it line by line:
/// top-level `flavors:`, one indented mapping per flavor, and the flavor's own scalar keys. Deeper
/// nesting (`env:` ...) and block lists are skipped; a flavor written as a one-line flow mapping
/// (`xgboost: {data: model.json, model_format: json}`) is understood too.
public enum MLflowModel {
    /// The flavors that name a file Sluice may load, in order of preference.
    static let preferredFlavors = ["xgboost", "lightgbm", "onnx", "python_function"]

    /// The parsed `flavors:` section: flavor name → its scalar keys, in file order.
    struct Descriptor: Equatable {
        var flavors: [(name: String, keys: [String: String])]

        static func == (a: Descriptor, b: Descriptor) -> Bool {
            a.flavors.count == b.flavors.count && zip(a.flavors, b.flavors).allSatisfy { $0.name == $1.name && $0.keys == $1.keys }
        }

        func keys(of flavor: String) -> [String: String]? { flavors.first { $0.name == flavor }?.keys }
    }

    /// Loads the model an MLflow model directory holds.
    public static func load(directory: URL) throws -> LoadedModel {
        let descriptorURL = directory.appendingPathComponent("MLmodel")
        let text: String
        do {
            text = String(decoding: try Data(contentsOf: descriptorURL), as: UTF8.self)
        } catch {
            throw ModelError(.fileUnreadable,
                             "\(directory.path) is a directory without a readable MLmodel file, so not an MLflow model directory "
                             + "(\(error.localizedDescription))")
        }
        let descriptor: Descriptor
        let choice: (flavor: String, path: String)
        do {
            descriptor = try parse(text)
            choice = try modelFile(descriptor)
        } catch let error as ModelError {
            throw ModelError(error.code, "\(descriptorURL.path): \(error.message)")
        }
        let fileURL = directory.appendingPathComponent(choice.path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: fileURL.path, isDirectory: &isDirectory) else {
            throw ModelError(.fileUnreadable,
                             "\(descriptorURL.path): flavor '\(choice.flavor)' names '\(choice.path)', which does not exist")
        }
        guard !isDirectory.boolValue else {
            throw ModelError(.unsupported,
                             "\(descriptorURL.path): flavor '\(choice.flavor)' names '\(choice.path)', a directory, not a model file")
        }
        do {
            return try LoadedModel.load(contentsOf: fileURL)
        } catch let error as ModelError {
            throw ModelError(error.code, "MLflow model \(directory.path) (flavor '\(choice.flavor)'): \(error.message)")
        }
    }

    /// The flavor and relative path of the model file to load.
    static func modelFile(_ descriptor: Descriptor) throws -> (flavor: String, path: String) {
        guard !descriptor.flavors.isEmpty else { throw ModelError.malformed("MLmodel has no flavors") }
        let found = descriptor.flavors.map(\.name).joined(separator: ", ")
        for flavor in preferredFlavors {
            guard let keys = descriptor.keys(of: flavor) else { continue }
            let path = keys["data"] ?? (flavor == "python_function" ? keys["model_path"] : nil)
            guard let path, !path.isEmpty, path != "null", path != "~" else { continue }
            let lower = path.lowercased()
            if lower.hasSuffix(".pkl") || lower.hasSuffix(".pickle") || keys["pickled_model"] != nil {
                throw ModelError.unsupported(
                    "flavor '\(flavor)' stores a Python pickle ('\(path)'); Sluice loads XGBoost JSON, LightGBM text or ONNX "
                    + "(save the booster itself, or log the model with mlflow.onnx)")
            }
            try checkRelative(path, flavor: flavor)
            return (flavor, path)
        }
        throw ModelError.unsupported(
            "no MLflow flavor Sluice can load (found: \(found)); supported: xgboost (JSON), lightgbm (text), onnx, "
            + "or python_function with data/model_path naming such a file")
    }

    private static func checkRelative(_ path: String, flavor: String) throws {
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        guard !path.hasPrefix("/"), !path.hasPrefix("~"), !components.contains(".."), !path.contains("\\") else {
            throw ModelError.malformed("flavor '\(flavor)' names '\(path)', which is not a path inside the model directory")
        }
    }

    // MARK: - MLmodel (a YAML subset)

    static func parse(_ text: String) throws -> Descriptor {
        var flavors: [(name: String, keys: [String: String])] = []
        var inFlavors = false
        var sawFlavors = false
        var flavorIndent: Int?
        var keyIndent: Int?
        for (number, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = stripComment(rawLine)
            let content = line.drop { $0 == " " }
            if content.isEmpty || content == "---" || content == "..." { continue }
            if content.hasPrefix("\t") || line.prefix(while: { $0 == " " || $0 == "\t" }).contains("\t") {
                throw ModelError.malformed("MLmodel line \(number + 1): tab in indentation")
            }
            let indent = line.count - content.count
            if content.hasPrefix("- ") || content == "-" { continue }  // block list items
            guard let (key, value) = splitKeyValue(content) else { continue }

            if indent == 0 {
                inFlavors = false
                if key == "flavors" {
                    sawFlavors = true
                    if value.isEmpty {
                        inFlavors = true
                        flavorIndent = nil
                    } else {
                        guard let map = FlowParser.mapping(value) else {
                            throw ModelError.malformed("MLmodel line \(number + 1): cannot read 'flavors: \(value)'")
                        }
                        for (name, flavorValue) in map {
                            flavors.append((name, flavorValue.scalars))
                        }
                    }
                }
                continue
            }
            guard inFlavors else { continue }
            if flavorIndent == nil { flavorIndent = indent }
            guard let level = flavorIndent, indent >= level else {
                throw ModelError.malformed("MLmodel line \(number + 1): inconsistent indentation under 'flavors:'")
            }
            if indent == level {
                var keys: [String: String] = [:]
                if !value.isEmpty, value != "null", value != "~" {
                    guard let map = FlowParser.mapping(value) else {
                        throw ModelError.malformed("MLmodel line \(number + 1): flavor '\(key)' is not a mapping")
                    }
                    keys = FlowParser.Value.map(map).scalars
                }
                flavors.append((key, keys))
                keyIndent = nil
                continue
            }
            guard !flavors.isEmpty else { continue }
            if keyIndent == nil { keyIndent = indent }
            if indent == keyIndent {
                flavors[flavors.count - 1].keys[key] = unquote(value)
            }
        }
        guard sawFlavors else { throw ModelError.malformed("MLmodel has no 'flavors:' section") }
        return Descriptor(flavors: flavors)
    }

    /// The line without a trailing comment (`#` at the start or after a space, outside quotes).
    private static func stripComment(_ line: Substring) -> Substring {
        var quote: Character?
        var previous: Character = " "
        for index in line.indices {
            let c = line[index]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == "#" && (previous == " " || previous == "\t") {
                return line[..<index].dropLastWhile { $0 == " " }
            }
            previous = c
        }
        return line.dropLastWhile { $0 == " " || $0 == "\r" }
    }

    /// `key: value` (value may be empty); nil when the line is not a mapping entry.
    private static func splitKeyValue(_ content: Substring) -> (String, String)? {
        var quote: Character?
        var index = content.startIndex
        while index < content.endIndex {
            let c = content[index]
            if let q = quote {
                if c == q { quote = nil }
            } else if c == "'" || c == "\"" {
                quote = c
            } else if c == ":" {
                let next = content.index(after: index)
                if next == content.endIndex || content[next] == " " {
                    let key = unquote(String(content[..<index]).trimmingCharacters(in: .whitespaces))
                    let value = String(content[next...]).trimmingCharacters(in: .whitespaces)
                    return key.isEmpty ? nil : (key, value)
                }
            }
            index = content.index(after: index)
        }
        return nil
    }

    static func unquote(_ text: String) -> String {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.count >= 2, t.first == "'", t.last == "'" {
            return String(t.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
        }
        if t.count >= 2, t.first == "\"", t.last == "\"" {
            return String(t.dropFirst().dropLast()).replacingOccurrences(of: "\\\"", with: "\"")
        }
        return t
    }

    /// A YAML flow mapping reader, enough for `{data: model.json, env: {conda: conda.yaml}, providers: [a, b]}`.
    enum FlowParser {
        indirect enum Value {
            case scalar(String)
            case map([(String, Value)])
            case list

            /// The scalar members of a mapping.
            var scalars: [String: String] {
                guard case .map(let entries) = self else { return [:] }
                var out: [String: String] = [:]
                for (key, value) in entries { if case .scalar(let s) = value { out[key] = s } }
                return out
            }
        }

        static func mapping(_ text: String) -> [(String, Value)]? {
            var chars = Array(text)[...]
            guard case .map(let entries)? = value(&chars) else { return nil }
            while chars.first == " " { chars.removeFirst() }
            return chars.isEmpty ? entries : nil
        }

        private static func value(_ s: inout ArraySlice<Character>) -> Value? {
            while s.first == " " { s.removeFirst() }
            guard let first = s.first else { return .scalar("") }
            if first == "{" {
                s.removeFirst()
                var entries: [(String, Value)] = []
                while true {
                    while s.first == " " { s.removeFirst() }
                    if s.first == "}" { s.removeFirst(); return .map(entries) }
                    guard let key = scalar(&s, stops: [":"]), s.first == ":" else { return nil }
                    s.removeFirst()
                    guard let v = value(&s) else { return nil }
                    entries.append((unquote(key), v))
                    while s.first == " " { s.removeFirst() }
                    if s.first == "," { s.removeFirst(); continue }
                    if s.first == "}" { s.removeFirst(); return .map(entries) }
                    return nil
                }
            }
            if first == "[" {
                var depth = 0
                while let c = s.first {
                    s.removeFirst()
                    if c == "[" { depth += 1 } else if c == "]" { depth -= 1; if depth == 0 { return .list } }
                }
                return nil
            }
            return scalar(&s, stops: [",", "}"]).map { .scalar(unquote($0)) }
        }

        private static func scalar(_ s: inout ArraySlice<Character>, stops: Set<Character>) -> String? {
            var out = ""
            var quote: Character?
            while let c = s.first {
                if let q = quote {
                    if c == q { quote = nil }
                } else if c == "'" || c == "\"" {
                    quote = c
                } else if stops.contains(c) {
                    break
                }
                out.append(c)
                s.removeFirst()
            }
            return quote == nil ? out.trimmingCharacters(in: .whitespaces) : nil
        }
    }
}

private extension Substring {
    func dropLastWhile(_ predicate: (Character) -> Bool) -> Substring {
        var end = endIndex
        while end > startIndex, predicate(self[index(before: end)]) { end = index(before: end) }
        return self[startIndex..<end]
    }
}
