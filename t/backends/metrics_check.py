"""Reads sse_auto_status' two representations with real parsers and checks them.

Usage: metrics_check.py [--parse-only] PROMETHEUS_FILE JSON_FILE

The Prometheus text goes through prometheus_client's own parser: every family must be typed
(gauge, counter or histogram), no series may appear twice, counters end in _total. The JSON
goes through Python's json module and must carry the same numbers (not with --parse-only:
for two fetches while counters move). Prints "ok families=N series=M" or one line per problem.
"""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    args = sys.argv[1:]
    parse_only = args[:1] == ["--parse-only"]
    if parse_only:
        args = args[1:]
    text = open(args[0], encoding="utf-8").read()
    doc = json.load(open(args[1], encoding="utf-8"))
    problems = []
    values = {}
    families = set()

    for family in text_string_to_metric_families(text):
        if family.type not in ("gauge", "counter", "histogram"):
            problems.append(f"{family.name}: type {family.type}")
        if family.name in families:
            problems.append(f"{family.name}: family twice")
        families.add(family.name)
        if not family.documentation:
            problems.append(f"{family.name}: no HELP")
        for s in family.samples:
            if family.type == "counter" and not s.name.endswith("_total"):
                problems.append(f"{s.name}: counter without _total")
            key = (s.name, tuple(sorted(s.labels.items())))
            if key in values:
                problems.append(f"{key}: series twice")
            values[key] = s.value

    def value(name, **labels):
        return values.get((name, tuple(sorted(labels.items()))))

    def same(what, prom, js):
        if prom is None or js is None:
            problems.append(f"{what}: prometheus {prom} json {js}")
        elif not parse_only and float(prom) != float(js):
            problems.append(f"{what}: prometheus {prom} json {js}")

    info = [k for k in values if k[0] == "sse_auto_info"]
    if len(info) != 1:
        problems.append(f"sse_auto_info: {len(info)} series")
    else:
        labels = dict(info[0][1])
        for k in ("version", "nginx_version", "flavour", "server"):
            if labels.get(k) != doc.get(k):
                problems.append(f"info {k}: {labels.get(k)} json {doc.get(k)}")

    same("start_time", value("sse_auto_start_time_seconds"), doc["start_time"])
    same("worker_processes", value("sse_auto_worker_processes"), doc["worker_processes"])
    for d, n in doc["streams_open"].items():
        same(f"open {d}", value("sse_auto_streams_open", decision=d), n)
    same("soft open", value("sse_auto_soft_responses_open"), doc["soft_responses_open"])
    for d, n in doc["responses"].items():
        same(f"responses {d}", value("sse_auto_responses_total", decision=d), n)
    for r, n in doc["streams_ended"].items():
        same(f"ended {r}", value("sse_auto_streams_ended_total", reason=r), n)
    for name in ("heartbeats", "heartbeats_failed", "soft_pushes", "stream_sent_bytes"):
        same(name, value(f"sse_auto_{name}_total"), doc[name])
    hist = doc["stream_duration_seconds"]
    buckets = {float(k[1][0][1]): v for k, v in values.items()
               if k[0] == "sse_auto_stream_duration_seconds_bucket"}
    for le, n in hist["buckets"].items():
        same(f"bucket {le}", buckets.get(float(le)), n)
    if len(buckets) != len(hist["buckets"]):
        problems.append(f"buckets: {len(buckets)} vs {len(hist['buckets'])}")
    same("duration sum", value("sse_auto_stream_duration_seconds_sum"), hist["sum"])
    same("duration count", value("sse_auto_stream_duration_seconds_count"), hist["count"])

    if problems:
        print("\n".join(problems))
        return 1
    print(f"ok families={len(families)} series={len(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
