"""ADDA (Tzeng et al. 2017): adversarial discriminative domain adaptation with an untied target encoder."""
