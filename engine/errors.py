"""Exceptions the engine raises; each message says which file and what was expected, so the GUI can show it as is."""


class EngineError(Exception):
    """Base of every error the user should see as a message rather than a crash."""


class ImageReadError(EngineError):
    """An image file is missing, unreadable or not an image."""


class CheckpointError(EngineError):
    """A model file cannot be read or does not fit the architecture."""


class LabelIOError(EngineError):
    """A label file cannot be written (read-only folder, full disk) or read."""


class DeviceMemoryError(EngineError):
    """The GPU ran out of memory; the caller may run the same work on the CPU instead."""


class Cancelled(EngineError):
    """Long work stopped because its should_cancel() callback said so."""


def check_cancel(should_cancel) -> None:
    """Raise Cancelled when the optional callback asks for it; called between stages of long work."""
    if should_cancel is not None and should_cancel():
        raise Cancelled("cancelled")
