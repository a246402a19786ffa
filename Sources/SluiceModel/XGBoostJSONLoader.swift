import Foundation

/// Reads XGBoost's JSON model format (`Booster.save_model("model.json")`, XGBoost 1.x to 3.x).
///
/// Layout used (see XGBoost's doc/model.schema):
///
///     learner.learner_model_param   { base_score, num_feature, num_class, num_target }   (all strings)
///     learner.objective.name        "binary:logistic" | "reg:squarederror" | "reg:logistic" | ...
///     learner.feature_names         optional, may be empty
///     learner.feature_types         optional; "c" marks a categorical feature
///     learner.gradient_booster      { name: "gbtree", model: { trees: [...], tree_info: [...] } }
///     tree                          left_children, right_children, split_indices, split_conditions,
///                                   default_left, split_type?, categories_nodes?, tree_param
///
/// A node is a leaf iff `left_children[i] == -1`; its value is `split_conditions[i]`.
/// `base_score` is written as "5E-1" by XGBoost 1.x/2.x and as "[5E-1]" (a vector) by 3.x. It is in
/// output space: for logistic objectives the base margin is logit(base_score).
///
/// Anything this loader cannot score exactly is rejected with `.unsupported` (multiclass and
/// multi-target models, vector leaves, categorical splits, dart and gblinear boosters, other
/// objectives) rather than scored approximately.
enum XGBoostJSONLoader {
    struct Result {
        var objective: ModelObjective
        var featureNames: [String]?
        var ensemble: TreeEnsemble
    }

