# SPDX-License-Identifier: MIT
"""The feat command line itself, no model needed: `feat --help` lists every subcommand, each
subcommand's --help is aligned and accepts exactly what it lists, bad option values are one
clear error line with exit status 2, mistyped commands and options get a "did you mean", and
the man page and bash completion generated from the help carry every command and option."""
import re
import subprocess

import pytest

from conftest import build_path

SUBCOMMANDS = ["layers", "image", "text", "tokenize", "preprocess", "merge", "probe", "finetune", "predict", "version"]
WITH_OPTIONS = [c for c in SUBCOMMANDS if c != "version"]
OPTION = re.compile(r"^  (?:-\w, |    )--(?P<name>[\w-]+)(?: (?P<arg>\S+))?(?P<gap> +|$)")


def feat(feat_cli, *args):
    return subprocess.run([str(feat_cli), *args], capture_output=True, text=True, timeout=60)


def listed_commands(text):
    body = text.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in body.splitlines()]


def help_options(text):
    """(name, placeholder, description column) of each option in a subcommand's help; the
    column of an option whose description is on the next line is that line's indent. Also
    checks that every other line of the options block continues a description there."""
    lines = text.split("\noptions:\n", 1)[1].splitlines()
    found, cols = [], set()
    for i, line in enumerate(lines):
        m = OPTION.match(line)
        if m:
            if m.group("gap"):
                col = m.end()
            else:
                nxt = lines[i + 1]
                col = len(nxt) - len(nxt.lstrip(" "))
            found.append((m.group("name"), m.group("arg"), col))
        else:
            cols.add(len(line) - len(line.lstrip(" ")))  # a continuation line
    return found, cols


def test_help_lists_every_subcommand(feat_cli):
    r = feat(feat_cli, "--help")
    assert r.returncode == 0, r.stderr
    assert listed_commands(r.stdout) == SUBCOMMANDS
    summaries = [line for line in r.stdout.split("commands:\n", 1)[1].split("\n\n")[0].splitlines()]
    starts = {len(line) - len(re.split(r"\s{2,}", line.strip())[-1]) for line in summaries}
    assert len(starts) == 1, r.stdout  # the summaries start in one column
    for cmd in listed_commands(r.stdout):
        assert feat(feat_cli, cmd, "--help").returncode == 0, cmd


def test_unknown_command(feat_cli):
    r = feat(feat_cli, "frobnicate")
    assert r.returncode == 2
    assert r.stderr.startswith("feat: unknown command 'frobnicate'\n"), r.stderr
    assert listed_commands(r.stderr) == SUBCOMMANDS
    assert feat(feat_cli).returncode == 2


@pytest.mark.parametrize("typo,meant", [("imgae", "image"), ("probee", "probe"), ("fintune", "finetune"),
                                        ("layer", "layers")])
def test_unknown_command_suggests_the_close_one(feat_cli, typo, meant):
    r = feat(feat_cli, typo)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == f"feat: unknown command '{typo}'; did you mean '{meant}'?\n"


@pytest.mark.parametrize("cmd,typo,meant", [
    ("image", "--fusoin", "--fusion"),
    ("image", "--tapz", "--taps"),
    ("text", "--vocb", "--vocab"),
    ("text", "--batchsize=3", "--batch-size"),
    ("probe", "--flods", "--folds"),
])
def test_unknown_option_suggests_the_close_one(feat_cli, cmd, typo, meant):
    r = feat(feat_cli, cmd, typo)
    assert r.returncode == 2
    assert f"unrecognized option '{typo}'" in r.stderr
    assert f"feat {cmd}: did you mean '{meant}'? (see 'feat {cmd} --help')" in r.stderr, r.stderr


def test_unknown_option_far_from_all_suggests_nothing(feat_cli):
    r = feat(feat_cli, "image", "--frobnicate")
    assert r.returncode == 2 and "did you mean" not in r.stderr, r.stderr


@pytest.mark.parametrize("cmd", WITH_OPTIONS)
def test_subcommand_help_is_aligned(feat_cli, cmd):
    r = feat(feat_cli, cmd, "--help")
    assert r.returncode == 0, r.stderr
    assert "%%" not in r.stdout
    assert r.stdout.startswith(f"usage: feat {cmd} ")
    found, continuation = help_options(r.stdout)
    assert {"help"} <= {name for name, _, _ in found}
    cols = {col for _, _, col in found}
    assert len(cols) == 1, r.stdout  # every description starts in the same column
    assert continuation <= cols, r.stdout  # and wrapped descriptions go on there
    assert max(map(len, r.stdout.splitlines())) <= 88, r.stdout


@pytest.mark.parametrize("cmd", ["image", "text"])
def test_image_and_text_help_share_the_shared_options(feat_cli, cmd):
    found, _ = help_options(feat(feat_cli, cmd, "--help").stdout)
    names = {name for name, _, _ in found}
    shared = {"model", "taps", "fusion", "batch-size", "threads", "device", "precision", "shard", "resume",
              "part-size", "output", "help"}
    assert shared <= names


SAMPLE = {"N": "8", "K": "5", "PATHS": "layer4", "X": "0.001", "F": "0.2", "P": "0.1", "I/N": "0/1", "D": "cpu", "SPEC": "x:gap"}


