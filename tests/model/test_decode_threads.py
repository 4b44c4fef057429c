# SPDX-License-Identifier: MIT
"""Decode threads (feat_image_options_set_decode_threads) through the Python binding: N threads
decode and preprocess images ahead of inference, with the same bytes for every N, batch size
and thread budget as one image per call, per-item errors included; the N threads really run;
clones and cancellation keep working with them.

Each check runs in its own interpreter so that libfeat.so comes from the build under test
(FEAT_LIBRARY) and the process-wide thread budget of one test does not leak into another."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np

from conftest import ROOT, build_path

MATE = pathlib.Path("/usr/share/backgrounds/mate")
PHOTOS = [MATE / p for p in ("nature/Dune.jpg", "nature/LadyBird.jpg", "nature/Aqua.jpg", "abstract/Flow.png",
                             "desktop/Stripes.png", "desktop/GreenTraditional.jpg", "nature/FreshFlower.jpg")]
TAPS = "layer4:gap,layer2:gmp"

# Runs in the child: the items, the options of each run and what to do, from argv[1] (JSON).
CHILD = r"""
import json, os, sys, threading, time
import numpy as np
import libfeat

job = json.loads(sys.argv[1])
out = {}


def extract(ex):
    r = ex.extract_files(job["items"])
    return np.asarray(r.features), [r.item_error(i) and (type(r.item_error(i)).__name__, r.errors[i])
                                    for i in range(len(job["items"]))]


def save(name, feats, errors):
    np.save(os.path.join(job["dir"], name + ".npy"), feats)
    out[name] = {"errors": errors}


def max_threads_during(fn):
    # Threads of this process while fn runs (ctypes releases the GIL during the call).
    seen, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            seen[0] = max(seen[0], len(os.listdir("/proc/self/task")))
            time.sleep(0.002)

    s = threading.Thread(target=sample)
    s.start()
    try:
        res = fn()
    finally:
        done.set()
        s.join()
    return res, seen[0]


for run in job["runs"]:
    libfeat.set_threads(run["threads"])
    with libfeat.ImageExtractor(job["model"], taps=job["taps"], batch_size=run["batch"],
                                decode_threads=run["decode"]) as ex:
        if job["what"] == "single":
            feats, errors = [], []
            for p in job["items"]:
                r = ex.extract_files([p])
                feats.append(np.asarray(r.features)[0])
                errors.append(r.item_error(0) and (type(r.item_error(0)).__name__, r.errors[0]))
            save(run["name"], np.stack(feats), errors)
        elif job["what"] == "bytes":
            feats, errors = extract(ex)
            save(run["name"], feats, errors)
        elif job["what"] == "count":
            ex.extract_files(job["items"][:1])  # decoder buffers and batches are grown on first use
            (feats, errors), n = max_threads_during(lambda: extract(ex))
            save(run["name"], feats, errors)
            out[run["name"]]["max_threads"] = n
        elif job["what"] == "clones":
            clones = [ex.clone() for _ in range(3)]
            res = [None] * len(clones)

            def work(k):
                res[k] = [extract(clones[k]) for _ in range(2)]

            ts = [threading.Thread(target=work, args=(k,)) for k in range(len(clones))]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            for k, reps in enumerate(res):
                for rep, (feats, errors) in enumerate(reps):
                    save("%s-clone%d-%d" % (run["name"], k, rep), feats, errors)
            for c in clones:
                c.close()
        elif job["what"] == "cancel":
            outcomes = []
            for delay in (0.0, 0.1, 0.3):
                caught = []

                def work():
                    try:
                        extract(ex)
                        caught.append("completed")
                    except libfeat.Cancelled:
                        caught.append("cancelled")

                t = threading.Thread(target=work)
                t.start()
                time.sleep(delay)
                ex.cancel()
                t.join()
                outcomes.append(caught[0])
            feats, errors = extract(ex)
            save(run["name"], feats, errors)
            out[run["name"]]["outcomes"] = outcomes
