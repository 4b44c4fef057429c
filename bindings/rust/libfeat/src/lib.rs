//! Safe Rust bindings of libfeat: deep-learning features from images and text.
//!
//! ```no_run
//! use libfeat::{ImageExtractor, ImageOptions};
//! let ex = ImageExtractor::new("vgg16.pt", &ImageOptions::new().taps("features.29:gap"))?;
//! let f = ex.extract_files(&["a.jpg", "b.png"])?;
//! for i in 0..f.rows() {
//!     match f.item_error(i) {
//!         None => println!("{}: {:?}", i, &f.row(i)[..4]),
//!         Some(e) => eprintln!("{i}: {e}"),
//!     }
//! }
//! # Ok::<(), libfeat::Error>(())
//! ```
//!
//! Threads: extractors are `Send` but not `Sync` (one thread at a time; give each thread its
//! own [`ImageExtractor::try_clone`], which shares the weights); [`Features`] and a loaded
//! [`Tokenizer`] are `Send + Sync`. A [`Canceller`] stops a call in progress from any thread.
//!
//! An extractor cannot be shared between threads by reference:
//! ```compile_fail
//! fn needs_sync<T: Sync>() {}
//! needs_sync::<libfeat::ImageExtractor>();
//! ```
#![deny(unsafe_op_in_unsafe_fn)]

mod error;

use std::ffi::{c_char, c_void, CString};
use std::marker::PhantomData;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::OnceLock;

use error::{check, cstr, last_error};
pub use error::{status_name, Error, ErrorKind, Result};
pub use libfeat_sys as sys;

/// The ABI generation this crate was written for.
pub const ABI_VERSION: i32 = sys::FEAT_ABI_VERSION;

/// Version of the loaded library, "MAJOR.MINOR.PATCH".
pub fn version() -> String {
    // SAFETY: static storage.
    cstr(unsafe { sys::feat_version_string() })
}

/// Version of the loaded library as MAJOR*10000 + MINOR*100 + PATCH.
pub fn version_number() -> i32 {
    // SAFETY: no arguments.
    unsafe { sys::feat_version_number() }
}

/// ABI generation of the loaded library.
pub fn abi_version() -> i32 {
    // SAFETY: no arguments.
    unsafe { sys::feat_abi_version() }
}

/// Fails once and for all when the loaded library has another ABI than this crate.
/// Every constructor calls it; call it yourself to fail early.
pub fn check_abi() -> Result<()> {
    static ABI: OnceLock<Result<()>> = OnceLock::new();
    ABI.get_or_init(|| {
        let got = abi_version();
        if got == ABI_VERSION {
            Ok(())
        } else {
            Err(Error::new(
                sys::FEAT_E_UNSUPPORTED,
                format!("the loaded libfeat has ABI {got}, this crate needs ABI {ABI_VERSION}"),
            ))
        }
    })
    .clone()
}

/// Process-wide number of cores inference may use (0 = default). Call it before extracting.
pub fn set_threads(n: i32) -> Result<()> {
    // SAFETY: plain integer argument.
    check(unsafe { sys::feat_global_set_threads(n) }, last_error)
}

/// The number of inference threads in force.
pub fn threads() -> i32 {
    // SAFETY: no arguments.
    unsafe { sys::feat_global_threads() }
}

fn c_string(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| {
        Error::new(
            sys::FEAT_E_INVALID_ARGUMENT,
            format!("{what} contains a NUL byte"),
        )
    })
}

fn c_path(p: &Path) -> Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        Error::new(
            sys::FEAT_E_INVALID_ARGUMENT,
            format!("path {} contains a NUL byte", p.display()),
        )
    })
}

// ---- results ---------------------------------------------------------------------------------

/// Features of one extract call: `rows()` x `dim()` float32, one row per input in order.
/// Rows of failed items are NaN; `item_error(i)` says why. Plain owned data: `Send + Sync`.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    data: Vec<f32>,
    rows: usize,
    dim: usize,
    statuses: Vec<i32>,
    errors: Vec<String>,
}

