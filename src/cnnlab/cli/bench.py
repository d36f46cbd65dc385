"""Placeholder until its issue lands."""

def bench() -> None:
    """Show the speed ladder for one convolution (filled in by the ops work)."""
    raise NotImplementedError
