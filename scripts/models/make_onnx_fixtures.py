#!/usr/bin/env python3
"""Generates the ONNX (skl2onnx) and MLflow fixtures of SluiceModelTests.

Writes into Tests/SluiceModelTests/Fixtures/ (or the directory given as an argument):
  onnx_rf_binary.onnx          RandomForestClassifier, binary, 50 trees, max_depth 8, trained with NaN
                               (TreeEnsembleClassifier ai.onnx.ml 1 + Cast + ZipMap; tracks_true repaired)
  onnx_et_regression.onnx      ExtraTreesRegressor, 30 trees, max_depth 8, trained with NaN
                               (TreeEnsembleRegressor ai.onnx.ml 1; tracks_true repaired)
  onnx_gb_multiclass.onnx      GradientBoostingClassifier, 3 classes, 30 x 3 trees, max_depth 3, no NaN
                               (TreeEnsembleClassifier rewritten to ai.onnx.ml 3: *_as_tensor attributes; no ZipMap)
  onnx_hgb_binary.onnx         HistGradientBoostingClassifier, binary, 60 trees, <= 15 leaves, trained with NaN
                               (TreeEnsembleClassifier ai.onnx.ml 1, LOGISTIC, + Cast + ZipMap)
  <name>_input.csv             rows to score: header = feature names, empty field = missing
  <name>_expected.csv          scikit-learn's predictions (double) and onnxruntime's (float32) on the same rows:
                                 binary      prob,margin,ort_prob,path_differs     (margin = prob for forests,
                                                                                   decision_function for boosting)
                                 multiclass  prob_0..prob_2,margin_0..margin_2,ort_prob_0..ort_prob_2,path_differs
                                 regression  value,ort_value,path_differs
                               path_differs = 1 when, for some tree, the leaf scikit-learn reaches differs from the
                               leaf reached under the ONNX file's semantics (float32 input and thresholds); those
                               rows cannot agree with scikit-learn and are checked against onnxruntime instead.
  mlflow_xgboost/              an MLflow model directory written by hand (MLmodel + model.json, a copy of
                               xgb17_binary.json), as mlflow.xgboost.save_model(..., model_format="json") lays out
  README.md                    the section between the onnx-fixtures markers (the rest is left alone)

Two traps handled here (see README.md):
  * skl2onnx 1.20 writes nodes_missing_value_tracks_true = 0 for every node of RandomForest/ExtraTrees (it ignores
    tree_.missing_go_to_left), so the raw export sends NaN to the false (right) child everywhere and disagrees with
    scikit-learn on rows with missing values. repair_missing_tracks() copies missing_go_to_left into the attribute,
    keyed by (tree id, node id) = (estimator index, sklearn node index), which is how skl2onnx numbers nodes.
  * skl2onnx 1.20 cannot export HistGradientBoosting at all as shipped: it passes numpy bools for
    nodes_missing_value_tracks_true and onnx.helper rejects them; patched below by casting to int.

Input rows: natural rows (with ~5 % NaN except for the GradientBoosting model, which does not accept NaN) plus
rows planted on split thresholds: scikit-learn's double threshold, the float32 threshold in the ONNX file, its
float32 neighbours, doubles that round to it in float32, and the double halfway to the next float32.

Deterministic: fixed seeds, n_jobs=1. Needs scikit-learn, skl2onnx, onnx, onnxruntime, numpy
(last run: see README.md). Run from anywhere: python3 scripts/models/make_onnx_fixtures.py
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # fixture_common, next to this script

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    import skl2onnx
    import skl2onnx.common.tree_ensemble as skl2onnx_tree_ensemble
    import sklearn
    from onnx import helper, numpy_helper
    from skl2onnx import to_onnx
    from sklearn.ensemble import (ExtraTreesRegressor, GradientBoostingClassifier, HistGradientBoostingClassifier,
                                  RandomForestClassifier)

    from fixture_common import (TRANSACTION_FEATURES, float32_above, float32_below, last_run,
                                make_transaction_features, markdown_table, output_dir, rounds_up_to,
                                transaction_regression_target, transaction_risk, with_missing, write_expected,
                                write_input)
except ImportError:  # pragma: no cover
    sys.exit("needs scikit-learn skl2onnx onnx onnxruntime numpy: python3 -m pip install scikit-learn skl2onnx onnxruntime")

OUT = output_dir()

FEATURES = TRANSACTION_FEATURES  # as in make_xgboost_fixture.py
TRAIN_ROWS = 3000
NATURAL_ROWS = 800
BEGIN = "<!-- onnx-fixtures:begin (written by scripts/models/make_onnx_fixtures.py) -->"
END = "<!-- onnx-fixtures:end -->"

# skl2onnx 1.20 bug: HistGradientBoosting nodes pass numpy.bool_/bool missing_go_to_left values that
# onnx.helper.make_attribute refuses for an INTS attribute. Cast them to int (the meaning is unchanged).
_add_node = skl2onnx_tree_ensemble.add_node


def _add_node_int_tracks(*args, **kwargs):
    if "nodes_missing_value_tracks_true" in kwargs:
        kwargs["nodes_missing_value_tracks_true"] = int(kwargs["nodes_missing_value_tracks_true"])
    return _add_node(*args, **kwargs)


skl2onnx_tree_ensemble.add_node = _add_node_int_tracks


def risk_score(rng, x):
    return transaction_risk(x) + rng.normal(0, 0.5, len(x))


def binary_label(rng, x):
    z = risk_score(rng, x)
    return (rng.random(len(z)) < 1.0 / (1.0 + np.exp(-z))).astype(int)


def three_classes(rng, x):
    z = risk_score(rng, x)
    return np.digitize(z, np.quantile(z, [0.5, 0.8]))


# ---------------------------------------------------------------------------------------------------------
# ONNX helpers


def tree_node(model):
    nodes = [n for n in model.graph.node if n.op_type in ("TreeEnsembleClassifier", "TreeEnsembleRegressor")]
    assert len(nodes) == 1, [n.op_type for n in model.graph.node]
    return nodes[0]


def attributes(node):
    """name -> list/scalar, with *_as_tensor attributes read back under their plain name."""
    out = {}
    for a in node.attribute:
        value = helper.get_attribute_value(a)
        if isinstance(value, onnx.TensorProto):
            out[a.name[: -len("_as_tensor")]] = numpy_helper.to_array(value).ravel().tolist()
        else:
            out[a.name] = value
    return out


def set_ints(node, name, values):
    for a in node.attribute:
        if a.name == name:
            del a.ints[:]
            a.ints.extend(int(v) for v in values)
            return
    raise KeyError(name)


def repair_missing_tracks(model, estimators):
    """Copies scikit-learn's tree_.missing_go_to_left into nodes_missing_value_tracks_true (true = left child)."""
    node = tree_node(model)
    attrs = attributes(node)
    tracks = []
    changed = 0
    for tree_id, node_id, mode, true_id in zip(attrs["nodes_treeids"], attrs["nodes_nodeids"], attrs["nodes_modes"],
                                               attrs["nodes_truenodeids"]):
        tree = estimators[tree_id].tree_
        if mode == b"LEAF":
            tracks.append(0)
            continue
        assert tree.children_left[node_id] == true_id, "skl2onnx numbering changed: true child must be sklearn's left"
        value = int(tree.missing_go_to_left[node_id])
        tracks.append(value)
    before = attrs["nodes_missing_value_tracks_true"]
    assert set(before) == {0}, "skl2onnx now writes missing_value_tracks_true: revisit repair_missing_tracks"
    changed = sum(1 for a, b in zip(before, tracks) if a != b)
    set_ints(node, "nodes_missing_value_tracks_true", tracks)
    return changed


