/// The fast evaluator: a `TreeEnsemble` compiled for blocks of rows and for single rows, giving
/// results bit-identical to `ReferenceEvaluator` (same leaves, same accumulation order).
///
/// **Blocks (the pipeline's micro-batches).** Rows are scored 64 at a time. Every split test is
/// first reduced to "byte ≤ k" (`ColumnLayout`; thresholds are split into chunks of 126 ranks so
/// bins fit in 7 bits), and the block's bins are stored column-major: 64 bytes per column, one
/// `SIMD16<UInt32>` (a 512-bit register on AVX-512, two on AVX2). Each tree is a post-order
/// program whose instruction is "slot[dst] = column[c] ≤ k ? slot[a] : slot[b]" evaluated for all
/// 64 rows at once with SWAR byte arithmetic: `(0x80 | k) − bin` has its high bit set exactly when
/// bin ≤ k, with no borrow between bytes because both are below 128. Leaf slots hold the leaf's
/// ordinal in every byte, so the root's slot ends up holding each row's leaf. No branches depend
/// on the data and the work per tree is one instruction per internal node, whatever the shape
/// (balanced XGBoost trees and deep, leaf-wise LightGBM trees alike).
///
/// Why SWAR on 16 × UInt32 rather than `SIMD64<UInt8>`: Swift's SIMD types with more than 16
/// lanes compile to per-lane scalar code here (measured: ~110 instructions for one 32-lane
/// compare-and-select, 7 for 16 lanes), so 64 byte lanes are packed four to a 32-bit lane.
///
/// **Single rows (the HTTP API).** The row's column values are computed once (global bins, no
/// chunking), then `RowWalker` walks the trees with branch-free child selection (eight lanes, each
/// a stream of trees, or eight trees at a time), reporting each tree's leaf in tree order so the
/// leaf values are added in the reference's order.
struct CompiledEnsemble: Sendable {
    static let blockRows = 64
    /// Ranks per byte column: bins 0…126 plus 127 for "always right".
    static let chunk = 126

    private struct Op: Sendable {
        /// (0x80 | k) in every byte.
        var kPacked: UInt32
        var column: UInt16
        var a: UInt16  // slot taken when the test is true (left)
        var b: UInt16  // slot taken when false (right)
    }

    private let ensemble: TreeEnsemble
    private let layout: ColumnLayout
    /// True when every tree has at most 256 leaves (block programs address leaves with a byte).
    private let supportsBlocks: Bool
    // Block programs.
    private let ops: [Op]
    private let opStart: [Int32]
    private let resultSlot: [UInt16]
    private let byteColumnBase: [Int32]
    private let byteColumnCount: Int
    /// Single rows; nil for the rare ensembles whose ranks do not fit 16 bits (then: reference).
    private let walker: RowWalker?
    // Leaves by (tree, ordinal).
    private let leafBase: [Int32]
    private let leafNode: [Int32]
    private let singleValueLeaves: Bool
    private let leafValue: [Double]
    private let leafValueFloat: [Float]
    private let treeTarget: [Int32]

    private static let constantSlots = 256

    /// Per input feature with numeric splits: its thresholds and the byte columns derived from it.
    private struct FeaturePlan: Sendable {
        var feature: Int32
        var variantStart: Int32
        var variantEnd: Int32
    }

    private struct VariantColumn: Sendable {
        var kind: ColumnLayout.Variant
        var layoutColumn: Int32
        var byteColumn: Int32
        var chunks: Int32
    }

    private let index: ThresholdIndex
    private let plans: [FeaturePlan]
    /// `plans`' features, for `ThresholdIndex.counts(features:…)`.
    private let planFeatures: [Int32]
    private let variants: [VariantColumn]
    private let categoricalColumns: [(node: Int, byteColumn: Int, layoutColumn: Int)]

