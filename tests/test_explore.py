"""plw.explore: a first picture from short runs at once, the real runs trained in the background and swapped in;
the final widget shows exactly what training first and showing after would."""

import threading

import numpy as np
import pytest
import torch

import pinn_landscape_widget as plw
from pinn_landscape_widget.viz import explore as explore_module

OPTIONS = dict(steps=(30, 6), warmup_steps=5, resolution=7)


def _grid(w, k):
    return w.datasets[k].loss.values  # the landscape panel k draws


def test_explore_shows_short_runs_first_then_the_trained_runs():
    w = plw.explore("poisson1d", **OPTIONS)
    # returned with the short runs (5 Adam steps each), and says so
    assert w.run_labels == ["strong", "deep_ritz"]
    assert w.runs_info["strong"]["steps"][-1] == 5 and "in the background" in w.title
    w.wait()
    assert w.status == "done" and w.title == "" and w.error == ""
    # the final runs are those of plw.train with the same steps, and the grids are their landscapes
    for k, form in enumerate(["strong", "deep_ritz"]):
        ref = plw.train("poisson1d", form, steps=(30, 6), progress=False)
        run = w._runs[form]
        assert w.runs_info[form]["steps"] == list(ref.trajectory_steps)
        torch.testing.assert_close(run.params, ref.params, rtol=1e-5, atol=1e-6)
        ds = plw.landscape(run, plw.random_directions(run, 2, seed=0), resolution=7, progress=False)
        np.testing.assert_allclose(_grid(w, k), ds.loss.values, rtol=1e-5)
    assert set(w.replay) <= {"strong", "deep_ritz"}
    assert all(w.replay[k]["steps"] == w.runs_info[k]["steps"] for k in w.replay)


def test_explore_without_background_trains_first():
    w = plw.explore("poisson1d", background=False, steps=(30, 6), progress=False, resolution=7).wait()
    assert w.runs_info["strong"]["steps"][-1] == 36 and w.title == "" and w.status == "done"
    assert len(w.panels) == 2


def test_explore_refuses_bad_steps_at_once():
    with pytest.raises(ValueError, match="steps"):
        plw.explore("poisson1d", steps=-3)
    with pytest.raises(ValueError, match="warmup_steps"):
        plw.explore("poisson1d", warmup_steps=0)


def test_a_failing_background_training_is_shown_and_the_short_runs_stay(monkeypatch):
    real_train = explore_module.train

    def train(problem, formulation, **kw):
        if kw.get("optimizer") != "adam":  # the full run
            raise RuntimeError("out of memory (simulated)")
        return real_train(problem, formulation, **kw)

    monkeypatch.setattr(explore_module, "train", train)
    w = plw.explore("poisson1d", **OPTIONS).wait()
    assert w.status == "error" and "training in the background failed" in w.error and "simulated" in w.error
    assert w.runs_info["strong"]["steps"][-1] == 5
    assert np.isfinite(_grid(w, 0)).all()


def test_replace_run_checks_its_arguments():
    a = plw.train("poisson1d", "strong", optimizer="adam", steps=3, progress=False)
    w = plw.LandscapeWidget({"a": a}, resolution=5).wait()
    with pytest.raises(ValueError, match=r"label must be one of the widget's runs \['a'\], got 'b'"):
        w.replace_run("b", a)
    with pytest.raises(ValueError, match="needs a run"):
        w.replace_run("a", "not a run")
    heat = plw.train("heat1d", "strong", optimizer="adam", steps=3, progress=False)  # strong form only
    w2 = plw.LandscapeWidget({"a": a}, panels=[{"formulation": "deep_ritz"}], resolution=5).wait()
    with pytest.raises(ValueError, match=r"run must offer the losses its panels show \(\['deep_ritz'\]\)"):
        w2.replace_run("a", heat)
    assert w2._runs["a"] is a  # a refused run changes nothing


def test_a_display_while_training_shows_the_view_at_once_and_no_picture_of_the_short_runs(monkeypatch):
    view = "application/vnd.jupyter.widget-view+json"
    real_train = explore_module.train
    release = threading.Event()

    def train(problem, formulation, **kw):
        if kw.get("optimizer") != "adam":  # the full run waits until the test lets it go
            release.wait(60)
        return real_train(problem, formulation, **kw)

    monkeypatch.setattr(explore_module, "train", train)
    w = plw.explore("poisson1d", **OPTIONS)
    try:
        data, _ = w._repr_mimebundle_()  # the view at once: neither the grids nor a PNG of the short runs
        assert view in data and "image/png" not in data
        assert not w._background.done()
    finally:
        release.set()
    w.wait()
    data, _ = w._repr_mimebundle_()  # trained: the PNG for viewers without widgets, as any widget has it
    assert view in data and data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"
