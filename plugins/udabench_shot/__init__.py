"""SHOT (Liang et al. 2020): source hypothesis transfer, a source-free adaptation method."""