    static func load(_ root: JSONValue) throws -> Result {
        guard let learner = root["learner"], case .object = learner else {
            throw ModelError.malformed("XGBoost JSON: no 'learner' object")
        }
        let param = try object(learner["learner_model_param"], "learner.learner_model_param")

        // Objective.
        let objectiveName = try string(learner["objective"]?["name"], "learner.objective.name")
        let objective: ModelObjective
        switch objectiveName {
        case "binary:logistic": objective = .binaryLogistic
        case "reg:squarederror", "reg:linear": objective = .regression
        case "reg:logistic": objective = .regressionLogistic
        default:
            if objectiveName.hasPrefix("multi:") {
                throw ModelError.unsupported("XGBoost objective '\(objectiveName)': multiclass models are not supported yet")
            }
            throw ModelError.unsupported(
                "XGBoost objective '\(objectiveName)' is not supported (supported: binary:logistic, reg:squarederror, reg:logistic)")
        }

        // Shape.
        let featureCount = try integer(param["num_feature"], "learner.learner_model_param.num_feature")
        guard featureCount >= 1 else { throw ModelError.malformed("XGBoost JSON: num_feature is \(featureCount)") }
        if let numClass = param["num_class"] {
            let classes = try integer(numClass, "learner.learner_model_param.num_class")
            guard classes <= 1 else {
                throw ModelError.unsupported("XGBoost model with num_class = \(classes): multiclass models are not supported yet")
            }
        }
        if let numTarget = param["num_target"] {
            let targets = try integer(numTarget, "learner.learner_model_param.num_target")
            guard targets <= 1 else {
                throw ModelError.unsupported("XGBoost model with num_target = \(targets): multi-target models are not supported")
            }
        }

        // Base score -> base margin.
        let baseScore = try parseBaseScore(param["base_score"])
        let baseMargin: Double
        switch objective {
        case .regression, .binaryProbability, .multiclassSoftmax, .multiclassProbability:
            baseMargin = Double(baseScore)
        case .binaryLogistic, .regressionLogistic:
            guard baseScore > 0 && baseScore < 1 else {
                throw ModelError.malformed("XGBoost JSON: base_score \(baseScore) must be in (0, 1) for \(objectiveName)")
            }
            // XGBoost's ProbToMargin, in float32 as XGBoost does it: -logf(1.0f / base_score - 1.0f).
            // The rounding of 1/p - 1 to float matters: a double logit rounded once to float was
            // one ulp off for reg:logistic base_score 0.4921301 (3.x fixture) and shifted ~70 % of
            // the margins by up to 4.8e-7; this form reproduces XGBoost 1.7 and 3.2 margins bit for bit.
            let t: Float = 1 / baseScore - 1
            baseMargin = Double(-log(t))  // Float overload: logf
        }

        // Feature names and types.
        var featureNames: [String]? = nil
        if let names = learner["feature_names"] {
            let list = try array(names, "learner.feature_names").enumerated().map { index, value in
                try string(value, "learner.feature_names[\(index)]")
            }
            if !list.isEmpty {
                guard list.count == featureCount else {
                    throw ModelError.malformed(
                        "XGBoost JSON: \(list.count) feature names for num_feature = \(featureCount)")
                }
                featureNames = list
            }
        }
        if let types = learner["feature_types"] {
            for (index, value) in try array(types, "learner.feature_types").enumerated() {
                let type = try string(value, "learner.feature_types[\(index)]")
                if type == "c" {
                    throw ModelError.unsupported("XGBoost feature \(index) is categorical: categorical splits are not supported yet")
                }
            }
        }

        // Booster.
        let booster = try object(learner["gradient_booster"], "learner.gradient_booster")
        let boosterName = try string(booster["name"], "learner.gradient_booster.name")
        guard boosterName == "gbtree" else {
            throw ModelError.unsupported("XGBoost booster '\(boosterName)' is not supported (only gbtree)")
        }
        let model = try object(booster["model"], "learner.gradient_booster.model")
        let trees = try array(model["trees"], "learner.gradient_booster.model.trees")
        if let treeInfo = model["tree_info"] {
            for (index, value) in try array(treeInfo, "tree_info").enumerated() {
                guard try integer(value, "tree_info[\(index)]") == 0 else {
                    throw ModelError.unsupported("XGBoost tree \(index) belongs to output group > 0: multi-output models are not supported")
                }
            }
        }

        var builder = TreeEnsembleBuilder(
            featureCount: featureCount, outputCount: 1, baseMargins: [baseMargin],
            inputPrecision: .float32, comparison: .lessThan, accumulation: .float32)

        for (t, treeValue) in trees.enumerated() {
            let path = "trees[\(t)]"
            let tree = try object(treeValue, path)
            if let treeParam = tree["tree_param"], let leafVector = treeParam["size_leaf_vector"] {
                let size = try integer(leafVector, "\(path).tree_param.size_leaf_vector")
                guard size <= 1 else { throw ModelError.unsupported("XGBoost \(path) has vector leaves (size_leaf_vector = \(size))") }
            }
            let lefts = try intArray(tree["left_children"], "\(path).left_children")
            let rights = try intArray(tree["right_children"], "\(path).right_children")
            let features = try intArray(tree["split_indices"], "\(path).split_indices")
            let conditions = try floatArray(tree["split_conditions"], "\(path).split_conditions")
            let defaults = try boolArray(tree["default_left"], "\(path).default_left")
            let n = lefts.count
            guard n > 0 else { throw ModelError.malformed("XGBoost \(path) has no nodes") }
            guard rights.count == n, features.count == n, conditions.count == n, defaults.count == n else {
                throw ModelError.malformed(
                    "XGBoost \(path): node arrays have different lengths (left_children \(n), right_children \(rights.count), "
                        + "split_indices \(features.count), split_conditions \(conditions.count), default_left \(defaults.count))")
            }
            if let splitType = tree["split_type"] {
                let types = try intArray(splitType, "\(path).split_type")
                if let node = types.firstIndex(where: { $0 != 0 }) {
                    throw ModelError.unsupported("XGBoost \(path) node \(node) is a categorical split: not supported yet")
                }
            }
            if let categoryNodes = tree["categories_nodes"], case .array(let nodes) = categoryNodes, !nodes.isEmpty {
                throw ModelError.unsupported("XGBoost \(path) has categorical splits: not supported yet")
            }
            var nodes: [TreeNodeSpec] = []
            nodes.reserveCapacity(n)
            for i in 0..<n {
                if lefts[i] == -1 {
                    guard rights[i] == -1 else {
                        throw ModelError.malformed("XGBoost \(path) node \(i): left child -1 but right child \(rights[i])")
                    }
                    nodes.append(.leaf(Double(conditions[i])))
                } else {
                    guard lefts[i] >= 0, lefts[i] < n, rights[i] >= 0, rights[i] < n else {
                        throw ModelError.malformed("XGBoost \(path) node \(i): child index out of range (\(lefts[i]), \(rights[i]))")
                    }
                    nodes.append(.split(feature: features[i], threshold: Double(conditions[i]), left: lefts[i], right: rights[i],
                                        defaultLeft: defaults[i], missing: .nanTakesDefault))
                }
            }
            try builder.addTree(nodes, name: "XGBoost \(path)")
        }

        let ensemble = try builder.build()
        return Result(objective: objective, featureNames: featureNames, ensemble: ensemble)
    }

