#!/usr/bin/env python3
"""Generates the XGBoost parity fixtures of SluiceModelTests.

Writes into Tests/SluiceModelTests/Fixtures/ (or the directory given as an argument):
  xgb_binary.json            binary:logistic, 100 trees, max_depth 6, 12 features, ~5 % NaN in training
  xgb_binary_input.csv       2,000 rows; header = feature names; empty field = missing
  xgb_binary_expected.csv    prob,margin from Booster.inplace_predict (margin: predict_type="margin")
  xgb_regression.json        reg:squarederror, 60 trees, max_depth 5, same features (+ _input/_expected: value)
  xgb_reglogistic.json       reg:logistic, 30 trees, max_depth 4 (+ _input/_expected: value,margin)
  README.md                  which xgboost version wrote each model, and what the files hold

With --legacy, writes xgb<major><minor>_binary.* and xgb<major><minor>_reglogistic.* instead (30 trees,
depth 4): run it under an older XGBoost to cover its JSON dialect, e.g.
  python3 -m venv /tmp/xgb17 && /tmp/xgb17/bin/pip install xgboost==1.7.6 "numpy<2"
  /tmp/xgb17/bin/python scripts/models/make_xgboost_fixture.py --legacy

Input rows include NaN, values exactly equal to split thresholds taken from the model, the float32
neighbours of thresholds, and doubles that only round to a threshold when converted to float32 (these
catch a predictor that compares in float64 or uses <= instead of <).

Deterministic: fixed seeds, single-threaded training. Needs `pip install xgboost numpy`.
Run from anywhere: python3 scripts/models/make_xgboost_fixture.py
"""
import csv
import json
import os
import sys

try:
    import numpy as np
    import xgboost as xgb
except ImportError:  # pragma: no cover
    sys.exit("needs xgboost and numpy: python3 -m pip install xgboost numpy")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
OUT = ARGS[0] if ARGS else os.path.join(ROOT, "Tests", "SluiceModelTests", "Fixtures")

FEATURES = [
    "amount", "amount_log", "txn_count_1h", "txn_count_24h", "avg_amount_7d", "merchant_risk",
    "account_age_days", "distance_km", "hour_of_day", "is_foreign", "device_score", "velocity_ratio",
]
NF = len(FEATURES)
NAN_RATE = 0.05


def make_features(rng, n):
    """Synthetic transaction-like features, float64, rounded so the CSVs stay small."""
    x = np.empty((n, NF))
    amount = rng.lognormal(3.5, 1.2, n)
    x[:, 0] = np.round(amount, 2)
    x[:, 1] = np.round(np.log1p(amount) + rng.normal(0, 0.05, n), 4)
    x[:, 2] = rng.poisson(1.5, n)
    x[:, 3] = x[:, 2] + rng.poisson(6, n)
    x[:, 4] = np.round(rng.lognormal(3.4, 0.8, n), 2)
    x[:, 5] = np.round(rng.beta(2, 5, n), 4)
    x[:, 6] = rng.integers(0, 3650, n)
    x[:, 7] = np.round(rng.exponential(40, n), 3)
    x[:, 8] = rng.integers(0, 24, n)
    x[:, 9] = (rng.random(n) < 0.15).astype(float)
    x[:, 10] = np.round(rng.normal(0, 1, n), 4)
    x[:, 11] = np.round(amount / x[:, 4], 4)
    return x


def make_binary_label(rng, x):
    z = (
        -3.0
        + 0.9 * (x[:, 1] - 3.5)
        + 0.35 * x[:, 2]
        + 3.0 * x[:, 5]
        - 0.0006 * x[:, 6]
        + 0.01 * x[:, 7]
        + 0.8 * x[:, 9]
        + 0.6 * np.where((x[:, 8] < 5) | (x[:, 8] > 22), 1.0, 0.0)
        + 0.5 * x[:, 10]
        + 0.4 * np.log1p(x[:, 11])
    )
    return (rng.random(len(z)) < 1.0 / (1.0 + np.exp(-z))).astype(int)


def make_regression_target(rng, x):
    return (
        2.0 * x[:, 1]
        + 5.0 * x[:, 5] * x[:, 9]
        + 0.02 * x[:, 3]
        + np.sin(x[:, 8] / 24.0 * 2 * np.pi)
        + 0.3 * x[:, 10]
        + rng.normal(0, 0.3, len(x))
    )


def with_missing(rng, x):
    x = x.copy()
    x[rng.random(x.shape) < NAN_RATE] = np.nan
    return x


def split_nodes(booster):
    """(feature index, float32 threshold) for every split node of the model."""
    model = json.loads(booster.save_raw("json"))
    out = []
    for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
        for left, feat, cond in zip(tree["left_children"], tree["split_indices"], tree["split_conditions"]):
            if left != -1:
                out.append((feat, np.float32(cond)))
    return out


def plant_thresholds(rng, x, splits):
    """Plants split thresholds (and their float32 neighbours) into the evaluation rows."""
    x = x.copy()
    n = len(x)
    for row in range(n):
        if row % 10 >= 4:  # 40 % of the rows get plants
            continue
        for _ in range(1 + int(rng.integers(0, 3))):
            feat, thr = splits[int(rng.integers(0, len(splits)))]
            kind = int(rng.integers(0, 4))
            if kind == 0 or kind == 1:
                value = float(thr)  # exactly the threshold: must go right
            elif kind == 2:
                value = float(np.nextafter(thr, np.float32(-np.inf)))  # float32 neighbour below: left
            else:
                # A double just below the threshold that rounds to it in float32: XGBoost sends it right,
                # a float64 comparison would send it left.
                below = float(np.nextafter(thr, np.float32(-np.inf)))
                value = float(thr) - (float(thr) - below) / 8.0
                assert np.float32(value) == thr and value < float(thr)
            x[row, feat] = value
    return x


