#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The seed's first flow: image features from `feat image` -> a scikit-learn classifier.

    classify_images.py FEATURES.npy ROWS.tsv

The label of each image is the name of its parent folder (e.g. abstract, desktop, nature in
mate-backgrounds). Trains a logistic regression (it converges on these few, wide rows, where
a linear SVM did not) with leave-one-out cross-validation (the folders are small) and prints
its accuracy next to the majority-class baseline. With random-init weights the features are
not meaningful; export pretrained weights for real use."""
import csv
import os
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneOut, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main(features, rows):
    x = np.load(features)
    with open(rows, encoding="utf-8") as f:
        table = list(csv.DictReader(f, delimiter="\t"))
    labels = np.array([os.path.basename(os.path.dirname(r["input"])) for r in table])
    ok = np.array([r["status"] == "ok" for r in table])
    x, y = x[ok], labels[ok]
    classes, counts = np.unique(y, return_counts=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    acc = cross_val_score(clf, x, y, cv=LeaveOneOut()).mean() if len(classes) > 1 else float("nan")
    print(f"images: {len(y)} rows of {x.shape[1]} features, classes {list(classes)}, "
          f"leave-one-out accuracy {acc:.3f} (majority baseline {counts.max() / len(y):.3f})")


if __name__ == "__main__":
    main(*sys.argv[1:3])
