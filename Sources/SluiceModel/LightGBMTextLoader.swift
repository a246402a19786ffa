/// Reads LightGBM's text model format (`Booster.save_model("model.txt")`, `model_to_string()`,
/// format `version=v4`; v3 files read the same way).
///
/// Layout used (keys not listed are ignored):
///
///     tree
///     version=v4
///     num_class=1                         k for multiclass, else 1
///     num_tree_per_iteration=1            trees per boosting round; tree t belongs to class t % this
///     max_feature_idx=11                  feature count - 1
///     objective=binary sigmoid:1          name, then `key:value` parameters and bare flags ("sqrt")
///     average_output                      bare line, present for random forests (boosting=rf)
///     feature_names=a b c ...             space separated
///     tree_sizes=...                      one entry per tree
///
///     Tree=0
///     num_leaves=N, num_cat=C
///     split_feature, threshold, decision_type, left_child, right_child      N-1 values each
///     leaf_value                                                         N values (shrinkage applied)
///     cat_boundaries (C+1), cat_threshold (cat_boundaries[C] 32-bit words)  when C > 0
///     is_linear=0, shrinkage=...
///     ...
///     end of trees
///
/// Internal nodes are 0 ..< N-1 with node 0 the root; a child c ≥ 0 is an internal node and c < 0
/// is leaf ~c. A single-leaf tree (N = 1) has only `leaf_value`.
///
/// Semantics (LightGBM 4.x `Tree::NumericalDecision` / `CategoricalDecision` and the C API's dense
/// row reader, verified against lightgbm 4.7 `predict` on x86-64):
///
/// - Inputs are doubles, `x <= threshold` goes left, thresholds are the file's doubles; leaves are
///   summed in double in file order from 0; no base margin (LightGBM folds `boost_from_average`
///   into the first tree). Random forests (`average_output`) divide the sum by the number of
///   boosting rounds before the objective's transform — what `predict()` transforms, whereas
///   `predict(raw_score=True)` returns the undivided sum.
/// - decision_type bit 0: categorical; bit 1: default left; bits 2-3: missing type.
///   Missing type None (0): NaN is compared as 0.0 (`.nanAsZero`). Zero (1): NaN and zero take the
///   default direction (`.zeroOrNaNTakesDefault`). NaN (2): NaN takes the default direction, zero is
///   compared (`.nanTakesDefault`); with default_left unset NaN goes right.
/// - The dense reader drops every |x| ≤ kZeroThreshold (1e-35f = 1.0000000180025095e-35) before the
///   trees see it, so tiny values ARE 0.0. LightGBM writes ±kZeroThreshold as thresholds (its bin
///   bound around zero), and x = -kZeroThreshold therefore goes right at threshold -kZeroThreshold.
///   The loader moves thresholds in [-kZeroThreshold, kZeroThreshold) to the one that sends every
///   input the way LightGBM's zeroed value goes (for None and NaN missing types), which is exact.
///   For the Zero missing type, `TreeEnsemble.zeroThreshold` decides what counts as zero; it is
///   the double 1e-35, just below LightGBM's 1e-35f, so inputs with 1e-35 < |x| ≤ 1e-35f are
///   compared by Sluice where LightGBM sends them the default way (no threshold can fix that).
/// - Categorical nodes: `threshold` is an index into `cat_boundaries`; the node's categories are
///   the set bits of `cat_threshold[cat_boundaries[i] ..< cat_boundaries[i + 1]]` (bit c % 32 of
///   word c / 32) and go LEFT. The input is truncated toward zero (2.7 is 2, -0.5 is 0); negative
///   (≤ -1), unseen, ≥ 2^31 and NaN inputs go right whatever the missing type: LightGBM casts
///   NaN to int first, which on x86-64 gives INT_MIN (negative, so right). On AArch64 the cast
///   gives 0 and LightGBM sends NaN to category 0 for missing types None/Zero; Sluice follows x86-64.
///   Category codes are the integers LightGBM was trained on (for pandas inputs, the codes of
///   `pandas_categorical`); Sluice does not re-code category values.
///
/// Objectives: `binary` (sigmoid:1 only) → binaryLogistic; `multiclass num_class:k` →
/// multiclassSoftmax(k); identity-link regressions (`regression`, `regression_l1`, `huber`, `fair`,
/// `quantile`, `mape`) → regression. Rejected as `.unsupported`: other objectives (multiclassova,
/// poisson, gamma, tweedie, cross_entropy, ranking, custom), `binary` with sigmoid ≠ 1, `regression
/// sqrt`, linear trees, and multiclass random forests.
enum LightGBMTextLoader {
    struct Result {
        var objective: ModelObjective
        var featureNames: [String]?
        var ensemble: TreeEnsemble
    }

