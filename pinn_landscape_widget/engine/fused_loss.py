"""Training's loss and its parameter gradient in one pass on the engine's jets, without autograd through
the network.

The network's output jets at each point set come from the forward jet recursion, the loss from the
objective's own code (``Objective.loss_terms``) on those jets as leaves of a small autograd graph, which
gives the adjoints g = dl/dY, and the gradient J^T g from one backward pass through the recursion by hand
(``jet_adjoint``). For a tanh MLP in float32 on a CPU both passes run in C and keep their arrays between
steps, one call each per point set: for one output with value/gradient/Laplacian jets on the passes the
Hessian's R-operator shares (``JetPasses``), for any other outputs and derivative sets on the training
passes (``NativeJets``); any other of our MLPs, dtypes and devices runs the same passes in torch
(``GeneralJets``). A network that is not our MLP (a user's module the engine does not recognise)
has no jet recursion to run backwards: ``fused_reason`` says so, and training takes autograd's gradient.
"""

from __future__ import annotations

import torch

from ..pde.derivatives import Jet
from ._workspace import Workspace
from .jet_adjoint import GeneralJets, JetPasses, NativeJets, applies, native_applies, native_general_applies
from .mlp import MLP
from .objective import Objective, PointSet, total


def fused_reason(objective: Objective) -> str | None:
    """Why this objective's loss gradient cannot run fused, in one line; None when it can.

    Parameters
    ----------
    objective : Objective
        The loss (problem x network x formulation).

    Returns
    -------
    str or None
        The reason, or None: ``FusedLoss`` applies.
    """
    net = objective.net
    if not isinstance(net, MLP):
        return (
            f"the network ({net.description}) is not a plain MLP the engine recognises, so it has no jet "
            "recursion to run backwards"
        )
    return None


class FusedLoss:
    """The loss terms and the gradient of the loss at the parameters now in ``theta``, one pass each call.

    theta: the flat parameter vector [P] the optimiser updates in place (the objective's device and dtype,
    contiguous); the passes in C read the weights from its storage, so it must stay the same tensor.
    threads: for the passes in C (default: torch's thread count when this is made). Check ``fused_reason``
    first.
    """

    def __init__(self, objective: Objective, theta: torch.Tensor, threads: int | None = None):
        reason = fused_reason(objective)
        if reason is not None:
            raise ValueError(f"FusedLoss: {reason}")
        if not theta.is_contiguous() or theta.dtype != objective.dtype or theta.device != objective.device:
            raise ValueError(
                f"FusedLoss: theta must be a contiguous {objective.dtype} tensor on {objective.device}, "
                f"got {theta.dtype} on {theta.device}"
            )
        self.objective, self.theta = objective, theta.detach()
        self.native = native_applies(objective)  # JetPasses in C, made once
        self.native_general = not self.native and native_general_applies(objective)  # NativeJets, made once
        self.classic = applies(objective)  # JetPasses in torch, made each step
        self.method = "C" if self.native or self.native_general else "torch"
        self._threads = threads or torch.get_num_threads()
        self._sets: dict[int, JetPasses | NativeJets] = {}
        # owned by this object: the C passes' arrays live here for every step
        self._ws = Workspace(objective.device, objective.dtype, owner=self)

    @property
    def threads(self) -> int:
        """Threads of the passes in C; set it between calls (training follows the idle cores)."""
        return self._threads

    @threads.setter
    def threads(self, n: int) -> None:
        self._threads = max(1, int(n))
        for passes in self._sets.values():
            passes.threads = self._threads

    def _passes(self, ps: PointSet, once: bool = True) -> JetPasses | NativeJets | GeneralJets:
        """The passes at one point set; once: a single backward pass will follow (JetPasses in torch drops
        its forward factors after one)."""
        net = self.objective.net
        assert isinstance(net, MLP)  # fused_reason
        if self.native or self.native_general:
            key = id(ps)
            if key not in self._sets:
                self._sets[key] = (
                    JetPasses(net, self.theta, ps.x, ps.spec.order, self._ws, self._threads)
                    if self.native
                    else NativeJets(net, self.theta, ps.x, ps.spec, self._ws, self._threads)
                )
            else:
                self._sets[key].rerun_forward()
            return self._sets[key]
        if self.classic and once:
            return JetPasses(net, self.theta, ps.x, ps.spec.order, Workspace(ps.x.device, ps.x.dtype))
        return GeneralJets(net, self.theta, ps.x, ps.spec)

    def __call__(self) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """(terms, loss, gradient): each loss term and the loss as 0-d tensors, and dL/dtheta [P]."""
        terms, loss, grads = self._passes_for(None)
        return terms, loss, grads[None]

    def term_gradients(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(terms, gradients): each loss term as a 0-d tensor and its own gradient dL_term/dtheta [P], from one
        forward pass and a backward pass per term (a term that does not read a point set skips it)."""
        terms, _, grads = self._passes_for(list(self.objective.term_names))
        return terms, grads

    def _passes_for(self, names: list[str] | None):
        """The passes, and the gradient of the loss (names None: under the key None) or of each named term."""
        passes: list[JetPasses | NativeJets | GeneralJets] = []
        leaves: list[torch.Tensor] = []

        def network(ps: PointSet) -> Jet:
            p = self._passes(ps, once=names is None or len(names) == 1)
            # a copy: the passes rewrite their output array at the next step
            leaf = p.Y.detach().clone().requires_grad_(True)
            passes.append(p)
            leaves.append(leaf)
            if leaf.dim() == 2:  # JetPasses: one output [C, n]
                return Jet(ps.spec, [[leaf[c][None] for c in range(leaf.shape[0])]])
            return Jet(ps.spec, [[leaf[k, c][None] for c in range(leaf.shape[1])] for k in range(leaf.shape[0])])

        with torch.enable_grad():
            terms, _ = self.objective.loss_terms(network)
            loss = total(terms.values())[0]
            wanted = {None: loss} if names is None else {t: terms[t][0] for t in names}
            adjoints = {
                t: torch.autograd.grad(v, leaves, allow_unused=True, retain_graph=i < len(wanted) - 1)
                for i, (t, v) in enumerate(wanted.items())
            }
        grads = {}
        for t, adj in adjoints.items():
            grad = grads[t] = torch.zeros_like(self.theta)
            for p, g in zip(passes, adj):
                if g is None:  # the loss (term) does not read this set
                    continue
                g = g.contiguous()
                if isinstance(p, JetPasses):
                    p.backward(g, grad)
                else:
                    p.add_gradient(g, grad)
        return {k: v.detach()[0] for k, v in terms.items()}, loss.detach(), grads
