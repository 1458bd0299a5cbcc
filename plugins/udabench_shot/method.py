"""SHOT: train a source model, then adapt its feature extractor to the target with the head frozen.

Phase ``source`` (labelled source only, ``source_steps`` steps) trains the task model (the task's
backbone, the batch-normed bottleneck, a linear head) with label-smoothed cross-entropy and the
shared SGD recipe. Phase ``adapt`` (target images only, ``--steps`` steps) freezes the head (the
source *hypothesis*) and trains backbone plus bottleneck with

    im_weight * (mean per-sample entropy - entropy of the mean prediction)
    + beta * cross-entropy(logits, centroid pseudo-labels).

The first term, information maximisation, makes each prediction confident and the predictions
diverse across classes. The pseudo-labels come from class centroids in feature space: centroids
weighted by the predicted probabilities, each sample labelled with its nearest centroid by cosine
distance, then ``cluster_rounds`` rounds of ordinary k-means (centroids of the hard labels, then
relabelling). The adapt phase never sees a source image.

From the paper and its official code: the frozen head, the information-maximisation loss with
weight 1, label smoothing 0.1 in source training, weight normalisation of the head, the centroid
pseudo-labels with one hard round, a constant 1 appended to each feature before the cosine
distance, the pseudo-label weight ``beta`` (the official digit scripts use 0.1, its object-recognition
scripts 0.3), and SGD with momentum 0.9, weight decay 1e-3, Nesterov momentum and the
(1 + 10 p)^-0.75 schedule in both phases (the shared recipe), restarted for the adapt phase.

udabench's choices:

- the network is the task's backbone plus udabench's bottleneck (linear, batch norm, ReLU,
  dropout); the official one has no ReLU in its bottleneck;
- ``source_steps`` defaults to 3000, the default ``--steps`` of ``source-only`` (the official code
  trains for 30 epochs and keeps the checkpoint with the best source test accuracy, which needs
  labelled source test data that a method never sees here);
- centroids: the official code labels the whole target training set once per epoch. A method here
  sees one batch at a time, so every step labels the current batch against centroids estimated
  from a memory of the last ``memory_size`` target features and predictions (the current batch
  included). As in the official code, the features and predictions used for labelling come from a
  pass in eval mode, without gradient; the memory holds those of earlier steps as they were then;
- a class with no member after a hard round gets no centroid, so no sample is labelled with it.
"""

import torch
import torch.nn.functional as F

from udabench.api import Method, freeze, mean_entropy, schedule_lr, sgd, task_model


def information_maximisation(logits: torch.Tensor, epsilon: float = 1e-5):
    """``(loss, entropy, diversity)``: mean per-sample entropy, entropy of the mean prediction, their difference.

    Low loss means confident predictions (low entropy) spread over the classes (high diversity).
    ``epsilon`` guards the logarithm of the mean prediction, as in the official code.
    """
    entropy = mean_entropy(logits)
    mean = F.log_softmax(logits, dim=1).exp().mean(dim=0)
    diversity = -(mean * torch.log(mean + epsilon)).sum()
    return entropy - diversity, entropy, diversity


def centroid_pseudo_labels(features: torch.Tensor, probabilities: torch.Tensor, rounds: int = 1) -> torch.Tensor:
    """Labels from SHOT's weighted k-means with cosine distance, one per row of ``features``.

    The first centroids are the means of the features weighted by each class's predicted
    probability; every sample takes the label of its nearest centroid; then ``rounds`` times, the
    centroids become the means of each label's members and the samples are labelled again.
    """
    num_classes = probabilities.shape[1]
    features = torch.cat([features, features.new_ones(features.shape[0], 1)], dim=1)
    features = F.normalize(features, dim=1)
    weights = probabilities
    for _ in range(rounds + 1):
        mass = weights.sum(dim=0)
        centroids = weights.t() @ features / (mass[:, None] + 1e-8)
        similarity = features @ F.normalize(centroids, dim=1).t()
        similarity = similarity.masked_fill(mass[None, :] <= 0, float("-inf"))
        labels = similarity.argmax(dim=1)
        weights = F.one_hot(labels, num_classes).to(features.dtype)
    return labels


class SHOT(Method):
    def __init__(self, context):
        super().__init__(context)
        hp = self.hparams
        self.model = task_model(context, hp)
        if hp["head_weight_norm"]:
            self.model.head = torch.nn.utils.parametrizations.weight_norm(self.model.head)
        self.memory_features = None
        self.memory_probabilities = None

    def load_source_weights(self, state):
        """Also accept a plain linear head (source-only, DANN runs): split it into norm and direction."""
        state = dict(state)
        if self.hparams["head_weight_norm"] and "model.head.weight" in state:
            weight = state.pop("model.head.weight")
            state["model.head.parametrizations.weight.original0"] = weight.norm(dim=1, keepdim=True)
            state["model.head.parametrizations.weight.original1"] = weight
        super().load_source_weights(state)

    def begin_source(self):
        self.optimizer = sgd(self.model.parameters(), self.hparams)

    def update_source(self, batch):
        logits = self.model(batch.source_x)
        loss = F.cross_entropy(logits, batch.source_y, label_smoothing=self.hparams["label_smoothing"])
        return self._step(loss, {"class_loss": loss.detach()})

    def begin_adapt(self):
        freeze(self.model.head)
        extractor = list(self.model.backbone.parameters()) + list(self.model.bottleneck.parameters())
        self.optimizer = sgd(extractor, self.hparams)
        self.memory_features = self.memory_probabilities = None

    def update_adapt(self, batch):
        return self._step(*self._adaptation_loss(batch.target_x))

    def _step(self, loss, logs):
        """One SGD step on ``loss`` at the scheduled learning rate; returns ``logs``."""
        schedule_lr(self.optimizer, self.hparams, self.progress)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return logs

    def pseudo_labels(self, x: torch.Tensor) -> torch.Tensor:
        """Centroid labels of ``x`` (eval-mode features, no gradient); adds ``x``'s features to the memory."""
        with torch.no_grad():
            was_training = self.model.training
            self.model.eval()
            features = self.model.features(x)
            probabilities = self.model.head(features).softmax(dim=1)
            self.model.train(was_training)
            if self.memory_features is not None:
                features = torch.cat([self.memory_features, features])
                probabilities = torch.cat([self.memory_probabilities, probabilities])
            labels = centroid_pseudo_labels(features, probabilities, self.hparams["cluster_rounds"])
            keep = self.hparams["memory_size"]
            if keep > 0:
                self.memory_features, self.memory_probabilities = features[-keep:], probabilities[-keep:]
        return labels[-x.shape[0]:]

    def _adaptation_loss(self, x):
        hp = self.hparams
        labels = self.pseudo_labels(x) if hp["beta"] > 0 else None
        logits = self.model(x)
        im_loss, entropy, diversity = information_maximisation(logits)
        loss = hp["im_weight"] * im_loss
        logs = {"entropy": entropy.detach(), "diversity": diversity.detach()}
        if labels is not None:
            pseudo_label_loss = F.cross_entropy(logits, labels)
            loss = loss + hp["beta"] * pseudo_label_loss
            logs["pseudo_label_loss"] = pseudo_label_loss.detach()
            logs["pseudo_label_agreement"] = (logits.argmax(dim=1) == labels).float().mean().detach()
        logs["loss"] = loss.detach()
        return loss, logs

    def predict(self, x):
        return self.model(x)
