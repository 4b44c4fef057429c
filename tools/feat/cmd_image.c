#include "cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) { interrupted = sig; }

static const char image_help[] =
    "usage: feat image --model M [options] -o OUT.npy FILES_OR_DIRS...\n"
    "Writes OUT.npy (float32, one row per input; NaN rows for inputs that failed) and\n"
    "OUT.rows.tsv (row, status, input path, error message). Directories are walked\n"
    "recursively in byte order, taking .jpg/.jpeg/.png (and other image extensions, which\n"
    "then fail as unsupported). Exit status 1 only when no input could be processed.\n"
    "options:\n"
    "  --model M            TorchScript model (its side-car M.json gives defaults)\n"
    "  --taps SPEC          e.g. 'features.29:gap,features.22:gmp' (default: the model's)\n"
    "  --fusion concat|mean how several taps become one row (default concat)\n"
    "  --preset torchvision|keras-vgg16\n"
    "  --resize N           shorter side before the center crop (torchvision preset)\n"
    "  --crop N             output size N x N (default 224)\n"
    "  --interpolation nearest|bilinear|bicubic|lanczos\n"
    "  --exif               apply EXIF orientation\n"
    "  --fast               fast, inexact JPEG decoding (docs/imaging.md)\n"
    "  --batch-size N       images per forward pass (default 1)\n"
    "  --threads N          inference threads (default: cores, at most 8)\n"
    "  --device D           cpu or cuda:N\n"
    "  --precision P        fp32 (default) or bf16 (opt-in; slower on CPUs without bf16)\n"
    "  --shard I/N          process only inputs i with i %% N == I (job arrays)\n"
    "  --resume           go on from the parts of an interrupted run (OUT.parts/)\n"
    "  --part-size N      images per durable part written to OUT.parts/ (default 64)\n"
    "  -o, --output OUT.npy\n";

static int parse_enum(const char *opt, const char *val, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(val, names[i]) == 0)
            return i + 1;
    fprintf(stderr, "feat: unknown %s '%s'\n", opt, val);
    exit(2);
}

