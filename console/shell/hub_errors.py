"""A hub's error answer in words the user can act on, in the console's language.

The hub answers with a code (``console.hub.protocol.ErrorCode``) and a technical detail in
English. The code says what the user can do about it, so it is translated; the detail
follows in parentheses, for whoever is asked to look into it.
"""

from __future__ import annotations

from console.hub.client import CONNECTION_CLOSED, HubError
from console.hub.protocol import ErrorCode
from console.shell.hub_link import NOT_CONNECTED
from console.shell.i18n import tr


def error_meaning(code: str) -> str | None:
    """What an error code means for the user; None for a code this console does not know."""
    meanings = {
        ErrorCode.BAD_REQUEST: tr("The hub did not accept the request"),
        ErrorCode.BAD_JSON: tr("The hub could not read the request"),
        ErrorCode.BAD_MESSAGE: tr("The hub could not read the request"),
        ErrorCode.FORBIDDEN: tr("Your role may not do this"),
        ErrorCode.CONFLICT: tr("Someone changed this in the meantime: refresh and try again"),
        ErrorCode.ILLEGAL_TRANSITION: tr("Not possible in the task's current state"),
        ErrorCode.OUT_OF_SCOPE: tr("Outside your organisation's area"),
        ErrorCode.NOT_FOUND: tr("Not found (it may have been removed)"),
        ErrorCode.UNAUTHENTICATED: tr("Not logged in: log in again"),
        ErrorCode.UNKNOWN_METHOD: tr("The hub does not know this request (another version?)"),
        ErrorCode.INTERNAL: tr("The hub failed; the details are in its log"),
        CONNECTION_CLOSED: tr("The connection to the hub was lost"),
        NOT_CONNECTED: tr("Not connected to the hub"),
    }
    return meanings.get(code)


def error_text(error: HubError) -> str:
    """``meaning (detail)``; the code and detail as they came for a code not known here."""
    meaning = error_meaning(error.code)
    if meaning is None:
        return tr("Hub error {code}: {detail}", code=error.code, detail=error.detail)
    if not error.detail:
        return meaning
    return tr("{meaning} ({detail})", meaning=meaning, detail=error.detail)
