# SPDX-License-Identifier: MIT
"""Measures how far FEAT_DECODE_FAST (fast IDCT + DCT-domain downscaling) lands from the exact
pipeline, and how much time it saves, on the mate background photos. Prints the table that
docs/imaging.md quotes. Not a test (the bounds are asserted loosely in
test_preprocess_parity.py::test_fast_mode_is_close).

  FEAT_BUILD_DIR=build-img .venv/bin/python tests/unit/image/fast_mode_report.py
"""
import glob
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from test_preprocess_parity import TOOL, keras_reference, torchvision_reference  # noqa: E402

STEP = {"torchvision": np.array([1 / 255 / s for s in (0.229, 0.224, 0.225)])[:, None, None], "keras-vgg16": 1.0}


def dump(files, args, d):
    argv = [TOOL, *args]
    outs = []
    for i, f in enumerate(files):
        outs.append(os.path.join(d, f"{i}.f32"))
        argv += [f, outs[-1]]
    t = time.perf_counter()
    subprocess.run(argv, check=True)
    return [np.fromfile(o, dtype=np.float32).reshape(3, 224, 224) for o in outs], time.perf_counter() - t


def main():
    files = sorted(glob.glob("/usr/share/backgrounds/mate/**/*.jpg", recursive=True))
    with tempfile.TemporaryDirectory() as d:
        for preset, ref_fn in (("torchvision", torchvision_reference), ("keras-vgg16", keras_reference)):
            exact, t_exact = dump(files, ("--preset", preset), d)
            fast, t_fast = dump(files, ("--preset", preset, "--fast"), d)
            print(f"\n{preset}: {len(files)} JPEGs, exact {t_exact:.2f} s, fast {t_fast:.2f} s (one process, 1 thread)")
            print("| photo | size | max abs (normalised) | mean abs (normalised) | max (8-bit steps) | mean (8-bit steps) | exact == Python |")
            print("|---|---|---|---|---|---|---|")
            allmax, allmean = 0.0, []
            for f, e, q in zip(files, exact, fast):
                ref = ref_fn(f)
                same = bool(np.array_equal(ref, e))
                diff = np.abs(q.astype(np.float64) - e)
                steps = diff / STEP[preset]
                from PIL import Image
                with Image.open(f) as im:
                    size = "%dx%d" % im.size
                print(f"| {os.path.basename(f)} | {size} | {diff.max():.4f} | {diff.mean():.4f} | {steps.max():.0f} | "
                      f"{steps.mean():.3f} | {same} |")
                allmax = max(allmax, steps.max())
                allmean.append(steps.mean())
            print(f"overall: max {allmax:.0f} steps, mean of means {np.mean(allmean):.3f} steps")


if __name__ == "__main__":
    main()
