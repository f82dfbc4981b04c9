"""Exceptions of :mod:`edge_models`. Every message says what was wrong and what to do about it."""


class EdgeModelsError(Exception):
    """Base class of every error raised by :mod:`edge_models`."""


class InterpreterUnavailableError(EdgeModelsError):
    """Neither LiteRT (``ai-edge-litert``) nor ``tflite-runtime`` can be imported."""


class ModelVerificationError(EdgeModelsError):
    """A model file is missing, corrupt, truncated or does not match its manifest entry."""


class UnknownModelError(EdgeModelsError):
    """A model name is not in the manifest."""


class ModelInputError(EdgeModelsError, ValueError):
    """An array handed to a model or to a pre-processing function has the wrong shape or type."""


class DatasetError(EdgeModelsError):
    """An evaluation data set (image folder, ``.npz``, video) is missing or not in the expected layout."""
