# SPDX-License-Identifier: MIT
"""`-o -`: `feat image` and `feat text` stream the .npy to standard output (header first, rows
as they come) and the rows table to --rows FILE or standard error; the rows equal those of a
file output bit for bit, failed rows included. What cannot work that way is refused: --resume,
--rows without -o -, a terminal on standard output."""
import io
import os
import subprocess

import numpy as np
import pytest

from cli_outputs import random_pngs

ARGS = ["--taps", "layer4:gap,layer2:gmp", "--resize", "40", "--crop", "32", "--part-size", "3"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    d = random_pngs(tmp_path_factory.mktemp("imgs"), 8, 3, lambda i: (30 + i, 41), name="img{}.png")
    (d / "img3.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return d


def run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, timeout=300, **kw)


def test_image_stream_equals_file_output(feat_cli, models, images, tmp_path):
    model = models["resnet18-script"]
    ref = tmp_path / "ref.npy"
    r = run([feat_cli, "image", "--model", model, *ARGS, "-o", ref, images])
    assert r.returncode == 0, r.stderr
    r = run([feat_cli, "image", "--model", model, *ARGS, "-o", "-", "--rows", tmp_path / "s.rows.tsv", images])
    assert r.returncode == 0, r.stderr
    got, want = np.load(io.BytesIO(r.stdout)), np.load(ref)
    assert got.shape == want.shape == (8, 640)
    np.testing.assert_array_equal(got, want)  # the broken image's NaN row included
    assert np.isnan(got[3]).all() and not np.isnan(np.delete(got, 3, axis=0)).any()
    assert (tmp_path / "s.rows.tsv").read_text() == (tmp_path / "ref.rows.tsv").read_text()
    assert (tmp_path / "s.columns.tsv").read_text() == (tmp_path / "ref.columns.tsv").read_text()
    assert "wrote standard output" in r.stderr.decode()
    assert not list(tmp_path.glob("*.parts"))


def test_text_stream_with_the_table_on_stderr(feat_cli, models, tmp_path):
    model = models["bert-tiny"]
    lines = "the cat sat\na dog barked\n\nstocks fell\n"
    ref = tmp_path / "ref.npy"
    r = run([feat_cli, "text", "--model", model, "-o", ref], input=lines.encode())
    assert r.returncode == 0, r.stderr
    r = run([feat_cli, "text", "--model", model, "-o", "-"], input=lines.encode())
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(io.BytesIO(r.stdout)), np.load(ref))
    table = (tmp_path / "ref.rows.tsv").read_text()
    assert table in r.stderr.decode()  # the same table, on standard error


@pytest.mark.parametrize("extra,words", [
    (["-o", "-", "--resume"], "--resume needs an output file"),
    (["-o", "out.npy", "--rows", "t.tsv"], "--rows is for -o -"),
])
def test_what_a_stream_cannot_do_is_refused(feat_cli, models, images, tmp_path, extra, words):
    r = run([feat_cli, "image", "--model", models["resnet18-script"], *ARGS, *extra, images], cwd=tmp_path)
    assert r.returncode == 1 and words in r.stderr.decode(), r.stderr
    assert r.stdout == b"" and not list(tmp_path.iterdir())


def test_a_terminal_on_stdout_is_refused(feat_cli, models, images, tmp_path):
    main, sub = os.openpty()
    try:
        r = subprocess.run([str(feat_cli), "image", "--model", str(models["resnet18-script"]), *ARGS, "-o", "-",
                            str(images)], stdout=sub, stderr=subprocess.PIPE, timeout=300)
    finally:
        os.close(sub)
        os.close(main)
    assert r.returncode == 1 and b"standard output, which is a terminal" in r.stderr, r.stderr