impl Features {
    /// Copies a result once into Rust memory and frees it.
    ///
    /// # Safety
    /// `raw` must be a result returned by libfeat and not used again afterwards.
    unsafe fn from_raw(raw: *mut sys::feat_result) -> Result<Features> {
        struct Guard(*mut sys::feat_result);
        impl Drop for Guard {
            fn drop(&mut self) {
                // SAFETY: freed exactly once, here.
                unsafe { sys::feat_result_free(self.0) }
            }
        }
        let g = Guard(raw);
        // SAFETY: g.0 is a valid result until the guard drops.
        unsafe {
            let rows = sys::feat_result_n_items(g.0);
            let dim = sys::feat_result_dim(g.0);
            let mut data = vec![0f32; rows * dim];
            if !data.is_empty() {
                check(
                    sys::feat_result_copy_to(g.0, data.as_mut_ptr(), data.len(), ptr::null_mut()),
                    last_error,
                )?;
            }
            let statuses: Vec<i32> = (0..rows)
                .map(|i| sys::feat_result_item_status(g.0, i))
                .collect();
            let errors = (0..rows)
                .map(|i| {
                    if statuses[i] == 0 {
                        String::new()
                    } else {
                        cstr(sys::feat_result_item_error(g.0, i))
                    }
                })
                .collect();
            Ok(Features {
                data,
                rows,
                dim,
                statuses,
                errors,
            })
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn dim(&self) -> usize {
        self.dim
    }
    /// The matrix, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
    /// Per-item statuses (0 = ok).
    pub fn statuses(&self) -> &[i32] {
        &self.statuses
    }
    pub fn is_ok(&self, i: usize) -> bool {
        self.statuses[i] == 0
    }
    pub fn n_failed(&self) -> usize {
        self.statuses.iter().filter(|&&s| s != 0).count()
    }
    /// Why item `i` failed, `None` when it succeeded.
    pub fn item_error(&self, i: usize) -> Option<Error> {
        (self.statuses[i] != 0).then(|| Error::new(self.statuses[i], self.errors[i].clone()))
    }
    /// The first failed item as an error (its message names the item), or Ok.
    pub fn check_items(&self) -> Result<()> {
        match self.statuses.iter().position(|&s| s != 0) {
            None => Ok(()),
            Some(i) => Err(Error::new(
                self.statuses[i],
                format!("item {i}: {}", self.errors[i]),
            )),
        }
    }
}

// ---- options ---------------------------------------------------------------------------------

macro_rules! c_enum {
    ($(#[$m:meta])* $name:ident { $($v:ident = $n:expr),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        #[non_exhaustive]
        pub enum $name { #[default] Default, $($v),* }
        impl $name {
            fn raw(self) -> i32 { match self { $name::Default => 0, $($name::$v => $n),* } }
        }
    };
}

c_enum!(
    /// Preprocessing preset (exact with the Python pipeline it names).
    Preset { Torchvision = 1, KerasVgg16 = 2 }
);
c_enum!(Interpolation { Nearest = 1, Bilinear = 2, Bicubic = 3, Lanczos = 4 });
c_enum!(
    /// JPEG decoding: exact (Pillow's numbers) or fast.
    DecodeMode { Exact = 1, Fast = 2 }
);
c_enum!(
    /// How several taps become one row.
    Fusion { Concat = 1, Mean = 2 }
);
c_enum!(Truncation { LongestFirst = 1, OnlyFirst = 2, OnlySecond = 3, None = 4 });
c_enum!(WindowPooling { Mean = 1, Max = 2, First = 3 });
c_enum!(
    /// What happens to invalid UTF-8: the item fails (`Error`), or it is replaced with U+FFFD.
    Utf8Policy { Error = 1, Replace = 2 }
);
c_enum!(
    /// Inference precision (`Default` is float32). `Bf16` is opt-in: bfloat16 matrix products
    /// change the features slightly and are faster only on CPUs with native bfloat16
    /// instructions (AVX512_BF16, AMX).
    Precision { Fp32 = 1, Bf16 = 2 }
);

// After c_enum!, which finetune uses.
mod ensemble;
mod finetune;
pub use ensemble::{ImageEnsemble, TextEnsemble};
pub use finetune::{finetune_images, finetune_texts, Cache, FinetuneOptions, FinetuneReport, Progress, Schedule};

/// The pooled length of each tap of either extractor.
///
/// # Safety
/// `ex` is a valid, loaded extractor handle of the kind the two functions take.
unsafe fn tap_dims<T>(ex: *const T, n: unsafe extern "C" fn(*const T) -> usize,
                      dim: unsafe extern "C" fn(*const T, usize) -> usize) -> Vec<usize> {
    // SAFETY: the caller's contract above.
    unsafe { (0..n(ex)).map(|i| dim(ex, i)).collect() }
}

fn tristate(v: Option<bool>) -> i32 {
    match v {
        None => sys::FEAT_TRISTATE_DEFAULT,
        Some(true) => sys::FEAT_TRISTATE_ON,
        Some(false) => sys::FEAT_TRISTATE_OFF,
    }
}

/// Options of an image extractor; every field left at its default means the model's default.
#[derive(Debug, Clone, Default)]
pub struct ImageOptions {
    pub taps: Option<String>,
    pub fusion: Fusion,
    pub preset: Preset,
    /// Shorter side before the center crop (0 = 256).
    pub resize: u32,
    pub crop: Option<(u32, u32)>,
    pub interpolation: Interpolation,
    pub mean_std: Option<([f32; 3], [f32; 3])>,
    pub exif_orientation: bool,
    /// 0 = default (Pillow's limit).
    pub max_pixels: u64,
    pub decode_mode: DecodeMode,
    /// Images per forward pass (0 = 1).
    pub batch_size: u32,
    pub decode_threads: u32,
    /// "cpu" or "cuda:N".
    pub device: Option<String>,
    pub precision: Precision,
}

impl ImageOptions {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn taps(mut self, spec: &str) -> Self {
        self.taps = Some(spec.to_owned());
        self
    }
    pub fn preset(mut self, p: Preset) -> Self {
        self.preset = p;
        self
    }
    pub fn batch_size(mut self, n: u32) -> Self {
        self.batch_size = n;
        self
    }
    pub fn device(mut self, d: &str) -> Self {
        self.device = Some(d.to_owned());
        self
    }
    pub fn precision(mut self, p: Precision) -> Self {
        self.precision = p;
        self
    }
}

struct RawImageOptions(*mut sys::feat_image_options);
impl Drop for RawImageOptions {
    fn drop(&mut self) {
        // SAFETY: made by feat_image_options_new, freed once.
        unsafe { sys::feat_image_options_free(self.0) }
    }
}

impl ImageOptions {
    fn to_raw(&self) -> Result<RawImageOptions> {
        let mut p = ptr::null_mut();
        // SAFETY: out-pointer to a local.
        check(unsafe { sys::feat_image_options_new(&mut p) }, last_error)?;
        let o = RawImageOptions(p);
        // SAFETY (all setters): o.0 is a valid options object; strings outlive the calls.
        unsafe {
            if let Some(t) = &self.taps {
                let t = c_string(t, "taps")?;
                check(
                    sys::feat_image_options_set_taps(o.0, t.as_ptr()),
                    last_error,
                )?;
            }
            check(
                sys::feat_image_options_set_fusion(o.0, self.fusion.raw()),
                last_error,
            )?;
            check(
                sys::feat_image_options_set_preset(o.0, self.preset.raw()),
                last_error,
            )?;
            if self.resize != 0 {
                check(
                    sys::feat_image_options_set_resize(o.0, self.resize),
                    last_error,
                )?;
            }
            if let Some((w, h)) = self.crop {
                check(sys::feat_image_options_set_crop(o.0, w, h), last_error)?;
            }
            check(
                sys::feat_image_options_set_interpolation(o.0, self.interpolation.raw()),
                last_error,
            )?;
            if let Some((m, s)) = &self.mean_std {
                check(
                    sys::feat_image_options_set_mean_std(o.0, m.as_ptr(), s.as_ptr()),
                    last_error,
                )?;
            }
            if self.exif_orientation {
                check(
                    sys::feat_image_options_set_exif_orientation(o.0, 1),
                    last_error,
                )?;
            }
            if self.max_pixels != 0 {
                check(
                    sys::feat_image_options_set_max_pixels(o.0, self.max_pixels),
                    last_error,
                )?;
            }
            check(
                sys::feat_image_options_set_decode_mode(o.0, self.decode_mode.raw()),
                last_error,
            )?;
            if self.batch_size != 0 {
                check(
                    sys::feat_image_options_set_batch_size(o.0, self.batch_size),
                    last_error,
                )?;
            }
            if self.decode_threads != 0 {
                check(
                    sys::feat_image_options_set_decode_threads(o.0, self.decode_threads),
                    last_error,
                )?;
            }
            if let Some(d) = &self.device {
                let d = c_string(d, "device")?;
                check(
                    sys::feat_image_options_set_device(o.0, d.as_ptr()),
                    last_error,
                )?;
            }
            check(
                sys::feat_image_options_set_precision(o.0, self.precision.raw()),
                last_error,
            )?;
        }
        Ok(o)
    }
}

/// Options of a tokenizer or text extractor; defaults come from the model's side-car.
#[derive(Debug, Clone, Default)]
pub struct TextOptions {
    pub taps: Option<String>,
    pub lowercase: Option<bool>,
    pub strip_accents: Option<bool>,
    /// Tokens per sequence including [CLS]/[SEP] (0 = the model's).
    pub max_length: u32,
    pub truncation: Truncation,
    /// Non-zero: long texts become windows overlapping by this many tokens.
    pub window_stride: u32,
    pub window_pooling: WindowPooling,
    pub utf8: Utf8Policy,
    pub fusion: Fusion,
    /// Sequences per forward pass (0 = 32).
    pub batch_size: u32,
    pub device: Option<String>,
    pub precision: Precision,
}

impl TextOptions {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn taps(mut self, spec: &str) -> Self {
        self.taps = Some(spec.to_owned());
        self
    }
    pub fn max_length(mut self, n: u32) -> Self {
        self.max_length = n;
        self
    }
    pub fn batch_size(mut self, n: u32) -> Self {
        self.batch_size = n;
        self
    }
    pub fn utf8(mut self, p: Utf8Policy) -> Self {
        self.utf8 = p;
        self
    }
    pub fn precision(mut self, p: Precision) -> Self {
        self.precision = p;
        self
    }
}

struct RawTextOptions(*mut sys::feat_text_options);
impl Drop for RawTextOptions {
    fn drop(&mut self) {
        // SAFETY: made by feat_text_options_new, freed once.
        unsafe { sys::feat_text_options_free(self.0) }
    }
}

impl TextOptions {
    fn to_raw(&self) -> Result<RawTextOptions> {
        let mut p = ptr::null_mut();
        // SAFETY: out-pointer to a local.
        check(unsafe { sys::feat_text_options_new(&mut p) }, last_error)?;
        let o = RawTextOptions(p);
        // SAFETY (all setters): o.0 is a valid options object; strings outlive the calls.
        unsafe {
            if let Some(t) = &self.taps {
                let t = c_string(t, "taps")?;
                check(sys::feat_text_options_set_taps(o.0, t.as_ptr()), last_error)?;
            }
            check(
                sys::feat_text_options_set_lowercase(o.0, tristate(self.lowercase)),
                last_error,
            )?;
            check(
                sys::feat_text_options_set_strip_accents(o.0, tristate(self.strip_accents)),
                last_error,
            )?;
            if self.max_length != 0 {
                check(
                    sys::feat_text_options_set_max_length(o.0, self.max_length),
                    last_error,
                )?;
            }
            check(
                sys::feat_text_options_set_truncation(o.0, self.truncation.raw()),
                last_error,
            )?;
            if self.window_stride != 0 {
                check(
                    sys::feat_text_options_set_window_stride(o.0, self.window_stride),
                    last_error,
                )?;
            }
            check(
                sys::feat_text_options_set_window_pooling(o.0, self.window_pooling.raw()),
                last_error,
            )?;
            check(
                sys::feat_text_options_set_utf8_policy(o.0, self.utf8.raw()),
                last_error,
            )?;
            check(
                sys::feat_text_options_set_fusion(o.0, self.fusion.raw()),
                last_error,
            )?;
            if self.batch_size != 0 {
                check(
                    sys::feat_text_options_set_batch_size(o.0, self.batch_size),
                    last_error,
                )?;
            }
            if let Some(d) = &self.device {
                let d = c_string(d, "device")?;
                check(
                    sys::feat_text_options_set_device(o.0, d.as_ptr()),
                    last_error,
                )?;
            }
            check(
                sys::feat_text_options_set_precision(o.0, self.precision.raw()),
                last_error,
            )?;
        }
        Ok(o)
    }
}

// ---- extractors ------------------------------------------------------------------------------

/// Stops a call in progress on an extractor; usable from any thread while the extractor
/// exists (the borrow guarantees it), e.g. from a `std::thread::scope` thread.
#[derive(Clone, Copy)]
pub struct Canceller<'a> {
    cancel: unsafe extern "C" fn(*mut c_void),
    raw: *mut c_void,
    _borrow: PhantomData<&'a ()>,
}

// SAFETY: the _cancel functions may be called from any thread (feat/image.h, feat/text.h),
// and the borrow keeps the extractor alive.
unsafe impl Send for Canceller<'_> {}
unsafe impl Sync for Canceller<'_> {}

impl Canceller<'_> {
    /// The call in progress (if any) returns an error of kind `Cancelled`.
    pub fn cancel(&self) {
        // SAFETY: raw is alive for 'a; cancel is thread-safe.
        unsafe { (self.cancel)(self.raw) }
    }
}

unsafe extern "C" fn cancel_image(p: *mut c_void) {
    // SAFETY: p is a feat_image_extractor (see ImageExtractor::canceller).
    unsafe { sys::feat_image_extractor_cancel(p.cast()) }
}
unsafe extern "C" fn cancel_text(p: *mut c_void) {
    // SAFETY: p is a feat_text_extractor (see TextExtractor::canceller).
    unsafe { sys::feat_text_extractor_cancel(p.cast()) }
}

/// One RGB8 image in memory: `height` rows of `stride` bytes (0 = 3*width).
#[derive(Debug, Clone, Copy)]
pub struct Rgb8<'a> {
    pub pixels: &'a [u8],
    pub width: u32,
    pub height: u32,
    pub stride: usize,
}

impl Rgb8<'_> {
    fn validate(&self, i: usize) -> Result<usize> {
        let row = 3 * self.width as usize;
        let stride = if self.stride == 0 { row } else { self.stride };
        let need = if self.height == 0 {
            0
        } else {
            stride * (self.height as usize - 1) + row
        };
        if stride < row || self.pixels.len() < need {
            return Err(Error::new(
                sys::FEAT_E_INVALID_ARGUMENT,
                format!(
                    "image {i}: {} bytes do not hold {}x{} RGB8 pixels with row stride {stride}",
                    self.pixels.len(),
                    self.width,
                    self.height
                ),
            ));
        }
        Ok(stride)
    }
}

