"""fuzz_replay_test: a fuzz harness as a cc_test replaying its corpus."""

def fuzz_replay_test(name, deps):
    """name.cc (LLVMFuzzerTestOneInput) run over corpus/<name>.b64.

    Args:
      name: the harness; its source is <name>.cc.
      deps: what the harness links besides the replay driver.
    """
    native.cc_test(
        name = name,
        srcs = [name + ".cc"],
        args = ["$(location corpus/%s.b64)" % name],
        data = ["corpus/%s.b64" % name],
        deps = [":replay_main"] + deps,
    )
