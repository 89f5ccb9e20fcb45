#!/usr/bin/env bash
# The container deploy kit, run for real: builds the images here and trains a cluster of containers end to end.
#
#   deploy/containers-test.sh [--name PREFIX] [--keep-images] [--rebuild] [--epochs N] [--max-steps N] [--timeout SECONDS]
#                             [--subnet A.B.C] [--base IMAGE] [--copy-run DIR]
#   deploy/containers-test.sh --compose [--tls] [--name PREFIX] [--keep-images] ...   # step 3 with podman-compose instead
#   deploy/containers-test.sh --cleanup [--compose] [--name PREFIX]     # removes what a killed run left behind
#
# 1. Installs podman, runc and debootstrap where missing (apt-get, as root) and configures podman for this kind of
#    machine, idempotently: runtime runc, cgroup manager cgroupfs, default_ulimits = [] in
#    /etc/containers/containers.conf (crun refuses the cgroup mode and the rlimits otherwise).
# 2. Without the base image (default localhost/p2pdistill-base:bookworm) makes one with
#    debootstrap --variant=minbase bookworm and podman import; publishes the coordinator and the peer self-contained
#    (dotnet publish -r linux-x64 --self-contained, which carries TorchSharp's native fix) and builds both images
#    from deploy/docker/Dockerfile.published. Images that already exist are used as they are (--rebuild: build anew).
# 3. On its own podman network (PREFIX-net, SUBNET.0/24; the coordinator at SUBNET.2) starts the coordinator (with
#    the run directory on the volume PREFIX-runs), a teacher and 2 students, which train tiny models on the synthetic
#    data (2 epochs of 64 steps of 32 images by default, a checkpoint every 5 steps). Once training is under way it
#    stops the teacher, so training pauses (--teacher-lost wait); during the pause a third student joins and is
#    accepted, then a new teacher container is restored from the last checkpoint and the four models train to the
#    end (in this order whatever the machine's speed: the run never races a container's start).
#    --compose: the cluster is deploy/docker/compose.yaml run by podman-compose (project PREFIX, the images tagged
#    p2pdistill-coordinator:latest and p2pdistill-peer:latest), 3 students from the start (P2PD_STUDENTS=3:
#    podman-compose 1.0.3 ignores --scale); the checks are the exit codes, the logs and summary.md.
#    --tls (with --compose): adds deploy/docker/compose.tls.yaml, with certificates made by deploy/make-certs.sh in
#    a temporary folder; every node must have joined over akka.ssl.tcp.
# 4. Waits for the end and checks: every container exited 0; the run directory on the volume has summary.md,
#    models/ and metrics/steps.csv with steps of all three students; every container's log shows the cluster
#    ("cluster: member up"); the coordinator accepted the third student, which joined the cohort; the new teacher
#    was restored from the checkpoint.
# 5. Removes everything it made: containers, network, volume, and the images it built unless --keep-images (an image
#    that existed before is never removed). A trap does this on failure and on INT/TERM too.
#
# Exit status 0 when every check passed; 1 when a check failed; 2 on a usage or setup error.
# Needs root (podman as root with bridge networking) and the .NET 10 SDK when it has to build the images.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

prefix=p2pd-ct
keep_images=0
rebuild=0
max_steps=0
epochs=2
timeout=600
subnet=10.213.8
base=localhost/p2pdistill-base:bookworm
copy_run=
cleanup_only=0
compose=0
tls=0
while [ $# -gt 0 ]; do
  case "$1" in
    --name) prefix="$2"; shift 2 ;;
    --keep-images) keep_images=1; shift ;;
    --rebuild) rebuild=1; shift ;;
    --max-steps) max_steps="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --timeout) timeout="$2"; shift 2 ;;
    --subnet) subnet="$2"; shift 2 ;;
    --base) base="$2"; shift 2 ;;
    --copy-run) copy_run="$2"; shift 2 ;;
    --cleanup) cleanup_only=1; shift ;;
    --compose) compose=1; shift ;;
    --tls) tls=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "[containers-test] error: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ "$tls" = 1 ] && [ "$compose" = 0 ]; then echo "[containers-test] error: --tls goes with --compose (it runs compose.tls.yaml)" >&2; exit 2; fi
