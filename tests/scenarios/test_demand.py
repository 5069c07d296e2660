"""Seeded demand generation."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from scenarios.demand import generate_departures, write_routes
from scenarios.registry import find_spec


@pytest.fixture(scope="module")
def demand():
    return find_spec("westentor").demand


def test_same_seed_same_departures(demand) -> None:
    assert generate_departures(demand, 7) == generate_departures(demand, 7)


def test_different_seeds_differ(demand) -> None:
    assert generate_departures(demand, 1) != generate_departures(demand, 2)


def test_counts_match_the_hourly_flows(demand) -> None:
    expected = sum(f for *_, f in demand.vehicles)
    counts = [sum(d.kind in ("car", "truck") for d in generate_departures(demand, s))
              for s in range(5)]
    mean = sum(counts) / len(counts)
    # Poisson: the mean of 5 hours has sd sqrt(expected/5); allow 4 sd
    assert abs(mean - expected) < 4 * (expected / 5) ** 0.5


def test_demand_scale_scales_flows(demand) -> None:
    base = len(generate_departures(demand, 3))
    more = len(generate_departures(demand, 3, scale=1.3))
    assert 1.2 < more / base < 1.4


def test_negative_scale_is_refused(demand) -> None:
    with pytest.raises(ValueError, match="scale"):
        generate_departures(demand, 1, scale=-1)


def test_route_file_is_sorted_and_valid_xml(demand, tmp_path: Path) -> None:
    path = write_routes(generate_departures(demand, 1, duration_s=600), tmp_path / "r.rou.xml")
    root = ET.parse(path).getroot()
    departs = [float(el.get("depart")) for el in root if el.tag in ("trip", "person")]
    assert departs == sorted(departs)
    assert max(departs) < 600
    kinds = {el.get("type") for el in root if el.tag in ("trip", "person")}
    assert {"car", "bicycle", "pedestrian"} <= kinds
