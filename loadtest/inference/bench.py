#!/usr/bin/env python3
"""Side-by-side inference benchmark: Sluice against every peer installable from PyPI, in one run.

    python3 loadtest/inference/bench.py [--work /tmp/sluice-bench] [--seconds 3] [--sluice PATH]

(or `loadtest/inference/run`, which installs the peers and builds Sluice first). For each model
shape of docs/performance.md it scores the same 10,000 rows (32 float features, ~5 % NaN) on
one thread, in 64-row batches and one row per call, and prints ns/row per engine and Sluice's
speed-up over the fastest peer. Peers: XGBoost / LightGBM themselves, TL2cgen (C generated from
the model, compiled with gcc -O3), lleaves (LLVM-compiled LightGBM), ONNX Runtime (via
onnxmltools). Python peers are timed around their predict call, which includes their per-call
overhead, as a Python service would pay it; TL2cgen's and lleaves' compiled code is also timed
from C with no Python in the loop (native_bench.c), and the fastest of all is the reference.
Median of repeated rounds. Run it on an otherwise idle machine. Not a test.

Then, because this VM's speed drifts by ±30 % over seconds and each engine above is timed in
its own few seconds, every (model, calls) pair is timed again in `--pairs` paired rounds: the
fastest peer and Sluice back to back (order alternating), `--pair-seconds` each, and the table's
last column is the median of the per-round speed-ups with their range.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = [("xgb_300_d6.json", "XGBoost 300 trees, depth 6"),
          ("lgbm_500_l63.txt", "LightGBM 500 trees, 63 leaves"),
          ("xgb_500_d8.json", "XGBoost 500 trees, depth 8")]


def timed(fn, rows, batch, seconds):
    """Median ns/row over rounds that score `rows` in calls of `batch` rows."""
    n = len(rows)
    slices = [rows[i:i + batch] for i in range(0, n, batch)]
    fn(slices[0])  # warm-up
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 3:
        start = time.perf_counter_ns()
        for part in slices:
            fn(part)
        samples.append((time.perf_counter_ns() - start) / n)
    return statistics.median(samples)


def link_shared(obj):
    lib = obj[:-2] + ".so"
    if not os.path.exists(lib):
        subprocess.run(["gcc", "-shared", "-o", lib, obj], check=True)
    return lib


def native_bench(work):
    binary = os.path.join(work, "native_bench")
    source = os.path.join(HERE, "native_bench.c")
    if not os.path.exists(binary) or os.path.getmtime(binary) < os.path.getmtime(source):
        subprocess.run(["gcc", "-O3", "-o", binary, source, "-ldl", "-lm"], check=True)
    return binary


def native_ns(work, kind, lib, rows_f64, rows, seconds, mode=None):
    """(batch64, single) ns/row of a compiled peer; only the one named by `mode` when given."""
    out = subprocess.run([native_bench(work), kind, lib, rows_f64, str(rows.shape[0]), str(rows.shape[1]), str(seconds)]
                         + ([mode] if mode else []), check=True, capture_output=True, text=True).stdout
    values = dict(line.split("=") for line in out.split() if "=" in line)
    return float(values.get("ns_per_row_batch64", "nan")), float(values.get("ns_per_row_single", "nan"))


def peers_for(path, kind, work):
    """(name -> predict(batch) callable through Python, name -> (kind, compiled library) for the
    native harness), for every peer that loads this model."""
    peers = {}
    native = {}
    if kind == "xgboost":
        import xgboost as xgb
        booster = xgb.Booster(model_file=path)
        booster.set_param({"nthread": 1})
        peers["xgboost"] = lambda x: booster.inplace_predict(x)
    else:
        import lightgbm as lgb
        booster = lgb.Booster(model_file=path)
        peers["lightgbm"] = lambda x: booster.predict(x, num_threads=1)
        try:
            import lleaves
            model = lleaves.Model(model_file=path)
            model.compile(cache=os.path.join(work, os.path.basename(path) + ".lleaves.o"))
            peers["lleaves"] = lambda x: model.predict(x, n_jobs=1)
        except Exception as error:  # noqa: BLE001 - report and continue with the other peers
            print(f"  lleaves unavailable: {error}", file=sys.stderr)
        try:
            import lleaves
            raw = lleaves.Model(model_file=path)
            obj = os.path.join(work, os.path.basename(path) + ".lleaves-raw.o")
            raw.compile(cache=obj, raw_score=True)
            native["lleaves (native)"] = ("lleaves", link_shared(obj))
        except Exception as error:  # noqa: BLE001
            print(f"  native lleaves unavailable: {error}", file=sys.stderr)
    try:
        import tl2cgen
        import treelite
        if kind == "xgboost":
            tmodel = treelite.frontend.load_xgboost_model(path)
        else:
            tmodel = treelite.frontend.load_lightgbm_model(path)
        lib = os.path.join(work, os.path.basename(path) + ".tl2cgen.so")
        if not os.path.exists(lib):
            tl2cgen.export_lib(tmodel, toolchain="gcc", libpath=lib, params={"parallel_comp": 16},
                               options=["-O3"], nthread=2)
        predictor = tl2cgen.Predictor(lib, nthread=1)
        native["tl2cgen (native)"] = ("tl2cgen", lib)
        dtype = np.float32 if kind == "xgboost" else np.float64
        # tl2cgen's DMatrix refuses to convert under NumPy 2 (copy=False), so hand it its dtype.
        peers["tl2cgen"] = lambda x: predictor.predict(tl2cgen.DMatrix(np.ascontiguousarray(x, dtype=dtype), dtype=dtype.__name__))
    except Exception as error:  # noqa: BLE001
        print(f"  tl2cgen unavailable: {error}", file=sys.stderr)
    try:
        import onnxmltools
        import onnxruntime as ort
        from onnxmltools.convert.common.data_types import FloatTensorType
        onnx_path = os.path.join(work, os.path.basename(path) + ".onnx")
        if not os.path.exists(onnx_path):
            if kind == "xgboost":
                import xgboost as xgb
                clf = xgb.XGBClassifier()
                clf.load_model(path)
                onx = onnxmltools.convert_xgboost(clf, initial_types=[("x", FloatTensorType([None, 32]))])
            else:
                import lightgbm as lgb
                onx = onnxmltools.convert_lightgbm(lgb.Booster(model_file=path), initial_types=[("x", FloatTensorType([None, 32]))],
                                                   zipmap=False)
            with open(onnx_path, "wb") as f:
                f.write(onx.SerializeToString())
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        peers["onnxruntime"] = lambda x: session.run(None, {name: x.astype(np.float32)})
    except Exception as error:  # noqa: BLE001
        print(f"  onnxruntime unavailable: {error}", file=sys.stderr)
    return peers, native


def sluice_ns(binary, model, rows_csv, batch, seconds):
    mode = ["--single"] if batch == 1 else ["--batch", str(batch)]
    out = subprocess.run([binary, "model", "bench", "--model", model, "--input", rows_csv, "--seconds", str(seconds)] + mode,
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1].split("=")[1])


def paired_ratios(args, fastest, peers, native, model, rows, rows_csv, rows_f64, data, batch):
    """Speed-ups over `fastest` from rounds that time it and Sluice back to back, order alternating."""
    def peer():
        if fastest in native:
            kind, lib = native[fastest]
            batch64, single = native_ns(args.work, kind, lib, rows_f64, rows, args.pair_seconds, "batch64" if batch > 1 else "single")
            return batch64 if batch > 1 else single
        return timed(peers[fastest], data, batch, args.pair_seconds)

    ratios = []
    for round_ in range(args.pairs):
        if round_ % 2 == 0:
            theirs = peer()
            ours = sluice_ns(args.sluice, model, rows_csv, batch, args.pair_seconds)
        else:
            ours = sluice_ns(args.sluice, model, rows_csv, batch, args.pair_seconds)
            theirs = peer()
        ratios.append(theirs / ours)
    return ratios


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default="/tmp/sluice-bench")
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--sluice", default=os.path.join(ROOT, ".build", "release", "sluice"))
    parser.add_argument("--pairs", type=int, default=5, help="paired rounds of the fastest peer and Sluice (0: none)")
    parser.add_argument("--pair-seconds", type=float, default=1)
    args = parser.parse_args()
    if not os.path.exists(os.path.join(args.work, "rows.npy")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_models.py"), args.work], check=True)
    rows = np.load(os.path.join(args.work, "rows.npy"))
    single_rows = rows[:2000]
    rows_csv = os.path.join(args.work, "rows.csv")
    rows_f64 = os.path.join(args.work, "rows.f64")
    rows.astype(np.float64).tofile(rows_f64)
    lines = ["| model | calls | peers (ns/row) | fastest peer | Sluice ns/row | Sluice speed-up | paired rounds: median (range) |",
             "|---|---|---|---|---|---|---|"]
    for file, label in MODELS:
        path = os.path.join(args.work, file)
        kind = "xgboost" if file.startswith("xgb") else "lightgbm"
        print(f"{label}", file=sys.stderr)
        peers, native = peers_for(path, kind, args.work)
        native_results = {name: native_ns(args.work, k, lib, rows_f64, rows, args.seconds) for name, (k, lib) in native.items()}
        for batch, mode in [(64, "64-row batches"), (1, "single row")]:
            data = rows if batch > 1 else single_rows
            results = {}
            for name, fn in peers.items():
                results[name] = timed(fn, data, batch, args.seconds)
                print(f"  {mode:15} {name:18} {results[name]:10.1f} ns/row", file=sys.stderr)
            for name, (batch64, single) in native_results.items():
                results[name] = batch64 if batch > 1 else single
                print(f"  {mode:15} {name:18} {results[name]:10.1f} ns/row", file=sys.stderr)
            ours = sluice_ns(args.sluice, path, rows_csv, batch, args.seconds)
            print(f"  {mode:15} {'sluice':18} {ours:10.1f} ns/row", file=sys.stderr)
            fastest = min(results, key=results.get)
            peer_text = ", ".join(f"{n} {v:,.0f}" for n, v in sorted(results.items(), key=lambda kv: kv[1]))
            ratios = paired_ratios(args, fastest, peers, native, path, rows, rows_csv, rows_f64, data, batch)
            paired = f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})" if ratios else "–"
            print(f"  {mode:15} paired speed-ups over {fastest}: {', '.join(f'{r:.2f}' for r in ratios)}", file=sys.stderr)
            lines.append(f"| {label} | {mode} | {peer_text} | {fastest} | {ours:,.0f} | {results[fastest] / ours:.2f}× | {paired} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
