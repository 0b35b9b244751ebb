"""Graph algorithms for the dependency graph: cycles (SCCs), shortest paths, load order.

Why not `graphlib.TopologicalSorter` for cycles: its `CycleError` reports a
single cycle and stops, while resolution must name *every* extension caught in
*any* cycle (each gets its own diagnostic) and keep loading the rest. Tarjan's
algorithm finds all strongly connected components in one linear pass; it is
written iteratively so a long dependency chain cannot hit Python's recursion limit.

Graphs are plain mappings `node -> successors` where an edge `a -> b` means
"a imports from b". All functions are deterministic for a given mapping:
successors are visited in sorted order.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["cycle_through", "shortest_path", "strongly_connected", "topological_order"]

Graph = Mapping[str, Sequence[str]]


def strongly_connected(nodes: Iterable[str], succ: Graph) -> list[list[str]]:
    """Every strongly connected component (members sorted), iterative Tarjan.

    Successors that are not in `nodes` are ignored. Components come out in
    reverse topological order of the condensation (providers first).
    """
    node_list = sorted(set(nodes))
    present = set(node_list)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    counter = 0

    for root in node_list:
        if root in index:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[str, Iterable[str]]] = [(root, iter(sorted(succ.get(root, ()))))]
        while work:
            node, it = work[-1]
            descended = False
            for nxt in it:
                if nxt not in present:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(succ.get(nxt, ())))))
                    descended = True
                    break
                if nxt in on_stack and index[nxt] < low[node]:
                    low[node] = index[nxt]
            if descended:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                if low[node] < low[parent]:
                    low[parent] = low[node]
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                component.sort()
                result.append(component)
    return result


def shortest_path(start: str, goal: str, succ: Graph, allowed: Iterable[str] | None = None) -> list[str]:
    """A shortest path `start … goal` (BFS, sorted successors); [] if none.

    With start == goal this is a shortest cycle, `[start, …, start]`.
    """
    inside = None if allowed is None else set(allowed)
    parent: dict[str, str] = {}
    queue: deque[str] = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        for nxt in sorted(succ.get(node, ())):
            if inside is not None and nxt not in inside:
                continue
            if nxt == goal:
                path = [goal, node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                path.reverse()
                return path
            if nxt not in seen:
                seen.add(nxt)
                parent[nxt] = node
                queue.append(nxt)
    return []


def _bfs_tree(start: str, succ: Graph, inside: set[str]) -> dict[str, str]:
    parent: dict[str, str] = {}
    queue: deque[str] = deque([start])
    seen = {start}
    while queue:
        node = queue.popleft()
        for nxt in sorted(succ.get(node, ())):
            if nxt in inside and nxt not in seen:
                seen.add(nxt)
                parent[nxt] = node
                queue.append(nxt)
    return parent


def cycle_through(component: Sequence[str], succ: Graph, max_walks: int = 200) -> dict[str, list[str]]:
    """For each member of a cyclic component, a concrete closed path that shows the cycle.

    Every path starts and ends at the component's smallest member. Members on the
    shortest cycle through it get that cycle; any other member gets the walk
    `smallest … member … smallest` (shortest paths both ways), so its own
    message shows how it is caught. Components larger than `max_walks` give
    every member the shortest cycle, which keeps the cost linear.
    """
    members = sorted(component)
    first = members[0]
    inside = set(members)
    base = shortest_path(first, first, succ, inside)
    on_base = set(base)
    paths = {m: base for m in members if m in on_base}
    missing = [m for m in members if m not in on_base]
    if not missing:
        return paths
    if len(members) > max_walks:
        return {m: base for m in members}
    forward = _bfs_tree(first, succ, inside)
    reverse: dict[str, list[str]] = {}
    for node in members:
        for nxt in succ.get(node, ()):
            if nxt in inside:
                reverse.setdefault(nxt, []).append(node)
    backward = _bfs_tree(first, reverse, inside)
    for m in missing:
        out = [m]
        while out[-1] != first:
            out.append(forward[out[-1]])
        out.reverse()  # first … m
        back = m
        while back != first:
            back = backward[back]
            out.append(back)  # m … first
        paths[m] = out
    return paths


def topological_order(nodes: Iterable[str], deps: Graph) -> list[str]:
    """Dependencies before dependents; among ready nodes the smallest name first.

    Heap-based Kahn: O(E + V log V) and independent of the input order. Edges to
    nodes outside `nodes` are ignored; nodes left on a cycle are not returned.
    """
    present = set(nodes)
    indegree: dict[str, int] = dict.fromkeys(present, 0)
    dependents: dict[str, list[str]] = {}
    for node in present:
        for dep in set(deps.get(node, ())):
            if dep in present:
                indegree[node] += 1
                dependents.setdefault(dep, []).append(node)
    ready = [n for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for dependent in dependents.get(node, ()):
            indegree[dependent] -= 1
            if indegree[dependent] == 0:
                heapq.heappush(ready, dependent)
    return order
