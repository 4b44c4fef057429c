/* SPDX-License-Identifier: MIT */
#include "extract/model_info.h"

#include "core/json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int sidecar_path(const char *model, char *out, size_t cap)
{
    size_t n = strlen(model);
    if (n > 3 && strcmp(model + n - 3, ".pt") == 0) {
        if ((size_t)snprintf(out, cap, "%.*s.json", (int)(n - 3), model) < cap && file_exists(out))
            return 1;
    }
    return (size_t)snprintf(out, cap, "%s.json", model) < cap && file_exists(out);
}

static feat_status copy_str(const feat_json *root, const char *section, const char *key, char *dst, size_t cap,
                            const char *path, feat_error *err)
{
    const feat_json *obj = section ? feat_json_get(root, section) : root;
    const feat_json *v = feat_json_get(obj, key);
    if (!v || v->type == FEAT_JSON_NULL)
        return FEAT_OK;
    if (v->type != FEAT_JSON_STRING || strlen(v->str) >= cap)
        return feat_error_set(err, FEAT_E_MODEL, "%s: field %s%s%s must be a string shorter than %zu bytes", path,
                              section ? section : "", section ? "." : "", key, cap);
    memcpy(dst, v->str, strlen(v->str) + 1);
    return FEAT_OK;
}

static feat_status get_u32(const feat_json *obj, const char *key, uint32_t *dst, const char *path, feat_error *err)
{
    const feat_json *v = feat_json_get(obj, key);
    if (!v || v->type == FEAT_JSON_NULL)
        return FEAT_OK;
    if (v->type != FEAT_JSON_NUMBER || v->num < 0 || v->num > 1000000 || v->num != (double)(uint32_t)v->num)
        return feat_error_set(err, FEAT_E_MODEL, "%s: field %s must be an integer in 0..1000000", path, key);
    *dst = (uint32_t)v->num;
    return FEAT_OK;
}

/* image.mean / image.std: an array of exactly 3 finite numbers (std also above 0). */
static feat_status get_float3(const feat_json *obj, const char *key, int positive, float dst[3], int *has,
                              const char *path, feat_error *err)
{
    const feat_json *v = feat_json_get(obj, key);
    if (!v || v->type == FEAT_JSON_NULL)
        return FEAT_OK;
    const char *need = positive ? "3 finite numbers above 0" : "3 finite numbers";
    if (v->type != FEAT_JSON_ARRAY)
        return feat_error_set(err, FEAT_E_MODEL, "%s: field image.%s must be an array of %s", path, key, need);
    int n = 0;
    for (const feat_json *e = v->child; e; e = e->next, n++) {
        /* float range too: a finite double can still overflow to inf as a float */
        int ok = e->type == FEAT_JSON_NUMBER && isfinite((float)e->num) && (!positive || (float)e->num > 0.0f);
        if (n >= 3 || !ok)
            return feat_error_set(err, FEAT_E_MODEL, "%s: field image.%s must be an array of %s", path, key, need);
        dst[n] = (float)e->num;
    }
    if (n != 3)
        return feat_error_set(err, FEAT_E_MODEL, "%s: field image.%s must be an array of %s (has %d)", path, key, need,
                              n);
    *has = 1;
    return FEAT_OK;
}

static feat_status get_tristate(const feat_json *obj, const char *key, feat_tristate *dst, const char *path,
                                feat_error *err)
{
    const feat_json *v = feat_json_get(obj, key);
    if (!v || v->type == FEAT_JSON_NULL)
        return FEAT_OK;
    if (v->type != FEAT_JSON_BOOL)
        return feat_error_set(err, FEAT_E_MODEL, "%s: field %s must be true, false or null", path, key);
    *dst = v->num ? FEAT_TRISTATE_ON : FEAT_TRISTATE_OFF;
    return FEAT_OK;
}

/* "inputs": the names of forward's positional inputs, input_ids and attention_mask, then
 * token_type_ids for models that take segment ids (BERT, ELECTRA; not DistilBERT). */
