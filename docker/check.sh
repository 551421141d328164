#!/usr/bin/env bash
# make docker-check: prove that the Dockerfile builds and that its entrypoint trains, without Docker.
#
#  1. base image: Debian (debootstrap --variant=minbase, + ca-certificates) imported into podman; reused
#     when present (DOCKER_CHECK_NEW_BASE=1 makes it again). It has no Python, like the default CUDA base:
#     the Dockerfile's own apt step installs it.
#  2. podman build --isolation chroot, vfs storage, --build-arg BASE_IMAGE=<that base>, EXTRAS= (the CPU
#     TensorFlow wheel; DOCKER_CHECK_EXTRAS=gpu fetches the CUDA wheels as the default build does).
#  3. the image's configuration: ENTRYPOINT ["inception-keras"], CMD ["train"], a non-root USER, VOLUMEs
#     /data and /runs, STOPSIGNAL SIGTERM, INCEPTION_KERAS_RUNS and TFDS_DATA_DIR.
#  4. run the image: `podman run` where it works; otherwise (crun refuses to start containers on hosts
#     like this one) the image's root file system (`podman image mount`, under a throw-away overlay) in
#     new mount and PID namespaces, chroot, as the image's USER, in its WORKDIR, with exactly its Env,
#     /proc, /dev and host directories bind-mounted on its VOLUMEs; the entrypoint is PID 1, as in Docker.
#       a. a tiny IDX data set (tests/conftest.py's) written into /data by the image's Python
#       b. ENTRYPOINT + CMD + `--arch ... --recipe ... --set epochs=1`: one epoch, run directory complete
#       c. the same with epochs=20; SIGTERM to PID 1 (what `docker stop` sends) after the first epoch:
#          exit status 143, state "interrupted"; the same command again resumes and finishes, each epoch
#          in metrics.csv exactly once.
#       e. (informational) SIGTERM 1 s after the start, while TensorFlow loads: reaches Python, or is
#          dropped because PID 1 has no handler yet (a WARN; `docker stop` then SIGKILLs after its timeout).
# Everything lives under .docker-check/ (git-ignored): podman's storage, logs and the volumes. vfs keeps a
# full copy of the file system per layer: 6.3 GB between runs, up to about 13 GB while a layer is rebuilt
# (with DOCKER_CHECK_EXTRAS=gpu: 7.3 GB images, peaks over 25 GB), so it stops early when the disk has less
# than DOCKER_CHECK_MIN_FREE_GB (15, or 35 with gpu) free; images of earlier builds are pruned after each.
# `rm -rf .docker-check` (as root, no check running) removes it all.
# Needs root (podman with its own storage, mounts, chroot), podman, debootstrap, unshare, python3.
set -Eeuo pipefail

if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "docker-check: needs root (podman storage, mounts, chroot)" >&2; exit 1; }
    exec sudo -E "$0" "$@"
fi

