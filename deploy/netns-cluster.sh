#!/usr/bin/env bash
# Runs a cluster as if on several machines, on this one: every node (coordinator, teacher, N students) in its
# own Linux network namespace with its own IP address, joined by a bridge. Nothing listens on loopback: the
# nodes reach each other only over the namespaces' virtual Ethernet, as they would across hosts.
#
#   deploy/netns-cluster.sh [--students N] [--teacher-threads N] [--student-threads N] [--subnet A.B.C]
#                           [--timeout SECONDS] [--netns-id ID] [coordinator options...]
#   deploy/netns-cluster.sh --check            can network namespaces, a bridge and veth pairs be created here? (exit 0/1)
#   deploy/netns-cluster.sh --cleanup [ID]     remove what a killed run left behind (all p2pd-* namespaces without ID)
#
# Layout of one run (ID: 6 random hex digits unless --netns-id is given, so parallel runs never collide):
#   namespace p2pd-ID-net             the bridge br0 and one veth end per node; no address, no route out
#   namespace p2pd-ID-coordinator     eth0 SUBNET.2, the coordinator on port 4053 (the seed node)
#   namespace p2pd-ID-teacher         eth0 SUBNET.3
#   namespace p2pd-ID-student-K       eth0 SUBNET.(10+K)
# SUBNET defaults to 10.213.7 (a /24). Every address exists only inside this run's namespaces, so parallel runs
# may share it and it never meets the host's own networks. Nothing is created in the root namespace.
# On exit (normal end, error, Ctrl+C, TERM, --timeout) every process is stopped and every namespace deleted,
# which also removes the bridge and every veth pair.
#
# Node logs go to RUN_DIR/logs/ (coordinator.log, teacher.log, student-K.log); --output and --run-name work as
# in deploy/local-cluster.sh, every other option goes to the coordinator (--min-students defaults to
# --students). Exits with the coordinator's code (2: missing prerequisites or bad usage; 124: --timeout
# reached; 130/143: interrupted).
#
# Environment: P2PDISTILL_BIN (folder holding p2pdistill-coordinator.dll and p2pdistill-peer.dll; default
# src/*/bin/$P2PDISTILL_CONFIGURATION/net10.0), P2PDISTILL_CONFIGURATION (Release), P2PDISTILL_PORT (4053).
# Needs root, iproute2 with netns support, and the dotnet host on PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { echo "[p2pdistill] $*"; }
err() { echo "[p2pdistill] $*" >&2; }

# ---------------------------------------------------------------------------------------------------------
# Prerequisites and --check
# ---------------------------------------------------------------------------------------------------------
missing_prerequisite() { # prints why this machine cannot run namespaces, or nothing
  if [ "$(id -u)" != 0 ]; then echo "needs root (creating network namespaces needs CAP_SYS_ADMIN and CAP_NET_ADMIN); run it with sudo"; return; fi
  if ! command -v ip >/dev/null 2>&1; then echo "the 'ip' command (iproute2) is missing: apt-get install iproute2"; return; fi
  if ! ip netns list >/dev/null 2>&1; then echo "'ip netns' does not work here (iproute2 without netns support?)"; return; fi
}

# Creates a probe namespace pair with a bridge and a veth, then removes them. Prints the failure, if any.
probe_namespaces() {
  local id="probe$$" out=""
  local a="p2pd-$id-net" b="p2pd-$id-node"
  if ! out=$( { ip netns add "$a" && ip netns add "$b" \
        && ip -n "$a" link add br0 type bridge \
        && ip -n "$a" link add v0 type veth peer name eth0 netns "$b" \
        && ip -n "$a" link set v0 master br0 \
        && ip -n "$b" link set lo up; } 2>&1); then
    echo "${out:-could not create a network namespace, a bridge or a veth pair}"
  fi
  ip netns del "$b" 2>/dev/null || true
  ip netns del "$a" 2>/dev/null || true
}

