//! Fine-tuning (`feat/finetune.h`): train the last blocks of a model and a linear head on a
//! labelled task, write the tuned model, which the extractors load like any other.
use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_int, c_void, CString};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::ptr;

use crate::error::{check, cstr, last_error};
use crate::{c_path, c_string, check_abi, sys, Error, Result};

c_enum!(
    /// Learning-rate schedule (`Default` is constant).
    Schedule { Constant = 1, Cosine = 2 }
);
c_enum!(
    /// Caching of the untrained layers' activations: `Default` caches when the split is exact
    /// and fits the limit, `On` requires it (the run fails otherwise).
    Cache { Off = 1, On = 2 }
);

/// One progress call: after every step (`val_accuracy` `None`, `loss` the step's) and after
/// each epoch (`loss` the epoch's mean training loss, `val_accuracy` its validation accuracy,
/// or `Some(-1.0)` without a validation split). `step` counts the steps done, from 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub epoch: u32,
    pub step: u64,
    pub loss: f64,
    pub val_accuracy: Option<f64>,
}

type ProgressFn<'a> = Box<dyn FnMut(&Progress) -> bool + 'a>;

/// Options of a fine-tuning run; every field left at its default means the C default
/// (feat/finetune.h).
#[derive(Default)]
pub struct FinetuneOptions<'a> {
    /// Modules to train, in the tap grammar without pooling (`None` = the last block).
    pub train: Option<String>,
    /// The head's input, `path:pool` (`None` = the model's last default tap).
    pub head_tap: Option<String>,
    /// 0 = 3.
    pub epochs: u32,
    /// 0 = 16.
    pub batch_size: u32,
    /// 0 = 1e-3.
    pub learning_rate: f64,
    pub schedule: Schedule,
    /// `None` = 1e-2; `Some(0.0)` = no weight decay.
    pub weight_decay: Option<f64>,
    pub seed: u64,
    /// Fraction of each class held out to choose the epoch (0 = none).
    pub validation_fraction: f64,
    /// Early stopping after this many epochs without a better validation accuracy (0 = off).
    pub patience: u32,
    /// Dropout before the head (0 = none).
    pub dropout: f64,
    pub class_weights: Option<Vec<f32>>,
    pub cache: Cache,
    /// Bytes the activation cache may hold (0 = 1 GiB).
    pub cache_limit: u64,
    /// Written after every epoch; with `resume`, a run continues from it when it exists.
    pub checkpoint: Option<PathBuf>,
    pub resume: bool,
    progress: RefCell<Option<ProgressFn<'a>>>,
}

impl<'a> FinetuneOptions<'a> {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn train(mut self, spec: &str) -> Self {
        self.train = Some(spec.to_owned());
        self
    }
    pub fn head_tap(mut self, spec: &str) -> Self {
        self.head_tap = Some(spec.to_owned());
        self
    }
    pub fn epochs(mut self, n: u32) -> Self {
        self.epochs = n;
        self
    }
    pub fn batch_size(mut self, n: u32) -> Self {
        self.batch_size = n;
        self
    }
    pub fn learning_rate(mut self, lr: f64) -> Self {
        self.learning_rate = lr;
        self
    }
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    pub fn validation_fraction(mut self, f: f64) -> Self {
        self.validation_fraction = f;
        self
    }
    /// Called on the thread of the run after every step and epoch; returning `true` cancels
    /// the run (it fails with `ErrorKind::Cancelled` and writes nothing). A panic in it is
    /// caught at the C boundary (it must not unwind through C frames), cancels the run and is
    /// resumed once the run has returned.
    pub fn progress(self, f: impl FnMut(&Progress) -> bool + 'a) -> Self {
        *self.progress.borrow_mut() = Some(Box::new(f));
        self
    }
}

/// What a run reports (feat_finetune_report).
#[derive(Debug, Clone, PartialEq)]
pub struct FinetuneReport {
    /// Mean training loss per epoch run.
    pub train_loss: Vec<f64>,
    /// Validation accuracy per epoch (NaN without validation).
    pub val_accuracy: Vec<f64>,
    /// The epoch whose weights were saved (0-based).
    pub chosen_epoch: u32,
    /// The loss of every step, in order.
    pub step_losses: Vec<f32>,
    /// Whether the untrained layers' activations were cached.
    pub cached: bool,
    /// Per input item: `None` when it trained, else why it was left out.
    pub items: Vec<Option<Error>>,
}

struct RawOptions(*mut sys::feat_finetune_options);
impl Drop for RawOptions {
    fn drop(&mut self) {
        // SAFETY: made by feat_finetune_options_new, freed once.
        unsafe { sys::feat_finetune_options_free(self.0) }
    }
}

