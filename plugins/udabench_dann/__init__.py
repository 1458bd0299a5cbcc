"""DANN (Ganin & Lempitsky 2015): domain-adversarial training through a gradient-reversal layer."""
