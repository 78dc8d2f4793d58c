"""The closed set of session states, why a session is in one, and what to tell a person."""

from __future__ import annotations

from enum import StrEnum


class SessionState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"
    QR = "qr"
    PAIRING = "pairing"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    LOGGED_OUT = "logged_out"
    REPLACED = "replaced"
    BANNED = "banned"
    OUTDATED = "outdated"
    FAILED = "failed"


class Reason(StrEnum):
    """Why the session entered its state; the UI translates states and reasons by these codes."""

    NEW = "new"
    REQUESTED = "requested"
    RESTORED = "restored"
    WAITING_FOR_SCAN = "waiting_for_scan"
    PAIR_CODE_ISSUED = "pair_code_issued"
    PAIRED = "paired"
    ONLINE = "online"
    NETWORK = "network"
    CONNECT_FAILED = "connect_failed"
    QR_EXPIRED = "qr_expired"
    UNLINKED = "unlinked"
    OTHER_CLIENT = "other_client"
    TEMPORARY_BAN = "temporary_ban"
    CLIENT_OUTDATED = "client_outdated"
    HOST_CRASHED = "host_crashed"
    ERROR = "error"


SENTENCES: dict[SessionState, str] = {
    SessionState.STOPPED: "The session is stopped.",
    SessionState.STARTING: "Starting the session.",
    SessionState.QR: "Waiting for the QR code to be scanned with the phone.",
    SessionState.PAIRING: "The phone accepted the link; finishing the pairing.",
    SessionState.CONNECTED: "Connected to WhatsApp.",
    SessionState.RECONNECTING: "Connection lost; reconnecting.",
    SessionState.LOGGED_OUT: (
        "The number was unlinked from the phone; link it again with a new QR code."
    ),
    SessionState.REPLACED: "Another client opened this session; it was closed here.",
    SessionState.BANNED: "WhatsApp temporarily banned this number.",
    SessionState.OUTDATED: "WhatsApp refused this client version; zapdesk needs an update.",
    SessionState.FAILED: "The session failed; see the reason and restart it.",
}

# What a person can do next, for the states where the default sentence is not enough.
REASON_SENTENCES: dict[Reason, str] = {
    Reason.QR_EXPIRED: (
        "The QR code expired before it was scanned; restart the session for a new one."
    ),
    Reason.HOST_CRASHED: "The process hosting this session stopped; restarting it.",
    Reason.CONNECT_FAILED: "Could not connect to WhatsApp; retrying with a growing delay.",
}

# No automatic reconnect from these: a person must act (link again, update, wait).
TERMINAL = frozenset(
    {
        SessionState.LOGGED_OUT,
        SessionState.REPLACED,
        SessionState.BANNED,
        SessionState.OUTDATED,
    }
)


def describe(state: SessionState, reason: Reason | None = None) -> str:
    if reason is not None and reason in REASON_SENTENCES:
        return REASON_SENTENCES[reason]
    return SENTENCES[state]
