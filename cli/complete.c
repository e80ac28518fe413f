// SPDX-License-Identifier: GPL-2.0-only
/*
 * The CLI's tables, written out for what is built from them:
 *
 *   sluice completion bash   the bash completion: objects, verbs, options and
 *                            what each value is, as bash arrays, and one
 *                            function that reads them
 *   sluice __complete KIND   names from the running agent, one per line, for
 *                            that function: rules, rules the CLI added, sets,
 *                            sections, blocked prefixes (hidden)
 *   sluice __grammar         the whole grammar as JSON: the man page's
 *                            SYNOPSIS and OPTIONS (tools/mkman.py) (hidden)
 *
 * Nothing here knows a command by name: a new verb or option in a table is
 * completed, documented and parsed without a change in this file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "print.h"
#include "version.h"

static const char *const value_names[] = {
	[CV_TEXT] = "text",
	[CV_WORDS] = "words",
	[CV_FILE] = "file",
	[CV_DIR] = "dir",
	[CV_RULE] = "rule",
	[CV_CLI_RULE] = "cli-rule",
	[CV_ADDR] = "addr",
	[CV_SECTION] = "section",
	[CV_BLOCKED] = "blocked",
};

/* ---- sluice completion bash ---- */

/* "'rule add'" or "'status'": the key of a command in the script's arrays. */
static void command_key(char *buf, size_t len, const struct cli_object *o,
			const struct cli_verb *v)
{
	if (v->name)
		snprintf(buf, len, "%s %s", o->name, v->name);
	else
		snprintf(buf, len, "%s", o->name);
}

/* What a value is, for the script: "one|list KIND [WORDS...]". */
static void value_spec(FILE *out, bool list, enum cli_value value, const char *words)
{
	fprintf(out, "'%s %s%s%s'", list ? "list" : "one", value_names[value],
		words ? " " : "", words ? words : "");
}

/* One command's row(s) in one of the script's arrays; KEY is command_key's. */
typedef void (*row_fn)(FILE *out, const char *key, const struct cli_verb *v);

static void opts_row(FILE *out, const char *key, const struct cli_verb *v)
{
	if (!v->opts || !v->opts[0].name)
		return;
	fprintf(out, "\t['%s']='", key);
	for (const struct cli_opt *p = v->opts; p->name; p++)
		fprintf(out, "%s%s", p == v->opts ? "" : " ", p->name);
	fputs("'\n", out);
}

static void optval_rows(FILE *out, const char *key, const struct cli_verb *v)
{
	for (const struct cli_opt *p = v->opts; p && p->name; p++) {
		if (!p->arg)
			continue;
		fprintf(out, "\t['%s %s']=", key, p->name);
		value_spec(out, p->flags & CLI_OPT_LIST, p->value, p->words);
		fputc('\n', out);
	}
}

static void args_row(FILE *out, const char *key, const struct cli_verb *v)
{
	if (!v->max)
		return;
	fprintf(out, "\t['%s']=", key);
	value_spec(out, v->max > 1, v->value, NULL);
	fputc('\n', out);
}

/* An associative array, declared with HEAD, of ROW for every command. */
static void command_array(FILE *out, const char *head, row_fn row)
{
	char key[96];

	fputs(head, out);
	for (size_t i = 0; cli_objects[i]; i++) {
		const struct cli_object *o = cli_objects[i];

		if (o->hidden)
			continue;
		for_each_command(o, v) {
			command_key(key, sizeof(key), o, v);
			row(out, key, v);
		}
	}
	fputs(")\n\n", out);
}

static void script_tables(FILE *out)
{
	fputs("_sluice_objects='help", out);
	for (size_t i = 0; cli_objects[i]; i++)
		if (!cli_objects[i]->hidden)
			fprintf(out, " %s", cli_objects[i]->name);
	fputs("'\n\n# OBJECT -> its verbs (objects that are a command have none)\n"
	      "declare -gA _sluice_verbs=(\n", out);
	for (size_t i = 0; cli_objects[i]; i++) {
		const struct cli_object *o = cli_objects[i];

		if (o->hidden || !o->verbs)
			continue;
		fprintf(out, "\t[%s]='help", o->name);
		for (const struct cli_verb *v = o->verbs; v->name; v++)
			fprintf(out, " %s", v->name);
		fputs("'\n", out);
	}
	fputs(")\n\n", out);
	command_array(out, "# 'OBJECT VERB' -> its options\ndeclare -gA _sluice_opts=(\n",
		      opts_row);
	command_array(out, "# 'OBJECT VERB OPTION' -> its value: one|list KIND [WORDS]; none: "
		      "a flag\ndeclare -gA _sluice_optval=(\n", optval_rows);
	command_array(out, "# 'OBJECT VERB' -> its positional arguments\n"
		      "declare -gA _sluice_args=(\n", args_row);
	fputs("# global options (before OBJECT) and their values\n_sluice_globals='", out);
	for (const struct cli_opt *p = cli_globals; p->name; p++)
		fprintf(out, "%s%s%s%s", p == cli_globals ? "" : " ", p->alias ? p->alias : "",
			p->alias ? " " : "", p->name);
	fputs("'\ndeclare -gA _sluice_globalval=(\n", out);
	for (const struct cli_opt *p = cli_globals; p->name; p++) {
		if (!p->arg)
			continue;
		fprintf(out, "\t[%s]=", p->name);
		value_spec(out, false, p->value, p->words);
		fputc('\n', out);
	}
	fputs(")\n", out);
}

