"""User-facing errors.

Anything a user can fix (a missing folder, a bad image, an unknown name, a size the network
cannot take) raises a `TranslateError`. The CLI prints its message as one line on stderr and
exits with code 2, without a traceback. Everything else is a bug and keeps its traceback.
"""


class TranslateError(Exception):
    """An error caused by the user's input, reported as one line."""


class DataError(TranslateError):
    """A data set, folder or image that cannot be used."""


class ConfigError(TranslateError):
    """Options that do not fit together or do not fit the model."""
