#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns fortune files (records separated by lines holding '%') into one record per line,
whitespace collapsed, for `feat text`. Usage: fortunes_to_lines.py FILE... > lines.txt
With --label L each line is prefixed by 'L<TAB>' (for the classifier example); --skip N and
--limit M take records N .. N+M-1 of each file (disjoint sets for training and testing)."""
import argparse
import sys


def records(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for rec in text.split("\n%\n"):
        rec = " ".join(rec.replace("%", " ").split())
        if rec:
            yield rec


def main():
    p = argparse.ArgumentParser()
    p.add_argument("files", nargs="+")
    p.add_argument("--label")
    p.add_argument("--skip", type=int, default=0, help="leave out the first records of each file")
    p.add_argument("--limit", type=int, default=0, help="at most this many records per file")
    a = p.parse_args()
    for path in a.files:
        for i, rec in enumerate(records(path)):
            if i < a.skip:
                continue
            if a.limit and i >= a.skip + a.limit:
                break
            sys.stdout.write((a.label + "\t" if a.label else "") + rec + "\n")


if __name__ == "__main__":
    main()
