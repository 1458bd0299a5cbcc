"""Registers ``label2image`` and its ``L_reg`` variant ``label2image-reg`` (one factory, two defaults), and
``label2image-seg``, the segmentation variant (a label-map-to-image generator)."""

from dataclasses import replace

from udabench.api import SOURCE_PHASE, SOURCE_PHASE_HPARAMS, TASK_MODEL_HPARAMS, HParam, MethodSpec, Phase, hookimpl

FACTORY = "udabench_label2image.method:Label2Image"
ADABN = "AdaBN, Li et al., ICLR 2017 workshop"
# Both variants' gan-phase Adam settings.
GAN_OPTIMISERS = {
    "generator_lr": HParam(2e-4, "Adam learning rate of the generator in the gan phase (the DCGAN and pix2pix "
                                 "recipe)"),
    "discriminator_lr": HParam(2e-4, "Adam learning rate of the discriminator in the gan phase (the DCGAN and "
                                     "pix2pix recipe)"),
    "adam_beta1": HParam(0.5, "Adam beta1 of both gan-phase optimisers (the DCGAN and pix2pix recipe)", below=1),
}
# The knobs of L_reg, udabench's reading of it (see ``reg``).
REG = "with reg (udabench's choice): "
# Both variants' VAT perturbation.
VAT = {
    "vat_epsilon": HParam(3.5, f"{REG}L2 norm of the adversarial perturbation per image, in normalised pixel "
                               "units"),
    "vat_xi": HParam(0.01, f"{REG}L2 norm of the random probe that finds the adversarial direction (one power "
                           "iteration)"),
}

PHASES = (
    SOURCE_PHASE,
    Phase("gan", frozenset({"target"}), steps_param="gan_steps"),
    Phase("retrain", frozenset({"source", "target"})),
)

HPARAMS = {
    **TASK_MODEL_HPARAMS,
    **SOURCE_PHASE_HPARAMS,
    "gan_steps": HParam(2000, "steps of the gan phase, generator and discriminator against real target images "
                              "with the task model fixed (udabench's choice); the retrain phase runs --steps"),
    "noise_dim": HParam(100, "length of the generator's Gaussian noise vector z (udabench's choice)", positive=True),
    "generator_width": HParam(32, "channels of the generator's last hidden layer, earlier ones 2x and 4x "
                                  "(udabench's choice: half of DCGAN's 64, for the CPU)", positive=True),
    "discriminator_width": HParam(32, "channels of the discriminator's first layer, the second 2x (udabench's "
                                      "choice: half of DCGAN's 64)", positive=True),
    **GAN_OPTIMISERS,
    "semantic_weight": HParam(1.0, "weight of the fixed task model's cross-entropy on G(y, z) for the sampled "
                                   "label y, next to the adversarial loss (udabench's choice)"),
    "semantic_start": HParam(0, "gan step from which the semantic loss counts; before it G learns from D alone "
                                "(udabench's choice)"),
    "conditional_discriminator": HParam(True, "condition D on the class by a projection (Miyato & Koyama, ICLR "
                                              "2018): target images with the fixed task model's class, generated "
                                              "ones with their sampled class (udabench's choice; off: an "
                                              "unconditional D)"),
    "generated_weight": HParam(1.0, "weight of the cross-entropy on generated (G(y, z), y) pairs in the retrain "
                                    "phase, next to the source cross-entropy (udabench's choice)"),
    "generated_batch_size": HParam(0, "generated pairs per retrain step; 0: as many as the source batch "
                                      "(udabench's choice)"),
    "reg": HParam(False, "add L_reg in the retrain phase, read by udabench as target entropy plus a VAT-style "
                         "smoothness KL (the paper's exact form is not public)"),
    "entropy_weight": HParam(0.1, f"{REG}weight of the mean entropy of the task model's target predictions"),
    "vat_weight": HParam(0.1, f"{REG}weight of the KL between target predictions and predictions on "
                              "adversarially perturbed target images"),
    **VAT,
    "target_statistics_steps": HParam(100, "gan steps at the start during which the fixed task model's batch-norm "
                                           f"statistics are re-estimated on target batches ({ADABN}; udabench's "
                                           "choice; 0 keeps the source's)"),
    "retrain_lr_mult": HParam(0.1, "the retrain phase fine-tunes the source-trained task model at lr times this "
                                   "(udabench's choice; 1: the source phase's rate)"),
}


