"""The one exception library code raises for a user's mistake, carrying advice on what to do."""
from __future__ import annotations


class UserError(Exception):
    """A problem with the user's inputs, folders or options (not a bug); the message says what to do.

    Library code raises it instead of exiting; the `mmcorpus` command logs the message and exits 2.
    """
