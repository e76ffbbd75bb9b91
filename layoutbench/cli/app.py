"""The ``layoutbench`` group: global options, logging, errors, and the options commands share.

Data goes to stdout (``--format json`` for machines); progress (bars and INFO messages) and
logs go to stderr, silenced by ``-q``. A user mistake is one line on stderr and exit status 2,
never a traceback.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from layoutbench import interrupts
from layoutbench.errors import UserError, causes
from layoutbench.interrupts import install as install_interrupts
from layoutbench.plan.layout import LayoutError

F = TypeVar("F", bound=Callable[..., Any])

#: Libraries whose debug logs carry request headers (signatures, the access key id): they stay
#: at WARNING at every verbosity (see README, "Your file in the cloud").
QUIET_LIBRARIES = ("botocore", "boto3", "aiobotocore", "s3transfer", "urllib3", "s3fs",
                   "fsspec", "asyncio", "numcodecs", "h5py", "hdmf", "pynwb")


@dataclass(frozen=True, slots=True)
class Settings:
    """What the global options decided, handed to every command through ``ctx.obj``."""

    verbose: int = 0
    quiet: bool = False

    @property
    def progress(self) -> bool:
        """Progress bars on stderr (off with ``-q``)."""
        return not self.quiet


def _raised_by_hdf5(exc: BaseException) -> bool:
    """Whether ``exc`` came out of h5py's compiled code (its frames name ``h5py/*.pyx``)."""
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if "h5py" in name and name.endswith(".pyx"):
            return True
        tb = tb.tb_next
    return False


#: What HDF5 says when it cannot read a file's metadata or data (a failure while writing, e.g.
#: a filter's callback, is no sign of a damaged input and keeps its traceback).
_READ_FAILURE = re.compile(r"read|visit|open object|B-tree|signature|checksum|symbol table|"
                           r"object header|dataspace|addr overflow", re.IGNORECASE)
_WRITE_FAILURE = re.compile(r"create|write", re.IGNORECASE)


def _broken_response(exc: BaseException) -> bool:
    """A response cut short by the server (a body shorter than its Content-Length), however
    deep in fsspec or h5py it surfaced (as the exception or its cause)."""
    return any(type(e).__name__ in ("ClientPayloadError", "ContentLengthError",
                                    "IncompleteRead", "ServerDisconnectedError")
               for e in causes(exc, depth=5))


