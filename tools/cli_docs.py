# SPDX-License-Identifier: MIT
"""Writes the feat man page (feat.1) and its bash completion from the built CLI's own help.

`feat --help` and every `feat COMMAND --help` are printed from the option tables that also
drive parsing (tools/feat/options.c), so a page generated from them lists exactly what the
CLI accepts. The build runs this after linking feat (tools/feat/meson.build) and installs
both files; tests/model/test_cli.py checks them against the help.

usage: cli_docs.py FEAT man|bash OUT
"""
import re
import subprocess
import sys

OPTION = re.compile(r"^  (?:-(?P<short>\w), |    )--(?P<name>[\w-]+)(?: (?P<arg>\S+))?(?: +(?P<help>.*))?$")


def run(feat, *args):
    r = subprocess.run([feat, *args], capture_output=True, text=True, check=True)
    return r.stdout


def commands(feat):
    """[(name, args, summary)] from `feat --help`, in its order."""
    body = run(feat, "--help").split("commands:\n", 1)[1].split("\n\n", 1)[0]
    out = []
    for line in body.splitlines():
        left, summary = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        name, _, args = left.partition(" ")
        out.append((name, args, summary))
    return out


def command_help(feat, name):
    """(usage, about lines, [option dict]) of one subcommand; options continue their help on
    the lines indented past the option column."""
    text = run(feat, name, "--help")
    if "\noptions:\n" not in text:
        return text.splitlines()[0] if text else f"feat {name}", [], []
    head, body = text.split("\noptions:\n", 1)
    lines = head.splitlines()
    usage, about = lines[0].removeprefix("usage: "), lines[1:]
    options = []
    for line in body.splitlines():
        m = OPTION.match(line)
        if m:
            options.append({"short": m.group("short"), "name": m.group("name"), "arg": m.group("arg"),
                            "help": m.group("help") or ""})
        elif options:
            options[-1]["help"] = (options[-1]["help"] + " " + line.strip()).strip()
    return usage, about, options


def roff(text):
    """Escapes text for a roff line: backslashes, and a leading dot or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def man_page(feat):
    version = run(feat, "version").split()[1]
    out = [f'.TH FEAT 1 "" "libfeat {version}" "User Commands"',
           ".SH NAME", "feat \\- deep-learning features of images and text from pretrained models",
           ".SH SYNOPSIS", ".B feat", ".I COMMAND", "[options]",
           ".SH DESCRIPTION",
           roff("feat is the command-line face of libfeat: it extracts features from images and text "
                "with TorchScript models, chooses layers by linear probes on labelled data, and fine-tunes "
                "the last blocks of a model. Each command is described below with its options; "
                "'feat COMMAND --help' prints the same."),
           ".SH COMMANDS"]
    for name, args, summary in commands(feat):
        usage, about, options = command_help(feat, name)
        out += [".SS " + roff(f"{name} {args}".strip()), roff(summary + "."), ".PP", roff("usage: " + usage)]
        if about:
            out += [".PP", roff(" ".join(a.strip() for a in about))]
        for o in options:
            flag = (f"\\fB\\-{o['short']}\\fR, " if o["short"] else "") + f"\\fB\\-\\-{roff(o['name'])}\\fR"
            if o["arg"]:
                flag += " \\fI" + roff(o["arg"]) + "\\fR"
            out += [".TP", flag, roff(o["help"])]
    out += [".SH EXIT STATUS",
            roff("0 when the run finished (rows that failed are marked in OUT.rows.tsv); 1 when no input "
                 "could be processed or a run failed; 2 for a usage error; 130 after SIGINT or SIGTERM "
                 "(the finished parts are kept: rerun with --resume)."),
            ".SH SEE ALSO",
            roff("The documentation in the libfeat source tree: README.md, docs/api.md, docs/taps.md, "
                 "docs/adapting.md, docs/models.md.")]
    return "\n".join(out) + "\n"


def bash_completion(feat):
    cmds = commands(feat)
    cases = []
    for name, _, _ in cmds:
        _, _, options = command_help(feat, name)
        flags = " ".join(f"--{o['name']}" for o in options) + "".join(
            f" -{o['short']}" for o in options if o["short"])
        values = [f"            --{o['name']}) COMPREPLY=($(compgen -W '{' '.join(o['arg'].split('|'))}' -- \"$cur\"));"
                  " return ;;" for o in options if o["arg"] and "|" in o["arg"]]
        takes = " | ".join(f"--{o['name']}" + (f" | -{o['short']}" if o["short"] else "")
                           for o in options if o["arg"] and "|" not in o["arg"])
        body = [f"        {name})", "            case \"$prev\" in", *values]
        if takes:
            body.append(f"            {takes}) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;")
        body += ["            esac",
                 f"            if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W '{flags}' -- \"$cur\")); "
                 "else COMPREPLY=($(compgen -f -- \"$cur\")); fi",
                 "            ;;"]
        cases += body
    names = " ".join(n for n, _, _ in cmds)
    return "\n".join([
        "# bash completion for feat (generated by tools/cli_docs.py from feat's own --help)",
        "_feat()",
        "{",
        "    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}",
        "    if [[ $COMP_CWORD -eq 1 ]]; then",
        f"        COMPREPLY=($(compgen -W '{names} --help --version' -- \"$cur\"))",
        "        return",
        "    fi",
        "    case ${COMP_WORDS[1]} in",
        *cases,
        "    esac",
        "}",
        "complete -o filenames -F _feat feat",
        ""])


def main(argv):
    if len(argv) != 4 or argv[2] not in ("man", "bash"):
        sys.exit(__doc__.strip().splitlines()[-1])
    feat, kind, out = argv[1:]
    text = man_page(feat) if kind == "man" else bash_completion(feat)
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main(sys.argv)
