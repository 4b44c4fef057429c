# SPDX-License-Identifier: MIT
"""What the tests of the feat tool's outputs share (test_cli_stdout.py, test_cli_durability.py,
test_cli_faults.py): random PNG inputs, the `feat image` command line, reading and comparing a
run's OUT.npy with its OUT.rows.tsv, and a run cut into shards."""
import subprocess

import numpy as np
from PIL import Image


def random_png(path, seed, height, width):
    """Writes a PNG of uniform random pixels drawn from its own seed."""
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)


def random_pngs(folder, count, seed, size, name="img{:02d}.png"):
    """Writes `count` random PNGs into folder, image i from seed + i and of size(i) = (height,
    width), so the images differ in shape too; returns the folder."""
    for i in range(count):
        random_png(folder / name.format(i), seed + i, *size(i))
    return folder


def feat_image(feat_cli, model, inputs, out, args, *extra):
    """The command line of `feat image` with the test's own arguments, then extra ones."""
    return [str(feat_cli), "image", "--model", str(model), *args, *extra, "-o", str(out), str(inputs)]


def rows_table(npy):
    """The rows table a run wrote next to its .npy (OUT.rows.tsv)."""
    return open(str(npy)[:-4] + ".rows.tsv", encoding="utf-8").read()


def assert_same_output(a, b):
    """Two runs' outputs are the same: the arrays bit for bit (NaN rows compare equal by
    position) and the rows tables."""
    x, y = np.load(a), np.load(b)
    assert x.shape == y.shape
    np.testing.assert_array_equal(x, y)
    assert rows_table(a) == rows_table(b)


def run_shards(command, folder, n=3):
    """Runs command(out, "--shard", "I/N") for each of the n shards into folder/shardI.npy;
    returns the outputs' paths in shard order."""
    shards = []
    for i in range(n):
        out = folder / f"shard{i}.npy"
        subprocess.run(command(out, "--shard", f"{i}/{n}"), check=True, capture_output=True)
        shards.append(str(out))
    return shards
