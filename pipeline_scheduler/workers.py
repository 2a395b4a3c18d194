"""Where blocking work runs, so the server's event loop never waits on it.

- ``db``: one thread for every database call (SQLAlchemy is synchronous; one thread keeps
  SQLite writes from contending with each other inside this process, and APScheduler's
  job-store writes run there too, in the same hop as the job's own row).
- ``fs``: two threads for file work (hashes, log reads, folder removal).
- ``network``: threads for outgoing webhooks, which may wait up to their timeout.

``Background`` keeps the tasks a collaborator starts and does not await (retries waiting
for their delay, alerts, watch loops), so they can all be stopped with the service.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError

from .errors import StoreUnavailableError

T = TypeVar("T")


class Workers:
    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-scheduler-db")
        self._fs = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pipeline-scheduler-fs")
        self._network = ThreadPoolExecutor(max_workers=4, thread_name_prefix="pipeline-scheduler-net")

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a database call on the database thread; a database that cannot be used
        (locked by another program, disk error) becomes a 503 the person can act on."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._db, functools.partial(fn, *args, **kwargs))
        except OperationalError as err:
            self.log.error("amphi-scheduler database error: %s", err)
            raise StoreUnavailableError(
                "The scheduler database is not usable right now "
                f"({str(err.orig) if err.orig else err}); if another program holds it locked, "
                "try again when it is done."
            ) from None

    def db_post(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        """Hand a database call to the database thread without waiting for it: calls run
        in the order they are handed over, so a later ``db`` call sees its effect, and once
        that later call has answered this one is done. Costs the event loop no wake-up:
        read its answer (or error) from the returned future then."""
        return self._db.submit(functools.partial(fn, *args, **kwargs))

    async def fs(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.fs_now(fn, *args, **kwargs)

    def fs_now(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        """Start file work now and answer its future, to await later (one that may never be
        awaited needs a done callback that reads its error)."""
        return asyncio.get_running_loop().run_in_executor(self._fs, functools.partial(fn, *args, **kwargs))

    async def network(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._network, functools.partial(fn, *args, **kwargs))

    def shutdown(self) -> None:
        for pool in (self._db, self._fs, self._network):
            pool.shutdown(wait=False)


class Background:
    """Tasks started and not awaited, kept until they end and cancelled on ``stop``."""

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("amphi-scheduler background task failed", exc_info=task.exception())

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
