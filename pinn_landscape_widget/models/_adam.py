"""Adam on the one flat parameter tensor that training optimises, without ``torch.optim``.

``torch.optim``'s first optimiser in a process imports ``torch._dynamo`` (1.3-2.7 s on 2 cores, once), which
sits between a fresh kernel's first ``plw.train`` or ``plw.explore`` and its first picture. The update is
``torch.optim.Adam``'s with its defaults (betas (0.9, 0.999), eps 1e-8, no weight decay, no amsgrad), op for
op as its single-tensor path computes it.
"""

from __future__ import annotations

import torch


class FlatAdam:
    """Adam for one leaf tensor ``theta`` with learning rate ``lr``: ``step()`` reads ``theta.grad``."""

    def __init__(self, theta: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.theta, self.lr, self.betas, self.eps = theta, float(lr), betas, eps
        self.exp_avg = torch.zeros_like(theta, memory_format=torch.preserve_format)
        self.exp_avg_sq = torch.zeros_like(theta, memory_format=torch.preserve_format)
        self.steps = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.theta.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of ``theta`` in place (none without a gradient, as torch.optim)."""
        grad = self.theta.grad
        if grad is None:
            return
        beta1, beta2 = self.betas
        self.steps += 1
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1**self.steps
        bias_correction2 = 1 - beta2**self.steps
        denom = (self.exp_avg_sq.sqrt() / bias_correction2**0.5).add_(self.eps)
        self.theta.addcdiv_(self.exp_avg, denom, value=-self.lr / bias_correction1)
