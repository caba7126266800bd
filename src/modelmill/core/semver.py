"""Semantic versions of releases: ``MAJOR.MINOR.PATCH[-PRERELEASE]``, tagged ``vMAJOR.MINOR.PATCH``.

A release is a git tag, so its version must order the way semver says (``0.10.0`` after
``0.9.0``, ``1.0.0-rc.1`` before ``1.0.0``); comparing tag names as text would not. Build
metadata (``+build``) is refused: it does not order, so two releases could not be told apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from modelmill.core.errors import ReleaseError

_NUMBER = r"0|[1-9]\d*"
_IDENT = r"0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*"
_PATTERN = re.compile(
    rf"^v?(?P<major>{_NUMBER})\.(?P<minor>{_NUMBER})\.(?P<patch>{_NUMBER})"
    rf"(?:-(?P<pre>(?:{_IDENT})(?:\.(?:{_IDENT}))*))?$"
)
BUMPS = ("major", "minor", "patch")
TAG_PREFIX = "v"


@total_ordering
@dataclass(frozen=True)
class Version:
    """One semantic version; ordered by semver precedence."""

    major: int
    minor: int
    patch: int
    pre: tuple[str, ...] = ()

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{'.'.join(self.pre)}" if self.pre else core

    @property
    def tag(self) -> str:
        """The git tag of this release: ``v1.2.0``."""
        return f"{TAG_PREFIX}{self}"

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        # a prerelease sorts before its release; numeric identifiers before alphanumeric ones
        pre = tuple((0, int(p)) if p.isdigit() else (1, p) for p in self.pre)
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def bump(self, part: str) -> Version:
        """The next ``major``/``minor``/``patch`` version (a prerelease bumps to its release)."""
        if part not in BUMPS:
            raise ReleaseError(f"--bump {part!r}: expected one of {', '.join(BUMPS)}")
        if part == "major":
            return Version(self.major + 1, 0, 0)
        if part == "minor":
            return Version(self.major, self.minor + 1, 0)
        return Version(self.major, self.minor, self.patch + (0 if self.pre else 1))


ZERO = Version(0, 0, 0)


def parse_version(text: str) -> Version:
    """``1.2.0``, ``v1.2.0`` or ``1.2.0-rc.1`` -> :class:`Version`; anything else is a usage error."""
    match = _PATTERN.fullmatch(text.strip())
    if match is None:
        raise ReleaseError(
            f"release version {text!r} is not a semantic version: expected MAJOR.MINOR.PATCH "
            "(e.g. 1.2.0, or 1.2.0-rc.1), or --bump patch|minor|major"
        )
    pre = tuple(match["pre"].split(".")) if match["pre"] else ()
    return Version(int(match["major"]), int(match["minor"]), int(match["patch"]), pre)


def version_of_tag(tag: str) -> Version | None:
    """The version a release tag names (``v1.2.0``), ``None`` for any other tag."""
    if not tag.startswith(TAG_PREFIX):
        return None
    try:
        return parse_version(tag)
    except ReleaseError:
        return None
