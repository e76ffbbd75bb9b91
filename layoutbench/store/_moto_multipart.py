"""Complete moto multipart uploads without holding the object in memory.

Why this exists
---------------
moto 5 completes a multipart upload by concatenating every part into one ``bytearray``, copying
it into ``bytes`` and writing that into the new key's buffer: about 4.4 times the object in the
server's memory at the peak (a 1.07 GB upload took moto to 4.7 GB), so a 10 GB variant would
need 47 GB on a 24 GB machine. Each part already lives in its own key buffer, a
``SpooledTemporaryFile`` that spills to disk past a few MB; the object can be streamed from
those buffers into one new buffer, 8 MiB at a time.

The patch (applied by :mod:`._moto_launcher` beside the range patch, only when moto's
internals look as expected, else moto runs unpatched: correct but memory-hungry):

* ``FakeMultipart.complete`` checks the parts exactly as moto does (``InvalidPart``,
  ``EntityTooSmall``, ``MalformedXML``, the ``md5-of-md5s-N`` ETag) but returns a
  :class:`_Parts` (the parts and their total size) instead of their bytes; uploads that ask for
  a checksum keep moto's own path; the parts are streamed into one spooled temporary file;
* ``FakeKey.value``'s setter takes a :class:`_Parts`'s file as the key's buffer.

Memory then stays bounded by the parts in flight (boto3's 16 MiB parts, a few at a time),
whatever the object's size; the content goes to moto's temporary files on disk.
"""

from __future__ import annotations

import inspect
import logging
import shutil
import tempfile
from typing import Any

log = logging.getLogger(__name__)

MULTIPART_OK_MARKER = "layoutbench-moto-multipart-patch: applied"
MULTIPART_SKIPPED_MARKER = "layoutbench-moto-multipart-patch: NOT applied"
_COPY_BLOCK = 8 * 2**20


class _Parts:
    """A completed upload's content, already concatenated into a spooled temporary file (on
    disk past a few MB) that becomes the new key's buffer as it is: one copy, never in memory.

    Built inside ``complete`` because moto disposes of the parts' buffers as soon as it
    forgets the upload, before it stores the key.
    """

    __slots__ = ("buffer", "size")

    def __init__(self, parts: list[Any], max_memory: int) -> None:
        self.buffer = tempfile.SpooledTemporaryFile(max_memory)  # noqa: SIM115 (the key's now)
        for part in parts:
            with part.lock:
                part._value_buffer.seek(0)
                shutil.copyfileobj(part._value_buffer, self.buffer, _COPY_BLOCK)
        self.size = sum(int(p.contentsize) for p in parts)

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:  # "if value is not None" in moto; never falsy by accident
        return True


def _problem(models: Any, version: str) -> str | None:
    multipart = getattr(models, "FakeMultipart", None)
    key_cls = getattr(models, "FakeKey", None)
    if multipart is None or key_cls is None:
        return "moto.s3 has no FakeMultipart/FakeKey"
    prop = key_cls.__dict__.get("value")
    if not isinstance(prop, property) or prop.fset is None:
        return "FakeKey.value has no setter"
    try:
        complete = inspect.getsource(multipart.complete)
        setter = inspect.getsource(prop.fset)
    except (OSError, TypeError) as exc:
        return f"cannot inspect moto's multipart internals ({exc})"
    for needle, what in (("total.extend(part.value)", "complete concatenates part.value"),
                         ("bytes(total)", "complete returns bytes(total)"),
                         ("S3_UPLOAD_PART_MIN_SIZE", "complete checks the part size"),
                         ("_value_buffer.write(new_value)", "the setter writes the buffer"),
                         ("contentsize = len(new_value)", "the setter sets contentsize")):
        if needle not in (complete if "complete" in what else setter):
            return f"moto {version} internals changed: expected '{what}'"
    return None


def apply_multipart_patch() -> bool:
    """Stream completed multipart uploads into their key (see the module doc); idempotent.

    Never raises for an unexpected moto: logs a warning and leaves moto alone.
    """
    import moto
    from moto import settings
    from moto.s3 import exceptions, models

    multipart: Any = models.FakeMultipart
    if getattr(multipart, "_layoutbench_multipart_patch", False):
        return True
    problem = _problem(models, getattr(moto, "__version__", "?"))
    if problem is not None:
        log.warning("%s (%s); completing an upload holds it in memory",
                       MULTIPART_SKIPPED_MARKER, problem)
        return False
    key_cls: Any = models.FakeKey
    prop: property = key_cls.__dict__["value"]
    orig_fset = prop.fset
    orig_complete = multipart.complete
    min_size = models.S3_UPLOAD_PART_MIN_SIZE
    assert orig_fset is not None

    def complete(self: Any, body: Any) -> tuple[Any, str, Any]:
        if self.metadata.get("x-amz-checksum-algorithm"):
            done: tuple[Any, str, Any] = orig_complete(self, body)
            return done
        parts, md5s, last = [], bytearray(), None
        for pn, etag in body:
            part = self.parts.get(pn)
            if part is None or part.etag.replace('"', "") != etag.replace('"', ""):
                raise exceptions.InvalidPart()
            if last is not None and last.contentsize < min_size:
                raise exceptions.EntityTooSmall()
            md5s.extend(bytes.fromhex(part.etag.replace('"', "")))
            parts.append(part)
            last = part
        if not parts:
            raise exceptions.MalformedXML()
        full = models.md5_hash()
        full.update(bytes(md5s))
        return (_Parts(parts, settings.get_s3_default_key_buffer_size()),
                f"{full.hexdigest()}-{len(parts)}", None)

    def value_fset(key: Any, new_value: Any) -> None:
        if not isinstance(new_value, _Parts):
            orig_fset(key, new_value)
            return
        key._value_buffer.close()
        key._value_buffer = new_value.buffer
        key.contentsize = new_value.size

    key_cls.value = property(prop.fget, value_fset, prop.fdel, prop.__doc__)
    multipart.complete = complete
    multipart._layoutbench_multipart_patch = True
    log.info("%s (moto %s)", MULTIPART_OK_MARKER, moto.__version__)
    return True
