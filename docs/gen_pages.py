"""Write the generated reference pages (run by mkdocs-gen-files during ``mkdocs build``)."""

from __future__ import annotations

import mkdocs_gen_files

from controllers.registry import controller_infos
from experiments.docgen import (
    controller_parameters_markdown,
    register_maps_markdown,
    scenarios_markdown,
)
from scenarios.registry import HAMM_DIR, registered

PAGES = {
    "reference/controllers.md": lambda: controller_parameters_markdown(controller_infos()),
    "reference/register-map.md": register_maps_markdown,
    "reference/scenarios.md": lambda: scenarios_markdown(registered(HAMM_DIR)),
}

for path, make in PAGES.items():
    with mkdocs_gen_files.open(path, "w") as fh:
        fh.write(make())
