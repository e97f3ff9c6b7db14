#!/usr/bin/env bash
# install-deps.sh: installs with apt-get only the Debian packages that are missing.
# Idempotent: when everything is present it prints one line and changes nothing.
#   scripts/install-deps.sh            build + test + run packages (clang and
#                                      libclang-rt-14-dev: libFuzzer, for the fuzz targets;
#                                      OpenMPI: training over several processes / machines)
#   scripts/install-deps.sh --bench    also what `make bench` needs (python3-torch, numpy)
set -euo pipefail

pkgs=(gcc g++ make pkg-config libgomp1
      libdnnl-dev libxsmm-dev libbenchmark-dev libgtest-dev
      zlib1g-dev libpng-dev libcjson-dev
      clang libclang-rt-14-dev
      libopenmpi-dev openmpi-bin
      dataset-fashion-mnist gnuplot-nox)
for a in "$@"; do
  case "$a" in
    --bench) pkgs+=(python3-torch python3-numpy) ;;
    --golden) pkgs+=(python3-torch python3-numpy) ;;
    *) echo "install-deps.sh: unknown option '$a' (use --bench or --golden)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: not root and no sudo; install these packages: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
