/* SPDX-License-Identifier: MIT */
/* feat: the command-line face of libfeat. */
#include "cli.h"

#include "core/edit_distance.h"
#include "core/heap_policy.h"

#include <stdio.h>
#include <string.h>

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *args, *summary;
} command;

/* The table of FEAT_COMMANDS (cli.h): dispatch and `feat --help` both read it. */
static const command commands[] = {
#define ROW(name, args, summary) {#name, cmd_##name, args, summary},
    FEAT_COMMANDS(ROW)
#undef ROW
};
#define N_COMMANDS (sizeof commands / sizeof *commands)

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("libfeat %s (ABI %d)\n", feat_version_string(), (int)feat_abi_version());
    return 0;
}

static void usage(FILE *f)
{
    /* "  NAME ARGS", then the summaries in one column two spaces after the widest */
    int col = 0;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        int w = (int)(2 + strlen(commands[i].name) + 1 + strlen(commands[i].args) + 2);
        col = w > col ? w : col;
    }
    fprintf(f, "usage: feat COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        int w = fprintf(f, "  %s %s", commands[i].name, commands[i].args);
        fprintf(f, "%*s%s\n", col - w, "", commands[i].summary);
    }
    fprintf(f, "\n'feat COMMAND --help' describes each command's options.\n");
}

int main(int argc, char **argv)
{
    feat_keep_freed_memory();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0)
        cmd = "version";
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    const char *names[N_COMMANDS];
    for (size_t i = 0; i < N_COMMANDS; i++)
        names[i] = commands[i].name;
    const char *near = feat_closest_name(cmd, names, N_COMMANDS);
    if (near) {
        fprintf(stderr, "feat: unknown command '%s'; did you mean '%s'?\n", cmd, near);
        return 2;
    }
    fprintf(stderr, "feat: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
