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


class WriteError(TranslateError):
    """A file could not be written (disk full, no permission); the message names the path."""


class DivergedError(TranslateError):
    """A loss became NaN or infinite (`--on-nan stop`); nothing after the last good checkpoint is saved."""


class RunStopped(Exception):
    """A run stopped on request (SIGTERM, Ctrl-C) after saving a checkpoint; not an error.

    The CLI exits with `exit_code`: 128 + the signal, as shells report it (143 for SIGTERM, 130 for Ctrl-C),
    so a wrapper script can tell a stopped run from a finished one.
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
