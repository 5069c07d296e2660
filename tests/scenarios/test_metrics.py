"""Metrics from hand-written tripinfo and statistics files."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.metrics import approach_delays, read_tripinfo, summarise
from scenarios.vclass import TypeClasses, read_type_classes, vclass_category

ROUTES = """<routes>
  <vType id="car" vClass="passenger"/>
  <vType id="bicycle" vClass="bicycle"/>
</routes>
"""

TRIPINFO = """<tripinfos>
  <tripinfo id="c1" vType="car" depart="0" arrival="60" duration="60" timeLoss="20"
            waitingTime="10" waitingCount="1"><emissions CO2_abs="2000000" NOx_abs="500"
            PMx_abs="40"/></tripinfo>
  <tripinfo id="c2" vType="car" depart="10" arrival="-1" duration="110" timeLoss="80"
            waitingTime="70" waitingCount="2"><emissions CO2_abs="1000000" NOx_abs="300"
            PMx_abs="20"/></tripinfo>
  <tripinfo id="b1" vType="bicycle" depart="5" arrival="50" duration="45" timeLoss="6"
            waitingTime="3" waitingCount="1"/>
  <personinfo id="p1" depart="0" type="pedestrian">
    <walk depart="0" arrival="90" duration="90" timeLoss="12" waitingTime="9"/>
  </personinfo>
  <personinfo id="p2" depart="50" type="pedestrian">
    <walk depart="50" arrival="-1" duration="70" timeLoss="0" waitingTime="0"/>
  </personinfo>
</tripinfos>
"""


def test_summary_counts_unfinished_vehicles_and_finished_walks(tmp_path: Path) -> None:
    (tmp_path / "trip.xml").write_text(TRIPINFO)
    (tmp_path / "stats.xml").write_text('<statistics><teleports total="2"/></statistics>')
    (tmp_path / "r.rou.xml").write_text(ROUTES)
    types = read_type_classes([tmp_path / "r.rou.xml"])
    m = summarise(tmp_path / "trip.xml", tmp_path / "stats.xml", types)
    assert m["vehicles_departed"] == 2 and m["vehicles_arrived"] == 1
    assert m["mean_delay_s"] == pytest.approx(50.0)  # the unfinished car counts
    assert m["max_waiting_s"] == 70.0
    assert m["mean_stops"] == pytest.approx(1.5)
    assert m["bicycle_mean_delay_s"] == pytest.approx(6.0)
    assert m["pedestrians_departed"] == 2 and m["pedestrians_arrived"] == 1
    assert m["pedestrian_mean_delay_s"] == pytest.approx(12.0)  # not diluted by the walk
    assert m["co2_kg"] == pytest.approx(3.0)
    assert m["nox_g"] == pytest.approx(0.8)
    assert m["teleports"] == 2


# a city's own type ids: pkw (custom passenger type), a vType without vClass, a tram,
# a bus, a bicycle under a custom id; one pkw and one lkw still waiting to enter at the end
CUSTOM_ROUTES = """<routes>
  <vType id="pkw" vClass="passenger"/>
  <vType id="lkw"/>
  <vType id="strab" vClass="tram"/>
  <vType id="linie" vClass="bus"/>
  <vTypeDistribution id="mix"><vType id="rad" vClass="bicycle"/></vTypeDistribution>
</routes>
"""
CUSTOM_TRIPINFO = """<tripinfos>
  <tripinfo id="a" vType="pkw" depart="0" departDelay="2" arrival="40" duration="40"
            timeLoss="10" waitingTime="5" waitingCount="1" departLane="in_0"/>
  <tripinfo id="b" vType="lkw" depart="5" departDelay="0" arrival="-1" duration="95"
            timeLoss="30" waitingTime="20" waitingCount="1" departLane="in_1"/>
  <tripinfo id="c" vType="linie" depart="9" departDelay="4" arrival="50" duration="41"
            timeLoss="20" waitingTime="0" waitingCount="0" departLane="other_0"/>
  <tripinfo id="t" vType="strab" depart="0" departDelay="0" arrival="60" duration="60"
            timeLoss="100" waitingTime="0" waitingCount="0"/>
  <tripinfo id="r" vType="rad" depart="3" departDelay="0" arrival="30" duration="27"
            timeLoss="7" waitingTime="2" waitingCount="1"/>
  <tripinfo id="u1" vType="pkw" depart="-1" departDelay="300" arrival="-1" duration="0"
            timeLoss="0" waitingTime="0" waitingCount="0" departLane=""/>
  <tripinfo id="u2" vType="lkw" depart="-1" departDelay="100" arrival="-1" duration="0"
            timeLoss="0" waitingTime="0" waitingCount="0" departLane=""/>
