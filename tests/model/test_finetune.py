# SPDX-License-Identifier: MIT
"""Fine-tuning (feat/finetune.h) against a PyTorch loop written here: the eager twin of the
exported model (reference.load_eager), the same parameters trained, the head made by
torch.nn.Linear under torch.manual_seed(seed), the epoch order from torch.randperm on a
generator seeded with the seed, AdamW, cross-entropy, the same thread count. The C run's
losses must equal the loop's bit for bit over 21 steps, and so must the weights after them,
with the activation cache on and off, for EfficientNet-Lite0 (images) and a small random BERT
(texts). The tuned file then gives, through `feat image` / `feat text`, the features PyTorch
computes on it."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import reference
from conftest import ROOT, build_path

sys.path.insert(0, str(ROOT / "bindings" / "python" / "src"))
os.environ.setdefault("FEAT_LIBRARY", str(build_path("libfeat.so")))
import libfeat  # noqa: E402

THREADS = 2
SEED = 7
LITE_MEAN = (127 / 255,) * 3  # EfficientNet-Lite's normalisation, written here on its own
LITE_STD = (128 / 255,) * 3
SENTENCES = ["the cat sat on the mat", "a dog barked", "stocks fell sharply today", "the market rallied",
             "kittens purr softly at night", "puppies chew shoes", "bonds yield more", "shares rose again",
             "my cat sleeps all day", "the dog ran home", "investors sold everything", "prices dropped"]
TEXT_LABELS = [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1]


@pytest.fixture(scope="module", autouse=True)
def torch_state():
    """libfeat, loaded into this process, chooses the legacy TorchScript executor and ATen's
    thread count process-wide; both go back to torch's own for the tests after these."""
    threads = torch.get_num_threads()
    yield
    torch._C._jit_set_profiling_executor(True)
    torch._C._jit_set_profiling_mode(True)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def eff(models):
    return models["efficientnet-lite0"]


