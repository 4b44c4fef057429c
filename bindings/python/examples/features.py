# SPDX-License-Identifier: MIT
"""Image folder -> features, sentences -> embeddings.

    python examples/features.py image MODEL.pt PHOTO_DIR [TAPS]   -> features.npy
    python examples/features.py text MODEL.pt < sentences.txt      -> embeddings.npy
"""
import pathlib
import sys

import numpy as np

import libfeat


def images(model, folder, taps=None):
    paths = sorted(p for p in pathlib.Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    with libfeat.ImageExtractor(model, taps=taps) as ex:
        r = ex.extract_files(paths)
    for p, err in zip(paths, r.errors):
        if err:
            print(f"skipped {p}: {err}", file=sys.stderr)
    np.save("features.npy", r.features[r.ok])
    print(f"{int(r.ok.sum())} x {r.dim} features ({', '.join(ex.taps)}) -> features.npy")


def texts(model):
    lines = [l.rstrip("\n") for l in sys.stdin]
    with libfeat.TextExtractor(model, taps="encoder.layer.-1:mean") as ex:
        r = ex.extract(lines)
    emb = r.copy()
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)  # sentence-transformers' normalization
    np.save("embeddings.npy", emb)
    print(f"{len(lines)} x {r.dim} embeddings -> embeddings.npy; cosine(0, 1) = {float(emb[0] @ emb[1]):.3f}"
          if len(lines) > 1 else "done")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "image":
        images(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    elif len(sys.argv) == 3 and sys.argv[1] == "text":
        texts(sys.argv[2])
    else:
        sys.exit(__doc__)
