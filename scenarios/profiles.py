"""Time-of-day demand profiles: which share of daily traffic each simulated hour carries.

A scenario's ``demand:`` gives hourly flows per movement for its *basis* period (the
morning peak 07:00-08:00, the hour Hamm's traffic counts describe). The other periods are
derived from it with the documented shares below, so one set of counts yields all three
hours consistently:

    flow_p(a -> b) = q(a -> b) * share_p / share_basis                 (mirror = 0)
    flow_p(a -> b) = mix of q(a -> b) and q(b -> a) by the mirror weight (tidal flows)

Shares of daily traffic per hour (all ASSUMED except the morning peak):

* morning peak 07:00-08:00, 12 % of daily motor traffic: hamm.de, Masterplan Verkehr
  ("Zahlen und Fakten", DOMAIN.md). Bicycles taken equal (commuter and school traffic);
  pedestrians lower (9 %), as walking peaks later in the day in a city centre.
* midday off-peak 11:00-12:00, 6 %: half the morning peak, the usual plateau of German
  urban day curves (HBS/EWS standard curves, values unverified); pedestrians 9 %
  (shopping). Directions balanced: mirror weight 0.5.
* afternoon peak 16:00-17:00, 11 %: a slightly flatter peak than the morning (commuting
  home overlaps with shopping trips); pedestrians 10 %. The morning's tidal flow turns
  round: mirror weight 1 (the afternoon flow a -> b is the morning flow b -> a).

Buses are not derived: they run to the per-period timetable of each bus line.

Modal split (2016 household survey, Verkehrsbericht 2018; DOMAIN.md) counts *trips*. At a
road cross-section, modes weigh by trip length too, so the expected ratio of bicycles and
pedestrians to motor vehicles passing a junction is ``share * trip length`` of the mode over
that of car drivers. Mean trip lengths are ASSUMED (typical German urban values, MiD 2017
order of magnitude): car 10 km, bicycle 3.5 km, walking 1.5 km. The scenarios size their
bicycle and pedestrian flows around these ratios (see :func:`cross_section_ratio`), times a
local factor for junctions next to the city centre or the station.
"""

from __future__ import annotations

from dataclasses import dataclass

from signals.errors import ScenarioError

#: the period whose flows a scenario's ``demand:`` states
BASIS_PERIOD = "morning_peak"


@dataclass(frozen=True)
class PeriodProfile:
    """One simulated hour of the day and the share of daily traffic it carries."""

    name: str
    clock: str
    vehicle_share: float
    bicycle_share: float
    pedestrian_share: float
    mirror: float  # 0: the basis direction split; 1: fully reversed (afternoon tide)


PROFILES: dict[str, PeriodProfile] = {
    "morning_peak": PeriodProfile("morning_peak", "07:00-08:00", 0.12, 0.12, 0.09, 0.0),
    "midday": PeriodProfile("midday", "11:00-12:00", 0.06, 0.06, 0.09, 0.5),
    "afternoon_peak": PeriodProfile("afternoon_peak", "16:00-17:00", 0.11, 0.11, 0.10, 1.0),
}

#: trip shares of Hamm's modal split (2016 survey); car passengers ride in the cars counted
MODAL_SPLIT = {"car_driver": 0.44, "bicycle": 0.19, "walking": 0.17, "car_passenger": 0.10,
               "public_transport": 0.08}

#: ASSUMED mean trip lengths in km (typical German urban values)
TRIP_LENGTH_KM = {"car_driver": 10.0, "bicycle": 3.5, "walking": 1.5}


def period_names() -> tuple[str, ...]:
    """Names accepted by ``--period``, in time-of-day order."""
    return tuple(PROFILES)


def profile(name: str) -> PeriodProfile:
    """The named period profile; ValueError naming the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ScenarioError(f"unknown period {name!r} (known: {', '.join(PROFILES)})") from None


def share_ratio(period: str, mode: str, basis: str = BASIS_PERIOD) -> float:
    """Flow of ``mode`` (vehicle, bicycle, pedestrian) in ``period`` relative to the basis."""
    attr = f"{mode}_share"
    return getattr(profile(period), attr) / getattr(profile(basis), attr)


def cross_section_ratio(mode: str) -> float:
    """Expected flow of ``mode`` (bicycle or walking) per motor vehicle at a cross-section."""
    def weight(m: str) -> float:
        return MODAL_SPLIT[m] * TRIP_LENGTH_KM[m]

    return weight(mode) / weight("car_driver")
