import Foundation
import SluiceCore
import SluiceModel
import Yams

/// A loaded, validated topology: features, model and routing, ready to run on any path.
public struct Topology: Sendable {
    public struct Thresholds: Sendable, Equatable {
        public var reviewAt: Double
        public var rejectAt: Double

        public func decision(for score: Double) -> Decision {
            if score >= rejectAt { return .reject }
            if score >= reviewAt { return .review }
            return .approve
        }
    }

    public enum Decision: String, Sendable, CaseIterable {
        case approve, review, reject
    }

    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public let path: String
        public let reason: String
        public var description: String { "topology \(path): \(reason)" }
    }

    public let name: String
    public let features: FeatureSet
    public let engine: FeatureEngine
    /// The model file named by the topology; load it with `ScoringModel(topology:)`.
    public let modelURL: URL
    /// The version label from the topology, if it gives one.
    public let modelVersionLabel: String?
    public let thresholds: Thresholds
    public let inputTopic: String
    public let decisionsTopic: String
    public let deadLetterTopic: String
    public let lateTopic: String
    public let partitions: Int32

    public static func load(path: String) throws -> Topology {
        func fail(_ reason: String) -> LoadError { LoadError(path: path, reason: reason) }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw fail("cannot read: \(error.localizedDescription)")
        }
        let spec: TopologySpec
        do {
            spec = try YAMLDecoder().decode(TopologySpec.self, from: text)
        } catch {
            throw fail("invalid YAML or schema: \(error)")
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        return try Topology(spec: spec, baseDirectory: base, origin: path)
    }

    public init(spec: TopologySpec, baseDirectory: URL, origin: String) throws {
        func fail(_ reason: String) -> LoadError { LoadError(path: origin, reason: reason) }
        guard spec.entity == "user_id" else { throw fail("entity \"\(spec.entity)\" is not supported (user_id)") }
        let features: FeatureSet
        do {
            features = try FeatureSet(specs: spec.features, allowedLateness: spec.allowedLateness)
        } catch {
            throw fail(error.description)
        }
        let modelURL = spec.model.path.hasPrefix("/") ? URL(fileURLWithPath: spec.model.path) : baseDirectory.appendingPathComponent(spec.model.path)
        guard spec.decision.reviewAt <= spec.decision.rejectAt else { throw fail("decision.review_at must be ≤ reject_at") }
        let topics = [spec.topics.input, spec.topics.decisions, spec.topics.deadLetter, spec.topics.late]
        guard Set(topics).count == topics.count else { throw fail("input, decisions, dead_letter and late topics must differ") }

        self.name = spec.name
        self.features = features
        self.engine = FeatureEngine(featureSet: features)
        self.modelURL = modelURL
        self.modelVersionLabel = spec.model.version
        self.thresholds = Thresholds(reviewAt: spec.decision.reviewAt, rejectAt: spec.decision.rejectAt)
        self.inputTopic = spec.topics.input
        self.decisionsTopic = spec.topics.decisions
        self.deadLetterTopic = spec.topics.deadLetter
        self.lateTopic = spec.topics.late
        self.partitions = spec.topics.partitions ?? 8
    }
}

/// A topology's model, loaded and bound to its features: which feature feeds each model input.
public struct ScoringModel: Sendable {
    public let model: LoadedModel
    /// Written into every decision: the topology's label, or `<file name>@<sha256 prefix>`.
    public let version: String
    /// For each model input column, the index of the topology feature that feeds it.
    public let columns: [Int]

    public init(topology: Topology) throws {
        func fail(_ reason: String) -> Topology.LoadError { Topology.LoadError(path: topology.modelURL.path, reason: reason) }
        let model: LoadedModel
        do {
            model = try LoadedModel.load(contentsOf: topology.modelURL)
        } catch {
            throw fail("cannot load the model: \(error)")
        }
        guard model.outputCount == 1 else {
            throw fail("a \(model.objective) model has \(model.outputCount) outputs; decisions need one score (a binary classifier or a regressor)")
        }
        let names = topology.features.names
        var columns: [Int] = []
        if let modelNames = model.featureNames {
            for name in modelNames {
                guard let index = names.firstIndex(of: name) else {
                    throw fail("the model needs feature \"\(name)\", which topology \(topology.name) does not define")
                }
                columns.append(index)
            }
        } else {
            guard model.featureCount == names.count else {
                throw fail("the model has \(model.featureCount) unnamed inputs, topology \(topology.name) defines \(names.count) features")
            }
            columns = Array(names.indices)
        }
        self.model = model
        self.columns = columns
        self.version = topology.modelVersionLabel ?? "\(topology.modelURL.deletingPathExtension().lastPathComponent)@\(model.contentHash.prefix(12))"
    }
}
