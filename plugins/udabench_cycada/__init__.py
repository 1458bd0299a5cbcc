"""CyCADA (Hoffman et al. 2018): cycle-consistent adversarial domain adaptation, pixel level and pixel+feature level."""