case "$prefix" in *[!a-z0-9-]*|"") echo "[containers-test] error: --name takes lower-case letters, digits and '-'" >&2; exit 2 ;; esac

coordinator_image=localhost/p2pdistill-coordinator:containers-test
peer_image=localhost/p2pdistill-peer:containers-test
network="$prefix-net"
volume="$prefix-runs"
if [ "$compose" = 1 ]; then network="${prefix}_default"; volume="${prefix}_runs"; fi
made_tags=()
coordinator_ip="$subnet.2"
seed="akka.tcp://p2pdistill@$coordinator_ip:4053"
started=$SECONDS

say() { echo "[containers-test] $*"; }
fail() { echo "[containers-test] FAILED: $*" >&2; failures=$((failures + 1)); }
failures=0
made_images=()
work=

own_containers() { podman ps -a --format '{{.Names}}' 2>/dev/null | grep -E "^$prefix[-_]" || true; }

cleanup() {
  local status=$?
  set +e
  local names
  names="$(own_containers)"
  local anonymous=""
  if [ -n "$names" ]; then
    # shellcheck disable=SC2086
    anonymous="$(podman inspect -f '{{range .Mounts}}{{if ne .Name "'"$volume"'"}}{{.Name}} {{end}}{{end}}' $names 2>/dev/null | tr -s ' \n' ' ')"
    # shellcheck disable=SC2086
    podman rm -f -v -t 10 $names >/dev/null 2>&1  # -v: also the anonymous volumes of VOLUME /data/runs
  fi
  podman network exists "$network" 2>/dev/null && podman network rm -f "$network" >/dev/null 2>&1
  podman volume exists "$volume" 2>/dev/null && podman volume rm -f "$volume" >/dev/null 2>&1
  # The tags it added for compose (each on its own: "podman untag IMAGE NAME..." reads the first argument as the image).
  for tag in "${made_tags[@]}"; do podman untag "$tag" "$tag" >/dev/null 2>&1 || true; done
  if [ "$keep_images" = 0 ] && [ "${#made_images[@]}" -gt 0 ]; then
    podman rmi -f "${made_images[@]}" >/dev/null 2>&1
    say "removed the images it built: ${made_images[*]}"
  fi
  if [ -n "$work" ] && [ -d "$work" ]; then
    # debootstrap mounts proc and sys inside the root fs while it runs: unmount before removing anything.
    grep -o " $work/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf --one-file-system "$work"
  fi
  local left
  left="$(own_containers; for v in $anonymous; do podman volume exists "$v" && echo "volume $v"; done
          podman network ls --format '{{.Name}}' 2>/dev/null | grep -E "^$prefix[-_]"; podman volume ls --format '{{.Name}}' 2>/dev/null | grep -E "^$prefix[-_]")"
  if [ -n "$left" ]; then
    echo "[containers-test] FAILED: left behind: $left" >&2
    [ "$status" = 0 ] && status=1
  else
    say "removed containers, network and volume of $prefix"
  fi
  exit "$status"
}

if [ "$cleanup_only" = 1 ]; then
  command -v podman >/dev/null 2>&1 || exit 0
  trap cleanup EXIT
  exit 0
fi

# --- 1. tools ------------------------------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || { echo "[containers-test] error: run as root (podman with bridge networks)" >&2; exit 2; }
missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  command -v apt-get >/dev/null 2>&1 || { echo "[containers-test] error: ${missing[*]} missing and no apt-get" >&2; exit 2; }
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null \
    || { echo "[containers-test] error: could not install ${missing[*]}" >&2; exit 2; }
fi

