"""`stylelock info`: engines and their typed parameters, versions, device, colour config."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info", help="list engines, parameters, versions, device and colour config"
    )
    parser.add_argument("--json", action="store_true", help="print the machine-readable schema")
    parser.add_argument("--ocio", help="OCIO config to report (default: $OCIO, else bundled)")
    parser.add_argument("--server", metavar="ADDR", help="ask a StyleLock server instead")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.server:
        from stylelock.core.client import StyleLockClient

        with StyleLockClient(args.server) as client:
            info = client.info()
    else:
        from stylelock.server.info import server_info

        info = server_info(args.ocio)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
    else:
        print(format_info(info))
    return 0


def format_info(info: dict[str, Any]) -> str:
    lines = []
    versions = info.get("versions", {})
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    device = info.get("device", {})
    memory = device.get("memory_bytes") or 0
    memory_text = f", {memory / 2**30:.1f} GiB" if memory else ""
    lines.append(f"device: {device.get('kind', '?')} ({device.get('name', '?')}{memory_text})")
    colour = info.get("colour", {})
    lines.append(f"colour config: {colour.get('config')} (from {colour.get('source')})")
    for kind, names in (info.get("models") or {}).items():
        listed = ", ".join(f"{name}={path}" for name, path in names.items())
        lines.append(f"{kind.replace('_', ' ')}: {listed}")
    lines.append("engines:")
    for engine in info.get("engines", []):
        lines.append(f"  {engine['name']}: {engine['summary']}")
        for param in engine.get("params", []):
            bounds = ""
            if param.get("choices"):
                bounds = " {" + "|".join(param["choices"]) + "}"
            elif param.get("minimum") is not None or param.get("maximum") is not None:
                bounds = f" [{param.get('minimum')}, {param.get('maximum')}]"
            lines.append(
                f"    {param['name']} ({param['type']}{bounds}, default {param['default']!r}): "
                f"{param['help']}"
            )
    return "\n".join(lines)
