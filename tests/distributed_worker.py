"""One process of the distributed-training tests (tests/test_distributed.py), run as a script.

``python distributed_worker.py multiworker OUT``
    One worker of a ``TF_CONFIG`` cluster: trains the tiny model under
    ``get_strategy("multiworker")`` and writes ``OUT/result.npz``.
``python distributed_worker.py local OUT``
    Splits the CPU into two logical devices before TensorFlow initialises them, then trains
    the same model under ``get_strategy("mirrored")`` (``OUT/mirrored/result.npz``) and under
    the default strategy, one device, whole batch (``OUT/single/result.npz``): the reference
    both distributed runs are compared with.

Every run goes through :func:`lrh_tflm.train.train_model` (the Distiller's train step,
callbacks, backup and selection) with the same seed, data and model.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import lrh_tflm  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)

N, BATCH, STEPS, EPOCHS = 32, 8, 4, 2   # 4 global batches of 8 per epoch: 8 steps
WINDOW, LEADS = 64, 2
CLASSES = ["164889003", "164890007", "426783006"]  # AF, AFL, NSR


def data(seed: int):
    """Deterministic inputs and one-hot labels, identical in every process."""
    rng = np.random.default_rng(seed)
    n = N if seed == 0 else 16
    y = np.zeros((n, 3), bool)
    y[np.arange(n), rng.integers(0, 3, n)] = True
    ecg = rng.normal(size=(n, 1, WINDOW, LEADS)).astype(np.float32)
    ecg[y[:, 0], 0, :, 0] += 1.0
    demo = rng.normal(size=(n, 5)).astype(np.float32)
    return {"ecg": ecg, "demo": demo}, y


def tiny_model():
    """A few hundred weights, no batch normalisation (its statistics are per replica)."""
    import tf_keras

    ecg = tf_keras.Input((1, WINDOW, LEADS), name="ecg")
    demo = tf_keras.Input((5,), name="demo")
    h = tf_keras.layers.Dense(4, activation="tanh")(tf_keras.layers.Flatten()(ecg))
    h = tf_keras.layers.Concatenate()([h, demo])
    return tf_keras.Model({"ecg": ecg, "demo": demo}, tf_keras.layers.Dense(len(CLASSES))(h))


def run(strategy, out: Path) -> None:
    import tensorflow as tf
    import tf_keras

    from lrh_tflm.config import TrainConfig
    from lrh_tflm.distill import Distiller
    from lrh_tflm.train import train_model

    x, y = data(0)
    xv, yv = data(1)
    train_ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.float32))).batch(
        BATCH, drop_remainder=True)
    cfg = TrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=1e-2, lr_drops=(), patience=EPOCHS,
                      steps_per_epoch=STEPS)
    with strategy.scope():
        tf_keras.utils.set_random_seed(0)
        model = Distiller(tiny_model(), [])
    initial = model.student.get_weights()   # after the chief's initial values reached every worker
    res = train_model(model, train_ds, None, cfg, out / "train", classes=CLASSES,
                      val_data=(xv, yv), strategy=strategy, seed=0, verbose=0)
    weights = res.model.get_weights()
    np.savez(out / "result.npz", loss=np.asarray(res.history["loss"], np.float64),
             replicas=strategy.num_replicas_in_sync, n_weights=len(weights),
             **{f"w{i}": w for i, w in enumerate(weights)},
             **{f"i{i}": w for i, w in enumerate(initial)})


def main(mode: str, out: Path) -> None:
    import tensorflow as tf

    from lrh_tflm.train import get_strategy

    if mode == "multiworker":
        run(get_strategy("multiworker"), out)
    elif mode == "local":
        (cpu,) = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        for name, sub in (("mirrored", "mirrored"), ("default", "single")):
            (out / sub).mkdir(parents=True, exist_ok=True)
            run(get_strategy(name), out / sub)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