# containers.conf: KEY = VALUE under [SECTION]; a line that sets KEY to another value is rewritten (the keys are
# distinct across sections), so a machine whose file names crun or systemd gets the settings this machine needs.
conf=/etc/containers/containers.conf
ensure_conf() { # section key value
  mkdir -p "$(dirname "$conf")"; touch "$conf"
  if grep -Eq "^[[:space:]]*$2[[:space:]]*=[[:space:]]*$(sed 's/[][\.*^$"]/\\&/g' <<<"$3")[[:space:]]*$" "$conf"; then return; fi
  if grep -Eq "^[[:space:]]*$2[[:space:]]*=" "$conf"; then
    sed -i -E "s|^[[:space:]]*$2[[:space:]]*=.*$|$2 = $3|" "$conf"
    say "containers.conf: $2 = $3 (was set otherwise)"
    return
  fi
  if grep -Eq "^[[:space:]]*\[$1\][[:space:]]*$" "$conf"; then
    sed -i -E "0,/^[[:space:]]*\[$1\][[:space:]]*$/s//[$1]\n$2 = $3/" "$conf"
  else
    printf '\n[%s]\n%s = %s\n' "$1" "$2" "$3" >> "$conf"
  fi
  say "containers.conf: [$1] $2 = $3"
}
ensure_conf containers default_ulimits '[]'
ensure_conf engine runtime '"runc"'
ensure_conf engine cgroup_manager '"cgroupfs"'

trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of an earlier run under the same name would clash.
if [ -n "$(own_containers)" ] || podman network exists "$network" || podman volume exists "$volume"; then
  echo "[containers-test] error: containers, network or volume named $prefix-* exist; remove them with --cleanup --name $prefix" >&2
  trap - EXIT; exit 2
fi

# --- 2. images -----------------------------------------------------------------------------------------------------
build_started=$SECONDS
work="$(mktemp -d /tmp/p2pdistill-containers.XXXXXX)"
if ! podman image exists "$base"; then
  say "making the base image $base with debootstrap (Debian 12, minbase)"
  t0=$SECONDS
  debootstrap --variant=minbase --include=libssl3,libstdc++6,libgcc-s1,zlib1g,passwd bookworm "$work/rootfs" \
    > "$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; exit 1; }
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  tar -C "$work/rootfs" -c . | podman import -q - "$base" >/dev/null
  rm -rf "$work/rootfs"
  made_images+=("$base")
  say "base image made in $((SECONDS - t0)) s"
fi

build_image() { # image project app port
  if [ "$rebuild" = 0 ] && podman image exists "$1"; then say "using the existing image $1"; return; fi
  command -v dotnet >/dev/null 2>&1 || { source "$root/deploy/lib/ensure-dotnet.sh"; ensure_dotnet; }
  local ctx="$work/$3" t0=$SECONDS
  # Published from a copy of the sources, so the repository's bin/ and obj/ stay as they are; no build servers left running.
  if [ ! -d "$work/src" ]; then
    mkdir -p "$work/src"
    tar -C "$root" --exclude=bin --exclude=obj -c Directory.Build.props Directory.Packages.props build data src | tar -C "$work/src" -x
  fi
  say "publishing $2 (self-contained, linux-x64)"
  mkdir -p "$ctx"
  dotnet publish "$work/src/$2" -c Release -r linux-x64 --self-contained -o "$ctx/app" -nologo -v quiet --disable-build-servers \
    > "$work/publish-$3.log" 2>&1 \
    || { tail -30 "$work/publish-$3.log" >&2; fail "dotnet publish $2"; exit 1; }
  cp "$root/deploy/docker/entrypoint.sh" "$ctx/"
  local old
  old="$(podman image inspect -f '{{.Id}}' "$1" 2>/dev/null || true)"
  say "building $1 on $base"
  podman build -q -f "$root/deploy/docker/Dockerfile.published" --build-arg BASE="$base" --build-arg APP="$3" \
    --build-arg PORT="$4" -t "$1" "$ctx" > "$work/build-$3.log" 2>&1 \
    || { tail -30 "$work/build-$3.log" >&2; fail "podman build $1"; exit 1; }
  made_images+=("$1")
  # --rebuild took the tag of an older image: that one is now untagged, unused and would only be left behind.
  if [ -n "$old" ] && [ -z "$(podman image inspect -f '{{join .RepoTags ","}}' "$old" 2>/dev/null)" ]; then
    podman rmi "$old" >/dev/null 2>&1 || true
  fi
  rm -rf "$ctx"
  say "$1 built in $((SECONDS - t0)) s (publish and image)"
}
build_image "$coordinator_image" src/Coordinator/Coordinator.csproj p2pdistill-coordinator 4053
build_image "$peer_image" src/PeerNode/PeerNode.csproj p2pdistill-peer 4054
say "images ready in $((SECONDS - build_started)) s"
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "p2pdistill-(base|coordinator|peer)" | sed 's/^/[containers-test]   /'

