"""Progress of a long step on stderr: a live display on a terminal, plain lines in a log.

The library never prints; it tells a :class:`linkage.types.StageProgress`
callback how far a step has come (stage, done, total). :class:`StepProgress`
is that callback for the command line.

* On a terminal: a transient rich display, one line per stage with its bar,
  count, elapsed time and, where the stage is countable, an ETA.
* When stderr is a pipe or a file: plain one-line updates, no escape codes,
  at most one every :data:`PLAIN_INTERVAL` seconds (a heartbeat names the
  stage still running, so a long stage shows it is alive). A step shorter
  than that prints nothing, so a short step's only stderr line is its error,
  if any. ``NARWHAL_PROGRESS_SECONDS`` sets the interval (0: every update).

Stage names are the library's fixed words; no value from the data is shown.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from parties.common import console

__all__ = ["INTERVAL_VARIABLE", "PLAIN_INTERVAL", "StepProgress", "plain_interval"]

PLAIN_INTERVAL = 10.0
"""Seconds between two plain progress lines, and before the first."""

INTERVAL_VARIABLE = "NARWHAL_PROGRESS_SECONDS"
"""Environment variable that overrides :data:`PLAIN_INTERVAL` (seconds; 0: every update)."""


def plain_interval() -> float:
    """Seconds between plain lines: :data:`INTERVAL_VARIABLE` if it holds seconds >= 0."""
    try:
        seconds = float(os.environ.get(INTERVAL_VARIABLE, PLAIN_INTERVAL))
    except ValueError:
        return PLAIN_INTERVAL
    return seconds if seconds >= 0 else PLAIN_INTERVAL


class _CountColumn(ProgressColumn):
    """``done/total`` for a counted stage, nothing for one that cannot be counted."""

    def render(self, task: Task) -> Text:
        if task.total is None or not task.fields.get("counted", False):
            return Text("")
        return Text(f"{int(task.completed):,}/{int(task.total):,}", style="progress.download")


class _EtaColumn(TimeRemainingColumn):
    """Time left for a counted, unfinished stage; nothing otherwise."""

    def render(self, task: Task) -> Text:
        if not task.fields.get("counted", False) or task.finished:
            return Text("")
        return super().render(task)


def _clock_time(seconds: float) -> str:
    """``H:MM:SS``, as rich shows elapsed time."""
    return str(timedelta(seconds=max(int(seconds), 0)))


class StepProgress:
    """A :class:`linkage.types.StageProgress` that shows one step's stages on stderr.

    Use it as a context manager around the step and pass it (or call it)
    wherever a stage starts or advances::

        with StepProgress("provider tokenize") as progress:
            progress.stage("pseudonymizing households")
            write_token_message(..., progress=progress)

    or, where a step's stages are blocks apart, around each block::

        steps = StepProgress("provider aggregate", stages=2)
        with steps.during("checking the viewing log"):
            ...

    Entering is re-entrant: the display runs from the outermost ``with`` to
    its end, and stage numbers and the plain lines' pace run on across blocks.

    Args:
        step: The command, as the user typed it (``"provider aggregate"``).
        on: Where to show it; stderr by default, so results on stdout stay clean.
        stages: How many stages the step goes through, when that is known up
            front: each stage is then numbered (``[2/4]``).
        interval: Seconds between plain lines (not on a terminal); default
            :func:`plain_interval`.
        clock: Monotonic seconds (a parameter, so tests need not sleep).
        live: Force the live display (True) or plain lines (False); by
            default live exactly when ``on`` is a terminal.
        heartbeat: Plain lines only: repeat the running stage every
            ``interval`` from a background thread (tests call :meth:`tick`).
    """

    def __init__(
        self,
        step: str,
        *,
        on: Console = console,
        stages: int | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        live: bool | None = None,
        heartbeat: bool = True,
    ) -> None:
        self.step = step
        self._on = on
        self._stages = stages
        self._interval = plain_interval() if interval is None else interval
        self._clock = clock
        self._live = on.is_terminal if live is None else live
        self._heartbeat = heartbeat and not self._live and self._interval > 0
        self._lock = threading.Lock()
        self._depth = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._beat: tuple[threading.Thread, threading.Event] | None = None
        # The stage running: its name, count, total and start; the last plain line's time.
        self._stage: str | None = None
        self._done = 0
        self._total: int | None = None
        self._seen = 0
        self._stage_started = 0.0
        self._last_line: float | None = None

    def __enter__(self) -> StepProgress:
        self._depth += 1
        if self._depth > 1:
            return self
        if self._last_line is None:
            self._last_line = self._clock()  # the first plain line waits one interval
        if self._live:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                _CountColumn(),
                TimeElapsedColumn(),
                _EtaColumn(),
                console=self._on,
                transient=True,
            )
            self._progress.start()
        elif self._heartbeat:
            stop = threading.Event()
            thread = threading.Thread(target=self._beating, args=(stop,), daemon=True)
            self._beat = (thread, stop)
            thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth > 0:
            return
        if self._beat is not None:
            thread, stop = self._beat
            stop.set()
            thread.join()
            self._beat = None
        if self._progress is not None:
            self._progress.stop()
        with self._lock:
            self._progress, self._task, self._stage = None, None, None

    @contextlib.contextmanager
    def during(self, name: str) -> Iterator[None]:
        """Show the uncounted stage ``name`` while the ``with`` block runs."""
        with self:
            self.stage(name)
            yield

    def stage(self, name: str) -> None:
        """Start a stage that cannot be counted (elapsed time only)."""
        self(name, 0, None)

    def __call__(self, stage: str, done: int, total: int | None, /) -> None:
        """Show that ``stage`` has ``done`` of ``total`` units behind it (None: uncounted)."""
        with self._lock:
            now = self._clock()
            new = stage != self._stage
            if new:
                self._finish_task()
                self._stage, self._stage_started, self._seen = stage, now, self._seen + 1
            self._done, self._total = done, total
            if self._progress is None:
                self._plain_line(now)
                return
            counted = total is not None
            if new or self._task is None:
                self._task = self._progress.add_task(
                    self._label(), total=total, completed=done, counted=counted
                )
            else:
                self._progress.update(self._task, total=total, completed=done, counted=counted)

    def tick(self) -> None:
        """Write the running stage's plain line if one is due (the heartbeat's call)."""
        with self._lock:
            if self._progress is None:
                self._plain_line(self._clock())

    def _beating(self, stop: threading.Event) -> None:
        while not stop.wait(self._interval):
            self.tick()

    def _plain_line(self, now: float) -> None:
        """The running stage as one plain line, if the last one is ``interval`` old."""
        if self._stage is None:
            return
        if self._last_line is not None and now - self._last_line < self._interval:
            return
        self._last_line = now
        figures = _figures(self._done, self._total, now - self._stage_started)
        self._on.print(
            f"narwhal: {self.step}: {self._label()}{figures}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    def _label(self) -> str:
        stage = self._stage or ""
        if self._stages is None:
            return stage
        return f"[{min(self._seen, self._stages)}/{self._stages}] {stage}"

    def _finish_task(self) -> None:
        """Mark the live display's current stage done (its bar full, its clock stopped)."""
        if self._progress is None or self._task is None:
            return
        task = next(t for t in self._progress.tasks if t.id == self._task)
        total = task.total if task.total is not None else 1.0
        self._progress.update(self._task, total=total, completed=total)


def _figures(done: int, total: int | None, elapsed: float) -> str:
    """`` 300/1,000 (30%), 0:00:05 elapsed, about 0:00:12 left`` (the count only if known)."""
    if total is None:
        return f" ({_clock_time(elapsed)} elapsed)" if elapsed >= 1 else ""
    share = done / total if total else 1.0
    text = f" {done:,}/{total:,} ({share:.0%}), {_clock_time(elapsed)} elapsed"
    if 0 < done < total:
        text += f", about {_clock_time(elapsed * (total - done) / done)} left"
    return text
