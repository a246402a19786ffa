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
///                                   default_left, split_type?, categories_nodes?, categories_segments?,
///                                   categories_sizes?, categories?, tree_param
///
/// A node is a leaf iff `left_children[i] == -1`; its value is `split_conditions[i]`.
/// `base_score` is written as "5E-1" by XGBoost 1.x/2.x and as "[5E-1]" (a vector) by 3.x. For
/// logistic objectives it is in output space and the base margin is logit(base_score).
///
/// Multiclass (`multi:softprob`, `multi:softmax`, `num_class` = k ≥ 2): tree `t` adds to class
/// `tree_info[t]`; each class's margin starts at its own base margin and accumulates in float32,
/// exactly as `inplace_predict(..., predict_type="margin")`. The base margins are the `base_score`
/// values used as they are (no link function): XGBoost 3.x writes k of them ("[2.78E-1,5.64E-1,
/// -8.43E-1]", the fitted intercepts); 1.x/2.x write one ("5E-1") that every class starts from, and
/// 3.x also accepts (and broadcasts) a single bracketed value. Both objectives load as
/// `.multiclassSoftmax(classes: k)`: Sluice's outputs are the class probabilities (multi:softprob's
/// output); multi:softmax predicts the arg-max class, which is left to the caller.
///
/// Categorical splits (`split_type[i] == 1`, features of type "c"): node `i`'s categories are
/// `categories[s ..< s + categories_sizes[j]]` with `s = categories_segments[j]`, where
/// `categories_nodes[j] == i`.
/// XGBoost sends the listed categories RIGHT and everything else left (`common::Decision`): a
/// missing (NaN) input takes `default_left`; the float32 input is truncated toward zero (2.9 is
/// category 2); negative inputs and inputs ≥ 2^24 are invalid categories and go left, as do valid
/// categories not listed (unseen). `TreeNodeSpec.categorical` sends its set left, so the loader
/// swaps the children (left := XGBoost's right child) and inverts `default_left`; verified against
/// XGBoost 3.2 on NaN, ±0, negatives, non-integers, unseen and huge values. One input class stays
/// different: XGBoost treats -1 < x < 0 (e.g. -0.5) as an invalid category (goes left, to the
/// unlisted side) while `TreeEnsemble` truncates it to category 0, so those inputs disagree with
/// XGBoost on nodes that list category 0. Category codes are the integers XGBoost was trained on
/// (pandas codes for DataFrame inputs); Sluice does not re-code category names.
///
/// Anything this loader cannot score exactly is rejected with `.unsupported` (multi-target models,
/// vector leaves, dart and gblinear boosters, other objectives) rather than scored approximately.
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
        var objective: ModelObjective
        switch objectiveName {
        case "binary:logistic": objective = .binaryLogistic
        case "reg:squarederror", "reg:linear": objective = .regression
        case "reg:logistic": objective = .regressionLogistic
        case "multi:softprob", "multi:softmax":
            // Both are softmax over per-class margins; the class count comes from num_class below.
            objective = .multiclassSoftmax(classes: 0)
        default:
            throw ModelError.unsupported(
                "XGBoost objective '\(objectiveName)' is not supported (supported: binary:logistic, reg:squarederror, "
                    + "reg:logistic, multi:softprob, multi:softmax)")
        }

        // Shape.
        let featureCount = try integer(param["num_feature"], "learner.learner_model_param.num_feature")
        guard featureCount >= 1 else { throw ModelError.malformed("XGBoost JSON: num_feature is \(featureCount)") }
        let classes = try param["num_class"].map { try integer($0, "learner.learner_model_param.num_class") } ?? 0
        if case .multiclassSoftmax = objective {
            guard classes >= 2 else {
                throw ModelError.malformed("XGBoost JSON: objective \(objectiveName) with num_class = \(classes) (expected ≥ 2)")
            }
            guard classes <= 1 << 16 else { throw ModelError.unsupported("XGBoost model with \(classes) classes") }
            objective = .multiclassSoftmax(classes: classes)
        } else if classes > 1 {
            throw ModelError.unsupported(
                "XGBoost model with num_class = \(classes) and objective \(objectiveName): multiclass models need multi:softprob or multi:softmax")
        }
        let outputCount = objective.outputCount
        if let numTarget = param["num_target"] {
            let targets = try integer(numTarget, "learner.learner_model_param.num_target")
            guard targets <= 1 else {
                throw ModelError.unsupported("XGBoost model with num_target = \(targets): multi-target models are not supported")
            }
        }

        // Base score -> base margin(s).
        let baseMargins: [Double]
        if outputCount > 1 {
            let scores = try parseBaseScores(param["base_score"])
            guard scores.count == 1 || scores.count == outputCount else {
                throw ModelError.malformed(
                    "XGBoost JSON: base_score has \(scores.count) values for \(outputCount) classes (expected 1 or \(outputCount))")
            }
            baseMargins = scores.count == 1 ? Array(repeating: Double(scores[0]), count: outputCount) : scores.map(Double.init)
        } else {
            baseMargins = [try baseMarginOfSingleOutput(try parseBaseScore(param["base_score"]), objective, objectiveName)]
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
            // "c" marks a categorical feature; its splits carry split_type 1 (checked per node below).
            for (index, value) in try array(types, "learner.feature_types").enumerated() {
                _ = try string(value, "learner.feature_types[\(index)]")
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
        // The output (class) of each tree.
        var treeGroup = [Int](repeating: 0, count: trees.count)
        if let treeInfo = model["tree_info"] {
            let groups = try array(treeInfo, "learner.gradient_booster.model.tree_info")
            guard groups.count == trees.count else {
                throw ModelError.malformed("XGBoost JSON: tree_info has \(groups.count) entries for \(trees.count) trees")
            }
            for (index, value) in groups.enumerated() {
                let group = try integer(value, "tree_info[\(index)]")
                guard group >= 0, group < outputCount else {
                    if outputCount == 1 {
                        throw ModelError.unsupported(
                            "XGBoost tree \(index) belongs to output group \(group): multi-output models are not supported")
                    }
                    throw ModelError.malformed("XGBoost tree \(index) belongs to class \(group) of \(outputCount)")
                }
                treeGroup[index] = group
            }
        } else if outputCount > 1 {
            throw ModelError.malformed("XGBoost JSON: a multiclass model without learner.gradient_booster.model.tree_info")
        }

        var builder = TreeEnsembleBuilder(
            featureCount: featureCount, outputCount: outputCount, baseMargins: baseMargins,
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
            var splitTypes = [Int](repeating: 0, count: n)
            if let splitType = tree["split_type"] {
                splitTypes = try intArray(splitType, "\(path).split_type")
                guard splitTypes.count == n else {
                    throw ModelError.malformed("XGBoost \(path): split_type has \(splitTypes.count) entries for \(n) nodes")
                }
                if let node = splitTypes.firstIndex(where: { $0 != 0 && $0 != 1 }) {
                    throw ModelError.malformed("XGBoost \(path) node \(node): unknown split_type \(splitTypes[node])")
                }
            }
            let categorySets = try categorySets(tree, path: path, nodeCount: n)
            var nodes: [TreeNodeSpec] = []
            nodes.reserveCapacity(n)
            for i in 0..<n {
                if lefts[i] == -1 {
                    guard rights[i] == -1 else {
                        throw ModelError.malformed("XGBoost \(path) node \(i): left child -1 but right child \(rights[i])")
                    }
                    nodes.append(.leaf(Double(conditions[i]), target: treeGroup[t]))
                } else {
                    guard lefts[i] >= 0, lefts[i] < n, rights[i] >= 0, rights[i] < n else {
                        throw ModelError.malformed("XGBoost \(path) node \(i): child index out of range (\(lefts[i]), \(rights[i]))")
                    }
                    if splitTypes[i] == 1 {
                        guard let listed = categorySets[i] else {
                            throw ModelError.malformed("XGBoost \(path) node \(i): categorical split without categories (categories_nodes)")
                        }
                        // XGBoost sends the listed categories right; TreeNodeSpec sends its set left:
                        // swap the children and the default direction.
                        nodes.append(.categorical(feature: features[i], leftCategories: listed, left: rights[i], right: lefts[i],
                                                  defaultLeft: !defaults[i], missing: .nanTakesDefault))
                    } else {
                        if categorySets[i] != nil {
                            throw ModelError.malformed("XGBoost \(path) node \(i): categories listed for a numerical split")
                        }
                        nodes.append(.split(feature: features[i], threshold: Double(conditions[i]), left: lefts[i], right: rights[i],
                                            defaultLeft: defaults[i], missing: .nanTakesDefault))
                    }
                }
            }
            try builder.addTree(nodes, name: "XGBoost \(path)")
        }

        let ensemble = try builder.build()
        return Result(objective: objective, featureNames: featureNames, ensemble: ensemble)
    }

    /// The base margin of a single-output model from its `base_score`.
    private static func baseMarginOfSingleOutput(_ baseScore: Float, _ objective: ModelObjective, _ objectiveName: String) throws -> Double {
        switch objective {
        case .regression, .binaryProbability, .multiclassSoftmax, .multiclassProbability:
            return Double(baseScore)
        case .binaryLogistic, .regressionLogistic:
            guard baseScore > 0 && baseScore < 1 else {
                throw ModelError.malformed("XGBoost JSON: base_score \(baseScore) must be in (0, 1) for \(objectiveName)")
            }
            // XGBoost's ProbToMargin, in float32 as XGBoost does it: -logf(1.0f / base_score - 1.0f).
            // The rounding of 1/p - 1 to float matters: a double logit rounded once to float was
            // one ulp off for reg:logistic base_score 0.4921301 (3.x fixture) and shifted ~70 % of
            // the margins by up to 4.8e-7; this form reproduces XGBoost 1.7 and 3.2 margins bit for bit.
            let t: Float = 1 / baseScore - 1
            return Double(-log(t))  // Float overload: logf
        }
    }

    /// `base_score` of a multiclass model: "5E-1" (1.x/2.x, one value for every class) or
    /// "[a,b,c]" (3.x, one per class). Absent means XGBoost's default 0.5.
    static func parseBaseScores(_ value: JSONValue?) throws -> [Float] {
        guard let value else { return [0.5] }
        var text: Substring
        switch value {
        case .string(let s): text = Substring(s)
        case .number(let s): text = Substring(s)
        default: throw ModelError.malformed("XGBoost JSON: base_score is a \(value.kindName)")
        }
        text = Substring(text.trimmingSpaces)
        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else { throw ModelError.malformed("XGBoost JSON: base_score '\(text)' is not a number") }
            text = text.dropFirst().dropLast()
        }
        return try text.split(separator: ",", omittingEmptySubsequences: false).map { part in
            let trimmed = part.trimmingSpaces
            guard let score = Float(trimmed), score.isFinite else {
                throw ModelError.malformed("XGBoost JSON: base_score value '\(trimmed)' is not a finite number")
            }
            return score
        }
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

    /// XGBoost's largest valid category + 1 (`common::OutOfRangeCat()`, 2^24): inputs at or above it
    /// are invalid categories, so a listed category there could never be matched by XGBoost.
    static let categoryLimit = 1 << 24

    /// The categories listed for each categorical node of a tree (node index → categories going
    /// right in XGBoost), from `categories_nodes`, `categories_segments`, `categories_sizes` and
    /// `categories`. Absent arrays mean no categorical nodes.
    private static func categorySets(_ tree: [String: JSONValue], path: String, nodeCount: Int) throws -> [Int: [Int32]] {
        guard let nodesValue = tree["categories_nodes"] else { return [:] }
        let nodes = try intArray(nodesValue, "\(path).categories_nodes")
        if nodes.isEmpty { return [:] }
        let segments = try intArray(tree["categories_segments"], "\(path).categories_segments")
        let sizes = try intArray(tree["categories_sizes"], "\(path).categories_sizes")
        let categories = try intArray(tree["categories"], "\(path).categories")
        guard segments.count == nodes.count, sizes.count == nodes.count else {
            throw ModelError.malformed(
                "XGBoost \(path): categories_nodes (\(nodes.count)), categories_segments (\(segments.count)) and "
                    + "categories_sizes (\(sizes.count)) have different lengths")
        }
        var sets: [Int: [Int32]] = [:]
        for (j, node) in nodes.enumerated() {
            guard node >= 0, node < nodeCount else {
                throw ModelError.malformed("XGBoost \(path): categories_nodes[\(j)] = \(node) is not a node of the tree")
            }
            guard sets[node] == nil else { throw ModelError.malformed("XGBoost \(path): node \(node) listed twice in categories_nodes") }
            let start = segments[j], size = sizes[j]
            guard start >= 0, size >= 1, start <= categories.count, size <= categories.count - start else {
                throw ModelError.malformed(
                    "XGBoost \(path) node \(node): category segment \(start) + \(size) outside categories (\(categories.count))")
            }
            sets[node] = try categories[start..<start + size].map { category in
                guard category >= 0, category < categoryLimit else {
                    throw ModelError.malformed("XGBoost \(path) node \(node): category \(category) outside [0, 2^24)")
                }
                return Int32(category)
            }
        }
        return sets
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
