/* SPDX-License-Identifier: MIT */
/* feat: the command-line face of libfeat. */
#include "cli.h"

#include "core/edit_distance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__)
#  include <malloc.h>
#endif

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

/* feat's memory policy: keep freed memory for the next batch. By default glibc hands the freed
 * top of its heap back to the system after each forward pass, and maps and unmaps every block
 * of 32 MiB or more (a batch's activations) per run; either way the next run faults the pages
 * in again. That cost 9 % of VGG16's throughput at 2 threads and 25 % of EfficientNet-Lite0's
 * at batch 8 (docs/performance.md, "Model-only gap"). So every block comes from the heap, and
 * up to 1 GiB of freed heap is kept; peak memory is unchanged. glibc's own settings in the
 * environment (MALLOC_MMAP_MAX_, MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_) take
 * precedence. */
static void keep_freed_memory(void)
{
#if defined(__GLIBC__)
    if (getenv("MALLOC_MMAP_MAX_") || getenv("MALLOC_MMAP_THRESHOLD_") || getenv("MALLOC_TRIM_THRESHOLD_"))
        return;
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

int main(int argc, char **argv)
{
    keep_freed_memory();
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
