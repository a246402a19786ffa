"""Helpers shared by the fixture scripts of SluiceModelTests (make_xgboost_fixture.py,
make_tree_fixtures.py, make_onnx_fixtures.py): where the fixtures go, the synthetic transaction data
of the XGBoost and ONNX fixtures, missing values, float32 threshold planting, and the CSV and
Markdown writers.

Not a script: the fixture scripts import it from their own directory. Keep it importable by the
older Python / numpy that `make_xgboost_fixture.py --legacy` runs under (e.g. xgboost 1.7.6, numpy<2).
"""
import csv
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAN_RATE = 0.05


def output_dir():
    """The directory given as the first non-option argument, else Tests/SluiceModelTests/Fixtures."""
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    return args[0] if args else os.path.join(ROOT, "Tests", "SluiceModelTests", "Fixtures")


# ---------------------------------------------------------------------------------------------
# Synthetic transactions (the 12 features of the XGBoost and ONNX fixtures)

TRANSACTION_FEATURES = [
    "amount", "amount_log", "txn_count_1h", "txn_count_24h", "avg_amount_7d", "merchant_risk",
    "account_age_days", "distance_km", "hour_of_day", "is_foreign", "device_score", "velocity_ratio",
]


def make_transaction_features(rng, n):
    """Synthetic transaction-like features, float64, rounded so the CSVs stay small."""
    x = np.empty((n, len(TRANSACTION_FEATURES)))
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


def transaction_risk(x):
    """The log-odds of fraud of make_transaction_features rows, without noise."""
    return (
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


def transaction_regression_target(rng, x):
    """A continuous target for make_transaction_features rows (with noise)."""
    return (
        2.0 * x[:, 1]
        + 5.0 * x[:, 5] * x[:, 9]
        + 0.02 * x[:, 3]
        + np.sin(x[:, 8] / 24.0 * 2 * np.pi)
        + 0.3 * x[:, 10]
        + rng.normal(0, 0.3, len(x))
    )


def with_missing(rng, x):
    """A copy of x with NAN_RATE of the values replaced by NaN."""
    x = x.copy()
    x[rng.random(x.shape) < NAN_RATE] = np.nan
    return x


# ---------------------------------------------------------------------------------------------
# float32 thresholds

def xgb_split_thresholds(booster, numeric_only=False):
    """(feature index, float32 threshold) for every split node of an XGBoost model; with numeric_only,
    for the numerical splits only (split_type 0)."""
    model = json.loads(booster.save_raw("json"))
    out = []
    for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
        kinds = tree["split_type"] if numeric_only else [0] * len(tree["left_children"])
        for left, feat, cond, kind in zip(tree["left_children"], tree["split_indices"], tree["split_conditions"],
                                          kinds):
            if left != -1 and kind == 0:
                out.append((feat, np.float32(cond)))
    return out


def float32_below(thr):
    """The float32 neighbour below the float32 `thr`, as a double."""
    return float(np.nextafter(np.float32(thr), np.float32(-np.inf)))


def float32_above(thr):
    """The float32 neighbour above the float32 `thr`, as a double."""
    return float(np.nextafter(np.float32(thr), np.float32(np.inf)))


def rounds_up_to(thr):
    """A double just below the float32 `thr` (1/8 float32 step) that rounds to `thr` in float32: a
    predictor comparing in float32 sends it right, a float64 comparison would send it left."""
    thr = np.float32(thr)
    value = float(thr) - (float(thr) - float32_below(thr)) / 8.0
    assert np.float32(value) == thr and value < float(thr)
    return value


def float32_plant_values(thr):
    """Values to plant at a float32 split threshold, to draw from uniformly: the threshold itself (twice:
    it must go right), its float32 neighbour below (left) and a double that rounds up to it (right)."""
    thr = np.float32(thr)
    return [float(thr), float(thr), float32_below(thr), rounds_up_to(thr)]


# ---------------------------------------------------------------------------------------------
# Files

def fmt(v):
    """Shortest text that reads back as the same double; empty for missing."""
    return "" if np.isnan(v) else repr(float(v))


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow(row)


def write_input(path, header, x, signed_zeros=False):
    """Writes the rows to score (header = feature names, empty field = missing) and checks that the CSV
    holds exactly the matrix that was scored (with signed_zeros, the signs of zeros too)."""
    write_csv(path, header, ([fmt(v) for v in row] for row in x))
    if signed_zeros:
        with open(path) as f:
            next(f)
            back = np.array([[float(v) if v else np.nan for v in line.rstrip("\n").split(",")] for line in f])
        assert back.shape == x.shape and np.array_equal(np.isnan(back), np.isnan(x)), path
        same = np.isnan(x) | ((back == x) & (np.signbit(back) == np.signbit(x)))
        assert same.all(), path
    else:
        back = np.genfromtxt(path, delimiter=",", skip_header=1, missing_values="", filling_values=np.nan)
        assert back.shape == x.shape and np.array_equal(np.isnan(back), np.isnan(x))
        assert np.array_equal(np.nan_to_num(back, nan=0.0), np.nan_to_num(x, nan=0.0)), path


def expected_cell(v):
    """Booleans as 0/1; numbers as the repr of their double (exact and round-tripping, float32 results
    included)."""
    return str(int(v)) if isinstance(v, (bool, np.bool_)) else repr(float(v))


def write_expected(path, header, columns):
    """Writes one row per position of the equally long `columns`."""
    write_csv(path, header, ([expected_cell(v) for v in values] for values in zip(*columns)))


def markdown_row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown_table(header, rows):
    """Lines of a Markdown table."""
    return [markdown_row(header), markdown_row(["---"] * len(header))] + [markdown_row(r) for r in rows]


def last_run(versions):
    """'Last run: name version, ...' for (name, version) pairs."""
    return "Last run: " + ", ".join(f"{name} {version}" for name, version in versions) + "."


def write_markdown(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines))