cd "$(dirname "$0")/.."
REPO=$PWD
STATE=${DOCKER_CHECK_DIR:-$REPO/.docker-check}
SUITE=${DOCKER_CHECK_SUITE:-bookworm}
MIRROR=${DOCKER_CHECK_MIRROR:-http://deb.debian.org/debian}
EXTRAS=${DOCKER_CHECK_EXTRAS:-}
BASE=localhost/inception-keras-check-base:$SUITE
IMAGE=localhost/inception-keras:check
SIGTERM_EPOCHS=20
RUN_TIMEOUT=${DOCKER_CHECK_RUN_TIMEOUT:-900}
MIN_FREE_GB=${DOCKER_CHECK_MIN_FREE_GB:-$([ -z "$EXTRAS" ] && echo 15 || echo 35)}

START=$(date +%s)
step() { printf '\n=== [%4ss] %s\n' "$(($(date +%s) - START))" "$*"; }
info() { printf '    %s\n' "$*"; }
fail() { printf '\ndocker-check: FAILED: %s (after %ss)\n' "$*" "$(($(date +%s) - START))" >&2; exit 1; }

for tool in podman debootstrap unshare chroot python3 tar; do
    command -v "$tool" >/dev/null || fail "$tool not found (apt-get install podman debootstrap)"
done

mkdir -p "$STATE/tmp"
export TMPDIR=$STATE/tmp  # buildah's and podman's temporary files stay on this disk too
P=(podman --root "$STATE/storage" --runroot "$STATE/runroot" --storage-driver vfs)

# rm -rf, but never through a mount point (a failed debootstrap may leave /proc mounted in its target).
safe_rm() {
    local dir=$1 m
    [ -e "$dir" ] || return 0
    dir=$(realpath "$dir")
    for m in $(awk -v d="$dir" 'index($5, d "/") == 1 || $5 == d {print $5}' /proc/self/mountinfo | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m" || fail "cannot unmount $m"
    done
    rm -rf --one-file-system "$dir"
}

CTR=""          # podman container (podman-run mode, or chroot mode without overlayfs)
IMG_MOUNTED=""  # image mounted with `podman image mount`
BG=""           # background run (its process id)
cleanup() {
    local rc=$?
    trap - ERR
    if [ -n "$BG" ] && kill -0 "$BG" 2>/dev/null; then kill "$BG" 2>/dev/null || true; wait "$BG" 2>/dev/null || true; fi
    if [ -n "$CTR" ]; then "${P[@]}" rm -f "$CTR" >/dev/null 2>&1 || true; fi
    if [ -n "$IMG_MOUNTED" ]; then "${P[@]}" image umount "$IMAGE" >/dev/null 2>&1 || true; fi
    safe_rm "$STATE/rootfs" || true
    safe_rm "$STATE/run" || true
    exit "$rc"
}
trap cleanup EXIT
trap 'fail "line $LINENO: $BASH_COMMAND (exit status $?)"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

printf 'docker-check: %s, podman %s, state in %s (%s of it already)\n' "$(date -Is)" \
    "$(podman --version | awk '{print $3}')" "$STATE" "$(du -sh "$STATE" | cut -f1)"
free_gb=$(df -BG --output=avail "$STATE" | tail -1 | tr -dc 0-9)
[ "$free_gb" -ge "$MIN_FREE_GB" ] \
    || fail "only ${free_gb} GB free on $STATE's file system; the vfs storage needs up to ${MIN_FREE_GB} GB (DOCKER_CHECK_MIN_FREE_GB)"
info "${free_gb} GB free on its file system (at least $MIN_FREE_GB GB needed)"

# ------------------------------------------------------------------------------------------ 1. base image
step "1. base image $BASE"
if [ "${DOCKER_CHECK_NEW_BASE:-0}" = 1 ]; then "${P[@]}" rmi -f "$BASE" >/dev/null 2>&1 || true; fi
if "${P[@]}" image exists "$BASE"; then
    info "reusing it (DOCKER_CHECK_NEW_BASE=1 makes it again)"
else
    safe_rm "$STATE/rootfs"
    info "debootstrap --variant=minbase --include=ca-certificates $SUITE $MIRROR"
    debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$STATE/rootfs" "$MIRROR" \
        > "$STATE/debootstrap.log" 2>&1 || { tail -20 "$STATE/debootstrap.log"; fail "debootstrap (log: $STATE/debootstrap.log)"; }
    rm -rf "$STATE/rootfs"/var/cache/apt/archives/*.deb "$STATE/rootfs"/var/lib/apt/lists/*
    tar -C "$STATE/rootfs" --one-file-system -c . \
        | "${P[@]}" import --change 'CMD ["/bin/bash"]' - "$BASE" > "$STATE/import.log" 2>&1 \
        || { cat "$STATE/import.log"; fail "podman import"; }
    safe_rm "$STATE/rootfs"
    info "imported"
fi

# ---------------------------------------------------------------------------------------------- 2. build
step "2. podman build --isolation chroot --build-arg BASE_IMAGE=$BASE --build-arg EXTRAS=$EXTRAS"
# The host's CA certificates: pip in the build reaches the package index through this network's TLS proxy.
rc=0
"${P[@]}" build --isolation chroot -v /etc/ssl/certs:/etc/ssl/certs:ro \
    --build-arg BASE_IMAGE="$BASE" --build-arg EXTRAS="$EXTRAS" -t "$IMAGE" -f Dockerfile . \
    > "$STATE/build.log" 2>&1 || rc=$?
# the steps (cached or not), and what they installed
grep -E '^(STEP [0-9]+/|--> Using cache|COMMIT|Successfully tagged)|Successfully installed|keeping the|^Python ' \
    "$STATE/build.log" | sed -e 's/^--> Using cache.*/      (cached)/' -e 's/^\(.\{110\}\).*/\1 .../' -e 's/^/    /' || true
[ "$rc" = 0 ] || { tail -40 "$STATE/build.log"; fail "podman build (log: $STATE/build.log)"; }
"${P[@]}" image prune -f >/dev/null  # older builds' layers
info "image: $("${P[@]}" image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.2f GB", $1 / 1e9}'); podman storage: $(du -sh "$STATE/storage" | cut -f1)"

# ------------------------------------------------------------------------------------- 3. configuration
step "3. the image's configuration"
"${P[@]}" image inspect "$IMAGE" > "$STATE/image.json"
# Shell assignments from the image's Config, after checking what the issue asks of it.
CONFIG=$(python3 - "$STATE/image.json" <<'EOF'
import json, shlex, sys
c = json.load(open(sys.argv[1]))[0]["Config"]
env = dict(e.split("=", 1) for e in c.get("Env") or [])
problems = []
def expect(ok, what):
    print(f"echo {shlex.quote(('    ok  ' if ok else '    BAD ') + what)};")
    if not ok:
        problems.append(what)
ep, cmd, user, vols = c.get("Entrypoint") or [], c.get("Cmd") or [], c.get("User") or "", sorted(c.get("Volumes") or {})
expect(ep == ["inception-keras"], f"ENTRYPOINT {json.dumps(ep)} (exec form, the CLI itself: PID 1 gets the signals)")
expect(cmd == ["train"], f"CMD {json.dumps(cmd)}")
expect(user not in ("", "root", "0") and not user.startswith(("root:", "0:")), f"USER {user or '(root)'}")
expect({"/data", "/runs"} <= set(vols), f"VOLUMEs {' '.join(vols)}")
expect(c.get("StopSignal", "SIGTERM") in ("SIGTERM", "15", "TERM"), f"STOPSIGNAL {c.get('StopSignal', '(default: SIGTERM)')}")
expect(env.get("INCEPTION_KERAS_RUNS") == "/runs", f"INCEPTION_KERAS_RUNS={env.get('INCEPTION_KERAS_RUNS')}")
expect(env.get("TFDS_DATA_DIR", "").startswith("/data/"), f"TFDS_DATA_DIR={env.get('TFDS_DATA_DIR')}")
expect(bool(c.get("WorkingDir")), f"WORKDIR {c.get('WorkingDir')}")
q = lambda xs: " ".join(shlex.quote(x) for x in xs)
print(f"ENTRYPOINT=({q(ep)}); CMD=({q(cmd)}); IMG_ENV=({q(c.get('Env') or [])}); IMG_USER={shlex.quote(user)};"
      f" IMG_WORKDIR={shlex.quote(c.get('WorkingDir') or '/')}; IMG_VOLUMES=({q(vols)}); PROBLEMS={len(problems)}")
EOF
)
eval "$CONFIG"
[ "$PROBLEMS" = 0 ] || fail "the image's configuration ($PROBLEMS problem(s) above)"

# ---------------------------------------------------------------------------------------- 4. run it
step "4. run the image"
safe_rm "$STATE/run"
mkdir -p "$STATE/run" "$STATE/logs"
rm -rf "$STATE/logs"/*
VOLDIR=$STATE/volumes   # host directories on the image's VOLUMEs, like `docker run -v $PWD/runs:/runs`
safe_rm "$VOLDIR"
VOL_ARGS=()
for v in "${IMG_VOLUMES[@]}"; do
    mkdir -p "$VOLDIR$v"
    VOL_ARGS+=("$VOLDIR$v:$v")
done
DATA=$VOLDIR/data
RUNS=$VOLDIR/runs

rc=0
probe=$("${P[@]}" run --rm "$IMAGE" --version 2>&1) || rc=$?
if [ "$rc" = 0 ]; then
    MODE=podman
    info "podman run works ($probe): the runs below use podman run and podman stop"
    USER_IDS=$("${P[@]}" run --rm --entrypoint id "$IMAGE" -u):$("${P[@]}" run --rm --entrypoint id "$IMAGE" -g)
else
    MODE=chroot
    info "podman run does not work here: $(printf '%s' "$probe" | tail -1)"
    info "so: podman image mount + overlay + unshare (mount, PID namespaces) + chroot"
    LOWER=$("${P[@]}" image mount "$IMAGE")
    IMG_MOUNTED=1
    # the USER, resolved in the image's /etc/passwd (a name or uid[:gid])
    u=${IMG_USER%%:*}
    g=${IMG_USER#*:}; [ "$g" != "$IMG_USER" ] || g=""
    entry=$(awk -F: -v u="$u" '$1 == u || $3 == u {print $3 ":" $4; exit}' "$LOWER/etc/passwd")
    [ -n "$entry" ] || case $u in (*[!0-9]*) fail "user $u not in the image's /etc/passwd";; (*) entry=$u:$u;; esac
    USER_IDS=${entry%%:*}:${g:-${entry#*:}}
    # overlayfs keeps the image untouched; without it, a container's own copy (vfs copies the whole tree)
    mkdir -p "$STATE/run/probe/u" "$STATE/run/probe/w" "$STATE/run/probe/m"
    if unshare --mount mount -t overlay overlay \
            -o "lowerdir=$LOWER,upperdir=$STATE/run/probe/u,workdir=$STATE/run/probe/w" "$STATE/run/probe/m" 2>/dev/null; then
        ROOTFS=overlay
    else
        ROOTFS=container
        CTR=$("${P[@]}" create "$IMAGE")
        LOWER=$("${P[@]}" mount "$CTR")
    fi
    info "root file system: $LOWER ($ROOTFS)"
fi
info "runs as $IMG_USER ($USER_IDS), WORKDIR $IMG_WORKDIR, volumes: ${VOL_ARGS[*]#$REPO/}"
chown -R "$USER_IDS" "$VOLDIR"

# The mount namespace's setup, then `exec chroot`: the image's command replaces this shell as PID 1.
INNER='set -eu
root=$CK_TARGET
if [ "$CK_ROOTFS" = overlay ]; then
    mount -t overlay overlay -o "lowerdir=$CK_LOWER,upperdir=$CK_RUN/upper,workdir=$CK_RUN/work" "$root"
else
    mount --bind "$CK_LOWER" "$root"
fi
mount -t proc proc "$root/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys" 2>/dev/null || true
mount -t tmpfs -o nosuid,mode=755 tmpfs "$root/dev"
for d in null zero full random urandom tty; do : > "$root/dev/$d"; mount --bind "/dev/$d" "$root/dev/$d"; done
mkdir "$root/dev/shm" "$root/dev/pts"
mount -t tmpfs -o nosuid,nodev,mode=1777,size=64m shm "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"; ln -s /proc/self/fd/1 "$root/dev/stdout"; ln -s /proc/self/fd/2 "$root/dev/stderr"
for v in $CK_VOLUMES; do mkdir -p "$root${v#*:}"; mount --bind "${v%%:*}" "$root${v#*:}"; done
exec chroot --userspec="$CK_IDS" --groups="${CK_IDS#*:}" "$root" /usr/bin/env -C "$CK_WORKDIR" -i "$@"'

RUN_N=0
# start_image LOG ARGV...: run ARGV (the full command line, entrypoint included) in the image, in the
# background; BG is its process id.
start_image() {
    local log=$1; shift
    RUN_N=$((RUN_N + 1))
    if [ "$MODE" = podman ]; then
        local vargs=() v
        for v in "${VOL_ARGS[@]}"; do vargs+=(-v "$v"); done
        "${P[@]}" rm -f "ck-$RUN_N" >/dev/null 2>&1 || true
        CTR=ck-$RUN_N
        timeout -k 10 "$RUN_TIMEOUT" "${P[@]}" run --name "$CTR" "${vargs[@]}" --entrypoint "$1" "$IMAGE" "${@:2}" \
            > "$log" 2>&1 &
    else
        local run=$STATE/run/$RUN_N
        mkdir -p "$run/upper" "$run/work" "$run/root"
        CK_TARGET=$run/root CK_ROOTFS=$ROOTFS CK_LOWER=$LOWER CK_RUN=$run CK_IDS=$USER_IDS \
        CK_WORKDIR=$IMG_WORKDIR CK_VOLUMES="${VOL_ARGS[*]}" \
            timeout -k 10 "$RUN_TIMEOUT" unshare --mount --propagation private --pid --fork --kill-child \
            bash -c "$INNER" inner "${IMG_ENV[@]}" "$@" > "$log" 2>&1 &
    fi
    BG=$!
}
# finish_image: wait for the background run; RC is its exit status.
finish_image() {
    RC=0
    wait "$BG" || RC=$?
    BG=""
    if [ "$MODE" = podman ]; then "${P[@]}" rm -f "$CTR" >/dev/null 2>&1 || true; CTR=""; fi
}
# stop_image SECONDS: what `docker stop -t SECONDS` does: the STOPSIGNAL (SIGTERM) to the container's
# PID 1, SIGKILL if it still runs after SECONDS; then finish_image.
stop_image() {
    local t=$1
    if [ "$MODE" = podman ]; then
        info "podman stop -t $t"
        "${P[@]}" stop -t "$t" "$CTR" >/dev/null
    else
        local unshare_pid ns_init  # $BG is timeout; its child unshare; its child PID 1 of the namespace
        unshare_pid=$(pgrep -P "$BG") || fail "no unshare process under $BG"
        ns_init=$(pgrep -P "$unshare_pid") || fail "no process under unshare ($unshare_pid)"
        info "SIGTERM to PID 1 of the container (host pid $ns_init: $(tr '\0' ' ' < "/proc/$ns_init/cmdline"))"
        kill -TERM "$ns_init"
        while [ "$t" -gt 0 ] && kill -0 "$ns_init" 2>/dev/null; do sleep 1; t=$((t - 1)); done
        if kill -0 "$ns_init" 2>/dev/null; then
            info "still running after $1 s: SIGKILL"
            kill -KILL "$ns_init" 2>/dev/null || true
            finish_image
            RC=137  # what Docker reports (unshare itself says 1 here)
            return
        fi
    fi
    finish_image
}
show() { sed -e 's/^/    | /' "$1"; }
# run_dir LOG: the run directory a training printed, as a host path
run_dir() {
    local d
    d=$(sed -n 's/^run directory: \([^ ]*\).*/\1/p' "$1" | tail -1)
    [ -n "$d" ] || fail "no 'run directory:' line in $1"
    case $d in (/runs/*) echo "$RUNS/${d#/runs/}";; (*) fail "run directory $d is not on the /runs volume";; esac
}
# check_run DIR EPOCHS STATUS [FINISHED_EXTRA]: metrics.csv holds epochs 1..EPOCHS once each, state.json STATUS
check_run() {
    python3 - "$@" <<'EOF'
import csv, json, os, sys
d, epochs, status = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = list(csv.DictReader(open(os.path.join(d, "metrics.csv"))))
got = [int(r["epoch"]) for r in rows]
state = json.load(open(os.path.join(d, "state.json")))
problems = []
if got != list(range(1, epochs + 1)):
    problems.append(f"metrics.csv epochs {got}, expected 1..{epochs} once each")
if state.get("status") != status:
    problems.append(f"state.json status {state.get('status')!r}, expected {status!r}")
if state.get("epochs_done") != epochs:
    problems.append(f"state.json epochs_done {state.get('epochs_done')}, expected {epochs}")
needed = ["config.yaml", "env.json", "backup/checkpoint.json"] + (["model.keras"] if status == "finished" else [])
problems += [f"{f} missing" for f in needed if not os.path.exists(os.path.join(d, f))]
owners = {os.stat(os.path.join(r, f)).st_uid for r, _, fs in os.walk(d) for f in fs}
if 0 in owners:
    problems.append("files owned by root in the run directory")
last = rows[-1] if rows else {}
print(f"    {os.path.basename(d)}: {len(rows)} metrics row(s), epochs {got[0] if got else '-'}..{got[-1] if got else '-'}, "
      f"state {state.get('status')} ({state.get('epochs_done')}/{state.get('epochs')}), "
      f"last val_accuracy {last.get('val_accuracy', '-')}, files owned by uid {sorted(owners)}")
for p in problems:
    print(f"    BAD {p}")
sys.exit(1 if problems else 0)
EOF
}

# ------------------------------------------------------------------------------------ 4a. tiny data set
step "4a. a tiny IDX data set in /data/smoke, written by the image's Python"
# tests/conftest.py's TINY_ARCH, TINY_RECIPE and write_bars(), cut out of the file (it imports pytest)
mkdir -p "$DATA/smoke"
python3 - tests/conftest.py > "$DATA/smoke/make_data.py" <<'EOF'
import ast, sys
src = open(sys.argv[1]).read()
want = ["TINY_ARCH", "TINY_RECIPE", "write_idx", "bars", "write_bars"]
found = {}
for node in ast.parse(src).body:
    if isinstance(node, ast.FunctionDef):
        found[node.name] = node
    elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
        found[node.targets[0].id] = node
missing = [w for w in want if w not in found]
if missing:
    sys.exit(f"tests/conftest.py has no {', '.join(missing)}")
print("from __future__ import annotations\nimport gzip, os, struct\nimport numpy as np\n")
for w in want:
    print(ast.get_source_segment(src, found[w]) + "\n")
print("""
write_bars("/data/smoke/bars")
open("/data/smoke/tiny.yaml", "w").write(TINY_ARCH)
open("/data/smoke/recipe.yaml", "w").write(TINY_RECIPE.replace("DATA", "/data/smoke/bars"))
print("wrote", sorted(os.listdir("/data/smoke/bars")))
""")
EOF
chown -R "$USER_IDS" "$DATA/smoke"
start_image "$STATE/logs/data.log" python /data/smoke/make_data.py
finish_image
show "$STATE/logs/data.log"
[ "$RC" = 0 ] || fail "writing the data set (exit status $RC)"

TRAIN_ARGS=(--arch /data/smoke/tiny.yaml --recipe /data/smoke/recipe.yaml)

# ----------------------------------------------------------------------------------- 4b. one epoch
step "4b. ${ENTRYPOINT[*]} ${CMD[*]} ${TRAIN_ARGS[*]} --set epochs=1"
t0=$(date +%s)
start_image "$STATE/logs/smoke.log" "${ENTRYPOINT[@]}" "${CMD[@]}" "${TRAIN_ARGS[@]}" --set epochs=1
finish_image
show "$STATE/logs/smoke.log"
info "exit status $RC after $(($(date +%s) - t0)) s"
[ "$RC" = 0 ] || fail "the one-epoch training (exit status $RC)"
check_run "$(run_dir "$STATE/logs/smoke.log")" 1 finished || fail "the one-epoch run directory"

# ------------------------------------------------------------------------------ 4c. SIGTERM, resume
step "4c. ${ENTRYPOINT[*]} ${CMD[*]} ${TRAIN_ARGS[*]} --set epochs=$SIGTERM_EPOCHS, stopped after epoch 1"
t0=$(date +%s)
start_image "$STATE/logs/sigterm.log" "${ENTRYPOINT[@]}" "${CMD[@]}" "${TRAIN_ARGS[@]}" --set epochs=$SIGTERM_EPOCHS
while ! grep -q "^epoch 1/$SIGTERM_EPOCHS" "$STATE/logs/sigterm.log"; do
    kill -0 "$BG" 2>/dev/null || { show "$STATE/logs/sigterm.log"; fail "the training ended before its first epoch"; }
    sleep 0.1
done
stop_image 60
show "$STATE/logs/sigterm.log"
info "exit status $RC, $(($(date +%s) - t0)) s"
[ "$RC" = 143 ] || fail "exit status $RC after SIGTERM, expected 143 (128 + SIGTERM)"
DIR=$(run_dir "$STATE/logs/sigterm.log")
KEPT=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["epochs_done"])' "$DIR/state.json")
[ "$KEPT" -ge 1 ] && [ "$KEPT" -lt "$SIGTERM_EPOCHS" ] || fail "epochs kept: $KEPT"
check_run "$DIR" "$KEPT" interrupted || fail "the interrupted run directory"

step "4d. the same command again: resumes after epoch $KEPT"
t0=$(date +%s)
start_image "$STATE/logs/resume.log" "${ENTRYPOINT[@]}" "${CMD[@]}" "${TRAIN_ARGS[@]}" --set epochs=$SIGTERM_EPOCHS
finish_image
show "$STATE/logs/resume.log"
info "exit status $RC after $(($(date +%s) - t0)) s"
[ "$RC" = 0 ] || fail "the resumed training (exit status $RC)"
[ "$(run_dir "$STATE/logs/resume.log")" = "$DIR" ] || fail "resumed into another run directory"
grep -q "resuming after epoch $KEPT" "$STATE/logs/resume.log" || fail "no 'resuming after epoch $KEPT' in the output"
check_run "$DIR" "$SIGTERM_EPOCHS" finished || fail "the resumed run directory"

# ------------------------------------------------------------------ 4e. docker stop during start-up
step "4e. docker stop 1 s after the start, while TensorFlow loads (informational)"
# PID 1 of a PID namespace gets only the signals it has a handler for: a SIGTERM that comes before the
# program installs its handler is dropped, and `docker stop` then waits its timeout and SIGKILLs.
WARNINGS=0
start_image "$STATE/logs/early.log" "${ENTRYPOINT[@]}" "${CMD[@]}" "${TRAIN_ARGS[@]}" --set epochs=100
sleep 1
stop_image 10
show "$STATE/logs/early.log"
if [ "$RC" = 143 ]; then
    info "ok  exit status 143: the SIGTERM reached Python during start-up"
else
    WARNINGS=1
    info "WARN exit status $RC: the SIGTERM was ignored (PID 1 without a SIGTERM handler yet, before train() installs"
    info "     its own), so \`docker stop\` waits for its timeout and SIGKILLs; nothing is lost (the run resumes)"
fi

step "done"
info "mode: $MODE; podman storage $(du -sh "$STATE/storage" | cut -f1), all of ${STATE#"$REPO"/}: $(du -sh "$STATE" | cut -f1)"
printf '\ndocker-check: OK in %ss%s\n' "$(($(date +%s) - START))" "$([ "$WARNINGS" = 0 ] || echo ", 1 warning (4e)")"