/// A C object that extracts, an extractor or an ensemble: its handle and its `_last_error`.
/// The extraction functions of both take the same arguments; these methods marshal them once.
/// Made only from a live handle (`target()` of a value that owns or borrows it).
struct Target<T> {
    raw: *mut T,
    last_error: unsafe extern "C" fn(*const T) -> *const c_char,
}

type Out = *mut *mut sys::feat_result;

impl<T> Target<T> {
    fn finish(&self, status: i32, out: *mut sys::feat_result) -> Result<Features> {
        // SAFETY: raw is live (see the type); the message is read right after the call.
        check(status, || unsafe { (self.last_error)(self.raw) })?;
        // SAFETY: a fresh result, consumed here.
        unsafe { Features::from_raw(out) }
    }

    fn files<P: AsRef<Path>>(
        &self,
        f: unsafe extern "C" fn(*mut T, *const *const c_char, usize, Out) -> i32,
        paths: &[P],
    ) -> Result<Features> {
        let owned = paths
            .iter()
            .map(|p| c_path(p.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let ptrs: Vec<*const c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        let mut out = ptr::null_mut();
        // SAFETY: arrays of n valid pointers, alive during the call.
        let st = unsafe { f(self.raw, ptrs.as_ptr(), ptrs.len(), &mut out) };
        self.finish(st, out)
    }

    fn encoded<B: AsRef<[u8]>>(
        &self,
        f: unsafe extern "C" fn(*mut T, *const *const c_void, *const usize, usize, Out) -> i32,
        images: &[B],
    ) -> Result<Features> {
        let ptrs: Vec<*const c_void> = images.iter().map(|b| b.as_ref().as_ptr().cast()).collect();
        let sizes: Vec<usize> = images.iter().map(|b| b.as_ref().len()).collect();
        let mut out = ptr::null_mut();
        // SAFETY: n (pointer, size) pairs into live slices.
        let st = unsafe { f(self.raw, ptrs.as_ptr(), sizes.as_ptr(), ptrs.len(), &mut out) };
        self.finish(st, out)
    }

    #[allow(clippy::type_complexity)]
    fn rgb8(
        &self,
        f: unsafe extern "C" fn(*mut T, *const *const u8, *const u32, *const u32, *const usize, usize, Out) -> i32,
        images: &[Rgb8<'_>],
    ) -> Result<Features> {
        let strides = images
            .iter()
            .enumerate()
            .map(|(i, im)| im.validate(i))
            .collect::<Result<Vec<_>>>()?;
        let ptrs: Vec<*const u8> = images.iter().map(|im| im.pixels.as_ptr()).collect();
        let ws: Vec<u32> = images.iter().map(|im| im.width).collect();
        let hs: Vec<u32> = images.iter().map(|im| im.height).collect();
        let mut out = ptr::null_mut();
        // SAFETY: each image's slice was checked to hold height rows of stride bytes.
        let st = unsafe {
            f(
                self.raw,
                ptrs.as_ptr(),
                ws.as_ptr(),
                hs.as_ptr(),
                strides.as_ptr(),
                ptrs.len(),
                &mut out,
            )
        };
        self.finish(st, out)
    }

    fn texts<S: AsRef<[u8]>>(
        &self,
        f: unsafe extern "C" fn(*mut T, *const *const c_char, *const usize, usize, Out) -> i32,
        texts: &[S],
    ) -> Result<Features> {
        let (p, l) = text_ptrs(texts);
        let mut out = ptr::null_mut();
        // SAFETY: n (pointer, length) pairs into live slices.
        let st = unsafe { f(self.raw, p.as_ptr(), l.as_ptr(), p.len(), &mut out) };
        self.finish(st, out)
    }

    #[allow(clippy::type_complexity)]
    fn pairs<A: AsRef<[u8]>, B: AsRef<[u8]>>(
        &self,
        f: unsafe extern "C" fn(
            *mut T,
            *const *const c_char,
            *const usize,
            *const *const c_char,
            *const usize,
            usize,
            Out,
        ) -> i32,
        a: &[A],
        b: &[B],
    ) -> Result<Features> {
        if a.len() != b.len() {
            return Err(Error::new(
                sys::FEAT_E_INVALID_ARGUMENT,
                format!("extract_pairs: {} texts_a but {} texts_b", a.len(), b.len()),
            ));
        }
        let (pa, la) = text_ptrs(a);
        let (pb, lb) = text_ptrs(b);
        let mut out = ptr::null_mut();
        // SAFETY: 2n (pointer, length) pairs into live slices.
        let st = unsafe {
            f(
                self.raw,
                pa.as_ptr(),
                la.as_ptr(),
                pb.as_ptr(),
                lb.as_ptr(),
                pa.len(),
                &mut out,
            )
        };
        self.finish(st, out)
    }
}

fn text_ptrs<T: AsRef<[u8]>>(texts: &[T]) -> (Vec<*const c_char>, Vec<usize>) {
    let p = texts.iter().map(|t| t.as_ref().as_ptr().cast()).collect();
    let l = texts.iter().map(|t| t.as_ref().len()).collect();
    (p, l)
}

/// Image features from a TorchScript model. `Send`, not `Sync`: one thread at a time; give
/// each thread its own [`try_clone`](Self::try_clone).
pub struct ImageExtractor {
    raw: NonNull<sys::feat_image_extractor>,
}

// SAFETY: an extractor may move between threads (feat/image.h); !Sync keeps it to one at a time.
unsafe impl Send for ImageExtractor {}

impl Drop for ImageExtractor {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { sys::feat_image_extractor_free(self.raw.as_ptr()) }
    }
}

impl ImageExtractor {
    /// Loads a model (and its side-car) with the taps and preprocessing of `opts`.
    pub fn new(model: impl AsRef<Path>, opts: &ImageOptions) -> Result<Self> {
        check_abi()?;
        let o = opts.to_raw()?;
        let path = c_path(model.as_ref())?;
        let mut p = ptr::null_mut();
        // SAFETY: out-pointer to a local.
        check(unsafe { sys::feat_image_extractor_new(&mut p) }, last_error)?;
        let ex = ImageExtractor {
            raw: NonNull::new(p).ok_or_else(|| Error::new(sys::FEAT_E_NOMEM, "NULL"))?,
        };
        // SAFETY: valid handle, path and options; the message is read from the same handle.
        check(
            unsafe { sys::feat_image_extractor_load(ex.raw.as_ptr(), path.as_ptr(), o.0) },
            || ex.last_error(),
        )?;
        Ok(ex)
    }

    fn last_error(&self) -> *const c_char {
        // SAFETY: valid handle.
        unsafe { sys::feat_image_extractor_last_error(self.raw.as_ptr()) }
    }

    /// A new extractor sharing the weights, for another thread.
    pub fn try_clone(&self) -> Result<Self> {
        let mut p = ptr::null_mut();
        // SAFETY: valid handle, out-pointer to a local.
        check(
            unsafe { sys::feat_image_extractor_clone(self.raw.as_ptr(), &mut p) },
            || self.last_error(),
        )?;
        Ok(ImageExtractor {
            raw: NonNull::new(p).ok_or_else(|| Error::new(sys::FEAT_E_NOMEM, "NULL"))?,
        })
    }

    /// Length of one feature row.
    pub fn dim(&self) -> usize {
        // SAFETY: valid handle.
        unsafe { sys::feat_image_extractor_dim(self.raw.as_ptr()) }
    }

    /// Resolved taps as "path:pool".
    pub fn taps(&self) -> Vec<String> {
        // SAFETY: valid handle; strings copied at once.
        unsafe {
            (0..sys::feat_image_extractor_n_taps(self.raw.as_ptr()))
                .map(|i| cstr(sys::feat_image_extractor_tap(self.raw.as_ptr(), i)))
                .collect()
        }
    }

    /// Pooled length of each tap, in tap order (concat fusion: the row's column blocks).
    pub fn tap_dims(&self) -> Vec<usize> {
        // SAFETY: valid handle.
        unsafe { tap_dims(self.raw.as_ptr(), sys::feat_image_extractor_n_taps, sys::feat_image_extractor_tap_dim) }
    }

    pub fn canceller(&self) -> Canceller<'_> {
        Canceller {
            cancel: cancel_image,
            raw: self.raw.as_ptr().cast(),
            _borrow: PhantomData,
        }
    }

    fn target(&self) -> Target<sys::feat_image_extractor> {
        Target {
            raw: self.raw.as_ptr(),
            last_error: sys::feat_image_extractor_last_error,
        }
    }

    /// One row per image file; files that cannot be read or decoded fail alone.
    pub fn extract_files<P: AsRef<Path>>(&self, paths: &[P]) -> Result<Features> {
        self.target().files(sys::feat_image_extractor_extract_files, paths)
    }

    /// One row per encoded image (JPEG/PNG bytes).
    pub fn extract_encoded<B: AsRef<[u8]>>(&self, images: &[B]) -> Result<Features> {
        self.target().encoded(sys::feat_image_extractor_extract_encoded, images)
    }

    /// One row per RGB8 image in memory.
    pub fn extract_rgb8(&self, images: &[Rgb8<'_>]) -> Result<Features> {
        self.target().rgb8(sys::feat_image_extractor_extract_rgb8, images)
    }
}

/// Text features (embeddings) from a TorchScript BERT-family model. Same thread rule as
/// [`ImageExtractor`].
pub struct TextExtractor {
    raw: NonNull<sys::feat_text_extractor>,
}

// SAFETY: as ImageExtractor.
unsafe impl Send for TextExtractor {}

impl Drop for TextExtractor {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { sys::feat_text_extractor_free(self.raw.as_ptr()) }
    }
}

impl TextExtractor {
    /// Loads a model and its vocabulary (`None` = the side-car's vocab next to the model).
    pub fn new(model: impl AsRef<Path>, vocab: Option<&Path>, opts: &TextOptions) -> Result<Self> {
        check_abi()?;
        let o = opts.to_raw()?;
        let path = c_path(model.as_ref())?;
        let vocab = vocab.map(c_path).transpose()?;
        let mut p = ptr::null_mut();
        // SAFETY: out-pointer to a local.
        check(unsafe { sys::feat_text_extractor_new(&mut p) }, last_error)?;
        let ex = TextExtractor {
            raw: NonNull::new(p).ok_or_else(|| Error::new(sys::FEAT_E_NOMEM, "NULL"))?,
        };
        let vp = vocab.as_ref().map_or(ptr::null(), |v| v.as_ptr());
        // SAFETY: valid handle, strings and options.
        check(
            unsafe { sys::feat_text_extractor_load(ex.raw.as_ptr(), path.as_ptr(), vp, o.0) },
            || ex.last_error(),
        )?;
        Ok(ex)
    }

