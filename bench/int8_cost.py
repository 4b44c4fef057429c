# SPDX-License-Identifier: MIT
"""Static int8 (tools/export_models.py --quantize static-int8) against float32: speed end to
end (`bench_model image`, decode included) and model only (`bench_model model`), next to the
accuracy cost: top-1 agreement with float32 and feature cosine on real photos, and the
linear-probe accuracy of `feat probe` on digits. Goals (issue "Images at the machine's
limit"): int8 >= 2x float32 end to end for ResNet50, >= 2x model only for
EfficientNet-Lite0, top-1 agreement >= 98 %, probe accuracy within 1 point.

  run_bench.py --only int8
  int8_cost.py choices FAMILY     PyTorch model-only speed of the ways to quantize (float32,
                                  int8 per block with int8 or float32 between blocks, one
                                  whole-model graph), docs/performance.md "Static int8"

Also VGG16 (random init; no goal), and ResNet50 pruned at 0.5 (--prune), in float32 and then
quantized (--prune --quantize).

Calibration: scikit-image's sample photos; evaluation: the mate-backgrounds photos (another
set). ResNet50 and VGG16 have no real weights offline: random init, speed and cosine only."""
import pathlib
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SKIMAGE = pathlib.Path("/usr/lib/python3/dist-packages/skimage/data")
CALIBRATION = ["astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "motorcycle_right.png",
               "rocket.jpg", "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "grass.png", "gravel.png",
               "brick.png"]


PRUNE_RATIO = 0.5  # ResNet50 pruned, then quantized: does int8's gain add to pruning's?


def calibration_dir(build):
    d = build / "bench-int8-calibration"
    d.mkdir(parents=True, exist_ok=True)
    for name in CALIBRATION:
        if not (d / name).exists():
            shutil.copyfile(SKIMAGE / name, d / name)
    return d


