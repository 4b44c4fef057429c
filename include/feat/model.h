/* SPDX-License-Identifier: MIT */
/**
 * @file feat/model.h
 * @brief Model introspection: the tappable layers of a model and their output shapes.
 */
#ifndef FEAT_MODEL_H
#define FEAT_MODEL_H

#include "feat/common.h"

FEAT_BEGIN_DECLS

typedef struct feat_layer_list feat_layer_list;

/**
 * Lists every submodule of a model with the shape of its output for one example input
 * (an image of input_size x input_size, or a text of input_size tokens; 0 = 224 / 16).
 * Modules that cannot be tapped (called several times, or inside control flow) are listed
 * with rank 0 and a note saying why (e.g. use 'layer1.0.relu@0').
 * Errors go to feat_last_error().
 */
FEAT_API feat_status feat_layers_list(const char *model_path, uint32_t input_size, feat_layer_list **out);
FEAT_API void feat_layer_list_free(feat_layer_list *list);
FEAT_API size_t feat_layer_list_len(const feat_layer_list *list);
/** Dotted path of entry i (borrowed; lives as long as the list), "" when out of range. */
FEAT_API const char *feat_layer_list_path(const feat_layer_list *list, size_t i);
/** Output shape of entry i, batch dimension first; returns the rank (0 = not tappable).
 *  Writes at most @p cap dims. */
FEAT_API size_t feat_layer_list_shape(const feat_layer_list *list, size_t i, int64_t *dims, size_t cap);
/** Why entry i is not tappable ("" when it is). Never NULL. */
FEAT_API const char *feat_layer_list_note(const feat_layer_list *list, size_t i);

FEAT_END_DECLS

#endif /* FEAT_MODEL_H */
