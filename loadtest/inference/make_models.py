#!/usr/bin/env python3
"""Trains the benchmark models of docs/performance.md (deterministic) into a work directory:
xgb_300_d6 (XGBoost, 300 trees, depth 6), lgbm_500_l63 (LightGBM, 500 trees, 63 leaves),
xgb_500_d8 (XGBoost, 500 trees, depth 8), all binary on 32 float features with ~5 % NaN,
plus rows.csv (10,000 held-out rows) that every engine scores."""
import os
import sys

import lightgbm as lgb
import numpy as np
import xgboost as xgb

FEATURES = 32


def data(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, FEATURES)).astype(np.float32)
    X[:, :8] = np.round(X[:, :8] * 4) / 4          # some coarse features, many ties
    logits = X[:, 0] * X[:, 1] + np.sin(X[:, 2] * 2) + X[:, 3] ** 2 - 1 + 0.5 * X[:, 4:12].sum(axis=1)
    y = (logits + rng.normal(scale=0.7, size=n) > 0).astype(np.int32)
    X[rng.random(size=X.shape) < 0.05] = np.nan
    return X.astype(np.float64), y


def main(out):
    os.makedirs(out, exist_ok=True)
    X, y = data(120_000, 1)
    Xt, _ = data(10_000, 2)
    names = [f"f{i}" for i in range(FEATURES)]
    d = xgb.DMatrix(X, label=y, feature_names=names, missing=np.nan)
    for trees, depth in [(300, 6), (500, 8)]:
        params = {"objective": "binary:logistic", "max_depth": depth, "eta": 0.05, "seed": 1, "nthread": 2,
                  "tree_method": "hist", "max_bin": 256}
        booster = xgb.train(params, d, num_boost_round=trees)
        booster.save_model(os.path.join(out, f"xgb_{trees}_d{depth}.json"))
    model = lgb.train({"objective": "binary", "num_leaves": 63, "learning_rate": 0.05, "seed": 1, "verbose": -1,
                       "num_threads": 2, "min_data_in_leaf": 20},
                      lgb.Dataset(X, label=y, feature_name=names), num_boost_round=500)
    model.save_model(os.path.join(out, "lgbm_500_l63.txt"))
    with open(os.path.join(out, "rows.csv"), "w") as f:
        f.write(",".join(names) + "\n")
        for row in Xt:
            f.write(",".join("" if np.isnan(v) else repr(float(v)) for v in row) + "\n")
    np.save(os.path.join(out, "rows.npy"), Xt)
    print(f"models and rows in {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/sluice-bench")
