"""Compares what fake-encharge recorded with what `map` plans.

Usage: python compare.py PLANNED_NDJSON RECORDED_NDJSON
Both are reduced to counts of (method, path, body); exits 1 on any difference.
"""
import collections
import json
import sys


def planned(path):
    counts = collections.Counter()
    for line in open(path):
        v = json.loads(line)
        r = v.get("request")
        if r is None:
            continue
        url = r["url"]
        counts[(r["method"], url[url.index("/v1"):], json.dumps(r.get("body"), sort_keys=True))] += 1
    return counts


def recorded(path):
    counts = collections.Counter()
    for line in open(path):
        r = json.loads(line)
        counts[(r["method"], r["path"], json.dumps(r["body"], sort_keys=True))] += 1
    return counts


def main():
    want, got = planned(sys.argv[1]), recorded(sys.argv[2])
    missing, extra = want - got, got - want
    for k, n in list(missing.items())[:5]:
        print("planned, not received (%d): %s" % (n, k), file=sys.stderr)
    for k, n in list(extra.items())[:5]:
        print("received, not planned (%d): %s" % (n, k), file=sys.stderr)
    print("%d requests planned, %d received, %d missing, %d extra"
          % (sum(want.values()), sum(got.values()), sum(missing.values()), sum(extra.values())))
    sys.exit(1 if missing or extra else 0)


if __name__ == "__main__":
    main()
