"""Dataset loading: Hugging Face ``datasets`` for hub ids and local folders, decoded once to tensors."""

from udabench.data.loading import DataSource, DomainSplit, load_split, resolve_source

__all__ = ["DataSource", "DomainSplit", "load_split", "resolve_source"]
