"""SUIT: one-way image translation with semantic and content losses, for segmentation and classification."""
