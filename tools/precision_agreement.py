"""The accuracy cost of the bfloat16 inference form: a run's test-set accuracy as trained, in the folded
float32 form and in the bfloat16 form, and how often bfloat16's top-1 equals float32's (Fashion-MNIST IDX test
split, resized bilinearly to the model's input).

    python tools/precision_agreement.py RUN_DIR [IDX_DIR]
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    import keras

    from inception_keras.data.idx import read_idx
    from inception_keras.nn.inference import inference_model
    from inception_keras.runs.loader import load_inference

    model, _, _ = load_inference(sys.argv[1])
    d = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    x = read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"), 3)
    y = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"), 1)
    h, w = model.input_shape[1:3]
    xs = keras.ops.convert_to_numpy(keras.ops.image.resize(x[..., None].astype("float32") / 255, (h, w)))
    top = {k: np.argmax(inference_model(model, k).predict(xs, batch_size=256, verbose=0), 1)
           for k in ("float32", "bfloat16")}
    top["trained"] = np.argmax(model.predict(xs, batch_size=256, verbose=0), 1)
    for k, v in top.items():
        print(f"accuracy {k}: {(v == y).mean():.4f}")
    print(f"top-1 bfloat16 == float32 folded: {(top['float32'] == top['bfloat16']).mean():.4f} of {len(y)}")
    print(f"top-1 float32 folded == trained: {(top['float32'] == top['trained']).mean():.4f}")


if __name__ == "__main__":
    main()
