#!/usr/bin/env bash
# Blender as a Python module for tests/hosts/blender: one virtual environment per Blender version,
# as users run it (bpy pins numpy<2, so it cannot share the server's environment). Each venv holds
# only bpy and what bpy itself needs; the tests install the built extension zip into it, which
# brings the StyleLock client and its wheels. Re-running is cheap: a venv whose stamp names the
# pinned version is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

# venv folder -> exact bpy version (4.5 LTS: scene.node_tree; 5.0: scene.compositing_node_group).
VENVS=(".venv-bpy45=4.5.15" ".venv-bpy50=5.0.1")
NUMPY=1.26.4

# The X11/GL libraries bpy links against, even headless.
LIBS=(libx11-6 libxrender1 libxfixes3 libxi6 libxkbcommon0 libsm6 libice6 libgl1 libegl1 libgl1-mesa-dri)
missing=()
for lib in "${LIBS[@]}"; do
  dpkg-query -W -f='${Status}' "$lib" 2>/dev/null | grep -q "install ok installed" || missing+=("$lib")
done
if ((${#missing[@]})); then
  echo "bpy: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

for entry in "${VENVS[@]}"; do
  venv="${entry%%=*}" version="${entry#*=}"
  stamp="$venv/stylelock-bpy.txt"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "bpy==$version numpy==$NUMPY" ]]; then
    continue
  fi
  echo "bpy: creating $venv with bpy==$version"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q "numpy==$NUMPY" "bpy==$version"
  "$venv/bin/python" -m pip check
  echo "bpy==$version numpy==$NUMPY" >"$stamp"
done