    /// `rowNodes` forces the single-row walker's node format (tests).
    init(_ e: TreeEnsemble, rowNodes: RowWalker.Format? = nil) {
        ensemble = e
        let layout = ColumnLayout(e)
        self.layout = layout

        var byteColumnBase: [Int32] = []
        var byteColumns = 0
        for c in layout.columns.indices {
            byteColumnBase.append(Int32(byteColumns))
            switch layout.columns[c] {
            case .categorical: byteColumns += 1
            case .numeric(let feature, _): byteColumns += layout.thresholds[feature].count / Self.chunk + 1
            }
        }
        self.byteColumnBase = byteColumnBase
        self.byteColumnCount = byteColumns

        var plans: [FeaturePlan] = []
        var variants: [VariantColumn] = []
        var categoricalColumns: [(node: Int, byteColumn: Int, layoutColumn: Int)] = []
        for feature in 0..<e.featureCount {
            let variantStart = Int32(variants.count)
            for c in layout.columns.indices {
                if case .numeric(feature, let variant) = layout.columns[c] {
                    variants.append(VariantColumn(
                        kind: variant, layoutColumn: Int32(c), byteColumn: byteColumnBase[c],
                        chunks: Int32(layout.thresholds[feature].count / Self.chunk + 1)))
                }
            }
            guard Int32(variants.count) > variantStart else { continue }
            plans.append(FeaturePlan(
                feature: Int32(feature), variantStart: variantStart, variantEnd: Int32(variants.count)))
        }
        for c in layout.columns.indices {
            if case .categorical(let node) = layout.columns[c] { categoricalColumns.append((node, Int(byteColumnBase[c]), c)) }
        }
        self.index = ThresholdIndex(thresholds: layout.thresholds, lessThan: layout.lessThan)
        self.plans = plans
        self.planFeatures = plans.map(\.feature)
        self.variants = variants
        self.categoricalColumns = categoricalColumns

        var ops: [Op] = []
        var opStart: [Int32] = []
        var resultSlot: [UInt16] = []
        var leafBase: [Int32] = []
        var leafNode: [Int32] = []
        var treeTarget: [Int32] = []
        var supportsBlocks = true
        for t in 0..<e.treeCount {
            let range = e.nodes(ofTree: t)
            // Leaf ordinals in node order.
            var ordinal: [Int: Int] = [:]
            leafBase.append(Int32(leafNode.count))
            for i in range where e.splitFeature[i] < 0 {
                ordinal[i] = ordinal.count
                leafNode.append(Int32(i))
            }
            treeTarget.append(e.leafTarget[Int(e.leafStart[Int(leafNode[Int(leafBase[t])])])])
            if ordinal.count > Self.constantSlots { supportsBlocks = false }

            // Post-order block program.
            opStart.append(Int32(ops.count))
            guard supportsBlocks else {
                resultSlot.append(0)
                continue
            }
            var slotOf: [Int: Int] = [:]
            var temps = 0
            var stack: [(node: Int, expanded: Bool)] = [(range.lowerBound, false)]
            while let (node, expanded) = stack.popLast() {
                if e.splitFeature[node] < 0 {
                    slotOf[node] = ordinal[node]!
                    continue
                }
                if !expanded {
                    stack.append((node, true))
                    stack.append((Int(e.rightChild[node]), false))
                    stack.append((Int(e.leftChild[node]), false))
                    continue
                }
                let column = Int(layout.nodeColumn[node])
                let rank = Int(layout.nodeRank[node])
                let byteColumn = Int(byteColumnBase[column]) + rank / Self.chunk
                let local = UInt32(rank % Self.chunk)
                ops.append(Op(
                    kPacked: (0x80 | local) &* 0x0101_0101, column: UInt16(byteColumn),
                    a: UInt16(slotOf[Int(e.leftChild[node])]!), b: UInt16(slotOf[Int(e.rightChild[node])]!)))
                slotOf[node] = Self.constantSlots + temps
                temps += 1
            }
            resultSlot.append(UInt16(slotOf[range.lowerBound]!))
        }
        opStart.append(Int32(ops.count))
        self.ops = ops
        self.opStart = opStart
        self.resultSlot = resultSlot
        self.walker = RowWalker(e, layout: layout, format: rowNodes)
        self.leafBase = leafBase
        self.leafNode = leafNode
        self.treeTarget = treeTarget
        self.supportsBlocks = supportsBlocks && byteColumns <= Int(UInt16.max)
        // The fast accumulation needs one value per leaf and one target per tree (gradient boosting).
        var single = e.hasSingleValueLeaves
        if single {
            for t in 0..<e.treeCount {
                let end = t + 1 < e.treeCount ? Int(leafBase[t + 1]) : leafNode.count
                for leaf in Int(leafBase[t])..<end where e.leafTarget[Int(e.leafStart[Int(leafNode[leaf])])] != treeTarget[t] {
                    single = false
                }
            }
        }
        self.singleValueLeaves = single
        self.leafValue = single ? leafNode.map { e.leafWeight[Int(e.leafStart[Int($0)])] } : []
        self.leafValueFloat = leafValue.map { Float($0) }
    }

