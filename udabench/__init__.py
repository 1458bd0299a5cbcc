"""udabench: a plugin-based benchmark suite for unsupervised domain adaptation."""

__version__ = "0.1.0"
