# SPDX-License-Identifier: MIT
"""libfeat.spark in Spark local mode (local[2]) against the feat CLI on the same inputs.

Real photos (a PNG among them) plus a corrupt JPEG, through binaryFile content and through a
column of paths, with random-init ResNet18; 100 fortunes records with the real MiniLM. The
features must equal the CLI's row for row (max abs difference 0); failed rows carry the
CLI's status and message in the error columns and never fail the job.
"""
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -r tools/requirements.txt)")

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("FEAT_BUILD_DIR", ROOT / "build")).resolve()

if "FEAT_LIBRARY" not in os.environ and (BUILD / "libfeat.so").exists():
    os.environ["FEAT_LIBRARY"] = str(BUILD / "libfeat.so")
try:
    import libfeat  # noqa: F401
except ModuleNotFoundError:
    sys.path.insert(0, str(ROOT / "bindings" / "python" / "src"))
import libfeat  # noqa: E402,F811
from libfeat import spark as fs  # noqa: E402

PHOTOS = ["nature/FreshFlower.jpg", "desktop/GreenTraditional.jpg", "nature/GreenMeadow.jpg", "nature/Aqua.jpg",
          "abstract/Spring.png", "nature/LadyBird.jpg"]
IMAGE_TAPS = "layer4:gap,layer2:gmp"
TEXT_TAPS = "encoder.layer.-1:mean"


def package_zip(tmp_path_factory):
    """The libfeat package as a zip for addPyFile (pure Python; the .so comes by FEAT_LIBRARY)."""
    pkg = tmp_path_factory.mktemp("pyfiles") / "libfeat.zip"
    src = pathlib.Path(libfeat.__file__).parent
    with zipfile.ZipFile(pkg, "w") as z:
        for f in sorted(src.glob("*.py")):
            z.write(f, "libfeat/" + f.name)
    return str(pkg)


def session_with_env(builder, **env):
    """builder.getOrCreate() with ``env`` in os.environ while the session starts (PySpark reads
    PYSPARK_PYTHON then; the driver JVM, when it starts, inherits the rest), restored after."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return builder.getOrCreate()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def copy_photos(d, rels):
    for rel in rels:
        shutil.copy(pathlib.Path("/usr/share/backgrounds/mate", rel), d / pathlib.Path(rel).name)
    return d


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    from pyspark.sql import SparkSession

    # The Python workers run the venv's interpreter, find libfeat.so through FEAT_LIBRARY
    # (inherited from the JVM's environment) and get the package as a zip via addPyFile,
    # as on a cluster (docs/spark.md).
    builder = (SparkSession.builder.master("local[2]").appName("libfeat-spark-test")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", "16")
               .config("spark.driver.memory", "1g"))
    s = session_with_env(builder, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
                         FEAT_LIBRARY=libfeat.library_path())
    s.sparkContext.setLogLevel("ERROR")
    s.sparkContext.addPyFile(package_zip(tmp_path_factory))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = copy_photos(tmp_path_factory.mktemp("photos"), PHOTOS)
    good = (d / "Aqua.jpg").read_bytes()
    (d / "corrupt.jpg").write_bytes(good[: len(good) // 3])  # a truncated JPEG
    return sorted(str(p) for p in d.iterdir())


def cli_rows(npy):
    feats = np.load(npy)
    rows = []
    for line in pathlib.Path(str(npy)[:-4] + ".rows.tsv").read_text(errors="replace").splitlines()[1:]:
        parts = line.split("\t")
        rows.append((parts[1], parts[3] if len(parts) > 3 else ""))
    return feats, rows


def run_cli(feat_cli, *args):
    r = subprocess.run([str(feat_cli), *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def status_name(s):
    return "ok" if s == 0 else libfeat.error_for(s, "").status_name


def check_same(got_rows, feats, rows, messages=True):
    """got_rows: Spark rows in the CLI's order. Features equal (max abs diff 0) where the CLI
    succeeded, null + the CLI's status (and message) where it failed."""
    assert len(got_rows) == len(rows)
    n_failed = 0
    for i, (r, (st, msg)) in enumerate(zip(got_rows, rows)):
        assert status_name(r["features_status"]) == st, (i, r["features_status"], r["features_error"], st, msg)
        if st == "ok":
            assert r["features_error"] is None
            got = np.asarray(r["features"], dtype=np.float32)
            assert got.shape == feats[i].shape
            assert float(np.max(np.abs(got - feats[i]))) == 0.0, i
        else:
            n_failed += 1
            assert r["features"] is None and np.isnan(feats[i]).all()
            assert r["features_error"]
            if messages:
                assert r["features_error"] == msg
    return n_failed


