"""Text as the inbox stores and shows it: cleaned for the database, previews in pt-BR."""

from __future__ import annotations

from typing import Any

from core.storage.models import MessageType

PREVIEW_MAX = 200

# What the conversation list shows for a message without text, as WhatsApp does in pt-BR.
_MEDIA_PREVIEWS: dict[MessageType, str] = {
    MessageType.IMAGE: "📷 Foto",
    MessageType.VIDEO: "🎥 Vídeo",
    MessageType.AUDIO: "🎵 Áudio",
    MessageType.VOICE: "🎤 Mensagem de voz",
    MessageType.DOCUMENT: "📄 Documento",
    MessageType.STICKER: "💟 Figurinha",
    MessageType.LOCATION: "📍 Localização",
    MessageType.CONTACT_CARD: "👤 Contato",
}
UNSUPPORTED_PREVIEW = "⚠️ Mensagem não suportada"
REVOKED_PREVIEW = "🚫 Mensagem apagada"


def clean(text: str) -> str:
    """PostgreSQL refuses NUL in text and JSON; WhatsApp text never needs it."""
    return text.replace("\x00", "") if "\x00" in text else text


def clean_json(value: Any) -> Any:
    """``clean`` applied to every string of a JSON-like value, keys included."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_json(v) for v in value]
    return value


def clipped(text: str | None, limit: int) -> str | None:
    return None if text is None else clean(text)[:limit]


def preview(kind: MessageType, text: str, media: dict[str, Any] | None) -> str:
    """One line for the conversation list: the text, else what kind of thing was sent."""
    line = " ".join(text.split())
    if kind is MessageType.TEXT:
        if media is not None and media.get("unsupported"):
            return UNSUPPORTED_PREVIEW
        return line[:PREVIEW_MAX]
    label = _MEDIA_PREVIEWS.get(kind, "")
    if kind is MessageType.DOCUMENT and media and media.get("filename"):
        label = f"📄 {media['filename']}"
    elif kind is MessageType.CONTACT_CARD and media and media.get("display_name"):
        label = f"👤 {media['display_name']}"
    if line:
        label = f"{label.split(' ', 1)[0]} {line}"
    return label[:PREVIEW_MAX]
