#!/usr/bin/env python3
"""Trains the demo model (models/returns-fraud.json) from Sluice's own backfill output.

Training and serving share one feature definition by construction: the training rows are
`sluice backfill` output for the generator's history, i.e. exactly what the stream computes.

    python3 scripts/models/train_demo_model.py [--sluice .build/release/sluice]

Needs: pip install xgboost numpy (deterministic: fixed seeds, one thread, exact tree method).
Also writes a parity fixture (features and XGBoost's own inplace_predict outputs) that the
test suite compares Sluice's predictor against.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import xgboost as xgb

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOPOLOGY = os.path.join(ROOT, "topologies", "returns-fraud.yaml")
MODEL = os.path.join(ROOT, "models", "returns-fraud.json")
FIXTURES = os.path.join(ROOT, "Tests", "SluiceModelTests", "Fixtures")
# Fixed history: 30 days ending 2026-11-18T08:53:20Z, so reruns give the same rows.
END_TIME_MS = 1_795_000_000_000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", default=os.path.join(ROOT, ".build", "release", "sluice"))
    parser.add_argument("--events", type=int, default=150_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        events = os.path.join(tmp, "history.jsonl")
        labels = os.path.join(tmp, "labels.csv")
        features = os.path.join(tmp, "features.csv")
        subprocess.run([args.sluice, "generate", "--events", str(args.events), "--users", "4000", "--days", "30",
                        "--seed", "20261123", "--end-time", str(END_TIME_MS), "--output", events, "--labels", labels],
                       check=True)
        subprocess.run([args.sluice, "backfill", "--topology", TOPOLOGY, "--input", events, "--output", features],
                       check=True)
        label_of = {}
        with open(labels) as f:
            for row in csv.DictReader(f):
                label_of[row["event_id"]] = int(row["label"])
        with open(features) as f:
            reader = csv.reader(f)
            header = next(reader)
            names = header[4:]
            rows, y = [], []
            for row in reader:
                rows.append([float(v) if v != "" else np.nan for v in row[4:]])
                y.append(label_of[row[0]])
    X = np.asarray(rows, dtype=np.float64)
    y = np.asarray(y, dtype=np.int32)
    rng = np.random.default_rng(7)
    order = rng.permutation(len(y))
    split = int(len(y) * 0.8)
    train, test = order[:split], order[split:]
    dtrain = xgb.DMatrix(X[train], label=y[train], feature_names=names, missing=np.nan)
    dtest = xgb.DMatrix(X[test], label=y[test], feature_names=names, missing=np.nan)
    params = {"objective": "binary:logistic", "max_depth": 5, "eta": 0.15, "subsample": 0.9,
              "colsample_bytree": 0.9, "eval_metric": "auc", "seed": 7, "nthread": 1, "tree_method": "exact"}
    booster = xgb.train(params, dtrain, num_boost_round=120, evals=[(dtest, "test")], verbose_eval=40)
    booster.save_model(MODEL)
    auc = booster.eval(dtest)
    print(f"model: {MODEL} ({len(train)} training rows, {len(names)} features) {auc}")

    # Parity fixture: 3,000 held-out rows plus rows planted exactly on split thresholds.
    fixture = X[test[:3000]].copy()
    dump = json.loads(open(MODEL).read())
    trees = dump["learner"]["gradient_booster"]["model"]["trees"]
    planted = 0
    for tree in trees[:40]:
        for node, feature in enumerate(tree["split_indices"]):
            if tree["left_children"][node] == -1 or planted >= 300:
                continue
            fixture[planted, feature] = np.float32(tree["split_conditions"][node])
            planted += 1
    loaded = xgb.Booster(model_file=MODEL)
    prob = loaded.inplace_predict(fixture)
    margin = loaded.inplace_predict(fixture, predict_type="margin")
    os.makedirs(FIXTURES, exist_ok=True)
    with open(os.path.join(FIXTURES, "demo_input.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(names)
        for row in fixture:
            w.writerow(["" if np.isnan(v) else repr(float(v)) for v in row])
    with open(os.path.join(FIXTURES, "demo_expected.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["prob", "margin"])
        for p, m in zip(prob, margin):
            w.writerow([repr(float(p)), repr(float(m))])
    print(f"fixture: {len(fixture)} rows ({planted} on split thresholds), xgboost {xgb.__version__}")


if __name__ == "__main__":
    sys.exit(main())
