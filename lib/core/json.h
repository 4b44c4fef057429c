/* SPDX-License-Identifier: MIT */
/* A small, strict JSON reader for model side-cars (a few KB written by
 * tools/export_models.py) and Hugging Face tokenizer.json files (lib/text/tokenizer_json.c).
 * Parses into a tree; limits depth, size and the number of values against hostile files.
 * Strings are NUL-terminated, so a \u0000 escape is refused. */
#ifndef FEAT_CORE_JSON_H
#define FEAT_CORE_JSON_H

#include "core/error.h"

#include <stdio.h>

typedef enum feat_json_type {
    FEAT_JSON_NULL,
    FEAT_JSON_BOOL,
    FEAT_JSON_NUMBER,
    FEAT_JSON_STRING,
    FEAT_JSON_ARRAY,
    FEAT_JSON_OBJECT
} feat_json_type;

typedef struct feat_json feat_json;
struct feat_json {
    feat_json_type type;
    char *key;        /* member name inside an object, else NULL */
    char *str;        /* STRING: UTF-8, NUL-terminated */
    double num;       /* NUMBER; BOOL as 0/1 */
    feat_json *child; /* ARRAY/OBJECT: first element */
    feat_json *next;  /* next sibling */
};

#define FEAT_JSON_MAX_BYTES (1u << 20)
#define FEAT_JSON_MAX_DEPTH 32

/* Side-car limits: FEAT_JSON_MAX_BYTES (a value takes at least 2 bytes, so no value limit). */
feat_status feat_json_parse(const char *text, size_t len, feat_json **out, feat_error *err);
/* Caller's limits: more than @p max_bytes bytes or @p max_values values (array elements and
 * object members) is FEAT_E_LIMIT. */
feat_status feat_json_parse_limited(const char *text, size_t len, size_t max_bytes, size_t max_values, feat_json **out,
                                    feat_error *err);
feat_status feat_json_parse_file(const char *path, feat_json **out, feat_error *err);
void feat_json_free(feat_json *j);

/* Member of an object by name, NULL when absent or when j is not an object. */
const feat_json *feat_json_get(const feat_json *j, const char *key);
/* String value of a member, NULL when absent or not a string. */
const char *feat_json_get_str(const feat_json *j, const char *key);

/* The writing side (the probe report, a tuned model's side-car): s with JSON's escapes (quote,
 * backslash, control characters as \u00XX), without the surrounding quotes. */
void feat_json_write_escaped(FILE *f, const char *s);
/* s as a JSON string, quotes included. */
void feat_json_write_str(FILE *f, const char *s);

#endif
