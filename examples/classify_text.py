#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The seed's second flow: sentence features from `feat text` -> a scikit-learn classifier.

    classify_text.py FEATURES.npy LABELLED.tsv     (LABELLED.tsv: label<TAB>text, same order)

Trains a logistic regression on half of the rows and reports accuracy on the other half.
With all-MiniLM-L6-v2 features it tells English from German fortunes."""
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split


def main(features, labelled):
    x = np.load(features)
    labels = [line.split("\t", 1)[0] for line in open(labelled, encoding="utf-8")]
    ok = ~np.isnan(x).any(axis=1)  # rows of inputs that failed are NaN
    x, y = x[ok], np.array(labels)[ok]
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.5, random_state=0, stratify=y)
    clf = LogisticRegression(max_iter=2000).fit(xtr, ytr)
    print(f"text: {len(y)} rows of {x.shape[1]} features, classes {sorted(set(y))}, "
          f"held-out accuracy {clf.score(xte, yte):.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
