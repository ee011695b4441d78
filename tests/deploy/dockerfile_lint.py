#!/usr/bin/python3
"""Lint-level checks of deploy/docker/Dockerfile (no container engine needed).

  dockerfile_lint.py --dockerfile FILE --context DIR [--install-deps FILE]

  - every instruction is a known Dockerfile keyword; JSON-form arguments parse;
  - FROM images resolve (ARG defaults) and stage names are unique;
  - COPY/ADD sources exist in the build context and are not excluded by
    <Dockerfile>.dockerignore; COPY --from names an earlier stage, and the
    copied path is produced by that stage (mentioned in it);
  - `bazel build` targets exist in the BUILD files;
  - the packages of ARG BUILD_PACKAGES are all in deploy/install_deps.sh;
  - runtime stages (router, worker): non-root USER, HEALTHCHECK, numeric
    EXPOSE, ENTRYPOINT (JSON) with --config /etc/infernum/<stage>.yaml that a
    COPY of that stage provides, and an exposed port.
Exit status 1 on any problem.
"""
import argparse
import fnmatch
import json
import os
import re
import shlex
import sys

KEYWORDS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
            "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
RUNTIME_STAGES = ("router", "worker")


def instructions(path):
    """[(line_no, KEYWORD, args_text)] with continuations joined, comments dropped."""
    out, buf, start = [], "", 0
    with open(path) as f:
        for no, line in enumerate(f, 1):
            s = line.rstrip("\n")
            if not buf and (not s.strip() or s.lstrip().startswith("#")):
                continue
            if buf and s.lstrip().startswith("#"):
                continue
            if not buf:
                start = no
            if s.endswith("\\"):
                buf += s[:-1] + " "
                continue
            buf += s
            kw, _, rest = buf.strip().partition(" ")
            out.append((start, kw.upper(), rest.strip()))
            buf = ""
    return out


def split_flags(text):
    flags, words = {}, shlex.split(text)
    while words and words[0].startswith("--"):
        k, _, v = words.pop(0)[2:].partition("=")
        flags[k] = v
    return flags, words


def load_ignore(path):
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def ignored(rel, patterns):
    hit = False
    for p in patterns:
        neg = p.startswith("!")
        pat = p[1:] if neg else p
        pat = pat.rstrip("/")
        cands = [pat, pat.replace("**/", "")]
        parts = rel.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatch(pre, c) for pre in prefixes for c in cands) or \
           any(fnmatch.fnmatch(part, c.split("/")[-1]) for part in parts for c in cands if "**/" in pat):
            hit = not neg
    return hit


def bazel_target_exists(root, label):
    m = re.match(r"//([^:]*):(.+)$", label)
    if not m:
        return False
    for build in ("BUILD.bazel", "BUILD"):
        p = os.path.join(root, m.group(1), build)
        if os.path.isfile(p):
            with open(p) as f:
                return re.search(r'name\s*=\s*"%s"' % re.escape(m.group(2)), f.read()) is not None
    return False


def install_deps_packages(path):
    with open(path) as f:
        text = f.read()
    m = re.search(r"PKGS=\((.*?)\)", text, re.S)
    return set(re.sub(r"#.*", "", m.group(1)).split()) if m else set()


