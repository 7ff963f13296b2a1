"""Data: the source registry and seeded few-shot splits."""

from fewgen.data.sources import SOURCES, UNLABELED, ImageSet, Source, SourceOptions, load_source

__all__ = ["SOURCES", "UNLABELED", "ImageSet", "Source", "SourceOptions", "load_source"]