# Stops every process in the given namespaces (TERM, then KILL after a grace period) and deletes them.
remove_namespaces() {
  local ns pid deadline
  for ns in "$@"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
  done
  deadline=$((SECONDS + 10))
  for ns in "$@"; do
    while [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  for ns in "$@"; do
    # Deleting a namespace destroys its interfaces: the bridge and both ends of every veth pair.
    ip netns del "$ns" 2>/dev/null || true
  done
}

case "${1:-}" in
  --check)
    why="$(missing_prerequisite)"
    [ -z "$why" ] && why="$(probe_namespaces)"
    if [ -n "$why" ]; then err "network namespaces unavailable: $why"; exit 1; fi
    say "network namespaces, bridges and veth pairs can be created here"
    exit 0 ;;
  --cleanup)
    why="$(missing_prerequisite)"
    if [ -n "$why" ]; then err "error: $why"; exit 2; fi
    prefix="p2pd-${2:+$2-}"
    mapfile -t stale < <(ip netns list | awk '{print $1}' | grep "^$prefix" || true)
    if [ "${#stale[@]}" -gt 0 ]; then remove_namespaces "${stale[@]}"; fi
    say "removed ${#stale[@]} namespace(s) matching $prefix*"
    exit 0 ;;
esac

# ---------------------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------------------
students=2
teacher_threads="$(nproc)"
student_threads=1
teacher_model=cnn-teacher
student_model=cnn-student
classes=10
shape=1x28x28
subnet=10.213.7
timeout=0
id=""
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
    --input-shape) shape="$2"; shift 2 ;;
    --subnet) subnet="$2"; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    --netns-id) id="$2"; shift 2 ;;
    --output) output="$2"; shift 2 ;;
    --run-name) run_name="$2"; shift 2 ;;
    --hostname|--public-hostname|--port|--seed-nodes)
      err "error: $1 is set by this script (each node gets its namespace's address)"; exit 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done