    /// `base_score`: "5E-1" (1.x/2.x) or "[5E-1]" (3.x). A vector with several values means a
    /// multi-output model. Absent means XGBoost's default 0.5.
    static func parseBaseScore(_ value: JSONValue?) throws -> Float {
        guard let value else { return 0.5 }
        var text: Substring
        switch value {
        case .string(let s): text = Substring(s)
        case .number(let s): text = Substring(s)
        default: throw ModelError.malformed("XGBoost JSON: base_score is a \(value.kindName)")
        }
        text = text.drop(while: { $0 == " " })
        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else { throw ModelError.malformed("XGBoost JSON: base_score '\(text)' is not a number") }
            text = text.dropFirst().dropLast()
            let parts = text.split(separator: ",")
            guard parts.count == 1 else {
                throw ModelError.unsupported("XGBoost base_score '\(text)' has \(parts.count) values: multi-output models are not supported")
            }
            text = parts[0]
        }
        let trimmed = text.trimmingSpaces
        guard let score = Float(trimmed), score.isFinite else {
            throw ModelError.malformed("XGBoost JSON: base_score '\(trimmed)' is not a finite number")
        }
        return score
    }

    // MARK: - Typed access with path-carrying errors

    private static func object(_ value: JSONValue?, _ path: String) throws -> [String: JSONValue] {
        guard let value else { throw ModelError.malformed("XGBoost JSON: missing \(path)") }
        guard case .object(let members) = value else {
            throw ModelError.malformed("XGBoost JSON: \(path) is a \(value.kindName), expected an object")
        }
        return members
    }

    private static func array(_ value: JSONValue?, _ path: String) throws -> [JSONValue] {
        guard let value else { throw ModelError.malformed("XGBoost JSON: missing \(path)") }
        guard case .array(let elements) = value else {
            throw ModelError.malformed("XGBoost JSON: \(path) is a \(value.kindName), expected an array")
        }
        return elements
    }

    private static func string(_ value: JSONValue?, _ path: String) throws -> String {
        guard let value else { throw ModelError.malformed("XGBoost JSON: missing \(path)") }
        guard case .string(let s) = value else {
            throw ModelError.malformed("XGBoost JSON: \(path) is a \(value.kindName), expected a string")
        }
        return s
    }

    /// An integer written as a JSON number or (for dmlc parameters) as a string.
    private static func integer(_ value: JSONValue?, _ path: String) throws -> Int {
        guard let value else { throw ModelError.malformed("XGBoost JSON: missing \(path)") }
        switch value {
        case .number(let s), .string(let s):
            if let n = Int(s.trimmingSpaces) { return n }
            throw ModelError.malformed("XGBoost JSON: \(path) = '\(s)' is not an integer")
        default:
            throw ModelError.malformed("XGBoost JSON: \(path) is a \(value.kindName), expected an integer")
        }
    }

    private static func intArray(_ value: JSONValue?, _ path: String) throws -> [Int] {
        try array(value, path).enumerated().map { index, element in
            guard case .number(let s) = element, let n = Int(s) else {
                throw ModelError.malformed("XGBoost JSON: \(path)[\(index)] is not an integer")
            }
            return n
        }
    }

    private static func floatArray(_ value: JSONValue?, _ path: String) throws -> [Float] {
        try array(value, path).enumerated().map { index, element in
            // Parsed straight to float32 from the text: XGBoost's values are float32.
            guard case .number(let s) = element, let f = Float(s) else {
                throw ModelError.malformed("XGBoost JSON: \(path)[\(index)] is not a number")
            }
            return f
        }
    }

    /// `default_left` is an array of 0/1 integers (older writers used booleans).
    private static func boolArray(_ value: JSONValue?, _ path: String) throws -> [Bool] {
        try array(value, path).enumerated().map { index, element in
            switch element {
            case .bool(let b): return b
            case .number(let s):
                if s == "0" { return false }
                if s == "1" { return true }
            default: break
            }
            throw ModelError.malformed("XGBoost JSON: \(path)[\(index)] is not 0/1 or a boolean")
        }
    }
}

extension StringProtocol {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return String(s)
    }
}
