"""Generative augmentation with a conditional GLO (Azuri & Weinshall), and the classic augmentations it is compared with."""
