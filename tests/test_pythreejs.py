"""pythreejs interop: the mesh carries the landscape's geometry and the named colormap's colours."""

import numpy as np
import pytest
import pythreejs as p3  # a required dependency: a missing one must fail, not skip

import pinn_landscape_widget as plw

from .conftest import small_run


def test_mesh_geometry_matches_the_grid():
    import matplotlib

    run = small_run("poisson1d", dict(n_points=64), "strong")
    ds = plw.landscape(run, resolution=9, progress=False)
    mesh = plw.to_pythreejs(ds, z_scale="linear")
    assert isinstance(mesh, p3.Mesh)
    pos = np.asarray(mesh.geometry.attributes["position"].array)
    col = np.asarray(mesh.geometry.attributes["color"].array)
    idx = np.asarray(mesh.geometry.attributes["index"].array)
    z = ds.loss.values.astype(np.float64)
    t = (z - z.min()) / (z.max() - z.min())
    np.testing.assert_allclose(pos[:, 2], 1.1 * t.reshape(-1), rtol=1e-5, atol=1e-6)
    assert pos[0, :2].tolist() == [-1, -1] and pos[-1, :2].tolist() == [1, 1]
    np.testing.assert_allclose(col, matplotlib.colormaps["viridis"](t.reshape(-1))[:, :3], atol=1e-6)
    assert idx.size == 8 * 8 * 6


def test_nan_cells_are_left_out_and_1d_is_refused():
    run = small_run("poisson1d", dict(n_points=64), "strong")
    ds = plw.landscape(
        run, plw.random_directions(run, 2, normalization="none"), span=1e30, resolution=5, progress=False
    )
    from pinn_landscape_widget.viz.pythreejs_interop import landscape_geometry

    _, _, idx = landscape_geometry(ds)
    bad = ~np.isfinite(ds.loss.values)
    assert bad.any()
    used = set(idx.tolist())
    assert not any(k in used for k in np.flatnonzero(bad.reshape(-1)))
    line = plw.landscape(run, plw.random_directions(run, 1), resolution=5, progress=False)
    with pytest.raises(ValueError, match="needs a 2-D landscape"):
        plw.to_pythreejs(line)
    assert isinstance(plw.to_pythreejs(ds, scene=True), p3.Renderer)


def test_z_scale_log_heights_and_the_old_log_keyword():
    run = small_run("poisson1d", dict(n_points=64), "strong")
    ds = plw.landscape(run, resolution=5, progress=False)
    z = np.log10(ds.loss.values.astype(np.float64))
    t = (z - z.min()) / (z.max() - z.min())
    mesh = plw.to_pythreejs(ds, height=2.0, colormap="gray")  # default z_scale="log"
    pos = np.asarray(mesh.geometry.attributes["position"].array)
    np.testing.assert_allclose(pos[:, 2], 2.0 * t.reshape(-1), rtol=1e-5, atol=1e-6)
    linear = plw.to_pythreejs(ds, z_scale="linear")
    with pytest.warns(FutureWarning, match=r"to_pythreejs\(log=\.\.\.\) is deprecated .* use z_scale= instead"):
        old = plw.to_pythreejs(ds, log=False)
    np.testing.assert_array_equal(
        np.asarray(old.geometry.attributes["position"].array), np.asarray(linear.geometry.attributes["position"].array)
    )
    np.testing.assert_array_equal(
        np.asarray(old.geometry.attributes["color"].array), np.asarray(linear.geometry.attributes["color"].array)
    )


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(z_scale="sqrt"), r"z_scale must be one of \['linear', 'log'\], got 'sqrt'"),
        (dict(colormap="jet"), r"colormap must be one of \['viridis', 'cividis', 'magma', 'coolwarm', 'gray'\]"),
        (dict(height=0), r"height must be a finite number > 0, got 0"),
        (dict(log="no"), r"log must be True or False"),
    ],
)
@pytest.mark.filterwarnings("ignore:to_pythreejs\\(log=:FutureWarning")
def test_bad_arguments_name_the_argument(kwargs, match):
    run = small_run("poisson1d", dict(n_points=64), "strong")
    ds = plw.landscape(run, resolution=5, progress=False)
    with pytest.raises(ValueError, match=match):
        plw.to_pythreejs(ds, **kwargs)
    with pytest.raises(ValueError, match=r"ds must be a landscape Dataset .* got dict"):
        plw.to_pythreejs({})
