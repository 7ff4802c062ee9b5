"""batchrelay: watch Alibaba Cloud batch processing through its notifications."""

__version__ = "0.1.0"
__all__ = ["__version__"]
