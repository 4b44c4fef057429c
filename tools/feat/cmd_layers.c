/* SPDX-License-Identifier: MIT */
/* feat layers: the tappable layers of a model with their output shapes. */
#include "cli.h"

enum { OPT_SIZE = 's' }; /* also -s */

static const cli_option options[] = {
    CLI_VALUE("size", OPT_SIZE, "N", "the example input: N x N image (default 224), or N tokens (default 16)"),
    CLI_SHARED(CLI_HELP, NULL),
    {0},
};

static feat_status layers_option(const cli_option *opt, const char *val, cli_common *c, void *size)
{
    (void)c;
    *(uint32_t *)size = (uint32_t)cli_ulong(opt, val, 4096);
    return FEAT_OK;
}

static void print_layer(const feat_layer_list *l, size_t i)
{
    int64_t d[8];
    size_t nd = feat_layer_list_shape(l, i, d, 8);
    printf("%s\t", feat_layer_list_path(l, i));
    if (nd == 0) {
        printf("-\t%s\n", feat_layer_list_note(l, i));
        return;
    }
    for (size_t k = 0; k < nd && k < 8; k++)
        printf("%s%lld", k ? "x" : "", (long long)d[k]);
    printf("\n");
}

static int run(char **model, int n, cli_common *c, void *size)
{
    (void)n;
    (void)c;
    feat_layer_list *l;
    if (feat_layers_list(model[0], *(uint32_t *)size, &l) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return 1;
    }
    for (size_t i = 0; i < feat_layer_list_len(l); i++)
        print_layer(l, i);
    feat_layer_list_free(l);
    return 0;
}

static const cli_command command = {
    .usage = "layers MODEL [--size N]",
    .about = "Prints every submodule path of MODEL with its output shape for one example input\n"
             "(N x N image, default 224; or N tokens, default 16): 'PATH<TAB>SHAPE' lines, SHAPE\n"
             "as 1x512x7x7. Paths that cannot be tapped print 'PATH<TAB>-<TAB>why not'.\n",
    .options = options,
    .operands = CLI_ONE_OPERAND,
    .own = layers_option,
    .run = run};

int cmd_layers(int argc, char **argv)
{
    uint32_t size = 0;
    return cli_main(&command, argc, argv, &size);
}
