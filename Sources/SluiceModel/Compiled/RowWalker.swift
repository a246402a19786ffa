import CPrefetch

/// Single-row evaluation (the API path): every tree walked from its root. When every tree fits a
/// 256-slot region (and there are fewer than 256 columns), eight lanes each walk a stream of trees
/// (`StreamWalker`, the format `compactStreams`). Otherwise eight trees at a time (twelve for the
/// layouts that wait on L2, see `twelveLanes`), as described here; the stream walk shares the
/// node encoding and the cache-line blocks.
///
/// The row's column values are stored as `bin << 16` and a node's test key as `rank << 16 | low`,
/// so `value > key` is exactly `bin > rank` whatever the low half holds. Each node's two children
/// sit side by side, so the next node is `firstChild + (value > key)`: no branch depends on the
/// data. A leaf reads a column that is always 0 and points to itself, so a finished walk stays put
/// while the other seven continue; the group stops when none moves. Walking eight independent
/// trees at once keeps eight dependent load chains in flight instead of one. A leaf's key holds
/// its ordinal in the rank half (0 is never above it), so no side table is read at the end.
///
/// Two node formats:
/// - **compact** (4 bytes, `rank << 16 | childOffset << 8 | column`): used when there are fewer
///   than 256 columns and every child is less than 256 slots after its parent. Half the cache
///   footprint of the wide format and fewer instructions per step (the whole step is one node
///   load, one column load, a compare and an add-with-carry); a lane is at a leaf exactly when
///   its node's offset is 0. Trees are laid out in cache-line blocks when the offsets allow it
///   (see `layOut`), breadth first otherwise.
/// - **wide** (8 bytes: key with a 16-bit column, absolute first child): everything else.
///
/// Measured on the benchmark models (one process, rounds alternating with the previous walker:
/// 8-byte nodes, a leaf-ordinal table, leaf sums after the walk): LightGBM 500 × 63 leaves
/// 8.0 → 5.6 µs/row, XGBoost 300 × depth 6 3.5 → 2.7, XGBoost 500 × depth 8 8.7 → 6.4 (→ 5.6
/// with twelve lanes).
struct RowWalker: Sendable {
    struct WideNode: Sendable {
        var key: UInt32  // rank << 16 | column
        var child: UInt32
    }

    /// The value of a column pinned right: above every rank.
    static let alwaysRight: UInt32 = 0xFFFF_0000

    private let compact: [UInt32]
    private let wide: [WideNode]
    private let roots: [UInt32]
    /// Twelve trees at a time instead of eight: for layouts whose walks wait on L2 (breadth-first
    /// compact, wide), where more independent chains help; cache-line blocks hit L1 mostly and
    /// gain nothing from more (measured: XGBoost 500 × depth 8, breadth first, −11 %; LightGBM
    /// 500 × 63 leaves, blocked, within noise either way).
    private let twelveLanes: Bool
    /// Eight-lane groups test for the end every second step: a step past a leaf changes nothing,
    /// so only the second step's moves are summed. For deep trees only (mean depth 10 or more):
    /// a group's walk is then long, the skipped tests save more than the extra step a walk may
    /// take (measured, single rows: LightGBM 500 x 63 leaves, mean depth 14, 0.89 / 0.95 / 0.95x
    /// ns/row; XGBoost depth 6, where every walk is 6 steps and so takes 8 instead of 7, 1.06x).
    let twoStepsPerTest: Bool

    /// Slots per 64-byte cache line (compact format).
    static let lineSlots = 16

    enum Format: Sendable, Equatable {
        case compactStreams, compactBlocks, compactBreadthFirst, wide
    }

    /// The stream walk (`StreamWalker`), which then holds the nodes; nil for the other formats.
    private let streams: StreamWalker?
    /// Entries of the row buffer `walk` takes: the column values and a final 0, then the stream
    /// walk's per-tree entries.
    let rowBufferCount: Int

    /// The node format and layout chosen.
    let format: Format

