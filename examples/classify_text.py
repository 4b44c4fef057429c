#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Sentence features from `feat text` -> a scikit-learn classifier, tested on other lines.

    classify_text.py TRAIN.npy TRAIN.tsv TEST.npy TEST.tsv     (*.tsv: label<TAB>text, same order)

E.g. fortunes labelled with their file's category (computers, food, love, ...). Trains a
logistic regression on standardised features of the training lines (rows of lines that
failed are NaN and left out) and prints its accuracy on the test lines, next to the
majority-class baseline."""
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def load(features, labelled):
    x = np.load(features)
    with open(labelled, encoding="utf-8") as f:
        labels = np.array([line.split("\t", 1)[0] for line in f])
    ok = ~np.isnan(x).any(axis=1)
    return x[ok], labels[ok]


def main(train_x, train_tsv, test_x, test_tsv):
    x, y = load(train_x, train_tsv)
    xt, yt = load(test_x, test_tsv)
    classes, counts = np.unique(y, return_counts=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(x, y)
    print(f"text: {len(y)} training lines of {x.shape[1]} features, {len(classes)} classes; "
          f"held-out accuracy on {len(yt)} other lines {clf.score(xt, yt):.3f} "
          f"(majority baseline {np.mean(yt == classes[counts.argmax()]):.3f})")


if __name__ == "__main__":
    main(*sys.argv[1:5])
