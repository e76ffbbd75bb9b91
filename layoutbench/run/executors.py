"""Executors: where the chains of a plan (:mod:`layoutbench.plan.work`) run.

Two implementations behind one small interface, as rechunker's are: :class:`SerialExecutor`
runs every chain in this process, in order (the default; dask is not imported), and
:class:`DaskExecutor` runs them on a dask.distributed cluster, a :class:`LocalCluster` started
for the run (``--workers N``) or an existing one (``--scheduler-address``). Both yield each
chain's final result with its index, as chains finish. They are registered by name in
:data:`EXECUTORS` (``serial``, ``dask``), and :func:`open_executor` picks one from the
command-line options.

Timed steps (``Step.timed``) hold a lock named after the machine for their whole run
(``distributed.Lock``), so timings never overlap on one machine while builds run beside them;
a worker waiting for that lock leaves its thread to other work (``secede``).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from layoutbench.errors import UserError
from layoutbench.plan.work import Chain, window

log = logging.getLogger(__name__)

Actions = Mapping[str, Callable[..., Any]]


class Executor(Protocol):
    """Runs chains; yields ``(index, result of the chain's last step)`` as chains finish."""

    name: str
    #: parallel slots (1 for serial): how many chains are worth keeping in flight
    workers: int
    #: whether steps run in this process (arguments need not travel)
    in_process: bool

    def run(self, chains: Sequence[Chain], actions: Actions) -> Iterator[tuple[int, Any]]: ...

    def after_close(self, fn: Callable[[], Any]) -> None: ...

    def close(self) -> None: ...


def _run_chain(chain: Chain, actions: Actions) -> Any:
    value: Any = None
    for i, step in enumerate(chain.steps):
        args = step.args if i == 0 else (value, *step.args)
        t0 = time.perf_counter()
        value = actions[step.action](*args)
        log.debug("%s: %s done in %.1f s", chain.label, step.action, time.perf_counter() - t0)
    return value


class SerialExecutor:
    """Every chain in this process, one after another, in the plan's order."""

    name = "serial"
    workers = 1
    in_process = True

    def run(self, chains: Sequence[Chain], actions: Actions) -> Iterator[tuple[int, Any]]:
        for i, chain in enumerate(chains):
            yield i, _run_chain(chain, actions)

    def after_close(self, fn: Callable[[], Any]) -> None:
        """Nothing to wait for: this process removes its own temporaries as it goes."""

    def close(self) -> None:
        pass


def timed_lock_name(host: str | None = None) -> str:
    """The lock every timed step on ``host`` (default: this machine) holds."""
    return f"layoutbench-timed-{host or socket.gethostname()}"


class _Done:
    """A step's result on a worker, with where and how long it ran (for ``-v`` logs)."""

    __slots__ = ("trail", "value")

    def __init__(self, value: Any, trail: tuple[str, ...]) -> None:
        self.value = value
        self.trail = trail


def _remote_step(action: Callable[..., Any], args: tuple[Any, ...], timed: bool) -> _Done:
    """A step on a dask worker: timed ones hold the machine's lock (leaving the worker's
    thread to other tasks while they wait, see the module doc)."""
    from distributed import Lock, get_worker, secede

    trail: tuple[str, ...] = ()
    if args and isinstance(args[0], _Done):  # the previous step's result
        trail, args = args[0].trail, (args[0].value, *args[1:])
    t0 = time.perf_counter()
    waited = 0.0
    if not timed:
        value = action(*args)
    else:
        secede()  # waiting (and measuring) does not occupy a slot builds could use
        with Lock(timed_lock_name()):
            waited = time.perf_counter() - t0
            value = action(*args)
    spent = time.perf_counter() - t0 - waited
    note = f"{action.__name__} on {get_worker().name} in {spent:.1f} s"
    return _Done(value, (*trail, note + (f" (waited {waited:.1f} s)" if waited > 0.5 else "")))


class DaskExecutor:
    """Chains on a dask.distributed cluster: started here (``workers``) or reached at
    ``address`` (nothing is started then, and nothing stopped)."""

    name = "dask"
    in_process = False

    def __init__(self, workers: int | None = None, address: str | None = None,
                 threads_per_worker: int = 1) -> None:
        from distributed import Client, LocalCluster

        self._cluster: Any = None
        self._after: list[Callable[[], Any]] = []
        if address is not None:
            try:
                self.client = Client(address, timeout="10s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise UserError(f"--scheduler-address {address}: cannot reach a dask "
                                f"scheduler there ({exc})") from None
        else:
            self._cluster = LocalCluster(n_workers=workers or 2,
                                         threads_per_worker=threads_per_worker, processes=True,
                                         dashboard_address="127.0.0.1:0")
            self.client = Client(self._cluster)
        info = self.client.scheduler_info()
        self.workers = max(1, sum(w.get("nthreads", 1) for w in info["workers"].values()))
        log.info("dask cluster: %d worker thread(s) at %s; dashboard %s", self.workers,
                 info.get("address", "?"), self.client.dashboard_link)

    def run(self, chains: Sequence[Chain], actions: Actions) -> Iterator[tuple[int, Any]]:
        import secrets

        from distributed import as_completed

        token = secrets.token_hex(4)
        pending = list(enumerate(chains))[::-1]
        futures: dict[Any, int] = {}
        done = as_completed()
        try:
            def submit() -> None:
                i, chain = pending.pop()
                future: Any = None
                for k, step in enumerate(chain.steps):
                    args = step.args if k == 0 else (future, *step.args)
                    # later steps first: a built variant is measured (and leaves the store)
                    # before another is built; earlier chains before later ones
                    future = self.client.submit(_remote_step, actions[step.action], args,
                                                step.timed, pure=False,
                                                priority=k * 1_000_000 - i,
                                                key=f"{step.action}-{i}-{token}")
                futures[future] = i
                done.add(future)

            for _ in range(window(len(chains), self.workers)):
                if pending:
                    submit()
            for future in done:
                i = futures.pop(future)
                done_step: _Done = future.result()  # a step's error is raised here, as in serial
                log.debug("%s: %s", chains[i].label, "; ".join(done_step.trail))
                if pending:
                    submit()
                yield i, done_step.value
        finally:
            if futures:
                self.client.cancel(list(futures))

    def after_close(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` once the cluster is closed (e.g. remove the temporaries of workers stopped
        mid-write, which only a dead owner lets :func:`~layoutbench.atomic.remove_stale` take)."""
        self._after.append(fn)

    def close(self) -> None:
        # a cluster torn down (after Ctrl-C too) logs its cancelled tasks and lost connections:
        # expected, so not shown
        quiet = logging.getLogger("distributed")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            with contextlib.suppress(Exception):
                self.client.close()
            if self._cluster is not None:
                with contextlib.suppress(Exception):
                    self._cluster.close()
        finally:
            quiet.setLevel(level)
        for fn in self._after:
            fn()
        self._after.clear()


#: Executors by name: what ``--workers`` and ``--scheduler-address`` choose between.
EXECUTORS: dict[str, Callable[..., Executor]] = {"serial": SerialExecutor,
                                                 "dask": DaskExecutor}


def get_executor(name: str, **options: Any) -> Executor:
    try:
        factory = EXECUTORS[name]
    except KeyError:
        raise UserError(f"executor {name!r}: expected one of {', '.join(EXECUTORS)}") from None
    return factory(**options)


def check_options(workers: int | None, address: str | None) -> None:
    """One line for options that cannot work, before anything starts."""
    if workers is not None and workers < 1:
        raise UserError(f"--workers {workers}: expected at least 1 worker")
    if workers is not None and address is not None:
        raise UserError("--workers starts a cluster and --scheduler-address uses one: give one")
    if address is not None:
        from urllib.parse import urlsplit

        parts = urlsplit(address if "://" in address else f"tcp://{address}")
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in ("tcp", "tls", "ws", "wss", "inproc") or not parts.hostname \
                or port is None:
            raise UserError(f"--scheduler-address {address}: expected tcp://HOST:PORT")


@contextlib.contextmanager
def open_executor(workers: int | None = None, address: str | None = None) -> Iterator[Executor]:
    """The executor the options ask for: serial unless ``workers`` or ``address``; a cluster
    started here is closed when the block ends, also on Ctrl-C or an error."""
    check_options(workers, address)
    executor = get_executor("serial") if workers is None and address is None else \
        get_executor("dask", workers=workers, address=address)
    try:
        yield executor
    finally:
        executor.close()


def as_executor(executor: Executor | str | None) -> Executor:
    """An executor, or one by name with its defaults (``None``: serial)."""
    if executor is None:
        return SerialExecutor()
    if isinstance(executor, str):
        return get_executor(executor)
    return executor