/*
 * The function that reads the tables above. It needs bash-completion's
 * _init_completion (-s: "--opt=value" gives prev=--opt; -n ':' keeps IPv6
 * addresses one word).
 */
static const char script_function[] =
	"\n"
	"# names from the agent the command line talks to (its --socket)\n"
	"_sluice_names()\n"
	"{\n"
	"\t\"${words[0]}\" \"${_sluice_sock[@]}\" __complete \"$1\" 2>/dev/null\n"
	"}\n"
	"\n"
	"# complete $cur as a value described by SPEC (one|list KIND [WORDS])\n"
	"_sluice_value()\n"
	"{\n"
	"\tlocal mult kind list pre='' c=$cur\n"
	"\tread -r mult kind list <<<\"$1\"\n"
	"\tif [[ $mult == list && $c == *,* ]]; then\n"
	"\t\tpre=${c%,*},\n"
	"\t\tc=${c##*,}\n"
	"\tfi\n"
	"\tcase $kind in\n"
	"\tfile) _filedir; return ;;\n"
	"\tdir) _filedir -d; return ;;\n"
	"\twords) ;;\n"
	"\taddr) list=$(_sluice_names set | sed 's/^/@/') ;;\n"
	"\trule | cli-rule | section | blocked) list=$(_sluice_names \"$kind\") ;;\n"
	"\t*) return ;;\n"
	"\tesac\n"
	"\tCOMPREPLY=($(compgen -P \"$pre\" -W \"$list\" -- \"$c\"))\n"
	"\t__ltrim_colon_completions \"$pre$c\"\n"
	"}\n"
	"\n"
	"_sluice()\n"
	"{\n"
	"\tlocal cur prev words cword split\n"
	"\t_init_completion -s -n : || return\n"
	"\n"
	"\tlocal i=1 w obj verb key spec opts=1\n"
	"\tlocal -a _sluice_sock=()\n"
	"\t# global options, before OBJECT\n"
	"\twhile ((i < cword)) && [[ ${words[i]} == -* ]]; do\n"
	"\t\tw=${words[i]}\n"
	"\t\tif [[ -v _sluice_globalval[$w] ]]; then\n"
	"\t\t\t((i + 1 == cword)) && break\n"
	"\t\t\t[[ $w == --socket ]] && _sluice_sock=(--socket \"${words[i + 1]}\")\n"
	"\t\t\t((i++))\n"
	"\t\telif [[ $w == --socket=* ]]; then\n"
	"\t\t\t_sluice_sock=(\"$w\")\n"
	"\t\tfi\n"
	"\t\t((i++))\n"
	"\tdone\n"
	"\tif ((i >= cword)) || [[ ${words[i]} == -* ]]; then\n"
	"\t\tif [[ -v _sluice_globalval[$prev] ]]; then\n"
	"\t\t\t_sluice_value \"${_sluice_globalval[$prev]}\"\n"
	"\t\telif [[ $cur == -* ]]; then\n"
	"\t\t\tCOMPREPLY=($(compgen -W \"$_sluice_globals\" -- \"$cur\"))\n"
	"\t\telse\n"
	"\t\t\tCOMPREPLY=($(compgen -W \"$_sluice_objects\" -- \"$cur\"))\n"
	"\t\tfi\n"
	"\t\treturn\n"
	"\tfi\n"
	"\n"
	"\tobj=${words[i++]}\n"
	"\tif [[ $obj == help ]]; then\n"
	"\t\t((i == cword)) && COMPREPLY=($(compgen -W \"${_sluice_objects#help }\" -- \"$cur\"))\n"
	"\t\treturn\n"
	"\tfi\n"
	"\tkey=$obj\n"
	"\tif [[ -v _sluice_verbs[$obj] ]]; then\n"
	"\t\tif ((i == cword)); then\n"
	"\t\t\tCOMPREPLY=($(compgen -W \"${_sluice_verbs[$obj]}\" -- \"$cur\"))\n"
	"\t\t\treturn\n"
	"\t\tfi\n"
	"\t\tverb=${words[i++]}\n"
	"\t\tkey=\"$obj $verb\"\n"
	"\tfi\n"
	"\t# the verb's arguments so far: an option's value is not an argument\n"
	"\tfor ((; i < cword; i++)); do\n"
	"\t\tw=${words[i]}\n"
	"\t\tif ((opts)) && [[ $w == -- ]]; then\n"
	"\t\t\topts=0\n"
	"\t\telif ((opts)) && [[ $w == -?* && $w != *=* && -v _sluice_optval[\"$key $w\"] ]]; then\n"
	"\t\t\t((i + 1 < cword)) && ((i++))\n"
	"\t\tfi\n"
	"\tdone\n"
	"\tif ((opts)) && [[ -v _sluice_optval[\"$key $prev\"] ]] &&\n"
	"\t\t{ [[ $split == true ]] || [[ ${words[cword - 1]} == \"$prev\" ]]; }; then\n"
	"\t\t_sluice_value \"${_sluice_optval[\"$key $prev\"]}\"\n"
	"\telif ((opts)) && [[ $cur == -* ]]; then\n"
	"\t\tCOMPREPLY=($(compgen -W \"${_sluice_opts[$key]}\" -- \"$cur\"))\n"
	"\telif [[ -v _sluice_args[$key] ]]; then\n"
	"\t\t_sluice_value \"${_sluice_args[$key]}\"\n"
	"\tfi\n"
	"} &&\n"
	"\tcomplete -F _sluice sluice\n";