class Lint:
    def __init__(self, dockerfile, context, install_deps):
        self.df, self.ctx, self.errors = dockerfile, context, []
        self.ignore = load_ignore(dockerfile + ".dockerignore")
        self.install_deps = install_deps
        self.args = {}           # global ARG defaults (before the first FROM)
        self.stages = []         # [{name, base, text, copies: [dest], lines}]

    def err(self, no, msg):
        self.errors.append(f"{os.path.basename(self.df)}:{no}: {msg}")

    def expand(self, text, local):
        env = {**self.args, **local}
        return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)",
                      lambda m: env.get(m.group(1) or m.group(3), m.group(2) or ""), text)

    def run(self):
        for no, kw, rest in instructions(self.df):
            if kw not in KEYWORDS:
                self.err(no, f"unknown instruction {kw}")
                continue
            if rest.startswith("[") and kw in ("RUN", "CMD", "ENTRYPOINT", "SHELL", "VOLUME"):
                try:
                    json.loads(rest)
                except json.JSONDecodeError as e:
                    self.err(no, f"{kw}: invalid JSON form: {e}")
            getattr(self, "do_" + kw.lower(), self.do_other)(no, rest)
        for st in self.stages:
            if st["name"] in RUNTIME_STAGES:
                self.check_runtime(st)

    def do_other(self, no, rest):
        if self.stages:
            self.stages[-1]["text"] += "\n" + rest

    def do_arg(self, no, rest):
        name, _, default = rest.partition("=")
        target = self.stages[-1]["args"] if self.stages else self.args
        target[name] = default.strip('"')
        if self.stages:
            self.stages[-1]["text"] += "\n" + rest

    def do_from(self, no, rest):
        words = rest.split()
        image = self.expand(words[0], {})
        name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
        if not image or "$" in image:
            self.err(no, f"FROM {words[0]}: image does not resolve")
        if name and any(s["name"] == name for s in self.stages):
            self.err(no, f"stage {name} defined twice")
        self.stages.append({"name": name, "base": image, "text": "", "copies": [], "args": {},
                            "user": None, "health": False, "expose": [], "entry": None, "no": no})

    def do_copy(self, no, rest, add=False):
        st = self.stages[-1]
        flags, words = split_flags(rest)
        if len(words) < 2:
            self.err(no, "COPY needs a source and a destination")
            return
        srcs, dest = words[:-1], words[-1]
        st["copies"].append(dest)
        if "from" in flags:
            src_stage = next((s for s in self.stages[:-1] if s["name"] == flags["from"]), None)
            if src_stage is None:
                self.err(no, f"COPY --from={flags['from']}: no earlier stage of that name")
                return
            text = src_stage["text"]
            for s in srcs:
                p = s.rstrip("/")
                if p not in text and not (os.path.dirname(p) in text and os.path.basename(p) in text):
                    self.err(no, f"COPY --from={flags['from']} {s}: stage {flags['from']} never mentions that path")
            return
        for s in srcs:
            if add and re.match(r"https?://", s):
                continue
            rel = os.path.normpath(s).lstrip("/")
            if rel.startswith(".."):
                self.err(no, f"COPY {s}: outside the build context")
            elif rel != "." and not os.path.exists(os.path.join(self.ctx, rel)):
                self.err(no, f"COPY {s}: not found in the build context {self.ctx}")
            elif rel != "." and ignored(rel, self.ignore):
                self.err(no, f"COPY {s}: excluded by {os.path.basename(self.df)}.dockerignore")
        st["text"] += "\n" + rest

    def do_add(self, no, rest):
        self.do_copy(no, rest, add=True)

    def do_run(self, no, rest):
        st = self.stages[-1]
        st["text"] += "\n" + rest
        for m in re.finditer(r"bazel\s+build\s+([^&;|]*)", rest):
            for label in re.findall(r"//[\w/.-]*:[\w.+-]+", m.group(1)):
                if not bazel_target_exists(self.ctx, label):
                    self.err(no, f"bazel target {label} does not exist")
        pkgs = st["args"].get("BUILD_PACKAGES")
        if pkgs and "${BUILD_PACKAGES}" in rest and self.install_deps:
            missing = set(pkgs.split()) - install_deps_packages(self.install_deps)
            if missing:
                self.err(no, f"BUILD_PACKAGES not in {self.install_deps}: {sorted(missing)}")

    def do_user(self, no, rest):
        self.stages[-1]["user"] = rest.split(":")[0]

    def do_healthcheck(self, no, rest):
        self.stages[-1]["health"] = rest.strip().upper() != "NONE"

    def do_expose(self, no, rest):
        for p in rest.split():
            if not re.fullmatch(r"\d+(/(tcp|udp))?", p):
                self.err(no, f"EXPOSE {p}: not a port")
            self.stages[-1]["expose"].append(p)

    def do_entrypoint(self, no, rest):
        self.stages[-1]["entry"] = (no, rest)
        self.stages[-1]["text"] += "\n" + rest

    def check_runtime(self, st):
        no = st["no"]
        if st["user"] in (None, "root", "0"):
            self.err(no, f"stage {st['name']}: must switch to a non-root USER")
        if not st["health"]:
            self.err(no, f"stage {st['name']}: no HEALTHCHECK")
        if not st["expose"]:
            self.err(no, f"stage {st['name']}: no EXPOSE")
        if not st["entry"]:
            self.err(no, f"stage {st['name']}: no ENTRYPOINT")
            return
        eno, text = st["entry"]
        try:
            argv = json.loads(text)
        except json.JSONDecodeError:
            self.err(eno, f"stage {st['name']}: ENTRYPOINT must use the JSON form")
            return
        want = f"/etc/infernum/{st['name']}.yaml"
        if "--config" not in argv or argv[argv.index("--config") + 1:][:1] != [want]:
            self.err(eno, f"stage {st['name']}: ENTRYPOINT must pass --config {want} (compose and Kubernetes mount it there)")
        if want not in st["copies"]:
            self.err(eno, f"stage {st['name']}: no COPY provides the default {want}")
        if not argv or argv[0] not in st["copies"] and not any(argv[0].startswith(c) for c in st["copies"] if c.endswith("/")):
            self.err(eno, f"stage {st['name']}: ENTRYPOINT binary {argv[0] if argv else ''} is not copied in this stage")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dockerfile", required=True)
    ap.add_argument("--context", required=True)
    ap.add_argument("--install-deps")
    a = ap.parse_args()
    lint = Lint(a.dockerfile, a.context, a.install_deps)
    lint.run()
    names = [s["name"] for s in lint.stages]
    for need in RUNTIME_STAGES + ("build",):
        if need not in names:
            lint.errors.append(f"no stage named {need}")
    for e in lint.errors:
        print(f"FAIL {e}")
    print(f"dockerfile_lint: {len(lint.stages)} stages ({', '.join(str(n) for n in names)}), {len(lint.errors)} problem(s)")
    return 1 if lint.errors else 0


if __name__ == "__main__":
    sys.exit(main())
