"""TensorBoard export: one run per cell, named by its coordinates; read back equal."""

import numpy as np
import xarray as xr

from initjax import tensorboard


def small_result() -> xr.Dataset:
    rng = np.random.default_rng(1)
    shape = (2, 2, 2, 1, 3)  # scheme, seed, sigma, lr, epoch
    acc = rng.uniform(0.1, 0.9, shape).astype(np.float32)
    acc[1, 0, 1, 0, 2] = np.nan  # a diverged run: its last epoch is NaN
    diverged = np.zeros(shape[:-1], bool)
    diverged[1, 0, 1, 0] = True
    dims = ("scheme", "seed", "sigma", "lr", "epoch")
    return xr.Dataset(
        {
            "test_acc": (dims, acc),
            "grad_norm": ((*dims, "layer"), rng.uniform(size=(*shape, 2)).astype(np.float32)),
            "diverged": (dims[:-1], diverged),
            "config": (("scheme",), np.array(["{}", "{}"], dtype=object)),
        },
        coords={
            "scheme": ["he_normal", "lecun_normal"],
            "seed": [0, 1],
            "sigma": [0.5, 2.0],
            "lr": [0.1],
            "epoch": [0, 1, 2],
            "layer": ["hidden_0", "output"],
        },
    )


def test_export_writes_one_run_per_cell_and_reads_back_equal(tmp_path):
    ds = small_result()
    runs = tensorboard.export(ds, tmp_path / "tb")
    assert len(runs) == 8
    assert runs[0] == tmp_path / "tb" / "scheme=he_normal" / "seed=0,sigma=0.5,lr=0.1"
    table = tensorboard.read(tmp_path / "tb")
    assert table.run.nunique() == 8
    acc = table[
        (table.run == "scheme=lecun_normal/seed=1,sigma=2,lr=0.1") & (table.tag == "test_acc")
    ]
    np.testing.assert_allclose(
        acc.value, ds.test_acc.sel(scheme="lecun_normal", seed=1, sigma=2.0, lr=0.1)
    )
    assert acc.step.tolist() == [0, 1, 2]
    grad = table[
        (table.run == "scheme=he_normal/seed=1,sigma=0.5,lr=0.1")
        & (table.tag == "grad_norm/output")
    ]
    np.testing.assert_allclose(
        grad.value,
        ds.grad_norm.sel(scheme="he_normal", seed=1, sigma=0.5, layer="output").squeeze(),
    )
    bad = table[
        (table.run == "scheme=lecun_normal/seed=0,sigma=2,lr=0.1") & (table.tag == "test_acc")
    ]
    assert bad.step.tolist() == [0, 1]  # the diverged epoch (NaN) is left out
