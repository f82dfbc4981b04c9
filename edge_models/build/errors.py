"""Exceptions of the model build. Each message says what was wrong and what to do."""

from edge_models.errors import EdgeModelsError


class BuildError(EdgeModelsError):
    """The model build could not finish (a download, an extraction, a conversion or a check failed)."""


class TensorFlowMissingError(BuildError):
    """TensorFlow, needed only to convert models, is not installed in this environment."""
