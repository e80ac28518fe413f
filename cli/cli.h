/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sluice, the CLI: `sluice [GLOBAL OPTIONS] OBJECT VERB [ARGS]`.
 * main.c parses the global options and dispatches through the object table;
 * every object file (policy.c, rule.c, ...) holds its verb table. Keywords
 * match exactly, never by prefix.
 */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

#define SLUICE_DEFAULT_SOCKET	"/run/sluice/sluiced.sock"
#define SLUICE_DEFAULT_STATE	"/sys/fs/bpf/sluice"

/* Exit statuses (SPEC.md): */
enum {
	EXIT_OK = 0,		/* success */
	EXIT_FAIL = 1,		/* the operation failed (agent unreachable, kernel error) */
	EXIT_USAGE = 2,		/* bad usage or invalid input (also unreadable input files) */
};

struct cli_verb;

struct cli {
	bool json;		/* -j: stdout carries JSON only */
	bool pretty;		/* -p: indented JSON (implies -j) */
	const char *socket;	/* --socket */
	const char *state_dir;	/* --state-dir */
	const char *object;	/* the object keyword, for error messages */
	const struct cli_verb *verb;	/* the command running (dispatch sets it) */
};

/* A command: argv[0] is the first argument after the verb (or after the object
 * for objects without verbs). Returns an exit status. */
typedef int (*cli_fn)(struct cli *c, int argc, char **argv);

/*
 * The grammar is data. Every verb names its positional arguments and its
 * options in tables (cli_opt), and the same tables feed the parser
 * (cli_parse), the help (`sluice OBJECT help`), the man page's synopsis
 * (`sluice __grammar`, read by tools/mkman.py) and the bash completion
 * (`sluice completion bash`, cli/complete.c).
 */

/* What a value is, for the completion (and what the help calls it). */
enum cli_value {
	CV_TEXT,	/* free text (a number, a name to be): nothing to offer */
	CV_WORDS,	/* one of cli_opt.words */
	CV_FILE,	/* a path */
	CV_DIR,		/* a directory */
	CV_RULE,	/* a rule in force (names from the agent) */
	CV_CLI_RULE,	/* a rule added with `rule add` (from the agent) */
	CV_ADDR,	/* an address, a prefix or @SET (set names from the agent) */
	CV_SECTION,	/* a firewall section (from the agent) */
	CV_BLOCKED,	/* a prefix of the quick blocklist (from the agent) */
};

enum {
	CLI_OPT_LIST = 1 << 0,		/* comma-separated or repeated: the values add up */
	CLI_OPT_REQUIRED = 1 << 1,	/* the verb cannot run without it */
};

struct cli_opt {
	const char *name;	/* "--src"; NULL ends a table */
	const char *arg;	/* the value in the synopsis ("CIDR|@SET"); NULL: takes none */
	unsigned int flags;	/* CLI_OPT_* */
	enum cli_value value;	/* what the value is */
	const char *words;	/* CV_WORDS: the words, space-separated */
	const char *help;	/* one line for the help and the man page */
	const char *alias;	/* a short form ("-j"), global options only */
};

#define CLI_MANY	255	/* cli_verb.max: no limit */

struct cli_verb {
	const char *name;
	cli_fn fn;
	/*
	 * The positional arguments as the synopsis shows them ("NAME",
	 * "CIDR..."); the options follow, from OPTS. A verb without OPTS, MIN
	 * and MAX parses its arguments itself and its synopsis says it all.
	 */
	const char *synopsis;
	const struct cli_opt *opts;	/* NULL-name-terminated; NULL: no options */
	enum cli_value value;		/* what a positional argument is */
	unsigned char min, max;		/* how many positional arguments (cli_parse) */
};

struct cli_object {
	const char *name;
	const struct cli_verb *verbs;	/* NULL-terminated; NULL when the object is a command */
	const struct cli_verb *cmd;	/* when verbs is NULL: the command (its name unused) */
	const char *summary;		/* for `sluice OBJECT help` */
	bool hidden;			/* not in the help, the man page or the completion */
};

/* Every command of object O: its verbs, or its one command. */
#define for_each_command(o, v) \
	for (const struct cli_verb *v = (o)->verbs ? (o)->verbs : (o)->cmd; \
	     v && ((o)->verbs ? v->name != NULL : v == (o)->cmd); v++)

extern const struct cli_object cli_policy, cli_rule, cli_status, cli_stats, cli_teardown;
extern const struct cli_object cli_ct, cli_monitor, cli_block, cli_version, cli_completion;
extern const struct cli_object cli_egress;
extern const struct cli_object cli_lb;
extern const struct cli_object cli_complete_names, cli_grammar;

/* Every object, in the order of the help; NULL-terminated (main.c). */
extern const struct cli_object *const cli_objects[];
/* The global options, before OBJECT (main.c). */
extern const struct cli_opt cli_globals[];

/*
 * The arguments of the running verb as its tables say (cli_parse): the
 * positional ones in order, then per option of the table (same index) the
 * value given (a flag given: ""), or for a CLI_OPT_LIST option the list.
 */