def upgrade_to_ml_opset3(model):
    """Rewrites the tree node's float attributes as float32 *_as_tensor attributes (ai.onnx.ml opset 3 form),
    keeping every value bit for bit, and declares ai.onnx.ml version 3. skl2onnx 1.20 always emits version 1
    attributes for float inputs, whatever target_opset says."""
    node = tree_node(model)
    kept = []
    for a in node.attribute:
        if a.name in ("nodes_values", "nodes_hitrates", "class_weights", "target_weights", "base_values"):
            tensor = numpy_helper.from_array(np.array(a.floats, dtype=np.float32), name="")
            kept.append(helper.make_attribute(a.name + "_as_tensor", tensor))
        else:
            kept.append(a)
    del node.attribute[:]
    node.attribute.extend(kept)
    for opset in model.opset_import:
        if opset.domain == "ai.onnx.ml":
            opset.version = 3


def onnx_leaves(model, x):
    """Leaf node id reached in every tree under the ONNX file's semantics: float32 inputs compared with the
    float32 thresholds (BRANCH_LEQ), NaN to the true child iff nodes_missing_value_tracks_true.
    Returns {tree id: array of leaf node ids per row}."""
    attrs = attributes(tree_node(model))
    x32 = x.astype(np.float32)
    trees = {}
    for i, (t, n) in enumerate(zip(attrs["nodes_treeids"], attrs["nodes_nodeids"])):
        trees.setdefault(t, {})[n] = i
    out = {}
    modes = attrs["nodes_modes"]
    assert set(modes) <= {b"LEAF", b"BRANCH_LEQ"}, set(modes)
    for t, index in trees.items():
        size = max(index) + 1
        feature = np.zeros(size, dtype=int)
        threshold = np.zeros(size, dtype=np.float32)
        true_id = np.zeros(size, dtype=int)
        false_id = np.zeros(size, dtype=int)
        tracks = np.zeros(size, dtype=bool)
        leaf = np.ones(size, dtype=bool)
        for n, i in index.items():
            leaf[n] = modes[i] == b"LEAF"
            feature[n] = attrs["nodes_featureids"][i]
            threshold[n] = np.float32(attrs["nodes_values"][i])
            true_id[n] = attrs["nodes_truenodeids"][i]
            false_id[n] = attrs["nodes_falsenodeids"][i]
            tracks[n] = bool(attrs["nodes_missing_value_tracks_true"][i])
        at = np.zeros(len(x), dtype=int)
        rows = np.arange(len(x))
        while not leaf[at].all():
            v = x32[rows, feature[at]]
            go_true = (v <= threshold[at]) | (np.isnan(v) & tracks[at])
            at = np.where(leaf[at], at, np.where(go_true, true_id[at], false_id[at]))
        out[t] = at
    return out