    /// Margins of `rowCount` row-major rows, `outputCount` per row.
    func margins(features: UnsafeBufferPointer<Double>, rowCount: Int, into margins: UnsafeMutableBufferPointer<Double>) {
        if supportsBlocks && rowCount >= 8 {
            marginsByBlocks(features: features, rowCount: rowCount, into: margins)
        } else {
            for row in 0..<rowCount {
                marginsOfRow(
                    UnsafeBufferPointer(rebasing: features[row * ensemble.featureCount..<(row + 1) * ensemble.featureCount]),
                    into: UnsafeMutableBufferPointer(rebasing: margins[row * ensemble.outputCount..<(row + 1) * ensemble.outputCount]))
            }
        }
    }

    // MARK: Accumulation shared by both paths

    /// Adds leaf `ordinal` of tree `t` for one row into its accumulators, in the reference's order.
    @inline(__always)
    private func accumulate(tree t: Int, ordinal: Int, sum32: UnsafeMutablePointer<Float>, sum64: UnsafeMutablePointer<Double>) {
        let leaf = Int(leafBase[t]) + ordinal
        if singleValueLeaves {
            let target = Int(treeTarget[t])
            if ensemble.accumulation == .float32 {
                sum32[target] += leafValueFloat[leaf]
            } else {
                sum64[target] += leafValue[leaf]
            }
        } else {
            let node = Int(leafNode[leaf])
            for k in Int(ensemble.leafStart[node])..<Int(ensemble.leafStart[node + 1]) {
                let target = Int(ensemble.leafTarget[k])
                if ensemble.accumulation == .float32 {
                    sum32[target] += Float(ensemble.leafWeight[k])
                } else {
                    sum64[target] += ensemble.leafWeight[k]
                }
            }
        }
    }

    /// Gradient-boosting fast path for one tree over a block: adds each row's leaf value (row r's leaf
    /// ordinal is `leaves[r]`; sums are row-major). Generic so float32 (XGBoost) and double sums share it.
    @inline(__always)
    private func addLeaves<V: BinaryFloatingPoint>(_ leafValues: [V], tree t: Int, leaves: UnsafePointer<UInt8>, rows: Int,
                                                   into sums: UnsafeMutablePointer<V>) {
        let base = Int(leafBase[t])
        let target = Int(treeTarget[t])
        let outputs = ensemble.outputCount
        leafValues.withUnsafeBufferPointer { values in
            for r in 0..<rows { sums[r &* outputs &+ target] += values[base &+ Int(leaves[r])] }
        }
    }

    @inline(__always)
    private func finish(sum32: UnsafeMutablePointer<Float>, sum64: UnsafeMutablePointer<Double>, into out: UnsafeMutablePointer<Double>) {
        let e = ensemble
        for k in 0..<e.outputCount {
            if e.accumulation == .float32 {
                out[k] = Double(sum32[k])
            } else {
                let aggregated = e.aggregation == .average ? sum64[k] / Double(e.treeCount) : sum64[k]
                out[k] = aggregated + e.baseMargins[k]
            }
        }
    }