    fn last_error(&self) -> *const c_char {
        // SAFETY: valid handle.
        unsafe { sys::feat_text_extractor_last_error(self.raw.as_ptr()) }
    }

    pub fn try_clone(&self) -> Result<Self> {
        let mut p = ptr::null_mut();
        // SAFETY: valid handle.
        check(
            unsafe { sys::feat_text_extractor_clone(self.raw.as_ptr(), &mut p) },
            || self.last_error(),
        )?;
        Ok(TextExtractor {
            raw: NonNull::new(p).ok_or_else(|| Error::new(sys::FEAT_E_NOMEM, "NULL"))?,
        })
    }

    pub fn dim(&self) -> usize {
        // SAFETY: valid handle.
        unsafe { sys::feat_text_extractor_dim(self.raw.as_ptr()) }
    }

    pub fn taps(&self) -> Vec<String> {
        // SAFETY: valid handle; strings copied at once.
        unsafe {
            (0..sys::feat_text_extractor_n_taps(self.raw.as_ptr()))
                .map(|i| cstr(sys::feat_text_extractor_tap(self.raw.as_ptr(), i)))
                .collect()
        }
    }

    /// Pooled length of each tap, in tap order (concat fusion: the row's column blocks).
    pub fn tap_dims(&self) -> Vec<usize> {
        // SAFETY: valid handle.
        unsafe { tap_dims(self.raw.as_ptr(), sys::feat_text_extractor_n_taps, sys::feat_text_extractor_tap_dim) }
    }

