"""discover → analyse → resolve, and `inspect` over them: what to load, and why not.

Imports only `harness.model`; nothing here links or calls an extension.
"""
