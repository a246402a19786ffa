#!/usr/bin/env python3
"""Group steps of the single-row walker (Sources/SluiceModel/Compiled/RowWalker.swift), estimated
from a LightGBM model's own leaf depths (docs/performance.md, inference, session 10). Not a test.

    python3 loadtest/inference/group_steps.py MODEL.txt ROWS.npy [--rows 1000]

For each row, every tree's path length comes from LightGBM's `pred_leaf` and the leaf depths in
`dump_model()`. A group of eight trees walks until its longest path ends, testing for the end
every second step (so it takes the path + 1 steps, rounded up to even). Prints the mean group
steps per row for: trees in model order; sorted by expected path (training counts), by depth,
by the rows' own mean path; the ideal (no lane waits for another); the straggler scheme with
a budget of B steps (unfinished walks queued and walked eight at a time); and the stream walk
(eight lanes each walking every eighth tree, whole, and in two halves).
"""
import argparse

import lightgbm as lgb
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("rows")
    ap.add_argument("--rows", dest="count", type=int, default=1000)
    args = ap.parse_args()
    booster = lgb.Booster(model_file=args.model)
    rows = np.load(args.rows)[: args.count]
    leaves = booster.predict(rows, pred_leaf=True)
    depths, counts = [], []
    for tree in booster.dump_model()["tree_info"]:
        depth, count, stack = {}, {}, [(tree["tree_structure"], 0)]
        while stack:
            node, d = stack.pop()
            if "leaf_index" in node:
                depth[node["leaf_index"]] = d
                count[node["leaf_index"]] = node.get("leaf_count", 0)
            else:
                stack += [(node["left_child"], d + 1), (node["right_child"], d + 1)]
        depths.append(depth)
        counts.append(count)
    trees = len(depths)
    paths = np.array([[depths[t][leaves[r, t]] for t in range(trees)] for r in range(len(rows))])
    groups = trees // 8

    def steps(longest):
        s = longest + 1
        return s + s % 2

    def ordered(order):
        total = sum(steps(paths[:, order[g * 8:g * 8 + 8]].max(axis=1)).mean() for g in range(groups))
        return total + (paths[:, order[groups * 8:]] + 1).sum(axis=1).mean() / 8

    def stragglers(budget):
        per_row = []
        for r in range(len(rows)):
            total, queued = 0, []
            for g in range(groups):
                group = paths[r, g * 8:g * 8 + 8]
                if steps(group.max()) <= budget:
                    total += steps(group.max())
                else:
                    total += budget
                    queued += [p - budget for p in group if p > budget]
            total += sum(steps(max(queued[k:k + 8])) for k in range(0, len(queued), 8))
            per_row.append(total)
        return np.mean(per_row)

    model_order = list(range(trees))
    expected = [sum(depths[t][l] * counts[t][l] for l in depths[t]) / max(1, sum(counts[t].values())) for t in model_order]
    print(f"mean path {paths.mean():.2f} steps, mean depth {np.mean([max(d.values()) for d in depths]):.2f}")
    print(f"model order: {ordered(model_order):.1f} group steps per row")
    print(f"sorted by expected path: {ordered(sorted(model_order, key=lambda t: expected[t])):.1f}")
    print(f"sorted by depth: {ordered(sorted(model_order, key=lambda t: max(depths[t].values()))):.1f}")
    print(f"sorted by the rows' mean path: {ordered(sorted(model_order, key=lambda t: paths[:, t].mean())):.1f}")
    print(f"ideal (path + 1 per tree, / 8): {(paths + 1).sum(axis=1).mean() / 8:.1f}")
    for budget in (6, 8, 10, 12):
        print(f"stragglers, budget {budget}: {stragglers(budget):.1f}")

    def streams(chunks):
        """The stream walk (StreamWalker.swift): lane k walks trees k, k + 8, … one after another,
        each tree its path + 1 steps (the step at the leaf jumps to the lane's next root); the walk
        lasts as long as its longest lane, once per chunk of the trees walked in turn."""
        bounds = [round(trees * c / chunks / 8) * 8 for c in range(chunks + 1)]
        return np.mean([sum(max((paths[r, bounds[c] + k:bounds[c + 1]:8] + 1).sum() for k in range(8)) for c in range(chunks))
                        for r in range(len(rows))])

    print(f"streams: {streams(1):.1f} steps of the longest lane per row "
          f"(all lanes' steps / 8: {(paths + 1).sum(axis=1).mean() / 8:.1f})")
    print(f"streams in two halves, walked in turn: {streams(2):.1f}")


if __name__ == "__main__":
    main()
