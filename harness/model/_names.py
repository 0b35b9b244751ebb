"""Interface names (`ns:pkg/iface@1.2.3`) and the linker's semver rule.

The rule is wasmtime's (`crates/wasmtime/src/runtime/component/linker.rs`,
"alternate lookup key"): a version `1.2.3` is looked up by major `1`, `0.2.3` by
`0.2`, while `0.0.x` and pre-releases match only exactly; unversioned names match
only unversioned ones. Among compatible providers the newest version wins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Literal

__all__ = ["ImportKind", "InterfaceName", "Version", "classify", "compat_key", "parse_function_ref"]

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_ID = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
_IFACE = re.compile(rf"^(%?{_ID}):((?:%?{_ID}:)*%?{_ID})/(%?{_ID})(?:@(.+))?$")

ImportKind = Literal["wasi", "host", "library", "other"]


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre: str = ""
    build: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        m = _SEMVER.fullmatch(text)
        if not m:
            raise ValueError(f"not a semantic version: {text!r}")
        return cls(int(m[1]), int(m[2]), int(m[3]), m[4] or "", m[5] or "")

    def _pre_key(self) -> tuple[tuple[int, int | str], ...]:
        if not self.pre:
            return ((2, 0),)  # a release sorts after all its pre-releases
        return tuple((0, int(p)) if p.isdigit() else (1, p) for p in self.pre.split("."))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        a = (self.major, self.minor, self.patch, self._pre_key())
        b = (other.major, other.minor, other.patch, other._pre_key())
        return a < b  # type: ignore[operator]

    def __str__(self) -> str:
        s = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            s += f"-{self.pre}"
        if self.build:
            s += f"+{self.build}"
        return s


def compat_key(version: Version | None) -> str | None:
    """The key two versions must share to be compatible (wasmtime's rule)."""
    if version is None:
        return None
    if version.pre:
        return str(version)
    if version.major > 0:
        return f"{version.major}"
    if version.minor > 0:
        return f"0.{version.minor}"
    return f"0.0.{version.patch}"


@dataclass(frozen=True)
class InterfaceName:
    """A parsed `namespace:package/interface@version` name."""

    namespace: str
    package: str
    interface: str
    version: Version | None

    @classmethod
    def parse(cls, text: str) -> InterfaceName | None:
        """None for names that are not interface names (plain kebab names)."""
        m = _IFACE.fullmatch(text)
        if not m:
            return None
        version = None
        if m[4] is not None:
            try:
                version = Version.parse(m[4])
            except ValueError:
                return None
        return cls(m[1], m[2], m[3], version)

    @property
    def unversioned(self) -> str:
        """`ns:pkg/iface`: the key providers are indexed by."""
        return f"{self.namespace}:{self.package}/{self.interface}"

    @property
    def package_id(self) -> str:
        return f"{self.namespace}:{self.package}"

    def compatible_with(self, other: InterfaceName) -> bool:
        """Can an export named `other` serve an import named `self`?"""
        return self.unversioned == other.unversioned and compat_key(self.version) == compat_key(
            other.version
        )

    def __str__(self) -> str:
        return self.unversioned + (f"@{self.version}" if self.version else "")


def classify(name: str) -> ImportKind:
    """Who serves an import: the WASI sandbox, the host API, another extension, or nobody."""
    parsed = InterfaceName.parse(name)
    if parsed is None:
        return "other"
    if parsed.namespace == "wasi":
        return "wasi"
    if parsed.package_id == "ext:host":
        return "host"
    return "library"


def parse_function_ref(ref: str) -> tuple[str | None, str]:
    """Split `ns:pkg/iface@ver#func` (or a bare top-level `func`) into (interface, func)."""
    if "#" in ref:
        iface, _, func = ref.rpartition("#")
        return iface, func
    if "." in ref and "/" in ref:
        iface, _, func = ref.rpartition(".")
        if InterfaceName.parse(iface):
            return iface, func
    return None, ref