    pub fn canceller(&self) -> Canceller<'_> {
        Canceller {
            cancel: cancel_text,
            raw: self.raw.as_ptr().cast(),
            _borrow: PhantomData,
        }
    }

    /// The extractor's tokenizer, borrowed.
    pub fn tokenizer(&self) -> Tokenizer<'_> {
        // SAFETY: valid handle; the tokenizer lives as long as the extractor (the borrow).
        let raw = unsafe { sys::feat_text_extractor_tokenizer(self.raw.as_ptr()) };
        Tokenizer {
            raw: NonNull::new(raw as *mut _).expect("loaded extractor"),
            owned: false,
            _p: PhantomData,
        }
    }

    fn target(&self) -> Target<sys::feat_text_extractor> {
        Target {
            raw: self.raw.as_ptr(),
            last_error: sys::feat_text_extractor_last_error,
        }
    }

    /// One row per text (`&str`, `String`, or UTF-8 bytes); invalid UTF-8 fails its item only.
    pub fn extract<T: AsRef<[u8]>>(&self, texts: &[T]) -> Result<Features> {
        self.target().texts(sys::feat_text_extractor_extract, texts)
    }

    /// One row per sentence pair.
    pub fn extract_pairs<A: AsRef<[u8]>, B: AsRef<[u8]>>(
        &self,
        a: &[A],
        b: &[B],
    ) -> Result<Features> {
        self.target().pairs(sys::feat_text_extractor_extract_pairs, a, b)
    }
}

