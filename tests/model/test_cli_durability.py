# SPDX-License-Identifier: MIT
"""A feat run killed at any moment leaves only complete outputs, and --resume finishes it with
exactly the rows of an uninterrupted run; SIGINT stops cleanly after the current batch;
--shard I/N outputs merged with `feat merge` equal the unsharded run."""
import os
import random
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

import cli_outputs
from cli_outputs import assert_same_output, rows_table, run_shards

ARGS = ["--taps", "layer4:gap,layer2:gmp", "--resize", "72", "--crop", "64", "--part-size", "3"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = cli_outputs.random_pngs(tmp_path_factory.mktemp("imgs"), 36, 7, lambda i: (40 + i, 56))
    (d / "img05.png").write_bytes(b"not an image")  # one failed row among them
    return d


def feat_image(feat_cli, model, images, out, *extra):
    return cli_outputs.feat_image(feat_cli, model, images, out, ARGS, *extra)


def parts_are_valid(parts):
    if not parts.exists():
        return
    for f in parts.iterdir():
        if f.name.endswith(".partial"):
            continue  # an unfinished temporary, never read
        if f.suffix == ".npy":
            assert np.load(f).shape[1] > 0
            assert (parts / (f.name[:-4] + ".rows.tsv")).exists(), "a part's .npy exists only after its table"


def test_kill_and_resume_equals_uninterrupted(feat_cli, models, images, tmp_path):
    model = models["resnet18-script"]
    ref = tmp_path / "ref.npy"
    r = subprocess.run(feat_image(feat_cli, model, images, ref), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out.npy"
    parts = tmp_path / "out.parts"
    rng = random.Random(3)
    kills = 0
    for attempt in range(6):
        cmd = feat_image(feat_cli, model, images, out, *(["--resume"] if attempt else []))
        done_before = len(list(parts.glob("*.npy"))) if parts.exists() else 0
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill at a random moment after this run has written 1 to 3 more parts: mid-run, at any
        # point of writing a part, not only during start-up.
        target = done_before + rng.randint(1, 3)
        deadline = time.time() + 120
        while p.poll() is None and time.time() < deadline and len(list(parts.glob("*.npy"))) < target:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.08))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
        parts_are_valid(tmp_path / "out.parts")
        if out.exists():  # OUT.npy goes into place last (after OUT.rows.tsv): it marks a finished run
            break
    assert kills >= 2, "the runs finished before they could be killed; the test proves nothing"
    joined = tmp_path / "out.parts.joined"
    if not out.exists() or parts.exists() or joined.exists():
        # Not finished; or killed after writing OUT.npy but before its parts were taken away;
        # or killed while deleting them after the rename (the next run removes what is left):
        # --resume finishes each.
        r = subprocess.run(feat_image(feat_cli, model, images, out, "--resume"), capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    assert_same_output(out, ref)
    assert not parts.exists() and not joined.exists()


def stamp(path):
    """What a part's table keeps of an input file: its size and modification time."""
    st = os.stat(path)
    return f"{st.st_size} {st.st_mtime_ns // 10**9}.{st.st_mtime_ns % 10**9:09d}"


def split_into_parts(npy, parts, rows_per_part=3):
    """The parts a run leaves when it is killed after writing its output but before removing
    them: the output cut into part files as the run wrote them (their tables have a fifth
    column, each input file's stamp, which the join drops)."""
    data = np.load(npy)
    _, *rows = rows_table(npy).splitlines()
    rows = [r + "\t" + stamp(r.split("\t")[2]) + "\n" for r in rows]
    parts.mkdir()
    for first in range(0, len(rows), rows_per_part):
        base = parts / f"part-{first:09d}"
        (parts / (base.name + ".rows.tsv")).write_text("row\tstatus\tinput\tmessage\tstamp\n" +
                                                       "".join(rows[first:first + rows_per_part]))
        np.save(parts / (base.name + ".npy"), data[first:first + rows_per_part])


def test_killed_while_removing_its_parts(feat_cli, models, images, tmp_path):
    model = models["resnet18-script"]
    ref = tmp_path / "ref.npy"
    subprocess.run(feat_image(feat_cli, model, images, ref), check=True, capture_output=True)
    out = tmp_path / "out.npy"
    shutil.copy(ref, out)
    shutil.copy(tmp_path / "ref.rows.tsv", tmp_path / "out.rows.tsv")
    parts = tmp_path / "out.parts"
    split_into_parts(ref, parts)
    r = subprocess.run(feat_image(feat_cli, model, images, out), capture_output=True, text=True)
    assert r.returncode == 1 and "complete parts of a run killed while it finished" in r.stderr, r.stderr
    r = subprocess.run(feat_image(feat_cli, model, images, out, "--resume"), capture_output=True, text=True)
    assert r.returncode == 0 and "resuming after image 36 of 36" in r.stderr, r.stderr
    assert_same_output(out, ref)
    assert not parts.exists()

    # Killed later, while deleting the renamed parts: what is left is removed by the next run
    # and never read.
    split_into_parts(ref, tmp_path / "out.parts.joined")
    (tmp_path / "out.parts.joined" / "part-000000000.npy").unlink()
    r = subprocess.run(feat_image(feat_cli, model, images, out), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert_same_output(out, ref)
    assert not (tmp_path / "out.parts.joined").exists() and not parts.exists()


def test_sigint_stops_cleanly_then_resumes(feat_cli, models, images, tmp_path):
    model = models["resnet18-script"]
    out = tmp_path / "out.npy"
    p = subprocess.Popen(feat_image(feat_cli, model, images, out), stderr=subprocess.PIPE, text=True)
    parts = tmp_path / "out.parts"
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None and not list(parts.glob("*.npy")):
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    err = p.communicate()[1]
    if p.returncode == 0:
        pytest.skip("the run finished before SIGINT arrived")
    assert p.returncode == 130 and "--resume" in err, err
    assert not out.exists()
    r = subprocess.run(feat_image(feat_cli, model, images, out), capture_output=True, text=True)
    assert r.returncode == 1 and "interrupted run" in r.stderr  # refuses to mix runs without --resume
    r = subprocess.run(feat_image(feat_cli, model, images, out, "--resume"), capture_output=True, text=True)
    assert r.returncode == 0 and "resuming after image" in r.stderr, r.stderr
    ref = tmp_path / "ref.npy"
    subprocess.run(feat_image(feat_cli, model, images, ref), check=True, capture_output=True)
    assert_same_output(out, ref)


def test_shards_merge_to_the_unsharded_run(feat_cli, models, images, tmp_path):
    model = models["resnet18-script"]
    ref = tmp_path / "ref.npy"
    subprocess.run(feat_image(feat_cli, model, images, ref), check=True, capture_output=True)
    shards = run_shards(lambda out, *shard: feat_image(feat_cli, model, images, out, *shard), tmp_path)
    merged = tmp_path / "merged.npy"
    r = subprocess.run([str(feat_cli), "merge", "-o", str(merged), *shards], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert_same_output(merged, ref)
    r = subprocess.run([str(feat_cli), "merge", "-o", str(tmp_path / "bad.npy"), shards[2], shards[0]],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "order" in r.stderr