</tripinfos>
"""


def test_custom_type_ids_are_counted_by_class_and_the_backlog_is_measured(
        tmp_path: Path) -> None:
    (tmp_path / "r.rou.xml").write_text(CUSTOM_ROUTES)
    (tmp_path / "trip.xml").write_text(CUSTOM_TRIPINFO)
    types = read_type_classes([tmp_path / "r.rou.xml"])
    m = summarise(tmp_path / "trip.xml", tmp_path / "missing.xml", types)
    # recomputed from the tripinfo: motor = pkw, lkw (no vClass: passenger), linie
    departed_motor = [10.0, 30.0, 20.0]
    assert m["vehicles_departed"] == len(departed_motor)
    assert m["mean_delay_s"] == pytest.approx(sum(departed_motor) / 3)
    assert m["vehicles_not_departed"] == 2
    assert m["mean_depart_delay_s"] == pytest.approx((2 + 0 + 4 + 300 + 100) / 5)
    assert m["mean_total_delay_s"] == pytest.approx((12 + 30 + 24 + 300 + 100) / 5)
    assert m["buses_departed"] == 1 and m["bus_mean_delay_s"] == pytest.approx(20.0)
    assert m["bicycles_departed"] == 1 and m["bicycle_mean_delay_s"] == pytest.approx(7.0)
    assert m["rail_vehicles_departed"] == 1 and m["rail_mean_delay_s"] == pytest.approx(100.0)
    vehicles, _ = read_tripinfo(tmp_path / "trip.xml")
    cells = approach_delays(vehicles, {"in": ("J", "in")}, types)
    assert cells["J"]["in"]["vehicles"] == 2 and cells["J"]["in"]["delay_sum_s"] == 40.0


def test_total_delay_catches_a_blocked_entry(tmp_path: Path) -> None:
    """Two runs: the second holds vehicles outside the network. Their timeLoss looks
    better; the total delay (timeLoss + departDelay of all who wanted to travel) is worse."""
    served = CUSTOM_TRIPINFO.replace('depart="-1" departDelay="300"', 'depart="350" '
                                     'departDelay="50"').replace(
        'depart="-1" departDelay="100"', 'depart="200" departDelay="10"')
    served = served.replace('timeLoss="0" waitingTime="0" waitingCount="0" departLane=""',
                            'timeLoss="60" waitingTime="0" waitingCount="0" departLane=""')
    (tmp_path / "served.xml").write_text(served)
    (tmp_path / "blocked.xml").write_text(CUSTOM_TRIPINFO)
    (tmp_path / "r.rou.xml").write_text(CUSTOM_ROUTES)
    types = read_type_classes([tmp_path / "r.rou.xml"])
    a = summarise(tmp_path / "served.xml", tmp_path / "none.xml", types)
    b = summarise(tmp_path / "blocked.xml", tmp_path / "none.xml", types)
    assert b["mean_delay_s"] < a["mean_delay_s"]  # the backlog hides from timeLoss
    assert b["mean_total_delay_s"] > a["mean_total_delay_s"]


def test_default_types_and_unknown_classes(tmp_path: Path) -> None:
    types = TypeClasses()
    assert types.category("DEFAULT_VEHTYPE") == "motor"
    assert types.category("DEFAULT_BIKETYPE") == "bicycle"
    assert types.category("DEFAULT_PEDTYPE") == "pedestrian"
    assert types.category("DEFAULT_RAILTYPE") == "rail"
    assert vclass_category("coach") == "motor"
    (tmp_path / "bad.rou.xml").write_text('<routes><vType id="x" vClass="hovercraft"/></routes>')
    with pytest.raises(ValueError, match="vType 'x'.*unknown vClass 'hovercraft'"):
        read_type_classes([tmp_path / "bad.rou.xml"])
    (tmp_path / "broken.add.xml").write_text("<additional><vType id=")
    with pytest.raises(ValueError, match="does not parse"):
        read_type_classes([tmp_path / "broken.add.xml"])


def test_trip_totals_count_every_tripinfo_and_the_jam_teleports(tmp_path: Path) -> None:
    from scenarios.metrics import trip_totals

    (tmp_path / "t.xml").write_text(TRIPINFO)
    (tmp_path / "s.xml").write_text('<statistics><teleports total="5" jam="2" yield="1" '
                                    'wrongLane="1"/></statistics>')
    totals = trip_totals(tmp_path / "t.xml", tmp_path / "s.xml")
    # every vehicle's tripinfo (bicycles too), not the walks
    assert totals == {"all_trips_mean_time_loss_s": pytest.approx((20 + 80 + 6) / 3),
                      "all_trips": 3, "jam_teleports": 4}
    assert trip_totals(tmp_path / "t.xml", tmp_path / "none.xml")["jam_teleports"] == 0


def test_vtypes_are_read_as_elementtree_reads_them(tmp_path: Path) -> None:
    """The expat reader finds the vTypes ElementTree's parse finds, in document order,
    in plain and gzipped files (namespaced elements are not vTypes)."""
    import gzip
    import xml.etree.ElementTree as ET

    from scenarios.vclass import _vtypes

    text = ('<routes xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            '<vType id="car" vClass="passenger"><param key="a" value="1"/></vType>'
            '<vTypeDistribution id="mix"><vType id="bike" vClass="bicycle"/></vTypeDistribution>'
            '<vehicle id="v" type="car" depart="0"><route edges="a b"/></vehicle>'
            '<vType id="plain"/><n:vType xmlns:n="urn:x" id="other"/></routes>')
    plain = tmp_path / "r.rou.xml"
    plain.write_text(text)
    packed = tmp_path / "r.rou.xml.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    expected = [(el.get("id", ""), el.get("vClass", "passenger"))
                for el in ET.parse(plain).getroot().iter("vType")]
    assert expected == [("car", "passenger"), ("bike", "bicycle"), ("plain", "passenger")]
    assert _vtypes(plain) == _vtypes(packed) == expected