static int do_completion_bash(struct cli *c, int argc, char **argv)
{
	struct json_object *o;
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	int rc = cli_no_args(c, argc, argv);

	if (rc)
		return rc;
	out = open_memstream(&buf, &len);
	if (!out)
		return cli_error(c, EXIT_FAIL, "out of memory");
	fprintf(out, "# bash completion for sluice(8), written by `sluice completion bash` "
		"(sluice %s)\n# from the CLI's command tables: regenerate it rather than edit "
		"it.\n\n", sluice_version);
	script_tables(out);
	fputs(script_function, out);
	if (fclose(out)) {
		free(buf);
		return cli_error(c, EXIT_FAIL, "out of memory");
	}
	/* -j: stdout stays JSON, {"script": "..."} */
	if (!c->json) {
		fputs(buf, stdout);
	} else {
		o = json_object_new_object();
		json_object_object_add(o, "script", json_object_new_string(buf));
		pr_json(stdout, o, c->pretty);
		json_object_put(o);
	}
	free(buf);
	return EXIT_OK;
}

static const struct cli_verb completion_verbs[] = {
	{ "bash", do_completion_bash, "" },
	{ NULL },
};

const struct cli_object cli_completion = {
	.name = "completion",
	.verbs = completion_verbs,
	.summary = "bash: print the bash completion script (installed as\n"
		   "/usr/share/bash-completion/completions/sluice). Rule, set and section names\n"
		   "come from the running agent when TAB is pressed. Needs bash-completion.",
};

/* ---- sluice __complete KIND ---- */

static void print_rules(struct json_object *show, bool cli_only)
{
	struct json_object *secs = pr_get(show, "sections");

	for (size_t s = 0; s < (secs ? json_object_array_length(secs) : 0); s++) {
		struct json_object *rules = pr_get(json_object_array_get_idx(secs, s), "rules");

		for (size_t i = 0; i < (rules ? json_object_array_length(rules) : 0); i++) {
			struct json_object *r = json_object_array_get_idx(rules, i);
			const char *name = json_object_get_string(pr_get(r, "name"));
			const char *origin = json_object_get_string(pr_get(r, "origin"));

			/* "sluice.*" rules are the agent's own (the blocklist) */
			if (!name || !strncmp(name, "sluice.", 7))
				continue;
			if (!cli_only || (origin && !strcmp(origin, "cli")))
				puts(name);
		}
	}
}

static void print_names(struct json_object *arr, const char *key)
{
	for (size_t i = 0; i < (arr ? json_object_array_length(arr) : 0); i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		const char *s = json_object_get_string(key ? pr_get(e, key) : e);

		if (s)
			puts(s);
	}
}

