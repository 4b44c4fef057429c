//! Ensembles (`feat_image_ensemble`, `feat_text_ensemble`): several extractors on the same
//! inputs, one row per input with the members' rows side by side.
use std::ffi::c_char;
use std::path::Path;
use std::ptr::{self, NonNull};

use crate::error::{check, last_error};
use crate::{
    c_string, check_abi, sys, Error, Features, ImageExtractor, Result, Rgb8, Target, TextExtractor,
};

/// Makes a C ensemble and adds the members (named by `names`: empty, or one per member).
///
/// # Safety
/// The four functions are one kind's `_new`, `_free`, `_add` and `_last_error`; `member`
/// gives the live handle of each member.
unsafe fn build<E, M, X>(
    members: &[&M],
    names: &[&str],
    new: unsafe extern "C" fn(*mut *mut E) -> i32,
    free: unsafe extern "C" fn(*mut E),
    add: unsafe extern "C" fn(*mut E, *mut X, *const c_char) -> i32,
    last: unsafe extern "C" fn(*const E) -> *const c_char,
    member: impl Fn(&M) -> *mut X,
) -> Result<NonNull<E>> {
    check_abi()?;
    if !names.is_empty() && names.len() != members.len() {
        return Err(Error::new(
            sys::FEAT_E_INVALID_ARGUMENT,
            format!("{} names for {} members", names.len(), members.len()),
        ));
    }
    let names = names
        .iter()
        .map(|n| c_string(n, "member name"))
        .collect::<Result<Vec<_>>>()?;
    let mut p = ptr::null_mut();
    // SAFETY: out-pointer to a local.
    check(unsafe { new(&mut p) }, last_error)?;
    let raw = NonNull::new(p).ok_or_else(|| Error::new(sys::FEAT_E_NOMEM, "NULL"))?;
    for (i, m) in members.iter().enumerate() {
        let name = names.get(i).map_or(ptr::null(), |n| n.as_ptr());
        // SAFETY: live handles (the caller's contract); the message is read right after.
        let st = unsafe { add(raw.as_ptr(), member(m), name) };
        if let Err(e) = check(st, || unsafe { last(raw.as_ptr()) }) {
            // SAFETY: made above, freed once.
            unsafe { free(raw.as_ptr()) };
            return Err(e);
        }
    }
    Ok(raw)
}

/// Several image extractors on the same images: one row per input, the members' rows side by
/// side in the order given (member k's columns start after the dims of members 0..k). Each
/// image is read and decoded once for the members that decode alike and preprocessed once per
/// group of members with the same preprocessing; a row equals the concatenation of the
/// members' own rows bit for bit. An input that fails for any member is a failed row (NaN),
/// with the status of the first member that failed it and its message prefixed with that
/// member's name.
///
/// The ensemble borrows its members for `'a`, so they outlive it. Like its members it is used
/// by one thread at a time, and it is neither `Send` nor `Sync` (it holds `&ImageExtractor`):
/// no other thread can use a member during its calls. For parallel work make one ensemble per
/// thread over [`ImageExtractor::try_clone`]s. A member's
/// [`canceller`](ImageExtractor::canceller) stops the ensemble's call in progress.
///
/// ```no_run
/// # use libfeat::{ImageEnsemble, ImageExtractor, ImageOptions};
/// let a = ImageExtractor::new("resnet18.pt", &ImageOptions::new().taps("layer4:gap"))?;
/// let b = ImageExtractor::new("vgg16.pt", &ImageOptions::new().taps("features.29:gap"))?;
/// let en = ImageEnsemble::with_names(&[&a, &b], &["resnet", "vgg"])?;
/// let f = en.extract_files(&["a.jpg", "b.png"])?; // f.dim() == a.dim() + b.dim()
/// # Ok::<(), libfeat::Error>(())
/// ```
///
/// The borrow keeps the members alive as long as the ensemble:
/// ```compile_fail
/// # use libfeat::{ImageEnsemble, ImageExtractor, ImageOptions};
/// let a = ImageExtractor::new("resnet18.pt", &ImageOptions::new()).unwrap();
/// let en = ImageEnsemble::new(&[&a]).unwrap();
/// drop(a);
/// en.dim();
/// ```
/// and an ensemble stays on the thread of its members:
/// ```compile_fail
/// fn needs_send<T: Send>() {}
/// needs_send::<libfeat::ImageEnsemble<'static>>();
/// ```
pub struct ImageEnsemble<'a> {
    raw: NonNull<sys::feat_image_ensemble>,
    members: Vec<&'a ImageExtractor>,
}

impl Drop for ImageEnsemble<'_> {
    fn drop(&mut self) {
        // SAFETY: owned, freed once (not the members, which are borrowed).
        unsafe { sys::feat_image_ensemble_free(self.raw.as_ptr()) }
    }
}

