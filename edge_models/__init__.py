"""On-device vision for Vitrina: int8 TFLite models run with LiteRT, and their pure pre/post-processing.

This package imports nothing else of Vitrina's. Only :mod:`edge_models.runtime` imports the interpreter.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