impl FinetuneOptions<'_> {
    fn to_raw(&self) -> Result<RawOptions> {
        let mut p = ptr::null_mut();
        // SAFETY: out-pointer to a local.
        check(
            unsafe { sys::feat_finetune_options_new(&mut p) },
            last_error,
        )?;
        let o = RawOptions(p);
        let opt = |s: &Option<String>, what| s.as_deref().map(|s| c_string(s, what)).transpose();
        let train = opt(&self.train, "train")?;
        let head = opt(&self.head_tap, "head_tap")?;
        let ckpt = self.checkpoint.as_deref().map(c_path).transpose()?;
        let cs = |c: &Option<CString>| c.as_ref().map_or(ptr::null(), |c| c.as_ptr());
        let wd = match self.weight_decay {
            None => 0.0,
            Some(w) => {
                if w == 0.0 {
                    sys::FEAT_WEIGHT_DECAY_NONE
                } else {
                    w
                }
            }
        };
        // SAFETY (all setters): o.0 is a valid options object; strings and weights outlive the
        // calls (the weights are copied); each message is read right after its call.
        unsafe {
            check(
                sys::feat_finetune_options_set_train(o.0, cs(&train)),
                last_error,
            )?;
            check(
                sys::feat_finetune_options_set_head_tap(o.0, cs(&head)),
                last_error,
            )?;
            check(
                sys::feat_finetune_options_set_epochs(o.0, self.epochs),
                last_error,
            )?;
            check(
                sys::feat_finetune_options_set_batch_size(o.0, self.batch_size),
                last_error,
            )?;
            check(
                sys::feat_finetune_options_set_learning_rate(o.0, self.learning_rate),
                last_error,
            )?;
            check(
                sys::feat_finetune_options_set_schedule(o.0, self.schedule.raw()),
                last_error,
            )?;
            check(
                sys::feat_finetune_options_set_weight_decay(o.0, wd),
                last_error,
            )?;
            check(
                sys::feat_finetune_options_set_seed(o.0, self.seed),
                last_error,
            )?;
            check(
                sys::feat_finetune_options_set_validation_fraction(o.0, self.validation_fraction),
                last_error,
            )?;
            check(
                sys::feat_finetune_options_set_patience(o.0, self.patience),
                last_error,
            )?;
            check(
                sys::feat_finetune_options_set_dropout(o.0, self.dropout),
                last_error,
            )?;
            if let Some(w) = &self.class_weights {
                check(
                    sys::feat_finetune_options_set_class_weights(o.0, w.as_ptr(), w.len()),
                    last_error,
                )?;
            }
            check(
                sys::feat_finetune_options_set_cache(o.0, self.cache.raw()),
                last_error,
            )?;
            check(
                sys::feat_finetune_options_set_cache_limit(o.0, self.cache_limit),
                last_error,
            )?;
            check(
                sys::feat_finetune_options_set_checkpoint(o.0, cs(&ckpt), c_int::from(self.resume)),
                last_error,
            )?;
        }
        Ok(o)
    }
}

/// What the trampoline reaches through the user-data pointer: the callback and the payload of
/// a panic it raised.
struct ProgressState<'f> {
    f: &'f mut (dyn FnMut(&Progress) -> bool + 'f),
    panic: Option<Box<dyn Any + Send>>,
}