if ! [[ "$students" =~ ^[0-9]+$ ]] || [ "$students" -lt 1 ] || [ "$students" -gt 200 ]; then err "error: --students must be 1..200"; exit 2; fi
[[ "$timeout" =~ ^[0-9]+$ ]] || { err "error: --timeout must be a number of seconds"; exit 2; }
[[ "$subnet" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || { err "error: --subnet must be the first three octets of a /24, e.g. 10.213.7"; exit 2; }
[ -n "$id" ] || id="$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
[[ "$id" =~ ^[a-z0-9]{1,12}$ ]] || { err "error: --netns-id must be 1..12 lower-case letters or digits"; exit 2; }

why="$(missing_prerequisite)"
if [ -n "$why" ]; then err "error: cannot run a namespace cluster: $why"; exit 2; fi
command -v dotnet >/dev/null 2>&1 || { err "error: dotnet is not on PATH (deploy/lib/ensure-dotnet.sh installs it)"; exit 2; }
dotnet_host="$(command -v dotnet)"

config="${P2PDISTILL_CONFIGURATION:-Release}"
if [ -n "${P2PDISTILL_BIN:-}" ]; then
  coordinator_dll="$P2PDISTILL_BIN/p2pdistill-coordinator.dll"
  peer_dll="$P2PDISTILL_BIN/p2pdistill-peer.dll"
else
  coordinator_dll="$root/src/Coordinator/bin/$config/net10.0/p2pdistill-coordinator.dll"
  peer_dll="$root/src/PeerNode/bin/$config/net10.0/p2pdistill-peer.dll"
fi
if [ ! -f "$coordinator_dll" ] || [ ! -f "$peer_dll" ]; then
  err "error: not built: $coordinator_dll or $peer_dll is missing (run dotnet build -c $config, or set P2PDISTILL_BIN)"; exit 2
fi

port="${P2PDISTILL_PORT:-4053}"
run_dir="$output/$run_name"
logs="$run_dir/logs"
mkdir -p "$logs"

# ---------------------------------------------------------------------------------------------------------
# Clean-up: always, whatever ends the script
# ---------------------------------------------------------------------------------------------------------
namespaces=()
pids=()
cleaned=0
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  [ "$cleaned" = 1 ] && return
  cleaned=1
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  if [ "${#namespaces[@]}" -gt 0 ]; then remove_namespaces "${namespaces[@]}"; fi
  local left
  left="$(ip netns list | awk '{print $1}' | grep -c "^p2pd-$id-" || true)"
  if [ "$left" != 0 ]; then err "warning: $left namespace(s) p2pd-$id-* could not be removed"; else say "removed the namespaces of run $id"; fi
}
trap 'status=$?; cleanup; exit "$status"' EXIT
trap 'err "interrupted"; exit 130' INT
trap 'exit 143' TERM
ends=$((SECONDS + timeout))
check_timeout() {
  if [ "$timeout" -gt 0 ] && [ "$SECONDS" -ge "$ends" ]; then err "error: timeout: the run took longer than $timeout s"; exit 124; fi
}

# ---------------------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------------------
net="p2pd-$id-net"
add_namespace() { ip netns add "$1"; namespaces+=("$1"); }

add_namespace "$net"
ip -n "$net" link add br0 type bridge
ip -n "$net" link set br0 up
ip -n "$net" link set lo up

# add_node NAME OCTET: namespace p2pd-ID-NAME with eth0 = SUBNET.OCTET/24 on the bridge; prints the address
add_node() {
  local ns="p2pd-$id-$1" ip_addr="$subnet.$2" port_if="v$2"
  add_namespace "$ns"
  ip -n "$net" link add "$port_if" type veth peer name eth0 netns "$ns"
  ip -n "$net" link set "$port_if" master br0
  ip -n "$net" link set "$port_if" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$ip_addr/24" dev eth0
  ip -n "$ns" link set eth0 up
}

coordinator_ip="$subnet.2"
teacher_ip="$subnet.3"
add_node coordinator 2
add_node teacher 3
for i in $(seq 1 "$students"); do add_node "student-$i" $((10 + i)); done
seed="akka.tcp://p2pdistill@$coordinator_ip:$port"

# ---------------------------------------------------------------------------------------------------------
# The nodes
# ---------------------------------------------------------------------------------------------------------
in_ns() { local ns="p2pd-$id-$1"; shift; ip netns exec "$ns" "$@"; }

say "run $id: namespaces p2pd-$id-*, bridge br0 in $net, subnet $subnet.0/24; logs in $logs"
say "coordinator on $seed; teacher + $students student(s)"
in_ns coordinator "$dotnet_host" "$coordinator_dll" --hostname "$coordinator_ip" --port "$port" --min-students "$students" \
  --output "$output" --run-name "$run_name" "${args[@]}" > >(tee "$logs/coordinator.log") 2>&1 &
coordinator=$!
pids+=("$coordinator")

# Wait until the coordinator accepts connections, probed from the teacher's namespace (so across the bridge).
deadline=$((SECONDS + 90))
until in_ns teacher timeout 2 bash -c "exec 3<>/dev/tcp/$coordinator_ip/$port" 2>/dev/null; do
  if ! kill -0 "$coordinator" 2>/dev/null; then
    status=0; wait "$coordinator" || status=$?
    err "error: the coordinator exited ($status) before it listened on $coordinator_ip:$port; see $logs/coordinator.log"
    exit "$(( status == 0 ? 1 : status ))"
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then err "error: the coordinator did not listen on $coordinator_ip:$port within 90 s"; exit 1; fi
  check_timeout
  sleep 0.5
done

peer_names=()
start_peer() { # NAME ROLE MODEL THREADS ADDRESS
  in_ns "$1" "$dotnet_host" "$peer_dll" --role "$2" --model "$3" --classes "$classes" --input-shape "$shape" \
    --hostname "$5" --seed-nodes "$seed" --threads "$4" > "$logs/$1.log" 2>&1 &
  pids+=("$!")
  peer_names+=("$1")
  say "$1 ($2, $3) on $5"
}
start_peer teacher teacher "$teacher_model" "$teacher_threads" "$teacher_ip"
for i in $(seq 1 "$students"); do start_peer "student-$i" student "$student_model" "$student_threads" "$subnet.$((10 + i))"; done

# Poll rather than block in wait, so --timeout and signals are handled within a second.
while kill -0 "$coordinator" 2>/dev/null; do check_timeout; sleep 1; done
status=0
wait "$coordinator" || status=$?
say "coordinator exited with $status"
# Peers end by themselves once the coordinator has ended the run; give them a moment, then stop them (clean-up).
for k in "${!peer_names[@]}"; do
  p="${pids[$((k + 1))]}"
  for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 1; done
  if kill -0 "$p" 2>/dev/null; then
    say "${peer_names[$k]} still running after the run; stopping it"
  else
    peer_status=0; wait "$p" || peer_status=$?
    [ "$peer_status" = 0 ] || say "${peer_names[$k]} exited with $peer_status (see $logs/${peer_names[$k]}.log)"
  fi
done
exit "$status"