@pytest.fixture(scope="module")
def image_cli(feat_cli, models, photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-image") / "img.npy"
    run_cli(feat_cli, "image", "--model", models["resnet18-script"], "--taps", IMAGE_TAPS, "--threads", "1",
            "-o", out, *photos)
    return cli_rows(out)


def test_images_binaryfile_equal_cli(spark, models, photos, image_cli):
    feats, rows = image_cli
    assert [st for st, _ in rows].count("ok") == len(PHOTOS)
    df = spark.read.format("binaryFile").load(os.path.dirname(photos[0])).repartition(3)
    out = fs.image_features(df, str(models["resnet18-script"]), taps=IMAGE_TAPS, batch_size=4, threads=1,
                            keep_input=False)
    assert "content" not in out.columns
    got = sorted(out.collect(), key=lambda r: r["path"])
    assert [r["path"].replace("file:", "") for r in got] == photos
    assert check_same(got, feats, rows, messages=False) == 1
    # The library's message names an item of one call ("item 0: ..."); the row's names its file.
    for r, (st, msg) in zip(got, rows):
        assert r["features_error"] == (None if st == "ok" else "file:" + msg)


def test_images_paths_shared_model_equal_cli(spark, models, photos, image_cli):
    feats, rows = image_cli
    df = spark.createDataFrame([(i, p) for i, p in enumerate(photos)], "idx int, path string").repartition(2)
    out = fs.image_features(df, str(models["resnet18-script"]), input_col="path", taps=IMAGE_TAPS, threads=1,
                            ship_model=False)
    got = sorted(out.collect(), key=lambda r: r["idx"])
    assert check_same(got, feats, rows) == 1
    assert [r["features_status"] for r in got].count(libfeat.DecodeError.status) == 1  # the truncated JPEG


def test_image_input_errors_are_rows(spark, models, photos):
    df = spark.createDataFrame([(0, photos[0]), (1, None), (2, "s3a://bucket/x.jpg"), (3, "/no/such/file.jpg"),
                                (4, "file:" + photos[1])], "idx int, path string")
    got = sorted(fs.image_features(df, str(models["resnet18-script"]), input_col="path", taps=IMAGE_TAPS,
                                   threads=1).collect(), key=lambda r: r["idx"])
    st = [r["features_status"] for r in got]
    assert st[0] == 0 and st[4] == 0 and len(got[0]["features"]) == len(got[4]["features"]) == 512 + 128
    assert st[1] == libfeat.InvalidArgument.status and got[1]["features_error"] == "null input"
    assert st[2] == libfeat.InvalidArgument.status and "binaryFile" in got[2]["features_error"]
    assert st[3] < 0 and got[3]["features"] is None and got[3]["features_error"]


def test_one_extractor_per_worker(spark, models, photos):
    # 6 partitions of 1-row Arrow batches on 2 cores: each worker process loads the model once
    # (taps of their own, so that the other tests' extractors are not counted).
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "1")
    try:
        df = spark.createDataFrame([(p,) for p in photos * 2], "path string").repartition(6)
        out = fs.image_features(df, str(models["resnet18-script"]), input_col="path", taps="layer3:gap", threads=1)
        assert out.filter("features_status = 0").count() == 2 * len(PHOTOS)

        def probe(batches):
            import pandas as pd
            from libfeat import spark as fsw

            for _ in batches:
                pass
            loads = [n for key, n in fsw.cached_extractors().items() if "layer3:gap" in repr(key)]
            yield pd.DataFrame({"pid": [os.getpid()], "n": [sum(loads)], "k": [len(loads)]})

        seen = spark.range(0, 6, numPartitions=6).mapInPandas(probe, "pid long, n long, k long").collect()
    finally:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "16")
    assert all(r["n"] == r["k"] <= 1 for r in seen) and any(r["n"] == 1 for r in seen), seen
    assert len({r["pid"] for r in seen}) <= 2, seen  # reused workers, not one process per task


