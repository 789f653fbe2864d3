"""bria-pipeline: declarative, reviewable, reproducible pipelines for Bria's Tailored Generation API."""

__version__ = "0.1.0"
