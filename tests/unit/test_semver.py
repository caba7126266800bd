"""Release versions: semver parsing, precedence and bumps (``modelmill.core.semver``)."""

from __future__ import annotations

import pytest

from modelmill.core.errors import ReleaseError
from modelmill.core.semver import Version, parse_version, version_of_tag


def test_parse_and_tag() -> None:
    assert parse_version("1.2.3") == Version(1, 2, 3)
    assert parse_version("v0.10.0").tag == "v0.10.0"
    assert str(parse_version("1.0.0-rc.1")) == "1.0.0-rc.1"
    assert parse_version(" 2.0.0-alpha.beta-1 ").pre == ("alpha", "beta-1")


@pytest.mark.parametrize(
    "text", ["1.2", "1.2.3.4", "01.2.3", "1.2.3+build", "1.2.3-", "1.2.3-01", "latest", ""]
)
def test_not_semver_is_a_release_error(text: str) -> None:
    with pytest.raises(ReleaseError, match="not a semantic version"):
        parse_version(text)


def test_precedence_is_semver_not_text() -> None:
    ordered = ["0.9.0", "0.10.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "2.0.0"]  # fmt: skip
    versions = [parse_version(v) for v in ordered]
    assert sorted(reversed(versions)) == versions
    assert parse_version("1.0.0") == parse_version("v1.0.0")


def test_bumps() -> None:
    v = parse_version("1.2.3")
    assert (str(v.bump("patch")), str(v.bump("minor")), str(v.bump("major"))) == ("1.2.4", "1.3.0", "2.0.0")
    assert str(parse_version("1.3.0-rc.1").bump("patch")) == "1.3.0"  # a prerelease bumps to its release
    with pytest.raises(ReleaseError, match="expected one of major, minor, patch"):
        v.bump("huge")


def test_only_release_tags_have_versions() -> None:
    assert version_of_tag("v1.2.3") == Version(1, 2, 3)
    assert version_of_tag("1.2.3") is None and version_of_tag("v1.2") is None
    assert version_of_tag("nightly") is None
