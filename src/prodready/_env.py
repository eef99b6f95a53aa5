"""Setting an environment variable for the time of a block, then restoring it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["environ_set"]


@contextlib.contextmanager
def environ_set(name: str, value: str) -> Iterator[None]:
    """Set ``os.environ[name] = value`` inside the block; restore (or remove) it after.

    For libraries that read a switch from the environment when they act (transformers'
    advisory messages, MLflow's progress bars): the user's environment is left as it was.
    """
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