    /// LightGBM's kZeroThreshold: `const double kZeroThreshold = 1e-35f;`, a float literal.
    static let kZeroThreshold = Double(Float(1e-35))

    /// Objectives whose output is the raw score (identity link), LightGBM names and aliases.
    static let identityRegressions: Set<String> = [
        "regression", "regression_l2", "l2", "mean_squared_error", "mse", "l2_root", "root_mean_squared_error", "rmse",
        "regression_l1", "l1", "mean_absolute_error", "mae", "huber", "fair", "quantile",
        "mape", "mean_absolute_percentage_error",
    ]

    static func load(_ bytes: ArraySlice<UInt8>) throws -> Result {
        var lines = bytes.split(separator: 0x0a, omittingEmptySubsequences: false).map { line -> ArraySlice<UInt8> in
            line.last == 0x0d ? line.dropLast() : line
        }[...]
        guard let first = lines.popFirst(), text(first) == "tree" else {
            throw ModelError.malformed("LightGBM text: the first line is not 'tree'")
        }

        // Header: key=value lines (and bare flags such as average_output) up to the first tree.
        var header: [String: String] = [:]
        var flags = Set<String>()
        while let line = lines.first, !line.starts(with: Self.treePrefix), text(line) != "end of trees" {
            lines.removeFirst()
            if line.isEmpty { continue }
            if let eq = line.firstIndex(of: UInt8(ascii: "=")) {
                header[text(line[..<eq])] = text(line[(eq + 1)...])
            } else {
                flags.insert(text(line))
            }
        }

        // Tree sections, then "end of trees".
        var sections: [[String: ArraySlice<UInt8>]] = []
        var sawEnd = false
        while let line = lines.popFirst() {
            if line.isEmpty { continue }
            if text(line) == "end of trees" {
                sawEnd = true
                break
            }
            guard line.starts(with: Self.treePrefix) else {
                throw ModelError.malformed("LightGBM text: unexpected line '\(text(line.prefix(60)))' after tree \(sections.count - 1)")
            }
            let index = text(line.dropFirst(Self.treePrefix.count))
            guard Int(index) == sections.count else {
                throw ModelError.malformed("LightGBM text: 'Tree=\(index)' where Tree=\(sections.count) was expected")
            }
            var fields: [String: ArraySlice<UInt8>] = [:]
            while let field = lines.first, !field.isEmpty, !field.starts(with: Self.treePrefix), text(field) != "end of trees" {
                lines.removeFirst()
                guard let eq = field.firstIndex(of: UInt8(ascii: "=")) else {
                    throw ModelError.malformed("LightGBM tree \(sections.count): line '\(text(field.prefix(60)))' is not key=value")
                }
                fields[text(field[..<eq])] = field[(eq + 1)...]
            }
            sections.append(fields)
        }
        guard sawEnd else {
            throw ModelError.malformed("LightGBM text: no 'end of trees' line after \(sections.count) trees (truncated file?)")
        }
        guard !sections.isEmpty else { throw ModelError.malformed("LightGBM text: the model has no trees") }

        // Shape.
        let classes = try headerInt(header, "num_class")
        let treesPerIteration = try header["num_tree_per_iteration"] == nil ? classes : headerInt(header, "num_tree_per_iteration")
        let maxFeature = try headerInt(header, "max_feature_idx")
        guard classes >= 1, treesPerIteration >= 1 else {
            throw ModelError.malformed("LightGBM text: num_class = \(classes), num_tree_per_iteration = \(treesPerIteration)")
        }
        guard maxFeature >= 0, maxFeature < Int(Int32.max) else {
            throw ModelError.malformed("LightGBM text: max_feature_idx = \(maxFeature)")
        }
        let featureCount = maxFeature + 1
        if let sizes = header["tree_sizes"] {
            let count = sizes.split(separator: " ").count
            guard count == sections.count else {
                throw ModelError.malformed("LightGBM text: tree_sizes lists \(count) trees but the file holds \(sections.count)")
            }
        }
        let averaged = flags.contains("average_output") || header["average_output"] != nil

        // Objective.
        guard let objectiveLine = header["objective"], !objectiveLine.isEmpty else {
            throw ModelError.unsupported("LightGBM model without an objective line (custom objective?): its raw scores have no known meaning")
        }
        let tokens = objectiveLine.split(separator: " ").map(String.init)
        let objectiveName = tokens[0]
        var objectiveParams: [String: String] = [:]
        var objectiveFlags = Set<String>()
        for token in tokens.dropFirst() {
            if let colon = token.firstIndex(of: ":") {
                objectiveParams[String(token[..<colon])] = String(token[token.index(after: colon)...])
            } else {
                objectiveFlags.insert(token)
            }
        }
        let objective: ModelObjective
        switch objectiveName {
        case "binary":
            let sigmoidText = objectiveParams["sigmoid"] ?? "1"
            guard let sigmoid = Double(sigmoidText) else {
                throw ModelError.malformed("LightGBM text: objective '\(objectiveLine)': sigmoid '\(sigmoidText)' is not a number")
            }
            guard sigmoid == 1 else {
                throw ModelError.unsupported(
                    "LightGBM objective '\(objectiveLine)': only sigmoid:1 is supported (the probability would be sigmoid(\(sigmoidText) × margin))")
            }
            objective = .binaryLogistic
        case "multiclass", "softmax":
            let declared = objectiveParams["num_class"].flatMap { Int($0) }
            guard declared == nil || declared == classes else {
                throw ModelError.malformed("LightGBM text: objective '\(objectiveLine)' but num_class=\(classes)")
            }
            guard classes >= 2 else { throw ModelError.malformed("LightGBM text: multiclass objective with num_class=\(classes)") }
            objective = .multiclassSoftmax(classes: classes)
        case "multiclassova", "multiclass_ova", "ova", "ovr":
            throw ModelError.unsupported(
                "LightGBM objective '\(objectiveLine)' (one-vs-all: a sigmoid per class) is not supported; use multiclass")
        default:
            guard Self.identityRegressions.contains(objectiveName) else {
                throw ModelError.unsupported(
                    "LightGBM objective '\(objectiveLine)' is not supported (supported: binary, multiclass, and regression "
                        + "with identity output: regression, regression_l1, huber, fair, quantile, mape)")
            }
            guard !objectiveFlags.contains("sqrt") else {
                throw ModelError.unsupported("LightGBM objective '\(objectiveLine)' (reg_sqrt: output is sign(x)·x²) is not supported")
            }
            objective = .regression
        }
        let outputCount = objective.outputCount
        guard classes == outputCount, treesPerIteration == outputCount else {
            throw ModelError.malformed(
                "LightGBM text: objective '\(objectiveLine)' with num_class=\(classes), num_tree_per_iteration=\(treesPerIteration)")
        }
        guard sections.count % treesPerIteration == 0 else {
            throw ModelError.malformed(
                "LightGBM text: \(sections.count) trees is not a multiple of num_tree_per_iteration=\(treesPerIteration)")
        }
        if averaged && outputCount > 1 {
            // LightGBM divides each class's sum by the number of rounds; TreeEnsemble's .average
            // divides by the number of trees, which is k times larger.
            throw ModelError.unsupported("LightGBM random-forest (average_output) multiclass models are not supported")
        }

        // Feature names.
        var featureNames: [String]? = nil
        if let names = header["feature_names"], !names.isEmpty {
            let list = names.split(separator: " ").map(String.init)
            guard list.count == featureCount else {
                throw ModelError.malformed("LightGBM text: \(list.count) feature_names for max_feature_idx=\(maxFeature)")
            }
            featureNames = list
        }

        var builder = TreeEnsembleBuilder(
            featureCount: featureCount, outputCount: outputCount, baseMargins: Array(repeating: 0, count: outputCount),
            inputPrecision: .float64, comparison: .lessThanOrEqual, accumulation: .float64)
        builder.aggregation = averaged ? .average : .sum
        for (t, fields) in sections.enumerated() {
            let nodes = try treeNodes(fields, tree: t, target: t % treesPerIteration)
            try builder.addTree(nodes, name: "LightGBM tree \(t)")
        }
        return Result(objective: objective, featureNames: featureNames, ensemble: try builder.build())
    }

