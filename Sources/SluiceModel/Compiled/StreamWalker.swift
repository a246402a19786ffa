/// Single rows through deep, unbalanced trees (LightGBM's leaf-wise growth): eight lanes, each
/// walking a *stream* of trees one after another, instead of eight trees at a time.
///
/// `RowWalker`'s groups of eight trees walk as long as their longest path, and LightGBM's paths
/// vary so much that over a third of its lane steps were spent waiting at a leaf (774.5 group
/// steps per row where the paths need 478.3, `loadtest/inference/group_steps.py`). Here a leaf is not a
/// dead end: its child offset points to the root of the lane's next tree (its column is the
/// always-0 one, so the test never adds 1), and a lane goes on to its next tree with the same
/// step as any other. Lane k walks trees k, k + 8, k + 16, …; the lanes' totals differ far less
/// than single paths do (512.2 steps per row for the longest lane on the benchmark model).
///
/// Each tree sits in a region of `1 << shift` slots (its nodes in cache-line blocks, as in
/// `RowWalker`), a lane's trees in consecutive regions followed by one end region whose only
/// node points to itself. Every step writes the node it is at into the row buffer at its region's
/// index, so once the walk is over that entry holds the tree's leaf (whose key holds the leaf's
/// ordinal), and leaves are reported in tree order afterwards, for sums in the reference's order.
/// The buffer's first entries are the row's column values: lane indices are offset by
/// `bias` regions, so a region's entry comes after the values and one base pointer serves both.
///
/// Measured against the eight-trees-at-a-time walk (`loadtest/compare-builds/run --rounds 5 A B
/// -- model bench --model lgbm_500_l63.txt --input rows.csv --single --seconds 2`, both orders):
/// LightGBM 500 × 63 leaves 0.773× and 0.781× the time per row; XGBoost 300 × depth 6, whose
/// paths are all alike, 0.987× and 0.960× (the store per step costs what the waits saved).
struct StreamWalker: Sendable {
    static let lanes = 8

    private let nodes: [UInt32]
    /// Slot of region 0 in `nodes` (which starts on a cache line).
    private let start: Int
    /// Regions are 256 slots (a constant shift compiles to an immediate; a tree's unused slots
    /// cost address space, not cache).
    static let shift = 8
    static let regionSlots = 1 << shift
    /// Regions before region 0 in the index space: the row buffer's values (columns + 1).
    private let bias: Int
    /// Per lane: the index of its first root (in the offset index space).
    private let laneStarts: [UInt]
    /// Per tree: its region's entry in the row buffer.
    private let treeEntry: [Int32]
    /// Entries of the row buffer: the column values, then one per region.
    let rowBufferCount: Int

    /// Regions cost 1 KB per tree whatever its size, so ensembles of very many trees (a
    /// 100-class model of 1,000 rounds has 100,000) keep the packed layout of `RowWalker`'s
    /// groups instead: at most this many bytes of regions (32,768 trees).
    static let maxRegionBytes = 32 << 20

