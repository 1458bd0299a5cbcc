"""Registers the ``3cgan`` method."""

from udabench.api import SOURCE_PHASE, SOURCE_PHASE_HPARAMS, TASK_MODEL_HPARAMS, HParam, MethodSpec, Phase, hookimpl

# Values the method's notes attribute to the paper (Li et al., CVPR 2020) but its text does not confirm.
ATTRIBUTED = "attributed to Li et al., CVPR 2020, unconfirmed"
DCGAN = "DCGAN's recipe"


@hookimpl
def udabench_methods():
    return [
        MethodSpec(
            name="3cgan",
            factory="udabench_3cgan.method:ThreeCGAN",
            setting="source-free",
            phases=(
                SOURCE_PHASE,
                Phase("adapt", frozenset({"target"})),
            ),
            hparams={
                **TASK_MODEL_HPARAMS,
                **SOURCE_PHASE_HPARAMS,
                "noise_dim": HParam(100, "length of the generator's Gaussian noise z, concatenated with the one-hot "
                                         "class (udabench's choice)", positive=True),
                "generator_width": HParam(64, "channels of the generator's last hidden layer, doubled at each "
                                              "earlier stage (udabench's choice)", positive=True),
                "discriminator_width": HParam(64, "channels of the discriminator's first convolution, doubled at "
                                                  "each later stage (udabench's choice)", positive=True),
                "lambda_s": HParam(1.0, "weight of the generator's semantic loss, the fixed C's cross-entropy on "
                                        "G(y, z) for the sampled class y (udabench's choice: AC-GAN's equal "
                                        f"weighting; 0.1 {ATTRIBUTED})"),
                "lambda_g": HParam(0.1, "weight of C's cross-entropy on generated samples with their sampled "
                                        "classes (udabench's choice)"),
                "lambda_w": HParam(1e-4, "weight of ||theta_C - theta_Cs||^2, the squared distance of C's "
                                         f"parameters to the frozen source copy ({ATTRIBUTED})"),
                "lambda_clu": HParam(0.1, "weight of the clustering regulariser: mean entropy of C on target plus "
                                          f"the VAT term KL(C(x_t) || C(x_t + r)) ({ATTRIBUTED}: 0.1 for digits, "
                                          "1 otherwise)"),
                "generator_lr": HParam(2e-4, f"Adam learning rate of the generator, constant (udabench's choice, "
                                             f"{DCGAN}; 1e-4 {ATTRIBUTED})"),
                "discriminator_lr": HParam(2e-4, f"Adam learning rate of the discriminator, constant (udabench's "
                                                 f"choice, {DCGAN}; 4e-4 {ATTRIBUTED})"),
                "classifier_lr": HParam(1e-3, f"Adam learning rate of C in the adapt phase, which runs --steps on "
                                              f"target images alone, constant ({ATTRIBUTED})"),
                "adam_beta1": HParam(0.5, f"Adam beta1 of the generator and discriminator ({DCGAN}); C's Adam "
                                          "keeps beta1 0.9", below=1),
                "vat_xi": HParam(0.01, "norm of the random probe of VAT's power iteration, per sample (udabench's "
                                       "choice; the VAT and DIRT-T code use 1e-6)"),
                "vat_epsilon": HParam(3.5, "norm of the adversarial perturbation r per sample, in normalised pixel "
                                           "units (DIRT-T's code: 3.5 for digits)"),
                "non_saturating": HParam(True, "generator adversarial loss -log D(G(y,z)) instead of the paper's "
                                               "log(1 - D(G(y,z))) (udabench's choice: the usual form)"),
                "adapt_batch_stats": HParam(True, "C's batch norm in the adapt phase: target and generated batches "
                                                  "each normalised with their own statistics, the running ones "
                                                  "following target (true), or the source running statistics "
                                                  "(false) (udabench's choice)"),
                "classifier_warmup": HParam(0.2, "fraction of the adapt phase at its start during which only D "
                                                 "and G train (udabench's choice; 0: C trains from the first "
                                                 "step, as the paper's scheme reads)", high=1),
                "target_statistics_steps": HParam(100, "adapt steps at the start during which C's batch-norm "
                                                       "statistics are re-estimated on target batches before G and "
                                                       "D step (AdaBN, Li et al., ICLR 2017 workshop; udabench's "
                                                       "choice; 0 keeps the source's)"),
                "lambda_balance": HParam(1.0, "weight of the class-balance term of the clustering regulariser, "
                                              "minus the entropy of C's mean target prediction per batch (SHOT's "
                                              "diversity term, Liang et al., ICML 2020; udabench's choice; 0: "
                                              "the paper's regulariser alone)"),
                "generated_gate": HParam(0.7, "C learns from generated samples only once the fixed C labels at "
                                              "least this fraction of them with their sampled class (udabench's "
                                              "choice, after the gate of CyCADA's official code; 0: no gate)",
                                         high=1),
                "realism_gate": HParam(0.0, "C learns from generated samples only once D takes at least this "
                                            "fraction of them for target images (udabench's choice; 0: no gate)",
                                       high=1),
                "semantic_average_decay": HParam(0.98, "decay per step of the exponential averages that the gates "
                                                       "read (udabench's choice: about the last 50 steps)", below=1),
                "samples_per_class": HParam(8, "generated samples per class in the saved image grid, one row per "
                                               "class"),
            },
            description="source-free: a class-conditional GAN generates target-style samples that the source "
                        "classifier labels, and the classifier adapts on them with weight and clustering "
                        "regularisers (Li et al. 2020)",
        )
    ]
