"""Results on disk: netCDF round trip with provenance, atomic writes, tidy tables, summary."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from initjax import results


def fake_result() -> xr.Dataset:
    rng = np.random.default_rng(0)
    seeds, sigmas, lrs, epochs = [0, 1, 2], [0.0, 0.01, 1.0], [0.1], 4
    shape = (3, 3, 1, epochs)
    acc = rng.uniform(0.5, 0.9, size=shape).astype(np.float32)
    loss = rng.uniform(0.3, 2.0, size=shape).astype(np.float32)
    diverged = np.zeros((3, 3, 1), bool)
    diverged[2, 2, 0] = True
    loss[2, 2, 0, 2:] = acc[2, 2, 0, 2:] = np.nan
    ds = xr.Dataset(
        {
            "train_loss": (("seed", "sigma", "lr", "epoch"), loss),
            "test_acc": (("seed", "sigma", "lr", "epoch"), acc),
            "weight_std": (
                ("seed", "sigma", "lr", "epoch", "layer"),
                rng.uniform(size=(*shape, 2)).astype(np.float32),
            ),
            "diverged": (("seed", "sigma", "lr"), diverged),
            "diverged_step": (("seed", "sigma", "lr"), np.where(diverged, 17, -1)),
        },
        coords={
            "seed": seeds,
            "sigma": sigmas,
            "lr": lrs,
            "epoch": np.arange(epochs),
            "layer": ["hidden_0", "output"],
        },
        attrs={"config": '{"model": "mlp"}', "epochs_planned": 3},
    )
    return ds


def test_save_load_round_trip_is_identical_with_provenance(tmp_path):
    ds = fake_result()
    before = ds.copy(deep=True)
    results.save(ds, tmp_path / "r.nc")
    xr.testing.assert_identical(ds, before)  # save does not modify its argument
    loaded = results.load(tmp_path / "r.nc")
    expected = ds.assign_attrs({**results.provenance(), **ds.attrs})
    xr.testing.assert_identical(loaded, expected)
    assert loaded.diverged.dtype == bool and loaded.layer.values.tolist() == ["hidden_0", "output"]
    assert loaded.attrs["version_jax"] != "unknown"
    assert loaded.attrs["git_commit"] == results.git_commit()


def test_a_failed_write_leaves_no_temporary_file_and_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "r.nc"
    results.save(fake_result(), path)
    old = path.read_bytes()

    def half_write(self, target, **kwargs):
        with open(target, "wb") as f:
            f.write(b"CDF\x01 half a file")
        raise RuntimeError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", half_write)
    with pytest.raises(RuntimeError, match="disk full"):
        results.save(fake_result().isel(epoch=slice(0, 2)), path)
    assert [p.name for p in tmp_path.iterdir()] == ["r.nc"]
    assert path.read_bytes() == old
    with pytest.raises(KeyboardInterrupt), results.atomic_path(tmp_path / "t.json") as tmp:
        tmp.write_text("{")
        raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["r.nc"]


def test_to_dataframe_is_one_row_per_value(tmp_path):
    ds = fake_result()
    table = results.to_dataframe(ds)
    # config columns first (here only the model: the config names no scheme, dataset ...)
    assert list(table.columns) == [
        "model", "seed", "sigma", "lr", "epoch", "layer", "variable", "value"
    ]  # fmt: skip
    assert (table.model == "mlp").all()
    assert len(table) == sum(ds[v].size for v in ds.data_vars) == 36 * 2 + 72 + 9 * 2
    acc = table[table.variable == "test_acc"].set_index(["seed", "sigma", "lr", "epoch"]).value
    np.testing.assert_array_equal(acc.loc[(1, 0.01, 0.1, 3)], ds.test_acc.values[1, 1, 0, 3])
    div = table[table.variable == "diverged"]
    assert div.value.sum() == 1 and div.epoch.isna().all()
    assert table.seed.dtype == "Int64" and table.value.dtype == np.float64
    pivot = table[table.variable == "train_loss"].pivot_table("value", "epoch", "sigma")
    np.testing.assert_allclose(pivot[0.01], ds.train_loss.sel(sigma=0.01).mean(["seed", "lr"]))


def test_export_csv_and_parquet(tmp_path):
    ds = fake_result()
    path = results.export(ds, tmp_path / "r.csv")
    back = pd.read_csv(path)
    assert back.shape == results.to_dataframe(ds).shape
    with pytest.raises(ValueError, match=r"valid suffixes: \.csv, \.parquet"):
        results.export(ds, tmp_path / "r.xlsx")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pyarrow"):
            results.export(ds, tmp_path / "r.parquet")
        assert not (tmp_path / "r.parquet").exists()
    else:
        back = pd.read_parquet(results.export(ds, tmp_path / "r.parquet"))
        assert len(back) == len(results.to_dataframe(ds))


def test_summary_is_mean_ci_and_n_finite_over_seeds_of_the_last_epoch():
    from scipy import stats

    ds = fake_result()
    text = results.summary(ds)
    lines = text.splitlines()
    assert lines[0] == "after epoch 3: mean ± 95% CI over seeds (n finite / N = 3 seeds):"
    assert len(lines) == 3 + 3 + 1  # heading, header, rule, a row per (σ, lr), the warning
    acc = ds.test_acc.values[:, 1, 0, -1].astype(np.float64)
    half = stats.t.ppf(0.975, 2) * acc.std(ddof=1) / np.sqrt(3)
    assert f"{acc.mean():.4f} ± {half:.4f} (3/3)" in lines[4]
    last = ds.train_loss.values[:2, 2, 0, -1].astype(np.float64)  # the diverged seed: left out
    half = stats.t.ppf(0.975, 1) * last.std(ddof=1) / np.sqrt(2)
    assert f"{last.mean():.4f} ± {half:.4f} (2/3)" in lines[5] and lines[5].endswith("1/3")
    assert lines[6].startswith("warning: 1 of 9 runs diverged")


def test_recorded_commits_lists_each_files_commit_once_in_file_order(tmp_path):
    import xarray as xr

    from initjax import results as res_mod

    for name, commit in (("b.nc", "2222222aaaa"), ("a.nc", "1111111bbbb"), ("c.nc", "1111111bbbb")):
        xr.Dataset({"v": ("x", [1.0])}, attrs={"git_commit": commit}).to_netcdf(tmp_path / name)
    xr.Dataset({"v": ("x", [1.0])}).to_netcdf(tmp_path / "d.nc")  # no commit recorded
    (tmp_path / "e.nc").write_text("not netCDF")  # unreadable: names no commit
    assert res_mod.recorded_commits(tmp_path) == ["1111111", "2222222"]
    assert res_mod.recorded_commits(tmp_path / "missing") == []
