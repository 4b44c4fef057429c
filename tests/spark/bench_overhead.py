#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Spark local-mode overhead versus the feat CLI on the same inputs, timed in one run.

    FEAT_BUILD_DIR=$PWD/build .venv/bin/python tests/spark/bench_overhead.py [--cores 2]

Images: every MATE background up to 2.1 MB (28 photos, JPEG and PNG) with random-init
ResNet18 (taps layer4:gap,layer2:gmp, batch 8). Text: the 1051 records of the fortunes
'computers' file with the real MiniLM (encoder.layer.-1:mean, batch 32). The CLI gets all
cores in one process (--threads N); Spark runs local[N] with N partitions of one thread
each. Spark is timed twice: cold (first job: Python workers start, the model is shipped and
loaded) and warm (the same job again: cached extractors). Session start-up is reported
apart. Models come from $FEAT_BUILD_DIR/test-models (made by the test suite).
"""
import argparse
import glob
import os
import shutil
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("FEAT_BUILD_DIR", ROOT / "build")).resolve()
os.environ.setdefault("FEAT_LIBRARY", str(BUILD / "libfeat.so"))
sys.path.insert(0, str(ROOT / "bindings" / "python" / "src"))
sys.path.insert(0, str(ROOT / "tools"))
os.environ["PYSPARK_PYTHON"] = sys.executable
os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
os.environ["PYTHONPATH"] = str(ROOT / "bindings" / "python" / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")

import numpy as np  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    r = fn()
    return time.perf_counter() - t, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cores", type=int, default=2)
    a = ap.parse_args()
    n = a.cores
    feat = BUILD / "tools" / "feat" / "feat"
    resnet = BUILD / "test-models" / "resnet18-script.pt"
    minilm = BUILD / "test-models" / "minilm.pt"
    images = sorted(p for p in glob.glob("/usr/share/backgrounds/mate/*/*")
                    if p.lower().endswith((".jpg", ".png")) and os.path.getsize(p) <= 2_100_000)
    from fortunes_to_lines import records

    lines = list(records("/usr/share/games/fortunes/computers"))
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="feat-spark-bench-"))
    imgdir = tmp / "img"
    imgdir.mkdir()
    for p in images:
        shutil.copy(p, imgdir / (pathlib.Path(p).parent.name + "-" + pathlib.Path(p).name))
    (tmp / "lines.txt").write_text("".join(x + "\n" for x in lines), encoding="utf-8")

    def cli(*args):
        subprocess.run([str(feat), *map(str, args)], check=True, capture_output=True)

    res = {}
    res["cli_image"], _ = timed(lambda: cli("image", "--model", resnet, "--taps", "layer4:gap,layer2:gmp",
                                            "--batch-size", 8, "--threads", n, "-o", tmp / "i.npy", imgdir))
    res["cli_text"], _ = timed(lambda: cli("text", "--model", minilm, "--taps", "encoder.layer.-1:mean",
                                           "--threads", n, "--input", tmp / "lines.txt", "-o", tmp / "t.npy"))

    from pyspark.sql import SparkSession

    res["spark_start"], spark = timed(lambda: SparkSession.builder.master("local[%d]" % n)
                                      .config("spark.ui.enabled", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    from libfeat import spark as fs

    def image_job():
        df = spark.read.format("binaryFile").load(str(imgdir)).repartition(n)
        out = fs.image_features(df, str(resnet), taps="layer4:gap,layer2:gmp", batch_size=8, threads=1,
                                keep_input=False)
        return out.select("path", "features", "features_status").collect()

    tdf = spark.createDataFrame(list(enumerate(lines)), "idx int, text string").repartition(n).cache()
    tdf.count()

    def text_job():
        out = fs.text_features(tdf, str(minilm), taps="encoder.layer.-1:mean", threads=1)
        return out.select("idx", "features", "features_status").collect()

    res["spark_image_cold"], rows = timed(image_job)
    res["spark_image_warm"], rows = timed(image_job)
    res["spark_text_cold"], trows = timed(text_job)
    res["spark_text_warm"], trows = timed(text_job)
    spark.stop()

    # The Spark rows equal the CLI's (images exactly; text up to batching's last bits).
    ref = np.load(tmp / "i.npy")
    order = sorted(os.listdir(imgdir))
    got = {os.path.basename(r["path"]): r for r in rows}
    d_img = max(float(np.max(np.abs(np.asarray(got[f]["features"], np.float32) - ref[i]))) for i, f in
                enumerate(order))
    tref = np.load(tmp / "t.npy")
    tg = np.array([r["features"] for r in sorted(trows, key=lambda r: r["idx"])], np.float32)
    d_txt = float(np.max(np.abs(tg - tref)))

    ni, nt = len(images), len(lines)
    print("inputs: %d images, %d text lines; %d cores" % (ni, nt, n))
    print("spark session start: %.1f s" % res["spark_start"])
    for kind, cnt, unit in (("image", ni, "images/s"), ("text", nt, "lines/s")):
        c = res["cli_" + kind]
        print("%-5s CLI         %6.2f s  %7.1f %s" % (kind, c, cnt / c, unit))
        for m in ("cold", "warm"):
            s = res["spark_%s_%s" % (kind, m)]
            print("%-5s Spark %-5s %6.2f s  %7.1f %s  (%.2fx the CLI's time)" % (kind, m, s, cnt / s, unit, s / c))
    print("max abs diff vs CLI: images %g, text %g" % (d_img, d_txt))


if __name__ == "__main__":
    main()
