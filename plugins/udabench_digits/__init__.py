"""Built-in digit datasets (MNIST, USPS, MNIST-M, SVHN, SynDigits) and their adaptation tasks."""