    /// Nil when ranks or columns do not fit 16 bits, or a tree has more than 65,536 leaves.
    /// `format` forces a node format (tests); by default the first that fits among compact
    /// streams, compact in blocks, compact breadth first, and wide.
    init?(_ e: TreeEnsemble, layout: ColumnLayout, format: Format? = nil) {
        let zero = layout.columns.count
        guard zero < Int(UInt16.max), layout.thresholds.allSatisfy({ $0.count < Int(UInt16.max) - 1 }) else { return nil }
        let ordinals = Self.leafOrdinals(e)
        guard ordinals.allSatisfy({ $0 <= Int(UInt16.max) }) else { return nil }
        twoStepsPerTest = e.treeCount > 0 && (0..<e.treeCount).reduce(0) { $0 + e.depth(ofTree: $1) } >= 10 * e.treeCount
        if format == nil || format == .compactStreams {
            if let streams = StreamWalker(e, layout: layout, ordinals: ordinals) {
                self.streams = streams
                self.rowBufferCount = streams.rowBufferCount
                self.format = .compactStreams
                compact = []
                wide = []
                roots = []
                twelveLanes = false
                return
            }
            if format != nil { return nil }
        }
        streams = nil
        rowBufferCount = zero + 1
        for candidate in [Format.compactBlocks, .compactBreadthFirst] where (format ?? candidate) == candidate && zero < 256 {
            if let (nodes, roots) = Self.compactNodes(e, layout: layout, ordinals: ordinals, blocked: candidate == .compactBlocks) {
                compact = nodes
                wide = []
                self.roots = roots
                self.format = candidate
                twelveLanes = candidate != .compactBlocks
                return
            }
        }
        if let format, format != .wide { return nil }
        self.format = .wide
        twelveLanes = true
        let (slots, position, roots) = Self.layOut(e, blocked: false)
        var wide = [WideNode](repeating: WideNode(key: 0, child: 0), count: slots.count)
        for (p, i) in slots.enumerated() where i >= 0 {
            wide[p] = e.splitFeature[i] < 0
                ? WideNode(key: UInt32(ordinals[i]) << 16 | UInt32(zero), child: UInt32(p))
                : WideNode(key: UInt32(layout.nodeRank[i]) << 16 | UInt32(layout.nodeColumn[i]), child: UInt32(position[Int(e.leftChild[i])]!))
        }
        self.compact = []
        self.wide = wide
        self.roots = roots.map { UInt32($0) }
    }

