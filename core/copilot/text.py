"""Text helpers of the copilot: Portuguese words for ranking, personal data masking, token
estimates, edit distance, and the greeting and sign-off conventions of a reply."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

# Common Portuguese function words: they match everything and rank nothing.
_STOPWORDS_TEXT = """
    a ao aos as ate com como da das de dela dele deles do dos e ela elas ele eles em entao era
    essa esse esta estao estou esta este eu foi ha isso isto ja la lhe mais mas me meu minha
    muito na nas nem no nos nossa nosso num numa o os ou para pela pelas pelo pelos por pra pro
    qual quando que quem se sem ser seu seus sua suas sao so tambem te tem tenho ter teu tu tua
    um uma umas uns voce voces vc vcs ai oi ola bom boa dia tarde noite obrigado obrigada tudo
    bem favor gostaria queria poderia pode
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

_WORD = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lowercase without accents: "Atenção" and "atencao" are the same word."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _stem(word: str) -> str:
    # Plurals are the commonest variation in short customer messages ("pedidos", "pedido").
    if len(word) > 4 and word.endswith("oes"):
        return word[:-3] + "ao"
    if len(word) > 3 and word.endswith("s"):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """The words that carry meaning, normalized for ranking."""
    return [_stem(w) for w in _WORD.findall(fold(text)) if w not in STOPWORDS and len(w) > 1]


def estimate_tokens(text: str) -> int:
    """A model-agnostic estimate (about four characters per token)."""
    return max(1, (len(text) + 3) // 4)


# Personal data that must not leave for an external endpoint. Order matters: the longer and
# more specific shapes first, so a CNPJ is not taken for a phone number.
_PII = re.compile(
    r"(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    r"|(?P<cnpj>\b\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}\b)"
    r"|(?P<cpf>\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b)"
    r"|(?P<telefone>(?<!\w)\+?\(?\d[\d\s().-]{6,}\d\b)"
)


def mask_pii(text: str, keep: Callable[[str], bool] | None = None) -> str:
    """Phone numbers, e-mails, CPF and CNPJ replaced by ``[telefone]``, ``[email]``...;
    ``keep`` spares the ones it accepts."""

    def replace(match: re.Match[str]) -> str:
        found, kind = match.group(), match.lastgroup or "pii"
        if kind == "telefone" and sum(ch.isdigit() for ch in found) < 8:
            return found  # a short number (an order, a price) is no phone
        if keep is not None and keep(found):
            return found
        return f"[{kind}]"

    return _PII.sub(replace, text)


def has_pii(text: str) -> bool:
    return mask_pii(text) != text


def digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), by character."""
    # Edits are usually local: the shared head and tail cost nothing.
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    a, b = a[start : len(a) - end], b[start : len(b) - end]
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def first_name(name: str | None) -> str | None:
    if not name:
        return None
    parts = name.strip().split()
    if not parts or not any(ch.isalpha() for ch in parts[0]):
        return None
    return parts[0][:1].upper() + parts[0][1:]


_GREETING = re.compile(
    r"^\s*(?:ol[áa]|oi|oie|bom dia|boa tarde|boa noite|hello|hi|hola|buenos d[íi]as)\b",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^\s*(?:att\.?|atte\.?|at\.te|atenciosamente|abra[çc]os?|um abra[çc]o|"
    r"grande abra[çc]o|equipe\b.*|regards|best)\s*[,.!]?\s*$",
    re.IGNORECASE,
)


def split_greeting(text: str) -> tuple[str, str]:
    """(greeting, rest): "Olá, Ana! Seu pedido..." → ("Olá, Ana!", "Seu pedido...")."""
    match = _GREETING.match(text)
    if match is None:
        return "", text
    # The greeting runs to the first punctuation or line end, if that comes soon (a name).
    tail = re.match(r"[^.!?\n]{0,30}[.!?]?|", text[match.end() :])
    cut = match.end() + (len(tail.group()) if tail else 0)
    head, rest = text[:cut], text[cut:]
    if len(head.split()) > 5:  # "Oi, o seu pedido chegou hoje." is not a greeting line
        head, rest = text[: match.end()], text[match.end() :]
        rest = rest.lstrip(" ,!")
    return head.strip(), rest.strip()


def strip_sign_off(text: str) -> str:
    """Drops the closing lines ("Atenciosamente,\\nJoão") of a reply."""
    lines = text.rstrip().split("\n")
    for back in (1, 2):
        if len(lines) > back and _SIGN_OFF.match(lines[-back]):
            lines = lines[:-back]
            break
    return "\n".join(lines).rstrip()
