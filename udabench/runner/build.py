"""Building a run's method: the backbone factory and its weights, the method class and its context."""

from __future__ import annotations

from udabench import weights as weights_module
from udabench.errors import UdabenchError
from udabench.runner.request import PreparedRun
from udabench.specs import load_object, takes_keyword


def build_method(prepared: PreparedRun, device, num_classes: int):
    import torch

    task = prepared.task
    backbone_factory = load_object(prepared.backbone.factory)
    backbone_kwargs = {}
    if prepared.backbone.name.endswith(":"):
        backbone_kwargs["model"] = prepared.backbone_name.split(":", 1)[1]
    weights = prepared.hparams.get("weights", weights_module.NONE)
    if not isinstance(weights, str):  # a method's own hyperparameter of that name, not the backbone's
        weights = weights_module.NONE
    load_file = None
    if takes_keyword(backbone_factory, "weights") and "weights" in prepared.hparams:
        backbone_kwargs["weights"] = weights  # the factory loads them itself
    elif weights_module.kind(weights) == weights_module.PRETRAINED:
        raise UdabenchError(
            f"backbone '{prepared.backbone_name}' has no published weights to load (weights={weights}); "
            "use --set weights=none or --set weights=PATH (a state dict of this backbone)"
        )
    elif weights_module.kind(weights) == "file":
        load_file = weights

    from udabench.method import Method, MethodContext
    from udabench.nets import mark_backbone

    if task.kind == "segmentation":
        if not takes_keyword(backbone_factory, "num_classes"):
            raise UdabenchError(f"backbone '{prepared.backbone_name}' is a feature extractor; segmentation task "
                                f"'{task.name}' needs a segmentation network (e.g. fcn8s-vgg16, deeplabv2)")
        backbone_kwargs["num_classes"] = num_classes

    def make_backbone():
        module = backbone_factory(task.channels, task.resolution, **backbone_kwargs)
        if load_file is not None:
            weights_module.load_into(module, load_file, f"backbone '{prepared.backbone_name}'")
        return mark_backbone(module)

    try:
        method_class = load_object(prepared.method.factory)
    except Exception as exc:
        raise UdabenchError(
            f"method '{prepared.method.name}' cannot be imported from {prepared.method.factory}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not (isinstance(method_class, type) and issubclass(method_class, Method)):
        raise UdabenchError(f"method '{prepared.method.name}': {prepared.method.factory} is not a udabench Method")
    if method_class.update is Method.update:  # phases written as update_<phase>, as the contract asks
        missing = [phase.name for phase in prepared.method.phases
                   if not callable(getattr(method_class, f"update_{phase.name}", None))]
        if missing:
            raise UdabenchError(
                f"method '{prepared.method.name}' declares phase '{missing[0]}' but {method_class.__name__} defines "
                f"no update_{missing[0]}(self, batch): write one step of that phase there")
    context = MethodContext(num_classes, task.channels, task.resolution, dict(prepared.hparams),
                            dict(prepared.config["phase_steps"]), make_backbone, torch.device(device),
                            mean=tuple(task.mean), std=tuple(task.std), kind=task.kind)
    try:
        method = method_class(context)
    except TypeError as exc:  # e.g. a subclass that leaves an abstract call unimplemented
        raise UdabenchError(f"method '{prepared.method.name}' cannot be built: {exc}") from None
    return method.to(device)
