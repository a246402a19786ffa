#!/usr/bin/env python3
"""Generates the multiclass / categorical XGBoost and the LightGBM parity fixtures of SluiceModelTests.

Writes into Tests/SluiceModelTests/Fixtures/ (or the directory given as an argument), next to the
fixtures of make_xgboost_fixture.py (which this script leaves alone):

  xgb_multiclass.json             XGBoost multi:softprob, 3 classes, 50 rounds (150 trees), max_depth 4,
                                  8 features, feature 7 categorical (native partition splits)
  lgb_binary.txt                  LightGBM binary, 60 trees x 31 leaves, NaN, zeros, categorical feature 7
  lgb_zero_as_missing.txt         LightGBM binary, zero_as_missing=True (missing type Zero)
  lgb_no_missing.txt              LightGBM binary, use_missing=False (missing type None: NaN is 0.0)
  lgb_multiclass.txt              LightGBM multiclass, 3 classes, 20 rounds (60 trees) x 15 leaves
  lgb_regression.txt              LightGBM regression (L2), 40 trees x 15 leaves
  lgb_rf.txt                      LightGBM random forest (boosting=rf, average_output), binary, 12 trees x 15 leaves
  <name>_input.csv                rows to score; header = feature names; empty field = missing
                                  (lgb_zero_as_missing and lgb_no_missing share lgb_missing_modes_input.csv)
  <name>_expected.csv             the library's own predictions on those rows:
                                    binary      prob,margin
                                    multiclass  prob_0..prob_{k-1},margin_0..margin_{k-1}
                                    regression  value
  TREE_FIXTURES.md                what each file holds and which library versions wrote it

Expected values: XGBoost `Booster.inplace_predict(x)` (probabilities) and `predict_type="margin"`;
LightGBM from a Booster re-loaded from the written text file: `predict(x)` (probabilities / values)
and `predict(x, raw_score=True)` (margins). For the random forest, LightGBM's raw score is the SUM
of the trees while predict() transforms the AVERAGE; `margin` there is raw_score / rounds (the same
double division LightGBM does), i.e. the score predict() transforms.

Input rows hold NaN (~5 %), exact zeros (-0.0 too), tiny values (|x| <= 1e-35, which LightGBM reads as
0), unseen category codes (25..40 and huge), negative category codes, non-integer codes, and planted
split thresholds:
  - XGBoost: the float32 threshold, its float32 neighbour below, and a double below it that rounds to
    it in float32 (catches float64 inputs and `<=` instead of `<`).
  - LightGBM: the double threshold and its double neighbours on both sides (catches float32 thresholds
    or inputs, `<` instead of `<=`), including LightGBM's +-kZeroThreshold (1e-35f) bin bounds.
Two input classes are left out on purpose (both are limits of TreeEnsemble, see the loaders' docs):
  - XGBoost categorical inputs in (-1, 0): XGBoost treats them as invalid (not listed), TreeEnsemble
    truncates them to category 0.
  - For lgb_zero_as_missing, values with 1e-35 < |x| <= 1e-35f (=1.0000000180025095e-35): LightGBM
    treats them as zero (missing), TreeEnsemble.zeroThreshold is the double 1e-35.

Deterministic: fixed seeds, single-threaded training. Needs `pip install xgboost lightgbm numpy`.
Run from anywhere: python3 scripts/models/make_tree_fixtures.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # fixture_common, next to this script

try:
    import lightgbm as lgb
    import numpy as np
    import xgboost as xgb

    from fixture_common import (float32_plant_values, last_run, markdown_table, output_dir, with_missing,
                                write_expected, write_input, write_markdown, xgb_split_thresholds)
except ImportError:  # pragma: no cover
    sys.exit("needs xgboost, lightgbm and numpy: python3 -m pip install xgboost lightgbm numpy")

OUT = output_dir()

FEATURES = [
    "amount", "txn_count_1h", "merchant_risk", "account_age_days", "distance_km", "hour_of_day",
    "device_score", "merchant_category",
]
NF = len(FEATURES)
CAT = 7            # index of the categorical feature
N_CATEGORIES = 25  # training codes 0..24
KZT = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (a float literal)


# ---------------------------------------------------------------------------------------------
# Data

def make_features(rng, n):
    """Synthetic transaction-like features, float64, rounded so the CSVs stay small."""
    x = np.empty((n, NF))
    x[:, 0] = np.round(rng.lognormal(3.5, 1.2, n), 2)
    x[:, 1] = rng.poisson(1.2, n)                                             # many exact zeros
    x[:, 2] = np.round(rng.beta(2, 5, n), 4)
    x[:, 3] = rng.integers(0, 3650, n)
    x[:, 4] = np.where(rng.random(n) < 0.2, 0.0, np.round(rng.exponential(40, n), 3))  # 0 = in store
    x[:, 5] = rng.integers(0, 24, n)
    x[:, 6] = np.where(rng.random(n) < 0.1, 0.0, np.round(rng.normal(0, 1, n), 4))
    x[:, 7] = np.minimum(rng.geometric(0.12, n) - 1, N_CATEGORIES - 1)     # skewed category codes
    return x


RISKY = np.array([3, 7, 11, 19])
SAFE = np.array([0, 1, 5])


def risk_score(x):
    cat = np.nan_to_num(x[:, CAT], nan=-1)
    return (
        -2.5
        + 0.6 * (np.log1p(np.nan_to_num(x[:, 0], nan=30.0)) - 3.5)
        + 0.5 * np.nan_to_num(x[:, 1], nan=1.0)
        - 0.8 * (np.nan_to_num(x[:, 1], nan=1.0) == 0)
        + 3.0 * np.nan_to_num(x[:, 2], nan=0.3)
        - 0.0004 * np.nan_to_num(x[:, 3], nan=1000)
        + 0.012 * np.nan_to_num(x[:, 4], nan=20) - 0.7 * (x[:, 4] == 0)
        + 0.7 * np.where((x[:, 5] < 5) | (x[:, 5] > 22), 1.0, 0.0)
        + 0.5 * np.nan_to_num(x[:, 6], nan=0.0)
        + 1.4 * np.isin(cat, RISKY) - 0.9 * np.isin(cat, SAFE)
    )


def binary_label(rng, x):
    z = risk_score(x)
    return (rng.random(len(z)) < 1.0 / (1.0 + np.exp(-z))).astype(int)


def multiclass_label(rng, x):
    """0 legit, 1 review, 2 fraud."""
    z = risk_score(x) + rng.logistic(0, 1, len(x))
    return np.digitize(z, [-1.0, 0.8])


def regression_target(rng, x):
    return risk_score(x) * 10.0 + 0.01 * np.nan_to_num(x[:, 0], nan=30.0) + rng.normal(0, 2.0, len(x))


def odd_categories(rng, x, allow_fraction_below_zero):
    """Unseen, negative, non-integer and huge category codes in ~20 % of the rows."""
    x = x.copy()
    n = len(x)
    kind = rng.integers(0, 10, n)
    unseen = rng.integers(N_CATEGORIES, 41, n).astype(float)
    x[:, CAT] = np.where(kind == 0, unseen, x[:, CAT])
    x[:, CAT] = np.where(kind == 1, -rng.integers(1, 8, n).astype(float), x[:, CAT])        # -1 .. -7
    x[:, CAT] = np.where(kind == 2, x[:, CAT] + np.round(rng.random(n), 2), x[:, CAT])      # 3.57 -> 3
    huge = np.array([1e6, 2147483647.0, 2147483648.0, 3e9, 16777216.0, 16777217.0, 1e300, np.inf, -np.inf, -0.0])
    x[:, CAT] = np.where(kind == 3, huge[rng.integers(0, len(huge), n)], x[:, CAT])
    if allow_fraction_below_zero:
        x[:, CAT] = np.where((kind == 4) & (rng.random(n) < 0.5), -np.round(rng.random(n) * 0.9 + 0.05, 2), x[:, CAT])
    return x


def tiny_values(rng, x, cols, avoid_gap):
    """Exact zeros of both signs and values LightGBM reads as zero, in a few rows."""
    x = x.copy()
    specials = [0.0, -0.0, 1e-36, -1e-36, 1e-300, -5e-324, 1e-35, -1e-35]
    if not avoid_gap:
        specials += [KZT, -KZT]
    for row in range(len(x)):
        if rng.random() < 0.06:
            x[row, cols[int(rng.integers(0, len(cols)))]] = specials[int(rng.integers(0, len(specials)))]
    return x


# ---------------------------------------------------------------------------------------------
# Threshold planting

def plant(rng, x, splits, values_of, rate=0.5):
    """In `rate` of the rows, sets 1-3 features to values derived from a random split. A quarter of
    the plants use splits at thresholds within +-1e-35f of zero (LightGBM's bin bounds around 0, rare
    among the splits but where reading tiny inputs as 0.0 matters), when the model has any (in
    practice only LightGBM models have such thresholds)."""
    x = x.copy()
    near_zero = [(f, t) for f, t in splits if abs(float(t)) <= KZT]
    # Thresholds in [-1e-35f, 1e-35f) are the ones where LightGBM's zeroing of tiny inputs changes a
    # comparison (e.g. x = -1e-35f at threshold -1e-35f goes right): plant them more often.
    moved = [(f, t) for f, t in near_zero if float(t) < KZT]
    for row in range(len(x)):
        if rng.random() >= rate:
            continue
        for _ in range(1 + int(rng.integers(0, 3))):
            draw = rng.random()
            pool = moved if moved and draw < 0.1 else near_zero if near_zero and draw < 0.25 else splits
            feat, thr = pool[int(rng.integers(0, len(pool)))]
            choices = values_of(thr)
            x[row, feat] = choices[int(rng.integers(0, len(choices)))]
    return x


def lgb_values_for(avoid_gap):
    def values(thr):
        out = [thr, thr, float(np.nextafter(thr, -np.inf)), float(np.nextafter(thr, np.inf))]
        if avoid_gap:
            out = [v for v in out if not (1e-35 < abs(v) <= KZT)] or [0.0]
        return out
    return values


def lgb_numeric_splits(booster):
    """(feature, double threshold) of every numerical split, read from the model text."""
    out = []
    tree = {}
    for line in booster.model_to_string().split("\n"):
        if line.startswith("Tree="):
            tree = {}
        elif "=" in line:
            key, value = line.split("=", 1)
            tree[key] = value
            if key == "right_child" and tree.get("num_leaves", "1") != "1":
                for f, t, d in zip(tree["split_feature"].split(), tree["threshold"].split(), tree["decision_type"].split()):
                    if int(d) & 1 == 0:
                        out.append((int(f), float(t)))
    return out


# ---------------------------------------------------------------------------------------------
# Writing

def expected_columns(prob, margin):
    prob = np.asarray(prob).reshape(len(prob), -1)
    margin = np.asarray(margin).reshape(len(margin), -1)
    k = prob.shape[1]
    if k == 1:
        return ["prob", "margin"], [prob[:, 0], margin[:, 0]]
    return ([f"prob_{i}" for i in range(k)] + [f"margin_{i}" for i in range(k)],
            [prob[:, i] for i in range(k)] + [margin[:, i] for i in range(k)])


# ---------------------------------------------------------------------------------------------
# Models

def make_xgb_multiclass(rng, manifest):
    name = "xgb_multiclass"
    x_train = make_features(rng, 6000)
    y_train = multiclass_label(rng, x_train)
    dtrain = xgb.DMatrix(with_missing(rng, x_train), label=y_train, feature_names=FEATURES,
                         feature_types=["q"] * (NF - 1) + ["c"], enable_categorical=True, missing=np.nan)
    params = {"objective": "multi:softprob", "num_class": 3, "max_depth": 4, "eta": 0.15, "tree_method": "hist",
              "nthread": 1, "seed": 7, "subsample": 0.9, "colsample_bytree": 0.9, "min_child_weight": 2,
              "max_cat_to_onehot": 4}
    booster = xgb.train(params, dtrain, num_boost_round=50)
    booster.save_model(os.path.join(OUT, name + ".json"))
    x = make_features(rng, 600)
    x = odd_categories(rng, with_missing(rng, x), allow_fraction_below_zero=False)
    x = plant(rng, x, xgb_split_thresholds(booster, numeric_only=True), float32_plant_values)
    assert not ((x[:, CAT] > -1) & (x[:, CAT] < 0)).any()
    write_input(os.path.join(OUT, name + "_input.csv"), FEATURES, x, signed_zeros=True)
    reloaded = xgb.Booster(model_file=os.path.join(OUT, name + ".json"))
    prob = reloaded.inplace_predict(x, missing=np.nan)
    margin = reloaded.inplace_predict(x, missing=np.nan, predict_type="margin")
    header, columns = expected_columns(prob, margin)
    write_expected(os.path.join(OUT, name + "_expected.csv"), header, columns)
    manifest.append((name + ".json", f"xgboost {xgb.__version__}", "multi:softprob, 3 classes, 50 rounds x depth 4, "
                     "categorical merchant_category", len(x)))


def lgb_train(params, x, y, rounds):
    base = {"verbose": -1, "num_threads": 1, "seed": 11, "deterministic": True, "force_row_wise": True,
            "learning_rate": 0.1, "min_data_in_leaf": 20}
    base.update(params)
    ds = lgb.Dataset(x, label=y, feature_name=FEATURES, categorical_feature=[CAT], params={"verbose": -1})
    return lgb.train(base, ds, num_boost_round=rounds)


def make_lgb_group(rng, manifest, input_name, cases, rows, avoid_gap=False):
    """Trains each (name, params, rounds, label, description) of `cases`, then writes one input CSV
    with thresholds planted from all of them and each model's expected CSV on it."""
    boosters = []
    for name, params, rounds, label, description in cases:
        x_train = with_missing(rng, make_features(rng, 6000))
        booster = lgb_train(params, x_train, label(rng, x_train), rounds)
        path = os.path.join(OUT, name + ".txt")
        booster.save_model(path)
        boosters.append(lgb.Booster(model_file=path))
    x = make_features(rng, rows)
    x = odd_categories(rng, with_missing(rng, x), allow_fraction_below_zero=True)
    x = tiny_values(rng, x, [c for c in range(NF) if c != CAT], avoid_gap)
    x = plant(rng, x, [s for b in boosters for s in lgb_numeric_splits(b)], lgb_values_for(avoid_gap))
    if avoid_gap:
        assert not ((np.abs(x) > 1e-35) & (np.abs(x) <= KZT)).any()
    write_input(os.path.join(OUT, input_name + "_input.csv"), FEATURES, x, signed_zeros=True)
    for (name, params, rounds, label, description), booster in zip(cases, boosters):
        raw = booster.predict(x, raw_score=True)
        out = booster.predict(x)
        if params.get("boosting") == "rf":
            raw = raw / booster.current_iteration()  # the average, which predict() transforms
        if params["objective"] == "regression":
            assert np.array_equal(raw, out)
            write_expected(os.path.join(OUT, name + "_expected.csv"), ["value"], [out])
        else:
            header, columns = expected_columns(out, raw)
            write_expected(os.path.join(OUT, name + "_expected.csv"), header, columns)
        manifest.append((name + ".txt", f"lightgbm {lgb.__version__}", description, f"{len(x)} (`{input_name}_input.csv`)"))


