#!/bin/sh
# Container entrypoint for every image: p2pdistill-entrypoint DLL [options...]
#
# Akka.Remote must advertise an address the other nodes can reach. Inside a container the process binds
# every interface (0.0.0.0) and advertises, in this order:
#   P2PDISTILL_Node__PublicHostname   when set (compose sets "coordinator"; Kubernetes sets the pod IP), else
#   the container's own IPv4 address  (what its hostname resolves to in /etc/hosts), so that each replica of
#                                     a scaled service (docker compose up --scale student=4) has its own.
# P2PDISTILL_Node__Hostname overrides the bind address. With --hostname or --public-hostname among the
# arguments (e.g. docker run --network host IMAGE --hostname 10.0.0.3 ...) the arguments decide and nothing is
# set here. Every other option comes from the arguments or from P2PDISTILL_* environment variables
# (e.g. P2PDISTILL_Training__Epochs=3).
#
# P2PDISTILL_HOLD_AFTER_EXIT=1 (Kubernetes): after a successful run the container stays up, idle, instead of
# exiting, so that its orchestrator does not start a new run and the run directory can still be copied out.
set -eu
dll="$1"
shift

explicit=0
for a in "$@"; do
  case "$a" in
    --hostname|--hostname=*|--public-hostname|--public-hostname=*) explicit=1 ;;
    --Node:Hostname|--Node:Hostname=*|--Node:PublicHostname|--Node:PublicHostname=*) explicit=1 ;;
  esac
done

if [ "$explicit" = 1 ]; then
  : # the arguments say where to bind and what to advertise
elif [ -z "${P2PDISTILL_Node__PublicHostname:-}" ]; then
  export P2PDISTILL_Node__Hostname="${P2PDISTILL_Node__Hostname:-0.0.0.0}"
  name="$(cat /proc/sys/kernel/hostname)"
  first_ipv4() { while read -r a _; do case "$a" in *.*.*.*) echo "$a"; return ;; esac; done; }
  address="$(getent ahostsv4 "$name" 2>/dev/null | first_ipv4)"
  [ -n "$address" ] || address="$(getent hosts "$name" 2>/dev/null | first_ipv4)"
  case "$address" in
    ""|127.*) echo "p2pdistill-entrypoint: cannot find this container's address (hostname $name resolves to '${address}'); set P2PDISTILL_Node__PublicHostname" >&2
              exit 2 ;;
  esac
  export P2PDISTILL_Node__PublicHostname="$address"
else
  export P2PDISTILL_Node__Hostname="${P2PDISTILL_Node__Hostname:-0.0.0.0}"
fi
if [ "$explicit" = 0 ]; then
  echo "p2pdistill-entrypoint: binding $P2PDISTILL_Node__Hostname, reachable as $P2PDISTILL_Node__PublicHostname" >&2
fi
# A self-contained publish (Dockerfile.published) runs through its own executable; a framework-dependent one
# (Dockerfile.coordinator, Dockerfile.peer) through the runtime image's dotnet.
if [ -f /app/libcoreclr.so ] && [ -x "/app/${dll%.dll}" ]; then
  set -- "/app/${dll%.dll}" "$@"
else
  set -- dotnet "/app/$dll" "$@"
fi
if [ "${P2PDISTILL_HOLD_AFTER_EXIT:-0}" != 1 ]; then
  exec "$@"
fi

"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
status=0
while kill -0 "$child" 2>/dev/null; do
  wait "$child" && status=0 || status=$?
done
trap - TERM INT
if [ "$status" != 0 ]; then exit "$status"; fi
echo "p2pdistill-entrypoint: the run finished (exit 0); holding until stopped (P2PDISTILL_HOLD_AFTER_EXIT=1)" >&2
trap 'kill "$!" 2>/dev/null; exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