def fmt(v):
    """Shortest text that reads back as the same double; empty for missing."""
    return "" if np.isnan(v) else repr(float(v))


def write_input(path, x):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(FEATURES)
        for row in x:
            w.writerow([fmt(v) for v in row])
    # The CSV must hold exactly the matrix that was scored.
    back = np.genfromtxt(path, delimiter=",", skip_header=1, missing_values="", filling_values=np.nan)
    assert back.shape == x.shape and np.array_equal(np.isnan(back), np.isnan(x))
    assert np.array_equal(np.nan_to_num(back, nan=0.0), np.nan_to_num(x, nan=0.0)), path


def write_expected(path, header, columns):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for values in zip(*columns):
            # The outputs are float32; repr of the float64 holding them is exact and round-trips.
            w.writerow([repr(float(v)) for v in values])


def train(params, x, y, rounds):
    dtrain = xgb.DMatrix(x, label=y, feature_names=FEATURES, missing=np.nan)
    base = {"tree_method": "hist", "nthread": 1, "seed": 7, "eta": 0.1, "subsample": 0.9,
            "colsample_bytree": 0.9}
    base.update(params)
    return xgb.train(base, dtrain, num_boost_round=rounds)


def make_case(rng, prefix, objective, max_depth, rounds, eval_rows):
    """Trains one model and writes <prefix>.json, <prefix>_input.csv and <prefix>_expected.csv."""
    x_train = make_features(rng, 5000)
    if objective == "binary:logistic":
        y_train = make_binary_label(rng, x_train)
    elif objective == "reg:logistic":
        y_train = 1.0 / (1.0 + np.exp(-(make_regression_target(rng, x_train) - 7.5)))
    else:
        y_train = make_regression_target(rng, x_train)
    booster = train({"objective": objective, "max_depth": max_depth, "min_child_weight": 2},
                    with_missing(rng, x_train), y_train, rounds)
    booster.save_model(os.path.join(OUT, prefix + ".json"))
    x_eval = plant_thresholds(rng, with_missing(rng, make_features(rng, eval_rows)), split_nodes(booster))
    write_input(os.path.join(OUT, prefix + "_input.csv"), x_eval)
    output = booster.inplace_predict(x_eval, missing=np.nan)
    margin = booster.inplace_predict(x_eval, missing=np.nan, predict_type="margin")
    if objective == "binary:logistic":
        write_expected(os.path.join(OUT, prefix + "_expected.csv"), ["prob", "margin"], [output, margin])
    elif objective == "reg:logistic":
        write_expected(os.path.join(OUT, prefix + "_expected.csv"), ["value", "margin"], [output, margin])
    else:
        write_expected(os.path.join(OUT, prefix + "_expected.csv"), ["value"], [output])


def write_readme():
    lines = [
        "# SluiceModelTests fixtures",
        "",
        "Generated by `scripts/models/make_xgboost_fixture.py` (deterministic seeds); do not edit by hand.",
        "Each `<name>.json` is `Booster.save_model` output; `<name>_input.csv` holds rows to score (header =",
        "feature names, empty field = missing) including NaN, values exactly equal to split thresholds, their",
        "float32 neighbours below, and doubles that round to a threshold only in float32; `<name>_expected.csv`",
        "holds `Booster.inplace_predict` on the same rows (`prob` or `value`, and `margin` from",
        "`predict_type=\"margin\"`), float32 results written exactly.",
        "",
        "| model | objective | trees x max depth | written by |",
        "| --- | --- | --- | --- |",
    ]
    for name in sorted(os.listdir(OUT)):
        if not name.endswith(".json"):
            continue
        model = json.load(open(os.path.join(OUT, name)))
        learner = model["learner"]
        trees = learner["gradient_booster"]["model"]["trees"]
        version = ".".join(str(v) for v in model["version"])
        lines.append(f"| `{name}` | {learner['objective']['name']} | {len(trees)} x {max(map(tree_depth, trees))} "
                     f"| xgboost {version} |")
    lines += ["", f"Last run: xgboost {xgb.__version__}, numpy {np.__version__}.", ""]
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("\n".join(lines))


def tree_depth(tree):
    left, right = tree["left_children"], tree["right_children"]

    def depth(node):
        return 0 if left[node] == -1 else 1 + max(depth(left[node]), depth(right[node]))

    return depth(0)


def main():
    os.makedirs(OUT, exist_ok=True)
    if "--legacy" in sys.argv:
        # Small models written by an older XGBoost (run this under e.g. xgboost==1.7.6) to cover its
        # JSON dialect (plain base_score, 0.5 default for logistic objectives).
        major, minor = xgb.__version__.split(".")[:2]
        prefix = f"xgb{major}{minor}_"
        rng = np.random.default_rng(17)
        make_case(rng, prefix + "binary", "binary:logistic", 4, 30, 400)
        make_case(rng, prefix + "reglogistic", "reg:logistic", 4, 30, 400)
    else:
        rng = np.random.default_rng(20240611)
        make_case(rng, "xgb_binary", "binary:logistic", 6, 100, 2000)
        make_case(rng, "xgb_regression", "reg:squarederror", 5, 60, 2000)
        make_case(rng, "xgb_reglogistic", "reg:logistic", 4, 30, 400)
    write_readme()
    print(f"xgboost {xgb.__version__}: wrote fixtures to {OUT}")


if __name__ == "__main__":
    main()