def hgb_leaves(predictor, x):
    """Leaf reached in one HistGradientBoosting predictor, as scikit-learn does it (float64 x <= float64 threshold,
    NaN to missing_go_to_left)."""
    nodes = predictor.nodes
    at = np.zeros(len(x), dtype=int)
    rows = np.arange(len(x))
    while not nodes["is_leaf"][at].all():
        v = x[rows, nodes["feature_idx"][at]]
        left = np.where(np.isnan(v), nodes["missing_go_to_left"][at].astype(bool), v <= nodes["num_threshold"][at])
        at = np.where(nodes["is_leaf"][at], at, np.where(left, nodes["left"][at], nodes["right"][at]))
    return at


def sklearn_leaves(estimator, x):
    """{tree id (skl2onnx numbering): leaf node id per row} as scikit-learn evaluates."""
    if isinstance(estimator, HistGradientBoostingClassifier):
        assert all(len(p) == 1 for p in estimator._predictors)
        return {t: hgb_leaves(p[0], x) for t, p in enumerate(estimator._predictors)}
    if isinstance(estimator, GradientBoostingClassifier):
        k = estimator.estimators_.shape[1]
        return {i * k + c: estimator.estimators_[i, c].apply(x.astype(np.float32))
                for i in range(estimator.estimators_.shape[0]) for c in range(k)}
    return {t: e.apply(x.astype(np.float32)) for t, e in enumerate(estimator.estimators_)}