def fortunes(n=100):
    sys.path.insert(0, str(ROOT / "tools"))
    from fortunes_to_lines import records

    out = []
    for rec in records("/usr/share/games/fortunes/computers"):
        out.append(rec)
        if len(out) == n:
            break
    return out


@pytest.fixture(scope="module")
def lines(tmp_path_factory):
    recs = fortunes()
    assert len(recs) == 100
    p = tmp_path_factory.mktemp("fortunes") / "lines.txt"
    p.write_text("".join(r + "\n" for r in recs), encoding="utf-8")
    return p, recs


def test_text_fortunes_equal_cli(spark, feat_cli, models, lines, tmp_path):
    path, recs = lines
    # One sequence per forward pass on both sides: a batch's padding changes the last bits of
    # a transformer's output, and Spark's partitions cut the batches elsewhere than the CLI.
    run_cli(feat_cli, "text", "--model", models["minilm"], "--taps", TEXT_TAPS, "--batch-size", "1",
            "--threads", "1", "--input", path, "-o", tmp_path / "t.npy")
    feats, rows = cli_rows(tmp_path / "t.npy")
    data = [(i, r) for i, r in enumerate(recs)] + [(len(recs), None)]
    df = spark.createDataFrame(data, "idx int, text string").repartition(4)
    out = fs.text_features(df, str(models["minilm"]), taps=TEXT_TAPS, batch_size=1, threads=1)
    got = sorted(out.collect(), key=lambda r: r["idx"])
    assert got[-1]["features"] is None and got[-1]["features_error"] == "null input"
    assert check_same(got[:-1], feats, rows) == 0

    # Default batching (32 per pass): the same rows up to the last bits.
    out = fs.text_features(df, str(models["minilm"]), taps=TEXT_TAPS, threads=1, output_col="emb")
    got = np.array([r["emb"] for r in sorted(out.collect(), key=lambda r: r["idx"])[:-1]], dtype=np.float32)
    assert float(np.max(np.abs(got - feats))) < 1e-5


def test_featurizer_transformer(spark, models, lines):
    _, recs = lines
    df = spark.createDataFrame([(i, r) for i, r in enumerate(recs[:12])], "idx int, sentence string")
    stage = fs.Featurizer(kind="text", model=str(models["minilm"]), inputCol="sentence", outputCol="emb",
                          taps=TEXT_TAPS, batchSize=1, threads=1)
    a = sorted(stage.transform(df).collect(), key=lambda r: r["idx"])
    b = sorted(fs.text_features(df, str(models["minilm"]), input_col="sentence", output_col="emb", taps=TEXT_TAPS,
                                batch_size=1, threads=1).collect(), key=lambda r: r["idx"])
    assert [r["emb"] for r in a] == [r["emb"] for r in b] and all(r["emb_status"] == 0 for r in a)


def test_driver_side_checks(spark, models):
    df = spark.createDataFrame([("x",)], "text string")
    with pytest.raises(TypeError, match="unknown TextExtractor option"):
        fs.text_features(df, str(models["minilm"]), bogus=1)
    with pytest.raises(ValueError, match="no column"):
        fs.text_features(df, str(models["minilm"]), input_col="nope")
    with pytest.raises(FileNotFoundError):
        fs.text_features(df, "/no/such/model.pt")
    assert [os.path.basename(f) for f in fs.model_files(str(models["minilm"]))] == [
        "minilm.pt", "minilm.json", "minilm.vocab.txt"]


