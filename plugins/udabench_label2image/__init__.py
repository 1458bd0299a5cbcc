"""Label2Image-DA (Li et al., IEEE TIP 2020): target-style image-label pairs from a class-conditional GAN."""
