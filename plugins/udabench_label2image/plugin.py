"""Registers ``label2image`` and its ``L_reg`` variant ``label2image-reg`` (one factory, two defaults), and
``label2image-seg``, the segmentation variant (a label-map-to-image generator)."""

from udabench.api import (SOURCE_PHASE, SOURCE_PHASE_HPARAMS, TASK_MODEL_HELP, TASK_MODEL_HPARAMS,
                          MethodSpec, Phase, hookimpl)

FACTORY = "udabench_label2image.method:Label2Image"

PHASES = (
    SOURCE_PHASE,
    Phase("gan", frozenset({"target"}), steps_param="gan_steps"),
    Phase("retrain", frozenset({"source", "target"})),
)

HPARAMS = {
    **TASK_MODEL_HPARAMS,
    **SOURCE_PHASE_HPARAMS,
    "gan_steps": 2000,
    "noise_dim": 100,
    "generator_width": 32,
    "discriminator_width": 32,
    "generator_lr": 2e-4,
    "discriminator_lr": 2e-4,
    "adam_beta1": 0.5,
    "semantic_weight": 1.0,
    "semantic_start": 0,
    "conditional_discriminator": True,
    "generated_weight": 1.0,
    "generated_batch_size": 0,
    "reg": False,
    "entropy_weight": 0.1,
    "vat_weight": 0.1,
    "vat_epsilon": 3.5,
    "vat_xi": 0.01,
    "target_statistics_steps": 100,
    "retrain_lr_mult": 0.1,
}

HELP = {
    **TASK_MODEL_HELP,
    "target_statistics_steps": "gan-phase steps at the start during which the fixed task model's batch-norm "
                               "statistics are re-estimated on target batches before G and D step, so G learns "
                               "classes from a labeller with target statistics (AdaBN, Li et al., ICLR 2017 "
                               "workshop; udabench's choice: 100; 0 keeps the source's)",
    "retrain_lr_mult": "the retrain phase fine-tunes the source-trained task model at lr times this, with the "
                       "shared schedule (udabench's choice: 0.1; 1 restarts at the source phase's rate, "
                       "which undid much of the source training on the digit tasks' lr 0.1)",
    "source_steps": "steps of the source phase (task model on labelled source with the SGD recipe above)",
    "gan_steps": "steps of the gan phase (conditional generator and discriminator against real target "
                 "images, task model fixed); the retrain phase runs --steps",
    "noise_dim": "length of the generator's Gaussian noise vector z (udabench's choice)",
    "generator_width": "channels of the generator's last hidden layer; earlier layers have 2x and 4x "
                       "(DCGAN-style; udabench's choice, half of DCGAN's 64 to keep CPU runs short)",
    "discriminator_width": "channels of the discriminator's first layer; the second has 2x (DCGAN-style; "
                           "udabench's choice, half of DCGAN's 64)",
    "generator_lr": "Adam learning rate of the generator in the gan phase (udabench's choice, the DCGAN recipe)",
    "discriminator_lr": "Adam learning rate of the discriminator in the gan phase (udabench's choice, the "
                        "DCGAN recipe)",
    "adam_beta1": "Adam beta1 of both gan-phase optimisers (udabench's choice, the DCGAN recipe)",
    "semantic_weight": "weight of the fixed task model's cross-entropy on G(y, z) for the sampled label y, "
                       "next to the generator's adversarial loss (udabench's choice)",
    "semantic_start": "gan step from which the semantic loss counts; before it G learns from D alone "
                      "(udabench's choice: 0)",
    "conditional_discriminator": "condition D on the class by a projection (Miyato and Koyama, ICLR 2018): "
                                 "real target images with the fixed task model's predicted class, generated "
                                 "ones with the class they were drawn for, so each class's images must look "
                                 "like the target images the task model puts in that class (udabench's "
                                 "choice: on; off: an unconditional D, which let G give a class any realistic "
                                 "image that fools the fixed task model, e.g. 7s for 1 on mnist-usps)",
    "generated_weight": "weight of the cross-entropy on generated (G(y, z), y) pairs in the retrain phase, "
                        "next to the source cross-entropy (udabench's choice)",
    "generated_batch_size": "generated pairs per retrain step; 0: as many as the source batch "
                            "(udabench's choice)",
    "reg": "add L_reg in the retrain phase, read by udabench as target entropy plus a VAT-style "
           "smoothness KL (the paper's exact form is not public)",
    "entropy_weight": "with reg: weight of the mean entropy of the task model's target predictions "
                      "(udabench's choice)",
    "vat_weight": "with reg: weight of the KL between target predictions and predictions on "
                  "adversarially perturbed target images (udabench's choice)",
    "vat_epsilon": "with reg: L2 norm of the adversarial perturbation per image, in normalised pixel units "
                   "(udabench's choice)",
    "vat_xi": "with reg: L2 norm of the random probe that finds the adversarial direction (one power "
              "iteration; udabench's choice: at 1e-6 float32 round-off blurs the direction)",
}


SEG_FACTORY = "udabench_label2image.segmentation:Label2ImageSeg"

SEG_PHASES = (
    SOURCE_PHASE,
    Phase("gan", frozenset({"source", "target"}), steps_param="gan_steps"),
    Phase("retrain", frozenset({"source", "target"})),
)

# The segmentation network has its own head: no bottleneck or dropout of the classification recipe.
_SEG_TASK_MODEL = {name: value for name, value in TASK_MODEL_HPARAMS.items()
                   if name not in ("bottleneck_dim", "bottleneck_bn", "dropout")}

