"""Placeholder until its issue lands."""

def train() -> None:
    """Train a model (filled in by the training work)."""
    raise NotImplementedError


def evaluate() -> None:
    """Evaluate a run (filled in by the training work)."""
    raise NotImplementedError


def predict() -> None:
    """Predict images with a run (filled in by the training work)."""
    raise NotImplementedError


def show() -> None:
    """Show a run's filters and feature maps (filled in by the training work)."""
    raise NotImplementedError
