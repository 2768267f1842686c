"""Errors that services raise and every interface turns into something a person can act on."""


class ApplicationError(Exception):
    """A business rule refused the request; the API answers 409, forms show the message."""

    status_code = 409

    def __init__(self, message: str, *, extra: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class PermissionDeniedError(ApplicationError):
    """The actor may not do this to this object."""

    status_code = 403


class InvalidInputError(ApplicationError):
    """The input is well-formed but not acceptable; `field` names what to fix."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, extra={"field": field} if field else None)
        self.field = field
