"""Built-in classification metrics."""
