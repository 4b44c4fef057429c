#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Image features from `feat image` -> a scikit-learn classifier, with an honest accuracy.

    classify_images.py TRAIN.npy TRAIN.rows.tsv [TEST.npy TEST.rows.tsv]

The label of each image is the name of its parent folder (digit0 .. digit9, or abstract,
desktop, nature in mate-backgrounds); rows of images that failed are left out. Standardised
features, logistic regression. With a test set (other images, same folder names) it trains on
the first set and prints the accuracy on the test set; without one (a folder too small to
split) it prints the leave-one-out accuracy. The majority-class baseline is printed next to it."""
import csv
import os
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneOut, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def load(features, rows):
    x = np.load(features)
    with open(rows, encoding="utf-8") as f:
        table = list(csv.DictReader(f, delimiter="\t"))
    labels = np.array([os.path.basename(os.path.dirname(r["input"])) for r in table])
    ok = np.array([r["status"] == "ok" for r in table])
    return x[ok], labels[ok]


def main(args):
    x, y = load(*args[:2])
    classes, counts = np.unique(y, return_counts=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    if len(args) >= 4:
        xt, yt = load(*args[2:4])
        acc = clf.fit(x, y).score(xt, yt)
        baseline = np.mean(yt == classes[counts.argmax()])
        how = f"held-out accuracy on {len(yt)} other images"
    else:
        acc = cross_val_score(clf, x, y, cv=LeaveOneOut()).mean()
        baseline = counts.max() / len(y)
        how = "leave-one-out accuracy"
    print(f"images: {len(y)} training rows of {x.shape[1]} features, {len(classes)} classes; "
          f"{how} {acc:.3f} (majority baseline {baseline:.3f})")


if __name__ == "__main__":
    main(sys.argv[1:])
