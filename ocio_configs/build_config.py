"""Write `stylelock.ocio`, StyleLock's bundled OpenColorIO config, from a pinned OCIO built-in.

    python -m stylelock.ocio_configs.build_config            # rewrite the bundled file
    python -m stylelock.ocio_configs.build_config --check    # exit 1 when the file is stale

The config is the ACES CG config `ocio://<BASE_BUILTIN>` as OpenColorIO ships it (every colour space
analytic: no LUT files), plus:

* aliases so host colour-space names resolve: Blender's `Linear Rec.709`, `Linear`, `Non-Color`,
  `sRGB`, `Display P3`, `Rec.1886`, `Linear DCI-P3 D65`, `Linear ACES`, `Linear ACEScg`. Only names
  whose Blender definition is the same maths as the CG config's colour space are aliased; Blender's
  AgX and Filmic need LUT files that only Blender ships, so they are left out (README.md);
* roles naming StyleLock's model-space encodings, which `stylelock.core.colour` reads.

The output is deterministic: the same OCIO version writes the same bytes, and a test keeps the
committed file equal to what this script writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stylelock.ocio_configs import BASE_BUILTIN, BUNDLED_CONFIG

#: Host colour-space names added as aliases: CG-config colour space -> aliases.
HOST_ALIASES: dict[str, tuple[str, ...]] = {
    # Blender 4.0+ names its scene-linear space `Linear Rec.709`; Blender 2.8-3.x called it `Linear`.
    "Linear Rec.709 (sRGB)": ("Linear Rec.709", "Linear"),
    # Blender's data space (normals, masks). The CG config's `Raw` is also a data space.
    "Raw": ("Non-Color",),
    # Blender's `sRGB`: the piecewise sRGB curve over Rec.709 primaries.
    "sRGB Encoded Rec.709 (sRGB)": ("sRGB",),
    # Blender's `Display P3`: the piecewise sRGB curve over P3-D65 primaries.
    "sRGB Encoded P3-D65": ("Display P3",),
    # Blender's `Rec.1886`: a pure 2.4 exponent over Rec.709 primaries.
    "Gamma 2.4 Encoded Rec.709": ("Rec.1886",),
    "Linear P3-D65": ("Linear DCI-P3 D65",),
    # Blender 2.8-3.x names of the ACES spaces.
    "ACES2065-1": ("Linear ACES",),
    "ACEScg": ("Linear ACEScg",),
}

#: Roles that name StyleLock's model-space encodings: (encoded space, its linear space) per encoding.
#: The codec encodes `linear -> encoded` with a per-channel curve and restores what leaves [0, 1].
MODEL_ROLES: dict[str, str] = {
    "stylelock_srgb_encoded": "sRGB Encoded Rec.709 (sRGB)",
    "stylelock_srgb_linear": "Linear Rec.709 (sRGB)",
    "stylelock_acescct_encoded": "ACEScct",
    "stylelock_acescct_linear": "ACEScg",
}

_HEADER = (
    "# StyleLock bundled OpenColorIO config. GENERATED: do not edit by hand.\n"
    "# Written by ocio_configs/build_config.py from ocio://{base} with OpenColorIO {version}.\n"
    "# Regenerate: python -m stylelock.ocio_configs.build_config\n"
)


def build(base: str = BASE_BUILTIN) -> str:
    """Return the text of the bundled config derived from the built-in config `base`."""
    import PyOpenColorIO as OCIO

    config = OCIO.Config.CreateFromBuiltinConfig(base)
    config.setName(f"stylelock-{base}")
    config.setDescription(
        f"StyleLock bundled config: ocio://{base} plus aliases for Blender colour-space names "
        "and the roles of StyleLock's model-space encodings (stylelock_*)."
    )
    for name, aliases in HOST_ALIASES.items():
        colour_space = config.getColorSpace(name)
        if colour_space is None:
            raise SystemExit(f"ocio://{base} has no colour space {name!r}: update HOST_ALIASES")
        for alias in aliases:
            taken = config.getColorSpace(alias)
            if taken is not None and taken.getName() != name:
                raise SystemExit(f"alias {alias!r} already names {taken.getName()!r} in ocio://{base}")
            colour_space.addAlias(alias)
        config.addColorSpace(colour_space)
    for role, space in MODEL_ROLES.items():
        if config.getColorSpace(space) is None:
            raise SystemExit(f"ocio://{base} has no colour space {space!r} for role {role!r}")
        config.setRole(role, space)
    config.validate()
    return _HEADER.format(base=base, version=OCIO.__version__) + config.serialize()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the bundled file is stale")
    parser.add_argument("--out", type=Path, default=BUNDLED_CONFIG, help="file to write or check")
    args = parser.parse_args(argv)
    text = build()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is stale: run python -m stylelock.ocio_configs.build_config", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} from ocio://{BASE_BUILTIN}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
