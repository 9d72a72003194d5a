"""A host's colour-space name, as a job names it: with or without the host's own OCIO config.

Hosts show their OCIO config's names (Blender: `Linear Rec.709`, `ACEScg`, `AgX Log`, `Filmic Log`,
...). The server's bundled config carries aliases for the common scene-linear and display names, so
when the server runs that config and knows the name, the job names only the space. Otherwise (a
view-transform space such as AgX or Filmic, or a server on another config) the job also names the
host's own config file, which defines the name exactly as the host means it; the server then reads
that file, so it must be reachable from the server (same machine or a shared path).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

#: `info()["colour"]["source"]` of a server running its bundled config.
BUNDLED_SOURCE = "bundled"


def plate_colour(
    space: str, *, bundled_names: Collection[str], server_colour: Mapping[str, Any], host_config: str
) -> tuple[str, str]:
    """`(input colour space, OCIO config)` for a job whose plate is in the host's space `space`
    ("" space: the host config's scene_linear role; "" config: the server's own)."""
    if space and server_colour.get("source") == BUNDLED_SOURCE and space in bundled_names:
        return space, ""
    return space, host_config
