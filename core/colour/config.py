"""Choosing the OpenColorIO config and naming colour spaces in it.

Precedence, one rule everywhere: a config named by the caller (the `--ocio` flag, a job spec) wins;
else `$OCIO`; else the config bundled in `stylelock.ocio_configs`. A name is a file path or an
`ocio://` URI. What was used is recorded in outputs as `ResolvedConfig.name`: `ocio://default` is
recorded as the versioned built-in it resolves to, since the default changes between OCIO releases.
"""

from __future__ import annotations

import difflib
import functools
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import PyOpenColorIO as OCIO

from stylelock.core.errors import ColourError
from stylelock.ocio_configs import BUNDLED_CONFIG

log = logging.getLogger(__name__)

_CLOSE_NAMES = 5

#: Blender colour spaces that exist only in Blender's own config (they need LUT files Blender ships).
_BLENDER_ONLY = ("agx", "filmic", "false color", "khronos pbr neutral", "e-gamut", "cie-xyz")


@dataclass(frozen=True)
class ResolvedConfig:
    """An OCIO config and how it was chosen."""

    config: OCIO.Config
    name: str
    """What to record in outputs: the file path or `ocio://` URI actually used."""
    source: str
    """`flag`, `$OCIO` or `bundled`."""
    description: str
    """The config's name and first description line, for `stylelock info`."""

    @property
    def is_bundled(self) -> bool:
        """True when this is StyleLock's bundled config, however it was named."""
        return self.config.getCacheID() == bundled_config().config.getCacheID()


def resolve_config(name_or_path: str | None = None) -> ResolvedConfig:
    """The config to use: `name_or_path` (file or `ocio://` URI) if given, else `$OCIO`, else bundled.

    An unreadable config raises ColourError naming it; there is no silent fallback to another one.
    """
    if name_or_path is not None and str(name_or_path).strip():
        return _load(str(name_or_path).strip(), "flag")
    env = os.environ.get("OCIO", "").strip()
    if env:
        return _load(env, "$OCIO")
    return bundled_config()


def bundled_config() -> ResolvedConfig:
    """StyleLock's bundled config (ocio_configs/stylelock.ocio)."""
    return _load(str(BUNDLED_CONFIG), "bundled")


def resolve_colorspace(config: ResolvedConfig, name: str | None) -> str:
    """The canonical name of colour space `name` (a name, an alias or a role) in `config`.

    None means the config's `scene_linear` role. An unknown name raises ColourError listing up to
    five close names, matched over names and aliases.
    """
    cfg = config.config
    if name is None:
        role = cfg.getRoleColorSpace(OCIO.ROLE_SCENE_LINEAR)
        colour_space = cfg.getColorSpace(role) if role else None
        if colour_space is None:
            raise ColourError(
                f"OCIO config {config.name!r} has no scene_linear role: name the plate's colour space"
            )
        return colour_space.getName()
    colour_space = cfg.getColorSpace(name)
    if colour_space is not None:
        return colour_space.getName()
    raise ColourError(_unknown_message(config, name))


def close_names(config: ResolvedConfig, name: str, limit: int = _CLOSE_NAMES) -> list[str]:
    """Up to `limit` names, aliases or roles of `config` that look like `name`, best first.

    Each colour space is offered once, under the label (name or alias) closest to what was typed.
    """
    cfg = config.config
    labels: dict[str, tuple[str, str]] = {}  # lower-case label -> (label, colour space it names)
    spaces = cfg.getColorSpaces(OCIO.SEARCH_REFERENCE_SPACE_ALL, OCIO.COLORSPACE_ALL)
    for colour_space in spaces:
        for label in (colour_space.getName(), *colour_space.getAliases()):
            labels.setdefault(label.lower(), (label, colour_space.getName()))
    for role in cfg.getRoleNames():
        labels.setdefault(role.lower(), (role, f"role:{role}"))
    key = name.strip().lower()
    ranked = difflib.get_close_matches(key, list(labels), n=len(labels), cutoff=0.5)
    # A substring hit that difflib scores low ("709" in "linear rec.709 (srgb)") still helps.
    ranked += [label for label in labels if key and key in label]
    chosen: dict[str, str] = {}
    for label in ranked:
        shown, target = labels[label]
        chosen.setdefault(target, shown)
    return list(chosen.values())[:limit]


def _unknown_message(config: ResolvedConfig, name: str) -> str:
    near = close_names(config, name)
    message = f"unknown colour space {name!r} in OCIO config {config.name!r}"
    message += "; close names: " + ", ".join(repr(n) for n in near) if near else "; no close names"
    if any(word in name.lower() for word in _BLENDER_ONLY):
        message += (
            " (a Blender-only colour space: pass Blender's own config, "
            "--ocio <blender>/datafiles/colormanagement/config.ocio)"
        )
    return message


def _load(name: str, source: str) -> ResolvedConfig:
    if name.startswith("ocio://"):
        try:
            recorded = OCIO.ResolveConfigPath(name)
        except Exception as exc:  # OCIO raises its own Exception subclasses
            raise ColourError(f"unknown OCIO built-in config {name!r}: {_first_line(exc)}") from exc
        return _load_cached(recorded, source, 0)
    path = Path(name).expanduser()
    if not path.is_file():
        raise ColourError(f"OCIO config {name!r} ({source}) does not exist or is not a file")
    path = path.resolve()
    return _load_cached(str(path), source, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _load_cached(name: str, source: str, mtime_ns: int) -> ResolvedConfig:
    """Load once per (name, source, file version): configs are immutable once loaded."""
    del mtime_ns  # part of the cache key only: an edited file is read again
    try:
        config = OCIO.Config.CreateFromFile(name)
    except Exception as exc:
        raise ColourError(f"cannot read OCIO config {name!r} ({source}): {_first_line(exc)}") from exc
    summary = config.getName() or Path(name).name
    first = (config.getDescription() or "").strip().splitlines()
    description = f"{summary}: {first[0]}" if first else summary
    log.debug("OCIO config %s (%s): %s", name, source, description)
    return ResolvedConfig(config=config, name=name, source=source, description=description)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
