"""Header attributes between OpenImageIO specs and plain Python values, types kept.

OIIO hands attribute values out as Python scalars and tuples; writing them back needs their OIIO
type (a 16-float tuple may be a matrix or a float[16]). The type of every attribute read is kept
as a string (`encode_type`), and attributes added by code get a type inferred from the value.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: OIIO keys held in ExrPart fields rather than in `attributes`.
FIELD_KEYS: frozenset[str] = frozenset({"compression", "PixelAspectRatio", "oiio:subimagename", "name"})

#: OIIO bookkeeping that is not a header attribute of the part (counts OIIO derives on read, and
#: the MIP rounding mode of the tile description, moot for the single-level files we write).
BOOKKEEPING_KEYS: frozenset[str] = frozenset(
    {"oiio:subimages", "oiio:miplevels", "oiio:RowsPerChunk", "openexr:chunkCount", "openexr:roundingmode"}
)

#: Read and kept in `attributes`, but not written: OIIO takes "textureformat" (written by maketx)
#: as a request to declare MIP levels, and StyleLock writes level 0 only, so the file would lack
#: the levels its header promises.
NOT_WRITTEN: frozenset[str] = frozenset({"textureformat"})

#: OIIO 3.2 derives this from the `colorInteropID` header attribute on read, and on write turns a
#: colour space name it knows into `colorInteropID` (and drops one it does not know), never writing
#: it under its own name. It is therefore left out of `attributes` when it merely repeats
#: `colorInteropID`, and never passed to OIIO on write (see `stylelock.core.exr`).
OIIO_COLORSPACE = "oiio:ColorSpace"

#: Set to "" on write when the part has no DateTime: stops OIIO stamping a capDate of "now" into
#: every file, which would make re-runs differ byte for byte and headers differ from the input's.
DATETIME = "DateTime"


def _oiio() -> Any:
    import OpenImageIO as oiio

    return oiio


def encode_type(typedesc: Any) -> str:
    """A string that `decode_type` turns back into the same TypeDesc."""
    oiio = _oiio()
    text = str(typedesc)
    if oiio.TypeDesc(text) == typedesc:
        return text
    # OIIO prints some types it cannot parse back ("vector2i", "vectori", "vector2i[2]").
    return (
        f"{typedesc.basetype.name}/{typedesc.aggregate.name}/{typedesc.vecsemantics.name}/{typedesc.arraylen}"
    )


def decode_type(text: str) -> Any:
    oiio = _oiio()
    if "/" in text:
        base, aggregate, semantics, arraylen = text.split("/")
        return oiio.TypeDesc(
            getattr(oiio.BASETYPE, base),
            getattr(oiio.AGGREGATE, aggregate),
            getattr(oiio.VECSEMANTICS, semantics),
            int(arraylen),
        )
    return oiio.TypeDesc(text)


def plain_value(value: Any) -> Any:
    """A Python value OIIO's attribute() accepts: numpy scalars and arrays become int/float/tuples."""
    if isinstance(value, np.ndarray):
        return tuple(plain_value(v) for v in value.ravel().tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return tuple(plain_value(v) for v in value)
    return value


def infer_type(value: Any) -> Any:
    """The OIIO type an attribute set by code is written with, from its Python value."""
    oiio = _oiio()
    if isinstance(value, np.ndarray) and value.shape in ((3, 3), (4, 4)):
        return oiio.TypeMatrix33 if value.shape == (3, 3) else oiio.TypeMatrix44
    value = plain_value(value)
    if isinstance(value, bool | int):
        if -(2**31) <= int(value) < 2**31:
            return oiio.TypeInt
        if 0 <= int(value) < 2**32:
            return oiio.TypeUInt
        raise ValueError(f"integer {value} does not fit a 32-bit EXR attribute")
    if isinstance(value, float):
        return oiio.TypeFloat
    if isinstance(value, str):
        return oiio.TypeString
    if isinstance(value, tuple) and value:
        n = len(value)
        if all(isinstance(v, str) for v in value):
            return oiio.TypeDesc(f"string[{n}]")
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return {2: oiio.TypeVector2i, 3: oiio.TypeVector3i}.get(n, oiio.TypeDesc(f"int[{n}]"))
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            named = {2: oiio.TypeFloat2, 3: oiio.TypeVector, 9: oiio.TypeMatrix33, 16: oiio.TypeMatrix44}
            return named.get(n, oiio.TypeDesc(f"float[{n}]"))
    raise ValueError(f"value {value!r} of type {type(value).__name__} cannot be an EXR attribute")


def _fits(typedesc: Any, value: Any) -> bool:
    """Whether `value` has the shape and kind `typedesc` describes (code may have replaced it)."""
    oiio = _oiio()
    count = typedesc.size() // max(1, typedesc.basesize())
    items = value if isinstance(value, tuple) else (value,)
    if len(items) != count or isinstance(value, tuple) != bool(typedesc.arraylen or count > 1):
        return False
    if typedesc.basetype == oiio.BASETYPE.STRING:
        return all(isinstance(v, str) for v in items)
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in items)