static int do_complete_names(struct cli *c, int argc, char **argv)
{
	static const char *const kinds[] = { "rule", "cli-rule", "set", "section", "blocked" };
	struct json_object *show;
	size_t k;
	int rc;

	if (argc != 1)
		return cli_error(c, EXIT_USAGE, "usage: sluice __complete rule|cli-rule|set|section|"
				 "blocked");
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (!strcmp(argv[0], kinds[k]))
			break;
	if (k == sizeof(kinds) / sizeof(kinds[0]))
		return cli_error(c, EXIT_USAGE, "__complete: unknown kind '%s'", argv[0]);
	rc = ctl_call(c, "policy-show", NULL, &show);
	if (rc)
		return rc;
	switch (k) {
	case 0:
	case 1:
		print_rules(show, k == 1);
		break;
	case 2:
		print_names(pr_get(show, "sets"), "name");
		break;
	case 3:
		print_names(pr_get(show, "sections"), "name");
		break;
	default:
		print_names(pr_get(show, "blocklist"), NULL);
	}
	json_object_put(show);
	return EXIT_OK;
}

const struct cli_object cli_complete_names = {
	.name = "__complete",
	.cmd = &(const struct cli_verb){ NULL, do_complete_names, "KIND" },
	.summary = "Names from the agent for the bash completion, one per line.",
	.hidden = true,
};

/* ---- sluice __grammar ---- */

static struct json_object *opt_json(const struct cli_opt *p)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "alias", p->alias ? json_object_new_string(p->alias) : NULL);
	json_object_object_add(o, "arg", p->arg ? json_object_new_string(p->arg) : NULL);
	json_object_object_add(o, "list", json_object_new_boolean(p->flags & CLI_OPT_LIST));
	json_object_object_add(o, "required",
			       json_object_new_boolean(p->flags & CLI_OPT_REQUIRED));
	json_object_object_add(o, "value", json_object_new_string(value_names[p->value]));
	json_object_object_add(o, "words", p->words ? json_object_new_string(p->words) : NULL);
	json_object_object_add(o, "help", json_object_new_string(p->help));
	return o;
}

static struct json_object *command_json(const struct cli_object *o, const struct cli_verb *v)
{
	struct json_object *j = json_object_new_object(), *opts = json_object_new_array();
	char *syn = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&syn, &len);

	if (mem) {
		cli_synopsis(mem, o, v, "", 1 << 20);
		fclose(mem);
	}
	if (syn && len && syn[len - 1] == '\n')
		syn[len - 1] = '\0';
	json_object_object_add(j, "verb", v->name ? json_object_new_string(v->name) : NULL);
	json_object_object_add(j, "synopsis", json_object_new_string(syn ? syn : ""));
	json_object_object_add(j, "args", json_object_new_string(v->synopsis ? v->synopsis : ""));
	json_object_object_add(j, "value", json_object_new_string(value_names[v->value]));
	json_object_object_add(j, "min", json_object_new_int(v->min));
	json_object_object_add(j, "max", v->max == CLI_MANY ? NULL : json_object_new_int(v->max));
	for (const struct cli_opt *p = v->opts; p && p->name; p++)
		json_object_array_add(opts, opt_json(p));
	json_object_object_add(j, "options", opts);
	free(syn);
	return j;
}

static int do_grammar(struct cli *c, int argc, char **argv)
{
	struct json_object *g = json_object_new_object(), *objs = json_object_new_array();
	struct json_object *globals = json_object_new_array();
	int rc = cli_no_args(c, argc, argv);

	if (rc) {
		json_object_put(g);
		json_object_put(objs);
		json_object_put(globals);
		return rc;
	}
	for (const struct cli_opt *p = cli_globals; p->name; p++)
		json_object_array_add(globals, opt_json(p));
	for (size_t i = 0; cli_objects[i]; i++) {
		const struct cli_object *o = cli_objects[i];
		struct json_object *jo, *cmds;

		if (o->hidden)
			continue;
		jo = json_object_new_object();
		cmds = json_object_new_array();
		json_object_object_add(jo, "name", json_object_new_string(o->name));
		json_object_object_add(jo, "summary", json_object_new_string(o->summary));
		for_each_command(o, v)
			json_object_array_add(cmds, command_json(o, v));
		json_object_object_add(jo, "commands", cmds);
		json_object_array_add(objs, jo);
	}
	json_object_object_add(g, "version", json_object_new_string(sluice_version));
	json_object_object_add(g, "globals", globals);
	json_object_object_add(g, "objects", objs);
	pr_json(stdout, g, c->pretty);
	json_object_put(g);
	return EXIT_OK;
}

const struct cli_object cli_grammar = {
	.name = "__grammar",
	.cmd = &(const struct cli_verb){ NULL, do_grammar, "" },
	.summary = "The CLI's grammar as JSON, for the man page.",
	.hidden = true,
};
