"""The one exception type for bad input.

A :class:`FewgenError` carries one sentence for a person: what was wrong (the
file or option) and what to do. The CLI prints it and exits with code 2;
library code raises it and never calls ``sys.exit``.
"""


class FewgenError(ValueError):
    """Bad input, explained in one sentence that names the file or option."""


def worker_sentence(exc: Exception) -> str:
    """The original message of an exception a DataLoader worker raised (torch prefixes it with a traceback)."""
    text = str(exc)
    marker = f"{type(exc).__name__}: "
    return text.rsplit(marker, 1)[-1].strip() if "Original Traceback" in text else text


class FewgenWarning(UserWarning):
    """Something left out or skipped that a person should know of (a bad unlabeled image, hidden files): one
    sentence; the CLI prints it as ``warning: ...``."""