    /// The nodes of one tree: internal nodes 0 ..< N-1 keep their indices, leaf j becomes N-1+j.
    static func treeNodes(_ fields: [String: ArraySlice<UInt8>], tree t: Int, target: Int) throws -> [TreeNodeSpec] {
        let name = "LightGBM tree \(t)"
        let leafCount = try int(fields, "num_leaves", name)
        guard leafCount >= 1 else { throw ModelError.malformed("\(name): num_leaves = \(leafCount)") }
        if let linear = fields["is_linear"], text(linear) != "0" {
            throw ModelError.unsupported("\(name) is a linear tree (is_linear=\(text(linear))): linear trees are not supported")
        }
        let leafValues = try list(fields, "leaf_value", count: leafCount, name, Double.init)
        if leafCount == 1 { return [.leaf(leafValues[0], target: target)] }

        let splits = leafCount - 1
        let features = try list(fields, "split_feature", count: splits, name) { Int($0) }
        let thresholds = try list(fields, "threshold", count: splits, name, Double.init)
        let decisionTypes = try list(fields, "decision_type", count: splits, name) { Int($0) }
        let lefts = try list(fields, "left_child", count: splits, name) { Int($0) }
        let rights = try list(fields, "right_child", count: splits, name) { Int($0) }
        let categoricalCount = fields["num_cat"] == nil ? 0 : try int(fields, "num_cat", name)
        guard categoricalCount >= 0, categoricalCount <= splits else {
            throw ModelError.malformed("\(name): num_cat = \(categoricalCount) with \(splits) splits")
        }
        var boundaries: [Int] = []
        var bitsets: [UInt32] = []
        if categoricalCount > 0 {
            boundaries = try list(fields, "cat_boundaries", count: categoricalCount + 1, name) { Int($0) }
            bitsets = try list(fields, "cat_threshold", count: nil, name) { UInt32($0) }
            guard boundaries[0] == 0, zip(boundaries, boundaries.dropFirst()).allSatisfy({ $0 <= $1 }),
                  boundaries[categoricalCount] == bitsets.count else {
                throw ModelError.malformed(
                    "\(name): cat_boundaries \(boundaries) do not partition the \(bitsets.count) words of cat_threshold")
            }
        }

        func child(_ c: Int, of node: Int) throws -> Int {
            if c >= 0 {
                guard c < splits else { throw ModelError.malformed("\(name) node \(node): child \(c) outside the \(splits) splits") }
                return c
            }
            let leaf = ~c
            guard leaf < leafCount else { throw ModelError.malformed("\(name) node \(node): child leaf \(leaf) of \(leafCount)") }
            return splits + leaf
        }

        var nodes: [TreeNodeSpec] = []
        nodes.reserveCapacity(splits + leafCount)
        for i in 0..<splits {
            let decision = decisionTypes[i]
            guard decision >= 0, decision < 16 else { throw ModelError.malformed("\(name) node \(i): decision_type \(decision)") }
            let left = try child(lefts[i], of: i), right = try child(rights[i], of: i)
            if decision & 1 != 0 {
                let threshold = thresholds[i]
                guard threshold >= 0, threshold < Double(categoricalCount), threshold == threshold.rounded(.towardZero) else {
                    throw ModelError.malformed("\(name) node \(i): categorical threshold \(threshold) is not one of \(categoricalCount) category sets")
                }
                let set = Int(threshold)
                var categories: [Int32] = []
                for (w, word) in bitsets[boundaries[set]..<boundaries[set + 1]].enumerated() where word != 0 {
                    for bit in 0..<32 where word >> UInt32(bit) & 1 == 1 {
                        guard w * 32 + bit <= Int(Int32.max) else { throw ModelError.malformed("\(name) node \(i): category too large") }
                        categories.append(Int32(w * 32 + bit))
                    }
                }
                // NaN, negative (≤ -1), unseen and ≥ 2^31 inputs go right (see the type comment).
                nodes.append(.categorical(feature: features[i], leftCategories: categories, left: left, right: right,
                                          defaultLeft: false, missing: .nanTakesDefault))
            } else {
                let rule: TreeEnsemble.MissingRule
                switch (decision >> 2) & 3 {
                case 0: rule = .nanAsZero
                case 1: rule = .zeroOrNaNTakesDefault
                case 2: rule = .nanTakesDefault
                default: throw ModelError.malformed("\(name) node \(i): missing type 3 in decision_type \(decision)")
                }
                var threshold = thresholds[i]
                if rule != .zeroOrNaNTakesDefault {
                    threshold = zeroAdjustedThreshold(threshold)
                }
                nodes.append(.split(feature: features[i], threshold: threshold, left: left, right: right,
                                    defaultLeft: decision & 2 != 0, missing: rule))
            }
        }
        for value in leafValues { nodes.append(.leaf(value, target: target)) }
        return nodes
    }

