# SPDX-License-Identifier: MIT
"""The Python pipelines libfeat is measured against, each run in its own process by
bench/run_bench.py (so peak RSS is per pipeline). Each prints
"items=N seconds=S load_seconds=L first_seconds=F" like bench_model.

  peers.py image-seed MODEL SPEC FILE...         the seed loop: one image at a time, Pillow +
                                                  torchvision transforms + the scripted model
  peers.py image-frozen MODEL SPEC FILE...       the seed loop with the frozen + optimized
                                                  module (the fastest whole process here)
  peers.py image-best MODEL SPEC BATCH FILE...   best practice: DataLoader worker decoding in
                                                  parallel, batches, inference_mode, frozen +
                                                  optimize_for_inference TorchScript
  peers.py model-only MODEL SPEC BATCH N         the frozen module alone on a preprocessed batch
  peers.py text-seed HFDIR FILE                  the seed loop: HF tokenizer + BertModel, one
                                                  sentence at a time, mean pooling
  peers.py text-st HFDIR BATCH FILE              sentence-transformers encode(batch_size=BATCH)
  peers.py peak                                  the machine: fp32 GEMM and conv GFLOP/s

BENCH_DEVICE=cuda:N runs the models on that GPU (default cpu), as bench_model does: inputs
are prepared on the CPU and copied over, results copied back, so the same work is timed.
"""
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "model"))

DEVICE = torch.device(os.environ.get("BENCH_DEVICE") or "cpu")


def since_process_start():
    """Seconds since this process started (the kernel's start time, so interpreter start-up and
    imports count, as they do for a user's cold start)."""
    with open("/proc/self/stat") as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


PROCESS_FIRST = float("nan")


def first_result(t0):
    """Marks the first result: returns seconds since t0 and records seconds since start."""
    global PROCESS_FIRST
    PROCESS_FIRST = since_process_start()
    return time.perf_counter() - t0


def report(items, seconds, load, first):
    print(f"items={items} seconds={seconds:.4f} load_seconds={load:.4f} first_seconds={first:.4f} "
          f"process_first_seconds={PROCESS_FIRST:.4f}")


def transform():
    from torchvision import transforms
    return transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                               transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])


def tap_module(model, spec):
    """The TorchScript model cut at the tap with forward hooks is impossible (ScriptModule), so
    the peers use the eager twin's submodule path: for VGG16 'features.29:gap' that is
    model.features[:30] followed by the pooling."""
    import reference
    eager = reference.load_eager(model)
    path, _, pool = spec.partition(":")
    parts = path.split(".")
    assert parts[0] == "features" and len(parts) == 2, "the image peers support VGG 'features.N' taps"
    trunk = eager.features[: int(parts[1]) + 1]

    class Tapped(torch.nn.Module):
        mode: int

        def __init__(self):
            super().__init__()
            self.trunk = trunk
            self.mode = {"gap": 0, "gmp": 1}.get(pool, 2)

        def forward(self, x):
            y = self.trunk(x)
            if self.mode == 0:
                return y.mean((2, 3))
            if self.mode == 1:
                return y.amax((2, 3))
            return y.flatten(1)

    return Tapped().eval()


def image_seed(model, spec, files, freeze=False):
    from PIL import Image
    t0 = time.perf_counter()
    tapped = tap_module(model, spec)
    m = frozen(tapped, torch.zeros(1, 3, 224, 224)) if freeze else torch.jit.script(tapped.to(DEVICE))
    tf = transform()
    load = time.perf_counter() - t0
    first = None
    start = time.perf_counter()
    with torch.no_grad():
        for i, f in enumerate(files):
            x = tf(Image.open(f).convert("RGB"))[None]
            m(x.to(DEVICE)).cpu().numpy()
            if first is None:
                first = first_result(t0)
                start = time.perf_counter()  # steady state: the rest
    report(len(files) - 1, time.perf_counter() - start, load, first)


class Files(torch.utils.data.Dataset):
    def __init__(self, files):
        self.files = files
        self.tf = transform()

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        from PIL import Image
        return self.tf(Image.open(self.files[i]).convert("RGB"))