    /// Nil when a tree does not fit a region, or the regions would exceed `maxRegionBytes`.
    init?(_ e: TreeEnsemble, layout: ColumnLayout, ordinals: [Int], maxRegionBytes: Int = Self.maxRegionBytes) {
        let zero = layout.columns.count
        let regionSlots = Self.regionSlots
        guard zero < 256, e.treeCount > 0, (e.treeCount + Self.lanes) * regionSlots * 4 <= maxRegionBytes else { return nil }

        // Regions: lane 0's trees, its end region, lane 1's trees, …
        var regionTrees: [Int] = []  // tree per region, -1 for an end region
        var laneFirstRegion: [Int] = []
        for lane in 0..<Self.lanes {
            laneFirstRegion.append(regionTrees.count)
            regionTrees += Array(stride(from: lane, to: e.treeCount, by: Self.lanes))
            regionTrees.append(-1)
        }
        let pad = RowWalker.lineSlots  // room to align region 0 on a cache line
        var content = [UInt32](repeating: 0, count: regionTrees.count * regionSlots)
        var treeEntry = [Int32](repeating: 0, count: e.treeCount)
        let bias = zero + 1
        for (region, t) in regionTrees.enumerated() {
            let base = region * regionSlots
            guard t >= 0 else {
                content[base] = UInt32(zero)  // offset 0, the 0 column: stays put
                continue
            }
            treeEntry[t] = Int32(bias + region)
            var slots: [Int] = []
            var position: [Int: Int] = [:]
            let root = RowWalker.layOutTree(e, t, blocked: true, slots: &slots, position: &position)
            guard slots.count <= regionSlots else { return nil }
            if e.splitFeature[slots[root]] < 0 {
                // A single leaf: its jump would be a whole region, one more than the offset holds.
                // A split on the 0 column goes left to it first.
                content[base] = 1 << 8 | UInt32(zero)
                content[base + 1] = UInt32(ordinals[slots[root]]) << 16 | UInt32(regionSlots - 1) << 8 | UInt32(zero)
                continue
            }
            for (p, i) in slots.enumerated() where i >= 0 {
                if e.splitFeature[i] < 0 {
                    // To the next region's root, with a test that never adds 1.
                    content[base + p] = UInt32(ordinals[i]) << 16 | UInt32(regionSlots - p) << 8 | UInt32(zero)
                } else {
                    let offset = position[Int(e.leftChild[i])]! - p
                    content[base + p] = UInt32(layout.nodeRank[i]) << 16 | UInt32(offset) << 8 | UInt32(layout.nodeColumn[i])
                }
            }
        }
        var nodes = [UInt32](repeating: 0, count: content.count + pad)
        let misalignment = nodes.withUnsafeBufferPointer { Int(bitPattern: $0.baseAddress!) % 64 } / 4
        let start = (pad - misalignment) % pad
        nodes.replaceSubrange(start..<start + content.count, with: content)
        self.nodes = nodes
        self.start = start
        self.bias = bias
        self.laneStarts = laneFirstRegion.map { UInt(($0 + bias) << Self.shift) }
        self.treeEntry = treeEntry
        self.rowBufferCount = bias + regionTrees.count
    }

    /// Calls `visit(tree, leafOrdinal)` for every tree, in tree order, after the walk. `row` holds
    /// `rowBufferCount` entries, the first `columns + 1` the row's column values (see
    /// `RowWalker.walk`); the rest are overwritten.
    @inline(__always)
    func walk(row: UnsafeMutablePointer<UInt32>, _ visit: (Int, Int) -> Void) {
        nodes.withUnsafeBufferPointer { nodes in
            // Indexed from the offset index space: region r's slot s is at ((r + bias) << shift) + s.
            // The base lies before the array, so it is made from its address (pointer arithmetic
            // out of an allocation is undefined); every index the walk reads is inside it.
            let n = UnsafePointer<UInt32>(bitPattern: Int(bitPattern: nodes.baseAddress!) + (start - (bias << Self.shift)) * 4)!
            @inline(__always) func step(_ i: inout UInt) -> UInt {
                let node = n[Int(bitPattern: i)]
                row[Int(bitPattern: i &>> UInt(Self.shift))] = node
                let offset = UInt((node &>> 8) & 0xFF)
                i = i &+ offset &+ (row[Int(node & 0xFF)] > node ? 1 : 0)
                return offset
            }
            laneStarts.withUnsafeBufferPointer { lanes in
                var i0 = lanes[0], i1 = lanes[1], i2 = lanes[2], i3 = lanes[3]
                var i4 = lanes[4], i5 = lanes[5], i6 = lanes[6], i7 = lanes[7]
                while true {
                    // Streams are hundreds of steps long: testing for the end every fourth step
                    // costs at most three steps at the end.
                    _ = step(&i0); _ = step(&i1); _ = step(&i2); _ = step(&i3); _ = step(&i4); _ = step(&i5); _ = step(&i6); _ = step(&i7)
                    _ = step(&i0); _ = step(&i1); _ = step(&i2); _ = step(&i3); _ = step(&i4); _ = step(&i5); _ = step(&i6); _ = step(&i7)
                    _ = step(&i0); _ = step(&i1); _ = step(&i2); _ = step(&i3); _ = step(&i4); _ = step(&i5); _ = step(&i6); _ = step(&i7)
                    let moved = step(&i0) &+ step(&i1) &+ step(&i2) &+ step(&i3) &+ step(&i4) &+ step(&i5) &+ step(&i6) &+ step(&i7)
                    if moved == 0 { break }
                }
            }
        }
        treeEntry.withUnsafeBufferPointer { entries in
            for t in 0..<entries.count { visit(t, Int(row[Int(entries[t])] &>> 16)) }
        }
    }
}