SEG_HPARAMS = {
    **_SEG_TASK_MODEL,
    **SOURCE_PHASE_HPARAMS,
    "gan_steps": 2000,
    "noise_channels": 4,
    "generator_width": 16,
    "generator_blocks": 2,
    "generator_downsamplings": 2,
    "spade": True,
    "discriminator_width": 16,
    "discriminator_layers": 3,
    "generator_lr": 2e-4,
    "discriminator_lr": 2e-4,
    "adam_beta1": 0.5,
    "semantic_weight": 1.0,
    "generated_weight": 1.0,
    "reg": False,
    "entropy_weight": 0.1,
    "vat_weight": 0.1,
    "vat_epsilon": 3.5,
    "vat_xi": 0.01,
    # The segmentation recipe keeps its behaviour: its networks' batch norm and DeepLab's small
    # learning rate were not part of the digit findings behind the classification defaults.
    "target_statistics_steps": 0,
    "retrain_lr_mult": 1.0,
}

SEG_HELP = {
    **{name: text for name, text in TASK_MODEL_HELP.items() if name in _SEG_TASK_MODEL},
    "target_statistics_steps": "gan-phase steps at the start during which the fixed segmentation network's "
                               "batch-norm statistics are re-estimated on target batches before G and D step "
                               "(AdaBN, Li et al., ICLR 2017 workshop; 0, the default here, keeps the source's)",
    "retrain_lr_mult": "the retrain phase trains the source-trained network at lr times this (1: the "
                       "source phase's rate, DeepLab's small one)",
    "source_steps": "steps of the source phase (the segmentation network on labelled source with the SGD "
                    "recipe above)",
    "gan_steps": "steps of the gan phase (label-map-to-image generator on source label maps against real "
                 "target images, segmentation network fixed); the retrain phase runs --steps",
    "noise_channels": "channels of the per-pixel Gaussian noise map concatenated with the one-hot label map "
                      "at the generator's input (udabench's choice)",
    "generator_width": "channels of the generator's first layer, doubled at each downsampling (udabench's "
                       "choice, small for the CPU)",
    "generator_blocks": "residual blocks of the generator at its lowest resolution (udabench's choice)",
    "generator_downsamplings": "stride-2 convolutions of the generator's encoder, undone by nearest "
                               "upsampling and 3x3 convolutions in its decoder (udabench's choice)",
    "spade": "SPADE-style normalisation in the generator: instance norm modulated per pixel by the label "
             "map at every stem, residual and decoder layer (false: affine instance norm, the label map "
             "enters at the input only)",
    "discriminator_width": "channels of the PatchGAN discriminator's first layer (udabench's choice, small "
                           "for the CPU; pix2pix: 64)",
    "discriminator_layers": "stride-2 layers of the PatchGAN discriminator (fewer where the images are too "
                            "small for them)",
    "generator_lr": "Adam learning rate of the generator in the gan phase (the pix2pix/DCGAN recipe)",
    "discriminator_lr": "Adam learning rate of the discriminator in the gan phase (the pix2pix/DCGAN recipe)",
    "adam_beta1": "Adam beta1 of both gan-phase optimisers (the pix2pix/DCGAN recipe)",
    "semantic_weight": "weight of the fixed segmentation network's per-pixel cross-entropy on G(y, z) against "
                       "the label map y, next to the generator's LSGAN loss (udabench's choice)",
    "generated_weight": "weight of the per-pixel cross-entropy on generated (G(y, z), y) pairs in the retrain "
                        "phase, next to the source cross-entropy (udabench's choice)",
    "reg": "add L_reg in the retrain phase, read by udabench as per-pixel target entropy plus a VAT-style "
           "smoothness KL (the paper's exact form is not public)",
    "entropy_weight": "with reg: weight of the mean per-pixel entropy of the segmentation network's target "
                      "predictions (udabench's choice)",
    "vat_weight": "with reg: weight of the mean per-pixel KL between target predictions and predictions on "
                  "adversarially perturbed target images (udabench's choice)",
    "vat_epsilon": "with reg: L2 norm of the adversarial perturbation per image, in normalised pixel units "
                   "(udabench's choice)",
    "vat_xi": "with reg: L2 norm of the random probe that finds the adversarial direction (one power "
              "iteration; udabench's choice)",
}


def _spec(name: str, reg: bool, description: str) -> MethodSpec:
    return MethodSpec(name=name, factory=FACTORY, setting="uda", phases=PHASES,
                      hparams={**HPARAMS, "reg": reg}, hparam_help=HELP, description=description)


@hookimpl
def udabench_methods():
    return [
        _spec("label2image", False,
              "task model on source, a class-conditional GAN on target guided by the fixed task model, then "
              "the task model retrained on source plus generated image-label pairs (Li et al. 2020)"),
        _spec("label2image-reg", True,
              "Label2Image-DA with L_reg: the retrain phase adds target entropy and a VAT-style smoothness "
              "term (udabench's reading of L_reg; Li et al. 2020)"),
        MethodSpec(name="label2image-seg", factory=SEG_FACTORY, setting="uda", phases=SEG_PHASES,
                   hparams=dict(SEG_HPARAMS), hparam_help=dict(SEG_HELP), kinds=("segmentation",),
                   description="Label2Image-DA for segmentation: segmentation network on source, a "
                               "label-map-to-image GAN (SPADE-style) painting target-style images for source "
                               "label maps, then the network retrained on source plus generated pairs "
                               "(Li et al. 2020)"),
    ]
