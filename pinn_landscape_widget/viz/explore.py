"""``plw.explore``: the classroom one-liner, with a first picture in seconds.

Training every loss of a problem takes several seconds; a class should not stare at an empty cell meanwhile.
So ``explore`` first trains each loss for a few Adam steps (``WARMUP_STEPS``, well under a second), shows the
widget over those short runs at once, and trains the real runs in a background thread, started once the
first picture is computed so the two do not share the CPU while it matters. Each real run replaces its short
one in the widget as it finishes (``LandscapeWidget.replace_run``); the final landscapes are those of
``train(problem, loss, steps=steps)``, exactly as without the background.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

from .._checks import check_int
from ..models.training import _split_steps, train
from ..pde.formulations import supported_formulations
from ..pde.library import get_problem
from ._cluster import check_client
from .widget import LandscapeWidget

WARMUP_STEPS = 30  # Adam steps of the short runs: with the first-use imports they set the first picture


def explore(
    problem="poisson1d",
    *,
    steps=1000,
    background: bool = True,
    warmup_steps: int = WARMUP_STEPS,
    progress: bool | None = None,
    **widget_kwargs,
) -> LandscapeWidget:
    """The classroom one-liner: train every loss the problem supports and return the widget comparing them.

    ``explore("poisson1d")`` trains the strong form and Deep Ritz (``plw.train`` with its defaults) and shows
    their landscapes side by side, one panel per run. By default the widget comes back at once: it first
    shows short runs of ``warmup_steps`` Adam steps (the title says so) while the full runs train in the
    background, and each full run replaces its short one when it is done. ``w.wait()`` blocks until the
    training and the final landscapes are done; ``precompute`` and ``to_html`` wait for the training too,
    so saved pages show the trained runs.

    Parameters
    ----------
    problem : str or Problem, default "poisson1d"
        A built-in problem's name (``plw.list_problems()``) or a Problem (``plw.define_problem``).
    steps : int or tuple of int, default 1000
        Optimizer steps of each training run (``plw.train(steps=)``).
    background : bool, default True
        Train in the background and show short runs first. False: train first, then return the widget.
    warmup_steps : int, default 30
        Adam steps of the short runs shown while the full runs train, an integer in [1, 10000].
    progress : bool, optional
        Training progress bars when ``background`` is False. Default None: bars in a notebook or on a
        terminal, none in a script. The background training reports in the widget's title instead.
    **widget_kwargs
        Passed to ``LandscapeWidget`` (``resolution=``, ``zoom=``, ``direction_kind=``, ``title=``, ...).
        ``client=`` (a dask ``distributed.Client``) computes every landscape on that cluster, tile by tile,
        while the training stays in this process (see ``LandscapeWidget``).

    Returns
    -------
    LandscapeWidget
        The widget over the runs, labelled by their loss; it starts computing at once. A failure of the
        background training is shown in the widget (``status`` "error", ``error`` says why); the short runs
        stay on screen. Displayed while the runs train, it shows the live view at once, without the PNG
        other widgets carry for viewers that cannot run it (that would be a picture of the short runs); a
        display after ``w.wait()`` or ``w.precompute()`` carries the trained runs' PNG.

    Raises
    ------
    ValueError
        If ``problem`` is not a known problem, or a training or widget argument is not allowed.
    TypeError
        If ``client`` is given and is not a dask ``distributed.Client`` (checked before any training).
    """
    check_client(widget_kwargs.get("client"))  # before training: a bad client is refused at once
    prob = get_problem(problem)
    forms = supported_formulations(prob)
    if not background:
        runs = {f: train(prob, f, steps=steps, progress=progress) for f in forms}
        return LandscapeWidget(runs, **widget_kwargs)
    _split_steps("adam+lbfgs", steps)  # a bad value is refused now, not in the background
    warmup_steps = check_int("warmup_steps", warmup_steps, 1, 10_000)
    short = {f: train(prob, f, optimizer="adam", steps=warmup_steps, progress=False) for f in forms}
    w = LandscapeWidget(short, **widget_kwargs)
    title = w.title

    def note(text: str) -> None:
        w.title = f"{title} · {text}" if title else text

    note(f"showing {warmup_steps}-step runs; training {steps} steps in the background")
    done: Future = Future()

    def work():
        try:
            if w.last_future is not None:
                w.last_future.result()  # the first picture first: then training takes the CPU
            for k, form in enumerate(forms):
                note(f"training {form} ({k + 1} of {len(forms)}) in the background")
                w.replace_run(form, train(prob, form, steps=steps, progress=False))
            w.title = title
            done.set_result(None)
        except Exception as exc:  # noqa: BLE001 - shown in the widget, which keeps the short runs
            w.error = f"training in the background failed: {type(exc).__name__}: {exc}"
            w.status = "error"
            done.set_exception(exc)

    w._background = done
    threading.Thread(target=work, name="plw-explore-training", daemon=True).start()
    return w
