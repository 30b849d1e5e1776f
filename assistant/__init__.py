"""Self-hosted multimodal chat assistant backend."""

__version__ = "0.1.0"
