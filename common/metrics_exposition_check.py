#!/usr/bin/python3
"""Round-trips metrics::Registry::Render() through Debian's prometheus_client.

Usage: metrics_exposition_check.py RENDER_TOOL

For several seeds, builds a random script of metric families (every kind,
labelled and unlabelled, label values with quotes, backslashes, newlines and
non-ASCII text) and updates, computes the expected samples here in Python,
runs RENDER_TOOL on the script, parses its output with
prometheus_client.parser.text_string_to_metric_families and compares.
"""

import json
import math
import random
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

NASTY = ['plain', 'with "quotes"', 'back\\slash', 'new\nline', 'ünï cødé',
         'trailing\\', '{brace}=,', '']


def make_script(rng):
    families = [
        {'kind': 'counter', 'name': 'infernum:tokens_total',
         'help': 'Tokens "generated".\nSecond line \\ backslash.',
         'labels': ['model_name']},
        {'kind': 'counter', 'name': 'plain_counter', 'help': 'No _total.',
         'labels': []},
        {'kind': 'gauge', 'name': 'infernum:running', 'help': 'Running.',
         'labels': ['model_name', 'worker']},
        {'kind': 'gauge', 'name': 'lonely_gauge', 'help': 'Unlabelled.',
         'labels': []},
        {'kind': 'histogram', 'name': 'infernum:ttft_seconds',
         'help': 'Latency.', 'labels': ['model_name'],
         'bounds': [0.001, 0.01, 0.1, 1.0, 2.5, 10.0]},
        {'kind': 'histogram', 'name': 'unlabelled_hist', 'help': 'H.',
         'labels': [], 'bounds': [-1.0, 0.0, 1e-9, 3.0, 1e20]},
    ]
    ops = []
    for _ in range(rng.randint(50, 300)):
        index = rng.randrange(len(families))
        family = families[index]
        labels = [rng.choice(NASTY) for _ in family['labels']]
        kind = family['kind']
        if kind == 'counter':
            op, value = 'inc', rng.choice([0, 1, 2.5, rng.random() * 1e6])
        elif kind == 'gauge':
            op = rng.choice(['set', 'add'])
            value = rng.uniform(-1e3, 1e3)
        else:
            op = 'observe'
            value = rng.choice([rng.random() * 20, -2.0, 0.0, 1.0, 1e-9,
                                10.0, 1e21, rng.expovariate(5.0)])
        ops.append({'family': index, 'labels': labels, 'op': op,
                    'value': value})
    return {'families': families, 'ops': ops}


def expected_samples(script):
    """{family name: {(sample name, sorted label items): value}}."""
    out = {}
    state = {}  # (family index, label tuple) -> value or list of observations
    for i, family in enumerate(script['families']):
        if not family['labels']:
            state[(i, ())] = [] if family['kind'] == 'histogram' else 0.0
    for op in script['ops']:
        key = (op['family'], tuple(op['labels']))
        kind = script['families'][op['family']]['kind']
        if kind == 'histogram':
            state.setdefault(key, []).append(op['value'])
        elif op['op'] == 'set':
            state[key] = op['value']
        else:
            state[key] = state.get(key, 0.0) + op['value']
    for (index, values), value in state.items():
        family = script['families'][index]
        name = family['name']
        labels = dict(zip(family['labels'], values))
        samples = out.setdefault(name, {})
        if family['kind'] == 'counter':
            sample_name = name if name.endswith('_total') else name + '_total'
            samples[(sample_name, frozenset(labels.items()))] = value
        elif family['kind'] == 'gauge':
            samples[(name, frozenset(labels.items()))] = value
        else:
            for bound in family['bounds'] + [math.inf]:
                le = dict(labels, le=bound)
                count = sum(1 for v in value if v <= bound)
                samples[(name + '_bucket', frozenset(le.items()))] = count
            samples[(name + '_sum', frozenset(labels.items()))] = math.fsum(
                value)
            samples[(name + '_count', frozenset(labels.items()))] = len(value)
    return out


def parsed_samples(text, script):
    out = {}
    kinds = {f['name']: f for f in script['families']}
    for metric in text_string_to_metric_families(text):
        # The parser turns unknown lines into 'untyped' singletons; the
        # counter family name loses its _total suffix.
        name = metric.name
        if name not in kinds and name + '_total' in kinds:
            name += '_total'
        assert name in kinds, f'unexpected family {metric.name!r}'
        family = kinds[name]
        assert metric.type == family['kind'], (metric.name, metric.type)
        assert metric.documentation == family['help'], metric.documentation
        samples = out.setdefault(name, {})
        for sample in metric.samples:
            labels = dict(sample.labels)
            if 'le' in labels:
                labels['le'] = float(labels['le'])
            key = (sample.name, frozenset(labels.items()))
            assert key not in samples, f'duplicate sample {key}'
            samples[key] = sample.value
    return out


def close(a, b):
    return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def check(tool, seed):
    script = make_script(random.Random(seed))
    text = subprocess.run([tool], input=json.dumps(script), check=True,
                          capture_output=True, text=True).stdout
    want = expected_samples(script)
    got = parsed_samples(text, script)
    assert set(got) == set(want), (sorted(got), sorted(want))
    for name in want:
        assert set(got[name]) == set(want[name]), (
            name, set(got[name]) ^ set(want[name]))
        for key, value in want[name].items():
            assert close(got[name][key], value), (key, got[name][key], value)
    # Histogram buckets must be cumulative (non-decreasing in le).
    for name, samples in got.items():
        buckets = {}
        for (sample_name, labels), value in samples.items():
            if sample_name.endswith('_bucket'):
                rest = frozenset(kv for kv in labels if kv[0] != 'le')
                le = dict(labels)['le']
                buckets.setdefault(rest, []).append((le, value))
        for series in buckets.values():
            counts = [v for _, v in sorted(series)]
            assert counts == sorted(counts), series
    return sum(len(s) for s in want.values())


def main():
    tool = sys.argv[1]
    total = 0
    for seed in range(20):
        total += check(tool, seed)
    print(f'OK: 20 scripts, {total} samples round-tripped')


if __name__ == '__main__':
    main()