# --- 3. the cluster ------------------------------------------------------------------------------------------------
if [ "$compose" = 1 ]; then
  command -v podman-compose >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman-compose) >/dev/null \
    || { fail "could not install podman-compose"; exit 2; }
  for pair in "$coordinator_image localhost/p2pdistill-coordinator:latest" "$peer_image localhost/p2pdistill-peer:latest"; do
    set -- $pair
    if ! podman image exists "$2"; then podman tag "$1" "$2"; made_tags+=("$2"); fi
  done
  files=(-f "$root/deploy/docker/compose.yaml")
  scheme=akka.tcp
  if [ "$tls" = 1 ]; then
    "$root/deploy/make-certs.sh" "$work/tls" --owner 1654 | sed 's/^/[containers-test]   /'
    files+=(-f "$root/deploy/docker/compose.tls.yaml")
    scheme=akka.ssl.tcp
  fi
  run_started=$SECONDS
  say "podman-compose -p $prefix ${files[*]//$root\//} up --no-build (3 students, $epochs epochs)"
  set +e
  P2PD_STUDENTS=3 P2PD_MIN_STUDENTS=3 P2PD_EPOCHS="$epochs" P2PD_TLS_DIR="$work/tls" timeout "$timeout" \
    podman-compose -p "$prefix" "${files[@]}" up --no-build > "$work/compose.log" 2>&1
  code=$?
  set -e
  [ "$code" = 0 ] || { fail "podman-compose up exited $code"; tail -30 "$work/compose.log" >&2; }
  say "the run took $((SECONDS - run_started)) s (up to all exited)"
  names="$(own_containers)"
  [ "$(wc -w <<<"$names")" = 5 ] || fail "expected 5 containers, got: $names"
  for n in $names; do
    podman logs "$n" > "$work/$n.log" 2>&1
    code="$(podman inspect -f '{{.State.ExitCode}}' "$n")"
    ups="$(grep -c 'cluster: member up' "$work/$n.log" || true)"
    if [ "$code" = 0 ]; then say "$n: exit 0, $ups 'cluster: member up' lines"; else fail "$n exited $code"; tail -30 "$work/$n.log" | sed "s/^/  $n| /" >&2; fi
    [ "$ups" -gt 0 ] || fail "$n: no 'cluster: member up' in its log"
  done
  accepted="$(grep -Eho "Accepted (teacher|student-[0-9]+) \(tiny\) from $scheme://p2pdistill@[0-9.]+" "$work/${prefix}_coordinator_1.log" | sort -u | awk '{print $2 "@" $5}' | sed "s|$scheme://p2pdistill@||" | tr '\n' ' ')"
  say "coordinator accepted ($scheme): $accepted"
  others="$(grep -Eo "Accepted (teacher|student-[0-9]+) \(tiny\) from akka[.a-z]*://" "$work/${prefix}_coordinator_1.log" | grep -v " from $scheme://" || true)"
  [ -z "$others" ] || fail "the coordinator accepted nodes over another scheme than $scheme: $others"
  [ "$(grep -Eo "student-[0-9]+@" <<<"$accepted" | sort -u | wc -l)" = 3 ] || fail "the coordinator did not accept three students"
  listing="$(podman run --rm -v "$volume:/data/runs" --entrypoint /bin/sh "$coordinator_image" -c 'ls /data/runs/*/summary.md && grep "steps of batch" /data/runs/*/summary.md' 2>&1)" || true
  echo "$listing" | sed 's/^/[containers-test]   /'
  grep -q 'summary.md' <<<"$listing" || fail "no summary.md on the volume $volume"
  say "wall time $((SECONDS - started)) s in all"
  if [ "$failures" -gt 0 ]; then echo "[containers-test] $failures check(s) FAILED" >&2; exit 1; fi
  say "PASSED: coordinator, teacher and 3 students trained to the end with podman-compose$([ "$tls" = 1 ] && echo ' over TLS (compose.tls.yaml)')"
  exit 0
