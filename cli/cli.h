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

#include <json-c/json.h>

#define SLUICE_VERSION		"0.1.0"
#define SLUICE_DEFAULT_SOCKET	"/run/sluice/sluiced.sock"
#define SLUICE_DEFAULT_STATE	"/sys/fs/bpf/sluice"

/* Exit statuses (SPEC.md): */
enum {
	EXIT_OK = 0,		/* success */
	EXIT_FAIL = 1,		/* the operation failed (agent unreachable, kernel error) */
	EXIT_USAGE = 2,		/* bad usage or invalid input (also unreadable input files) */
};

struct cli {
	bool json;		/* -j: stdout carries JSON only */
	bool pretty;		/* -p: indented JSON (implies -j) */
	const char *socket;	/* --socket */
	const char *state_dir;	/* --state-dir */
	const char *object;	/* the object keyword, for error messages */
};

/* A command: argv[0] is the first argument after the verb (or after the object
 * for objects without verbs). Returns an exit status. */
typedef int (*cli_fn)(struct cli *c, int argc, char **argv);

struct cli_verb {
	const char *name;
	cli_fn fn;
	const char *synopsis;	/* arguments after "sluice OBJECT VERB" */
};

struct cli_object {
	const char *name;
	const struct cli_verb *verbs;	/* NULL-terminated; NULL when the object is a command */
	cli_fn fn;			/* when verbs is NULL */
	const char *synopsis;		/* when verbs is NULL */
	const char *summary;		/* one line for `sluice help` */
};

extern const struct cli_object cli_policy, cli_rule, cli_status, cli_stats, cli_teardown;
extern const struct cli_object cli_ct, cli_monitor, cli_block, cli_egress;

/*
 * Edits (block.c): --generation N is the generation the edit was decided
 * against (the agent refuses it with a conflict when another is in force);
 * without it, cli_edit_call asks the agent for the one in force first
 * (GEN < 0). cli_opt_generation: 1 when argv[*I] was the option, 0 when not,
 * -STATUS on error.
 */
int cli_parse_generation(struct cli *c, const char *arg, long long *gen);
int cli_opt_generation(struct cli *c, int argc, char **argv, int *i, long long *gen);
int cli_edit_call(struct cli *c, const char *cmd, struct json_object *args, long long gen,
		  struct json_object **data);

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
struct cli_list {
	char **v;
	size_t n;
};

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
