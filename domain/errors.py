"""Domain errors. Each carries a short message that is safe to show to a user."""

from __future__ import annotations

# What a user is told when something failed on our side, not theirs.
SORRY = "Sorry, something went wrong on my side. Please try again in a moment."
# What a user is told while the booking records cannot be reached (a database restart or failover).
STORAGE_AWAY = "I can't reach my booking records just now. Please try again in a moment."


class DomainError(Exception):
    """Base of every error the core raises on purpose."""

    user_message = "Something went wrong."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.user_message)
        self.detail = detail or self.user_message

    @property
    def message(self) -> str:
        """What to show a user: the detail, which domain errors word for people."""
        return self.detail


class NotFound(DomainError):
    user_message = "That item does not exist."


class Conflict(DomainError):
    user_message = "That already exists."


class ValidationFailed(DomainError):
    user_message = "Some of the values are not valid."


# --- Microsoft Graph, as the core sees it -------------------------------------------------


class GraphError(DomainError):
    """A Graph call failed; `code` is Graph's error code, `status` the HTTP status."""

    user_message = "Microsoft 365 could not complete the request."

    def __init__(self, detail: str | None = None, *, code: str = "", status: int = 0) -> None:
        super().__init__(detail)
        self.code = code
        self.status = status

    @property
    def message(self) -> str:
        """Graph's own detail is for logs; users get the plain message of the error kind."""
        return self.user_message


class RoomAccessDenied(GraphError):
    user_message = "The app is not allowed to use this room's calendar."

    @property
    def by_access_policy(self) -> bool:
        """Graph's own words for a mailbox outside the app's ApplicationAccessPolicy (Microsoft's "Limit
        Microsoft Graph application permissions to specific Exchange Online mailboxes")."""
        return "access to odata is disabled" in self.detail.lower()


class ItemNotFound(GraphError):
    user_message = "The calendar item no longer exists."


class MailboxNotFound(GraphError):
    user_message = "There is no mailbox with that address."


class MailboxNotEnabled(GraphError):
    user_message = (
        "That address has no Exchange Online mailbox (it is on-premises, unlicensed, inactive or soft-deleted), "
        "so its calendar cannot be used through Microsoft Graph."
    )


class GraphBadRequest(GraphError):
    user_message = "Microsoft 365 rejected the request."


class GraphThrottled(GraphError):
    user_message = "Microsoft 365 is busy right now. Please try again in a minute."


class GraphUnavailable(GraphError):
    user_message = "Microsoft 365 did not answer in time. Please try again in a minute."


class GraphBadAnswer(GraphUnavailable):
    """Graph answered, but not in a form RoomBot can read (a missing field, a time it cannot parse).
    Like no answer at all, it leaves the outcome of a write unknown: the calendar is read back."""

    user_message = "Microsoft 365 gave an answer I could not read. Please try again in a minute."


class GraphAuthFailed(GraphError):
    """The app could not get a token, or Graph refused it (consent, secret, tenant)."""

    user_message = "The bot could not sign in to Microsoft 365. An admin needs to check the connection."


# Graph error codes (GUIDE table) mapped to the errors above.
GRAPH_ERROR_CODES: dict[str, type[GraphError]] = {
    "ErrorAccessDenied": RoomAccessDenied,
    "ErrorItemNotFound": ItemNotFound,
    "ErrorInvalidUser": MailboxNotFound,
    "MailboxNotEnabledForRESTAPI": MailboxNotEnabled,
    "ResourceNotFound": ItemNotFound,
    "InvalidAuthenticationToken": GraphAuthFailed,
    "Authorization_RequestDenied": RoomAccessDenied,
}


def graph_error_for(status: int, code: str, message: str) -> GraphError:
    """The domain error for a Graph error response."""
    cls = GRAPH_ERROR_CODES.get(code)
    if cls is None:
        if status == 401:
            cls = GraphAuthFailed
        elif status == 403:
            cls = RoomAccessDenied
        elif status == 404:
            cls = ItemNotFound
        elif status == 429:
            cls = GraphThrottled
        elif status >= 500:
            cls = GraphUnavailable
        elif 400 <= status < 500:
            cls = GraphBadRequest
        else:
            cls = GraphError
    return cls(f"{code or status}: {message}", code=code, status=status)