def path_differs(model, estimator, x):
    ours, theirs = onnx_leaves(model, x), sklearn_leaves(estimator, x)
    assert ours.keys() == theirs.keys()
    differs = np.zeros(len(x), dtype=bool)
    for t in ours:
        differs |= ours[t] != theirs[t]
    return differs


def split_thresholds(model, estimator):
    """(feature, scikit-learn double threshold, ONNX float32 threshold) of the split nodes, roots first."""
    attrs = attributes(tree_node(model))
    out = []
    for t, n, mode, f, v in zip(attrs["nodes_treeids"], attrs["nodes_nodeids"], attrs["nodes_modes"],
                                attrs["nodes_featureids"], attrs["nodes_values"]):
        if mode == b"LEAF":
            continue
        if isinstance(estimator, HistGradientBoostingClassifier):
            t64 = float(estimator._predictors[t][0].nodes["num_threshold"][n])
        elif isinstance(estimator, GradientBoostingClassifier):
            k = estimator.estimators_.shape[1]
            t64 = float(estimator.estimators_[t // k, t % k].tree_.threshold[n])
        else:
            t64 = float(estimator.estimators_[t].tree_.threshold[n])
        out.append((n != 0, t, f, t64, np.float32(v)))
    out.sort(key=lambda s: (s[0], s[1]))  # roots (reached by every row) first
    return [(f, t64, t32) for _, _, f, t64, t32 in out]


PLANT_KINDS = ["at scikit-learn's threshold", "at the float32 threshold", "one float32 below", "one float32 above",
               "1/8 float32 step below", "1/8 float32 step above", "halfway to the next float32"]


def plant_thresholds(rng, base, splits, count):
    """Rows that each copy a natural row and set one feature next to a split threshold."""
    rows = []
    chosen = splits[: count // 2] + [splits[int(i)] for i in rng.choice(len(splits), count - count // 2, replace=False)]
    for feature, t64, t32 in chosen:
        down, up = float32_below(t32), float32_above(t32)
        values = [
            t64,                                # scikit-learn's own threshold (a double)
            float(t32),                         # the threshold written in the ONNX file
            down, up,                           # its float32 neighbours
            rounds_up_to(t32),                  # doubles that round to t32 in float32
            float(t32) + (up - float(t32)) / 8,
            float(t32) + (up - float(t32)) / 2,  # halfway to the next float32 (ties to even)
        ]
        for value in values:
            row = base[int(rng.integers(0, len(base)))].copy()
            row[feature] = value
            rows.append(row)
    return np.array(rows)


def ort_outputs(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})
    result = outputs[-1]
    if isinstance(result, list):  # ZipMap: one {label: probability} per row
        labels = sorted(result[0].keys())
        result = np.array([[row[label] for label in labels] for row in result])
    return np.asarray(result, dtype=np.float64)


# ---------------------------------------------------------------------------------------------------------
# Files


SUMMARY = []


def make_case(rng, name, estimator, x_train, y_train, nan_rows, opset3=False, zipmap=True, repair=False):
    estimator.fit(x_train, y_train)
    options = None
    if hasattr(estimator, "predict_proba"):
        options = {id(estimator): {"zipmap": zipmap}}
    model = to_onnx(estimator, x_train[:1].astype(np.float32), target_opset={"": 15, "ai.onnx.ml": 3 if opset3 else 1},
                    options=options)
    natural = make_transaction_features(rng, NATURAL_ROWS)
    if nan_rows:
        natural = with_missing(rng, natural)
    x = np.vstack([natural, plant_thresholds(rng, natural, split_thresholds(model, estimator), 40)])

    unrepaired = int(path_differs(model, estimator, x).sum())
    repaired = repair_missing_tracks(model, estimator.estimators_) if repair else 0
    if opset3:
        upgrade_to_ml_opset3(model)
    # skl2onnx lists opset imports in set order (varies with PYTHONHASHSEED): sort them so reruns write identical bytes.
    imports = sorted(model.opset_import, key=lambda o: o.domain)
    imports = [helper.make_opsetid(o.domain, o.version) for o in imports]
    del model.opset_import[:]
    model.opset_import.extend(imports)
    onnx.checker.check_model(model)
    differs = path_differs(model, estimator, x)
    assert not differs[:len(natural)].any(), f"{name}: a natural row takes another path than in scikit-learn"
    onnx.save(model, os.path.join(OUT, name + ".onnx"))
    write_input(os.path.join(OUT, name + "_input.csv"), FEATURES, x)

    ort_out = ort_outputs(model, x)
    if isinstance(estimator, (RandomForestClassifier, HistGradientBoostingClassifier)):
        prob = estimator.predict_proba(x)[:, 1]
        margin = prob if isinstance(estimator, RandomForestClassifier) else estimator.decision_function(x)
        header, columns = ["prob", "margin", "ort_prob", "path_differs"], [prob, margin, ort_out[:, 1], differs]
        reference, onnx_value = prob, ort_out[:, 1]
    elif isinstance(estimator, GradientBoostingClassifier):
        prob, margin = estimator.predict_proba(x), estimator.decision_function(x)
        k = prob.shape[1]
        header = [f"prob_{c}" for c in range(k)] + [f"margin_{c}" for c in range(k)] + [f"ort_prob_{c}" for c in range(k)]
        header.append("path_differs")
        columns = [prob[:, c] for c in range(k)] + [margin[:, c] for c in range(k)] + [ort_out[:, c] for c in range(k)]
        columns.append(differs)
        reference, onnx_value = prob, ort_out
    else:
        value = estimator.predict(x)
        ort_value = ort_out.ravel()
        header, columns = ["value", "ort_value", "path_differs"], [value, ort_value, differs]
        reference, onnx_value = value, ort_value
    write_expected(os.path.join(OUT, name + "_expected.csv"), header, columns)

    delta = np.abs(np.asarray(reference) - np.asarray(onnx_value))
    if delta.ndim > 1:
        delta = delta.max(axis=1)
    same_path = ~differs
    attrs = attributes(tree_node(model))
    SUMMARY.append({
        "name": name, "estimator": type(estimator).__name__, "rows": len(x), "nan_rows": int(np.isnan(x).any(axis=1).sum()),
        "trees": len(set(attrs["nodes_treeids"])), "nodes": len(attrs["nodes_treeids"]),
        "ml_opset": 3 if opset3 else 1, "op": tree_node(model).op_type,
        "post_transform": attrs.get("post_transform", b"NONE").decode(),
        "graph": " + ".join(n.op_type for n in model.graph.node),
        "unrepaired": unrepaired, "repaired_nodes": repaired, "path_differs": int(differs.sum()),
        "ort_max_same_path": float(delta[same_path].max()), "ort_max_differs": float(delta[differs].max()) if differs.any() else 0.0,
        "bytes": os.path.getsize(os.path.join(OUT, name + ".onnx")),
        "differs_by_kind": {kind: int(differs[len(natural) + i::len(PLANT_KINDS)].sum())
                            for i, kind in enumerate(PLANT_KINDS) if differs[len(natural) + i::len(PLANT_KINDS)].any()},
    })


def write_mlflow_fixture():
    """An MLflow model directory as mlflow.xgboost.save_model(booster, path, model_format="json") writes it
    (written by hand: the mlflow package is not needed). model.json is a copy of xgb17_binary.json."""
    directory = os.path.join(OUT, "mlflow_xgboost")
    os.makedirs(directory, exist_ok=True)
    shutil.copyfile(os.path.join(OUT, "xgb17_binary.json"), os.path.join(directory, "model.json"))
    size = os.path.getsize(os.path.join(directory, "model.json"))
    with open(os.path.join(directory, "MLmodel"), "w") as f:
        f.write(f"""artifact_path: model
flavors:
  python_function:
    data: model.json
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.xgboost
    python_version: 3.11.7
  xgboost:
    code: null
    data: model.json
    model_class: xgboost.core.Booster
    model_format: json
    xgb_version: 1.7.6
mlflow_version: 2.17.2
model_size_bytes: {size}
model_uuid: 6a1f0a4e2f1c4b0e9d3a7c5b8e2f4d61
run_id: 3c9d2e1f0a8b4c7d9e6f5a4b3c2d1e0f
utc_time_created: '2026-01-01 00:00:00.000000'
""")


def write_readme():
    lines = [BEGIN, "", "## ONNX fixtures (skl2onnx) and the MLflow directory", "",
             "Generated by `scripts/models/make_onnx_fixtures.py` (deterministic seeds); do not edit by hand.",
             "`<name>.onnx` is skl2onnx output (float input `X` of 12 columns in the order of the CSV header);",
             "`<name>_input.csv` holds natural rows (with NaN, except for GradientBoosting, which rejects NaN) and",
             "rows planted on split thresholds (scikit-learn's double threshold, the float32 one in the file, its",
             "float32 neighbours, doubles that round to it); `<name>_expected.csv` holds scikit-learn's",
             "`predict_proba` / `decision_function` / `predict` (double, exact) and onnxruntime's output on the",
             "same rows (`ort_*`, float32), and `path_differs` (see below).", ""]
    lines += markdown_table(
        ["model", "scikit-learn", "op (ai.onnx.ml opset)", "post_transform", "trees", "nodes", "rows (with NaN)",
         "path_differs", "bytes"],
        [[f"`{s['name']}.onnx`", s["estimator"], f"{s['op']} ({s['ml_opset']})", s["post_transform"], s["trees"],
          s["nodes"], f"{s['rows']} ({s['nan_rows']})", s["path_differs"], s["bytes"]] for s in SUMMARY])
    rf = next(s for s in SUMMARY if s["name"] == "onnx_rf_binary")
    et = next(s for s in SUMMARY if s["name"] == "onnx_et_regression")
    hgb = next(s for s in SUMMARY if s["name"] == "onnx_hgb_binary")
    lines += [
        "",
        "Graphs: " + "; ".join(f"`{s['name']}`: {s['graph']}" for s in SUMMARY) + ".",
        "",
        "**Trap: missing values in RandomForest/ExtraTrees exports.** skl2onnx 1.20 writes",
        "`nodes_missing_value_tracks_true = 0` for every node of a RandomForest/ExtraTrees model, ignoring",
        "scikit-learn's `tree_.missing_go_to_left`, so an unrepaired export sends NaN to the false (right) child",
        "everywhere and disagrees with scikit-learn on rows with missing values "
        f"(here {rf['unrepaired']} of {rf['rows']} rows of `onnx_rf_binary`, {et['unrepaired']} of {et['rows']} of "
        "`onnx_et_regression`, reach a different leaf in some tree). The script copies `missing_go_to_left` into the",
        "attribute, node by node, keyed by (tree id, node id) = (estimator index, scikit-learn node index), which",
        f"is how skl2onnx numbers them ({rf['repaired_nodes']} and {et['repaired_nodes']} split nodes changed).",
        "HistGradientBoosting exports carry `missing_go_to_left` already (after the script's workaround for",
        "skl2onnx 1.20 failing on its numpy-bool values).",
        "",
        "**Thresholds.** For RandomForest/ExtraTrees/GradientBoosting, scikit-learn compares `float32(x) <=",
        "threshold` (double), and skl2onnx writes the largest float32 not above the threshold, which is",
        "exact for every input: `path_differs` is 0 on every row, planted ones included. HistGradientBoosting",
        "compares the double input with a double threshold, and skl2onnx rounds that threshold to the nearest",
        "float32 t32 (no adjustment). With float32 inputs a node then decides differently from scikit-learn",
        "exactly when float32(x) == t32 and x > t (x <= t in scikit-learn is false, float32(x) <= t32 is true);",
        "for inputs that are float32 values that means x == t32 > t. No float-input ONNX file can avoid it.",
        f"{hgb['path_differs']} of the {hgb['rows']} rows of `onnx_hgb_binary` (all planted: "
        + ", ".join(f"{count} {kind}" for kind, count in hgb["differs_by_kind"].items())
        + ") reach a different leaf than in scikit-learn; the tests compare those rows with onnxruntime",
        "instead; every other row must match scikit-learn to 1e-6.",
        "",
        "onnxruntime sums the trees in float32 and Sluice (like scikit-learn) in double; on rows where the paths",
        "agree, |scikit-learn - onnxruntime| reaches " +
        ", ".join(f"{s['ort_max_same_path']:.2g} (`{s['name']}`)" for s in SUMMARY) + ".",
        "",
        "`onnx_gb_multiclass.onnx` was rewritten by the script to ai.onnx.ml opset 3 (`nodes_values_as_tensor`,",
        "`class_weights_as_tensor`, ... as float32 tensors, same values): skl2onnx 1.20 only writes opset-1",
        "attributes for float inputs.",
        "",
        "`mlflow_xgboost/` is an MLflow model directory written by hand (`MLmodel` with `python_function` and",
        "`xgboost` flavors, `data: model.json`); `model.json` is a copy of `xgb17_binary.json`, so its parity data",
        "are `xgb17_binary_input.csv` / `xgb17_binary_expected.csv`.",
        "",
        "Rerunning `make_xgboost_fixture.py` rewrites this README without this section: rerun",
        "`make_onnx_fixtures.py` after it.",
        "",
        last_run([("scikit-learn", sklearn.__version__), ("skl2onnx", skl2onnx.__version__), ("onnx", onnx.__version__),
                  ("onnxruntime", ort.__version__), ("numpy", np.__version__)]),
        "",
        END,
    ]
    path = os.path.join(OUT, "README.md")
    text = open(path).read() if os.path.exists(path) else "# SluiceModelTests fixtures\n"
    block = "\n".join(lines)
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20251123)

    # Labels come from the complete rows; NaN is planted afterwards.
    x = make_transaction_features(rng, TRAIN_ROWS)
    y = binary_label(rng, x)
    make_case(rng, "onnx_rf_binary",
              RandomForestClassifier(n_estimators=50, max_depth=8, min_samples_leaf=15, random_state=7, n_jobs=1),
              with_missing(rng, x), y, nan_rows=True, repair=True)

    x = make_transaction_features(rng, TRAIN_ROWS)
    y = transaction_regression_target(rng, x)
    make_case(rng, "onnx_et_regression",
              ExtraTreesRegressor(n_estimators=30, max_depth=8, min_samples_leaf=15, random_state=7, n_jobs=1),
              with_missing(rng, x), y, nan_rows=True, repair=True)

    x = make_transaction_features(rng, TRAIN_ROWS)
    make_case(rng, "onnx_gb_multiclass",
              GradientBoostingClassifier(n_estimators=30, max_depth=3, learning_rate=0.2, subsample=0.9, random_state=7),
              x, three_classes(rng, x), nan_rows=False, opset3=True, zipmap=False)

    x = make_transaction_features(rng, TRAIN_ROWS)
    y = binary_label(rng, x)
    make_case(rng, "onnx_hgb_binary",
              HistGradientBoostingClassifier(max_iter=60, max_leaf_nodes=15, learning_rate=0.1, early_stopping=False,
                                             random_state=7),
              with_missing(rng, x), y, nan_rows=True)

    write_mlflow_fixture()
    write_readme()
    for s in SUMMARY:
        print(s)
    print(f"wrote ONNX and MLflow fixtures to {OUT}")


if __name__ == "__main__":
    main()
