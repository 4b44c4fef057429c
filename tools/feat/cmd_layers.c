#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

int cmd_layers(int argc, char **argv)
{
    static const struct option opts[] = {{"size", required_argument, 0, 's'}, {"help", no_argument, 0, 'h'}, {0}};
    unsigned long size = 0;
    int c;
    while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': size = parse_ulong("--size", optarg, 4096); break;
        case 'h':
            printf("usage: feat layers MODEL [--size N]\n"
                   "Prints every submodule path with its output shape for one example input\n"
                   "(N x N image, default 224; or N tokens, default 16). Paths not tappable say why.\n");
            return 0;
        default: return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: feat layers MODEL [--size N]\n");
        return 2;
    }
    feat_layer_list *l;
    if (feat_layers_list(argv[optind], (uint32_t)size, &l) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return 1;
    }
    for (size_t i = 0; i < feat_layer_list_len(l); i++) {
        int64_t d[8];
        size_t nd = feat_layer_list_shape(l, i, d, 8);
        printf("%s\t", feat_layer_list_path(l, i));
        if (nd == 0) {
            printf("-\t%s\n", feat_layer_list_note(l, i));
            continue;
        }
        for (size_t k = 0; k < nd && k < 8; k++)
            printf("%s%lld", k ? "x" : "", (long long)d[k]);
        printf("\n");
    }
    feat_layer_list_free(l);
    return 0;
}
