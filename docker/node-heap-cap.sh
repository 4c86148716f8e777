#!/bin/sh
# Starts node with a V8 heap cap derived from the container's memory limit, then replaces this
# shell (exec), so node is still PID 1 and receives SIGTERM itself.
#
# Without a cap, V8 sizes the old generation from the host's memory, not the container's, and
# the kernel kills the pod before the garbage collector feels any pressure. The cap is
# PALISADE_HEAP_PERCENT (default 50) percent of the cgroup limit: the rest is for what lives
# outside the V8 heap (buffers, code, the young generation, gRPC and Redis sockets).
# A --max-old-space-size already in NODE_OPTIONS wins; no limit found means no cap.
set -eu

cgroup_root="${PALISADE_CGROUP_ROOT:-/sys/fs/cgroup}"
percent="${PALISADE_HEAP_PERCENT:-50}"

limit=""
if [ -r "$cgroup_root/memory.max" ]; then
  limit=$(cat "$cgroup_root/memory.max")                      # cgroup v2: bytes or "max"
elif [ -r "$cgroup_root/memory/memory.limit_in_bytes" ]; then
  limit=$(cat "$cgroup_root/memory/memory.limit_in_bytes")   # cgroup v1: a huge number when unlimited
fi

heap_flag=""
case "${NODE_OPTIONS:-}" in
  *--max-old-space-size*) ;;
  *)
    case "$limit" in
      "" | max) ;;
      *[!0-9]*) ;;
      *)
        limit_mib=$((limit / 1048576))
        # Past 1 TiB the number is cgroup v1's "unlimited", not a limit.
        if [ "$limit_mib" -gt 0 ] && [ "$limit_mib" -lt 1048576 ]; then
          heap_flag="--max-old-space-size=$((limit_mib * percent / 100))"
        fi
        ;;
    esac
    ;;
esac

if [ -n "$heap_flag" ]; then
  exec node "$heap_flag" "$@"
fi
exec node "$@"
