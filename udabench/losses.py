"""Losses that methods share: cross-entropy with ignored pixels, the gradient-reversal layer and the
domain-adversarial loss built on it, entropy, and virtual adversarial training (VAT)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from udabench.modes import probing
from udabench.specs import IGNORE_LABEL


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coefficient):
        ctx.coefficient = coefficient
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.coefficient * grad_output, None


def reverse_gradient(x: torch.Tensor, coefficient: float) -> torch.Tensor:
    """Identity forward; multiplies the gradient by ``-coefficient`` backward (DANN's GRL)."""
    return _ReverseGradient.apply(x, coefficient)


def grl_coefficient(progress: float, gamma: float = 10.0) -> float:
    """DANN's adaptation factor 2 / (1 + exp(-gamma p)) - 1, rising from 0 to 1 over training."""
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


def domain_adversarial_loss(discriminator: nn.Module, features: torch.Tensor, n_source: int,
                            coefficient) -> tuple[torch.Tensor, torch.Tensor]:
    """DANN's domain loss and the discriminator's accuracy (Ganin & Lempitsky, ICML 2015).

    ``features`` holds the source rows first (``n_source`` of them), then the target rows. They reach
    ``discriminator`` through the gradient-reversal layer (``coefficient``, a float or a 0-dim tensor),
    which labels source 1 and target 0 with a binary cross-entropy: one backward pass trains the
    discriminator to tell the domains apart and the features, reversed, to confuse it. The
    discriminator gives one logit per row (an ``(N, 1)`` output is read as ``(N,)``) or a map of
    logits per row (a patch discriminator on segmentation outputs).
    """
    logits = discriminator(reverse_gradient(features, coefficient))
    if logits.dim() == 2 and logits.shape[1] == 1:
        logits = logits.squeeze(1)
    labels = torch.zeros_like(logits)
    labels[:n_source] = 1.0
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    accuracy = ((logits > 0).float() == labels).float().mean()
    return loss, accuracy


def task_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of class logits, ``(N, K)`` against ``(N,)`` or ``(N, K, H, W)`` against label maps
    ``(N, H, W)``; pixels labelled ``IGNORE_LABEL`` count for nothing."""
    return F.cross_entropy(logits, labels, ignore_index=IGNORE_LABEL)


def mean_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean Shannon entropy (nats) of the softmax of each row of ``logits``."""
    log_probabilities = F.log_softmax(logits, dim=1)
    return -(log_probabilities.exp() * log_probabilities).sum(dim=1).mean()


def kl_from_logits(clean_logits: torch.Tensor, perturbed_logits: torch.Tensor) -> torch.Tensor:
    """Mean over rows of KL(softmax(clean) || softmax(perturbed))."""
    log_p = F.log_softmax(clean_logits, dim=1)
    log_q = F.log_softmax(perturbed_logits, dim=1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=1).mean()


def unit_per_sample(direction: torch.Tensor) -> torch.Tensor:
    """Each sample of ``direction`` scaled to Euclidean norm 1 over all its elements (zero stays zero)."""
    flat = direction.flatten(1)
    flat = flat / (flat.abs().amax(dim=1, keepdim=True) + 1e-12)  # keeps the squares away from underflow
    flat = flat / (flat.norm(dim=1, keepdim=True) + 1e-12)
    return flat.view_as(direction)


def virtual_adversarial_perturbation(logits_of, x: torch.Tensor, clean_logits: torch.Tensor, xi: float,
                                     epsilon: float) -> torch.Tensor:
    """VAT's r: one power-iteration step from a random probe of norm ``xi``, rescaled to norm ``epsilon``.

    ``logits_of(x)`` gives the classifier's logits; ``clean_logits`` are its (constant) logits on
    ``x``. The result is detached and has norm ``epsilon`` per sample; a sample whose gradient
    vanishes keeps its random direction.
    """
    random_direction = unit_per_sample(torch.randn_like(x))
    probe = (xi * random_direction).requires_grad_(True)
    divergence = kl_from_logits(clean_logits.detach(), logits_of(x.detach() + probe))
    gradient, = torch.autograd.grad(divergence, probe)
    direction = unit_per_sample(gradient.detach())
    vanished = gradient.flatten(1).abs().amax(dim=1) == 0
    if vanished.any():
        direction = torch.where(vanished.view(-1, *[1] * (x.dim() - 1)), random_direction, direction)
    return epsilon * direction


def vat_loss(model: nn.Module, x: torch.Tensor, *, xi: float, epsilon: float,
             clean_logits: torch.Tensor | None = None) -> torch.Tensor:
    """KL(model(x) || model(x + r)), r of norm ``epsilon`` per sample in the most sensitive direction.

    r comes from :func:`virtual_adversarial_perturbation`. The clean prediction is a constant:
    ``clean_logits`` when given (e.g. from a training pass that already ran), else ``model(x)``
    without gradient. Inside, dropout is off and batch norm leaves its running statistics as they
    were (:func:`probing`); parameters get gradient only from the returned loss.
    """
    with probing(model):
        if clean_logits is None:
            with torch.no_grad():
                clean_logits = model(x)
        clean = clean_logits.detach()
        perturbation = virtual_adversarial_perturbation(model, x, clean, xi, epsilon)
        return kl_from_logits(clean, model(x + perturbation))
