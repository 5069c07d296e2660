"""Running vehicle counts of induction loops, kept from per-step data.

SUMO's interval vehicle number (``getIntervalVehicleNumber``) of a loop counts the vehicles
that entered it since the interval began, less those that left it early (lane change,
teleport, arrival on the loop) and those that vanished from it. Asking for it costs time
proportional to every vehicle of the interval, so the loops are written with a short
period (cheap queries) and :class:`LoopCounter` rebuilds the same running count from each
step's vehicle list and vehicle data, asking libsumo for the data only on steps where
something may have happened on the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

#: a vehicle on a loop: (vehicle id, entry time) — the id alone repeats if it comes back
_Key = tuple[str, float]
#: one row of libsumo's ``inductionloop.getVehicleData``
VehicleData = tuple[str, float, float, float, str]


@dataclass
class LoopCounter:
    """The running count of one loop since tracking began (same as SUMO's interval count)."""

    loop: str
    total: int = 0
    buses: int = 0
    #: vehicles seen in the last step: key -> True while on the loop, False once it left
    _state: dict[_Key, bool] = field(default_factory=dict)
    _ids: tuple[str, ...] = ()

    @property
    def busy(self) -> bool:
        """True while vehicles seen in the last step are still accounted for."""
        return bool(self._state)

    def update(self, ids: tuple[str, ...], occupancy_pct: float, now_s: float,
               vehicle_data: Callable[[str], tuple[VehicleData, ...]],
               is_bus: Callable[[str], bool]) -> None:
        """Account for one simulation step.

        ``ids`` and ``occupancy_pct`` are the loop's last-step vehicle ids and occupancy;
        ``vehicle_data(loop)`` fetches its last-step vehicle data (called only when
        needed); ``is_bus`` tells a bus by its vehicle type id.
        """
        if not ids:
            if self._state:  # whoever was still on the loop vanished without data
                self.total -= sum(self._state.values())
                self._state = {}
            self._ids = ()
            return
        if (len(ids) == 1 and ids == self._ids and occupancy_pct >= 100.0
                and len(self._state) == 1 and next(iter(self._state.values()))):
            return  # the same vehicle stood on the loop for the whole step: nothing new
        state: dict[_Key, bool] = {}
        for vid, _length, entry, leave, type_id in vehicle_data(self.loop):
            key = (vid, entry)
            on_loop = leave < 0
            before = self._state.get(key)
            if before is None:
                self.total += 1
                self.buses += is_bus(type_id)
            # a vehicle that left early (not past the loop's end) is taken off the count;
            # SUMO stamps its leave time at the end of the step
            if before is not False and not on_loop and leave >= now_s - 1e-6:
                self.total -= 1
                state[key] = False
                continue
            state[key] = on_loop and (before is not False)
        self.total -= sum(1 for key, on in self._state.items() if on and key not in state)
        self._state = state
        self._ids = ids
