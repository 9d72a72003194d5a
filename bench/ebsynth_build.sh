#!/bin/sh
# Build EbSynth's CPU binary (the public-domain reference source, github.com/jamriska/ebsynth) for
# bench/keyframe_ebsynth.py, which runs it beside StyleLock on the same plates.
# The product never uses it; the source is not part of this repository.
#
#     bench/ebsynth_build.sh SOURCE_DIR [OUTPUT_BINARY]
#
# SOURCE_DIR is a checkout (or `git archive` export) of jamriska/ebsynth; the binary goes to
# OUTPUT_BINARY (default SOURCE_DIR/bin/ebsynth). This is the command of the source's own
# build-linux-cpu_only.sh (g++ with OpenMP, about 1.5 minutes on 2 cores), with the output path
# made explicit. Then: export STYLELOCK_EBSYNTH=OUTPUT_BINARY (or pass --ebsynth to the bench).
set -eu
if [ $# -lt 1 ] || [ ! -f "$1/src/ebsynth.cpp" ]; then
    echo "usage: $0 SOURCE_DIR [OUTPUT_BINARY]  (SOURCE_DIR holds src/ebsynth.cpp)" >&2
    exit 2
fi
src=$(cd "$1" && pwd)
out=${2:-$src/bin/ebsynth}
mkdir -p "$(dirname "$out")"
cd "$src"
g++ src/ebsynth.cpp src/ebsynth_cpu.cpp src/ebsynth_nocuda.cpp -DNDEBUG -O6 -fopenmp -I"include" \
    -std=c++11 -o "$out"
echo "$out"
