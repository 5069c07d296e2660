from __future__ import annotations

import pytest

from signals import GroupKind, SignalGroup


@pytest.mark.parametrize(
    ("speed", "amber"), [(30, 3.0), (50, 3.0), (51, 4.0), (60, 4.0), (70, 5.0), (100, 5.0)]
)
@pytest.mark.parametrize("kind", [GroupKind.VEHICLE, GroupKind.BUS])
def test_default_vehicle_amber_follows_speed(kind: GroupKind, speed: float, amber: float) -> None:
    group = SignalGroup.default("K1", kind, speed_kmh=speed)
    assert (group.amber_s, group.red_amber_s, group.min_green_s, group.max_green_s) == (
        amber,
        1.0,
        5.0,
        60.0,
    )


def test_default_bicycle_and_pedestrian() -> None:
    bike = SignalGroup.default("F1", "bicycle")
    ped = SignalGroup.default("P1", GroupKind.PEDESTRIAN)
    assert (bike.amber_s, bike.red_amber_s, bike.max_green_s) == (2.0, 1.0, 60.0)
    assert (ped.amber_s, ped.red_amber_s, ped.min_green_s, ped.max_green_s) == (
        0.0,
        0.0,
        5.0,
        40.0,
    )
    assert ped.kind is GroupKind.PEDESTRIAN


def test_kind_is_coerced_from_string() -> None:
    assert SignalGroup("K1", "bus", 3, 1, 5, 30).kind is GroupKind.BUS


@pytest.mark.parametrize(
    ("kind", "amber", "red_amber", "min_green", "max_green", "match"),
    [
        ("vehicle", 2.0, 1.0, 5.0, 60.0, "amber 2 s outside 3..5"),
        ("vehicle", 6.0, 1.0, 5.0, 60.0, "amber 6 s outside 3..5"),
        ("bus", 3.0, 0.0, 5.0, 60.0, "red-amber 0 s outside 1..2"),
        ("vehicle", 3.0, 3.0, 5.0, 60.0, "red-amber 3 s outside 1..2"),
        ("bicycle", 0.5, 1.0, 5.0, 60.0, "amber 0.5 s outside 1..3"),
        ("bicycle", 4.0, 1.0, 5.0, 60.0, "amber 4 s outside 1..3"),
        ("bicycle", 2.0, 2.5, 5.0, 60.0, "red-amber 2.5 s outside 0..2"),
        ("pedestrian", 3.0, 0.0, 5.0, 40.0, "amber 3 s outside 0..0"),
        ("pedestrian", 0.0, 1.0, 5.0, 40.0, "red-amber 1 s outside 0..0"),
        ("vehicle", 3.0, 1.0, 4.0, 60.0, "minimum green 4 s"),
        ("pedestrian", 0.0, 0.0, 3.0, 40.0, "minimum green 3 s"),
        ("vehicle", 3.0, 1.0, 10.0, 9.0, "maximum green 9 s"),
        ("tram", 3.0, 1.0, 5.0, 60.0, "unknown kind"),
        ("vehicle", float("nan"), 1.0, 5.0, 60.0, "finite"),
    ],
)
def test_refuses_timings_outside_rilsa(
    kind: str, amber: float, red_amber: float, min_green: float, max_green: float, match: str
) -> None:
    with pytest.raises(ValueError, match=match) as info:
        SignalGroup("X7", kind, amber, red_amber, min_green, max_green)  # type: ignore[arg-type]
    assert "X7" in str(info.value)


def test_refuses_empty_name_and_bad_speed() -> None:
    with pytest.raises(ValueError, match="name"):
        SignalGroup("", GroupKind.VEHICLE, 3, 1, 5, 60)
    with pytest.raises(ValueError, match="speed"):
        SignalGroup.default("K1", "vehicle", speed_kmh=0)
