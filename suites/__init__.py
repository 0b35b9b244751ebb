"""The conformance suite run by `pytest --ext-suite` (installed as `harness.suites`)."""
