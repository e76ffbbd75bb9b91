"""Access patterns: SPEC parsing, errors that list valid names, and selections."""

from __future__ import annotations

import numpy as np
import pytest

from layoutbench.plan.patterns import PatternError, default_patterns, make_pattern, parse_spec


@pytest.mark.parametrize(
    ("spec", "name", "params", "weight"),
    [
        # defaults only
        ("ophys-patch", "ophys-patch", {"patch": (32, 32), "frames": 1000}, 1.0),
        # sizes are AxB and weights follow @
        ("ophys-patch:patch=48x48,frames=400@2", "ophys-patch",
         {"patch": (48, 48), "frames": 400}, 2.0),
        # float parameters and spaces around items
        ("ecephys-channel-filter: channels=4, seconds=30", "ecephys-channel-filter",
         {"channels": 4, "seconds": 30.0}, 1.0),
        ("ecephys-window:seconds=0.5@0.25", "ecephys-window", {"seconds": 0.5}, 0.25),
        # volume planes default to the middle (-1) and take explicit positions
        ("volume-planes", "volume-planes", {"z": -1, "y": -1, "x": -1}, 1.0),
        ("volume-planes:z=10,x=3@4", "volume-planes", {"z": 10, "y": -1, "x": 3}, 4.0),
        # a 3-d size is AxBxC
        ("volume-cutout:size=64x32x16,cutouts=2", "volume-cutout",
         {"size": (64, 32, 16), "cutouts": 2, "seed": 0}, 1.0),
        ("volume-cutout", "volume-cutout", {"size": (128, 128, 128)}, 1.0),
    ],
)
def test_parse_spec(spec: str, name: str, params: dict, weight: float) -> None:
    p = parse_spec(spec)
    assert p.name == name and p.weight == weight
    for key, value in params.items():
        assert p.kwargs[key] == value
    assert parse_spec(p.spec) == p  # the canonical spec parses back to the same pattern


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("ophys-pach", "valid: ophys-patch, ophys-frames"),  # typo in the name lists names
        ("ophys-patch:size=4x4", "valid keys: patch, frames"),  # unknown key lists keys
        ("ophys-patch:patch=4", "not a valid AxB"),  # a size needs two numbers
        ("ophys-patch:frames=ten", "not a valid int"),
        ("ophys-patch@0", "weight must be a positive"),
        ("ophys-patch@x", "is not a number"),
        ("ophys-patch:frames", "expected KEY=VALUE"),
        ("volume-cutout:size=64x64", "not a valid AxBxC"),  # a 3-d size needs three numbers
        ("volume-cutout:size=64x64x0", "not a valid AxBxC"),  # and positive ones
        ("volume-planes:depth=3", "valid keys: z, y, x"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        parse_spec(spec)


def test_round_trip_dict() -> None:
    p = parse_spec("ophys-patch:patch=48x16,offsets=2@3")
    assert type(p).from_dict(p.to_dict()) == p


def test_ophys_patch_selections_are_in_bounds_and_deterministic() -> None:
    p = make_pattern("ophys-patch", {"offsets": 5})
    shape = (300, 100, 90)
    sels = p.selections(shape)
    assert sels == p.selections(shape) and len(sels) == 5
    for s in sels:
        assert s[0] == slice(0, 300)  # frames clipped to the movie
        assert s[1].stop - s[1].start == 32 and s[1].start >= 0 and s[1].stop <= 100
        assert s[2].stop - s[2].start == 32 and s[2].stop <= 90
    assert p.bytes_needed(shape, 2) == 5 * 300 * 32 * 32 * 2


def test_ecephys_channel_filter_runs_the_bandpass() -> None:
    rate = 1000.0
    t = np.arange(4000) / rate
    slow = (1000 * np.sin(2 * np.pi * 2 * t)).astype(np.int16)  # 2 Hz: outside the band
    data = np.repeat(slow[:, None], 8, axis=1)
    p = make_pattern("ecephys-channel-filter", {"channels": 2, "seconds": 0, "low": 50.0,
                                                "high": 200.0})
    sels = p.selections(data.shape, rate)
    assert [s[1] for s in sels] == [slice(0, 1), slice(7, 8)]
    filtered = p.definition.compute(data[sels[0]], p.kwargs, rate)
    assert np.abs(filtered[500:-500]).max() < 0.05 * np.abs(slow).max()  # 2 Hz removed
    run = p.run(data, rate)
    assert run.reads == 2 and run.bytes_needed == 2 * 4000 * 2


SHAPE = (100, 300, 200)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # the middle of every axis by default: XY, XZ and YZ planes
        ("volume-planes", [(slice(50, 51), slice(0, 300), slice(0, 200)),
                           (slice(0, 100), slice(150, 151), slice(0, 200)),
                           (slice(0, 100), slice(0, 300), slice(100, 101))]),
        # explicit positions, up to the array's last plane
        ("volume-planes:z=0,y=7,x=199", [(slice(0, 1), slice(0, 300), slice(0, 200)),
                                         (slice(0, 100), slice(7, 8), slice(0, 200)),
                                         (slice(0, 100), slice(0, 300), slice(199, 200))]),
        # a centred cutout, clipped to the 100-plane depth
        ("volume-cutout:seed=-1", [(slice(0, 100), slice(86, 214), slice(36, 164))]),
        # a small centred cutout
        ("volume-cutout:size=10x20x30,seed=-1", [(slice(45, 55), slice(140, 160),
                                                  slice(85, 115))]),
    ],
)
def test_volume_selections(spec: str, expected: list) -> None:
    assert parse_spec(spec).selections(SHAPE) == expected


@pytest.mark.parametrize(("spec", "match"), [
    # a position beyond the array is refused, not clipped to its last plane
    ("volume-planes:x=999", r"x=999 does not fit this array \(shape 100x300x200: at most 199\)"),
    # a cutout larger than the volume, likewise
    ("volume-cutout:size=128x128x400", "size=128x128x400 does not fit"),
])
def test_values_beyond_the_array_are_refused(spec: str, match: str) -> None:
    with pytest.raises(PatternError, match=match):
        parse_spec(spec).selections(SHAPE)


def test_volume_cutouts_are_random_in_bounds_and_deterministic() -> None:
    p = parse_spec("volume-cutout:size=32x64x16,cutouts=6,seed=3")
    sels = p.selections(SHAPE)
    assert sels == p.selections(SHAPE) and len(sels) == 6
    assert len({s[0].start for s in sels}) > 1  # not all at one depth
    for s in sels:
        assert [(a.stop - a.start) for a in s] == [32, 64, 16]
        assert all(a.start >= 0 and a.stop <= n for a, n in zip(s, SHAPE, strict=True))
    assert p.bytes_needed(SHAPE, 2) == 6 * 32 * 64 * 16 * 2
    assert parse_spec("volume-cutout:cutouts=6,seed=4").selections(SHAPE) != sels


def test_volume_planes_run_and_need_3d() -> None:
    data = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    run = parse_spec("volume-planes").run(data)
    assert run.reads == 3 and run.bytes_needed == (5 * 6 + 4 * 6 + 4 * 5) * 2
    with pytest.raises(PatternError, match="needs a 3-d volume array"):
        parse_spec("volume-planes").selections((100, 4))


def test_defaults_per_kind() -> None:
    assert [p.name for p in default_patterns("ophys")] == ["ophys-patch", "ophys-frames"]
    assert [p.name for p in default_patterns("ecephys")] == ["ecephys-channel-filter",
                                                             "ecephys-window"]
    assert [p.name for p in default_patterns("volume")] == ["volume-planes", "volume-cutout"]
