"""Metrics from hand-written tripinfo and statistics files."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.metrics import summarise

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
    m = summarise(tmp_path / "trip.xml", tmp_path / "stats.xml")
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
