"""The provider's error family: API statuses, transport trouble, uncertain submits, downloads."""

from __future__ import annotations

from sora_bot.errors import SoraBotError


class ProviderError(SoraBotError):
    """Anything that went wrong talking to the video provider."""


class SoraAPIError(ProviderError):
    """The provider answered with an HTTP error status and (usually) an error envelope.

    The text never contains the API key: it is built from the status and the envelope only.
    """

    retryable = False

    def __init__(
        self,
        status: int,
        message: str = "",
        *,
        type: str | None = None,
        param: str | None = None,
        fallback_suggestion: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.fallback_suggestion = fallback_suggestion
        self.retry_after = retry_after
        detail = f" ({type})" if type else ""
        super().__init__(f"provider answered HTTP {status}{detail}: {message}".rstrip(": "))


class BadRequest(SoraAPIError):
    """400: our request was wrong (``param`` names the field)."""


class AuthenticationFailed(SoraAPIError):
    """401: the API key is invalid or expired (operator problem)."""


class InsufficientQuota(SoraAPIError):
    """402: the operator's provider account is out of credit."""


class PermissionDenied(SoraAPIError):
    """403: the key may not use this model."""


class NotFound(SoraAPIError):
    """404: model or task not found."""


class RequestTooLarge(SoraAPIError):
    """413: the image is too large for the provider."""


class RateLimited(SoraAPIError):
    """429: back off (``retry_after`` seconds when known), then retry."""

    retryable = True


class ProviderServerError(SoraAPIError):
    """500/502/503: transient provider trouble."""

    retryable = True


class ProviderUnavailable(ProviderError):
    """No usable answer: timeout, connection reset, or a body that is not the documented JSON."""

    retryable = True


class MismatchedAnswer(ProviderUnavailable):
    """A task answer named another task than the one asked for (a provider or proxy mix-up).

    Handled as no answer: retried like a garbled body, never used (its links are not
    fetched); the job's timeout bounds how long a provider that keeps doing it is asked.
    """


class SubmissionUncertain(ProviderError):
    """The create request may have reached the provider but its answer was lost.

    Retrying could create a second task, so the job is given up and refunded instead.
    """


class DownloadError(ProviderError):
    """The finished video could not be fetched.

    ``kind`` is one of: ``expired`` (link gone), ``too_large`` (over the size ceiling),
    ``incomplete`` (transfer stopped), ``disk`` (could not write the file), ``network``,
    ``refused`` (the link or a redirect points where the bot does not fetch from).
    """

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)

    @property
    def retryable(self) -> bool:
        return self.kind in {"incomplete", "network"}


STATUS_ERRORS: dict[int, type[SoraAPIError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    402: InsufficientQuota,
    403: PermissionDenied,
    404: NotFound,
    413: RequestTooLarge,
    429: RateLimited,
    500: ProviderServerError,
    502: ProviderServerError,
    503: ProviderServerError,
}


def error_for_status(status: int) -> type[SoraAPIError]:
    """The error class for an HTTP status (unknown 5xx are transient, other codes are not)."""
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    return ProviderServerError if status >= 500 else SoraAPIError
