#!/bin/sh
# Container entrypoint for both images: p2pdistill-entrypoint DLL [options...]
#
# Akka.Remote must advertise an address the other nodes can reach. Inside a container the process binds
# every interface (0.0.0.0) and advertises, in this order:
#   P2PDISTILL_Node__PublicHostname   when set (compose sets "coordinator"; Kubernetes sets the pod IP), else
#   the container's own IPv4 address  (what its hostname resolves to in /etc/hosts), so that each replica of
#                                     a scaled service (docker compose up --scale student=4) has its own.
# P2PDISTILL_Node__Hostname overrides the bind address. Every other option comes from the arguments or from
# P2PDISTILL_* environment variables (e.g. P2PDISTILL_Training__Epochs=3).
set -eu
dll="$1"
shift

export P2PDISTILL_Node__Hostname="${P2PDISTILL_Node__Hostname:-0.0.0.0}"
if [ -z "${P2PDISTILL_Node__PublicHostname:-}" ]; then
  name="$(cat /proc/sys/kernel/hostname)"
  address="$(getent ahostsv4 "$name" 2>/dev/null | while read -r a _; do echo "$a"; break; done)"
  case "$address" in
    ""|127.*) echo "p2pdistill-entrypoint: cannot find this container's address (hostname $name resolves to '${address}'); set P2PDISTILL_Node__PublicHostname" >&2
              exit 2 ;;
  esac
  export P2PDISTILL_Node__PublicHostname="$address"
fi
echo "p2pdistill-entrypoint: binding $P2PDISTILL_Node__Hostname, reachable as $P2PDISTILL_Node__PublicHostname" >&2
exec dotnet "/app/$dll" "$@"
