"""Strategies for property tests of extensions: moved to `harness.testing.strategies`; this name keeps
suites written against 0.1 working."""

from .testing import ExpectedResolution, ExtraExport, GraphEdge, GraphNode, GraphScenario
from .testing.strategies import (
    SCALARS,
    dependency_graphs,
    permutations_of,
    python_classes,
    tagged,
    values,
    values_equal,
    wit_types,
)

__all__ = [
    "SCALARS", "ExpectedResolution", "ExtraExport", "GraphEdge", "GraphNode", "GraphScenario",
    "dependency_graphs", "permutations_of", "python_classes", "tagged", "values", "values_equal", "wit_types",
]
