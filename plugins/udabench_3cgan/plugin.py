"""Registers the ``3cgan`` method."""

from udabench.api import (SOURCE_PHASE, SOURCE_PHASE_HPARAMS, TASK_MODEL_HELP, TASK_MODEL_HPARAMS,
                          MethodSpec, Phase, hookimpl)


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
                "noise_dim": 100,
                "generator_width": 64,
                "discriminator_width": 64,
                "lambda_s": 1.0,
                "lambda_g": 0.1,
                "lambda_w": 1e-4,
                "lambda_clu": 0.1,
                "generator_lr": 2e-4,
                "discriminator_lr": 2e-4,
                "classifier_lr": 1e-3,
                "adam_beta1": 0.5,
                "vat_xi": 0.01,
                "vat_epsilon": 3.5,
                "non_saturating": True,
                "adapt_batch_stats": True,
                "classifier_warmup": 0.2,
                "target_statistics_steps": 100,
                "lambda_balance": 1.0,
                "generated_gate": 0.7,
                "realism_gate": 0.0,
                "semantic_average_decay": 0.98,
                "samples_per_class": 8,
            },
            hparam_help={
                **TASK_MODEL_HELP,
                "source_steps": "steps of the source phase (classifier C on labelled source with the SGD recipe "
                                "above); the adapt phase runs --steps on target images alone",
                "noise_dim": "length of the generator's Gaussian noise z, concatenated with the one-hot class "
                             "(udabench's choice)",
                "generator_width": "channels of the generator's last hidden layer, doubled at each earlier "
                                   "stage (udabench's choice)",
                "discriminator_width": "channels of the discriminator's first convolution, doubled at each "
                                       "later stage (udabench's choice)",
                "lambda_s": "weight of the generator's semantic loss, the cross-entropy of the fixed C on "
                            "G(y, z) for the sampled class y (udabench's choice: 1.0, AC-GAN's equal weighting; "
                            "with 0.1, the value attributed to the paper, unconfirmed, a usps-mnist generator "
                            "stayed class-less for 1,000 steps against a discriminator that told 98 % of its "
                            "samples apart)",
                "lambda_g": "weight of C's cross-entropy on generated samples with their sampled classes "
                            "(udabench's choice: 0.1; on usps-mnist, seed 0, 1.0 ended at 0.904 target accuracy "
                            "and 0.1 at 0.967, as C fits generated samples of a few mixed-up classes)",
                "lambda_w": "weight of ||theta_C - theta_Cs||^2, the squared distance of C's parameters to the "
                            "frozen source copy (attributed to the paper, unconfirmed: 1e-4)",
                "lambda_clu": "weight of the clustering regulariser: mean entropy of C on target plus the VAT "
                              "term KL(C(x_t) || C(x_t + r)) (attributed to the paper, unconfirmed: 0.1 for digits, "
                              "1 otherwise)",
                "generator_lr": "Adam learning rate of the generator, constant (udabench's choice: DCGAN's 2e-4; "
                                "the value attributed to the paper is 1e-4)",
                "discriminator_lr": "Adam learning rate of the discriminator, constant (udabench's choice: DCGAN's "
                                    "2e-4; the value attributed to the paper is 4e-4)",
                "classifier_lr": "Adam learning rate of C in the adapt phase, constant (attributed to the paper, "
                                 "unconfirmed: 1e-3)",
                "adam_beta1": "Adam beta1 of the generator and discriminator (udabench's choice: DCGAN's 0.5); "
                              "C's Adam keeps beta1 0.9",
                "vat_xi": "norm of the random probe of VAT's power iteration, per sample (udabench's choice: 0.01; "
                          "the VAT and DIRT-T code use 1e-6, where float32 round-off blurs the direction)",
                "vat_epsilon": "norm of the adversarial perturbation r, per sample, in normalised pixel units "
                               "(udabench's choice; DIRT-T's digit radius 3.5)",
                "non_saturating": "generator adversarial loss -log D(G(y,z)) instead of the paper's "
                                  "log(1 - D(G(y,z))) (udabench's choice: the usual non-saturating form)",
                "adapt_batch_stats": "C's batch norm in the adapt phase: normalise target and generated batches "
                                     "each with their own statistics, the running statistics following the "
                                     "target batches (true), or keep the source running statistics (false) "
                                     "(udabench's choice)",
                "classifier_warmup": "fraction of the adapt phase at its start during which only D and G train "
                                     "and C stays the source model (udabench's choice: 0.2; 0 trains C from "
                                     "the first step, as the paper's per-iteration scheme reads)",
                "target_statistics_steps": "adapt steps at the start during which C's batch-norm statistics are "
                                           "re-estimated on target batches before G and D step, so G learns "
                                           "classes from a labeller with target statistics (AdaBN, Li et al., "
                                           "ICLR 2017 workshop; udabench's choice: 100; 0 keeps the source's)",
                "lambda_balance": "weight of the class-balance term inside the clustering regulariser: minus the "
                                  "entropy of C's mean target prediction per batch (SHOT's diversity term, Liang "
                                  "et al., ICML 2020; udabench's choice: 1.0, SHOT's equal weighting; 0 is the "
                                  "paper's regulariser alone)",
                "generated_gate": "C learns from generated samples only once the fixed C labels at least this "
                                  "fraction of G's samples (averaged over about the last 50 steps) with the "
                                  "class they were generated for (udabench's choice: 0.7, a gate as CyCADA's "
                                  "official code has on its semantic loss; 0: from the end of the warm-up on, "
                                  "as the paper's scheme reads)",
                "realism_gate": "C learns from generated samples only once D takes at least this fraction of "
                                "them (averaged over about the last 50 steps) for target images (udabench's "
                                "choice; 0: no such condition)",
                "semantic_average_decay": "decay of the exponential averages of the fractions of G's samples "
                                          "recognised by C and taken for real by D, which the gates read (udabench's choice: 0.98, about 50 steps)",
                "samples_per_class": "generated samples per class in the saved image grid (one row per class)",
            },
            description="source-free: a class-conditional GAN generates target-style samples that the source "
                        "classifier labels, and the classifier adapts on them with weight and clustering "
                        "regularisers (Li et al. 2020)",
        )
    ]