    private static func compactNodes(_ e: TreeEnsemble, layout: ColumnLayout, ordinals: [Int], blocked: Bool) -> ([UInt32], [UInt32])? {
        let (slots, position, roots) = layOut(e, blocked: blocked)
        var content = [UInt32](repeating: 0, count: slots.count)
        for (p, i) in slots.enumerated() where i >= 0 {
            if e.splitFeature[i] < 0 {
                content[p] = UInt32(ordinals[i]) << 16 | UInt32(layout.columns.count)
            } else {
                let offset = position[Int(e.leftChild[i])]! - p
                guard offset > 0 && offset < 256 else { return nil }
                content[p] = UInt32(layout.nodeRank[i]) << 16 | UInt32(offset) << 8 | UInt32(layout.nodeColumn[i])
            }
        }
        // Slot 0 of `content` goes to a 64-byte boundary so blocks match cache lines (the buffer of
        // a `let` array never moves).
        var nodes = [UInt32](repeating: 0, count: content.count + lineSlots)
        let misalignment = nodes.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress!) % 64 } / 4
        let pad = (lineSlots - misalignment) % lineSlots
        nodes.replaceSubrange(pad..<pad + content.count, with: content)
        return (nodes, roots.map { UInt32($0 + pad) })
    }

    /// Leaf ordinal by node (leaves counted in node order within each tree); -1 for splits.
    static func leafOrdinals(_ e: TreeEnsemble) -> [Int] {
        var ordinals = [Int](repeating: -1, count: e.nodeCount)
        for t in 0..<e.treeCount {
            var k = 0
            for i in e.nodes(ofTree: t) where e.splitFeature[i] < 0 {
                ordinals[i] = k
                k += 1
            }
        }
        return ordinals
    }

    /// Slot of every node, all trees back to back (-1 marks padding), with each split's children in
    /// two consecutive slots after it.
    ///
    /// Breadth first, or in **blocks** of at most one cache line: a unit (the root, or a pair of
    /// siblings) and the pairs below it, breadth first, while they fit, the pairs that do not fit
    /// starting later blocks; a block never crosses a line. A walk then touches a new line only when
    /// it leaves a block (up to 7 levels of a deep, narrow LightGBM tree fit in one), and all but
    /// the first node of a block come from L1. Blocks can put children more than 255 slots after
    /// their parent in big trees; the caller then falls back to breadth first.
    private static func layOut(_ e: TreeEnsemble, blocked: Bool) -> (slots: [Int], position: [Int: Int], roots: [Int]) {
        var slots: [Int] = []
        var position: [Int: Int] = [:]
        var roots: [Int] = []
        for t in 0..<e.treeCount {
            roots.append(layOutTree(e, t, blocked: blocked, slots: &slots, position: &position))
        }
        return (slots, position, roots)
    }

    /// Appends tree `t`'s nodes to `slots` (see `layOut`); returns its root's slot.
    static func layOutTree(_ e: TreeEnsemble, _ t: Int, blocked: Bool, slots: inout [Int], position: inout [Int: Int]) -> Int {
        let root = e.nodes(ofTree: t).lowerBound
        if blocked {
            var pending: [[Int]] = [[root]]
            var p = 0
            while p < pending.count {
                var block = [pending[p]]
                p += 1
                var used = block[0].count
                var k = 0
                while k < block.count {
                    for i in block[k] where e.splitFeature[i] >= 0 {
                        let pair = [Int(e.leftChild[i]), Int(e.rightChild[i])]
                        if used + 2 <= lineSlots {
                            block.append(pair)
                            used += 2
                        } else {
                            pending.append(pair)
                        }
                    }
                    k += 1
                }
                let lineLeft = lineSlots - slots.count % lineSlots
                if used > lineLeft { slots += [Int](repeating: -1, count: lineLeft) }
                for unit in block {
                    for i in unit {
                        position[i] = slots.count
                        slots.append(i)
                    }
                }
            }
        } else {
            var order = [root]
            position[root] = slots.count
            var next = slots.count + 1
            var k = 0
            while k < order.count {
                let i = order[k]
                k += 1
                if e.splitFeature[i] >= 0 {
                    position[Int(e.leftChild[i])] = next
                    position[Int(e.rightChild[i])] = next + 1
                    next += 2
                    order.append(Int(e.leftChild[i]))
                    order.append(Int(e.rightChild[i]))
                }
            }
            slots += [Int](repeating: -1, count: order.count)
            for i in order { slots[position[i]!] = i }
        }
        return position[root]!
    }

    /// Calls `visit(tree, leafOrdinal)` for every tree, in tree order (callers add leaf values as
    /// they come, so the additions overlap the walk and keep the reference's order). `row` has
    /// `rowBufferCount` entries, the first one per column (`bin << 16`, 0 for "always left",
    /// `alwaysRight`) plus a final 0; the walk may overwrite the rest.
    @inline(__always)
    func walk(row: UnsafeMutablePointer<UInt32>, _ visit: (Int, Int) -> Void) {
        let values = UnsafePointer(row)
        if let streams {
            streams.walk(row: row, visit)
        } else if !compact.isEmpty {
            compact.withUnsafeBufferPointer { nodes in
                let n = nodes.baseAddress!
                let prefetchNode = { (i: UInt) in sluice_prefetch(n + Int(bitPattern: i)) }
                // Returns the node's child offset: 0 exactly at a leaf.
                walkGroups(visit, prefetchNode: prefetchNode) { (i: inout UInt) -> UInt in
                    let node = n[Int(bitPattern: i)]
                    let offset = UInt((node &>> 8) & 0xFF)
                    i = i &+ offset &+ (values[Int(node & 0xFF)] > node ? 1 : 0)
                    return offset
                } leaf: { Int(n[Int(bitPattern: $0)] &>> 16) }
            }
        } else {
            wide.withUnsafeBufferPointer { nodes in
                let n = nodes.baseAddress!
                // Returns how far the lane moved (children come after their parent): 0 at a leaf.
                walkGroups(visit, prefetchNode: { _ in }) { (i: inout UInt) -> UInt in
                    let node = n[Int(bitPattern: i)]
                    let next = UInt(node.child) &+ (values[Int(node.key & 0xFFFF)] > node.key ? 1 : 0)
                    defer { i = next }
                    return next &- i
                } leaf: { Int(n[Int(bitPattern: $0)].key &>> 16) }
            }
        }
    }

    /// Lane indices are 64-bit: they index memory directly, where 32-bit ones cost a zero-extending
    /// copy per step (measured −2 to −7 % ns/row on the three benchmark models).
    @inline(__always)
    private func walkGroups(_ visit: (Int, Int) -> Void, prefetchNode: (UInt) -> Void, step: (inout UInt) -> UInt, leaf: (UInt) -> Int) {
        roots.withUnsafeBufferPointer { roots in
            var t = 0
            let count = roots.count
            if twelveLanes {
                while t + 12 <= count {
                    var i0 = UInt(roots[t]), i1 = UInt(roots[t + 1]), i2 = UInt(roots[t + 2]), i3 = UInt(roots[t + 3])
                    var i4 = UInt(roots[t + 4]), i5 = UInt(roots[t + 5]), i6 = UInt(roots[t + 6]), i7 = UInt(roots[t + 7])
                    var i8 = UInt(roots[t + 8]), i9 = UInt(roots[t + 9]), i10 = UInt(roots[t + 10]), i11 = UInt(roots[t + 11])
                    while true {
                        let moved = step(&i0) &+ step(&i1) &+ step(&i2) &+ step(&i3) &+ step(&i4) &+ step(&i5)
                            &+ step(&i6) &+ step(&i7) &+ step(&i8) &+ step(&i9) &+ step(&i10) &+ step(&i11)
                        if moved == 0 { break }
                    }
                    visit(t, leaf(i0)); visit(t + 1, leaf(i1)); visit(t + 2, leaf(i2)); visit(t + 3, leaf(i3))
                    visit(t + 4, leaf(i4)); visit(t + 5, leaf(i5)); visit(t + 6, leaf(i6)); visit(t + 7, leaf(i7))
                    visit(t + 8, leaf(i8)); visit(t + 9, leaf(i9)); visit(t + 10, leaf(i10)); visit(t + 11, leaf(i11))
                    t += 12
                }
            }
            while t + 8 <= count {
                // The next group's root nodes: each walk's first load otherwise waits on L2 (the
                // nodes of 500 trees do not fit L1), while this group's walk hides the fetch.
                // Measured on LightGBM 500 x 63 leaves, single rows: 0.91x and 0.98x ns/row
                // (alternating rounds); two groups ahead or a second line per root gained nothing.
                if t + 16 <= count {
                    for k in t + 8..<t + 16 { prefetchNode(UInt(roots[k])) }
                }
                var i0 = UInt(roots[t]), i1 = UInt(roots[t + 1]), i2 = UInt(roots[t + 2]), i3 = UInt(roots[t + 3])
                var i4 = UInt(roots[t + 4]), i5 = UInt(roots[t + 5]), i6 = UInt(roots[t + 6]), i7 = UInt(roots[t + 7])
                while true {
                    if twoStepsPerTest {
                        _ = step(&i0); _ = step(&i1); _ = step(&i2); _ = step(&i3); _ = step(&i4); _ = step(&i5); _ = step(&i6); _ = step(&i7)
                    }
                    // One test for the group: a sum of the (non-negative) moves. An OR of `next ^ i`
                    // per lane made LLVM emit eight data-dependent branches instead.
                    let moved = step(&i0) &+ step(&i1) &+ step(&i2) &+ step(&i3) &+ step(&i4) &+ step(&i5) &+ step(&i6) &+ step(&i7)
                    if moved == 0 { break }
                }
                visit(t, leaf(i0)); visit(t + 1, leaf(i1)); visit(t + 2, leaf(i2)); visit(t + 3, leaf(i3))
                visit(t + 4, leaf(i4)); visit(t + 5, leaf(i5)); visit(t + 6, leaf(i6)); visit(t + 7, leaf(i7))
                t += 8
            }
            while t < count {
                var i = UInt(roots[t])
                while step(&i) != 0 {}
                visit(t, leaf(i))
                t += 1
            }
        }
    }
}