static feat_status get_inputs(const feat_json *root, uint32_t *n_out, const char *path, feat_error *err)
{
    static const char *const names[] = {"input_ids", "attention_mask", "token_type_ids"};
    const feat_json *v = feat_json_get(root, "inputs");
    if (!v || v->type == FEAT_JSON_NULL)
        return FEAT_OK;
    uint32_t n = 0;
    int ok = v->type == FEAT_JSON_ARRAY;
    for (const feat_json *e = ok ? v->child : NULL; e && ok; e = e->next, n++)
        ok = n < 3 && e->type == FEAT_JSON_STRING && strcmp(e->str, names[n]) == 0;
    if (!ok || n < 2)
        return feat_error_set(err, FEAT_E_MODEL,
                              "%s: field inputs must be [\"input_ids\", \"attention_mask\"] or [\"input_ids\", "
                              "\"attention_mask\", \"token_type_ids\"]",
                              path);
    *n_out = n;
    return FEAT_OK;
}

/* A pattern is "" or segments of [A-Za-z0-9_]+ or "*" joined by '.'. */
static int valid_pattern(const char *k)
{
    if (!*k)
        return 1;
    for (const char *p = k;;) {
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        if (n == 0 && *p == '*')
            n = 1;
        if (n == 0 || (p[n] != '.' && p[n] != '\0') || (*p == '*' && n != 1))
            return 0;
        if (!p[n])
            return 1;
        p += n + 1;
    }
}

static feat_status get_layouts(const feat_json *root, feat_model_info *out, const char *path, feat_error *err)
{
    const feat_json *v = feat_json_get(root, "layouts");
    if (!v || v->type == FEAT_JSON_NULL)
        return FEAT_OK;
    if (v->type != FEAT_JSON_OBJECT)
        return feat_error_set(err, FEAT_E_MODEL, "%s: field layouts must be an object of module path -> layout", path);
    out->has_layouts = 1;
    for (const feat_json *e = v->child; e; e = e->next) {
        feat_layout l;
        if (e->type != FEAT_JSON_STRING || !feat_layout_parse(e->str, &l))
            return feat_error_set(err, FEAT_E_MODEL,
                                  "%s: layouts['%s'] must be \"nchw\", \"nhwc\", \"tokens\" or \"cls-tokens\"", path,
                                  e->key);
        if (strlen(e->key) >= FEAT_LAYOUT_KEY_MAX || !valid_pattern(e->key))
            return feat_error_set(err, FEAT_E_MODEL,
                                  "%s: layouts key '%.*s' is not a module path pattern (names, indices or '*' "
                                  "separated by '.', shorter than %d bytes)",
                                  path, 200, e->key, FEAT_LAYOUT_KEY_MAX);
        if (out->n_layouts >= FEAT_LAYOUT_RULES_MAX)
            return feat_error_set(err, FEAT_E_LIMIT, "%s: layouts has more than %d entries", path,
                                  FEAT_LAYOUT_RULES_MAX);
        feat_layout_rule *r = &out->layouts[out->n_layouts++];
        memcpy(r->prefix, e->key, strlen(e->key) + 1);
        r->layout = l;
    }
    return FEAT_OK;
}

/* Segments of pattern k matched against the start of path p: -1 when it does not match, else
 * the number of segments; *stars counts the '*'. */
static int match_pattern(const char *k, const char *p, int *stars)
{
    int n = 0;
    *stars = 0;
    if (!*k)
        return 0;
    for (;;) {
        size_t kl = strcspn(k, "."), pl = strcspn(p, ".");
        if (!(kl == 1 && *k == '*')) {
            if (kl != pl || strncmp(k, p, kl) != 0)
                return -1;
        } else {
            if (pl == 0)
                return -1;
            (*stars)++;
        }
        n++;
        if (!k[kl])
            return n;
        if (!p[pl])
            return -1;
        k += kl + 1;
        p += pl + 1;
    }
}

feat_layout feat_model_info_layout(const feat_model_info *info, const char *path)
{
    int best = -1, best_stars = 0;
    feat_layout l = FEAT_LAYOUT_UNKNOWN;
    for (size_t i = 0; i < info->n_layouts; i++) {
        int stars, n = match_pattern(info->layouts[i].prefix, path, &stars);
        if (n > best || (n == best && n >= 0 && stars < best_stars)) {
            best = n;
            best_stars = stars;
            l = info->layouts[i].layout;
        }
    }
    if (best >= 0 || !info->has_sidecar || info->has_layouts)
        return l;
    /* The families of side-cars older than "layouts" (docs/models.md). */
    static const char *const nchw[] = {"vgg16", "resnet50", "resnet18", "efficientnet_lite0"};
    for (size_t i = 0; i < sizeof nchw / sizeof *nchw; i++)
        if (strcmp(info->family, nchw[i]) == 0)
            return FEAT_LAYOUT_NCHW;
    return strcmp(info->family, "bert") == 0 ? FEAT_LAYOUT_TOKENS : FEAT_LAYOUT_UNKNOWN;
}

