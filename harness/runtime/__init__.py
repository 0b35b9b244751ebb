"""Linking and calling: the canonical ABI, values, calls, proxies, one runtime per extension, `Host`.

Imports `harness.model` and `harness.pipeline`, never the CLI, the plugin or the testing kit.
"""