def frozen(module, example):
    m = torch.jit.script(module.to(DEVICE))
    example = example.to(DEVICE)
    m = torch.jit.optimize_for_inference(torch.jit.freeze(m))
    with torch.inference_mode():
        for _ in range(3):
            m(example)
    return m


def image_best(model, spec, batch, files):
    t0 = time.perf_counter()
    m = frozen(tap_module(model, spec), torch.zeros(batch, 3, 224, 224))
    load = time.perf_counter() - t0
    loader = torch.utils.data.DataLoader(Files(files), batch_size=batch, num_workers=1,
                                         pin_memory=DEVICE.type == "cuda")
    start = time.perf_counter()
    n = 0
    first = None
    with torch.inference_mode():
        for x in loader:
            m(x.to(DEVICE, non_blocking=True)).cpu().numpy()
            n += len(x)
            if first is None:
                first = first_result(t0)
    report(n, time.perf_counter() - start, load, first)


def model_only(model, spec, batch, n):
    t0 = time.perf_counter()
    x = torch.randn(batch, 3, 224, 224)
    m = frozen(tap_module(model, spec), x)
    load = time.perf_counter() - t0
    start = time.perf_counter()
    done = 0
    with torch.inference_mode():
        while done < n:
            m(x.to(DEVICE)).cpu()
            done += batch
    report(done, time.perf_counter() - start, load, load)


def lines_of(path):
    return [l.rstrip("\n") for l in open(path, encoding="utf-8")]


def text_seed(hf_dir, path):
    from transformers import AutoTokenizer, BertModel
    lines = lines_of(path)
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(hf_dir)
    model = BertModel.from_pretrained(hf_dir).eval().to(DEVICE)
    load = time.perf_counter() - t0
    first = None
    start = time.perf_counter()
    with torch.no_grad():
        for s in lines:
            enc = tok(s, return_tensors="pt", truncation=True, max_length=256).to(DEVICE)
            h = model(**enc).last_hidden_state
            m = enc["attention_mask"][..., None]
            ((h * m).sum(1) / m.sum(1)).cpu().numpy()
            if first is None:
                first = first_result(t0)
    report(len(lines), time.perf_counter() - start, load, first)


def text_st(hf_dir, batch, path):
    from sentence_transformers import SentenceTransformer
    lines = lines_of(path)
    t0 = time.perf_counter()
    m = SentenceTransformer(hf_dir, device=str(DEVICE))
    load = time.perf_counter() - t0
    m.encode(lines[:1])
    first = first_result(t0)
    start = time.perf_counter()
    m.encode(lines, batch_size=batch)
    report(len(lines), time.perf_counter() - start, load, first)


def sync():
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def peak():
    a, b = torch.randn(2048, 2048, device=DEVICE), torch.randn(2048, 2048, device=DEVICE)
    for _ in range(2):
        a @ b
    sync()
    t = time.perf_counter()
    reps = 5
    for _ in range(reps):
        a @ b
    sync()
    gemm = 2 * 2048 ** 3 * reps / (time.perf_counter() - t) / 1e9
    conv = torch.nn.Conv2d(256, 256, 3, padding=1).eval().to(DEVICE)
    x = torch.randn(1, 256, 56, 56, device=DEVICE)
    with torch.inference_mode():
        for _ in range(2):
            conv(x)
        sync()
        t = time.perf_counter()
        for _ in range(reps):
            conv(x)
        sync()
    conv_flops = 2 * 256 * 256 * 9 * 56 * 56 * reps / (time.perf_counter() - t) / 1e9
    print(f"gemm_gflops={gemm:.1f} conv_gflops={conv_flops:.1f}")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "image-seed":
        image_seed(args[0], args[1], args[2:])
    elif cmd == "image-frozen":
        image_seed(args[0], args[1], args[2:], freeze=True)
    elif cmd == "image-best":
        image_best(args[0], args[1], int(args[2]), args[3:])
    elif cmd == "model-only":
        model_only(args[0], args[1], int(args[2]), int(args[3]))
    elif cmd == "text-seed":
        text_seed(args[0], args[1])
    elif cmd == "text-st":
        text_st(args[0], int(args[1]), args[2])
    elif cmd == "peak":
        peak()
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
