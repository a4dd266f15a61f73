"""Adapters: a DeepXDE model or a PINA solver as a run, with the library's own loss terms.

    import os; os.environ["DDE_BACKEND"] = "pytorch"      # before importing deepxde
    import deepxde as dde
    rec = plw.adapters.DeepXDERecorder(every=10)
    model.compile("adam", lr=1e-3, loss_weights=[1, 10]); model.train(iterations=2000, callbacks=[rec])
    run = plw.adapters.from_deepxde(model, recorder=rec)

    rec = plw.adapters.PinaRecorder(every=10)
    Trainer(solver, max_epochs=1000, callbacks=[rec], logger=False).train()
    run = plw.adapters.from_pina(solver, recorder=rec)

    plw.landscape(run, plw.pca_directions(run)); plw.hessian_eigenpairs(run, 2)

Each adapter hands ``plw.from_model`` the library's own network, a loss function that evaluates the
library's own loss code with a module of that network's shape (so the terms, their weights and the training
points are the library's, by construction), the training points, the exact solution when the library has
one, and the coordinate names and box when it knows them. This package imports neither library: DeepXDE
and PINA are used only when one of these functions is called (extras ``pinn-landscape-widget[deepxde]`` and
``[pina]``).

The landscape of a library's loss is evaluated one parameter point at a time (the library's loss code
builds its own autograd graph), and Hessian-vector products by double backward; both libraries take
derivatives with respect to their inputs inside the loss, so it is never evaluated under
``torch.inference_mode()``. The exceptions are traced: a DeepXDE model whose network the engine knows (a
plain FNN) and whose pde reads derivatives through ``dde.grad`` (``_deepxde_traced``), and a PINA solver whose
model the engine knows and whose equations use PINA's operators (``pina_traced``). Their grids evaluate many
parameter points per pass; ``run.attrs["evaluation"]`` says which path a run takes.
"""

from __future__ import annotations

from .deepxde import from_deepxde
from .pina import from_pina


def __getattr__(name):
    # the callback classes subclass the library's callback base, so they exist once the library is imported
    if name == "DeepXDERecorder":
        from .deepxde import recorder_class

        return recorder_class()
    if name == "PinaRecorder":
        from .pina import recorder_class

        return recorder_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DeepXDERecorder", "PinaRecorder", "from_deepxde", "from_pina"]