// ---- tokenizer -------------------------------------------------------------------------------

/// One encoded text. Offsets are `[start, end)` in Unicode code points (`offsets`) and in
/// UTF-8 bytes (`byte_offsets`); special tokens get (0, 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    pub ids: Vec<i32>,
    pub type_ids: Vec<i32>,
    pub attention_mask: Vec<i32>,
    /// 0 (first text), 1 (pair), -1 (special token).
    pub sequence_ids: Vec<i32>,
    pub offsets: Vec<(i64, i64)>,
    pub byte_offsets: Vec<(i64, i64)>,
    pub n_truncated: usize,
}

/// BERT WordPiece tokenizer. Loaded, it is read-only: `Send + Sync`, encode from any threads.
/// `Tokenizer<'static>` owns its C object; the one borrowed from a [`TextExtractor`] does not.
pub struct Tokenizer<'a> {
    raw: NonNull<sys::feat_tokenizer>,
    owned: bool,
    _p: PhantomData<&'a TextExtractor>,
}

// SAFETY: a loaded tokenizer is read-only and may be used by several threads (feat/text.h).
unsafe impl Send for Tokenizer<'_> {}
unsafe impl Sync for Tokenizer<'_> {}

impl Drop for Tokenizer<'_> {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: owned, freed once.
            unsafe { sys::feat_tokenizer_free(self.raw.as_ptr()) }
        }
    }
}

