"""Vietnamese text folding for search: `Đồng Nai` and `dong nai` must meet.

SQLite's unicode61 tokenizer removes tone marks but keeps đ (U+0111), which is a separate letter, not d plus a
mark; so text is folded here, in Python, before it reaches FTS5, and queries are folded the same way.
"""
from __future__ import annotations

import re
import unicodedata

_D = str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "Ð": "d"})
_WORD = re.compile(r"[0-9a-z]+")


def fold(text: str | None) -> str:
    """Lower case, no tone or vowel marks, đ→d."""
    if not text:
        return ""
    text = text.translate(_D)
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.lower()


def words(text: str | None) -> list[str]:
    """Folded alphanumeric words, the same split the FTS5 unicode61 tokenizer makes on folded text."""
    return _WORD.findall(fold(text))


def nfc(text: str | None) -> str:
    """Normalise user input to NFC so the same word typed on two keyboards is stored the same."""
    return unicodedata.normalize("NFC", text or "").strip()
