#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Write the scdoc source of a man page from its one source in docs/.

    mkman.py PAGE OUT.scd VERSION [GRAMMAR.json]

The text of every man page is a file of docs/ (the reference read on the
web and in the source tree): docs/cli.md for sluice(8), docs/sluiced.md for
sluiced(8), docs/policy.md for sluice-policy(5). Nothing is kept twice:
this script only changes the markup (Markdown to scdoc, which then writes
the roff). sluice(8) also gets its SYNOPSIS and COMMANDS from the CLI's own
tables (`sluice __grammar`), the ones that parse the command line, the help
and the bash completion.

The Markdown of docs/ is a plain subset: headings, paragraphs, fenced code,
tables, lists, block quotes, inline code, bold, italics and links. A table
becomes a list of terms (a man page reads better so, and tbl warns about
wide tables); links lose their target, except links between these three
pages, which become sluice(8) and so on.
"""
import json
import re
import sys

PAGES = {
    "sluice.8": ("docs/cli.md", "the sluice CLI: check policies, show and change what sluiced "
                 "has in force"),
    "sluiced.8": ("docs/sluiced.md", "the sluice agent: keeps the eBPF firewall of this network "
                  "namespace in sync with the policy files"),
    "sluice-policy.5": ("docs/policy.md", "policy files of the sluice eBPF firewall"),
}

# a link to one of the pages names the page
PAGE_OF_DOC = {"cli.md": "sluice(8)", "sluiced.md": "sluiced(8)", "policy.md": "sluice-policy(5)"}


def esc(text):
    """Literal text for scdoc: \\, * and _ are markup there."""
    return re.sub(r"([\\*_])", r"\\\1", text)


def link_text(m):
    text, target = m.group(1), m.group(2)
    doc = target.split("#")[0].split("/")[-1]
    if doc in PAGE_OF_DOC and not text.startswith("`") and PAGE_OF_DOC[doc] not in text:
        return "%s (%s)" % (text, PAGE_OF_DOC[doc])
    return text


def inline(text):
    """One line of Markdown prose as scdoc."""
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", link_text, text)
    out, pos = [], 0
    # code spans, bold, emphasis; everything else is literal
    for m in re.finditer(r"`([^`]+)`|\*\*(.+?)\*\*|(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])"
                         r"|(?<![\w_])_([^_\s][^_]*?)_(?![\w_])", text):
        out.append(esc(text[pos:m.start()]))
        if m.group(1) is not None:
            out.append("*" + esc(m.group(1)) + "*")
        elif m.group(2) is not None:
            out.append("*" + esc(m.group(2)) + "*")
        else:
            out.append("_" + esc(m.group(3) or m.group(4)) + "_")
        pos = m.end()
    out.append(esc(text[pos:]))
    line = "".join(out)
    return line_start(line)


def line_start(line):
    """A line that would start a table, a comment or a roff request, made text."""
    if line[:1] in ("[", "|", ":", ";", "#"):
        return "\\" + line
    if line[:1] == ".":
        # scdoc 1.11 passes it to roff as a request: say so rather than lose the line
        sys.exit("mkman: a line starts with '.', which roff takes for a request: %r" % line)
    return line


def cells(row):
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", row)]


def table(rows):
    """A Markdown table as terms: the first cell is the term, the others
    its text (with the column's name when there are more than two)."""
    head, body = cells(rows[0]), [cells(r) for r in rows[2:]]
    out = []
    for r in body:
        out.append(inline(r[0]) + "")
        rest = [(head[i] if i < len(head) else "", c) for i, c in enumerate(r[1:], 1)]
        rest = [(name, c) for name, c in rest if c]
        if len(rest) == 1:
            out.append("\t" + inline(rest[0][1]))
        else:
            # one line each, as a list: "column: text"
            out += ["\t- " + (esc(name) + ": " if name else "") + inline(c) for name, c in rest]
        out.append("")
    return out


def convert(md_lines):
    """Markdown lines -> (synopsis code block or None, scdoc lines of the body).
    The document's title (#) is dropped; the text before the first ## is the
    DESCRIPTION; ## sections become man sections, ### subsections."""
    out = ["# DESCRIPTION", ""]
    synopsis = None
    i, n = 0, len(md_lines)
    seen_h2 = False
    started = False
    while i < n:
        line = md_lines[i].rstrip("\n")
        if line.startswith("```"):
            block = []
            i += 1
            while i < n and not md_lines[i].startswith("```"):
                block.append(md_lines[i].rstrip("\n"))
                i += 1
            i += 1
            if not seen_h2 and not started and synopsis is None:
                synopsis = block
                continue
            out += ["```"] + [b.replace("\\", "\\\\") for b in block] + ["```", ""]
            started = True
            continue
        if line.startswith("# ") or re.fullmatch(r"-{3,}|\*{3,}", line.strip()):
            i += 1
            continue
        m = re.match(r"(#{2,4}) (.*)", line)
        if m:
            level, title = len(m.group(1)), m.group(2).strip()
            title = re.sub(r"`([^`]*)`", r"\1", title)
            if level == 2:
                seen_h2 = True
                out += ["# " + esc(title.upper()), ""]
            elif level == 3:
                out += ["## " + esc(title), ""]
            else:
                out += ["*" + esc(title) + "*", ""]
            i += 1
            continue
        if line.startswith("|"):
            rows = []
            while i < n and md_lines[i].startswith("|"):
                rows.append(md_lines[i])
                i += 1
            out += table(rows)
            started = True
            continue
        m = re.match(r"( *)(- |\d+\. )(.*)", line)
        if m:
            depth = len(m.group(1)) // 2
            bullet = "-" if m.group(2) == "- " else "."
            text = [m.group(3)]
            i += 1
            width = len(m.group(1)) + len(m.group(2))
            while i < n and md_lines[i].strip() and md_lines[i].startswith(" " * width) \
                    and not re.match(r" *(- |\d+\. )", md_lines[i]):
                text.append(md_lines[i].strip())
                i += 1
            # one line per item: a code span may run across the source's lines
            out.append("\t" * depth + bullet + " " + inline(" ".join(text)))
            started = True
            continue
        if line.startswith(">"):
            out.append("\t" + inline(line.lstrip("> ").strip()))
            i += 1
            started = True
            continue
        if not line.strip():
            if out and out[-1] != "":
                out.append("")
            i += 1
            continue
        # a paragraph: its lines joined, so that a code span may cross them
        text = []
        while i < n and md_lines[i].strip() and not re.match(
                r"(```|#{1,4} |\||>| *(- |\d+\. ))", md_lines[i]):
            text.append(md_lines[i].strip())
            i += 1
        out.append(inline(" ".join(text)))
        started = True
    return synopsis, out


def grammar_sections(g):
    """SYNOPSIS and COMMANDS of sluice(8) from `sluice __grammar`."""
    syn = ["# SYNOPSIS", "", "*sluice* [_OPTIONS_] _OBJECT_ _VERB_ [_ARGS_]", "",
           "*sluice help* | *sluice* _OBJECT_ *help*", ""]
    cmds = ["# COMMANDS", "",
            "Built from the same tables that parse the command line (*sluice help* prints "
            "them too). List options take comma-separated values or repeat.", ""]
    for o in g["objects"]:
        for c in o["commands"]:
            syn += [line_start(esc(c["synopsis"])), ""]
            cmds.append("*" + esc(c["synopsis"]) + "*")
            for opt in c["options"]:
                arg = (" " + opt["arg"] + (",..." if opt["list"] else "")) if opt["arg"] else ""
                cmds.append("\t- *%s*%s: %s" % (esc(opt["name"]), esc(arg), esc(opt["help"])))
            cmds.append("")
        # the summary's lines as the help prints them
        cmds += ["++\n".join(inline(x) for x in o["summary"].split("\n")), ""]
    return syn, cmds


def main():
    page, out_path, version = sys.argv[1], sys.argv[2], sys.argv[3]
    grammar = json.load(open(sys.argv[4])) if len(sys.argv) > 4 else None
    src, desc = PAGES[page]
    name, section = page.rsplit(".", 1)
    with open(src) as f:
        synopsis, body = convert(f.readlines())
    lines = ['%s(%s) "sluice %s"' % (name, section, version), "", "# NAME", "",
             "%s - %s" % (esc(name), esc(desc)), ""]
    if grammar:
        syn, cmds = grammar_sections(grammar)
        lines += syn + body
        # the commands after the description, before the details of docs/
        idx = next((k for k, l in enumerate(lines) if l.startswith("# ") and
                    l not in ("# NAME", "# SYNOPSIS", "# DESCRIPTION")), len(lines))
        lines[idx:idx] = cmds
    else:
        if synopsis:
            lines += ["# SYNOPSIS", ""]
            # a line that starts with blanks continues the one before
            joined = []
            for s in synopsis:
                if s[:1].isspace() and joined:
                    joined[-1] += " " + s.strip()
                else:
                    joined.append(s.strip())
            for s in joined:
                lines += [line_start(esc(s)), ""]
        lines += body
    others = sorted(v for k, v in PAGE_OF_DOC.items() if PAGES[page][0] != "docs/" + k)
    lines += ["# SEE ALSO", "", ", ".join(others) + ", bpftool(8), nft(8)", ""]
    while lines and lines[-1] == "":
        lines.pop()
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