@pytest.fixture(scope="module")
def tiny(models):
    return models["bert-tiny"]


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """12 digits (classes 0, 1, 2; four each) as 32x32 RGB PNGs."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    out = tmp_path_factory.mktemp("digits")
    paths, labels = [], []
    for c in range(3):
        for k, i in enumerate(np.flatnonzero(d.target == c)[:4]):
            img = (d.images[i] * 255 / 16).astype(np.uint8)
            p = out / f"{c}_{k}.png"
            Image.fromarray(img).resize((32, 32), Image.NEAREST).convert("RGB").save(p)
            paths.append(str(p))
            labels.append(c)
    return paths, labels


def under(name, prefixes):
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def pooled(model, inputs, tap, pool, mask=None):
    """The tap's output (first element of a tuple) by a forward hook, with autograd, pooled
    as lib/taps pools it."""
    got = {}

    def hook(_m, _i, out):
        got["x"] = out[0] if isinstance(out, tuple) else out

    h = model.get_submodule(tap).register_forward_hook(hook)
    try:
        model(*inputs)
    finally:
        h.remove()
    x = got["x"]
    if pool == "flatten":
        return x.flatten(1)
    if pool == "gap":
        return x.mean((2, 3))
    if pool == "cls":
        return x[:, 0]
    if pool == "mean":
        m = mask.to(x.dtype).unsqueeze(-1)
        return (x * m).sum(1) / m.sum(1)
    raise ValueError(pool)


def reference_loop(model_pt, batch_inputs, labels, train, tap, pool, epochs, batch, lr=1e-3, wd=1e-2,
                   schedule="constant", dropout=0.0, class_weights=None, mask=None):
    """The PyTorch loop the C run must reproduce; returns (losses, eager model, head)."""
    torch.set_num_threads(THREADS)
    model = reference.load_eager(model_pt)
    for name, p in model.named_parameters():
        p.requires_grad_(under(name, train))
    trained = [p for n, p in model.named_parameters() if under(n, train)]
    with torch.no_grad():
        dim = pooled(model, batch_inputs([0]), tap, pool, None if mask is None else mask[[0]]).shape[1]
    k = max(labels) + 1
    torch.manual_seed(SEED)
    head = torch.nn.Linear(dim, k)
    opt = torch.optim.AdamW(trained + list(head.parameters()), lr=lr, weight_decay=wd)
    gen = torch.Generator()
    gen.manual_seed(SEED)
    y = torch.tensor(labels, dtype=torch.int64)
    w = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
    n, losses = len(labels), []
    steps = epochs * math.ceil(n / batch)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            idx = perm[i:i + batch].tolist()
            if schedule == "cosine":
                for g in opt.param_groups:
                    g["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * len(losses) / steps))
            opt.zero_grad()
            f = pooled(model, batch_inputs(idx), tap, pool, None if mask is None else mask[idx])
            if dropout:
                f = F.dropout(f, dropout, training=True)
            loss = F.cross_entropy(head(f), y[idx], weight=w)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses, model, head


def assert_same_weights(tuned_pt, model, head, train):
    sd = torch.jit.load(str(tuned_pt)).state_dict()
    want = {n: p for n, p in model.named_parameters() if under(n, train)}
    assert want
    worst = 0.0
    for n, p in want.items():
        worst = max(worst, float((sd[n] - p.detach()).abs().max()))
        assert torch.equal(sd[n], p.detach()), n
    assert torch.equal(sd["feat_head_weight"], head.weight.detach())
    assert torch.equal(sd["feat_head_bias"], head.bias.detach())
    print(f"max weight diff {worst}")


def eager_of_tuned(base_pt, tuned_pt):
    """The eager twin of a tuned file: the base model's twin with the tuned weights (the head,
    feat_head_weight / feat_head_bias, is no parameter of the eager model)."""
    model = reference.load_eager(base_pt)
    own = dict(model.named_parameters())
    own.update(dict(model.named_buffers()))
    with torch.no_grad():
        for k, v in torch.jit.load(str(tuned_pt)).state_dict().items():
            if not k.startswith("feat_head_"):
                own[k].copy_(v)
    return model


def run_feat(*args):
    return subprocess.run([str(build_path("tools", "feat", "feat")), *map(str, args)], capture_output=True,
                          text=True, timeout=600)


IMAGE_TRAIN = ["_blocks.15", "_conv_head", "_bn1"]


@pytest.fixture(scope="module")
def image_reference(eff, digits):
    paths, labels = digits
    x = torch.from_numpy(np.stack([reference.preprocess_torchvision(p, mean=LITE_MEAN, std=LITE_STD)
                                   for p in paths]))
    return reference_loop(eff, lambda idx: (x[idx],), labels, IMAGE_TRAIN, "_avg_pooling", "flatten", epochs=7,
                          batch=4)


@pytest.mark.parametrize("cache", ["on", "off"])
def test_image_run_equals_pytorch(eff, digits, image_reference, cache, tmp_path):
    paths, labels = digits
    libfeat.set_threads(THREADS)
    out = tmp_path / "tuned.pt"
    rep = libfeat.finetune_images(str(eff), paths, labels, str(out), train="_blocks.-1,_conv_head,_bn1",
                                  epochs=7, batch_size=4, seed=SEED, cache=cache)
    losses, model, head = image_reference
    assert rep.cached == (cache == "on")
    assert len(rep.step_losses) == 21
    print("C   ", rep.step_losses)
    print("ref ", losses)
    assert rep.step_losses == [np.float32(v) for v in losses]
    assert_same_weights(out, model, head, IMAGE_TRAIN)
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["family"] == "efficientnet_lite0" and side["default_taps"] == "_avg_pooling:flatten"
    ft = side["finetune"]
    assert ft["train"] == IMAGE_TRAIN and ft["classes"] == 3 and ft["head_tap"] == "_avg_pooling:flatten"
    if cache == "on":  # the tuned file through `feat image` against PyTorch on it
        npy = tmp_path / "f.npy"
        r = run_feat("image", "--model", out, "-o", npy, *paths[:4])
        assert r.returncode == 0, r.stderr
        x = torch.from_numpy(np.stack([reference.preprocess_torchvision(p, mean=LITE_MEAN, std=LITE_STD)
                                       for p in paths[:4]]))
        tuned = eager_of_tuned(eff, out)
        with torch.no_grad():
            want = pooled(tuned, (x,), "_avg_pooling", "flatten").numpy()
        got = np.load(npy)
        err = float(np.abs(got - want).max()) / float(np.abs(want).max())
        print(f"tuned features: max abs diff {err:.3g} of the scale")
        assert err <= 1e-4


TEXT_TRAIN = ["encoder.layer.3"]


@pytest.fixture(scope="module")
def text_inputs(tiny):
    return reference.bert_inputs(tiny, SENTENCES)  # padded to the longest, as the C run pads


@pytest.mark.parametrize("cache", ["on", "off"])
def test_text_run_equals_pytorch(tiny, text_inputs, cache, tmp_path):
    ids, mask, types = text_inputs
    libfeat.set_threads(THREADS)
    out = tmp_path / "tuned.pt"
    opts = dict(epochs=7, batch=4, lr=3e-3, wd=0.05, schedule="cosine", dropout=0.1, class_weights=[1.0, 2.0])
    rep = libfeat.finetune_texts(str(tiny), SENTENCES, TEXT_LABELS, str(out), train="encoder.layer.-1",
                                 head_tap="encoder.layer.-1:mean", epochs=7, batch_size=4, lr=3e-3,
                                 weight_decay=0.05, schedule="cosine", dropout=0.1, class_weights=[1.0, 2.0],
                                 seed=SEED, cache=cache)
    losses, model, head = reference_loop(tiny, lambda idx: (ids[idx], mask[idx], types[idx]), TEXT_LABELS,
                                         TEXT_TRAIN, "encoder.layer.3", "mean", mask=mask, **opts)
    assert rep.cached == (cache == "on")
    print("C   ", rep.step_losses)
    print("ref ", losses)
    assert rep.step_losses == [np.float32(v) for v in losses]
    assert_same_weights(out, model, head, TEXT_TRAIN)
    if cache == "on":
        npy = tmp_path / "f.npy"
        txt = tmp_path / "in.txt"
        txt.write_text("\n".join(SENTENCES[:4]) + "\n")
        r = run_feat("text", "--model", out, "--taps", "encoder.layer.-1:cls", "-o", npy, "--input", txt)
        assert r.returncode == 0, r.stderr
        tuned = eager_of_tuned(tiny, out)
        i2, m2, t2 = reference.bert_inputs(out, SENTENCES[:4])
        with torch.no_grad():
            want = pooled(tuned, (i2, m2, t2), "encoder.layer.3", "cls").numpy()
        got = np.load(npy)
        err = float(np.abs(got - want).max()) / float(np.abs(want).max())
        print(f"tuned features: max abs diff {err:.3g} of the scale")
        assert err <= 1e-4


def tiny_run(tiny, out, **kw):
    libfeat.set_threads(THREADS)
    args = dict(train="encoder.layer.-1", epochs=3, batch_size=4, seed=SEED)
    args.update(kw)
    return libfeat.finetune_texts(str(tiny), SENTENCES, TEXT_LABELS, str(out), **args)


def test_validation_keeps_the_best_epoch(tiny, tmp_path):
    """With a validation split and early stopping the saved weights are the best epoch's: the
    same as a run stopped right after that epoch."""
    rep = tiny_run(tiny, tmp_path / "a.pt", epochs=12, lr=1e-2, validation_fraction=0.25, patience=2)
    acc = rep.val_accuracy
    assert all(0 <= a <= 1 for a in acc) and len(acc) == len(rep.train_loss)
    assert rep.chosen_epoch == int(np.argmax(acc))
    assert len(acc) == 12 or len(acc) == rep.chosen_epoch + 3  # stopped after 2 epochs without a better one
    assert len(rep.step_losses) == len(acc) * 2  # 8 of the 12 items train (the last 2 of each class validate)
    again = tiny_run(tiny, tmp_path / "b.pt", epochs=rep.chosen_epoch + 1, lr=1e-2, validation_fraction=0.25)
    assert again.step_losses == rep.step_losses[:len(again.step_losses)]
    a, b = (torch.jit.load(str(tmp_path / n)).state_dict() for n in ("a.pt", "b.pt"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    side = json.loads((tmp_path / "a.json").read_text())["finetune"]
    assert side["chosen_epoch"] == rep.chosen_epoch and side["validation_items"] == 4
    assert side["validation_accuracy"] == pytest.approx(acc)
    assert side["base_model"] == str(tiny)


def test_progress_can_cancel(tiny, tmp_path):
    seen = []

    def progress(epoch, step, loss, acc):
        seen.append((epoch, step, loss, acc))
        return step >= 2

    with pytest.raises(libfeat.Cancelled, match="cancelled at step 2"):
        tiny_run(tiny, tmp_path / "c.pt", progress=progress)
    assert [s[1] for s in seen] == [1, 2] and seen[0][3] is None and seen[0][2] > 0
    assert not (tmp_path / "c.pt").exists()


def test_undecodable_image_is_left_out(eff, digits, tmp_path):
    paths, labels = digits
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    libfeat.set_threads(THREADS)
    rep = libfeat.finetune_images(str(eff), paths[:4] + [str(bad)] + paths[4:6], labels[:4] + [1] + labels[4:6],
                                  str(tmp_path / "t.pt"), epochs=1, batch_size=8, seed=SEED)
    statuses = [s for s, _ in rep.items]
    assert statuses[4] == libfeat.DecodeError.status and statuses.count(0) == 6
    assert str(bad) in rep.items[4][1]
    assert len(rep.step_losses) == 1 and rep.cached


@pytest.mark.parametrize("kw, error, match", [
    (dict(epochs=10001), libfeat.InvalidArgument, "above the limit"),
    (dict(lr=-1), libfeat.InvalidArgument, "outside"),
    (dict(dropout=1.0), libfeat.InvalidArgument, "outside"),
    (dict(validation_fraction=0.95), libfeat.InvalidArgument, "outside"),
    (dict(train="encoder.layer.-1:cls"), libfeat.InvalidArgument, "without @call or :pool"),
    (dict(head_tap="encoder.layer.-1,pooler"), libfeat.InvalidArgument, "exactly one tap"),
    (dict(train="encoder.nothing"), libfeat.NotFound, "encoder.nothing"),
    (dict(class_weights=[1.0, 1.0, 1.0]), libfeat.InvalidArgument, "3 class weights for 2 classes"),
    (dict(class_weights=[1.0, 0.0]), libfeat.InvalidArgument, "not above 0"),
])
def test_bad_options_are_refused(tiny, tmp_path, kw, error, match):
    with pytest.raises(error, match=match):
        tiny_run(tiny, tmp_path / "x.pt", **kw)
    assert not (tmp_path / "x.pt").exists()


def test_wrong_model_kind_and_labels(eff, tiny, tmp_path):
    libfeat.set_threads(THREADS)
    with pytest.raises(libfeat.ModelError, match="not a text model"):
        libfeat.finetune_texts(str(eff), SENTENCES, TEXT_LABELS, str(tmp_path / "x.pt"))
    with pytest.raises(libfeat.InvalidArgument, match="class 1 has no usable item"):
        libfeat.finetune_texts(str(tiny), SENTENCES[:3], [0, 2, 2], str(tmp_path / "x.pt"))
    with pytest.raises(libfeat.InvalidArgument, match="label -1"):
        libfeat.finetune_texts(str(tiny), SENTENCES[:3], [0, -1, 1], str(tmp_path / "x.pt"))


def test_cli_text_run_equals_the_api(tiny, tmp_path):
    """`feat finetune` on label<TAB>text lines: classes numbered by name, the same run (and
    weights) as the API with the same options, the progress lines, TUNED.classes.txt."""
    tsv = tmp_path / "d.tsv"
    tsv.write_text("".join(f"{'pets' if y == 0 else 'stocks'}\t{s}\n" for s, y in zip(SENTENCES, TEXT_LABELS)))
    r = run_feat("finetune", "--model", tiny, "--data", tsv, "--train", "encoder.layer.-1", "--epochs", 3,
                 "--batch-size", 4, "--seed", SEED, "--lr", "3e-3", "--schedule", "cosine", "--threads", THREADS,
                 "-o", tmp_path / "cli.pt")
    assert r.returncode == 0, r.stderr
    assert "epoch 3 done, mean loss" in r.stderr and "left" in r.stderr
    assert (tmp_path / "cli.classes.txt").read_text() == "pets\nstocks\n"
    tiny_run(tiny, tmp_path / "api.pt", lr=3e-3, schedule="cosine")
    a, b = (torch.jit.load(str(tmp_path / n)).state_dict() for n in ("cli.pt", "api.pt"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_cli_leaves_out_an_undecodable_image(eff, digits, tmp_path):
    paths, labels = digits
    data = tmp_path / "data"
    for p, y in list(zip(paths, labels))[::2]:
        (data / str(y)).mkdir(parents=True, exist_ok=True)
        (data / str(y) / os.path.basename(p)).write_bytes(open(p, "rb").read())
    (data / "1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    r = run_feat("finetune", "--model", eff, "--data", data, "--epochs", 1, "--batch-size", 8, "--threads", THREADS,
                 "-o", tmp_path / "t.pt")
    assert r.returncode == 0, r.stderr
    assert "left out:" in r.stderr and "broken.png" in r.stderr
    assert "class '1': 2 of 3 items train" in r.stderr
    side = json.loads((tmp_path / "t.json").read_text())["finetune"]
    assert side["train"] == ["_blocks.15"] and side["train_items"] == 6 and side["head"] == "t.head.npy"
    r = run_feat("predict", "--model", tmp_path / "t.pt", "--top", 3, data)
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert len(rows) == 7 and [row[0] for row in rows if row[1] == "error"] == [str(data / "1" / "broken.png")]
    for row in rows:
        if row[1] != "error":
            assert len(row) == 7 and set(row[1::2]) == {"0", "1", "2"}
            p = [float(v) for v in row[2::2]]
            assert p == sorted(p, reverse=True) and abs(sum(p) - 1) < 1e-5


def test_cli_usage_errors(tiny, tmp_path):
    r = run_feat("finetune", "--model", tiny, "-o", tmp_path / "x.pt")
    assert r.returncode == 2 and "--data" in r.stderr
    r = run_feat("finetune", "--model", tiny, "--data", tmp_path, "--lr", "fast", "-o", tmp_path / "x.pt")
    assert r.returncode == 2 and "--lr expects a number" in r.stderr


RESUME_OPTS = dict(epochs=5, lr=3e-3, schedule="cosine", dropout=0.1, validation_fraction=0.25)


def test_resume_after_cancel_equals_an_uninterrupted_run(tiny, tmp_path):
    """A run stopped after epoch 2 and resumed from its checkpoint (AdamW state, both random
    generators, the kept best weights, the report so far) ends with the same losses and the
    same weights bit for bit as a run that was never stopped."""
    whole = tiny_run(tiny, tmp_path / "whole.pt", **RESUME_OPTS)
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(libfeat.Cancelled):
        tiny_run(tiny, tmp_path / "cut.pt", checkpoint=str(ckpt),
                 progress=lambda e, s, loss, acc: acc is not None and e == 1, **RESUME_OPTS)
    assert ckpt.exists() and not (tmp_path / "cut.pt").exists()
    again = tiny_run(tiny, tmp_path / "cut.pt", checkpoint=str(ckpt), resume=True, **RESUME_OPTS)
    assert again.step_losses == whole.step_losses and again.val_accuracy == whole.val_accuracy
    assert again.chosen_epoch == whole.chosen_epoch
    a, b = (torch.jit.load(str(tmp_path / n)).state_dict() for n in ("whole.pt", "cut.pt"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not ckpt.exists()  # removed once the run is complete


def test_resume_refuses_another_runs_checkpoint(tiny, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(libfeat.Cancelled):
        tiny_run(tiny, tmp_path / "x.pt", checkpoint=str(ckpt), progress=lambda e, s, loss, acc: acc is not None)
    with pytest.raises(libfeat.StateError, match="not of this run"):
        tiny_run(tiny, tmp_path / "x.pt", checkpoint=str(ckpt), resume=True, batch_size=2)


def test_cli_resume_after_a_kill(tiny, tmp_path):
    """`feat finetune` killed (SIGKILL) after its second epoch, then run again with --resume,
    writes the weights of an uninterrupted run."""
    tsv = tmp_path / "d.tsv"
    tsv.write_text("".join(f"{y}\t{s}\n" for s, y in zip(SENTENCES, TEXT_LABELS)) * 4)
    args = [str(build_path("tools", "feat", "feat")), "finetune", "--model", str(tiny), "--data", str(tsv),
            "--epochs", "60", "--batch-size", "4", "--dropout", "0.1", "--threads", str(THREADS)]
    r = run_feat(*args[1:], "-o", tmp_path / "whole.pt")
    assert r.returncode == 0, r.stderr
    p = subprocess.Popen(args + ["-o", str(tmp_path / "cut.pt")], stderr=subprocess.PIPE, text=True)
    buf = ""
    while "epoch 2 done" not in buf:
        ch = p.stderr.read(1)
        assert ch, buf
        buf += ch
    p.kill()
    p.wait()
    assert not (tmp_path / "cut.pt").exists(), "the run ended before it was killed"
    assert (tmp_path / "cut.pt.ckpt").exists()
    r = run_feat(*args[1:], "--resume", "-o", tmp_path / "cut.pt")
    assert r.returncode == 0, r.stderr
    a, b = (torch.jit.load(str(tmp_path / n)).state_dict() for n in ("whole.pt", "cut.pt"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_predict_equals_pytorch_on_the_head(tiny, tmp_path):
    """`feat predict` on a tuned text model: the head (TUNED.head.npy, equal to the .pt's
    feat_head_weight / feat_head_bias) over the head's tap, softmax, top K with class names."""
    tsv = tmp_path / "d.tsv"
    tsv.write_text("".join(f"{'pets' if y == 0 else 'stocks'}\t{s}\n" for s, y in zip(SENTENCES, TEXT_LABELS)))
    out = tmp_path / "m.pt"
    r = run_feat("finetune", "--model", tiny, "--data", tsv, "--epochs", 2, "--batch-size", 4, "-o", out)
    assert r.returncode == 0, r.stderr
    lines = tmp_path / "q.txt"
    lines.write_text("\n".join(SENTENCES[:3]) + "\n")
    r = run_feat("predict", "--model", out, "--top", 2, lines)
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    sd = torch.jit.load(str(out)).state_dict()
    head = np.load(tmp_path / "m.head.npy")
    assert np.array_equal(head[:, :-1], sd["feat_head_weight"].numpy())
    assert np.array_equal(head[:, -1], sd["feat_head_bias"].numpy())
    ids, mask, types = reference.bert_inputs(out, SENTENCES[:3])
    with torch.no_grad():
        f = pooled(eager_of_tuned(tiny, out), (ids, mask, types), "encoder.layer.3", "cls").double()
    p = torch.softmax(f @ sd["feat_head_weight"].double().T + sd["feat_head_bias"].double(), 1).numpy()
    names = ["pets", "stocks"]
    for i, row in enumerate(rows):
        assert row[0] == f"{lines}:{i + 1}"
        order = np.argsort(-p[i], kind="stable")
        assert row[1::2] == [names[k] for k in order]
        assert np.allclose([float(v) for v in row[2::2]], p[i][order], atol=2e-6)


