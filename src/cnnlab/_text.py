"""Names as text: what every font and encoder accepts."""

from __future__ import annotations

__all__ = ["display_name"]


def display_name(name: object) -> str:
    """``name`` as text every font and encoder accepts: undecodable bytes become U+FFFD.

    A file or folder name that is not valid UTF-8 reaches Python (on POSIX) with
    surrogate escapes (``b"caf\\xe9"`` -> ``"caf\\udce9"``), which matplotlib cannot draw and
    UTF-8 cannot encode. Each such byte, and any other lone surrogate, becomes the
    replacement character; every other name is returned unchanged.

    Example:
        >>> display_name("caf\\udce9") == "caf\\N{REPLACEMENT CHARACTER}"
        True
    """
    text = str(name)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
