#!/usr/bin/env python3
"""libfeat against the Python pipelines it replaces, measured in one run on the same inputs
(make bench). Prints throughput, the ratio libfeat / peer, peak RSS and cold start, and the
model-only throughput as a fraction of the machine's measured peak. docs/performance.md
records a run and explains the setup.

  run_bench.py [--images N] [--lines N] [--threads N] [--only image|text] [--json OUT]
"""
import argparse
import glob
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("FEAT_BUILD_DIR", ROOT / "build"))
PY = sys.executable
sys.path.insert(0, str(ROOT / "tests"))
from conftest import export_model, MINILM_DIR  # noqa: E402

VGG_GFLOP = 30.94  # 2 x 15.47 GMAC per 224x224 image, VGG16 (torchvision's table)


def run(cmd, env=None):
    """Runs a command; returns the key=value pairs of its last such output line."""
    t = time.perf_counter()
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd[:4]))} failed:\n{p.stderr[-3000:]}")
    line = [l for l in p.stdout.splitlines() if "=" in l][-1]
    vals = {k: float(v) for k, v in (kv.split("=") for kv in line.split())}
    vals["wall"] = time.perf_counter() - t
    return vals


def measure(label, cmd, env=None):
    # Each pipeline in a fresh interpreter run under /usr/bin/time-like accounting via a
    # wrapper process, so peak RSS is per pipeline rather than a running max.
    wrapper = [PY, "-c", WRAP, *map(str, cmd)]
    vals = run(wrapper, env)
    vals["label"] = label
    if vals.get("items") and vals.get("seconds"):
        vals["per_s"] = vals["items"] / vals["seconds"]
    return vals


WRAP = r"""
import os, resource, subprocess, sys
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(p.stderr)
if p.returncode:
    sys.exit(p.returncode)
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
lines = [l for l in p.stdout.splitlines() if "=" in l]
print((lines[-1] + " " if lines else "") + f"rss_mb={rss:.0f}")
"""


def table(title, rows, ours, peers):
    print(f"\n{title}")
    print(f"  {'pipeline':44s} {'items/s':>9s} {'peak RSS':>9s} {'cold start':>10s}")
    for r in rows:
        print(f"  {r['label']:44s} {r.get('per_s', float('nan')):9.2f} {r.get('rss_mb', 0):7.0f}MB "
              f"{r.get('first_seconds', float('nan')):9.2f}s")
    for o in ours:
        for p in peers:
            print(f"  ratio {o['label']} / {p['label']}: {o['per_s'] / p['per_s']:.2f}x"
                  f" (cold start {o['first_seconds'] / p['first_seconds']:.2f}x)")


def bench_images(args, env, results):
    files = sorted(glob.glob("/usr/share/backgrounds/mate/*/*.jpg"))[: args.images]
    model = export_model("bench-vgg16", "vgg16", "--random-init", "--export", "script")
    spec = "features.29:gap"
    exe = BUILD / "bench" / "bench_model"
    feat = BUILD / "tools" / "feat" / "feat"
    rows = []
    for batch in args.batches:
        rows.append(measure(f"libfeat C API, batch {batch}", [exe, "image", model, spec, batch, *files], env))
    out = BUILD / "bench-out.npy"
    t = time.perf_counter()
    r = measure("libfeat CLI (wall incl. load)", [feat, "image", "--model", model, "--taps", spec, "-o", out,
                                                 *files], env)
    wall = time.perf_counter() - t
    r.update(items=len(files), seconds=wall, per_s=len(files) / wall, first_seconds=float("nan"))
    rows.append(r)
    seed = measure("Python seed loop (Pillow+torchvision, scripted)",
                   [PY, ROOT / "bench" / "peers.py", "image-seed", model, spec, *files], env)
    best = measure("Python best practice (DataLoader, batch 8, frozen)",
                   [PY, ROOT / "bench" / "peers.py", "image-best", model, spec, 8, *files], env)
    rows += [seed, best]
    ours = [max(rows[: len(args.batches)], key=lambda x: x["per_s"])]
    table(f"VGG16 '{spec}' on {len(files)} mate-backgrounds JPEGs, {args.threads} threads", rows, ours,
          [seed, best])
    mo = measure("libfeat model only (batch 1)", [exe, "model", model, spec, 1, 8], env)
    mp = measure("PyTorch model only (batch 1, frozen)", [PY, ROOT / "bench" / "peers.py", "model-only", model, spec,
                                                         1, 8], env)
    peak = run([PY, ROOT / "bench" / "peers.py", "peak"], env)
    gflop = VGG_GFLOP * 30 / 31  # features up to .29 are nearly all of VGG16's convolution work
    print(f"  model only: libfeat {mo['per_s']:.2f} img/s ({mo['per_s'] * gflop:.0f} GFLOP/s), "
          f"PyTorch {mp['per_s']:.2f} img/s; machine peak: fp32 GEMM {peak['gemm_gflops']:.0f} GFLOP/s, "
          f"3x3 conv {peak['conv_gflops']:.0f} GFLOP/s -> libfeat at "
          f"{100 * mo['per_s'] * gflop / peak['conv_gflops']:.0f}% of the conv peak")
    print(f"  end-to-end / model-only (libfeat): {100 * ours[0]['per_s'] / mo['per_s']:.0f}%")
    results["image"] = {"rows": rows, "model_only": [mo, mp], "peak": peak}