fi
podman network create --subnet "$subnet.0/24" "$network" >/dev/null
podman volume create "$volume" >/dev/null
run_started=$SECONDS
say "network $network ($subnet.0/24), volume $volume; coordinator at $coordinator_ip"
podman run -d --name "$prefix-coordinator" --hostname coordinator --network "$network" --ip "$coordinator_ip" \
  -v "$volume:/data/runs" "$coordinator_image" \
  --dataset synthetic --teacher-model tiny --student-model tiny --min-students 2 \
  --epochs "$epochs" --max-steps "$max_steps" --batch-size 32 --run-name run --checkpoint-every 5 >/dev/null
peer() { # name role threads
  podman run -d --name "$prefix-$1" --hostname "$1" --network "$network" "$peer_image" \
    --role "$2" --model tiny --classes 4 --input-shape 1x28x28 --seed-nodes "$seed" --threads "$3" >/dev/null
  say "started $1 ($2)"
}
peer teacher teacher "$(nproc)"
peer student-1 student 1
peer student-2 student 1

# Mid-run, in an order that holds on any machine, however fast the run and however slow a container's start: once
# the coordinator has logged steps the teacher is stopped (SIGTERM: it leaves the cluster), so training pauses
# (--teacher-lost wait, the default); the third student joins and is accepted during the pause; a new teacher
# container then registers, is restored from the last checkpoint (--checkpoint-every 5), and training goes on with
# the teacher and three students to the end.
running() { [ "$(podman inspect -f '{{.State.Running}}' "$prefix-coordinator" 2>/dev/null)" = true ]; }
coordinator_says() { local log; log="$(podman logs "$prefix-coordinator" 2>&1)"; grep -Eq "$1" <<<"$log"; } # not a pipe: grep -q would SIGPIPE podman (pipefail)
volume_dir="$(podman volume inspect -f '{{.Mountpoint}}' "$volume")"
steps_done() { local f="$volume_dir/run/metrics/steps.csv"; if [ -f "$f" ]; then wc -l < "$f"; else echo 0; fi; }
deadline=$((SECONDS + timeout))
wait_for() { # what-the-coordinator-logs (ERE) description
  while running && ! coordinator_says "$1" && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
  coordinator_says "$1" || { fail "the coordinator never logged $2 (running: $(running && echo yes || echo no))"; return 1; }
}
while running && [ "$(steps_done)" -lt 10 ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
if running && [ $SECONDS -lt $deadline ]; then
  say "training under way ($(steps_done) lines in steps.csv); stopping the teacher"
  podman stop -t 60 "$prefix-teacher" >/dev/null
  if wait_for "no teacher in the cohort \(teacher-lost policy: wait\)" "the pause for the lost teacher"; then
    say "training paused without a teacher ($(steps_done) lines in steps.csv); adding student-3"
    peer student-3 student 1
    wait_for "Accepted student-3 " "that it accepted student-3" && say "the coordinator accepted student-3; starting a new teacher"
    peer teacher-again teacher "$(nproc)"
  fi
else
  fail "training did not get under way (coordinator running: $(running && echo yes || echo no))"
fi

# --- 4. the end and the checks -------------------------------------------------------------------------------------
while running && [ $SECONDS -lt $deadline ]; do sleep 2; done
if running; then fail "the run did not end within $timeout s"; podman stop -t 30 "$prefix-coordinator" >/dev/null; fi
# The peers leave when the coordinator ends the run.
for n in teacher student-1 student-2 student-3 teacher-again; do
  podman container exists "$prefix-$n" || continue
  timeout 60 podman wait "$prefix-$n" > "$work/wait-$n.log" 2>&1 \
    || { fail "$n still running 60 s after the coordinator ended ($(tr '\n' ' ' < "$work/wait-$n.log"))"; podman stop -t 10 "$prefix-$n" >/dev/null; }
done
say "the run took $((SECONDS - run_started)) s (containers started to all exited)"

mkdir -p "$work/logs"
for n in coordinator teacher student-1 student-2 student-3 teacher-again; do
  podman container exists "$prefix-$n" || { fail "no container $n"; continue; }
  podman logs "$prefix-$n" > "$work/logs/$n.log" 2>&1
  code="$(podman inspect -f '{{.State.ExitCode}}' "$prefix-$n")"
  ups="$(grep -c 'cluster: member up' "$work/logs/$n.log" || true)"
  if [ "$code" = 0 ]; then say "$n: exit 0, $ups 'cluster: member up' lines"; else fail "$n exited $code"; tail -30 "$work/logs/$n.log" | sed "s/^/  $n| /" >&2; fi
  [ "$ups" -gt 0 ] || fail "$n: no 'cluster: member up' in its log"
done
grep -Eq "Accepted student-[0-9]+ \(tiny\) from akka.tcp://p2pdistill@$subnet\.[0-9]+:[0-9]+" "$work/logs/coordinator.log" \
  || fail "the coordinator log shows no accepted student"
accepted="$(grep -Eo "Accepted (teacher|student-[0-9]+) \(tiny\) from akka.tcp://p2pdistill@[0-9.]+" "$work/logs/coordinator.log" | sort -u | awk '{print $2 "@" $5}' | sed 's/akka.tcp:\/\/p2pdistill@//' | tr '\n' ' ')"
say "coordinator accepted: $accepted"
[ "$(grep -Eo "Accepted student-[0-9]+ " "$work/logs/coordinator.log" | sort -u | wc -l)" -ge 3 ] || fail "the coordinator did not accept three students"
grep -Eq "student-3 joined the cohort at step [0-9]+" "$work/logs/coordinator.log" || fail "student-3 never joined the cohort (its steps did not start)"
! grep -Eq "Lost the coordinator|Rejoining" "$work/logs/teacher.log" 2>/dev/null \
  || fail "the teacher stopped with SIGTERM took its own leave for a lost coordinator (it must leave and exit)"
grep -Eq "Restored teacher from the checkpoint at step [0-9]+" "$work/logs/teacher-again.log" 2>/dev/null \
  || fail "the new teacher was not restored from the run's last checkpoint"

# The run directory, read from the volume through a helper container of the same image (user app).
listing="$(podman run --rm -v "$volume:/data/runs" --entrypoint /bin/sh "$coordinator_image" -c '
  cd /data/runs/run || exit 1
  for f in summary.md metrics/steps.csv; do [ -s "$f" ] && echo "file $f" ; done
  [ -d models ] && echo "models $(ls models | tr "\n" " ")"
  cut -d, -f4 metrics/steps.csv 2>/dev/null | sort | uniq -c | sed "s/^ */model /"
  head -1 metrics/steps.csv 2>/dev/null | sed "s/^/header /"' 2>&1)" || true
echo "$listing" | sed 's/^/[containers-test]   /'
grep -q '^file summary.md' <<<"$listing" || fail "no summary.md in the run directory"
grep -q '^file metrics/steps.csv' <<<"$listing" || fail "no metrics/steps.csv in the run directory"
grep -Eq '^models .+' <<<"$listing" || fail "no models/ (or an empty one) in the run directory"
for m in teacher student-1 student-2 student-3; do
  grep -Eq "^model [1-9][0-9]* $m\$" <<<"$listing" || fail "metrics/steps.csv has no step of $m"
done
for image in "$coordinator_image" "$peer_image"; do
  user="$(podman inspect -f '{{.Config.User}}' "$image")"
  case "$user" in ""|0|root) fail "$image runs as root" ;; esac
done
if [ -n "$copy_run" ]; then
  mkdir -p "$copy_run"
  cid="$(podman create -v "$volume:/data/runs" "$coordinator_image")"
  podman cp "$cid:/data/runs/run" "$copy_run/" && cp -r "$work/logs" "$copy_run/run/container-logs"
  podman rm -f -v "$cid" >/dev/null
  say "copied the run directory to $copy_run/run (container logs in run/container-logs)"
fi

say "wall time $((SECONDS - started)) s in all"
if [ "$failures" -gt 0 ]; then
  echo "[containers-test] $failures check(s) FAILED" >&2
  exit 1
fi
say "PASSED: coordinator, teacher and 3 students (one added mid-run, while a stopped teacher was replaced) trained to the end in containers"