    @inline(__always)
    private func startSums(sum32: UnsafeMutablePointer<Float>, sum64: UnsafeMutablePointer<Double>) {
        for k in 0..<ensemble.outputCount {
            sum32[k] = Float(ensemble.baseMargins[k])
            sum64[k] = 0
        }
    }

    // MARK: Single rows

    func marginsOfRow(_ row: UnsafeBufferPointer<Double>, into out: UnsafeMutableBufferPointer<Double>) {
        let e = ensemble
        guard let walker else {
            ReferenceEvaluator(ensemble: e).margins(features: row, rowCount: 1, into: out)
            return
        }
        let columnCount = layout.columns.count
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: walker.rowBufferCount) { values in
            fillRowValues(values.baseAddress!, row: row.baseAddress!)
            values[columnCount] = 0
            let v = values.baseAddress!
            // Leaf values are added as the walker reports each tree, in tree order (the
            // reference's), so the additions overlap the walk.
            if singleValueLeaves && e.outputCount == 1 {
                // Gradient boosting, one output: the sum stays in a register.
                leafBase.withUnsafeBufferPointer { base in
                    if e.accumulation == .float32 {
                        leafValueFloat.withUnsafeBufferPointer { leafValues in
                            var sum = Float(e.baseMargins[0])
                            walker.walk(row: v) { t, ordinal in sum += leafValues[Int(base[t]) &+ ordinal] }
                            out[0] = Double(sum)
                        }
                    } else {
                        leafValue.withUnsafeBufferPointer { leafValues in
                            var sum = 0.0
                            walker.walk(row: v) { t, ordinal in sum += leafValues[Int(base[t]) &+ ordinal] }
                            let aggregated = e.aggregation == .average ? sum / Double(e.treeCount) : sum
                            out[0] = aggregated + e.baseMargins[0]
                        }
                    }
                }
                return
            }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: e.outputCount) { sum32 in
                withUnsafeTemporaryAllocation(of: Double.self, capacity: e.outputCount) { sum64 in
                    startSums(sum32: sum32.baseAddress!, sum64: sum64.baseAddress!)
                    walker.walk(row: v) { t, ordinal in
                        accumulate(tree: t, ordinal: ordinal, sum32: sum32.baseAddress!, sum64: sum64.baseAddress!)
                    }
                    finish(sum32: sum32.baseAddress!, sum64: sum64.baseAddress!, into: out.baseAddress!)
                }
            }
        }
    }

    /// One row's column values for `RowWalker`: `bin << 16` (global bins), 0 for "always left",
    /// `RowWalker.alwaysRight` for "always right".
    private func fillRowValues(_ values: UnsafeMutablePointer<UInt32>, row: UnsafePointer<Double>) {
        let e = ensemble
        let roundToFloat = layout.roundToFloat
        fillNumericValues(values, row: row)
        for (node, _, column) in categoricalColumns {
            var x = row[Int(e.splitFeature[node])]
            if roundToFloat { x = Double(Float(x)) }
            values[column] = e.goesLeft(node: node, x: x) ? 0 : RowWalker.alwaysRight
        }
    }

    /// The numeric columns of `fillRowValues`: every feature's threshold count, then each of its
    /// variants from it.
    private func fillNumericValues(_ values: UnsafeMutablePointer<UInt32>, row: UnsafePointer<Double>) {
        // Models that split on categorical features only have no plans (and no buffers to pass).
        guard !plans.isEmpty else { return }
        let roundToFloat = layout.roundToFloat
        let n = plans.count
        withUnsafeTemporaryAllocation(of: ColumnLayout.Input.self, capacity: n) { inputs in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: n) { xs in
                withUnsafeTemporaryAllocation(of: Int32.self, capacity: n) { bins in
                    plans.withUnsafeBufferPointer { plans in
                        for k in 0..<n {
                            let input = ColumnLayout.Input(row[Int(plans[k].feature)], roundToFloat: roundToFloat)
                            inputs[k] = input
                            // NaN is binned as 0 (where no variant pins it).
                            xs[k] = input.isNaN ? 0 : input.x
                        }
                        // All features' searches at once (one feature at a time waited on each
                        // level's load: a tenth of the single-row time).
                        planFeatures.withUnsafeBufferPointer {
                            index.counts(features: $0.baseAddress!, xs.baseAddress!, n: n, into: bins.baseAddress!)
                        }
                        variants.withUnsafeBufferPointer { variants in
                            for k in 0..<n {
                                let bin = UInt32(truncatingIfNeeded: bins[k]) << 16
                                for v in Int(plans[k].variantStart)..<Int(plans[k].variantEnd) {
                                    let variant = variants[v]
                                    let value: UInt32
                                    switch variant.kind.pin(inputs[k]) {
                                    case .left?: value = 0
                                    case .right?: value = RowWalker.alwaysRight
                                    case nil: value = bin
                                    }
                                    values[Int(variant.layoutColumn)] = value
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: Blocks of 64 rows

    private func marginsByBlocks(features: UnsafeBufferPointer<Double>, rowCount: Int, into margins: UnsafeMutableBufferPointer<Double>) {
        let e = ensemble
        let width = e.featureCount
        let outputs = e.outputCount
        let slotCount = Self.constantSlots + Self.constantSlots
        let bins = UnsafeMutablePointer<SIMD16<UInt32>>.allocate(capacity: max(byteColumnCount, 1))
        let slots = UnsafeMutablePointer<SIMD16<UInt32>>.allocate(capacity: slotCount)
        let sum32 = UnsafeMutablePointer<Float>.allocate(capacity: Self.blockRows * outputs)
        let sum64 = UnsafeMutablePointer<Double>.allocate(capacity: Self.blockRows * outputs)
        defer {
            bins.deallocate()
            slots.deallocate()
            sum32.deallocate()
            sum64.deallocate()
        }
        for ordinal in 0..<Self.constantSlots {
            slots[ordinal] = SIMD16(repeating: UInt32(ordinal) &* 0x0101_0101)
        }
        let binBytes = UnsafeMutableRawPointer(bins).assumingMemoryBound(to: UInt8.self)
        var blockStart = 0
        while blockStart < rowCount {
            let rows = min(Self.blockRows, rowCount - blockStart)
            fillBins(binBytes, features: features.baseAddress! + blockStart * width, rows: rows)
            for r in 0..<rows { startSums(sum32: sum32 + r * outputs, sum64: sum64 + r * outputs) }
            ops.withUnsafeBufferPointer { ops in
                for t in 0..<e.treeCount {
                    var dst = Self.constantSlots
                    for o in Int(opStart[t])..<Int(opStart[t + 1]) {
                        let op = ops[o]
                        // High bit of each byte: bin ≤ k. Spread it to the whole byte, then select.
                        let high = (SIMD16<UInt32>(repeating: op.kPacked) &- bins[Int(op.column)]) & SIMD16(repeating: 0x8080_8080)
                        let mask = (high &- (high &>> 7)) | high
                        slots[dst] = (slots[Int(op.a)] & mask) | (slots[Int(op.b)] & ~mask)
                        dst += 1
                    }
                    let leaves = UnsafeRawPointer(slots + Int(resultSlot[t])).assumingMemoryBound(to: UInt8.self)
                    if singleValueLeaves && e.accumulation == .float32 {
                        addLeaves(leafValueFloat, tree: t, leaves: leaves, rows: rows, into: sum32)
                    } else if singleValueLeaves {
                        addLeaves(leafValue, tree: t, leaves: leaves, rows: rows, into: sum64)
                    } else {
                        for r in 0..<rows {
                            accumulate(tree: t, ordinal: Int(leaves[r]), sum32: sum32 + r * outputs, sum64: sum64 + r * outputs)
                        }
                    }
                }
            }
            for r in 0..<rows {
                finish(sum32: sum32 + r * outputs, sum64: sum64 + r * outputs, into: margins.baseAddress! + (blockStart + r) * outputs)
            }
            blockStart += rows
        }
    }

    /// Writes the byte columns of one block (row r at byte r of each 64-byte column): one threshold
    /// count per (row, feature), then every column variant and chunk of that feature from it.
    private func fillBins(_ bytes: UnsafeMutablePointer<UInt8>, features: UnsafePointer<Double>, rows: Int) {
        let e = ensemble
        let width = e.featureCount
        let roundToFloat = layout.roundToFloat
        let n = Self.blockRows
        // Per row of the feature at hand: its value for the search, its threshold count, whether
        // it is NaN and whether LightGBM counts it as zero (one scratch block for all four).
        withUnsafeTemporaryAllocation(byteCount: n * (8 + 4 + 2), alignment: 16) { scratch in
            let xs = scratch.baseAddress!.bindMemory(to: Double.self, capacity: n)
            let bins = (scratch.baseAddress! + 8 * n).bindMemory(to: Int32.self, capacity: n)
            let isNaN = (scratch.baseAddress! + 12 * n).bindMemory(to: Bool.self, capacity: 2 * n), isZero = isNaN + n
            plans.withUnsafeBufferPointer { plans in
                variants.withUnsafeBufferPointer { variants in
                    for plan in plans {
                        let feature = Int(plan.feature)
                        for r in 0..<n {
                            let input = ColumnLayout.Input(r < rows ? features[r * width + feature] : 0, roundToFloat: roundToFloat)
                            isNaN[r] = input.isNaN
                            isZero[r] = input.isZero
                            // NaN is binned as 0 (where no variant pins it).
                            xs[r] = input.isNaN ? 0 : input.x
                        }
                        index.counts(feature: feature, xs, n: n, into: bins)
                        for v in Int(plan.variantStart)..<Int(plan.variantEnd) {
                            let variant = variants[v]
                            // The variant's pin, decided once, not per row (a jump table per row
                            // was a tenth of the block path's time).
                            let pinned = variant.kind.pinRule.map { rule in
                                (rows: rule.zero ? isZero : isNaN, byte: UInt8(rule.side == .left ? 0 : 127))
                            }
                            for chunkIndex in 0..<Int(variant.chunks) {
                                let column = UnsafeMutableRawPointer(bytes + (Int(variant.byteColumn) + chunkIndex) * n)
                                let offset = SIMD16<Int32>(repeating: Int32(chunkIndex * Self.chunk))
                                // Sixteen rows at a time: the chunk's byte is the count minus the
                                // chunk's offset, clamped to the chunk.
                                for r in stride(from: 0, to: n, by: 16) {
                                    let counts = UnsafeRawPointer(bins + r).loadUnaligned(as: SIMD16<Int32>.self)
                                    var byte = SIMD16<UInt8>(truncatingIfNeeded: (counts &- offset).clamped(
                                        lowerBound: SIMD16(repeating: 0), upperBound: SIMD16(repeating: Int32(Self.chunk))))
                                    if let pinned {
                                        // Bools are bytes 0 or 1: 0 − b is an all-ones mask where
                                        // pinned (`.!=` and `replace(with:where:)` went lane by
                                        // lane through the stack).
                                        let pins = UnsafeRawPointer(pinned.rows + r).loadUnaligned(as: SIMD16<UInt8>.self)
                                        let mask = SIMD16<UInt8>() &- pins
                                        byte = (byte & ~mask) | (SIMD16(repeating: pinned.byte) & mask)
                                    }
                                    column.storeBytes(of: byte, toByteOffset: r, as: SIMD16<UInt8>.self)
                                }
                            }
                        }
                    }
                }
            }
        }
        for (node, byteColumn, _) in categoricalColumns {
            let feature = Int(e.splitFeature[node])
            for r in 0..<Self.blockRows {
                var x = r < rows ? features[r * width + feature] : 0
                if roundToFloat { x = Double(Float(x)) }
                bytes[byteColumn * Self.blockRows + r] = e.goesLeft(node: node, x: x) ? 0 : 127
            }
        }
    }

}
