"""AdaBN (Li et al. 2017): a source model whose batch-norm statistics are re-estimated on the target."""
