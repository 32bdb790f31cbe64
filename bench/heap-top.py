#!/usr/bin/env python3
"""What the operator holds when it is stopped, by allocation site, from a dhat heap profile
(`make bench HEAP_PROFILE=1`): the bytes live at the stop, grouped by the operator's own line that
led to the allocation and by the library line that made it, largest first."""
import collections
import json
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

OWN = re.compile(r"\((src/(?:controller|provision|render|telemetry|api)/[^:]+|src/(?:placement|manifests|main|lib|error)\.rs):(\d+)")
# A dependency's line: "(kube-runtime-5.0.0/src/events.rs:351:19)"; the allocator's plumbing is skipped.
LIBRARY = re.compile(r"\(([A-Za-z0-9_-]+)-\d+\.\d+\.\d+[^/]*/(src/[^:]+):(\d+)")
PLUMBING = {"dhat", "hashbrown", "serde", "serde_json", "serde_core", "indexmap", "smallvec", "bytes"}
# The kind a watch, reflector or cache frame is generic over: which cache holds the bytes.
CACHED_KIND = re.compile(
    r"(PartialObjectMeta<)?(?:k8s_openapi::v\d+_\d+::api::[a-z0-9_]+::v1::[a-z_]+::|framaspace_operator::api::[a-z_]+::)([A-Z][A-Za-z]+)"
)


def cache_of(stack):
    for frame in stack:
        if any(word in frame for word in ("watcher", "reflector", "store", "compact")):
            m = CACHED_KIND.search(frame)
            if m:
                return ("metadata of " if m.group(1) else "") + m.group(2)
    if any("kube-runtime" in f and "events.rs" in f for f in stack):
        return "event recorder"
    return "(not a cache)"


def where(stack):
    # Dependencies' inlined frames show short paths too ("src/controller/runner.rs" is kube's):
    # only files of this repository count.
    own = next(
        (
            f"{m.group(1)}:{m.group(2)}"
            for f in stack
            if (m := OWN.search(f)) and "heap_profile" not in m.group(1) and os.path.exists(os.path.join(REPO, m.group(1)))
        ),
        "(outside the operator's code)",
    )
    library = next((f"{m.group(1)} {m.group(2)}:{m.group(3)}" for f in stack if (m := LIBRARY.search(f)) and m.group(1) not in PLUMBING), "(std)")
    return own, library


def main(path, top=30):
    with open(path) as f:
        profile = json.load(f)
    frames = profile["ftbl"]
    mib = 1024 * 1024
    by_own, by_pair, blocks = collections.Counter(), collections.Counter(), collections.Counter()
    by_cache, cache_blocks = collections.Counter(), collections.Counter()
    for pp in profile["pps"]:
        if pp["eb"] == 0:
            continue
        stack = [frames[i] for i in pp["fs"]]
        own, library = where(stack)
        cache = cache_of(stack)
        by_cache[cache] += pp["eb"]
        cache_blocks[cache] += pp["ebk"]
        by_own[own] += pp["eb"]
        blocks[own] += pp["ebk"]
        by_pair[(library, own)] += pp["eb"]
    total_end = sum(by_own.values())
    total_peak = sum(pp["gb"] for pp in profile["pps"])
    print(f"heap live at the stop: {total_end / mib:.1f} MiB; at the peak: {total_peak / mib:.1f} MiB")
    print("\nlive at the stop, by cache (MiB, blocks):")
    for k, v in by_cache.most_common(top):
        print(f"  {v / mib:7.2f} {cache_blocks[k]:8d}  {k}")
    print("\nlive at the stop, by the operator's line (MiB, blocks):")
    for k, v in by_own.most_common(top):
        print(f"  {v / mib:7.2f} {blocks[k]:8d}  {k}")
    print("\nlive at the stop, by the library line that allocated, and the operator's line (MiB):")
    for (library, own), v in by_pair.most_common(top):
        print(f"  {v / mib:7.2f}  {library}  <-  {own}")


if __name__ == "__main__":
    main(sys.argv[1])
