//! Saving and loading models: one [safetensors](https://huggingface.co/docs/safetensors) file
//! holding every weight (Keras's names and layouts), with the architecture, the compile
//! settings and optionally the optimizer's state in the file's metadata.
//!
//! The file is plain safetensors, readable by any safetensors reader. Its metadata (string
//! keys and values) holds:
//!
//! | key | value |
//! |---|---|
//! | `format` | `ferrograd` |
//! | `format_version` | `1` |
//! | `ferrograd_version` | the version that wrote it |
//! | `model_config` | the architecture as JSON, in Keras 3's format (`model.to_json()`): `{"class_name": "Sequential" or "Functional", "config": {...}}` |
//! | `compile_config` | JSON: optimizer, loss(es), metrics, loss weights (Keras's `get_compile_config()`) |
//! | `weight_names` | JSON list of the weight names in model order |
//! | `optimizer_state` | JSON: algorithm, `iterations` and slot names, when the optimizer was saved |
//!
//! Weights are tensors named `layer/weight` (`dense/kernel`); optimizer slots
//! `optimizer/layer/weight/slot`. Writing is atomic (temporary file, sync, rename); reading
//! validates the whole file before building anything and never runs code: the architecture is
//! data that [`config`] maps onto the engine's layers.
//!
//! A model trained in Python loads and runs here without Python (see
//! `rust/ferrograd/examples/`); one built natively saves and loads the same way:
//!
//! ```
//! use ferrograd::saving;
//! use ferrograd::model::{Graph, Model};
//! use ferrograd::nn::{build, Activation, Dense, Layer};
//! use ferrograd::{DType, Tensor};
//! use std::sync::Arc;
//!
//! // Build a small model natively, save it, load it back and predict.
//! let mut graph = Graph::new(DType::F32);
//! let x = graph.add_input("input_layer", vec![None, Some(3)]);
//! let dense: Arc<dyn Layer> = Arc::new(Dense::new("dense", 2, Activation::Tanh, true));
//! build(dense.as_ref(), &[vec![None, Some(3)]], DType::F32).unwrap();
//! let y = graph.add_layer(dense, vec![x]).unwrap();
//! graph.set_outputs(y).unwrap();
//! let model = Model::new(graph);
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("model.safetensors");
//! saving::save_model(&model, &path, &saving::SaveOptions::default()).unwrap();
//! let loaded = saving::load_model(&path).unwrap();
//! let input = Tensor::from_vec(&[1, 3], vec![0.5f32, -1.0, 2.0]).unwrap();
//! let a = model.predict(&[input.clone()], 32, &mut |_, _| true).unwrap();
//! let b = loaded.predict(&[input], 32, &mut |_, _| true).unwrap();
//! assert_eq!(a[0].to_f64(), b[0].to_f64());
//! ```

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::model::{Compiled, Model};

pub mod config;
pub mod file;
#[cfg(test)]
mod tests;
pub mod weights;

pub use file::TensorFile;
pub use weights::{LoadOptions, LoadReport};

/// Metadata keys of a ferrograd model file.
pub const FORMAT: &str = "format";
pub const FORMAT_NAME: &str = "ferrograd";
pub const FORMAT_VERSION: &str = "format_version";
pub const MODEL_CONFIG: &str = "model_config";
pub const COMPILE_CONFIG: &str = "compile_config";

/// How [`save_model`] writes.
#[derive(Debug, Clone)]
pub struct SaveOptions {
    /// Save the optimizer's state (slots and step counter) so training continues exactly.
    pub include_optimizer: bool,
    /// Replace an existing file (atomically); false makes an existing file an error.
    pub overwrite: bool,
    /// The architecture as Keras-format JSON; `None` derives it from the engine's layers
    /// ([`config::model_config`]). Front ends pass their own, richer config.
    pub model_config: Option<String>,
    /// The compile settings as JSON (Keras's `get_compile_config()`), if any.
    pub compile_config: Option<String>,
}

impl Default for SaveOptions {
    fn default() -> Self {
        SaveOptions {
            include_optimizer: true,
            overwrite: true,
            model_config: None,
            compile_config: None,
        }
    }
}