impl Tokenizer<'static> {
    /// Loads a vocab.txt with the normalization and length settings of `opts`.
    pub fn new(vocab: impl AsRef<Path>, opts: &TextOptions) -> Result<Self> {
        check_abi()?;
        let o = opts.to_raw()?;
        let path = c_path(vocab.as_ref())?;
        let mut p = ptr::null_mut();
        // SAFETY: out-pointer to a local.
        check(unsafe { sys::feat_tokenizer_new(&mut p) }, last_error)?;
        let tok = Tokenizer {
            raw: NonNull::new(p).ok_or_else(|| Error::new(sys::FEAT_E_NOMEM, "NULL"))?,
            owned: true,
            _p: PhantomData,
        };
        // SAFETY: valid handle, path and options.
        check(
            unsafe { sys::feat_tokenizer_load(tok.raw.as_ptr(), path.as_ptr(), o.0) },
            || unsafe { sys::feat_tokenizer_last_error(tok.raw.as_ptr()) },
        )?;
        Ok(tok)
    }
}

impl Tokenizer<'_> {
    pub fn vocab_size(&self) -> usize {
        // SAFETY: valid handle.
        unsafe { sys::feat_tokenizer_vocab_size(self.raw.as_ptr()) }
    }

    pub fn token_to_id(&self, token: &str) -> Option<i32> {
        let t = CString::new(token).ok()?;
        // SAFETY: valid handle and string.
        let id = unsafe { sys::feat_tokenizer_token_to_id(self.raw.as_ptr(), t.as_ptr()) };
        (id >= 0).then_some(id)
    }

    pub fn id_to_token(&self, id: i32) -> Option<String> {
        // SAFETY: valid handle; the string is copied.
        let p = unsafe { sys::feat_tokenizer_id_to_token(self.raw.as_ptr(), id) };
        (!p.is_null()).then(|| cstr(p))
    }

    /// Encodes one text, or a pair, as [CLS] A [SEP] (B [SEP]).
    pub fn encode(&self, text: impl AsRef<[u8]>, pair: Option<&[u8]>) -> Result<Encoding> {
        let a = text.as_ref();
        let mut out = ptr::null_mut();
        let (bp, bl) = pair.map_or((ptr::null(), 0), |b| (b.as_ptr().cast(), b.len()));
        // SAFETY: (pointer, length) pairs into live slices. Encode errors are kept in this
        // thread's slot (several threads may encode at once); read on this same thread.
        check(
            unsafe {
                sys::feat_tokenizer_encode(
                    self.raw.as_ptr(),
                    a.as_ptr().cast(),
                    a.len(),
                    bp,
                    bl,
                    &mut out,
                )
            },
            last_error,
        )?;
        // SAFETY: a fresh encoding, read then freed once.
        unsafe {
            let n = sys::feat_encoding_len(out);
            let v = |p: *const i32| {
                if n == 0 {
                    Vec::new()
                } else {
                    std::slice::from_raw_parts(p, n).to_vec()
                }
            };
            let pairs = |p: *const i64| {
                if n == 0 {
                    Vec::new()
                } else {
                    std::slice::from_raw_parts(p, 2 * n)
                        .chunks(2)
                        .map(|c| (c[0], c[1]))
                        .collect()
                }
            };
            let e = Encoding {
                ids: v(sys::feat_encoding_ids(out)),
                type_ids: v(sys::feat_encoding_type_ids(out)),
                attention_mask: v(sys::feat_encoding_attention_mask(out)),
                sequence_ids: v(sys::feat_encoding_sequence_ids(out)),
                offsets: pairs(sys::feat_encoding_offsets_chars(out)),
                byte_offsets: pairs(sys::feat_encoding_offsets_bytes(out)),
                n_truncated: sys::feat_encoding_n_truncated(out),
            };
            sys::feat_encoding_free(out);
            Ok(e)
        }
    }
}

