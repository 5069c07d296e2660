"""One signalised junction of a scenario: layout, detectors, static info and plans."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from scenarios.detectors import LaneDetectors, plan_detectors
from scenarios.layout import JunctionLayout
from scenarios.netfile import NetFile
from scenarios.observation import ApproachLane, JunctionInfo
from scenarios.spec import DetectorSpec, PlanSpec, select_plan
from signals.errors import ParameterError


@dataclass(frozen=True)
class Junction:
    """One signalised junction of a scenario: layout, detectors, static info, plans."""

    layout: JunctionLayout
    detectors: tuple[LaneDetectors, ...]
    info: JunctionInfo
    plans: tuple[PlanSpec, ...]
    #: intergreen mode of this layout: ``rilsa`` or ``program`` (see scenarios.derive)
    intergreens: str = "rilsa"
    #: transition seconds per cycle the layout adds to the SUMO program's (external only)
    lengthened_s: float = 0.0
    #: the same junction in other intergreen modes (external scenarios)
    variants: tuple[Junction, ...] = ()
    #: builds the junction in another intergreen mode when it is first asked for
    #: (external scenarios: a run needs one mode, and deriving costs as much as loading)
    derive_variant: Callable[[str], Junction] | None = field(default=None, compare=False,
                                                             repr=False)
    _derived: dict[str, Junction] = field(default_factory=dict, init=False, compare=False,
                                          repr=False)

    def with_intergreens(self, mode: str) -> Junction:
        """This junction with the intergreens of ``mode`` (``rilsa`` or ``program``).

        A junction of a Hamm scenario runs ampel's own plans, so both modes are the same.
        """
        if mode not in ("rilsa", "program"):
            raise ParameterError(f"parameter intergreens must be rilsa or program, got {mode!r}")
        if mode == self.intergreens:
            return self
        found = next((v for v in self.variants if v.intergreens == mode), None)
        if found is not None or self.derive_variant is None:
            return found or self
        if mode not in self._derived:
            self._derived[mode] = self.derive_variant(mode)
        return self._derived[mode]

    @property
    def tls(self) -> str:
        """Traffic-light id in SUMO."""
        return self.layout.tls

    def plan(self, name: str | None = None) -> PlanSpec:
        """The named fixed-time plan, or the first one."""
        return select_plan(self.plans, name, f"junction {self.tls!r}")


def make_junction(layout: JunctionLayout, net: NetFile, detector_spec: DetectorSpec,
                  plans: tuple[PlanSpec, ...]) -> Junction:
    """Detectors and the static controller view for one junction layout."""
    lanes = layout.incoming_lanes()
    detectors = plan_detectors(net, lanes, detector_spec)
    model = layout.model
    approach = []
    for lane_id in lanes:
        groups = layout.groups_of_lane(lane_id)
        stages = tuple(i for i, st in enumerate(model.stages) if st.green & set(groups))
        links = layout.link_groups_of_lane(lane_id)
        shares = tuple(sum(1 for g in links if g in model.stages[i].green) / len(links)
                       for i in stages) if links else ()
        lane = net.lanes[lane_id]
        approach.append(ApproachLane(lane=lane_id, groups=groups, stages=stages,
                                     outgoing=layout.outgoing_lanes(lane_id),
                                     is_bicycle=(lane.permits("bicycle")
                                                 and not lane.permits("passenger")),
                                     stage_shares=shares))
    info = JunctionInfo(
        junction=layout.tls,
        stage_names=tuple(s.name for s in model.stages),
        group_names=layout.group_names,
        lanes=tuple(approach),
        min_green_s=tuple(g.min_green_s for g in model.groups),
        max_green_s=tuple(g.max_green_s for g in model.groups),
    )
    return Junction(layout=layout, detectors=detectors, info=info, plans=plans)
