/* SPDX-License-Identifier: MIT */
/* Labelled data as `feat probe` and `feat finetune` read it: images in one folder per class,
 * texts as label<TAB>text lines. */
#include "cli.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int by_name(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* Images: one subfolder of dir per class (sorted), its image files walked as feat image does. */
int cli_list_class_images(const char *dir, strlist *inputs, strlist *labels)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "feat: cannot open the data folder '%s'\n", dir);
        return -1;
    }
    strlist classes = {0}, errors = {0};
    int rc = 0;
    for (struct dirent *e; (e = readdir(d)) && !rc;) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            rc = strlist_push(&classes, e->d_name);
    }
    closedir(d);
    qsort(classes.v, classes.n, sizeof *classes.v, by_name);
    for (size_t k = 0; k < classes.n && !rc; k++) {
        char path[4096], *arg = path;
        size_t before = inputs->n;
        snprintf(path, sizeof path, "%s/%s", dir, classes.v[k]);
        rc = walk_inputs(&arg, 1, inputs, &errors);
        for (size_t i = before; i < inputs->n && !rc; i++)
            rc = strlist_push(labels, classes.v[k]);
    }
    for (size_t i = 0; i < errors.n; i++)
        fprintf(stderr, "feat: %s\n", errors.v[i]);
    if (!rc && classes.n == 0)
        fprintf(stderr, "feat: the data folder '%s' has no class subfolders\n", dir);
    rc = rc || classes.n == 0 ? -1 : 0;
    strlist_free(&classes);
    strlist_free(&errors);
    return rc;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *b = (const unsigned char *)s; *b; b++)
        h = (h ^ *b) * 1099511628211ull;
    return h;
}

/* Text: "label<TAB>text" lines. texts get the text, names what the rows table calls each row
 * (its line number and a digest, which --resume checks). */
int cli_read_labelled_tsv(const char *path, strlist *texts, strlist *labels, strlist *names)
{
    FILE *f = fopen(path, "rb");
    strlist lines = {0};
    if (!f || read_lines(f, &lines)) {
        fprintf(stderr, "feat: cannot read the data file '%s'\n", path);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    int rc = 0;
    for (size_t i = 0; i < lines.n && !rc; i++) {
        char *tab = strchr(lines.v[i], '\t'), name[64];
        if (!tab || tab == lines.v[i]) {
            fprintf(stderr, "feat: %s line %zu: expected label<TAB>text\n", path, i + 1);
            rc = -1;
            break;
        }
        snprintf(name, sizeof name, "line %zu #%016llx", i + 1, (unsigned long long)fnv1a(lines.v[i]));
        *tab = '\0';
        rc = strlist_push(labels, lines.v[i]) || strlist_push(texts, tab + 1) || strlist_push(names, name);
    }
    if (!rc && lines.n == 0)
        fprintf(stderr, "feat: the data file '%s' has no lines\n", path), rc = -1;
    strlist_free(&lines);
    return rc;
}
