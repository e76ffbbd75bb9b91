"""Errors that mean "the user asked for something wrong", printed by the CLI as one line."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input; its message names the input and is printed as is."""