def test_text_binary_column_invalid_utf8_is_a_row(spark, models):
    df = spark.createDataFrame([(0, bytearray("caf\u00e9 ok".encode())), (1, bytearray(b"bad \xff\xfe bytes"))],
                               "idx int, text binary")
    got = sorted(fs.text_features(df, str(models["minilm"]), taps=TEXT_TAPS, threads=1).collect(),
                 key=lambda r: r["idx"])
    assert got[0]["features_status"] == 0 and len(got[0]["features"]) == 384
    assert got[1]["features"] is None and got[1]["features_status"] == libfeat.DecodeError.status
    assert got[1]["features_error"]


def test_image_files_report_skipped_files(spark, models, photos, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(photos[0], d / "with space %1.jpg")  # binaryFile's path column is the decoded form
    shutil.copy(photos[1], d / "vanishes.jpg")
    (d / "empty.jpg").write_bytes(b"")
    model = str(models["resnet18-script"])
    out = {m: fs.image_files(spark, str(d), model, read=m, taps="layer4:gap", threads=1) for m in ("content", "path")}
    assert [p.replace("file:", "") for p in sorted(fs.list_files(spark, str(d)))] == sorted(
        str(p) for p in d.iterdir())
    (d / "vanishes.jpg").unlink()  # listed (the plans above are lazy), gone when the job reads
    got = {m: {r["path"].replace("file:", ""): r for r in o.collect()} for m, o in out.items()}
    for m in ("content", "path"):
        assert sorted(got[m]) == sorted([str(d / "with space %1.jpg"), str(d / "vanishes.jpg"), str(d / "empty.jpg")])
        assert got[m][str(d / "with space %1.jpg")]["features_status"] == 0
    for name in ("vanishes.jpg", "empty.jpg"):
        r = got["content"][str(d / name)]
        assert r["features"] is None and r["features_status"] == libfeat.IOFailure.status
        assert r["features_error"] == "file:%s: %s" % (d / name, fs.NOT_READ)
    assert got["path"][str(d / "empty.jpg")]["features_error"] == "%s: empty file" % (d / "empty.jpg")
    r = got["path"][str(d / "vanishes.jpg")]
    assert r["features_status"] == libfeat.NotFound.status and r["features_error"].startswith(str(d / "vanishes.jpg"))


def test_text_rows_name_their_input_and_carry_the_blas_warning(models, monkeypatch):
    # Driven in this process (the executors' OpenBLAS cannot be made to fall back on a CPU it
    # knows): the job asks _blas once per task, and each row of the task carries the answer.
    import pandas as pd

    from libfeat import _blas

    job = fs._Job("text", str(models["bert-tiny"]), None, None, None, {"taps": "encoder.layer.-1:mean"}, "text",
                  None, "text", ("f", "f_status", "f_error", "f_warning"), None, libfeat.threads(), 256, True)
    pdf = pd.DataFrame({"text": [b"fine", b"bad \xff bytes" + b"x" * 40]})
    monkeypatch.setattr(_blas, "suggested_coretype", lambda: "Haswell")
    (out,) = list(job([pdf]))
    assert list(out["f_warning"]) == [fs._Job.warning_text("Haswell")] * 2
    assert "OPENBLAS_CORETYPE=Haswell" in out["f_warning"][0]
    assert out["f_status"][0] == 0 and out["f_status"][1] == libfeat.DecodeError.status
    assert out["f_error"][1].startswith(repr((b"bad \xff bytes" + b"x" * 40)[:40]) + "...: ")
    assert "item " not in out["f_error"][1]
    monkeypatch.setattr(_blas, "suggested_coretype", lambda: None)
    job.key_col = "key"
    (out,) = list(job([pdf.assign(key=["a", "b"])]))
    assert out["f_warning"].isna().all() and out["f_error"][1].startswith("b: ")