def is_utf8(text: str) -> bool:
    """OIIO hands text that is not UTF-8 on with lone surrogates (Python's surrogateescape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _as_utf8(value: Any) -> Any:
    """`value` with every text in it made valid UTF-8 (undecodable bytes become U+FFFD)."""
    if isinstance(value, str) and not is_utf8(value):
        try:
            raw = value.encode("utf-8", "surrogateescape")  # the file's own bytes back
        except UnicodeEncodeError:
            raw = value.encode("utf-8", "surrogatepass")
        return raw.decode("utf-8", "replace")
    if isinstance(value, tuple):
        return tuple(_as_utf8(v) for v in value)
    return value


def read_attributes(spec: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The header attributes of an OIIO spec as (values, type strings), OIIO-internal keys left out."""
    values: dict[str, Any] = {}
    types: dict[str, str] = {}
    for param in spec.extra_attribs:
        name = param.name
        if name in FIELD_KEYS or name in BOOKKEEPING_KEYS:
            continue
        values[name] = param.value
        types[name] = encode_type(param.type)
    colourspace = values.get(OIIO_COLORSPACE)
    if colourspace is not None and colourspace == values.get("colorInteropID"):
        del values[OIIO_COLORSPACE], types[OIIO_COLORSPACE]
    return values, types


def apply_attributes(spec: Any, attributes: Mapping[str, Any], types: Mapping[str, str], where: str) -> None:
    """Set every attribute on an OIIO output spec with its kept (or inferred) type.

    Raises ValueError naming the attribute when a value cannot be written.
    """
    for name, raw in attributes.items():
        if not is_utf8(name):
            log.warning(
                "%s: header attribute %s is not written: its name is not UTF-8 text", where, ascii(name)
            )
            continue
        if name in FIELD_KEYS or name in BOOKKEEPING_KEYS:
            log.debug(
                "%s: attribute %r is held in an ExrPart field, not written from attributes", where, name
            )
            continue
        if name in NOT_WRITTEN:
            log.warning(
                "%s: header attribute %s=%r is not written (the output is not MIP-mapped)", where, name, raw
            )
            continue
        if name == OIIO_COLORSPACE:
            log.warning(
                "%s: header attribute %s=%r is not written: OpenImageIO 3.2 cannot write it under its "
                "own name (it would turn it into colorInteropID or drop it); set colorInteropID instead",
                where,
                name,
                raw,
            )
            continue
        value = plain_value(raw)
        repaired = _as_utf8(value)
        if repaired != value:
            log.warning(
                "%s: header attribute %s holds text that is not UTF-8; written with its undecodable "
                "bytes replaced by U+FFFD",
                where,
                name,
            )
            value = repaired
        typedesc = None
        if name in types:
            typedesc = decode_type(types[name])
            if not _fits(typedesc, value):
                typedesc = None
        if typedesc is None:
            typedesc = infer_type(raw)
        try:
            spec.attribute(name, typedesc, value)
        except (TypeError, ValueError, RuntimeError) as exc:  # RuntimeError: OIIO's C++ exceptions
            shown = ascii(value) if len(ascii(value)) <= 80 else ascii(value)[:76] + "..."
            reason = " ".join(str(exc).split())[:200]
            raise ValueError(
                f"header attribute {name!a}={shown} cannot be written as {typedesc}: {reason}"
            ) from None
    if DATETIME not in attributes:
        spec.attribute(DATETIME, "")