def median_rate(cmd, env, measure, runs=3):
    """Median items/s of `runs` runs of a bench_model command."""
    rates = sorted(measure("", cmd, env)["per_s"] for _ in range(runs))
    return rates[len(rates) // 2]


def top1_agreement(fp32, int8, photos, engine):
    """Top-1 of the int8 TorchScript's logits against float32's (PyTorch on both files),
    and how many photos float32 gives p >= 0.3."""
    import torch

    sys.path.insert(0, str(ROOT / "tests" / "model"))
    import reference

    torch.backends.quantized.engine = engine
    im = reference.load_sidecar(fp32)["image"]
    kw = {"mean": im["mean"], "std": im["std"]} if "mean" in im else {}
    x = torch.stack([torch.from_numpy(reference.preprocess_torchvision(p, im["resize"], im["crop"], **kw))
                     for p in photos])
    with torch.no_grad():
        a = torch.jit.load(str(fp32), map_location="cpu").eval()(x)
        b = torch.jit.load(str(int8), map_location="cpu").eval()(x)
    agree = a.argmax(1) == b.argmax(1)
    confident = a.softmax(1).max(1).values >= 0.3
    return int(agree.sum()), int(agree[confident].sum()), int(confident.sum())


def probe_accuracy(feat, model, digits, spec, env, out):
    import json

    p = subprocess.run([str(feat), "probe", "--model", str(model), "--taps", spec, "-o", str(out), "--data",
                        str(digits)], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"feat probe failed:\n{p.stderr[-3000:]}")
    return json.loads(pathlib.Path(out).read_text())["taps"][0]["accuracy_mean"]


def int8_cost(args, env, results):
    from run_bench import BUILD, PY, cli_features, cosine_stats, cpu_name, export_model, measure

    exe = BUILD / "bench" / "bench_model"
    feat = BUILD / "tools" / "feat" / "feat"
    calib = str(calibration_dir(BUILD))
    photos = sorted(pathlib.Path("/usr/share/backgrounds/mate").rglob("*.jpg"))
    photos = [p for p in photos if p.stat().st_size < 4_000_000][: args.images]  # not the 4K/5K copies
    digits = BUILD / "bench-digits-int8"
    if not digits.exists():
        subprocess.run([PY, ROOT / "examples" / "digits_to_pngs.py", digits, "--per-class", "50"], check=True,
                       capture_output=True)
    models = {
        "efficientnet_lite0": (export_model("efficientnet-lite0", "efficientnet_lite0"),
                               export_model("bench-efficientnet-lite0-int8", "efficientnet_lite0", "--quantize",
                                            "static-int8", "--calibrate", calib),
                               "_avg_pooling:flatten"),
        "resnet50": (export_model("bench-resnet50", "resnet50", "--random-init", "--export", "script"),
                     export_model("bench-resnet50-int8", "resnet50", "--random-init", "--export", "script",
                                  "--quantize", "static-int8", "--calibrate", calib),
                     "layer4:gap"),
        # no goal of its own: the torchvision CNN whose convolutions weigh most
        "vgg16": (export_model("bench-vgg16", "vgg16", "--random-init", "--export", "script"),
                  export_model("bench-vgg16-int8", "vgg16", "--random-init", "--export", "script", "--quantize",
                               "static-int8", "--calibrate", calib),
                  "features.29:gap"),
    }
    batch = 8
    print(f"\nstatic int8 vs float32: {len(photos)} mate-backgrounds JPEGs, batch {batch}, median of 3; "
          f"{cpu_name()}, {args.threads} threads; calibrated on {len(CALIBRATION)} scikit-image photos")
    rows = {}
    for family, (fp32, int8, spec) in models.items():
        rate = {}
        for kind in ("fp32", "int8"):
            m = fp32 if kind == "fp32" else int8
            rate[kind, "e2e"] = median_rate([exe, "image", m, spec, batch, *photos], env, measure)
            rate[kind, "model"] = median_rate([exe, "model", m, spec, batch, 32], env, measure)
        ref = cli_features("image", fp32, photos, "--taps", spec, env=env)
        got = cli_features("image", int8, photos, "--taps", spec, env=env)
        cmin, cmean = cosine_stats(got, ref)
        row = dict(fp32_e2e=rate["fp32", "e2e"], int8_e2e=rate["int8", "e2e"], fp32_model=rate["fp32", "model"],
                   int8_model=rate["int8", "model"], cos_min=cmin, cos_mean=cmean)
        e2e, mo = row["int8_e2e"] / row["fp32_e2e"], row["int8_model"] / row["fp32_model"]
        print(f"  {family} '{spec}': end to end {row['fp32_e2e']:.2f} -> {row['int8_e2e']:.2f} img/s "
              f"({e2e:.2f}x), model only {row['fp32_model']:.2f} -> {row['int8_model']:.2f} img/s ({mo:.2f}x); "
              f"cosine to float32 {cmin:.4f} / {cmean:.4f} (min / mean)")
        if family == "efficientnet_lite0":
            import json

            engine = json.loads(pathlib.Path(str(int8)[:-3] + ".json").read_text())["quantization_detail"]["engine"]
            agree, agree_conf, conf = top1_agreement(fp32, int8, photos, engine)
            pf = probe_accuracy(feat, fp32, digits, spec, env, BUILD / "bench-int8-probe-fp32.json")
            pq = probe_accuracy(feat, int8, digits, spec, env, BUILD / "bench-int8-probe-int8.json")
            row.update(top1_agree=agree, top1_n=len(photos), top1_agree_confident=agree_conf, confident=conf,
                       probe_fp32=pf, probe_int8=pq)
            print(f"    top-1 agreement {agree}/{len(photos)} = {100 * agree / len(photos):.0f} % (goal >= 98 %; "
                  f"{agree_conf}/{conf} where float32 has p >= 0.3); probe on 500 digits "
                  f"{100 * pf:.1f} % -> {100 * pq:.1f} % ({100 * (pq - pf):+.1f} points, goal within 1)")
            print(f"    goal model only >= 2x: {'met' if mo >= 2 else 'not met'} ({mo:.2f}x)")
        elif family == "resnet50":
            print(f"    goal end to end >= 2x: {'met' if e2e >= 2 else 'not met'} ({e2e:.2f}x)")
        rows[family] = row
    rows["resnet50_pruned"] = pruned_and_int8(exe, calib, photos, batch, rows["resnet50"], env, measure)
    results["int8"] = dict(rows, cpu=cpu_name(), threads=args.threads)


def pruned_and_int8(exe, calib, photos, batch, fp32_row, env, measure):
    """ResNet50 pruned at PRUNE_RATIO (float32), and pruned then quantized, against the float32
    rates of fp32_row; the int8 features' cosine to the pruned float32 model's."""
    from run_bench import cli_features, cosine_stats, export_model

    spec, base = "layer4:gap", ("resnet50", "--random-init", "--export", "script", "--prune", str(PRUNE_RATIO))
    pruned = export_model(f"bench-resnet50-prune{PRUNE_RATIO}", *base)
    both = export_model(f"bench-resnet50-prune{PRUNE_RATIO}-int8", *base, "--quantize", "static-int8",
                        "--calibrate", calib)
    row = {}
    for kind, m in (("pruned", pruned), ("pruned_int8", both)):
        row[kind + "_e2e"] = median_rate([exe, "image", m, spec, batch, *photos], env, measure)
        row[kind + "_model"] = median_rate([exe, "model", m, spec, batch, 32], env, measure)
        print(f"  resnet50 {kind.replace('_', ' + ')} {PRUNE_RATIO} '{spec}': end to end "
              f"{row[kind + '_e2e']:.2f} img/s ({row[kind + '_e2e'] / fp32_row['fp32_e2e']:.2f}x float32), model only "
              f"{row[kind + '_model']:.2f} img/s ({row[kind + '_model'] / fp32_row['fp32_model']:.2f}x)")
    row["cos_min"], row["cos_mean"] = cosine_stats(cli_features("image", both, photos, "--taps", spec, env=env),
                                                   cli_features("image", pruned, photos, "--taps", spec, env=env))
    print(f"    int8 cosine to the pruned float32 model {row['cos_min']:.4f} / {row['cos_mean']:.4f} (min / mean)")
    return row


# --------------------------------------------------------------------------------------
# int8_cost.py choices FAMILY


def whole_graph(model, family, calib):
    """The whole model as one FX graph (no block taps survive; the speed reference)."""
    import copy

    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    import export_quantize as eq

    m = copy.deepcopy(model)
    if family == "efficientnet_lite0":
        from efficientnet_lite_pytorch.utils import Conv2dStaticSamePadding

        for sub in list(m.modules()):
            for name, c in list(sub.named_children()):
                if isinstance(c, Conv2dStaticSamePadding):
                    setattr(sub, name, eq.plain_conv(c))
        for b in m._blocks:
            eq.prepare_unit(b, family)
    m.eval()
    p = prepare_fx(m, get_default_qconfig_mapping(torch.backends.quantized.engine), example_inputs=(calib[:1],))
    eq.fix_relu6_observers(p)
    with torch.no_grad():
        p(calib)
    return eq.requantize_pads(convert_fx(p))


def choices(family, reps=15):
    import torch

    sys.path.insert(0, str(ROOT / "tools"))
    import export_models as em
    import export_quantize as eq

    torch.set_grad_enabled(False)
    a = em.parse_args([family, "-o", "unused.pt"] + ([] if family == "efficientnet_lite0" else ["--random-init"]))
    model, info = (em.build_efficientnet if family == "efficientnet_lite0" else em.build_torchvision)(a)
    folder = str(calibration_dir(pathlib.Path(sys.argv[3]) if len(sys.argv) > 3 else ROOT / "build"))
    files, _ = eq.calibration_files(folder, 64)
    calib = torch.stack([eq.preprocess(p, info["image"]) for p in files])
    variants = {"float32": model,
                "int8 per block, int8 between blocks (the export)":
                    eq.quantize_static_int8(model, family, info["image"], folder, None, True)[0],
                "int8 per block, float32 between blocks":
                    eq.quantize_static_int8(model, family, info["image"], folder, None, False)[0],
                "int8 whole-model graph (no block taps)": whole_graph(model, family, calib)}
    x = calib[:8]
    frozen = {k: torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(m, x[:1]).eval()))
              for k, m in variants.items()}
    best = {k: float("inf") for k in frozen}
    for m in frozen.values():
        m(x)
        m(x)
    for _ in range(reps):  # interleaved, best of: other load on the machine hits all alike
        for k, m in frozen.items():
            t = time.perf_counter()
            m(x)
            best[k] = min(best[k], time.perf_counter() - t)
    for k in frozen:
        print(f"{family} {k}: {8 / best[k]:.1f} img/s, {best['float32'] / best[k]:.2f}x float32")


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "choices":
        sys.exit(__doc__)
    choices(sys.argv[2])
