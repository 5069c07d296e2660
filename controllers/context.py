"""What the junctions built by one controller factory share: the build context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scenarios.netfile import TlProgram

if TYPE_CHECKING:
    from controllers.coordination import GreenWave
    from controllers.max_pressure import QueueBoard


@dataclass
class BuildContext:
    """Objects shared by the junctions of one factory (one run), passed to every builder.

    ``board``: the queue board max-pressure junctions publish to and read from (made when
    first asked for, so a run without max-pressure does not import it);
    ``waves``: the green wave per scenario key (computed once per factory and scenario);
    ``programs``: SUMO's programs per network path (for the reference controllers).
    """

    waves: dict[tuple[Any, ...], GreenWave] = field(default_factory=dict)
    programs: dict[str, dict[str, TlProgram]] = field(default_factory=dict)
    _board: QueueBoard | None = field(default=None, repr=False)

    @property
    def board(self) -> QueueBoard:
        """The factory's queue board (one object for all its junctions)."""
        if self._board is None:
            from controllers.max_pressure import QueueBoard

            self._board = QueueBoard()
        return self._board