def bench_text(args, env, results):
    sys.path.insert(0, str(ROOT / "tools"))
    from fortunes_to_lines import records
    lines = []
    for f in ("computers", "science", "people", "de/computer", "de/sprichworte"):
        lines += list(records(f"/usr/share/games/fortunes/{f}"))
    lines = lines[: args.lines]
    path = BUILD / "bench-lines.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    model = export_model("minilm", "bert", "--hf", str(MINILM_DIR))
    exe = BUILD / "bench" / "bench_model"
    spec = "encoder.layer.-1:mean"
    rows = [measure(f"libfeat C API, batch {b}", [exe, "text", model, spec, b, path], env) for b in (16, 32, 64)]
    ours = [max(rows, key=lambda x: x["per_s"])]
    st = [measure(f"sentence-transformers, batch {b}", [PY, ROOT / "bench" / "peers.py", "text-st", MINILM_DIR, b,
                                                        path], env) for b in (16, 32, 64)]
    best_st = max(st, key=lambda x: x["per_s"])
    seed = measure("Python seed loop (HF tokenizer + BertModel)",
                   [PY, ROOT / "bench" / "peers.py", "text-seed", MINILM_DIR, path], env)
    table(f"all-MiniLM-L6-v2 mean pooling on {len(lines)} fortunes, {args.threads} threads", rows + st + [seed],
          ours, [best_st, seed])
    results["text"] = {"rows": rows + st + [seed]}


def sweep(args, env, results):
    """Image throughput of the C API over batch sizes and thread budgets, as a table and a
    plot (docs/performance-sweep.png; needs matplotlib)."""
    files = sorted(glob.glob("/usr/share/backgrounds/mate/*/*.jpg"))[: args.images]
    model = export_model("bench-vgg16", "vgg16", "--random-init", "--export", "script")
    exe = BUILD / "bench" / "bench_model"
    grid = {}
    print(f"\nsweep: VGG16 'features.29:gap', {len(files)} JPEGs, images/s")
    for threads in (1, 2):
        for batch in (1, 2, 4, 8):
            r = measure(f"t{threads} b{batch}", [exe, "image", model, "features.29:gap", batch, *files],
                        dict(env, BENCH_THREADS=str(threads)))
            grid[(threads, batch)] = r["per_s"]
            print(f"  threads {threads}, batch {batch}: {r['per_s']:.2f}")
    results["sweep"] = {f"{t}x{b}": v for (t, b), v in grid.items()}
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (pip install matplotlib into .venv for the plot)")
        return
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for threads in (1, 2):
        bs = [b for t, b in grid if t == threads]
        ax.plot(bs, [grid[(threads, b)] for b in bs], marker="o", label=f"{threads} thread(s)")
    ax.set_xlabel("batch size")
    ax.set_ylabel("images / s (end to end)")
    ax.set_title("libfeat VGG16 features.29:gap, mate-backgrounds JPEGs")
    ax.legend()
    fig.tight_layout()
    out = ROOT / "docs" / "performance-sweep.png"
    fig.savefig(out, dpi=110)
    print(f"  plot: {out}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--lines", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--only", choices=("image", "text", "sweep"))
    ap.add_argument("--json")
    args = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    results = {"threads": args.threads}
    if args.only in (None, "image"):
        bench_images(args, env, results)
    if args.only in (None, "text"):
        bench_text(args, env, results)
    if args.only in (None, "sweep"):
        sweep(args, env, results)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
