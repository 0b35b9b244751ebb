"""The threads `Host.acall` runs guest calls on: one bounded pool shared by every extension.

A thread per extension (a one-worker `ThreadPoolExecutor` each) kept 3000 idle threads alive
after 3000 extensions were called once. Here each extension has a `Lane`, a queue of its
calls that at most one worker runs at a time (calls into one extension stay serialized, in
order), and lanes with work wait for one of at most `MAX_WORKERS` threads of the process.
So calls into different extensions run in parallel up to that many at once; workers that
find nothing to do for `IDLE_SECONDS` exit. A worker runs up to `BATCH` calls of a lane,
then puts the lane back at the end of the queue if it has more, so a flooded extension
does not keep the others waiting.

Workers are started with the big native stack guest calls need (`_threads.big_stacks`).
At interpreter exit, as with `concurrent.futures`, queued calls still run and the workers
are then joined.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ._threads import big_stacks

__all__ = ["BATCH", "IDLE_SECONDS", "MAX_WORKERS", "Lane", "worker_count"]

MAX_WORKERS = 32  # threads running async guest calls, for all hosts of the process
IDLE_SECONDS = 2.0  # an idle worker exits after this long
BATCH = 32  # calls of one lane a worker runs before letting other lanes go first

_Job = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...]]


class _Pool:
    """Ready lanes wait in a queue for a worker. Every lane put there while fewer than
    `MAX_WORKERS` threads exist has a worker of its own: a waiting one it claims, or a new one;
    so calls into different extensions never wait for each other below that bound."""

    def __init__(self) -> None:
        self._ready: queue.SimpleQueue[tuple[Lane, bool] | None] = queue.SimpleQueue()  # None: exit
        self._lock = threading.Lock()
        self._threads = 0
        self._waiting = 0  # workers waiting for a lane
        self._claimed = 0  # of those, how many a lane in the queue counts on
        self._names = itertools.count(1)
        register = getattr(threading, "_register_atexit", None)  # what concurrent.futures uses
        if register is not None:
            register(self._at_exit)

    def schedule(self, lane: Lane) -> None:
        with self._lock:
            claimed = self._waiting > self._claimed
            spawn = not claimed and self._threads < MAX_WORKERS
            self._claimed += claimed
            self._threads += spawn
        self._ready.put((lane, claimed))  # not claimed nor spawned: all workers busy, it waits
        if spawn:
            with big_stacks():
                threading.Thread(target=self._work, name=f"ext-harness-async-{next(self._names)}").start()

    def count(self) -> int:
        with self._lock:
            return self._threads

    def _work(self) -> None:
        waiting = False  # a new worker is not counted: it was started for a lane already queued
        while True:
            try:
                item = self._ready.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    self._waiting += not waiting
                    waiting = True
                    if self._waiting > self._claimed:  # no lane counts on this worker: leave
                        self._waiting -= 1
                        self._threads -= 1
                        return
                continue
            with self._lock:
                self._waiting -= waiting
                if item is None:
                    self._threads -= 1
                    return
                lane, claimed = item
                self._claimed -= claimed
            lane.run_some()
            del lane, item
            with self._lock:
                self._waiting += 1
            waiting = True

    def _at_exit(self) -> None:
        with self._lock:
            n = self._threads
        for _ in range(n):
            self._ready.put(None)


_POOL = _Pool()


def worker_count() -> int:
    """Worker threads alive now (for tests and diagnostics)."""
    return _POOL.count()


class Lane:
    """The async calls of one extension: run in order, one at a time, on the shared workers.

    `submit` mirrors `ThreadPoolExecutor.submit` (a `concurrent.futures.Future`, and
    `RuntimeError` once `shutdown` was called), so callers can `asyncio.wrap_future` it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: deque[_Job] = deque()
        self._busy = False  # queued in the pool, or being run by a worker
        self._stopped = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        with self._lock:
            if self._stopped:
                raise RuntimeError("cannot schedule new calls after shutdown")
            self._jobs.append((fut, fn, args))
            if self._busy:
                return fut
            self._busy = True
        _POOL.schedule(self)
        return fut

    def shutdown(self) -> None:
        """Refuse new calls; queued ones still run."""
        with self._lock:
            self._stopped = True

    def run_some(self) -> None:
        """Run up to `BATCH` queued calls (on a worker), then hand the lane back or release it."""
        for _ in range(BATCH):
            with self._lock:
                if not self._jobs:
                    self._busy = False
                    return
                fut, fn, args = self._jobs.popleft()
            if fut.set_running_or_notify_cancel():  # False: cancelled while queued
                try:
                    result = fn(*args)
                except BaseException as exc:  # as ThreadPoolExecutor does: the caller gets it
                    fut.set_exception(exc)
                    del exc  # no cycle through the traceback
                else:
                    fut.set_result(result)
            del fut, fn, args
        with self._lock:
            if not self._jobs:
                self._busy = False
                return
        _POOL.schedule(self)
