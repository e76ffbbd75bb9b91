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
        # volume planes default to anywhere (-1, drawn at random) and take explicit positions
        ("volume-planes", "volume-planes", {"z": -1, "y": -1, "x": -1}, 1.0),
        # a time window starts anywhere unless pinned
        ("ophys-patch:start=12", "ophys-patch", {"start": 12, "offsets": 3}, 1.0),
        ("ophys-frames", "ophys-frames", {"start": -1, "seed": 0}, 1.0),
        # electrodes: a count (drawn at random) or the electrodes themselves (pinned)
        ("ecephys-channel-filter:channels=3+17+40", "ecephys-channel-filter",
         {"channels": (3, 17, 40), "start": -1.0}, 1.0),
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
        ("ophys-patch:frames=10,frames=20", "frames is given twice"),  # never last-wins
        ("ecephys-channel-filter:low=nan", "low must be a finite number"),
        ("ecephys-channel-filter:channels=3+3", "lists an electrode twice"),
        ("ecephys-channel-filter:channels=3+-1", "count or electrode list"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(PatternError, match=message):
        parse_spec(spec)


@pytest.mark.parametrize("spec", [
    "ophys-patch:patch=48x16,offsets=2@3",
    "ecephys-channel-filter:channels=3+17+40,start=2.5",  # a pinned electrode list
    "ecephys-channel-filter:channels=5",  # a count
])
def test_round_trip_dict(spec: str) -> None:
    p = parse_spec(spec)
    assert type(p).from_dict(p.to_dict()) == p and parse_spec(p.spec) == p


def test_ophys_patch_selections_are_in_bounds_and_deterministic() -> None:
    p = make_pattern("ophys-patch", {"offsets": 5})
    shape = (300, 100, 90)
    sels = p.selections(shape)
    assert sels == p.selections(shape) and len(sels) == 5
    for s in sels:
        assert s[0] == slice(0, 300)  # frames clipped to the movie: no freedom left in time
        assert s[1].stop - s[1].start == 32 and s[1].start >= 0 and s[1].stop <= 100
        assert s[2].stop - s[2].start == 32 and s[2].stop <= 90
    assert p.bytes_needed(shape, 2) == 5 * 300 * 32 * 32 * 2


def test_ecephys_channel_filter_runs_the_bandpass() -> None:
    rate = 1000.0
    t = np.arange(4000) / rate
    slow = (1000 * np.sin(2 * np.pi * 2 * t)).astype(np.int16)  # 2 Hz: outside the band
    data = np.repeat(slow[:, None], 8, axis=1)
    p = make_pattern("ecephys-channel-filter", {"channels": (0, 7), "seconds": 0, "low": 50.0,
                                                "high": 200.0})
    sels = p.selections(data.shape, rate)
    assert [s[1] for s in sels] == [slice(0, 1), slice(7, 8)]  # the electrodes named
    filtered = p.definition.compute(data[sels[0]], p.kwargs, rate)
    assert np.abs(filtered[500:-500]).max() < 0.05 * np.abs(slow).max()  # 2 Hz removed
    run = p.run(data, rate)
    assert run.reads == 2 and run.bytes_needed == 2 * 4000 * 2


SHAPE = (100, 300, 200)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        # XY, XZ and YZ planes through a point pinned on every axis
        ("volume-planes:z=50,y=150,x=100", [(slice(50, 51), slice(0, 300), slice(0, 200)),
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


# -- every free axis is spread ------------------------------------------------------------------
@pytest.mark.parametrize(("spec", "shape", "axis"), [
    # a patch's time window (time is as free as y and x)
    ("ophys-patch:frames=100,offsets=8", (1000, 64, 64), 0),
    # whole frames a viewer shows
    ("ophys-frames:frames=20", (1000, 64, 64), 0),
    # an electrode's time window, and which electrode
    ("ecephys-channel-filter:seconds=1,channels=8", (300_000, 64), 0),
    ("ecephys-channel-filter:seconds=1,channels=8", (300_000, 64), 1),
    # a window of all channels
    ("ecephys-window", (300_000, 64), 0),
    # a plane's position
    ("volume-planes", (64, 64, 64), 0),
])
def test_unpinned_axes_are_drawn_and_spread(spec: str, shape: tuple, axis: int) -> None:
    p = parse_spec(spec)
    rate = 30_000.0
    starts = {s[axis].start for s in p.selections(shape, rate)}
    seeds = {s[axis].start for seed in range(6)
             for s in parse_spec(f"{spec},seed={seed}" if ":" in spec else f"{spec}:seed={seed}")
             .selections(shape, rate)}
    assert len(seeds) > len(starts) or len(starts) > 1  # seeds move the positions
    assert 0 not in seeds or len(seeds) > 2  # not pinned at the chunk grid's origin
    sels, scale, per = p.expected(shape, rate)
    lattice = sorted({s[axis].start for s in sels})
    room = shape[axis] - (sels[0][axis].stop - sels[0][axis].start)
    # the expectation covers the whole range of the free axis, evenly
    assert lattice[0] < room / 8 and lattice[-1] > room * 7 / 8 and len(lattice) >= 8
    assert scale * len(sels) == pytest.approx(per)


@pytest.mark.parametrize(("spec", "shape", "axis", "start"), [
    ("ophys-patch:frames=100,start=40", (1000, 64, 64), 0, 40),
    ("ophys-frames:start=5", (1000, 64, 64), 0, 5),
    ("ecephys-channel-filter:seconds=1,start=2", (300_000, 64), 0, 60_000),
    ("ecephys-window:start=0", (300_000, 64), 0, 0),
])
def test_a_pinned_start_is_kept(spec: str, shape: tuple, axis: int, start: int) -> None:
    p = parse_spec(spec)
    for sels in (p.selections(shape, 30_000.0), p.expected(shape, 30_000.0)[0]):
        assert {s[axis].start for s in sels} == {start}


def test_pinned_electrodes_and_start_are_their_own_expectation() -> None:
    p = parse_spec("ecephys-channel-filter:channels=3+17+40,seconds=1,start=2")
    sels, scale, per = p.expected((300_000, 64), 30_000.0)
    assert sels == p.selections((300_000, 64), 30_000.0) and scale == 1.0 and per == 3
    assert [s[1].start for s in sels] == [3, 17, 40]