int cmd_image(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},  {"taps", required_argument, 0, 't'},
        {"fusion", required_argument, 0, 'F'}, {"preset", required_argument, 0, 'p'},
        {"resize", required_argument, 0, 'r'}, {"crop", required_argument, 0, 'c'},
        {"interpolation", required_argument, 0, 'i'}, {"exif", no_argument, 0, 'e'},
        {"fast", no_argument, 0, 'f'},         {"batch-size", required_argument, 0, 'b'},
        {"threads", required_argument, 0, 'j'}, {"device", required_argument, 0, 'd'}, {"precision", required_argument, 0, 'X'},
        {"shard", required_argument, 0, 's'},  {"output", required_argument, 0, 'o'},
        {"resume", no_argument, 0, 'U'}, {"part-size", required_argument, 0, 'Z'}, {"help", no_argument, 0, 'h'},         {0}};
    static const char *const presets[] = {"torchvision", "keras-vgg16"};
    static const char *const interps[] = {"nearest", "bilinear", "bicubic", "lanczos"};
    static const char *const fusions[] = {"concat", "mean"};
    const char *model = NULL, *output = NULL;
    size_t shard_i = 0, shard_n = 1;
    int resume = 0;
    size_t chunk = 64;
    long threads = -1;
    feat_image_options *o;
    if (feat_image_options_new(&o) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return 1;
    }
    feat_status st = FEAT_OK;
    int c;
    while ((c = getopt_long(argc, argv, "m:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'o': output = optarg; break;
        case 't': st = feat_image_options_set_taps(o, optarg); break;
        case 'F': st = feat_image_options_set_fusion(o, (feat_fusion)parse_enum("fusion", optarg, fusions, 2)); break;
        case 'p': st = feat_image_options_set_preset(o, (feat_image_preset)parse_enum("preset", optarg, presets, 2)); break;
        case 'r': st = feat_image_options_set_resize(o, (uint32_t)parse_ulong("--resize", optarg, 65535)); break;
        case 'c': {
            uint32_t n = (uint32_t)parse_ulong("--crop", optarg, 65535);
            st = feat_image_options_set_crop(o, n, n);
            break;
        }
        case 'i':
            st = feat_image_options_set_interpolation(o, (feat_interpolation)parse_enum("interpolation", optarg, interps, 4));
            break;
        case 'e': st = feat_image_options_set_exif_orientation(o, 1); break;
        case 'f': st = feat_image_options_set_decode_mode(o, FEAT_DECODE_FAST); break;
        case 'b': st = feat_image_options_set_batch_size(o, (uint32_t)parse_ulong("--batch-size", optarg, 4096)); break;
        case 'j': threads = (long)parse_ulong("--threads", optarg, 1024); break;
        case 'd': st = feat_image_options_set_device(o, optarg); break;
        case 'X': st = feat_image_options_set_precision(o, parse_precision(optarg)); break;
        case 's':
            if (parse_shard(optarg, &shard_i, &shard_n)) {
                fprintf(stderr, "feat: --shard expects I/N with 0 <= I < N, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'U': resume = 1; break;
        case 'Z': chunk = parse_ulong("--part-size", optarg, 1 << 20); if (!chunk) chunk = 64; break;
        case 'h': fputs(image_help, stdout); return 0;
        default: return 2;
        }
        if (st != FEAT_OK) {
            fprintf(stderr, "feat: %s\n", feat_last_error());
            return 2;
        }
    }
    if (!model || !output || optind >= argc) {
        fputs(image_help, stderr);
        return 2;
    }
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    if (threads >= 0 && feat_global_set_threads((int32_t)threads) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return 1;
    }
    strlist all = {0}, files = {0}, walk_errors = {0};
    if (walk_inputs(argv + optind, argc - optind, &all, &walk_errors)) {
        fprintf(stderr, "feat: out of memory listing inputs\n");
        return 1;
    }
    for (size_t i = 0; i < walk_errors.n; i++)
        fprintf(stderr, "feat: %s\n", walk_errors.v[i]);
    for (size_t i = 0; i < all.n; i++)
        if (i % shard_n == shard_i && strlist_push(&files, all.v[i])) {
            fprintf(stderr, "feat: out of memory listing inputs\n");
            return 1;
        }
    strlist_free(&all);

    feat_image_extractor *ex;
    if (feat_image_extractor_new(&ex) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_last_error());
        return 1;
    }
    if (feat_image_extractor_load(ex, model, o) != FEAT_OK) {
        fprintf(stderr, "feat: %s\n", feat_image_extractor_last_error(ex));
        feat_image_extractor_free(ex);
        feat_image_options_free(o);
        return 1;
    }
    feat_image_options_free(o);
    size_t done = 0;
    out_writer *w = out_open(output, feat_image_extractor_dim(ex), files.v, files.n, shard_i, shard_n, resume,
                             &done);
    if (!w)
        return 1;
    if (done)
        fprintf(stderr, "feat: resuming after image %zu of %zu\n", done, files.n);
    size_t failed = 0;
    int rc = 0;
    while (done < files.n && !interrupted) {
        size_t n = files.n - done < chunk ? files.n - done : chunk;
        feat_result *r;
        if (feat_image_extractor_extract_files(ex, (const char *const *)files.v + done, n, &r) != FEAT_OK) {
            fprintf(stderr, "feat: %s\n", feat_image_extractor_last_error(ex));
            rc = 1;
            break;
        }
        for (size_t i = 0; i < n; i++)
            if (feat_result_item_status(r, i) != FEAT_OK) {
                fprintf(stderr, "feat: %s\n", feat_result_item_error(r, i));
                failed++;
            }
        if (out_append(w, r, files.v + done, n)) {
            rc = 1;
            feat_result_free(r);
            break;
        }
        feat_result_free(r);
        done += n;
        progress("images", done, files.n, failed, 0);
    }
    progress("images", done, files.n, failed, 1);
    if (rc || interrupted) {
        out_suspend(w);
        if (interrupted && !rc) {
            fprintf(stderr, "feat: interrupted after %zu of %zu images; rerun with --resume to go on\n", done,
                    files.n);
            rc = 130;
        }
    } else {
        size_t n_rows, n_failed;
        if (out_finish(w, &n_rows, &n_failed)) {
            rc = 1;
        } else {
            fprintf(stderr, "feat: %zu of %zu images done, %zu failed; wrote %s\n", n_rows - n_failed, n_rows,
                    n_failed, output);
            if (n_rows == n_failed)
                rc = 1; /* nothing could be processed */
        }
    }
    feat_image_extractor_free(ex);
    strlist_free(&files);
    strlist_free(&walk_errors);
    return rc;
}
