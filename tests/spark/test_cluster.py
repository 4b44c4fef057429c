# SPDX-License-Identifier: MIT
"""libfeat.spark on a real Spark standalone cluster (master + two 1-core workers on 127.0.0.1),
against the feat CLI on the same inputs; then one worker and its executor are killed with
SIGKILL in the middle of a job, and every row must still come back exactly once, equal to the
CLI's.

The cluster's JVMs get none of the test process's FEAT_LIBRARY / PYSPARK_PYTHON / PYTHONPATH:
the executors find the interpreter through PYSPARK_PYTHON set before the session,
libfeat.so through spark.executorEnv.FEAT_LIBRARY and the package through addPyFile, the
settings docs/spark.md gives a cluster user. One cluster serves every test of the module.
"""
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -r tools/requirements.txt)")

import standalone  # noqa: E402
from test_spark import (IMAGE_TAPS, check_same, cli_rows, copy_photos, fortunes, fs, libfeat, package_zip,  # noqa: E402
                        run_cli, session_with_env)

# 12 of the smaller MATE backgrounds (PNG and JPEG, 76-380 KB): decoding stays a small part of
# the job on 1-core workers.
PHOTOS = ["abstract/Spring.png", "nature/FreshFlower.jpg", "desktop/GreenTraditional.jpg", "nature/GreenMeadow.jpg",
          "abstract/Arc-Colors-Transparent-Wallpaper.png", "nature/Aqua.jpg", "abstract/Silk.png",
          "abstract/Waves.png", "nature/Garden.jpg", "nature/YellowFlower.jpg", "nature/LadyBird.jpg",
          "abstract/Flow.png"]
TEXT_TAPS = "encoder.layer.-1:mean"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = standalone.Standalone(tmp_path_factory.mktemp("standalone"), workers=2, cores=1, memory="2g")
    c.start()
    try:
        yield c
    finally:
        c.stop()
        assert not c.leftover(), c.leftover()


@pytest.fixture(autouse=True)
def logs_on_failure(request, cluster):
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(cluster.logs())  # lands in the report's "Captured stdout teardown"


@pytest.fixture(scope="module")
def cspark(cluster, tmp_path_factory):
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    assert SparkContext._active_spark_context is None, "another SparkContext is running in this process"
    # A plain-Python driver: spark.pyspark.python on the builder would not reach the executors,
    # PYSPARK_PYTHON before the session does (docs/spark.md).
    builder = (SparkSession.builder.master(cluster.master_url).appName("libfeat-standalone-test")
               .config("spark.driver.host", standalone.HOST)
               .config("spark.driver.bindAddress", standalone.HOST)
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.driver.memory", "1g")
               .config("spark.executor.memory", "512m")
               .config("spark.executor.cores", "1")
               .config("spark.cores.max", "2")
               .config("spark.executorEnv.FEAT_LIBRARY", libfeat.library_path()))
    s = session_with_env(builder, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
                         SPARK_LOCAL_IP=standalone.HOST)
    try:
        s.sparkContext.setLogLevel("ERROR")
        # One file per scan partition, so that both executors get work from a dozen files.
        s.conf.set("spark.sql.files.maxPartitionBytes", str(256 << 10))
        s.conf.set("spark.sql.files.openCostInBytes", str(256 << 10))
        s.sparkContext.addPyFile(package_zip(tmp_path_factory))
        deadline = time.monotonic() + 90  # both executors up before the first job
        while s.sparkContext._jsc.sc().getExecutorMemoryStatus().size() < 3 and time.monotonic() < deadline:
            time.sleep(0.25)
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    d = copy_photos(tmp_path_factory.mktemp("cluster-photos"), PHOTOS)
    (d / "empty.jpg").write_bytes(b"")  # binaryFile's scan skips 0-byte files
    return d


def by_path(rows):
    return {r["path"].replace("file:", ""): r for r in rows}


def test_cluster_images_equal_cli(cspark, feat_cli, models, photo_dir, tmp_path):
    files = sorted(str(p) for p in photo_dir.iterdir())
    run_cli(feat_cli, "image", "--model", models["resnet18-script"], "--taps", IMAGE_TAPS, "--threads", "1",
            "-o", tmp_path / "img.npy", *files)
    feats, rows = cli_rows(tmp_path / "img.npy")
    assert [st for st, _ in rows].count("ok") == len(PHOTOS)

    # The paths, opened by the executors: every row the CLI's, messages included.
    got = by_path(fs.image_files(cspark, str(photo_dir), str(models["resnet18-script"]), read="path",
                                 taps=IMAGE_TAPS, batch_size=4, threads=1).collect())
    assert sorted(got) == files
    assert check_same([got[f] for f in files], feats, rows) == 1
    assert got[str(photo_dir / "empty.jpg")]["features_error"].endswith("empty.jpg: empty file")

    # The bytes through binaryFile: the empty file the scan skipped is still a row, naming the file.
    got = by_path(fs.image_files(cspark, str(photo_dir), str(models["resnet18-script"]), read="content",
                                 taps=IMAGE_TAPS, batch_size=4, threads=1).collect())
    assert sorted(got) == files
    empty = got.pop(str(photo_dir / "empty.jpg"))
    assert empty["features"] is None and empty["features_status"] == libfeat.IOFailure.status
    assert empty["features_error"] == "file:%s: %s" % (photo_dir / "empty.jpg", fs.NOT_READ)
    ok = [i for i, f in enumerate(files) if f in got]
    assert check_same([got[files[i]] for i in ok], feats[ok], [rows[i] for i in ok]) == 0


