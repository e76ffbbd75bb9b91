"""Run moto's S3 server with range GETs that read only the requested bytes.

Why this exists
---------------
moto 5 answers ``GET`` with ``Range: bytes=a-b`` by materialising the *whole* object
(``FakeKey.value`` reads its spooled buffer from byte 0) and then slicing it in
``S3Response._handle_range_header``. A 1 KiB range of a 100 MB object therefore costs a 100 MB
read and copy on the server: 50 GETs of 1 KiB took 1.5 s from a 100 MB object (~30 ms each)
against 0.09 s from a 1 MB one (moto 5.2.5, loopback). HDF5 readers issue thousands of small
range reads, so unpatched the benchmark would measure moto's copying, growing with the file
size, rather than the layout. Patched, both take ~0.09 s.

The patch is three small wrappers, applied only when moto's internals look as expected
(:func:`apply_range_patch` checks the version and the source of the patched methods; if they
differ it logs a warning and moto runs unpatched, i.e. correct but slow):

* while ``S3Response.get_object`` runs for a request carrying a ``Range`` header (a
  thread-local flag; moto serves each request on its own thread), reading ``FakeKey.value``
  returns a :class:`_LazyValue` (size known, bytes read on slicing) instead
  of the whole content; moto's own ``_handle_range_header`` then does all the range
  arithmetic and error handling unchanged (suffix, open-ended, 416...) and its slice reads only
  ``end - begin + 1`` bytes from the key's buffer;
* ``S3Response.key_response`` turns any lazy body that was *not* sliced (multi-range or
  unparsable Range headers, which moto answers with the full object) back into ``bytes``, so
  everything else behaves exactly as in moto.

Usage: ``python -m layoutbench.store._moto_launcher --host 127.0.0.1 --port 5000``.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import threading
from typing import Any

from layoutbench.store._child import exit_with_stdin

log = logging.getLogger(__name__)

#: moto major versions whose internals this patch was written against (checked: 5.1, 5.2).
_SUPPORTED_MAJOR = 5
PATCH_OK_MARKER = "layoutbench-moto-range-patch: applied"
PATCH_SKIPPED_MARKER = "layoutbench-moto-range-patch: NOT applied"

_state = threading.local()


class _LazyValue:
    """A key's content that is read from the key's buffer only when sliced.

    Just enough of the ``bytes`` protocol for moto's range path: ``len``, truth value and
    contiguous slicing. Anything else goes through :meth:`materialize`.
    """

    __slots__ = ("_key",)

    def __init__(self, key: Any) -> None:
        self._key = key

    def __len__(self) -> int:
        return int(self._key.size)

    def __bool__(self) -> bool:
        return len(self) > 0

    def _read(self, start: int, stop: int) -> bytes:
        if stop <= start:
            return b""
        with self._key.lock:  # the buffer's file position is shared by all threads
            buf = self._key._value_buffer
            buf.seek(start)
            data: bytes = buf.read(stop - start)
        return data

    def materialize(self) -> bytes:
        """The whole content, exactly what ``FakeKey.value`` would have returned."""
        return self._read(0, len(self))

    def __bytes__(self) -> bytes:
        return self.materialize()

    def __getitem__(self, item: slice) -> bytes:
        if not isinstance(item, slice):
            raise TypeError("_LazyValue supports slicing only")
        start, stop, step = item.indices(len(self))
        if step != 1:
            return self.materialize()[item]
        return self._read(start, stop)


def _check_internals(s3_responses: Any, s3_models: Any, version: str) -> str | None:
    """Return why the patch cannot be applied, or ``None`` if moto looks as expected."""
    try:
        major = int(version.split(".")[0])
    except ValueError:
        return f"unparsable moto version {version!r}"
    if major != _SUPPORTED_MAJOR:
        return f"moto {version} is not a {_SUPPORTED_MAJOR}.x release"
    resp_cls = getattr(s3_responses, "S3Response", None)
    key_cls = getattr(s3_models, "FakeKey", None)
    if resp_cls is None or key_cls is None:
        return "moto.s3 has no S3Response/FakeKey"
    prop = key_cls.__dict__.get("value")
    if not isinstance(prop, property) or prop.fget is None or prop.fset is None:
        return "FakeKey.value is not a read/write property"
    try:
        get_src = inspect.getsource(resp_cls.get_object)
        range_src = inspect.getsource(resp_cls._handle_range_header)
        key_src = inspect.getsource(resp_cls.key_response)
        value_src = inspect.getsource(prop.fget)
    except (AttributeError, OSError, TypeError) as exc:
        return f"cannot inspect moto's S3 internals ({exc})"
    expectations = [
        ("return 200, response_headers, key.value" in get_src, "get_object returns key.value"),
        ("len(response_content)" in range_src, "_handle_range_header uses len()"),
        ("response_content[begin : end + 1]" in range_src, "_handle_range_header slices"),
        ("_handle_range_header" in key_src, "key_response calls _handle_range_header"),
        ("_value_buffer" in value_src and "self.lock" in value_src, "FakeKey.value buffer"),
    ]
    for ok, what in expectations:
        if not ok:
            return f"moto {version} internals changed: expected '{what}'"
    return None


def apply_range_patch() -> bool:
    """Patch moto's S3 GET path for ranged requests; return whether it was applied.

    Idempotent. Never raises for an unexpected moto: it logs a warning and leaves moto alone.
    """
    import moto
    from moto.s3 import models as s3_models
    from moto.s3 import responses as s3_responses

    # Typed as Any: we deliberately assign to methods/properties mypy considers read-only.
    resp_cls: Any = s3_responses.S3Response
    if getattr(resp_cls, "_layoutbench_range_patch", False):
        return True
    problem = _check_internals(s3_responses, s3_models, getattr(moto, "__version__", "?"))
    if problem is not None:
        log.warning("%s (%s); range GETs read whole objects", PATCH_SKIPPED_MARKER, problem)
        return False

    key_cls: Any = s3_models.FakeKey
    value_prop: property = key_cls.__dict__["value"]
    orig_fget = value_prop.fget
    orig_get_object = resp_cls.get_object
    orig_key_response = resp_cls.key_response
    assert orig_fget is not None

    def value_fget(key: Any) -> Any:
        if getattr(_state, "lazy", False):
            return _LazyValue(key)
        return orig_fget(key)

    def get_object(self: Any) -> Any:
        if not self.headers.get("range"):
            return orig_get_object(self)
        _state.lazy = True
        try:
            return orig_get_object(self)
        finally:
            _state.lazy = False

    def key_response(self: Any, request: Any, full_url: str, headers: Any) -> Any:
        status, response_headers, body = orig_key_response(self, request, full_url, headers)
        if isinstance(body, _LazyValue):  # not sliced: moto answered with the full object
            body = body.materialize()
        return status, response_headers, body

    key_cls.value = property(value_fget, value_prop.fset, value_prop.fdel, value_prop.__doc__)
    resp_cls.get_object = get_object
    resp_cls.key_response = key_response
    resp_cls._layoutbench_range_patch = True
    log.info("%s (moto %s)", PATCH_OK_MARKER, moto.__version__)
    return True


def main(argv: list[str] | None = None) -> None:
    """Apply the patch (unless ``--no-patch``) and run ``moto.server.main``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-patch", action="store_true", help="run moto unpatched")
    parser.add_argument(
        "--exit-with-stdin", action="store_true", help="exit when stdin is closed (parent died)"
    )
    parser.add_argument("--verbose", action="store_true", help="keep werkzeug's request log")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    if not args.verbose:
        # werkzeug logs one line per request: millions in a sweep. Keep warnings and errors.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if args.no_patch:
        log.info("%s (--no-patch)", PATCH_SKIPPED_MARKER)
    else:
        from layoutbench.store._moto_multipart import apply_multipart_patch

        apply_range_patch()
        apply_multipart_patch()  # after the range patch: it wraps the property that one set
    if args.exit_with_stdin:
        exit_with_stdin()

    from moto.server import main as moto_main

    moto_main(["-H", args.host, "-p", str(args.port)])


if __name__ == "__main__":
    main()
