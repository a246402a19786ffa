/// Single-row evaluation (the API path): every tree walked from its root, eight trees at a time.
///
/// Nodes are 8 bytes (`column`, `rank`, `child`) with each node's two children stored side by
/// side, so the next node is `child + (bin > rank)`: no branch depends on the data. A leaf points
/// to itself through a column that always reads 0, so a finished walk stays put while the other
/// seven continue; the group stops when no index moves. Walking eight independent trees at once
/// keeps eight dependent load chains in flight instead of one.
struct RowWalker: Sendable {
    struct Node: Sendable {
        var column: UInt16
        var rank: UInt16
        var child: UInt32
    }

    /// Right-pinned column value: above every rank.
    static let alwaysRight: UInt16 = .max

    let nodes: [Node]
    let roots: [UInt32]
    /// Leaf ordinal (within its tree) of each node; meaningful for leaves only.
    let leafOrdinal: [UInt16]
    /// Index of the column that always reads 0 (leaves loop on it).
    let zeroColumn: Int

    /// Nil when ranks or columns do not fit 16 bits, or a tree has more than 65,536 leaves.
    init?(_ e: TreeEnsemble, layout: ColumnLayout) {
        guard layout.columns.count < Int(UInt16.max), layout.thresholds.allSatisfy({ $0.count < Int(UInt16.max) - 1 }) else { return nil }
        zeroColumn = layout.columns.count
        var nodes: [Node] = []
        var roots: [UInt32] = []
        var leafOrdinal: [UInt16] = []
        for t in 0..<e.treeCount {
            let range = e.nodes(ofTree: t)
            var ordinals: [Int: Int] = [:]
            for i in range where e.splitFeature[i] < 0 { ordinals[i] = ordinals.count }
            guard ordinals.count <= Int(UInt16.max) + 1 else { return nil }
            // Breadth-first placement: a node's children get two consecutive slots.
            let base = nodes.count
            var position: [Int: Int] = [range.lowerBound: base]
            var order = [range.lowerBound]
            var next = base + 1
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
            nodes += [Node](repeating: Node(column: 0, rank: 0, child: 0), count: order.count)
            leafOrdinal += [UInt16](repeating: 0, count: order.count)
            for i in order {
                let p = position[i]!
                if e.splitFeature[i] < 0 {
                    nodes[p] = Node(column: UInt16(zeroColumn), rank: 0, child: UInt32(p))
                    leafOrdinal[p] = UInt16(ordinals[i]!)
                } else {
                    nodes[p] = Node(column: UInt16(layout.nodeColumn[i]), rank: UInt16(layout.nodeRank[i]),
                                    child: UInt32(position[Int(e.leftChild[i])]!))
                }
            }
            roots.append(UInt32(base))
        }
        self.nodes = nodes
        self.roots = roots
        self.leafOrdinal = leafOrdinal
    }

    /// Writes each tree's leaf ordinal for one row whose column values are `values`
    /// (`zeroColumn + 1` entries, the last one 0).
    func leaves(values: UnsafePointer<UInt16>, into ordinals: UnsafeMutablePointer<Int32>) {
        nodes.withUnsafeBufferPointer { nodesBuffer in
        roots.withUnsafeBufferPointer { roots in
        leafOrdinal.withUnsafeBufferPointer { leafOrdinal in
            let n = nodesBuffer.baseAddress!
            @inline(__always) func step(_ i: UInt32) -> UInt32 {
                let node = n[Int(i)]
                return node.child &+ (values[Int(node.column)] > node.rank ? 1 : 0)
            }
            var t = 0
            let count = roots.count
            while t + 8 <= count {
                var i0 = roots[t], i1 = roots[t + 1], i2 = roots[t + 2], i3 = roots[t + 3]
                var i4 = roots[t + 4], i5 = roots[t + 5], i6 = roots[t + 6], i7 = roots[t + 7]
                while true {
                    let j0 = step(i0), j1 = step(i1), j2 = step(i2), j3 = step(i3)
                    let j4 = step(i4), j5 = step(i5), j6 = step(i6), j7 = step(i7)
                    let moved = (j0 ^ i0) | (j1 ^ i1) | (j2 ^ i2) | (j3 ^ i3) | (j4 ^ i4) | (j5 ^ i5) | (j6 ^ i6) | (j7 ^ i7)
                    (i0, i1, i2, i3, i4, i5, i6, i7) = (j0, j1, j2, j3, j4, j5, j6, j7)
                    if moved == 0 { break }
                }
                ordinals[t] = Int32(leafOrdinal[Int(i0)])
                ordinals[t + 1] = Int32(leafOrdinal[Int(i1)])
                ordinals[t + 2] = Int32(leafOrdinal[Int(i2)])
                ordinals[t + 3] = Int32(leafOrdinal[Int(i3)])
                ordinals[t + 4] = Int32(leafOrdinal[Int(i4)])
                ordinals[t + 5] = Int32(leafOrdinal[Int(i5)])
                ordinals[t + 6] = Int32(leafOrdinal[Int(i6)])
                ordinals[t + 7] = Int32(leafOrdinal[Int(i7)])
                t += 8
            }
            while t < count {
                var i = roots[t]
                while true {
                    let j = step(i)
                    if j == i { break }
                    i = j
                }
                ordinals[t] = Int32(leafOrdinal[Int(i)])
                t += 1
            }
        }
        }
        }
    }
}
