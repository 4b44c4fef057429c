//! Raw declarations of the libfeat C API (`include/feat/*.h`), written by hand.
//!
//! Every object is opaque; every fallible call returns a [`feat_status`] (0 = OK). See the
//! headers for ownership and thread rules. The safe wrapper is the `libfeat` crate.
#![allow(non_camel_case_types)]
#![no_std]

use core::ffi::{c_char, c_int, c_void};

/// The ABI generation these declarations describe (`FEAT_ABI_VERSION`).
pub const FEAT_ABI_VERSION: i32 = 1;

pub type feat_status = i32;

pub const FEAT_OK: feat_status = 0;
pub const FEAT_E_INVALID_ARGUMENT: feat_status = -1;
pub const FEAT_E_NOMEM: feat_status = -2;
pub const FEAT_E_NOT_FOUND: feat_status = -3;
pub const FEAT_E_UNSUPPORTED: feat_status = -4;
pub const FEAT_E_BUFFER_TOO_SMALL: feat_status = -5;
pub const FEAT_E_DECODE: feat_status = -6;
pub const FEAT_E_DEVICE: feat_status = -7;
pub const FEAT_E_CANCELLED: feat_status = -8;
pub const FEAT_E_STATE: feat_status = -9;
pub const FEAT_E_BACKEND: feat_status = -10;
pub const FEAT_E_INTERNAL: feat_status = -11;
pub const FEAT_E_IO: feat_status = -12;
pub const FEAT_E_LIMIT: feat_status = -13;
pub const FEAT_E_MODEL: feat_status = -14;

// Enumerations are C `enum`s passed as int; 0 is always the default.
pub type feat_image_preset = c_int;
pub const FEAT_PRESET_DEFAULT: feat_image_preset = 0;
pub const FEAT_PRESET_TORCHVISION: feat_image_preset = 1;
pub const FEAT_PRESET_KERAS_VGG16: feat_image_preset = 2;

pub type feat_interpolation = c_int;
pub const FEAT_INTERP_DEFAULT: feat_interpolation = 0;
pub const FEAT_INTERP_NEAREST: feat_interpolation = 1;
pub const FEAT_INTERP_BILINEAR: feat_interpolation = 2;
pub const FEAT_INTERP_BICUBIC: feat_interpolation = 3;
pub const FEAT_INTERP_LANCZOS: feat_interpolation = 4;

pub type feat_decode_mode = c_int;
pub const FEAT_DECODE_DEFAULT: feat_decode_mode = 0;
pub const FEAT_DECODE_EXACT: feat_decode_mode = 1;
pub const FEAT_DECODE_FAST: feat_decode_mode = 2;

pub type feat_fusion = c_int;
pub const FEAT_FUSION_DEFAULT: feat_fusion = 0;
pub const FEAT_FUSION_CONCAT: feat_fusion = 1;
pub const FEAT_FUSION_MEAN: feat_fusion = 2;

pub type feat_tristate = c_int;
pub const FEAT_TRISTATE_DEFAULT: feat_tristate = 0;
pub const FEAT_TRISTATE_ON: feat_tristate = 1;
pub const FEAT_TRISTATE_OFF: feat_tristate = 2;

pub type feat_truncation = c_int;
pub const FEAT_TRUNCATE_DEFAULT: feat_truncation = 0;
pub const FEAT_TRUNCATE_LONGEST_FIRST: feat_truncation = 1;
pub const FEAT_TRUNCATE_ONLY_FIRST: feat_truncation = 2;
pub const FEAT_TRUNCATE_ONLY_SECOND: feat_truncation = 3;
pub const FEAT_TRUNCATE_NONE: feat_truncation = 4;

pub type feat_window_pooling = c_int;
pub const FEAT_WINDOW_DEFAULT: feat_window_pooling = 0;
pub const FEAT_WINDOW_MEAN: feat_window_pooling = 1;
pub const FEAT_WINDOW_MAX: feat_window_pooling = 2;
pub const FEAT_WINDOW_FIRST: feat_window_pooling = 3;

pub type feat_utf8_policy = c_int;
pub const FEAT_UTF8_DEFAULT: feat_utf8_policy = 0;
pub const FEAT_UTF8_ERROR: feat_utf8_policy = 1;
pub const FEAT_UTF8_REPLACE: feat_utf8_policy = 2;