impl<'a> ImageEnsemble<'a> {
    /// An ensemble of `members`, named "member K" (K from 0) in item messages.
    pub fn new(members: &[&'a ImageExtractor]) -> Result<Self> {
        Self::with_names(members, &[])
    }

    /// An ensemble of `members` named by `names` (one per member; empty = "member K").
    pub fn with_names(members: &[&'a ImageExtractor], names: &[&str]) -> Result<Self> {
        // SAFETY: the image ensemble's functions; members are live (borrowed).
        let raw = unsafe {
            build(
                members,
                names,
                sys::feat_image_ensemble_new,
                sys::feat_image_ensemble_free,
                sys::feat_image_ensemble_add,
                sys::feat_image_ensemble_last_error,
                |m: &ImageExtractor| m.raw.as_ptr(),
            )
        }?;
        Ok(ImageEnsemble {
            raw,
            members: members.to_vec(),
        })
    }

    fn target(&self) -> Target<sys::feat_image_ensemble> {
        Target {
            raw: self.raw.as_ptr(),
            last_error: sys::feat_image_ensemble_last_error,
        }
    }

    /// The members, in column order.
    pub fn members(&self) -> &[&'a ImageExtractor] {
        &self.members
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        // SAFETY: valid handle.
        unsafe { sys::feat_image_ensemble_n_members(self.raw.as_ptr()) }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Length of one row: the sum of the members' dims.
    pub fn dim(&self) -> usize {
        // SAFETY: valid handle.
        unsafe { sys::feat_image_ensemble_dim(self.raw.as_ptr()) }
    }

    /// Every member's resolved taps, in column order.
    pub fn taps(&self) -> Vec<String> {
        self.members.iter().flat_map(|m| m.taps()).collect()
    }

    /// Every member's tap sizes, in column order.
    pub fn tap_dims(&self) -> Vec<usize> {
        self.members.iter().flat_map(|m| m.tap_dims()).collect()
    }

    /// As [`ImageExtractor::extract_files`], with every member.
    pub fn extract_files<P: AsRef<Path>>(&self, paths: &[P]) -> Result<Features> {
        self.target()
            .files(sys::feat_image_ensemble_extract_files, paths)
    }

    /// As [`ImageExtractor::extract_encoded`], with every member.
    pub fn extract_encoded<B: AsRef<[u8]>>(&self, images: &[B]) -> Result<Features> {
        self.target()
            .encoded(sys::feat_image_ensemble_extract_encoded, images)
    }

    /// As [`ImageExtractor::extract_rgb8`], with every member.
    pub fn extract_rgb8(&self, images: &[Rgb8<'_>]) -> Result<Features> {
        self.target()
            .rgb8(sys::feat_image_ensemble_extract_rgb8, images)
    }
}

/// Several text extractors (each with its own vocabulary and options) on the same texts, with
/// the rules of [`ImageEnsemble`]; each member tokenizes with its own tokenizer.
pub struct TextEnsemble<'a> {
    raw: NonNull<sys::feat_text_ensemble>,
    members: Vec<&'a TextExtractor>,
}

impl Drop for TextEnsemble<'_> {
    fn drop(&mut self) {
        // SAFETY: owned, freed once (not the members, which are borrowed).
        unsafe { sys::feat_text_ensemble_free(self.raw.as_ptr()) }
    }
}

impl<'a> TextEnsemble<'a> {
    /// An ensemble of `members`, named "member K" (K from 0) in item messages.
    pub fn new(members: &[&'a TextExtractor]) -> Result<Self> {
        Self::with_names(members, &[])
    }

    /// An ensemble of `members` named by `names` (one per member; empty = "member K").
    pub fn with_names(members: &[&'a TextExtractor], names: &[&str]) -> Result<Self> {
        // SAFETY: the text ensemble's functions; members are live (borrowed).
        let raw = unsafe {
            build(
                members,
                names,
                sys::feat_text_ensemble_new,
                sys::feat_text_ensemble_free,
                sys::feat_text_ensemble_add,
                sys::feat_text_ensemble_last_error,
                |m: &TextExtractor| m.raw.as_ptr(),
            )
        }?;
        Ok(TextEnsemble {
            raw,
            members: members.to_vec(),
        })
    }

    fn target(&self) -> Target<sys::feat_text_ensemble> {
        Target {
            raw: self.raw.as_ptr(),
            last_error: sys::feat_text_ensemble_last_error,
        }
    }

    /// The members, in column order.
    pub fn members(&self) -> &[&'a TextExtractor] {
        &self.members
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        // SAFETY: valid handle.
        unsafe { sys::feat_text_ensemble_n_members(self.raw.as_ptr()) }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Length of one row: the sum of the members' dims.
    pub fn dim(&self) -> usize {
        // SAFETY: valid handle.
        unsafe { sys::feat_text_ensemble_dim(self.raw.as_ptr()) }
    }

    /// Every member's resolved taps, in column order.
    pub fn taps(&self) -> Vec<String> {
        self.members.iter().flat_map(|m| m.taps()).collect()
    }

    /// Every member's tap sizes, in column order.
    pub fn tap_dims(&self) -> Vec<usize> {
        self.members.iter().flat_map(|m| m.tap_dims()).collect()
    }

    /// As [`TextExtractor::extract`], with every member.
    pub fn extract<T: AsRef<[u8]>>(&self, texts: &[T]) -> Result<Features> {
        self.target().texts(sys::feat_text_ensemble_extract, texts)
    }

    /// As [`TextExtractor::extract_pairs`], with every member.
    pub fn extract_pairs<A: AsRef<[u8]>, B: AsRef<[u8]>>(
        &self,
        a: &[A],
        b: &[B],
    ) -> Result<Features> {
        self.target()
            .pairs(sys::feat_text_ensemble_extract_pairs, a, b)
    }
}
