"""Built-in backbones: the DANN paper's digit and sign networks, a LeNet, and any timm model."""
