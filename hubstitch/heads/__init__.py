"""Heads that decode a latent space: `ClassifierHead`, its config, heads spliced out of classification
checkpoints, and relative heads trained on similarities to anchors.
"""
