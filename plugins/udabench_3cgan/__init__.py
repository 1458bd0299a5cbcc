"""3C-GAN (Li et al. 2020): source-free model adaptation with a collaborative class-conditional GAN."""
