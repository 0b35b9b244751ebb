"""The 0.1 module names users and older docs imported still work and name the same objects."""

from __future__ import annotations

import importlib

import pytest

ALIASES = {
    "harness.strategies": "harness.testing.strategies",
    "harness._mock": "harness.testing",
    "harness._values": "harness.runtime._values",
    "harness._plugin_snapshot": "harness.pytest_plugin._snapshot",
}


@pytest.mark.parametrize(("alias", "home"), sorted(ALIASES.items()))
def test_an_alias_re_exports_the_defining_objects(alias: str, home: str) -> None:
    old = importlib.import_module(alias)
    new = importlib.import_module(home)
    assert old.__all__, alias
    for name in old.__all__:
        found = getattr(new, name, None)
        if found is None:  # the scenario model moved from strategies to harness.testing
            found = getattr(importlib.import_module("harness.testing"), name)
        assert getattr(old, name) is found, f"{alias}.{name}"


def test_the_layout_test_knows_every_alias() -> None:
    from tests.test_layout import ALIASES as LISTED

    assert set(ALIASES) == set(LISTED)
