"""Exceptions raised by genmodels. Bad user input is always a DataError (a ValueError)."""


class DataError(ValueError):
    """Input the library cannot use: bad data, a bad file, a bad checkpoint. The message says what to fix."""


class TrainingDiverged(RuntimeError):
    """Training produced a non-finite loss or weight; the model was rolled back to the last good state."""
