#!/usr/bin/python3
"""Parses Prometheus text exposition on stdin with Debian's
python3-prometheus-client and prints it as JSON on stdout:
[{"name", "type", "help", "samples": [{"name", "labels", "value"}]}], each
value as repr(float) (JSON has no NaN / Inf). Exits 1 on a parse error.
Used by the worker metrics tests (metrics_test_util.cc)."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = sys.stdin.read()
    out = []
    try:
        for family in text_string_to_metric_families(text):
            out.append({
                'name': family.name,
                'type': family.type,
                'help': family.documentation,
                'samples': [{'name': s.name, 'labels': dict(s.labels),
                             'value': repr(float(s.value))}
                            for s in family.samples],
            })
    except Exception as e:  # The parser raises ValueError and others.
        print(f'parse error: {e!r}', file=sys.stderr)
        return 1
    json.dump(out, sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