@pytest.mark.parametrize("export", ["script", "trace"])
def test_default_train_inside_the_head_tap(export, tmp_path):
    """ResNet18's defaults train layer4.1 (the last block) under the head's tap, layer4: finding
    the trained block inlines the tapped module's call, and the run must still find the tap
    (it once failed with "forward never calls it"). The traced export caches the prefix, and
    its losses equal those of the run without the cache bit for bit."""
    from conftest import export_model
    args = ("--export", export) + (("--trace-size", "64") if export == "trace" else ())
    model = export_model(f"resnet18-{export}-finetune", "resnet18", "--random-init", *args)
    rng = np.random.default_rng(11)
    from PIL import Image
    for c in ("a", "b"):
        (tmp_path / "data" / c).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(tmp_path / "data" / c / f"{i}.png")
    runs = {}
    for cache in ("auto", "off"):
        out = tmp_path / f"t-{cache}.pt"
        r = run_feat("finetune", "--model", model, "--data", tmp_path / "data", "--epochs", 2, "--threads", THREADS,
                     "--cache", cache, "-o", out)
        assert r.returncode == 0, r.stderr
        runs[cache] = json.loads(out.with_suffix(".json").read_text())["finetune"]
    assert runs["auto"]["train"] == ["layer4.1"] and runs["auto"]["head_tap"] == "layer4:flatten"
    assert runs["auto"]["cached"] == (export == "trace") and not runs["off"]["cached"]
    assert runs["auto"]["train_loss"] == runs["off"]["train_loss"]
