"""Digits drawn by code: a small domain-shift task that runs anywhere with no download."""