def write_manifest(manifest):
    lines = [
        "# Multiclass, categorical and LightGBM fixtures",
        "",
        "Generated by `scripts/models/make_tree_fixtures.py` (deterministic seeds); do not edit by hand. See the",
        "script's docstring for what the input rows contain and how the expected values were produced.",
        "",
    ]
    lines += markdown_table(["model", "written by", "what", "rows"],
                            [[f"`{model}`", writer, description, rows] for model, writer, description, rows in manifest])
    lines += ["", last_run([("xgboost", xgb.__version__), ("lightgbm", lgb.__version__), ("numpy", np.__version__)]), ""]
    write_markdown(os.path.join(OUT, "TREE_FIXTURES.md"), lines)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20250101)
    manifest = []
    make_xgb_multiclass(rng, manifest)
    make_lgb_group(rng, manifest, "lgb_binary", [
        ("lgb_binary", {"objective": "binary", "num_leaves": 31}, 60, binary_label,
         "binary, 60 trees x 31 leaves, NaN (missing type NaN) and zeros, categorical merchant_category"),
    ], 2000)
    make_lgb_group(rng, manifest, "lgb_missing_modes", [
        ("lgb_zero_as_missing", {"objective": "binary", "num_leaves": 15, "zero_as_missing": True}, 30, binary_label,
         "binary, zero_as_missing=True (missing type Zero), 30 trees x 15 leaves"),
        ("lgb_no_missing", {"objective": "binary", "num_leaves": 15, "use_missing": False}, 30, binary_label,
         "binary, use_missing=False (missing type None: NaN is 0), 30 trees x 15 leaves"),
    ], 2000, avoid_gap=True)
    make_lgb_group(rng, manifest, "lgb_multiclass", [
        ("lgb_multiclass", {"objective": "multiclass", "num_class": 3, "num_leaves": 15}, 20, multiclass_label,
         "multiclass, 3 classes, 20 rounds (60 trees) x 15 leaves"),
    ], 400)
    make_lgb_group(rng, manifest, "lgb_regression", [
        ("lgb_regression", {"objective": "regression", "num_leaves": 15}, 40, regression_target,
         "regression (L2), 40 trees x 15 leaves"),
    ], 500)
    make_lgb_group(rng, manifest, "lgb_rf", [
        ("lgb_rf", {"objective": "binary", "boosting": "rf", "num_leaves": 15, "bagging_fraction": 0.7,
                    "bagging_freq": 1, "feature_fraction": 0.8}, 12, binary_label,
         "binary random forest (average_output), 12 trees x 15 leaves"),
    ], 300)
    write_manifest(manifest)
    print(f"xgboost {xgb.__version__}, lightgbm {lgb.__version__}: wrote fixtures to {OUT}")


if __name__ == "__main__":
    main()
