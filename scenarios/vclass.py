"""Road users by SUMO vehicle class: the one vehicle classification every metric uses.

SUMO's tripinfo names a vehicle's type id, not its class. :func:`read_type_classes` reads
the ``<vType>`` definitions (network, route and additional files; SUMO's default types
included; a vType without ``vClass`` is ``passenger``, as in SUMO) and
:meth:`TypeClasses.category` sorts each type into one :data:`Category`:

* ``motor`` — SUMO's motorised road classes (passenger, taxi, private, delivery, truck,
  trailer, bus, coach, motorcycle, moped, emergency, …): the vehicles HBS rates;
* ``bicycle``, ``pedestrian`` — by class;
* ``rail`` — trams and trains, reported apart;
* ``other`` — ships, aircraft, containers, drones, ``ignoring``, custom classes.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from xml.parsers import expat

if TYPE_CHECKING:
    from scenarios.session import SumoSession

from signals.errors import ScenarioError

log = logging.getLogger(__name__)

Category = Literal["motor", "bicycle", "pedestrian", "rail", "other"]

#: SUMO's motorised road classes (deprecated names included)
MOTOR_CLASSES = frozenset({
    "passenger", "private", "taxi", "hov", "delivery", "truck", "trailer", "bus", "coach",
    "motorcycle", "moped", "emergency", "authority", "army", "vip", "evehicle",
    "public_transport", "public_emergency", "public_authority", "public_army", "transport",
})
BICYCLE_CLASSES = frozenset({"bicycle", "scooter"})
PEDESTRIAN_CLASSES = frozenset({"pedestrian", "wheelchair"})
RAIL_CLASSES = frozenset({"tram", "rail_urban", "rail", "rail_electric", "rail_fast",
                          "subway", "cable_car", "lightrail", "cityrail", "rail_slow"})
OTHER_CLASSES = frozenset({"ignoring", "ship", "container", "aircraft", "drone", "custom1",
                           "custom2"})
_CATEGORY: dict[str, Category] = {
    **{c: "motor" for c in MOTOR_CLASSES}, **{c: "bicycle" for c in BICYCLE_CLASSES},
    **{c: "pedestrian" for c in PEDESTRIAN_CLASSES}, **{c: "rail" for c in RAIL_CLASSES},
    **{c: "other" for c in OTHER_CLASSES},
}
#: SUMO's built-in vehicle types and their classes
DEFAULT_TYPES = {
    "DEFAULT_VEHTYPE": "passenger", "DEFAULT_PEDTYPE": "pedestrian",
    "DEFAULT_BIKETYPE": "bicycle", "DEFAULT_TAXITYPE": "taxi", "DEFAULT_RAILTYPE": "rail",
    "DEFAULT_CONTAINERTYPE": "ignoring",
}


def vclass_category(vclass: str) -> Category:
    """The category of a SUMO vehicle class; an unknown class is a ``ValueError``."""
    try:
        return _CATEGORY[vclass]
    except KeyError:
        raise ScenarioError(f"unknown vClass {vclass!r} (SUMO classes: "
                            f"{', '.join(sorted(_CATEGORY))})") from None


@dataclass
class TypeClasses:
    """vType id → SUMO vehicle class, with the categories derived from it."""

    classes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TYPES))
    _unknown: set[str] = field(default_factory=set, repr=False)

    def vclass(self, type_id: str) -> str:
        """The type's class; a type defined nowhere read counts as ``passenger``."""
        vclass = self.classes.get(type_id)
        if vclass is None:
            if type_id not in self._unknown:
                self._unknown.add(type_id)
                log.warning("vType %r is defined in no file read; counted as passenger",
                            type_id)
            return "passenger"
        return vclass

    def category(self, type_id: str) -> Category:
        """The category (motor, bicycle, pedestrian, rail, other) of a type id."""
        return vclass_category(self.vclass(type_id))

    def is_motor(self, type_id: str) -> bool:
        """Whether vehicles of this type are motor vehicles."""
        return self.category(type_id) == "motor"


def _vtypes(path: Path) -> list[tuple[str, str]]:
    """(id, vClass) of every vType in a file, in document order; the whole file is parsed
    (a broken file fails here) by expat without building elements (large files stay
    cheap)."""
    opener = gzip.open if path.suffix == ".gz" else open
    found: list[tuple[str, str]] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == "vType":
            found.append((attrs.get("id", ""), attrs.get("vClass", "passenger")))

    # namespaced tags come as "uri}tag", never "vType" (as ElementTree's "{uri}tag")
    parser = expat.ParserCreate(namespace_separator="}")
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
        if b"vType" in data:  # else no element can be one: parsed without a callback
            parser.StartElementHandler = start
        parser.Parse(data, True)
    except (expat.ExpatError, OSError, EOFError) as exc:
        raise ScenarioError(f"{path} does not parse: {exc}") from None
    return found


def read_type_classes(files: Iterable[Path]) -> TypeClasses:
    """vType classes from the given SUMO files, in load order (a later definition wins).

    Every ``vClass`` is checked: an unknown one is a one-line ``ValueError`` naming the
    file and the type.
    """
    out = TypeClasses()
    for path in files:
        path = Path(path)
        if not path.is_file():
            continue
        for type_id, vclass in _vtypes(path):
            try:
                vclass_category(vclass)
            except ValueError as exc:
                raise ScenarioError(f"{path}: vType {type_id!r}: {exc}") from None
            out.classes[type_id] = vclass
    return out


def session_type_classes(session: SumoSession) -> TypeClasses:
    """vType classes of the files a :class:`~scenarios.session.SumoSession` loads.

    SUMO's order: network, additional files, route files (an external scenario's own
    route files when it has them).
    """
    files = session.files
    routes = tuple(getattr(session, "route_files", ())) or (files.routes,)
    return read_type_classes((files.net, *files.additional, *routes))
