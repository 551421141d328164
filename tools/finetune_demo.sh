#!/bin/bash
# The fine-tuning demonstration (docs/finetune.md), run from the repository root.
set -e
PY=${PY:-python}
D=/tmp/finetune-demo
R=${R:-runs/finetune-demo}
[ -d $D ] || $PY tools/finetune_demo.py $D
$PY -m inception_keras train --arch docs/finetune/inception_small.yaml --recipe docs/finetune/pretrain.yaml --run-dir $R/pretrain
$PY -m inception_keras train --arch docs/finetune/inception_small_new_head.yaml --recipe docs/finetune/finetune.yaml --init-from $R/pretrain --run-dir $R/finetuned
$PY -m inception_keras train --arch docs/finetune/inception_small_new_head.yaml --recipe docs/finetune/finetune.yaml --set 'freeze=[]' --set 'phases=[]' --run-dir $R/scratch
$PY -m inception_keras compare $R/finetuned $R/scratch --by-run --plot docs/finetune.png
