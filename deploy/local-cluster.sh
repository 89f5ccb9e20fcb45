#!/usr/bin/env bash
# Starts a real multi-process cluster on this machine: one coordinator, one teacher and N students,
# each its own process on 127.0.0.1, and waits for the run to end. Node logs go to RUN_DIR/logs/.
#
#   deploy/local-cluster.sh [--students N] [--teacher-threads N] [--student-threads N] [coordinator options...]
#
# The teacher is the slowest network and on the critical path of every step, so by default it gets every
# core and each student one thread; the coordinator lets it run 2 steps ahead (--teacher-lookahead). No CPU
# pinning and libgomp's default wait policy: on 2 cores, pinning and OMP_WAIT_POLICY=PASSIVE measured no better
# (docs/benchmarks.md, issue 14; docs/deployment.md "Several nodes on one machine").
#
# Environment: P2PDISTILL_PORT (coordinator port, default 4053), P2PDISTILL_CONFIGURATION (Release).
# Expects a build (dotnet build -c Release); deploy/run.sh does that first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
config="${P2PDISTILL_CONFIGURATION:-Release}"
coordinator_dll="$root/src/Coordinator/bin/$config/net10.0/p2pdistill-coordinator.dll"
peer_dll="$root/src/PeerNode/bin/$config/net10.0/p2pdistill-peer.dll"
[ -f "$coordinator_dll" ] && [ -f "$peer_dll" ] || { echo "[p2pdistill] not built: run dotnet build -c $config" >&2; exit 2; }

students=2
teacher_threads="$(nproc)"
student_threads=1
teacher_model=
student_model=
classes=
shape=
dataset=
task=classification
image_size=64
output="$root/runs"
run_name="$(date -u +%Y%m%d-%H%M%S)"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --students) students="$2"; shift 2 ;;
    --teacher-threads) teacher_threads="$2"; shift 2 ;;
    --student-threads) student_threads="$2"; shift 2 ;;
    --teacher-model) teacher_model="$2"; args+=("$1" "$2"); shift 2 ;;
    --student-model) student_model="$2"; args+=("$1" "$2"); shift 2 ;;
    --classes) classes="$2"; shift 2 ;;
    --dataset) dataset="$2"; args+=("$1" "$2"); shift 2 ;;
    --task) task="$2"; args+=("$1" "$2"); shift 2 ;;
    --image-size) image_size="$2"; args+=("$1" "$2"); shift 2 ;;
    --input-shape) shape="$2"; shift 2 ;;
    --output) output="$2"; shift 2 ;;
    --run-name) run_name="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

# --task detection: the detectors, the synthetic detection set and RGB images of --image-size (default 64), as the coordinator.
case "$task" in
  detection|det)
    teacher_model="${teacher_model:-det-teacher}"; student_model="${student_model:-det-student}"
    dataset="${dataset:-synthetic-detection}"; shape="${shape:-3x${image_size}x${image_size}}" ;;
  *)
    teacher_model="${teacher_model:-cnn-teacher}"; student_model="${student_model:-cnn-student}"
    dataset="${dataset:-fashion-mnist}"; shape="${shape:-1x28x28}" ;;
esac

# The peers declare the classes they output; the presets' class counts (override with --classes).
if [ -z "$classes" ]; then
  case "$dataset" in
    pneumoniamnist|synthetic-detection) classes=2 ;;
    synthetic) classes=4 ;;
    *) classes=10 ;;
  esac
fi

port="${P2PDISTILL_PORT:-4053}"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "[p2pdistill] error: port $port on 127.0.0.1 is in use; set P2PDISTILL_PORT to a free port" >&2
  exit 2
fi
seed="akka.tcp://p2pdistill@127.0.0.1:$port"
run_dir="$output/$run_name"
logs="$run_dir/logs"
mkdir -p "$logs"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap 'cleanup; exit 130' INT TERM

echo "[p2pdistill] coordinator on $seed; teacher + $students students; logs in $logs"
dotnet "$coordinator_dll" --port "$port" --min-students "$students" --output "$output" --run-name "$run_name" "${args[@]}" \
  > >(tee "$logs/coordinator.log") 2>&1 &
coordinator=$!
pids+=("$coordinator")
sleep 1
start_peer() { # name role model threads
  dotnet "$peer_dll" --role "$2" --model "$3" --classes "$classes" --input-shape "$shape" --seed-nodes "$seed" \
    --threads "$4" > "$logs/$1.log" 2>&1 &
  pids+=("$!")
}
start_peer teacher teacher "$teacher_model" "$teacher_threads"
for i in $(seq 1 "$students"); do start_peer "student-$i" student "$student_model" "$student_threads"; done

status=0
wait "$coordinator" || status=$?
for p in "${pids[@]:1}"; do
  for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 1; done
  kill "$p" 2>/dev/null || true
done
trap - INT TERM
exit "$status"
