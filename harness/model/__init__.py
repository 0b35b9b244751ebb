"""The data every layer shares: names, the WIT type model, diagnostics, codes, errors, frozen records.

The lowest layer: it imports no other layer and no wasmtime.
"""
