#!/usr/bin/python3
"""Renders chat templates with real Jinja2, as HF transformers does.

Reference renderer for chat_template_test: the C++ renderer in
router/api/chat_template.cc must produce byte-identical prompts.

Usage: render_templates.py REQUEST.json OUTPUT.json

REQUEST.json: {"cases": [{
    "tokenizer_config": "/path/to/tokenizer_config.json",
    "template": "...",            # optional; overrides the config's template
    "messages": [{"role": ..., "content": ...}, ...],
    "add_generation_prompt": true}]}
OUTPUT.json: [{"text": "..."} | {"error": "..."}], one per case.

The environment mirrors transformers' chat template compiler
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
raise_exception, tojson). bos_token / eos_token come from the tokenizer
config, unwrapping the old {"__type": "AddedToken", "content": ...} form.
"""

import json
import sys

import jinja2
import jinja2.ext
import jinja2.sandbox


def _raise(message):
    raise jinja2.exceptions.TemplateError(message)


def _token(value):
    if isinstance(value, dict):
        return value.get("content", "")
    return value if value is not None else ""


def _template_text(config):
    tpl = config.get("chat_template")
    if isinstance(tpl, list):  # [{"name": "default", "template": ...}, ...]
        by_name = {t["name"]: t["template"] for t in tpl}
        return by_name.get("default", tpl[0]["template"])
    return tpl


def render_case(env, case):
    with open(case["tokenizer_config"], encoding="utf-8") as f:
        config = json.load(f)
    source = case.get("template") or _template_text(config)
    if not source:
        return {"error": "no chat template"}
    try:
        template = env.from_string(source)
        text = template.render(
            messages=case["messages"],
            add_generation_prompt=case["add_generation_prompt"],
            bos_token=_token(config.get("bos_token")),
            eos_token=_token(config.get("eos_token")),
        )
        return {"text": text}
    except jinja2.exceptions.TemplateError as e:
        return {"error": str(e)}


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        request = json.load(f)
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True,
        extensions=[jinja2.ext.loopcontrols])
    env.globals["raise_exception"] = _raise
    env.filters["tojson"] = lambda x, **kw: json.dumps(x, ensure_ascii=False)
    results = [render_case(env, c) for c in request["cases"]]
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(results, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