pub type feat_precision = c_int;
pub const FEAT_PRECISION_DEFAULT: feat_precision = 0;
pub const FEAT_PRECISION_FP32: feat_precision = 1;
pub const FEAT_PRECISION_BF16: feat_precision = 2;

pub type feat_lr_schedule = c_int;
pub const FEAT_SCHEDULE_DEFAULT: feat_lr_schedule = 0;
pub const FEAT_SCHEDULE_CONSTANT: feat_lr_schedule = 1;
pub const FEAT_SCHEDULE_COSINE: feat_lr_schedule = 2;

pub type feat_finetune_cache = c_int;
pub const FEAT_CACHE_DEFAULT: feat_finetune_cache = 0;
pub const FEAT_CACHE_OFF: feat_finetune_cache = 1;
pub const FEAT_CACHE_ON: feat_finetune_cache = 2;

/// `feat_finetune_options_set_weight_decay` value for no weight decay (0 is the default).
pub const FEAT_WEIGHT_DECAY_NONE: f64 = -1.0;

/// Fine-tuning progress (feat/finetune.h): nonzero cancels the run. Called on the run's thread.
pub type feat_finetune_progress = Option<
    unsafe extern "C" fn(user: *mut c_void, epoch: u32, step: u64, loss: f64, val_accuracy: f64) -> c_int,
>;

macro_rules! opaque {
    ($($name:ident),*) => {$(
        #[repr(C)]
        pub struct $name {
            _private: [u8; 0],
            _not_send_sync: core::marker::PhantomData<(*mut u8, core::marker::PhantomPinned)>,
        }
    )*};
}
opaque!(
    feat_result,
    feat_image_options,
    feat_image_extractor,
    feat_text_options,
    feat_tokenizer,
    feat_encoding,
    feat_text_extractor,
    feat_layer_list,
    feat_image_ensemble,
    feat_text_ensemble,
    feat_finetune_options,
    feat_finetune_report
);