/// The C progress callback: calls the Rust closure, never lets a panic cross into C.
unsafe extern "C" fn trampoline(
    user: *mut c_void,
    epoch: u32,
    step: u64,
    loss: f64,
    acc: f64,
) -> c_int {
    // SAFETY: user is the &mut ProgressState of the run in progress on this thread (run below),
    // alive and not otherwise borrowed during the C call.
    let st = unsafe { &mut *user.cast::<ProgressState<'_>>() };
    if st.panic.is_some() {
        return 1;
    }
    let p = Progress {
        epoch,
        step,
        loss,
        val_accuracy: (!acc.is_nan()).then_some(acc),
    };
    match panic::catch_unwind(AssertUnwindSafe(|| (st.f)(&p))) {
        Ok(stop) => c_int::from(stop),
        Err(payload) => {
            st.panic = Some(payload);
            1
        }
    }
}

type RunFn = unsafe extern "C" fn(
    *const std::ffi::c_char,
    *const *const std::ffi::c_char,
    *const i32,
    usize,
    *const sys::feat_finetune_options,
    *const std::ffi::c_char,
    *mut *mut sys::feat_finetune_report,
) -> i32;

fn run(
    f: RunFn,
    model: &Path,
    inputs: &[CString],
    labels: &[i32],
    out: &Path,
    opts: &FinetuneOptions<'_>,
) -> Result<FinetuneReport> {
    check_abi()?;
    if inputs.len() != labels.len() {
        return Err(Error::new(
            sys::FEAT_E_INVALID_ARGUMENT,
            format!("{} inputs but {} labels", inputs.len(), labels.len()),
        ));
    }
    let o = opts.to_raw()?;
    let model = c_path(model)?;
    let out = c_path(out)?;
    let ptrs: Vec<_> = inputs.iter().map(|c| c.as_ptr()).collect();
    let mut cb = opts.progress.borrow_mut();
    let mut state = cb.as_mut().map(|f| ProgressState {
        f: f.as_mut(),
        panic: None,
    });
    if let Some(st) = state.as_mut() {
        let user: *mut ProgressState<'_> = st;
        // SAFETY: valid options; user stays valid until the run below has returned, and the
        // options object is freed at the end of this function.
        check(
            unsafe { sys::feat_finetune_options_set_progress(o.0, Some(trampoline), user.cast()) },
            last_error,
        )?;
    }
    let mut rep = ptr::null_mut();
    // SAFETY: arrays of n valid pointers and labels, alive during the call.
    let status = unsafe {
        f(
            model.as_ptr(),
            ptrs.as_ptr(),
            labels.as_ptr(),
            ptrs.len(),
            o.0,
            out.as_ptr(),
            &mut rep,
        )
    };
    let result = check(status, last_error);
    // SAFETY: rep is NULL or a report made by the run, read then freed once.
    let report = unsafe { read_report(rep) };
    unsafe { sys::feat_finetune_report_free(rep) };
    if let Some(payload) = state.and_then(|s| s.panic) {
        panic::resume_unwind(payload);
    }
    result?;
    report.ok_or_else(|| Error::new(sys::FEAT_E_INTERNAL, "the run gave no report"))
}

/// # Safety
/// `r` is NULL or a live report.
unsafe fn read_report(r: *const sys::feat_finetune_report) -> Option<FinetuneReport> {
    if r.is_null() {
        return None;
    }
    // SAFETY: the caller's contract; strings are copied at once.
    unsafe {
        let epochs = sys::feat_finetune_report_n_epochs(r);
        let items = (0..sys::feat_finetune_report_n_items(r))
            .map(|i| {
                let st = sys::feat_finetune_report_item_status(r, i);
                (st != sys::FEAT_OK)
                    .then(|| Error::new(st, cstr(sys::feat_finetune_report_item_error(r, i))))
            })
            .collect();
        Some(FinetuneReport {
            train_loss: (0..epochs)
                .map(|e| sys::feat_finetune_report_train_loss(r, e))
                .collect(),
            val_accuracy: (0..epochs)
                .map(|e| sys::feat_finetune_report_val_accuracy(r, e))
                .collect(),
            chosen_epoch: sys::feat_finetune_report_chosen_epoch(r),
            step_losses: (0..sys::feat_finetune_report_n_steps(r))
                .map(|s| sys::feat_finetune_report_step_loss(r, s))
                .collect(),
            cached: sys::feat_finetune_report_cached(r) != 0,
            items,
        })
    }
}

/// Fine-tunes the image model at `model` on image files with labels in 0..K-1 (K >= 2, every
/// class present) and writes the tuned model to `out` (and its side-car, `out` with .json for
/// .pt). Images that cannot be read or decoded are left out and named in the report.
pub fn finetune_images<P: AsRef<Path>>(
    model: impl AsRef<Path>,
    paths: &[P],
    labels: &[i32],
    out: impl AsRef<Path>,
    opts: &FinetuneOptions<'_>,
) -> Result<FinetuneReport> {
    let inputs = paths
        .iter()
        .map(|p| c_path(p.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    run(
        sys::feat_finetune_images,
        model.as_ref(),
        &inputs,
        labels,
        out.as_ref(),
        opts,
    )
}

/// As [`finetune_images`] for a text model and UTF-8 texts (tokenized with the model's
/// side-car settings); a text with a NUL byte is refused.
pub fn finetune_texts<T: AsRef<[u8]>>(
    model: impl AsRef<Path>,
    texts: &[T],
    labels: &[i32],
    out: impl AsRef<Path>,
    opts: &FinetuneOptions<'_>,
) -> Result<FinetuneReport> {
    let inputs = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            CString::new(t.as_ref()).map_err(|_| {
                Error::new(
                    sys::FEAT_E_INVALID_ARGUMENT,
                    format!("text {i} contains a NUL byte"),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    run(
        sys::feat_finetune_texts,
        model.as_ref(),
        &inputs,
        labels,
        out.as_ref(),
        opts,
    )
}
