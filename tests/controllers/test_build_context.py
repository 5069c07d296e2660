"""The junctions built by one controller factory share a BuildContext; params stay the
caller's."""

from __future__ import annotations

from controllers.registry import controller_factory
from scenarios.scenario import load_scenario


def test_one_factory_shares_one_queue_board_and_leaves_params_alone() -> None:
    scenario = load_scenario("werler_strasse")
    assert len(scenario.junctions) >= 2
    params = {"base": "max-pressure"}
    make = controller_factory("bus-priority", params)
    built = [make(j, scenario) for j in scenario.junctions]
    boards = {id(c.base.board) for c in built}  # type: ignore[attr-defined]
    assert len(boards) == 1
    assert params == {"base": "max-pressure"}
    other = controller_factory("max-pressure")(scenario.junctions[0], scenario)
    assert id(other.board) not in boards  # type: ignore[attr-defined]

