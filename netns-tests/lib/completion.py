# SPDX-License-Identifier: GPL-2.0-only
"""Drive a bash completion function the way readline does, without a terminal.

For each command line, COMP_WORDS is split as readline splits it (blanks,
and COMP_WORDBREAKS' '=' and ':' as words of their own), COMP_CWORD is the
last word, and the function registered with `complete -F` for the command
is called; its COMPREPLY is the answer. bash-completion's own helpers
(_init_completion, _filedir) are loaded first, as an interactive shell has
them.
"""
import json
import subprocess

BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"

DRIVER = r'''
source %(bc)s
%(load)s
complete -p sluice || exit 3
_fn=$(complete -p sluice | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
t() {
	COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
	COMP_WORDS=()
	local rest=$1
	while [[ $rest =~ ^[[:space:]]*([^[:space:]=:]+|[=:]+) ]]; do
		COMP_WORDS+=("${BASH_REMATCH[1]}")
		rest=${rest:${#BASH_REMATCH[0]}}
	done
	[[ $COMP_LINE == *[[:space:]] ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	"$_fn" sluice "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
	printf '%%s\x1f' "${COMPREPLY[@]}"
	printf '\x1e'
}
while IFS= read -r line; do t "$line"; done
'''


def complete(lines, script=None, path=None, env=None):
    """{line: [replies]} for every command line in LINES. The completion is
    SCRIPT (its text) or loaded by bash-completion from PATH's dir
    (_completion_loader, as an installed completion is)."""
    if script is not None:
        load = "source /dev/stdin <<'SLUICE_COMPLETION_EOF'\n%s\nSLUICE_COMPLETION_EOF" % script
    else:
        load = ("BASH_COMPLETION_USER_DIR=%s; _completion_loader sluice"
                % path.rsplit("/completions/", 1)[0])
    prog = DRIVER % {"bc": BASH_COMPLETION, "load": load}
    p = subprocess.run(["bash", "-c", prog], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=60, env=env)
    if p.returncode != 0:
        raise RuntimeError("bash: exit %d: %s" % (p.returncode, p.stderr))
    out = p.stdout.split("\n", 1)[1] if p.stdout.startswith("complete ") else p.stdout
    answers = out.split("\x1e")[:len(lines)]
    return {line: [w for w in a.split("\x1f") if w] for line, a in zip(lines, answers)}


def complete_p(script):
    """What `complete -p sluice` says once SCRIPT is loaded."""
    prog = "source %s\nsource /dev/stdin <<'E'\n%s\nE\ncomplete -p sluice" % (
        BASH_COMPLETION, script)
    return subprocess.run(["bash", "-c", prog], capture_output=True, text=True,
                          timeout=30).stdout.strip()


def grammar(sluice):
    return json.loads(subprocess.run([sluice, "__grammar"], capture_output=True, text=True,
                                     check=True).stdout)