feat_status feat_model_info_read(const char *model_path, feat_model_info *out, feat_error *err)
{
    memset(out, 0, sizeof *out);
    if (!sidecar_path(model_path, out->sidecar_path, sizeof out->sidecar_path)) {
        out->sidecar_path[0] = '\0';
        return FEAT_OK;
    }
    const char *sp = out->sidecar_path;
    feat_json *root;
    feat_status st = feat_json_parse_file(sp, &root, err);
    if (st != FEAT_OK)
        return feat_error_set(err, FEAT_E_MODEL, "model side-car %s", err->msg);
    if (root->type != FEAT_JSON_OBJECT) {
        feat_json_free(root);
        return feat_error_set(err, FEAT_E_MODEL, "%s: the side-car must be a JSON object", sp);
    }
    const char *format = feat_json_get_str(root, "format");
    if (!format || strcmp(format, "libfeat-model") != 0) {
        feat_json_free(root);
        return feat_error_set(err, FEAT_E_MODEL,
                              "%s: not a libfeat model side-car (\"format\" is not \"libfeat-model\")", sp);
    }
    uint32_t version = 1;
    if ((st = get_u32(root, "format_version", &version, sp, err)) == FEAT_OK && version != FEAT_MODEL_SIDECAR_VERSION)
        st = feat_error_set(err, FEAT_E_MODEL,
                            "%s: side-car format_version %u is not supported (this libfeat reads version %d; "
                            "export the model again or use a newer libfeat)",
                            sp, version, FEAT_MODEL_SIDECAR_VERSION);
    if (st != FEAT_OK) {
        feat_json_free(root);
        return st;
    }
    out->has_sidecar = 1;
    char preset[32] = "", vocab[PATH_MAX] = "";
    const feat_json *image = feat_json_get(root, "image"), *text = feat_json_get(root, "text");
    if ((st = copy_str(root, NULL, "family", out->family, sizeof out->family, sp, err)) ||
        (st = copy_str(root, NULL, "input", out->input, sizeof out->input, sp, err)) ||
        (st = copy_str(root, NULL, "default_taps", out->default_taps, sizeof out->default_taps, sp, err)) ||
        (st = copy_str(root, "image", "preset", preset, sizeof preset, sp, err)) ||
        (st = get_u32(image, "resize", &out->resize, sp, err)) || (st = get_u32(image, "crop", &out->crop, sp, err)) ||
        (st = get_float3(image, "mean", 0, out->mean, &out->has_mean, sp, err)) ||
        (st = get_float3(image, "std", 1, out->std, &out->has_std, sp, err)) ||
        (st = copy_str(root, "text", "vocab", vocab, sizeof vocab, sp, err)) ||
        (st = get_tristate(text, "lowercase", &out->lowercase, sp, err)) ||
        (st = get_tristate(text, "strip_accents", &out->strip_accents, sp, err)) ||
        (st = get_tristate(text, "handle_chinese_chars", &out->chinese_chars, sp, err)) ||
        (st = get_u32(text, "max_length", &out->max_length, sp, err)) || (st = get_layouts(root, out, sp, err)) ||
        (st = get_inputs(root, &out->n_inputs, sp, err))) {
        feat_json_free(root);
        return st;
    }
    feat_json_free(root);
    if (preset[0]) {
        if (strcmp(preset, "torchvision") == 0)
            out->preset = FEAT_PRESET_TORCHVISION;
        else if (strcmp(preset, "keras-vgg16") == 0)
            out->preset = FEAT_PRESET_KERAS_VGG16;
        else
            return feat_error_set(err, FEAT_E_MODEL,
                                  "%s: unknown image.preset '%s' (expected torchvision or keras-vgg16)", sp, preset);
    }
    if (vocab[0]) {
        if (vocab[0] == '/') {
            memcpy(out->vocab_path, vocab, strlen(vocab) + 1);
        } else {
            const char *slash = strrchr(sp, '/');
            int dir_len = slash ? (int)(slash - sp + 1) : 0;
            if ((size_t)snprintf(out->vocab_path, sizeof out->vocab_path, "%.*s%s", dir_len, sp, vocab) >=
                sizeof out->vocab_path)
                return feat_error_set(err, FEAT_E_MODEL, "%s: vocab path too long", sp);
        }
    }
    return FEAT_OK;
}