SEG_FACTORY = "udabench_label2image.segmentation:Label2ImageSeg"

SEG_PHASES = (
    SOURCE_PHASE,
    Phase("gan", frozenset({"source", "target"}), steps_param="gan_steps"),
    Phase("retrain", frozenset({"source", "target"})),
)

# The segmentation network has its own head: no bottleneck or dropout of the classification recipe.
_SEG_TASK_MODEL = {name: hparam for name, hparam in TASK_MODEL_HPARAMS.items()
                   if name not in ("bottleneck_dim", "bottleneck_bn", "dropout")}

SEG_HPARAMS = {
    **_SEG_TASK_MODEL,
    **SOURCE_PHASE_HPARAMS,
    "gan_steps": HParam(2000, "steps of the gan phase, label-map-to-image generator on source label maps against "
                              "real target images, network fixed (udabench's choice); the retrain phase runs "
                              "--steps"),
    "noise_channels": HParam(4, "channels of the per-pixel Gaussian noise map next to the one-hot label map at "
                                "the generator's input (udabench's choice)"),
    "generator_width": HParam(16, "channels of the generator's first layer, doubled at each downsampling "
                                  "(udabench's choice, small for the CPU)", positive=True),
    "generator_blocks": HParam(2, "residual blocks of the generator at its lowest resolution (udabench's choice)"),
    "generator_downsamplings": HParam(2, "stride-2 convolutions of the generator's encoder, undone by nearest "
                                         "upsampling and 3x3 convolutions (udabench's choice)"),
    "spade": HParam(True, "SPADE-style normalisation in the generator, instance norm modulated per pixel by the "
                          "label map (Park et al., CVPR 2019; false: the label map enters at the input only)"),
    "discriminator_width": HParam(16, "channels of the PatchGAN discriminator's first layer (udabench's choice, "
                                      "small for the CPU; pix2pix: 64)", positive=True),
    "discriminator_layers": HParam(3, "stride-2 layers of the PatchGAN discriminator (pix2pix: 3; fewer where "
                                      "the images are too small for them)"),
    **GAN_OPTIMISERS,
    "semantic_weight": HParam(1.0, "weight of the fixed network's per-pixel cross-entropy on G(y, z) against the "
                                   "label map y, next to the LSGAN loss (udabench's choice)"),
    "generated_weight": HParam(1.0, "weight of the per-pixel cross-entropy on generated (G(y, z), y) pairs in the "
                                    "retrain phase (udabench's choice)"),
    "reg": HParam(False, "add L_reg in the retrain phase, read by udabench as per-pixel target entropy plus a "
                         "VAT-style smoothness KL (the paper's exact form is not public)"),
    "entropy_weight": HParam(0.1, f"{REG}weight of the mean per-pixel entropy of the target predictions"),
    "vat_weight": HParam(0.1, f"{REG}weight of the mean per-pixel KL between target predictions and predictions "
                              "on adversarially perturbed target images"),
    **VAT,
    # The segmentation recipe keeps its behaviour: its networks' batch norm and DeepLab's small
    # learning rate were not part of the digit findings behind the classification defaults.
    "target_statistics_steps": HParam(0, "gan steps at the start during which the fixed network's batch-norm "
                                         f"statistics are re-estimated on target batches ({ADABN}; 0 keeps the "
                                         "source's)"),
    "retrain_lr_mult": HParam(1.0, "the retrain phase trains the source-trained network at lr times this "
                                   "(udabench's choice: 1, the source phase's rate, DeepLab's small one)"),
}


def _spec(name: str, reg: bool, description: str) -> MethodSpec:
    return MethodSpec(name=name, factory=FACTORY, setting="uda", phases=PHASES,
                      hparams={**HPARAMS, "reg": replace(HPARAMS["reg"], default=reg)},
                      description=description)


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
                   hparams=dict(SEG_HPARAMS), kinds=("segmentation",),
                   description="Label2Image-DA for segmentation: segmentation network on source, a "
                               "label-map-to-image GAN (SPADE-style) painting target-style images for source "
                               "label maps, then the network retrained on source plus generated pairs "
                               "(Li et al. 2020)"),
    ]
