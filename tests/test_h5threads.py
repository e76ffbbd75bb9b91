"""The collector pause that keeps h5py finalisers off s3fs's and zarr's loop threads."""

from __future__ import annotations

import gc
import threading

from layoutbench.h5threads import gc_paused


class _Cycle:
    """A reference cycle whose finaliser records the thread it ran on (as NWBHDF5IO's does)."""

    ran_on: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Cycle.ran_on.append(threading.current_thread().name)


def test_garbage_is_finalised_on_the_calling_thread() -> None:
    _Cycle.ran_on.clear()
    _Cycle()  # unreachable at once; only the cyclic collector can finalise it
    with gc_paused():
        assert _Cycle.ran_on == [threading.current_thread().name]  # collected on entry
        _Cycle()  # made inside: must not be left for another thread
        assert not gc.isenabled()
    assert _Cycle.ran_on == [threading.current_thread().name] * 2  # collected on exit


def test_nesting_and_threads_restore_the_collector() -> None:
    assert gc.isenabled()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with gc_paused():
                assert not gc.isenabled()
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    with gc_paused():
        with gc_paused():
            t = threading.Thread(target=worker)
            t.start()
            t.join()
        assert not gc.isenabled()  # the inner block and the other thread leave it paused
    assert not errors
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
