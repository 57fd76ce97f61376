"""Log levels as dcmrecv names and prints them (``I: text`` on stderr)."""

from __future__ import annotations

# dcmrecv's --log-level names, most to least severe, and their one-letter prefixes.
LEVELS = ("fatal", "error", "warn", "info", "debug", "trace")
PREFIX = {"fatal": "F", "error": "E", "warn": "W", "info": "I", "debug": "D", "trace": "T"}
RANK = {letter: index for index, letter in enumerate("FEWIDT")}


def threshold(level_name: str) -> int:
    """The highest rank that is printed for a --log-level name ("off" prints nothing)."""
    return LEVELS.index(level_name) if level_name in LEVELS else -1


def enabled(letter: str, level_name: str) -> bool:
    return RANK[letter] <= threshold(level_name)


def render(letter: str, text: str) -> str:
    """Multi-line messages are printed line by line, each with the prefix, as oflog does."""
    return "".join(f"{letter}: {line}\n" for line in text.split("\n"))