extern "C" {
    // common.h
    pub fn feat_status_name(status: feat_status) -> *const c_char;
    pub fn feat_last_error() -> *const c_char;
    pub fn feat_version_string() -> *const c_char;
    pub fn feat_version_number() -> i32;
    pub fn feat_abi_version() -> i32;
    pub fn feat_global_set_threads(n: i32) -> feat_status;
    pub fn feat_global_threads() -> i32;

    // result.h
    pub fn feat_result_free(result: *mut feat_result);
    pub fn feat_result_n_items(result: *const feat_result) -> usize;
    pub fn feat_result_dim(result: *const feat_result) -> usize;
    pub fn feat_result_n_failed(result: *const feat_result) -> usize;
    pub fn feat_result_item_status(result: *const feat_result, item: usize) -> feat_status;
    pub fn feat_result_item_error(result: *const feat_result, item: usize) -> *const c_char;
    pub fn feat_result_data(result: *const feat_result) -> *const f32;
    pub fn feat_result_copy_to(
        result: *const feat_result,
        dst: *mut f32,
        dst_count: usize,
        needed_out: *mut usize,
    ) -> feat_status;

    // image.h: options
    pub fn feat_image_options_new(out: *mut *mut feat_image_options) -> feat_status;
    pub fn feat_image_options_free(opts: *mut feat_image_options);
    pub fn feat_image_options_set_taps(
        opts: *mut feat_image_options,
        spec: *const c_char,
    ) -> feat_status;
    pub fn feat_image_options_set_fusion(
        opts: *mut feat_image_options,
        fusion: feat_fusion,
    ) -> feat_status;
    pub fn feat_image_options_set_preset(
        opts: *mut feat_image_options,
        preset: feat_image_preset,
    ) -> feat_status;
    pub fn feat_image_options_set_resize(
        opts: *mut feat_image_options,
        shorter_side: u32,
    ) -> feat_status;
    pub fn feat_image_options_set_crop(
        opts: *mut feat_image_options,
        width: u32,
        height: u32,
    ) -> feat_status;
    pub fn feat_image_options_set_interpolation(
        opts: *mut feat_image_options,
        interp: feat_interpolation,
    ) -> feat_status;
    pub fn feat_image_options_set_mean_std(
        opts: *mut feat_image_options,
        mean3: *const f32,
        std3: *const f32,
    ) -> feat_status;
    pub fn feat_image_options_set_exif_orientation(
        opts: *mut feat_image_options,
        enable: i32,
    ) -> feat_status;
    pub fn feat_image_options_set_max_pixels(
        opts: *mut feat_image_options,
        max_pixels: u64,
    ) -> feat_status;
    pub fn feat_image_options_set_decode_mode(
        opts: *mut feat_image_options,
        mode: feat_decode_mode,
    ) -> feat_status;
    pub fn feat_image_options_set_batch_size(
        opts: *mut feat_image_options,
        batch_size: u32,
    ) -> feat_status;
    pub fn feat_image_options_set_decode_threads(
        opts: *mut feat_image_options,
        threads: u32,
    ) -> feat_status;
    pub fn feat_image_options_set_device(
        opts: *mut feat_image_options,
        device: *const c_char,
    ) -> feat_status;
    pub fn feat_image_options_set_precision(
        opts: *mut feat_image_options,
        precision: feat_precision,
    ) -> feat_status;
    pub fn feat_image_preprocess_file(
        opts: *const feat_image_options,
        path: *const c_char,
        dst: *mut f32,
        dst_count: usize,
        needed_out: *mut usize,
    ) -> feat_status;
    pub fn feat_image_preprocess_encoded(
        opts: *const feat_image_options,
        data: *const c_void,
        size: usize,
        dst: *mut f32,
        dst_count: usize,
        needed_out: *mut usize,
    ) -> feat_status;

    // image.h: extractor
    pub fn feat_image_extractor_new(out: *mut *mut feat_image_extractor) -> feat_status;
    pub fn feat_image_extractor_free(ex: *mut feat_image_extractor);
    pub fn feat_image_extractor_last_error(ex: *const feat_image_extractor) -> *const c_char;
    pub fn feat_image_extractor_load(
        ex: *mut feat_image_extractor,
        model_path: *const c_char,
        opts: *const feat_image_options,
    ) -> feat_status;
    pub fn feat_image_extractor_clone(
        ex: *const feat_image_extractor,
        out: *mut *mut feat_image_extractor,
    ) -> feat_status;
    pub fn feat_image_extractor_dim(ex: *const feat_image_extractor) -> usize;
    pub fn feat_image_extractor_n_taps(ex: *const feat_image_extractor) -> usize;
    pub fn feat_image_extractor_tap(ex: *const feat_image_extractor, i: usize) -> *const c_char;
    pub fn feat_image_extractor_tap_dim(ex: *const feat_image_extractor, i: usize) -> usize;
    pub fn feat_image_extractor_extract_files(
        ex: *mut feat_image_extractor,
        paths: *const *const c_char,
        n: usize,
        out: *mut *mut feat_result,
    ) -> feat_status;
    pub fn feat_image_extractor_extract_encoded(
        ex: *mut feat_image_extractor,
        data: *const *const c_void,
        sizes: *const usize,
        n: usize,
        out: *mut *mut feat_result,
    ) -> feat_status;
    pub fn feat_image_extractor_extract_rgb8(
        ex: *mut feat_image_extractor,
        pixels: *const *const u8,
        widths: *const u32,
        heights: *const u32,
        strides: *const usize,
        n: usize,
        out: *mut *mut feat_result,
    ) -> feat_status;
    pub fn feat_image_extractor_cancel(ex: *mut feat_image_extractor);

    // image.h: ensemble
    pub fn feat_image_ensemble_new(out: *mut *mut feat_image_ensemble) -> feat_status;
    pub fn feat_image_ensemble_free(ens: *mut feat_image_ensemble);
    pub fn feat_image_ensemble_last_error(ens: *const feat_image_ensemble) -> *const c_char;
    pub fn feat_image_ensemble_add(
        ens: *mut feat_image_ensemble,
        ex: *mut feat_image_extractor,
        name: *const c_char,
    ) -> feat_status;
    pub fn feat_image_ensemble_n_members(ens: *const feat_image_ensemble) -> usize;
    pub fn feat_image_ensemble_dim(ens: *const feat_image_ensemble) -> usize;
    pub fn feat_image_ensemble_extract_files(
        ens: *mut feat_image_ensemble,
        paths: *const *const c_char,
        n: usize,
        out: *mut *mut feat_result,
    ) -> feat_status;
    pub fn feat_image_ensemble_extract_encoded(
        ens: *mut feat_image_ensemble,
        data: *const *const c_void,
        sizes: *const usize,
        n: usize,
        out: *mut *mut feat_result,
    ) -> feat_status;
    pub fn feat_image_ensemble_extract_rgb8(
        ens: *mut feat_image_ensemble,
        pixels: *const *const u8,
        widths: *const u32,
        heights: *const u32,
        strides: *const usize,
        n: usize,
        out: *mut *mut feat_result,
    ) -> feat_status;

    // text.h: options
    pub fn feat_text_options_new(out: *mut *mut feat_text_options) -> feat_status;
    pub fn feat_text_options_free(opts: *mut feat_text_options);
    pub fn feat_text_options_set_lowercase(
        opts: *mut feat_text_options,
        lowercase: feat_tristate,
    ) -> feat_status;
    pub fn feat_text_options_set_strip_accents(
        opts: *mut feat_text_options,
        strip: feat_tristate,
    ) -> feat_status;
    pub fn feat_text_options_set_max_length(
        opts: *mut feat_text_options,
        max_length: u32,
    ) -> feat_status;
    pub fn feat_text_options_set_truncation(
        opts: *mut feat_text_options,
        strategy: feat_truncation,
    ) -> feat_status;
    pub fn feat_text_options_set_window_stride(
        opts: *mut feat_text_options,
        stride: u32,
    ) -> feat_status;
    pub fn feat_text_options_set_window_pooling(
        opts: *mut feat_text_options,
        pooling: feat_window_pooling,
    ) -> feat_status;
    pub fn feat_text_options_set_utf8_policy(
        opts: *mut feat_text_options,
        policy: feat_utf8_policy,
    ) -> feat_status;
    pub fn feat_text_options_set_taps(
        opts: *mut feat_text_options,
        spec: *const c_char,
    ) -> feat_status;
    pub fn feat_text_options_set_fusion(
        opts: *mut feat_text_options,
        fusion: feat_fusion,
    ) -> feat_status;
    pub fn feat_text_options_set_batch_size(
        opts: *mut feat_text_options,
        batch_size: u32,
    ) -> feat_status;
    pub fn feat_text_options_set_device(
        opts: *mut feat_text_options,
        device: *const c_char,
    ) -> feat_status;
    pub fn feat_text_options_set_precision(
        opts: *mut feat_text_options,
        precision: feat_precision,
    ) -> feat_status;

    // text.h: tokenizer
    pub fn feat_tokenizer_new(out: *mut *mut feat_tokenizer) -> feat_status;
    pub fn feat_tokenizer_free(tok: *mut feat_tokenizer);
    pub fn feat_tokenizer_last_error(tok: *const feat_tokenizer) -> *const c_char;
    pub fn feat_tokenizer_load(
        tok: *mut feat_tokenizer,
        vocab_path: *const c_char,
        opts: *const feat_text_options,
    ) -> feat_status;
    pub fn feat_tokenizer_vocab_size(tok: *const feat_tokenizer) -> usize;
    pub fn feat_tokenizer_token_to_id(tok: *const feat_tokenizer, token: *const c_char) -> i32;
    pub fn feat_tokenizer_id_to_token(tok: *const feat_tokenizer, id: i32) -> *const c_char;
    pub fn feat_tokenizer_encode(
        tok: *const feat_tokenizer,
        text_a: *const c_char,
        len_a: usize,
        text_b: *const c_char,
        len_b: usize,
        out: *mut *mut feat_encoding,
    ) -> feat_status;
    pub fn feat_encoding_free(enc: *mut feat_encoding);
    pub fn feat_encoding_len(enc: *const feat_encoding) -> usize;
    pub fn feat_encoding_ids(enc: *const feat_encoding) -> *const i32;
    pub fn feat_encoding_type_ids(enc: *const feat_encoding) -> *const i32;
    pub fn feat_encoding_attention_mask(enc: *const feat_encoding) -> *const i32;
    pub fn feat_encoding_sequence_ids(enc: *const feat_encoding) -> *const i32;
    pub fn feat_encoding_offsets_bytes(enc: *const feat_encoding) -> *const i64;
    pub fn feat_encoding_offsets_chars(enc: *const feat_encoding) -> *const i64;
    pub fn feat_encoding_n_truncated(enc: *const feat_encoding) -> usize;

    // text.h: extractor
    pub fn feat_text_extractor_new(out: *mut *mut feat_text_extractor) -> feat_status;
    pub fn feat_text_extractor_free(ex: *mut feat_text_extractor);
    pub fn feat_text_extractor_last_error(ex: *const feat_text_extractor) -> *const c_char;
    pub fn feat_text_extractor_load(
        ex: *mut feat_text_extractor,
        model_path: *const c_char,
        vocab_path: *const c_char,
        opts: *const feat_text_options,
    ) -> feat_status;
    pub fn feat_text_extractor_clone(
        ex: *const feat_text_extractor,
        out: *mut *mut feat_text_extractor,
    ) -> feat_status;
    pub fn feat_text_extractor_dim(ex: *const feat_text_extractor) -> usize;
    pub fn feat_text_extractor_n_taps(ex: *const feat_text_extractor) -> usize;
    pub fn feat_text_extractor_tap(ex: *const feat_text_extractor, i: usize) -> *const c_char;
    pub fn feat_text_extractor_tap_dim(ex: *const feat_text_extractor, i: usize) -> usize;
    pub fn feat_text_extractor_tokenizer(ex: *const feat_text_extractor) -> *const feat_tokenizer;
    pub fn feat_text_extractor_extract(
        ex: *mut feat_text_extractor,
        texts: *const *const c_char,
        lens: *const usize,
        n: usize,
        out: *mut *mut feat_result,
    ) -> feat_status;
    pub fn feat_text_extractor_extract_pairs(
        ex: *mut feat_text_extractor,
        texts_a: *const *const c_char,
        lens_a: *const usize,
        texts_b: *const *const c_char,
        lens_b: *const usize,
        n: usize,
        out: *mut *mut feat_result,
    ) -> feat_status;
    pub fn feat_text_extractor_cancel(ex: *mut feat_text_extractor);

    // text.h: ensemble
    pub fn feat_text_ensemble_new(out: *mut *mut feat_text_ensemble) -> feat_status;
    pub fn feat_text_ensemble_free(ens: *mut feat_text_ensemble);
    pub fn feat_text_ensemble_last_error(ens: *const feat_text_ensemble) -> *const c_char;
    pub fn feat_text_ensemble_add(
        ens: *mut feat_text_ensemble,
        ex: *mut feat_text_extractor,
        name: *const c_char,
    ) -> feat_status;
    pub fn feat_text_ensemble_n_members(ens: *const feat_text_ensemble) -> usize;
    pub fn feat_text_ensemble_dim(ens: *const feat_text_ensemble) -> usize;
    pub fn feat_text_ensemble_extract(
        ens: *mut feat_text_ensemble,
        texts: *const *const c_char,
        lens: *const usize,
        n: usize,
        out: *mut *mut feat_result,
    ) -> feat_status;
    pub fn feat_text_ensemble_extract_pairs(
        ens: *mut feat_text_ensemble,
        texts_a: *const *const c_char,
        lens_a: *const usize,
        texts_b: *const *const c_char,
        lens_b: *const usize,
        n: usize,
        out: *mut *mut feat_result,
    ) -> feat_status;

    // model.h
    pub fn feat_layers_list(
        model_path: *const c_char,
        input_size: u32,
        out: *mut *mut feat_layer_list,
    ) -> feat_status;
    pub fn feat_layer_list_free(list: *mut feat_layer_list);
    pub fn feat_layer_list_len(list: *const feat_layer_list) -> usize;
    pub fn feat_layer_list_path(list: *const feat_layer_list, i: usize) -> *const c_char;
    pub fn feat_layer_list_shape(
        list: *const feat_layer_list,
        i: usize,
        dims: *mut i64,
        cap: usize,
    ) -> usize;
    pub fn feat_layer_list_note(list: *const feat_layer_list, i: usize) -> *const c_char;

    // finetune.h
    pub fn feat_finetune_options_new(out: *mut *mut feat_finetune_options) -> feat_status;
    pub fn feat_finetune_options_free(opts: *mut feat_finetune_options);
    pub fn feat_finetune_options_set_train(
        opts: *mut feat_finetune_options,
        spec: *const c_char,
    ) -> feat_status;
    pub fn feat_finetune_options_set_head_tap(
        opts: *mut feat_finetune_options,
        spec: *const c_char,
    ) -> feat_status;
    pub fn feat_finetune_options_set_epochs(opts: *mut feat_finetune_options, epochs: u32) -> feat_status;
    pub fn feat_finetune_options_set_batch_size(opts: *mut feat_finetune_options, batch: u32) -> feat_status;
    pub fn feat_finetune_options_set_learning_rate(opts: *mut feat_finetune_options, lr: f64) -> feat_status;
    pub fn feat_finetune_options_set_schedule(
        opts: *mut feat_finetune_options,
        schedule: feat_lr_schedule,
    ) -> feat_status;
    pub fn feat_finetune_options_set_weight_decay(opts: *mut feat_finetune_options, wd: f64) -> feat_status;
    pub fn feat_finetune_options_set_seed(opts: *mut feat_finetune_options, seed: u64) -> feat_status;
    pub fn feat_finetune_options_set_validation_fraction(
        opts: *mut feat_finetune_options,
        f: f64,
    ) -> feat_status;
    pub fn feat_finetune_options_set_patience(opts: *mut feat_finetune_options, epochs: u32) -> feat_status;
    pub fn feat_finetune_options_set_dropout(opts: *mut feat_finetune_options, p: f64) -> feat_status;
    pub fn feat_finetune_options_set_class_weights(
        opts: *mut feat_finetune_options,
        w: *const f32,
        n: usize,
    ) -> feat_status;
    pub fn feat_finetune_options_set_cache(
        opts: *mut feat_finetune_options,
        cache: feat_finetune_cache,
    ) -> feat_status;
    pub fn feat_finetune_options_set_cache_limit(opts: *mut feat_finetune_options, bytes: u64) -> feat_status;
    pub fn feat_finetune_options_set_checkpoint(
        opts: *mut feat_finetune_options,
        path: *const c_char,
        resume: c_int,
    ) -> feat_status;
    pub fn feat_finetune_options_set_progress(
        opts: *mut feat_finetune_options,
        f: feat_finetune_progress,
        user: *mut c_void,
    ) -> feat_status;
    pub fn feat_finetune_images(
        model_path: *const c_char,
        paths: *const *const c_char,
        labels: *const i32,
        n: usize,
        opts: *const feat_finetune_options,
        out_path: *const c_char,
        report: *mut *mut feat_finetune_report,
    ) -> feat_status;
    pub fn feat_finetune_texts(
        model_path: *const c_char,
        texts: *const *const c_char,
        labels: *const i32,
        n: usize,
        opts: *const feat_finetune_options,
        out_path: *const c_char,
        report: *mut *mut feat_finetune_report,
    ) -> feat_status;
    pub fn feat_finetune_report_free(r: *mut feat_finetune_report);
    pub fn feat_finetune_report_n_epochs(r: *const feat_finetune_report) -> u32;
    pub fn feat_finetune_report_train_loss(r: *const feat_finetune_report, epoch: u32) -> f64;
    pub fn feat_finetune_report_val_accuracy(r: *const feat_finetune_report, epoch: u32) -> f64;
    pub fn feat_finetune_report_chosen_epoch(r: *const feat_finetune_report) -> u32;
    pub fn feat_finetune_report_n_steps(r: *const feat_finetune_report) -> u64;
    pub fn feat_finetune_report_step_loss(r: *const feat_finetune_report, step: u64) -> f32;
    pub fn feat_finetune_report_cached(r: *const feat_finetune_report) -> c_int;
    pub fn feat_finetune_report_n_items(r: *const feat_finetune_report) -> usize;
    pub fn feat_finetune_report_item_status(r: *const feat_finetune_report, i: usize) -> feat_status;
    pub fn feat_finetune_report_item_error(r: *const feat_finetune_report, i: usize) -> *const c_char;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_and_status_names() {
        unsafe {
            assert_eq!(feat_abi_version(), FEAT_ABI_VERSION);
            let name = core::ffi::CStr::from_ptr(feat_status_name(FEAT_E_DECODE));
            assert_eq!(name.to_bytes(), b"FEAT_E_DECODE");
        }
    }
}
