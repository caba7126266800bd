"""Artifact names, aliases and references (``name``, ``name:v3``, ``name:prod``).

Names become nothing on disk (blobs are stored by digest), but they are validated
strictly anyway so that a name is always safe to use as a file name when a user
copies an artifact out, and so that references parse without ambiguity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelmill.core.errors import InvalidNameError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
ALIAS_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
VERSION_RE = re.compile(r"v([0-9]+)")
MAX_VERSION = 2**63 - 1  # the index stores versions as SQLite integers (signed 64-bit)
LATEST = "latest"
NAME_FORM = "1-128 characters from letters, digits, '.', '_' and '-', starting with a letter or digit"


def validate_name(name: str) -> str:
    """Return ``name`` unchanged, or raise if it could escape the workspace or be ambiguous."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or ".." in name:
        raise InvalidNameError(
            f"invalid artifact name {name!r}: expected {NAME_FORM}, with no '..', '/', "
            "':' or control characters (for example 'clean_sample.csv')"
        )
    return name


def validate_alias(alias: str, *, allow_latest: bool = False) -> str:
    """Validate an alias name; ``latest`` is reserved because the store moves it itself."""
    if not isinstance(alias, str) or not ALIAS_RE.fullmatch(alias) or VERSION_RE.fullmatch(alias):
        raise InvalidNameError(
            f"invalid alias {alias!r}: expected a letter then letters, digits, '_' or '-' "
            "(for example 'prod' or 'reference'); 'v<number>' is a version, not an alias"
        )
    if alias == LATEST and not allow_latest:
        raise InvalidNameError("alias 'latest' is moved automatically and cannot be set by hand")
    return alias


@dataclass(frozen=True)
class ArtifactRef:
    """A parsed reference: a name plus either a version number or an alias."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:v{self.version}"
        return f"{self.name}:{self.alias or LATEST}"


def version_number(text: str) -> int | None:
    """``v3`` or ``3`` -> 3; ``None`` for anything else, including numbers no index can hold."""
    match = VERSION_RE.fullmatch(text if text.startswith("v") else f"v{text}")
    if match is None:
        return None
    number = int(match.group(1))
    return number if number <= MAX_VERSION else None


def parse_ref(ref: str | ArtifactRef) -> ArtifactRef:
    """Parse ``name``, ``name:vN`` or ``name:alias``; a bare name means ``name:latest``."""
    if isinstance(ref, ArtifactRef):
        return ref
    if not isinstance(ref, str) or not ref:
        raise InvalidNameError(f"invalid artifact reference {ref!r}: expected NAME[:vN|:ALIAS]")
    name, sep, tail = ref.partition(":")
    validate_name(name)
    if not sep:
        return ArtifactRef(name, alias=LATEST)
    if VERSION_RE.fullmatch(tail):
        version = version_number(tail)
        if version is None:
            raise InvalidNameError(
                f"invalid artifact reference {ref!r}: {tail} is beyond any stored version "
                f"(list them with: modelmill artifacts list {name})"
            )
        return ArtifactRef(name, version=version)
    try:
        return ArtifactRef(name, alias=validate_alias(tail, allow_latest=True))
    except InvalidNameError as exc:
        raise InvalidNameError(
            f"invalid artifact reference {ref!r}: expected NAME, NAME:vN or NAME:ALIAS ({exc})"
        ) from None