print(json.dumps(out))
"""


def run_child(tmp_path, model, what, items, runs):
    job = {"model": str(model), "taps": TAPS, "items": [str(p) for p in items], "runs": runs, "what": what,
           "dir": str(tmp_path)}
    env = dict(os.environ, FEAT_LIBRARY=str(build_path("libfeat.so")),
               PYTHONPATH=str(ROOT / "bindings" / "python" / "src"))
    r = subprocess.run([sys.executable, "-c", CHILD, json.dumps(job)], capture_output=True, text=True, env=env,
                       timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    meta = json.loads(r.stdout.strip().splitlines()[-1])
    return {name: (np.load(tmp_path / (name + ".npy")), m) for name, m in meta.items()}


def items_with_bad_files(tmp_path):
    """Photos with a truncated JPEG and a missing file among them, so that batches of 3 hold
    failed items in different places."""
    assert all(p.exists() for p in PHOTOS), "mate-backgrounds photos are missing"
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(PHOTOS[0].read_bytes()[:3000])
    return [PHOTOS[0], PHOTOS[1], bad, PHOTOS[2], PHOTOS[3], tmp_path / "missing.jpg", *PHOTOS[4:]]


def assert_failed_rows(feats, errors, items):
    for i, p in enumerate(items):
        if p.name == "truncated.jpg":
            assert errors[i][0] == "DecodeError" and np.isnan(feats[i]).all(), errors[i]
        elif p.name == "missing.jpg":
            assert errors[i][0] == "NotFound" and np.isnan(feats[i]).all(), errors[i]
        else:
            assert errors[i] is None and not np.isnan(feats[i]).any(), (p, errors[i])


def test_same_bytes_for_every_number_of_decode_threads(models, tmp_path):
    model = models["resnet18-script"]
    items = items_with_bad_files(tmp_path)
    single = run_child(tmp_path, model, "single", items,
                       [{"name": "single", "threads": 0, "batch": 1, "decode": 1}])["single"]
    assert_failed_rows(single[0], single[1]["errors"], items)
    runs = [{"name": "b%d-d%d-t%d" % (b, d, t), "threads": t, "batch": b, "decode": d}
            for b in (1, 3) for d in (1, 2, 4) for t in (1, 2)]
    got = run_child(tmp_path, model, "bytes", items, runs)
    for run in runs:
        feats, meta = got[run["name"]]
        assert meta["errors"] == single[1]["errors"], run["name"]
        if run["batch"] == 1:
            # One image a forward pass, as in one call per image.
            assert feats.tobytes() == single[0].tobytes(), run["name"]
        else:
            # Batch k is always items 3k..3k+2 (those that decode), whatever the threads.
            assert feats.tobytes() == got["b3-d1-t1"][0].tobytes(), run["name"]
            np.testing.assert_allclose(feats, single[0], rtol=1e-5, atol=1e-6)


def test_decode_threads_run_beside_inference(models, tmp_path):
    """With a budget of one inference thread, decode_threads 4 starts three threads more than
    decode_threads 1 for the length of a call (one decode worker each)."""
    items = PHOTOS * 3
    runs = [{"name": "d%d" % d, "threads": 1, "batch": 1, "decode": d} for d in (1, 4)]
    got = run_child(tmp_path, models["resnet18-script"], "count", items, runs)
    one, four = got["d1"][1]["max_threads"], got["d4"][1]["max_threads"]
    assert four >= one + 3, (one, four)
    assert got["d4"][0].tobytes() == got["d1"][0].tobytes()


def test_clones_with_decode_threads(models, tmp_path):
    items = items_with_bad_files(tmp_path)
    got = run_child(tmp_path, models["resnet18-script"], "clones", items,
                    [{"name": "c", "threads": 2, "batch": 3, "decode": 2}])
    want = run_child(tmp_path, models["resnet18-script"], "bytes", items,
                     [{"name": "serial", "threads": 1, "batch": 3, "decode": 1}])["serial"]
    assert len(got) == 6
    for name, (feats, meta) in got.items():
        assert feats.tobytes() == want[0].tobytes() and meta["errors"] == want[1]["errors"], name


def test_cancel_with_decode_threads(models, tmp_path):
    """A cancelled call raises Cancelled (or completes, when the cancel came too late); the
    extractor then gives the full rows."""
    items = PHOTOS * 4
    got = run_child(tmp_path, models["resnet18-script"], "cancel", items,
                    [{"name": "x", "threads": 2, "batch": 1, "decode": 4}])
    want = run_child(tmp_path, models["resnet18-script"], "bytes", items,
                     [{"name": "serial", "threads": 1, "batch": 1, "decode": 1}])["serial"]
    feats, meta = got["x"]
    # A cancel before the call began is no cancel of it (each call starts uncancelled).
    assert "cancelled" in meta["outcomes"] and set(meta["outcomes"]) <= {"cancelled", "completed"}, meta
    assert feats.tobytes() == want[0].tobytes()


def test_feat_image_decode_threads(feat_cli, models, tmp_path):
    """`feat image --decode-threads N` writes the rows and the table of the run without it, bad
    files included; an ensemble refuses it (it decodes on its inference threads)."""
    model = models["resnet18-script"]
    items = items_with_bad_files(tmp_path)

    def feat_image(out, *extra):
        return subprocess.run([str(feat_cli), "image", "--model", str(model), "--taps", TAPS, "--batch-size", "2",
                               *extra, "-o", str(out), *map(str, items)], capture_output=True, text=True, timeout=600)

    r = feat_image(tmp_path / "one.npy")
    assert r.returncode == 0, r.stderr
    for n in ("2", "3"):
        r = feat_image(tmp_path / f"n{n}.npy", "--decode-threads", n, "--threads", "1")
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(np.load(tmp_path / f"n{n}.npy"), np.load(tmp_path / "one.npy"))
        assert (tmp_path / f"n{n}.rows.tsv").read_text() == (tmp_path / "one.rows.tsv").read_text()
    r = feat_image(tmp_path / "ens.npy", "--decode-threads", "2", "--model", str(model))
    assert r.returncode == 2 and "--decode-threads is for one model" in r.stderr, r.stderr
    assert not (tmp_path / "ens.npy").exists()
