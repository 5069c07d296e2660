"""What the junctions built by one controller factory share: the build context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from controllers.coordination import GreenWave
from controllers.max_pressure import QueueBoard
from scenarios.netfile import TlProgram


@dataclass
class BuildContext:
    """Objects shared by the junctions of one factory (one run), passed to every builder.

    ``board``: the queue board max-pressure junctions publish to and read from;
    ``waves``: the green wave per scenario key (computed once per factory and scenario);
    ``programs``: SUMO's programs per network path (for the reference controllers).
    """

    board: QueueBoard = field(default_factory=QueueBoard)
    waves: dict[tuple[Any, ...], GreenWave] = field(default_factory=dict)
    programs: dict[str, dict[str, TlProgram]] = field(default_factory=dict)