// ---- layers ----------------------------------------------------------------------------------

/// A submodule of a model: dotted path, output shape (batch first; `None` when not tappable)
/// and a note saying why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub path: String,
    pub shape: Option<Vec<i64>>,
    pub note: String,
}

/// Every submodule of a model with its output shape for one example input of `input_size`
/// (image side or tokens; 0 = 224 / 16).
pub fn layers(model: impl AsRef<Path>, input_size: u32) -> Result<Vec<Layer>> {
    check_abi()?;
    let path = c_path(model.as_ref())?;
    let mut list = ptr::null_mut();
    // SAFETY: valid string, out-pointer to a local.
    check(
        unsafe { sys::feat_layers_list(path.as_ptr(), input_size, &mut list) },
        last_error,
    )?;
    // SAFETY: valid list until freed at the end.
    unsafe {
        let n = sys::feat_layer_list_len(list);
        let mut res = Vec::with_capacity(n);
        for i in 0..n {
            let rank = sys::feat_layer_list_shape(list, i, ptr::null_mut(), 0);
            let mut dims = vec![0i64; rank];
            sys::feat_layer_list_shape(list, i, dims.as_mut_ptr(), rank);
            res.push(Layer {
                path: cstr(sys::feat_layer_list_path(list, i)),
                shape: (rank > 0).then_some(dims),
                note: cstr(sys::feat_layer_list_note(list, i)),
            });
        }
        sys::feat_layer_list_free(list);
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}

    #[test]
    fn thread_markers() {
        assert_send::<ImageExtractor>();
        assert_send::<TextExtractor>();
        assert_send::<Features>();
        assert_sync::<Features>();
        assert_send::<Tokenizer<'static>>();
        assert_sync::<Tokenizer<'static>>();
        assert_send::<Canceller<'static>>();
        assert_send::<FinetuneReport>();
        assert_sync::<FinetuneReport>();
    }

    #[test]
    fn abi_matches() {
        check_abi().unwrap();
        assert!(version().starts_with(&format!("{}.", version_number() / 10000)));
    }

    #[test]
    fn precision_outside_the_enum_is_refused_with_the_c_message() {
        // Precision cannot hold such a value; the raw setters the options use refuse it.
        let img = ImageOptions::new()
            .precision(Precision::Bf16)
            .to_raw()
            .unwrap();
        let txt = TextOptions::new()
            .precision(Precision::Fp32)
            .to_raw()
            .unwrap();
        // SAFETY: valid options objects; the message is read right after each call.
        let errs = unsafe {
            [
                check(sys::feat_image_options_set_precision(img.0, 7), last_error),
                check(sys::feat_text_options_set_precision(txt.0, 7), last_error),
            ]
        };
        for e in errs {
            let e = e.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(e.message().starts_with("precision 7 not understood"), "{e}");
        }
    }

    #[test]
    fn error_kinds() {
        let e = Error::new(-6, "bad jpeg");
        assert_eq!(e.kind(), ErrorKind::Decode);
        assert_eq!(e.to_string(), "FEAT_E_DECODE: bad jpeg");
        assert_eq!(Error::new(-99, "x").kind(), ErrorKind::Other(-99));
        for s in -14..=-1 {
            assert!(!matches!(ErrorKind::from_status(s), ErrorKind::Other(_)));
            assert!(status_name(s).starts_with("FEAT_E_"));
        }
    }
}
