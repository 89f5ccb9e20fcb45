#!/usr/bin/env bash
# The main job: sets up what it needs on a fresh Debian/Ubuntu machine, builds, and trains a teacher and
# two students on Fashion-MNIST as a real multi-process cluster on this machine (coordinator, teacher and
# two students, each its own process on 127.0.0.1), ending with a summary table and a run directory under runs/.
#
# Extra arguments go to deploy/local-cluster.sh and on to the coordinator, e.g.:
#   deploy/run.sh --epochs 3 --mode kd --students 4
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source deploy/lib/ensure-dotnet.sh
ensure_dotnet

dataset_dir=/usr/share/datasets/fashion-mnist
dataset_args=()
# Another data set named on the command line (e.g. --dataset pneumoniamnist, shipped in data/) needs no Fashion-MNIST.
wants_fashion=1
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = "--dataset" ]; then j=$((i + 1)); [ "${!j:-}" = "fashion-mnist" ] || wants_fashion=0; fi
  if [ "${!i}" = "--task" ]; then j=$((i + 1)); [ "${!j:-}" = "classification" ] || wants_fashion=0; fi
done
if [ "$wants_fashion" = 1 ] && [ ! -f "$dataset_dir/train-images-idx3-ubyte.gz" ]; then
  echo "[p2pdistill] Fashion-MNIST not found in $dataset_dir; installing the Debian package dataset-fashion-mnist"
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; } || true
  elif command -v sudo >/dev/null 2>&1 && [ "${P2PDISTILL_NO_SUDO:-0}" != 1 ]; then
    { sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null; } || true
  fi
  if [ ! -f "$dataset_dir/train-images-idx3-ubyte.gz" ]; then
    echo "[p2pdistill] could not install dataset-fashion-mnist (run: sudo apt-get install dataset-fashion-mnist)."
    echo "[p2pdistill] Training on the built-in synthetic dataset instead."
    dataset_args=(--dataset synthetic --teacher-model tiny --student-model tiny)
  fi
fi

echo "[p2pdistill] building (Release)"
dotnet build P2PDistill.sln -c Release -v quiet -nologo >/dev/null

exec deploy/local-cluster.sh --epochs 1 --batch-size 128 --mode kd-ml "${dataset_args[@]}" "$@"