fn base_metadata() -> HashMap<String, String> {
    HashMap::from([
        (FORMAT.to_string(), FORMAT_NAME.to_string()),
        (FORMAT_VERSION.to_string(), "1".to_string()),
        (
            "ferrograd_version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ])
}

/// Writes the whole model (architecture, weights, compile settings, optimizer state) to one
/// file, atomically.
pub fn save_model(model: &Model, path: &Path, options: &SaveOptions) -> Result<()> {
    save_model_with(model, path, options, None)
}

/// [`save_model`] with the optimizer's slot tensors and state JSON given by the caller (a front
/// end whose optimizer is not, or not yet, the compiled model's).
pub fn save_model_with(
    model: &Model,
    path: &Path,
    options: &SaveOptions,
    optimizer: Option<(Vec<(String, crate::Storage)>, String)>,
) -> Result<()> {
    let config = match &options.model_config {
        Some(c) => c.clone(),
        None => config::model_config(model.graph())?.to_string(),
    };
    let (mut tensors, state) = weights::state_tensors(model, options.include_optimizer)?;
    let mut metadata = base_metadata();
    metadata.extend(state);
    if let Some((slots, state)) = optimizer {
        tensors.extend(slots);
        metadata.insert(weights::OPTIMIZER_STATE.to_string(), state);
    }
    metadata.insert(MODEL_CONFIG.to_string(), config);
    if let Some(c) = &options.compile_config {
        metadata.insert(COMPILE_CONFIG.to_string(), c.clone());
    } else if let Some(compiled) = model.compiled() {
        // A loss from a front end has no config: the file then holds no compile settings and
        // loads uncompiled, as before.
        if let Ok(c) = compiled.to_config() {
            metadata.insert(COMPILE_CONFIG.to_string(), c.to_string());
        }
    }
    file::write(path, &tensors, metadata, options.overwrite)
}

/// Writes the weights alone (no architecture, no optimizer), atomically.
pub fn save_weights(model: &Model, path: &Path, overwrite: bool) -> Result<()> {
    let (tensors, state) = weights::state_tensors(model, false)?;
    let mut metadata = base_metadata();
    metadata.extend(state);
    file::write(path, &tensors, metadata, overwrite)
}

/// Loads weights saved by [`save_weights`] or [`save_model`] into `model` (see
/// [`LoadOptions`] for how names are matched).
pub fn load_weights(model: &Model, path: &Path, options: LoadOptions) -> Result<LoadReport> {
    let file = file::read(path)?;
    weights::load_weights(model, &file, options)
}

/// Reads a model file and checks that it is one (its `format` metadata).
pub fn read_model_file(path: &Path) -> Result<TensorFile> {
    let file = file::read(path)?;
    match file.metadata.get(FORMAT).map(String::as_str) {
        Some(FORMAT_NAME) => {}
        other => {
            return Err(Error::Format(format!(
                "{} is a safetensors file but not a ferrograd model (its metadata 'format' is {}); \
                 load weights alone with load_weights",
                path.display(),
                other.map_or("missing".to_string(), |f| format!("'{f}'"))
            )))
        }
    }
    match file.metadata.get(FORMAT_VERSION).map(String::as_str) {
        Some("1") => Ok(file),
        other => Err(Error::Format(format!(
            "{} was written in ferrograd file format version {}; this version reads version 1",
            path.display(),
            other.map_or("(missing)".to_string(), |v| format!("'{v}'"))
        ))),
    }
}

/// Rebuilds a model saved by [`save_model`] (or by the Python package's `model.save`): the
/// architecture from its config, the weights, and — when the file holds compile settings —
/// compiled with them ([`Compiled::from_config`]: every built-in optimizer, schedule, loss and
/// metric) and its optimizer state restored, so `fit_epoch` continues where training stopped.
/// Compile settings the engine cannot run (a custom loss, ...) are an error naming them.
pub fn load_model(path: &Path) -> Result<Model> {
    let file = read_model_file(path)?;
    let text = file
        .metadata
        .get(MODEL_CONFIG)
        .ok_or_else(|| Error::Format(format!("{} holds no model_config", path.display())))?;
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Error::Format(format!(
            "the model_config of {} is not valid JSON: {e}",
            path.display()
        ))
    })?;
    let shapes: HashMap<String, Vec<usize>> = file
        .tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.shape().to_vec()))
        .collect();
    let graph = config::graph_from_config_checked(&json, Some(&shapes))?;
    let mut model = Model::new(graph);
    weights::load_weights(
        &model,
        &file,
        LoadOptions {
            skip_mismatch: false,
            strict_names: true,
        },
    )?;
    if let Some(text) = file.metadata.get(COMPILE_CONFIG) {
        let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            Error::Format(format!(
                "the compile_config of {} is not valid JSON: {e}",
                path.display()
            ))
        })?;
        let compiled = Compiled::from_config(&json, model.graph()).map_err(|e| {
            Error::Format(format!(
                "{}: the compile settings cannot be run natively ({e}); load the file with \
                 the Python package, or its weights alone with load_weights",
                path.display()
            ))
        })?;
        model.compile(compiled)?;
        weights::load_optimizer_state(&model, &file)?;
    }
    Ok(model)
}