    /// The threshold that sends every double x the way LightGBM sends it at `threshold`, given that
    /// LightGBM sees 0.0 for every |x| ≤ kZeroThreshold. Thresholds outside [-kZT, kZT) already do;
    /// one in [0, kZT) must also send (t, kZT] left, and one in [-kZT, 0) must send [-kZT, t] right.
    static func zeroAdjustedThreshold(_ threshold: Double) -> Double {
        if threshold >= 0 && threshold < kZeroThreshold { return kZeroThreshold }
        if threshold >= -kZeroThreshold && threshold < 0 { return (-kZeroThreshold).nextDown }
        return threshold
    }

    // MARK: - Field access

    private static let treePrefix = Array("Tree=".utf8)

    private static func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

    private static func headerInt(_ header: [String: String], _ key: String) throws -> Int {
        guard let value = header[key] else { throw ModelError.malformed("LightGBM text: no '\(key)=' line in the header") }
        guard let n = Int(value) else { throw ModelError.malformed("LightGBM text: \(key)=\(value) is not an integer") }
        return n
    }

    private static func int(_ fields: [String: ArraySlice<UInt8>], _ key: String, _ name: String) throws -> Int {
        guard let value = fields[key] else { throw ModelError.malformed("\(name): no '\(key)=' line") }
        guard let n = Int(text(value)) else { throw ModelError.malformed("\(name): \(key)=\(text(value.prefix(40))) is not an integer") }
        return n
    }

    /// A space-separated list of `count` values (any number when nil).
    private static func list<T>(_ fields: [String: ArraySlice<UInt8>], _ key: String, count: Int?, _ name: String,
                                _ parse: (String) -> T?) throws -> [T] {
        guard let value = fields[key] else { throw ModelError.malformed("\(name): no '\(key)=' line") }
        let tokens = value.split(separator: 0x20)
        if let count, tokens.count != count {
            throw ModelError.malformed("\(name): \(key) has \(tokens.count) values, expected \(count)")
        }
        return try tokens.enumerated().map { index, token in
            guard let parsed = parse(text(token)) else {
                throw ModelError.malformed("\(name): \(key)[\(index)] = '\(text(token.prefix(40)))' is not a valid number")
            }
            return parsed
        }
    }
}
