"""d2l_mlp at quick scale: d2l's MLP at its published settings (issue 15; claims C1, C2, C8)."""

import math
import re

import numpy as np
import xarray as xr

from initjax import study

exp = study.load("d2l_mlp")


def test_d2l_settings_reproduce_the_checks_and_beat_softmax(fashion_mnist, quick):
    d2l = quick.results["d2l"]
    assert list(d2l.model.values) == ["mlp", "softmax"]
    assert d2l.sizes["seed"] >= 3 and int(d2l.epoch.max()) == 10
    last = d2l.isel(epoch=-1)
    mlp, soft = last.sel(model="mlp"), last.sel(model="softmax")
    assert float(mlp.batch_loss.max()) < 0.5 and float(mlp.test_acc.min()) > 0.83
    # Paired by seed (same minibatches): the MLP is ahead in every seed.
    assert np.all(mlp.test_acc.values > soft.test_acc.values)
    # Both start at the near-uniform softmax of σ = 0.01: loss ≈ ln 10.
    np.testing.assert_allclose(d2l.train_loss.isel(epoch=0), math.log(10), rtol=0.01)
    for words in ("d2l MLP reproduction", "beats softmax", "ceiling"):
        assert quick.row(words).passed is True


def test_smoke_parts_run_every_cell_and_decide_nothing_at_quick(fashion_mnist, quick):
    sig, sch = quick.results["sigma"], quick.results["schemes"]
    assert list(sig.sigma.values) == list(exp.SIGMAS)
    assert list(sch.scheme.values) == list(exp.SCHEMES)
    # Quick trains them on the first 10 000 images (and says so); full scale on all of them.
    assert sig.attrs["train_examples"] == sch.attrs["train_examples"] == 10_000
    assert exp.CONFIGS["full"]["examples"] == 0 and quick.results["d2l"].sizes["seed"] == 3
    # The all-zero ReLU net predicts one class of the balanced test set: exactly 0.1.
    np.testing.assert_allclose(sig.test_acc.sel(sigma=0.0).isel(epoch=-1), 0.1, rtol=1e-6)
    assert quick.row("C1 (MLP)").kind == "sanity" and quick.row("C1 (MLP)").passed is True
    undecided = [r for r in quick.rows if r.passed is None]
    assert len(undecided) == 4 and all("quick: not decided" in r.ours for r in undecided)
    assert quick.failed == [r.claim for r in undecided]
    quick.assert_figures()


def test_rows_decide_at_full_and_can_fail(fashion_mnist, quick):
    m = exp.measure(quick.results)
    assert exp.verdict(m) == quick.rows
    # Pretend full scale: 5 seeds, 3 lrs, with hand-made accuracies.
    rng = np.random.default_rng(0)
    m = dict(m, seeds=5, lrs=[0.03, 0.1, 0.3])
    i = {s: m["sigmas"].index(s) for s in (0.0, 1e-3, 1e-2, 1.0)}
    acc = np.full((len(m["sigmas"]), 5), 0.85) + rng.normal(0, 0.002, (len(m["sigmas"]), 5))
    acc[i[0.0]] = 0.1
    acc[i[1.0]] -= 0.05  # σ = 1 five points lower
    loss1 = np.full_like(acc, 0.5)  # by the end of epoch 1 every σ has left the plateau ...
    area1 = np.full_like(acc, 0.8) + rng.normal(0, 0.004, acc.shape)
    area1[i[1e-3]] += 0.14  # ... but σ = 10⁻³ spent its first steps there: a higher mean loss
    by_lr = np.repeat(area1[:, None, :], 3, axis=1)
    final_by_lr = np.full_like(by_lr, 0.4)
    final_by_lr[i[1e-3], 0] = 2.3  # at the first lr σ = 10⁻³ does not train
    init = np.full_like(acc, math.log(10))
    init[i[1.0]] = 200.0
    m.update(sigma_acc=acc, sigma_loss1=loss1, sigma_area1=area1, sigma_area1_by_lr=by_lr,
             sigma_final_loss_by_lr=final_by_lr, sigma_init_loss=init)  # fmt: skip
    m.update(scheme_acc=acc[[i[1e-2]] * 2] + 0.001)  # He, Xavier within a tenth of a point
    rows = exp.verdict(m)
    for words in ("C2 (MLP)", "plateau", "He vs", "Xavier vs"):
        assert quick.row(words, rows).passed is True, words
    assert re.search(
        r"at each lr: 0.03 not trained, 0.1 \+0\.1[34]\d \[\+0\.1\d\d, \+0\.1\d\d\], 0.3 \+0\.1",
        quick.row("plateau", rows).ours,
    ), quick.row("plateau", rows).ours
    m["scheme_acc"] = m["scheme_acc"] + np.array([[0.03], [0.0]])  # He three points ahead
    rows = exp.verdict(m)
    assert quick.row("He vs", rows).passed is False
    assert quick.row("Xavier vs", rows).passed is True
    m["sigma_area1"] = np.full_like(acc, 0.8) + rng.normal(0, 0.01, acc.shape)  # no plateau
    assert quick.row("plateau", exp.verdict(m)).passed is None
    m["sigma_area1"][i[1e-3]] -= 0.1  # σ = 10⁻³ ahead: the claim fails
    assert quick.row("plateau", exp.verdict(m)).passed is False
    # The ceiling row reads the 95% interval of the mean test accuracy against [0.831, 0.881].
    m["acc"] = [0.80, 0.81, 0.79]  # wholly under the band
    assert quick.row("ceiling", exp.verdict(m)).passed is False
    m["acc"] = [0.80, 0.86, 0.83]  # straddles its lower edge
    assert quick.row("ceiling", exp.verdict(m)).passed is None


def test_the_plateau_reads_epoch_1_at_the_tuned_lr(fashion_mnist, quick):
    """measure() takes the epoch-1 mean minibatch loss (not the last epoch's) at each σ's tuned
    lr (not the grid's first): a second lr with the lower final loss and a later epoch whose
    values would show any wrong pick."""
    sig = quick.results["sigma"]
    later = sig.isel(epoch=[-1]).assign_coords(epoch=[int(sig.epoch.max()) + 1])
    later = later.assign(batch_loss=later.batch_loss + 100.0)  # a wrong epoch shows up
    two_epochs = xr.concat([sig, later], dim="epoch", data_vars="all")
    tuned = two_epochs.assign(
        train_loss=two_epochs.train_loss - 0.1,  # lower final loss: this lr is the tuned one
        batch_loss=two_epochs.batch_loss + 7.0,  # and its epoch-1 mean is told apart
    ).assign_coords(lr=[float(sig.lr.max()) * 3])
    grid = xr.concat([two_epochs, tuned], dim="lr", data_vars="all").assign_attrs(sig.attrs)
    m = exp.measure(dict(quick.results, sigma=grid))
    assert m["sigma_lr"] == [float(tuned.lr[0])] * len(exp.SIGMAS)
    want = tuned.batch_loss.sel(epoch=1).isel(lr=0).transpose("sigma", "seed").values
    np.testing.assert_allclose(m["sigma_area1"], want)
    assert m["sigma_area1_by_lr"].shape == (len(exp.SIGMAS), 2, sig.sizes["seed"])