def test_cluster_text_equal_cli(cspark, feat_cli, models, tmp_path):
    recs = fortunes(100)
    path = tmp_path / "lines.txt"
    path.write_text("".join(r + "\n" for r in recs), encoding="utf-8")
    df = cspark.createDataFrame([(i, r) for i, r in enumerate(recs)], "idx int, text string").repartition(4)
    for batch in (1, None):  # one sequence per pass: exact; the default (16): within the last bits
        out = tmp_path / ("t%s.npy" % batch)
        run_cli(feat_cli, "text", "--model", models["bert-tiny"], "--taps", TEXT_TAPS, "--threads", "1",
                *(["--batch-size", str(batch)] if batch else []), "--input", path, "-o", out)
        feats, rows = cli_rows(out)
        got = sorted(fs.text_features(df, str(models["bert-tiny"]), taps=TEXT_TAPS, batch_size=batch,
                                      threads=1).collect(), key=lambda r: r["idx"])
        if batch == 1:
            assert check_same(got, feats, rows) == 0
        else:
            diff = float(np.max(np.abs(np.array([r["features"] for r in got], dtype=np.float32) - feats)))
            assert diff < 1e-5, diff
    # The executors run on this host with this environment: they see the OpenBLAS the driver sees.
    libfeat.TextExtractor(str(models["bert-tiny"])).close()
    expected = libfeat._blas.suggested_coretype()
    warnings = {r["features_warning"] for r in got}
    assert warnings == ({None} if expected is None else {fs._Job.warning_text(expected)})


def test_cluster_changed_model_is_shipped_again(cspark, feat_cli, models, photo_dir, tmp_path):
    torch = pytest.importorskip("torch")
    mdir = tmp_path / "m"
    mdir.mkdir()
    model = mdir / "net.pt"
    shutil.copy(models["resnet18-script"], model)
    shutil.copy(str(models["resnet18-script"])[:-3] + ".json", mdir / "net.json")
    files = [str(photo_dir / n) for n in ("Aqua.jpg", "Spring.png")]
    df = cspark.createDataFrame([(f,) for f in files], "path string").repartition(2)

    def spark_feats():
        rows = sorted(fs.image_features(df, str(model), input_col="path", taps="layer4:gap", threads=1).collect(),
                      key=lambda r: r["path"])
        assert all(r["features_status"] == 0 for r in rows), rows
        return np.array([r["features"] for r in rows], dtype=np.float32)

    def cli_feats(name):
        run_cli(feat_cli, "image", "--model", model, "--taps", "layer4:gap", "--threads", "1",
                "-o", tmp_path / name, *files)
        return np.load(tmp_path / name)

    before = spark_feats()
    assert float(np.max(np.abs(before - cli_feats("a.npy")))) == 0.0
    m = torch.jit.load(str(model))  # the same path, other weights
    with torch.no_grad():
        m.conv1.weight.mul_(-0.5)
    m.save(str(model))
    after = spark_feats()
    assert float(np.max(np.abs(after - cli_feats("b.npy")))) == 0.0
    assert float(np.max(np.abs(after - before))) > 0.0


def test_cluster_worker_loss_loses_no_row(cspark, cluster, feat_cli, models, photo_dir, tmp_path):
    # 48 distinct files (4 copies of the 12 photos), one scan partition each; worker 1 and its
    # executor are killed with SIGKILL once a few tasks have finished.
    d = tmp_path / "many"
    d.mkdir()
    names = {}
    for k in range(4):
        for rel in PHOTOS:
            n = pathlib.Path(rel).name
            dst = d / ("%d-%s" % (k, n))
            shutil.copy(photo_dir / n, dst)
            names[str(dst)] = n
    originals = sorted({str(photo_dir / n) for n in names.values()})
    run_cli(feat_cli, "image", "--model", models["resnet18-script"], "--taps", IMAGE_TAPS, "--threads", "1",
            "-o", tmp_path / "img.npy", *originals)
    cli = dict(zip(originals, np.load(tmp_path / "img.npy")))
    victims = cluster.executors(1)
    assert victims, "worker 1 runs no executor"

    sc = cspark.sparkContext
    result, failure = [], []

    def job():
        try:
            sc.setJobGroup("worker-loss", "worker loss")  # a local property: of the thread that runs the job
            out = fs.image_files(cspark, str(d), str(models["resnet18-script"]), read="content", taps=IMAGE_TAPS,
                                 batch_size=4, threads=1)
            result.extend(out.collect())
        except BaseException as e:  # reported by the main thread
            failure.append(e)

    t0 = time.monotonic()
    th = threading.Thread(target=job, daemon=True)
    th.start()
    killed_at = None
    tracker = sc.statusTracker()
    deadline = time.monotonic() + 120
    while th.is_alive() and killed_at is None and time.monotonic() < deadline:
        done = 0
        for jid in tracker.getJobIdsForGroup("worker-loss"):
            info = tracker.getJobInfo(jid)
            for sid in (info.stageIds if info else []):
                st = tracker.getStageInfo(sid)
                done += st.numCompletedTasks if st else 0
        if done >= 6:
            killed = cluster.kill_worker(1)
            killed_at = time.monotonic() - t0
        time.sleep(0.05)
    th.join(timeout=240)
    assert not th.is_alive(), "the job did not finish after the worker was killed"
    assert not failure, failure
    assert killed_at is not None, "the job ended before the kill"
    assert set(victims) <= set(killed)
    print("worker loss: killed %s at %.1f s, job done in %.1f s" % (killed, killed_at, time.monotonic() - t0))
    paths = [r["path"].replace("file:", "") for r in result]
    assert sorted(paths) == sorted(names)  # every file exactly once
    for r in result:
        assert r["features_status"] == 0, r["features_error"]
        want = cli[str(photo_dir / names[r["path"].replace("file:", "")])]
        assert float(np.max(np.abs(np.asarray(r["features"], dtype=np.float32) - want))) == 0.0
