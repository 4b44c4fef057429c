/* feat: the command-line face of libfeat. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: feat COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  layers MODEL [--size N]              list tappable layers with output shapes\n"
            "  image --model M -o OUT.npy INPUTS... image features of files and directories\n"
            "  text --model M -o OUT.npy [< lines]  text features, one row per input line\n"
            "  tokenize --vocab V [< lines]         WordPiece ids, one line per input line\n"
            "  preprocess -o OUT.npy FILES...       the preprocessed input tensors (N, 3, H, W)\n"
            "  merge -o OUT.npy SHARDS...           join --shard I/N outputs in input order\n"
            "  version                              library version and ABI\n"
            "\n"
            "'feat COMMAND --help' describes each command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "layers") == 0)
        return cmd_layers(argc - 1, argv + 1);
    if (strcmp(cmd, "image") == 0)
        return cmd_image(argc - 1, argv + 1);
    if (strcmp(cmd, "text") == 0)
        return cmd_text(argc - 1, argv + 1);
    if (strcmp(cmd, "tokenize") == 0)
        return cmd_tokenize(argc - 1, argv + 1);
    if (strcmp(cmd, "preprocess") == 0)
        return cmd_preprocess(argc - 1, argv + 1);
    if (strcmp(cmd, "merge") == 0)
        return cmd_merge(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("libfeat %s (ABI %d)\n", feat_version_string(), (int)feat_abi_version());
        return 0;
    }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "feat: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
