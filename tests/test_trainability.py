"""Trainability boundaries and their fit to a depth scale, against synthetic grids."""

import numpy as np
import pytest

from initjax import trainability


def test_boundary_is_the_midpoint_after_the_deepest_trainable_depth():
    depths = np.array([8, 16, 32, 64])
    ok = np.array([[1, 1, 0, 1], [1, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 1]], bool)
    b = trainability.boundary(ok, depths)
    np.testing.assert_allclose(b[:2], [np.sqrt(16 * 32), np.sqrt(8 * 16)])
    assert np.isnan(b[2]) and np.isnan(b[3])  # nothing trains / the deepest trains: censored


def test_fit_recovers_a_known_multiple_and_slope():
    # Synthetic trainability: a cell trains iff depth <= c·ξ_c, on a fine depth grid.
    depths = np.unique(np.round(np.geomspace(4, 2048, 60)).astype(int))
    xi = np.geomspace(3.0, 40.0, 9)
    for c in (3.0, 6.0):
        ok = depths[:, None] <= c * xi[None, :]
        f = trainability.fit_multiple(trainability.boundary(ok, depths), xi)
        assert f["n"] == 9
        assert abs(np.log(f["c"] / c)) < 0.06 and f["c_lo"] <= f["c"] <= f["c_hi"]
        assert abs(f["slope"] - 1.0) < 0.05
    # L ∝ ξ_c² is a slope of 2, which the slope row would reject.
    ok = depths[:, None] <= xi[None, :] ** 2
    f = trainability.fit_multiple(trainability.boundary(ok, depths), xi)
    assert abs(f["slope"] - 2.0) < 0.05
    assert abs(f["slope"] - 1.0) > f["slope_half"]


def test_fit_needs_two_points_and_leaves_out_infinite_scales():
    f = trainability.fit_multiple([10.0, np.nan, 20.0], [2.0, 3.0, np.inf])
    assert f["n"] == 1 and np.isnan(f["c"]) and np.isnan(f["slope"])
    f = trainability.fit_multiple([12.0, 24.0], [2.0, 4.0])
    assert f["c"] == pytest.approx(6.0) and f["c_lo"] == f["c_hi"] == pytest.approx(6.0)
    assert np.isnan(f["slope"])  # a slope needs 3 points


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="ascending"):
        trainability.boundary(np.ones((2, 1), bool), [16, 8])
    with pytest.raises(ValueError, match="rows"):
        trainability.boundary(np.ones((3, 1), bool), [8, 16])
    with pytest.raises(ValueError, match="shape"):
        trainability.fit_multiple([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="level"):
        trainability.fit_multiple([1.0], [1.0], level=1.5)
