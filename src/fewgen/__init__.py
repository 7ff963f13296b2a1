"""fewgen: label-efficient image classification with features from generative models."""

__version__ = "0.1.0"