def _is_hdf5(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


class _Group(click.Group):
    """Turns user errors into one line on stderr and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        argv = [*getattr(ctx, "_protected_args", []), *ctx.args]  # before click consumes them
        try:
            out = super().invoke(ctx)
            # a signal whose interrupt a finaliser swallowed, after the last checkpoint: the
            # command was interrupted, whatever it finished (never exit 0 after Ctrl-C)
            interrupts.checkpoint()
            return out
        except (UserError, LayoutError) as exc:
            signum = interrupts.requested()  # an error the interrupt caused is the interrupt
            if signum is not None:
                self._interrupted(ctx, signum)
            click.echo(f"layoutbench: error: {exc}", err=True)
            ctx.exit(2)
        except click.UsageError as exc:  # a bad option or argument: one line, not click's three
            where = exc.ctx.command_path if exc.ctx is not None else "layoutbench"
            click.echo(f"{where}: error: {exc.format_message()} (see {where} --help)", err=True)
            ctx.exit(2)
        except KeyboardInterrupt as exc:  # SIGINT or SIGTERM (see layoutbench.interrupts)
            self._interrupted(ctx, getattr(exc, "signum", signal.SIGINT))
        except Exception as exc:
            # a signal delivered inside C code can surface as another error (h5py's Cython lock
            # turns it into a SystemError): the cleanup has run, it is still an interrupt
            signum = interrupts.requested()
            if signum is not None:
                self._interrupted(ctx, signum)
            if _broken_response(exc):
                urls = [a for a in argv if "://" in a]
                click.echo(f"layoutbench: error: {', '.join(urls) or 'the source'}: the server "
                           f"broke off a response ({type(exc).__name__}: "
                           f"{(str(exc).splitlines() or [''])[0]}); a server that sends fewer "
                           "bytes than it announces cannot be read", err=True)
                ctx.exit(2)
            if not (isinstance(exc, OSError | RuntimeError | KeyError | ValueError)
                    and _raised_by_hdf5(exc) and _READ_FAILURE.search(str(exc))
                    and not _WRITE_FAILURE.search(str(exc))):
                raise
            # HDF5 failing inside a file it opened (a damaged B-tree or object header, a
            # compressed chunk whose bytes changed): the file's fault, not ours
            files = [a for a in argv if not a.startswith("-") and Path(a).is_file()]
            files = [a for a in files if _is_hdf5(a)] or files
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            click.echo(f"layoutbench: error: {', '.join(files) or 'the input'}: damaged HDF5 "
                       f"file, its metadata or data cannot be read (HDF5: {first})", err=True)
            ctx.exit(2)

    @staticmethod
    def _interrupted(ctx: click.Context, signum: int) -> None:
        # the coroutines zarr, fsspec or s3fs had in flight are abandoned with their event
        # loop: asyncio's "Task was destroyed but it is pending!" (with a traceback) at exit
        # says nothing the line below does not
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        click.echo(f"layoutbench: interrupted ({signal.Signals(signum).name}); temporary "
                   "files removed", err=True)
        ctx.exit(128 + signum)


class _Formatter(logging.Formatter):
    """Terse progress lines by default (``layoutbench: …``); times and loggers with ``-v``."""

    def __init__(self, detailed: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s" if detailed else None)
        self.detailed = detailed

    def format(self, record: logging.LogRecord) -> str:
        if self.detailed:
            return super().format(record)
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        # another library's line says whose it is (dask's, botocore's), in one line
        where = "" if record.name.split(".")[0] == "layoutbench" else f"{record.name}: "
        return f"layoutbench: {level}{where}{_message(record)}"


def _message(record: logging.LogRecord) -> str:
    """The record's message, else its exception in one line (a library logging only a
    traceback, e.g. dask's workers when a cluster closes under Ctrl-C)."""
    message = record.getMessage().strip()
    exc = record.exc_info[1] if record.exc_info else None
    if not message and exc is not None:
        message = f"{type(exc).__name__}: {exc}".rstrip(": ")
    return message


class _Shown(logging.Filter):
    """What reaches stderr: layoutbench's records at its level, other libraries' warnings and
    errors (their debug and info only at ``-vv``, whatever level they set their own loggers
    to, as dask's scheduler does), and never an empty line."""

    def __init__(self, verbose: int) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        own = record.name.split(".")[0] == "layoutbench"
        if not own and record.levelno < logging.WARNING and self.verbose < 2:
            return False
        return bool(_message(record))


def configure_logging(verbose: int, quiet: bool) -> None:
    """INFO progress from layoutbench by default, WARNING with ``-q``, DEBUG with ``-v``; other
    libraries log warnings only, and at ``-vv`` their debug too, except :data:`QUIET_LIBRARIES`,
    whose debug logs show request headers (the access key id): only ``-vvv`` asks for them."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(detailed=verbose > 0))
    handler.addFilter(_Shown(verbose))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)
    own = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    logging.getLogger("layoutbench").setLevel(own)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose > 2 else logging.WARNING)
    if verbose > 2:
        logging.getLogger("layoutbench").warning(
            "-vvv: botocore and HTTP libraries log request headers, including the AWS access "
            "key id; do not share this log")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True,
              help="More logging on stderr: -v debug from layoutbench, -vv from libraries too "
                   "(not botocore's, which logs request headers: -vvv).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or messages; warnings only.")
@click.version_option(package_name="layoutbench")
@click.pass_context
def main(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Measure and recommend cloud-friendly layouts for NWB/HDF5 data."""
    configure_logging(verbose, quiet)
    ctx.call_on_close(install_interrupts())
    ctx.obj = Settings(verbose=verbose, quiet=quiet)


def settings() -> Settings:
    """The global options of the running command."""
    obj = click.get_current_context().find_root().obj
    return obj if isinstance(obj, Settings) else Settings()


def overwrite_option(what: str = "OUTPUT") -> Callable[[F], F]:
    """``--overwrite``: the same flag and message on every command that writes a file."""
    return click.option("--overwrite", is_flag=True,
                        help=f"Replace {what} if it exists (never an input).")


def format_option(*choices: str, default: str = "table") -> Callable[[F], F]:
    """``--format``: how a command prints its data (``json`` for machines)."""
    return click.option("--format", "fmt", type=click.Choice(choices), default=default,
                        show_default=True, help="Output on stdout.")


def profile_options(default: str = "same-region", note: str = "") -> Callable[[F], F]:
    """``--profile`` (with ``default``), ``--latency-ms``, ``--bandwidth-mbps``."""
    def decorate(f: F) -> F:
        f = click.option("--bandwidth-mbps", type=float, default=None,
                         help="Override the profile's per-connection bandwidth (MB/s).")(f)
        f = click.option("--latency-ms", type=float, default=None,
                         help="Override the profile's per-request latency.")(f)
        f = click.option("--profile", "profile_name", default=default, show_default=True,
                         help="Network profile: loopback, same-region, cross-region, home"
                              + (f" ({note})." if note else "."))(f)
        return f

    return decorate


def source_options[F: Callable[..., Any]](f: F) -> F:
    """``--endpoint-url``, ``--anon/--no-anon``, ``--region``, ``--ca-bundle``: how to reach a
    remote SOURCE. They arrive in the command as one ``reach`` argument (a SourceOptions)."""
    f = click.option("--ca-bundle", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="PEM file of extra certificate authorities for "
                     "HTTPS servers with a private certificate.")(f)
    f = click.option("--region", default=None, help="AWS region of an s3:// bucket (default: "
                     "as S3 reports it).")(f)
    f = click.option("--anon/--no-anon", default=None, help="Anonymous S3 access. Default: "
                     "anonymous for https://; for s3:// the AWS credential chain, anonymous "
                     "when it finds no credentials.")(f)
    f = click.option("--endpoint-url", default=None, help="S3 endpoint for s3:// sources "
                     "(e.g. the one `layoutbench serve` prints); default AWS.")(f)
    return f


def fault_options[F: Callable[..., Any]](f: F) -> F:
    """``--faults SPEC`` and ``--fault-seed N``: S3 faults the gateway injects (see README)."""
    f = click.option("--fault-seed", type=int, default=0, show_default=True,
                     help="Seed of the fault plan (the same seed replays the same faults).")(f)
    f = click.option("--faults", "fault_spec", default=None,
                     help="Faults to inject per request, e.g. "
                          "503=0.05,500=0.02,reset=0.02,truncate=0.01,stall=0.01.")(f)
    return f


def faults(spec: str | None, seed: int) -> Any:
    """The :class:`~layoutbench.store.faults.FaultPlan` of :func:`fault_options`."""
    from layoutbench.store.faults import parse_faults

    return parse_faults(spec, seed)


def reach(endpoint_url: str | None, anon: bool | None, region: str | None,
          ca_bundle: str | None) -> Any:
    """The :class:`~layoutbench.store.sources.SourceOptions` of :func:`source_options`."""
    from layoutbench.store.sources import SourceOptions

    return SourceOptions(endpoint_url=endpoint_url, anon=anon, region=region,
                         ca_bundle=ca_bundle)


def profile(name: str, latency_ms: float | None, bandwidth_mbps: float | None) -> Any:
    from layoutbench.plan.profiles import get_profile

    try:
        return get_profile(name, latency_ms=latency_ms, bandwidth_mbps=bandwidth_mbps)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=1))


def cluster_options[F: Callable[..., Any]](f: F) -> F:
    """``--workers N`` (start a local dask cluster) or ``--scheduler-address`` (use one)."""
    f = click.option("--scheduler-address", default=None, metavar="tcp://HOST:PORT",
                     help="Run on an existing dask.distributed cluster (starts nothing).")(f)
    f = click.option("--workers", type=int, default=None, metavar="N",
                     help="Start a local dask.distributed cluster of N worker processes for "
                          "the run (default: everything in this process).")(f)
    return f


def sources_of(args: tuple[str, ...], endpoint_url: str | None, anon: bool | None,
               region: str | None, ca_bundle: str | None) -> list[Any]:
    """The resolved sources SOURCE arguments stand for (paths, URLs, globs, ``@list.txt``)."""
    from layoutbench.run.collection import expand_sources
    from layoutbench.store.sources import resolve

    how = reach(endpoint_url, anon, region, ca_bundle)
    return [resolve(s, how) for s in expand_sources(args)]


def size_option(text: str, option: str) -> int | None:
    from layoutbench.write.cache_lock import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise UserError(f"{option} {exc}") from None