@pytest.mark.parametrize("cmd", WITH_OPTIONS)
def test_help_lists_what_parses(feat_cli, cmd):
    """Every listed option, with every listed choice, is accepted (the --help at the end stops
    the run once they are parsed); an option that is not listed is not."""
    found, _ = help_options(feat(feat_cli, cmd, "--help").stdout)
    args = []
    for name, arg, _ in found:
        if arg is None:
            args += [f"--{name}"] if name != "help" else []
        else:
            for v in arg.split("|") if "|" in arg else [SAMPLE.get(arg, "x")]:
                args += [f"--{name}", v]
    r = feat(feat_cli, cmd, *args, "--help")
    assert r.returncode == 0 and r.stdout.startswith(f"usage: feat {cmd} "), (args, r.stderr)
    r = feat(feat_cli, cmd, "--no-such-option")
    assert r.returncode == 2 and "unrecognized option '--no-such-option'" in r.stderr, r.stderr


@pytest.mark.parametrize("cmd,option,valid", [
    ("image", "--fusion", "concat or mean"),
    ("text", "--fusion", "concat or mean"),
    ("text", "--window-pooling", "mean, max or first"),
    ("image", "--preset", "torchvision or keras-vgg16"),
    ("preprocess", "--interpolation", "nearest, bilinear, bicubic or lanczos"),
    ("tokenize", "--truncation", "longest_first, only_first, only_second or none"),
    ("text", "--precision", "fp32 or bf16"),
])
def test_bad_choice_is_one_clear_line(feat_cli, cmd, option, valid):
    r = feat(feat_cli, cmd, option, "bogus")
    assert r.returncode == 2
    assert r.stderr == f"feat: {option} expects {valid}, got 'bogus'\n"
    assert r.stdout == ""


@pytest.mark.parametrize("args,words", [
    (["image", "--threads", "many"], "--threads expects an integer in 0..1024, got 'many'"),
    (["text", "--part-size", "-1"], "--part-size expects an integer"),
    (["image", "--shard", "3/2"], "--shard expects I/N with 0 <= I < N, got '3/2'"),
    (["text", "--shard", "1"], "--shard expects I/N"),
    (["layers", "--size", "x"], "--size expects an integer in 0..4096"),
    (["image", "--batch-size", "0"], "--batch-size expects an integer in 1..4096 (leave the option out"),
    (["text", "--batch-size", "0"], "--batch-size expects an integer in 1..4096"),
    (["image", "--decode-threads", "0"], "--decode-threads expects an integer in 1..1024 (leave the option out"),
    (["image", "--decode-threads", "two"], "--decode-threads expects an integer"),
])
def test_bad_value_is_one_line(feat_cli, args, words):
    r = feat(feat_cli, *args)
    assert r.returncode == 2
    assert len(r.stderr.splitlines()) == 1 and words in r.stderr, r.stderr


@pytest.mark.parametrize("args", [
    ["image", "-o", "x.npy", "dir"],           # no --model
    ["image", "--model", "m.pt", "dir"],       # no -o
    ["image", "--model", "m.pt", "-o", "x.npy"],  # no inputs
    ["text", "--model", "m.pt", "-o", "x.npy", "extra"],
    ["tokenize"],
    ["layers"],
    ["layers", "a", "b"],
    ["preprocess", "-o", "x.npy"],
    ["merge", "a.npy"],
])
def test_usage_errors_print_the_help(feat_cli, args):
    r = feat(feat_cli, *args)
    assert r.returncode == 2
    assert r.stderr.startswith(f"usage: feat {args[0]} ") and "options:" in r.stderr, r.stderr


def test_man_page_has_every_command_and_option(feat_cli):
    """feat.1 is generated at build time from the help (tools/cli_docs.py): it must carry every
    subcommand and each one's options, so the page cannot fall behind the CLI."""
    page = build_path("tools", "feat", "feat.1").read_text(encoding="utf-8")
    assert page.startswith(".TH FEAT 1 ")
    sections = re.split(r"^\.SS ", page, flags=re.M)[1:]
    assert [s.split(None, 1)[0] for s in sections] == SUBCOMMANDS
    for cmd, section in zip(SUBCOMMANDS, sections):
        if cmd == "version":
            continue
        found, _ = help_options(feat(feat_cli, cmd, "--help").stdout)
        for name, _, _ in found:
            assert "\\fB\\-\\-" + name.replace("-", "\\-") + "\\fR" in section, (cmd, name)


def complete(words):
    """What the generated bash completion offers for the command line `words` (the last one
    being completed)."""
    script = build_path("tools", "feat", "completion", "feat")
    line = " ".join(f"'{w}'" for w in words)
    r = subprocess.run(["bash", "-c", f'source "{script}"; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; '
                        '_feat; printf "%s\\n" "${COMPREPLY[@]}"'], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_bash_completion_from_the_tables():
    assert complete(["feat", "ima"]) == ["image"]
    assert set(complete(["feat", ""])) >= set(SUBCOMMANDS)
    assert complete(["feat", "image", "--fus"]) == ["--fusion"]
    assert complete(["feat", "image", "--fusion", ""]) == ["concat", "mean"]
    assert complete(["feat", "text", "--precision", "b"]) == ["bf16"]
    assert "--window-pooling" in complete(["feat", "text", "--w"])
    assert "--window-pooling" not in complete(["feat", "image", "--w"])
