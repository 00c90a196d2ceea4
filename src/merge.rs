//! `NativeMergeState`: the core merge engine (`realtime_core::merge`) as a JavaScript class.
//!
//! Values cross as JSON text in both directions, on purpose: napi's conversion of a
//! `serde_json::Value` applies a `"__proto__"` key through the prototype setter (measured
//! with napi-rs 3), while `JSON.parse` on the JavaScript side keeps it a plain key. Bad JSON
//! and bad options throw a JavaScript `Error` (code `InvalidArg`); nothing here panics.

use napi::Status;
use napi_derive::napi;
use realtime_core::merge::{MergeOptions, MergeOptionsError, MergeState};

/// Options of `new NativeMergeState(...)`, the merge fields of `live.stream()` options.
#[napi(object)]
pub struct NativeMergeOptions {
    /// `'crud'`, `'latest'`, `'set'`, `'presence'` or `'cursor'`.
    /// @default 'crud'
    pub merge: Option<String>,
    /// Key field for `crud`.
    /// @default 'id'
    pub key: Option<String>,
    /// `crud`: new items go first.
    /// @default false
    pub prepend: Option<bool>,
    /// `latest`: items kept, a positive integer.
    /// @default 50
    pub max: Option<f64>,
}

impl NativeMergeOptions {
    fn into_options(self) -> Result<MergeOptions, MergeOptionsError> {
        let mut options = MergeOptions::default();
        if let Some(merge) = self.merge {
            options.strategy = merge.parse()?;
        }
        if let Some(key) = self.key {
            options.key = key;
        }
        if let Some(prepend) = self.prepend {
            options.prepend = prepend;
        }
        if let Some(max) = self.max {
            // Number.isSafeInteger(max) && max > 0, as lib/shared/merge.js requires.
            if !(max.fract() == 0.0 && max > 0.0 && max <= 9_007_199_254_740_991.0) {
                return Err(MergeOptionsError::Max(max.to_string()));
            }
            options.max = usize::try_from(max as u64).unwrap_or(usize::MAX);
        }
        Ok(options)
    }
}

fn invalid_arg(message: String) -> napi::Error {
    napi::Error::new(Status::InvalidArg, message)
}

fn invalid_json(what: &str, error: impl std::fmt::Display) -> napi::Error {
    invalid_arg(format!("{what} is not valid JSON: {error}"))
}

/// A stream value with its merge rules; every value goes in and out as JSON text.
#[napi]
pub struct NativeMergeState {
    state: MergeState,
}

#[napi]
impl NativeMergeState {
    /// Starts from `initialJson` (`null` when left out). Throws on an unknown merge name, a
    /// `max` that is not a positive integer, or invalid JSON.
    #[napi(constructor)]
    pub fn new(options: NativeMergeOptions, initial_json: Option<String>) -> napi::Result<Self> {
        let options = options
            .into_options()
            .map_err(|e| invalid_arg(e.to_string()))?;
        let mut state = MergeState::new(options, Default::default());
        if let Some(json) = initial_json {
            state
                .set_value_json(&json)
                .map_err(|e| invalid_json("the initial value", e))?;
        }
        Ok(Self { state })
    }

    /// Merges one event whose data is `dataJson`.
    #[napi]
    pub fn apply(&mut self, event: String, data_json: String) -> napi::Result<()> {
        self.state
            .apply_json(&event, &data_json)
            .map_err(|e| invalid_json("the event data", e))
    }

    /// The current value as JSON text.
    #[napi]
    pub fn value_json(&self) -> String {
        self.state.to_json()
    }

    /// Replaces the whole value and rebuilds the index.
    #[napi]
    pub fn set_value_json(&mut self, json: String) -> napi::Result<()> {
        self.state
            .set_value_json(&json)
            .map_err(|e| invalid_json("the value", e))
    }
}