#define CLI_MAX_OPTS	16

struct cli_list {
	char **v;
	size_t n;
};

struct cli_args {
	char **pos;
	size_t npos;
	const char *val[CLI_MAX_OPTS];
	struct cli_list list[CLI_MAX_OPTS];
};

/*
 * Parse ARGV for c->verb: `--name VALUE` and `--name=VALUE`, lists,
 * positional arguments anywhere, `--` ends the options. Every usage error is
 * reported here (exit status returned); nothing is reported on success.
 */
int cli_parse(struct cli *c, int argc, char **argv, struct cli_args *a);
void cli_args_free(struct cli_args *a);
/* The value of option NAME of c->verb (NULL: not given), or its list. */
const char *cli_arg(const struct cli *c, const struct cli_args *a, const char *name);
const struct cli_list *cli_arg_list(const struct cli *c, const struct cli_args *a,
				    const char *name);

/*
 * Text views of rules (rule list, policy show): an early deny's action
 * reads "deny-early" (-j keeps "action": "deny", "early": true). RULES: an
 * array of rule objects, changed in place.
 */
void cli_mark_early(struct json_object *rules);

/*
 * A service's head line as lb list and policy show write it (cli/lb.c),
 * no newline: "web  192.0.2.10:80/tcp  nat" and, when S has them, its
 * health checks. ENDPOINT: "192.0.2.10:80", "[2001:db8::10]:80" from an
 * object's addr (or vip) and port.
 */
void cli_lb_service_head(struct json_object *s);
void cli_lb_endpoint(struct json_object *o, char *buf, size_t len);

/* `sluice --version`: the CLI's version alone (cli/version.c). */
int cli_version_only(const struct cli *c);

/* "sluice OBJECT VERB ARGS [OPTIONS]" of V (of object O) into OUT, wrapped at WIDTH. */
void cli_synopsis(FILE *out, const struct cli_object *o, const struct cli_verb *v,
		  const char *lead, int width);

/*
 * Edits (block.c): --generation N is the generation the edit was decided
 * against (the agent refuses it with a conflict when another is in force);
 * without it (GEN < 0) the edit applies to whatever is in force when the
 * agent serves it. cli_generation reads the option of parsed arguments.
 */
#define CLI_OPT_GENERATION \
	{ "--generation", "N", 0, CV_TEXT, NULL, \
	  "refuse the edit (exit 1) unless generation N is the one in force" }

int cli_generation(struct cli *c, const struct cli_args *a, long long *gen);
int cli_edit_call(struct cli *c, const char *cmd, struct json_object *args, long long gen,
		  struct json_object **data);
/* cli_edit_call, then ARGS put and the answer printed through TEXT: an exit status. */
int cli_edit_run(struct cli *c, const char *cmd, struct json_object *args, long long gen,
		 int (*text)(struct json_object *data));

/*
 * Report an error once, where the context is: one line on stderr, or
 * {"error": "..."} on stdout under -j. Returns STATUS so that a command can
 * `return cli_error(c, EXIT_USAGE, ...)`.
 */
__attribute__((format(printf, 3, 4)))
int cli_error(const struct cli *c, int status, const char *fmt, ...);

/* Print DATA under -j as JSON, else through TEXT. Returns an exit status. */
int cli_output(const struct cli *c, struct json_object *data,
	       int (*text)(struct json_object *data));

/*
 * A verb without arguments that asks the agent CMD and prints the answer
 * (cli_output): status, stats, rule list, block list, policy show.
 */
int cli_show(struct cli *c, int argc, char **argv, const char *cmd,
	     int (*text)(struct json_object *data));

/* Refuse arguments a verb does not take (saying so when one is a global option). */
int cli_no_args(struct cli *c, int argc, char **argv);
bool cli_global_option(const char *arg);

/*
 * List arguments: comma-separated or repeated, `--src 192.0.2.0/24,198.51.100.0/24
 * --src 203.0.113.1`. Empty elements ("a,,b", "", "a,") are refused.
 */
int cli_list_add(struct cli_list *l, const char *arg);	/* 0, -EINVAL or -ENOMEM */
void cli_list_free(struct cli_list *l);

/*
 * The control socket client (docs/control.md). ctl_connect returns a
 * connected fd or -errno and prints nothing, so that teardown can tell "no
 * agent" from other failures. ctl_call sends {"cmd": CMD, ...ARGS} and
 * stores the answer's data in *DATA (the caller puts it); every failure is
 * reported with cli_error and its exit status returned. One exchange
 * (connect, request, answer) takes at most 30 s, or SLUICE_CTL_TIMEOUT
 * seconds.
 */
int ctl_connect(const struct cli *c);
/* Report a failed ctl_connect (ERR) as the CLI does; returns the exit status. */
int ctl_connect_error(const struct cli *c, int err);
int ctl_call_fd(const struct cli *c, int fd, const char *cmd, struct json_object *args,
		struct json_object **data);
int ctl_call(const struct cli *c, const char *cmd, struct json_object *args,
	     struct json_object **data);

#endif /* SLUICE_CLI_H */
