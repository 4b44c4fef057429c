# SPDX-License-Identifier: MIT
"""libfeat.finetune_texts / finetune_images: the report, the files written, the exceptions.
(The parity with a PyTorch loop is tests/model/test_finetune.py.)"""
import json
import math

import pytest

import libfeat

TEXTS = ["the cat sat", "a dog barked", "stocks fell", "markets rallied", "cats purr", "bonds yield"]
LABELS = [0, 0, 1, 1, 0, 1]


def test_report_and_files(env, tmp_path):
    out = tmp_path / "t.pt"
    steps = []
    rep = libfeat.finetune_texts(env["FEAT_TEST_TINY_MODEL"], TEXTS, LABELS, str(out), epochs=2, batch_size=2,
                                 validation_fraction=0.3, progress=lambda *a: steps.append(a) and False)
    assert isinstance(rep, libfeat.FinetuneReport)
    assert len(rep.train_loss) == 2 and all(0 <= a <= 1 for a in rep.val_accuracy)
    assert len(rep.step_losses) == 4 and all(math.isfinite(v) for v in rep.step_losses)
    assert rep.items == [(0, "")] * 6 and rep.chosen_epoch in (0, 1)
    assert [s[1] for s in steps] == [1, 2, 2, 3, 4, 4] and steps[2][3] is not None
    side = json.loads((tmp_path / "t.json").read_text())
    assert side["finetune"]["classes"] == 2 and side["finetune"]["validation_items"] == 2
    assert (tmp_path / "t.head.npy").exists()
    with libfeat.TextExtractor(str(out)) as ex:  # the tuned model loads like any other
        assert ex.extract(TEXTS[:2]).features.shape[0] == 2


def test_errors(env, tmp_path):
    with pytest.raises(libfeat.InvalidArgument, match="above the limit"):
        libfeat.finetune_texts(env["FEAT_TEST_TINY_MODEL"], TEXTS, LABELS, str(tmp_path / "x.pt"), epochs=20000)
    with pytest.raises(libfeat.ModelError, match="not an image model"):
        libfeat.finetune_images(env["FEAT_TEST_TINY_MODEL"], ["a.png", "b.png"], [0, 1], str(tmp_path / "x.pt"))
    with pytest.raises(ValueError):
        libfeat.finetune_texts(env["FEAT_TEST_TINY_MODEL"], TEXTS, LABELS[:2], str(tmp_path / "x.pt"))
    with pytest.raises(ValueError):
        libfeat.finetune_texts(env["FEAT_TEST_TINY_MODEL"], TEXTS, LABELS, str(tmp_path / "x.pt"), schedule="linear")
