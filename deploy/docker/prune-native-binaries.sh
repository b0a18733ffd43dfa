#!/bin/sh
# Run in an image's build stage after `npm prune --omit=dev`: keep only the native binaries of the
# platform the image runs on (linux and this build's CPU, x64 or arm64).
# - onnxruntime-node ships ONNX Runtime for every platform under bin/napi-v*/<os>/<arch>
#   (darwin/arm64, linux/arm64, linux/x64, win32/arm64, win32/x64: about 220 MB of its 288 MB that a
#   Linux image never loads). Everything but bin/napi-v*/linux/<arch> goes, including the CUDA
#   provider libraries when they were installed there for another platform (they never are).
# - sharp loads its binary from @img/sharp-<platform> and libvips from @img/sharp-libvips-<platform>;
#   npm installs only the current platform's (os, cpu and libc), so this normally removes nothing.
# Usage: prune-native-binaries.sh [project directory, default .]
set -eu
cd "${1:-.}"
arch=$(node -p process.arch)
case "$arch" in
  x64 | arm64) ;;
  *) echo "prune-native-binaries: no ONNX Runtime build for linux/$arch" >&2; exit 1 ;;
esac

ort=node_modules/onnxruntime-node/bin
for dir in "$ort"/napi-v*/*/; do
  [ "$(basename "$dir")" = linux ] || rm -rf "$dir"
done
for dir in "$ort"/napi-v*/linux/*/; do
  [ "$(basename "$dir")" = "$arch" ] || rm -rf "$dir"
done
for dir in node_modules/@img/sharp-*/; do
  [ -d "$dir" ] || continue
  case "$(basename "$dir")" in
    sharp-linux-"$arch" | sharp-libvips-linux-"$arch") ;;
    *) rm -rf "$dir" ;;
  esac
done

# What is left must still load here: fail the build if linux/<arch> is missing.
ls "$ort"/napi-v*/linux/"$arch"/onnxruntime_binding.node >/dev/null
ls -d node_modules/@img/sharp-linux-"$arch" node_modules/@img/sharp-libvips-linux-"$arch" >/dev/null
echo "prune-native-binaries: kept $(cd "$ort" && echo napi-v*/*/*) and $(cd node_modules/@img && echo sharp-*)"
